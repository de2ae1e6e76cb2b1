"""The public geometry API, written once for both backends.

A backend is a function ``lifting_of(model)`` returning an object with the methods of
cpp/geometry.hpp (``lift``, ``jacobian``, ``metric``, ..., ``*_batch``); ``Backend`` validates
input, refuses oversized results before allocating, calls it and shapes the output.
"""
from __future__ import annotations

from typing import Any, Callable, TypeVar

import numpy as np

from . import _checks, _rank
from ._kinds import require, supports
from .results import RankInfo
from ._typing import Array, ArrayLike, IntArray, Model

T = TypeVar("T")
from ._graph import longest_path


def serial(n_threads: int | None, call: Callable[[], T]) -> T:
    """A backend without threads (NumPy): n_threads is validated, then call() runs as it is."""
    if n_threads is not None:
        _checks.positive_int(n_threads, "n_threads")
    return call()


class Backend:
    """The public geometry functions over ``lifting_of(model, paths)``; ``run(n_threads, call)``
    runs a call that may use threads (the core: n_threads for that call, None = the process-wide
    setting of set_num_threads)."""

    def __init__(self, lifting_of: Callable[..., Any], run: Callable[[int | None, Callable[[], Any]], Any] = serial) -> None:
        self._lifting_of = lifting_of
        self._run = run

    # -- helpers ---------------------------------------------------------------------------
    def _lifting(self, model, paths: bool = False):
        """The backend's object for model; with paths=True the path table must exist (size-checked)."""
        if paths and supports(model, "path_lifting"):
            _checks.check_size(model.n_lifted * max(longest_path(model.graph), 1), "the table of paths", itemsize=4)
        return self._lifting_of(model, paths)

    @staticmethod
    def _rtol(model, rtol):
        rtol = _checks.rtol(rtol)
        return _rank.default_gram_rtol(model.n_params) if rtol is None else rtol

    # -- phi and its derivatives -----------------------------------------------------------
    def lift(self, model: Model, theta: ArrayLike) -> Array:
        """z = phi(theta): theta (D,) -> z (d,). Path order and layouts as in docs/theory/lifting.md."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted, "phi(theta)")
        return self._lifting(model, paths=True).lift(theta)

    def lift_jacobian(self, model: Model, theta: ArrayLike) -> Array:
        """J = dphi(theta), dense, shape (d, D)."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted * model.n_params, "the Jacobian (d x D)")
        return self._lifting(model, paths=True).jacobian(theta)

    def metric(self, model: Model, theta: ArrayLike) -> Array:
        """M(theta) = J J^T, shape (d, d). For the path-lifting M_pq = z_p z_q sum_{e in p∩q} theta_e^-2."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted * (model.n_lifted + model.n_params), "the metric (d x d) and Jacobian")
        return self._lifting(model, paths=True).metric(theta)

    def metric_derivative(self, model: Model, theta: ArrayLike, v: ArrayLike) -> Array:
        """dM(theta)[v] = dJ[v] J^T + J dJ[v]^T, the derivative of M along v (D,), shape (d, d)."""
        theta = _checks.theta(model, theta)
        v = _checks.theta(model, v, "v")
        _checks.check_size(model.n_lifted * (model.n_lifted + 2 * model.n_params), "the metric derivative (d x d)")
        return self._lifting(model, paths=True).metric_derivative(theta, v)

    # -- products with J, without forming it -------------------------------------------------
    def lift_vjp(self, model: Model, theta: ArrayLike, w: ArrayLike) -> Array:
        """Vector-Jacobian product J^T w = sum_p w_p grad phi_p(theta): theta (D,), w (d,) -> (D,).

        The gradient of theta -> <w, phi(theta)>, computed without the dense d x D Jacobian: for
        path-liftings (J^T w)_e = sum_{p ∋ e} w_p prod_{g in p, g != e} theta_g in O(paths x depth);
        for linear chains (W_L ... W_1) the block of layer l is S_l^T G P_l^T with G = w as
        (d_out, d_in), S_l = W_L ... W_{l+1} and P_l = W_{l-1} ... W_1.
        """
        theta = _checks.theta(model, theta)
        w = _checks.finite_array(w, "w", (model.n_lifted,))
        return self._lifting(model, paths=True).vjp(theta, w)

    def lift_jvp(self, model: Model, theta: ArrayLike, v: ArrayLike) -> Array:
        """Jacobian-vector product J v = d/dt phi(theta + t v) at t = 0: theta (D,), v (D,) -> (d,).

        Without the dense Jacobian: for path-liftings (J v)_p = sum_{e in p} v_e prod_{g in p, g != e}
        theta_g in O(paths x depth); for linear chains sum_l S_l V_l P_l (notation of lift_vjp).
        """
        theta = _checks.theta(model, theta)
        v = _checks.theta(model, v, "v")
        _checks.check_size(model.n_lifted, "J v")
        return self._lifting(model, paths=True).jvp(theta, v)

    def conserved(self, model: Model, theta: ArrayLike) -> Array:
        """Known conservation laws h(theta), shape (N_known,) (order in docs/theory/lifting.md)."""
        theta = _checks.theta(model, theta)  # before the model's structure is built
        return self._lifting(model).conserved(theta)

    def conserved_jacobian(self, model: Model, theta: ArrayLike) -> Array:
        """Jh = dh(theta), shape (N_known, D)."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_known_laws * model.n_params, "the Jacobian of the known laws")
        return self._lifting(model).conserved_jacobian(theta)

    def lift_gram(self, model: Model, theta: ArrayLike, n_threads: int | None = None) -> Array:
        """G = J^T J, shape (D, D); for path-lifting models computed without enumerating paths."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_params ** 2, "the Gram matrix (D x D)")
        lifting = self._lifting(model)
        return self._run(n_threads, lambda: lifting.gram(theta))

    def joint_gram(self, model: Model, theta: ArrayLike, n_threads: int | None = None) -> Array:
        """J^T J + Jh^T Jh, the Gram matrix of the stacked Jacobian [J; Jh], shape (D, D)."""
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_params ** 2 + model.n_known_laws * model.n_params, "the joint Gram matrix (D x D)")
        lifting = self._lifting(model)
        return self._run(n_threads, lambda: lifting.joint_gram(theta))

    # -- ranks -----------------------------------------------------------------------------
    def rank_info(self, model: Model, theta: ArrayLike, which: str = "lift", rtol: float | None = None,
                  n_threads: int | None = None) -> RankInfo:
        """Rank of J (``which="lift"``) or of [J; Jh] (``which="joint"``) with its singular values.

        Taken on the Gram matrix J^T J (or J^T J / ||J||_F^2 + Jh^T Jh / ||Jh||_F^2, each block at
        unit trace) at the rank point of theta: for path-lifting models the balanced point of its
        neuron-rescaling orbit (phi unchanged, |incoming|^2 = |outgoing|^2 at every hidden neuron)
        divided by the geometric mean of its |entries|, so rescaling a neuron by 1e8 or theta by
        1e30 changes no rank; for linear nets theta over its geometric mean; other models theta.
        Eigenvalues above rtol * largest count (default rtol = 10 D eps); ``singular_values`` are
        their square roots. ValueError when the Gram matrix there is not finite in float64.
        """
        if which not in ("lift", "joint"):
            raise ValueError(f"which must be 'lift' or 'joint', got {which!r}")
        theta = _checks.theta(model, theta)
        _checks.check_size(2 * model.n_params ** 2, "the Gram matrix (D x D)")
        rtol = self._rtol(model, rtol)
        lifting = self._lifting(model)
        rank_of = lifting.rank_lift if which == "lift" else lifting.rank_joint
        rank, eigenvalues = self._run(n_threads, lambda: rank_of(theta, rtol))
        _rank.checked_ranks(rank)
        return _rank.gram_info(np.asarray(eigenvalues), rtol)

    @staticmethod
    def _exact_allowed(model, method: str) -> bool:
        if method not in ("gram", "exact"):
            raise ValueError(f"method must be 'gram' or 'exact', got {method!r}")
        if method == "exact":
            require(model, "path_lifting", "method='exact'")
        return method == "exact"

    def rank_lift(self, model: Model, theta: ArrayLike, rtol: float | None = None, method: str = "gram",
                  n_threads: int | None = None) -> int:
        """Rank of dphi(theta), scale-invariant.

        ``method="gram"`` (default): numerical rank of the scaled Gram matrix (see rank_info),
        O(D^3), with rtol. ``method="exact"`` (path-lifting models): from the zero pattern of
        theta alone, in O(D): J diag(theta) = diag(phi) A makes the rank an integer property of
        the graph of nonzero weights (no tolerance involved).
        """
        if self._exact_allowed(model, method):
            theta = _checks.theta(model, theta)  # before the model's structure is built
            return int(self._lifting(model).exact_rank(theta))
        return self.rank_info(model, theta, "lift", rtol, n_threads).rank

    def rank_joint(self, model: Model, theta: ArrayLike, rtol: float | None = None, n_threads: int | None = None) -> int:
        """Rank of [dphi(theta); dh(theta)] via the Gram form; D means theta is recoverable from (z, h)."""
        return self.rank_info(model, theta, "joint", rtol, n_threads).rank

    # -- batches over thetas (B, D) --------------------------------------------------------
    def _batch(self, model, thetas, method: str, width: int, what: str, paths: bool = False, shape=None,
               n_threads: int | None = None):
        """Runs a batched method; its (B, width) result is reshaped to (B, *shape) when given."""
        thetas = _checks.thetas(model, thetas, row_width=width, what=what)  # sized before converting
        batch_method = getattr(self._lifting(model, paths), method)
        flat = self._run(n_threads, lambda: batch_method(thetas))
        return flat if shape is None else flat.reshape((thetas.shape[0],) + shape)

    def lift_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """phi over a batch: thetas (B, D) -> (B, d)."""
        return self._batch(model, thetas, "lift_batch", model.n_lifted, "the batch of phi(theta)", paths=True,
                           n_threads=n_threads)

    def lift_jacobian_batch(self, model: Model, thetas: ArrayLike, out: Array | None = None,
                            n_threads: int | None = None) -> Array:
        """Jacobians over a batch: thetas (B, D) -> (B, d, D).

        ``out``: an optional preallocated float64, C-contiguous, writeable array of shape (B, d, D)
        that receives the result (and is returned), so that repeated calls reuse one buffer.
        """
        thetas = _checks.thetas(model, thetas)
        shape = (thetas.shape[0], model.n_lifted, model.n_params)
        if out is None:
            _checks.check_size(float(np.prod(shape, dtype=float)), "the batch of Jacobians")
            # NumPy's allocator backs large arrays with huge pages where the system allows it:
            # first-touch page faults would otherwise cost more than computing the Jacobians.
            lifting = self._lifting(model, paths=True)
            out = np.empty(shape)
        else:
            out = _checks.output_buffer(out, shape, "(B, d, D)", thetas)
            lifting = self._lifting(model, paths=True)
        flat_out = out.reshape(shape[0], shape[1] * shape[2])
        self._run(n_threads, lambda: lifting.jacobian_batch_into(thetas, flat_out))
        return out

    def lift_vjp_batch(self, model: Model, thetas: ArrayLike, ws: ArrayLike, n_threads: int | None = None) -> Array:
        """lift_vjp over a batch: thetas (B, D), ws (B, d) -> (B, D), row b = J(thetas[b])^T ws[b]."""
        thetas = _checks.thetas(model, thetas)
        ws = _checks.finite_array(ws, "ws", (thetas.shape[0], model.n_lifted))
        _checks.check_size(thetas.shape[0] * model.n_params, "the batch of J^T w")
        lifting = self._lifting(model, paths=True)
        return self._run(n_threads, lambda: lifting.vjp_batch(thetas, ws))

    def lift_jvp_batch(self, model: Model, thetas: ArrayLike, vs: ArrayLike, n_threads: int | None = None) -> Array:
        """lift_jvp over a batch: thetas (B, D), vs (B, D) -> (B, d), row b = J(thetas[b]) vs[b]."""
        thetas = _checks.thetas(model, thetas)
        vs = _checks.finite_array(vs, "vs", thetas.shape)
        _checks.check_size(thetas.shape[0] * model.n_lifted, "the batch of J v")
        lifting = self._lifting(model, paths=True)
        return self._run(n_threads, lambda: lifting.jvp_batch(thetas, vs))

    def metric_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Metrics over a batch: thetas (B, D) -> (B, d, d)."""
        d = model.n_lifted
        return self._batch(model, thetas, "metric_batch", d * (d + model.n_params), "the batch of metrics", True, (d, d),
                           n_threads)

    def conserved_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Known laws over a batch: thetas (B, D) -> (B, N_known)."""
        return self._batch(model, thetas, "conserved_batch", model.n_known_laws, "the batch of laws",
                           shape=(model.n_known_laws,), n_threads=n_threads)

    def conserved_jacobian_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Jacobians of the known laws over a batch: (B, D) -> (B, N_known, D)."""
        N, D = model.n_known_laws, model.n_params
        return self._batch(model, thetas, "conserved_jacobian_batch", N * D, "the batch of law Jacobians", shape=(N, D),
                           n_threads=n_threads)

    def lift_gram_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Gram matrices over a batch: (B, D) -> (B, D, D)."""
        D = model.n_params
        return self._batch(model, thetas, "gram_batch", D * D, "the batch of Gram matrices", shape=(D, D),
                           n_threads=n_threads)

    def rank_lift_batch(self, model: Model, thetas: ArrayLike, rtol: float | None = None, method: str = "gram",
                        n_threads: int | None = None) -> IntArray:
        """rank_lift over a batch: (B, D) -> (B,) integers."""
        thetas = _checks.thetas(model, thetas)
        if self._exact_allowed(model, method):
            lifting = self._lifting(model)
            return np.asarray(self._run(n_threads, lambda: lifting.exact_rank_batch(thetas)), dtype=np.int64)
        _checks.check_size(2 * model.n_params ** 2, "the Gram matrix (D x D)")
        lifting, rtol = self._lifting(model), self._rtol(model, rtol)
        ranks = self._run(n_threads, lambda: lifting.rank_lift_batch(thetas, rtol))
        return _rank.checked_ranks(np.asarray(ranks, dtype=np.int64))

    def rank_joint_batch(self, model: Model, thetas: ArrayLike, rtol: float | None = None,
                         n_threads: int | None = None) -> IntArray:
        """rank_joint over a batch: (B, D) -> (B,) integers."""
        thetas = _checks.thetas(model, thetas)
        _checks.check_size(2 * model.n_params ** 2, "the Gram matrix (D x D)")
        lifting, rtol = self._lifting(model), self._rtol(model, rtol)
        ranks = self._run(n_threads, lambda: lifting.rank_joint_batch(thetas, rtol))
        return _rank.checked_ranks(np.asarray(ranks, dtype=np.int64))
