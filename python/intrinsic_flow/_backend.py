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
        r"""The lifted vector z = phi(theta).

        For path-lifting models (``ReLUNet``, ``DAGReLUNet``) entry :math:`p` is the product of the
        parameters along path :math:`p`; for ``LinearNet`` the end-to-end matrix, raveled; for
        ``LinearNeuralODE`` the product of the steps, raveled:

        .. math::

            z_p &= \prod_{e \in p} \theta_e \quad \text{(paths)},

            z &= \operatorname{vec}(W_L \cdots W_1) \quad \text{or} \quad
            z = \operatorname{vec}(U_K \cdots U_1).

        Path order and layouts as in ``docs/theory/lifting.md``.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.

        Returns
        -------
        z : ndarray of shape (d,)
            phi(theta), float64.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        lift_jacobian, lift_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> z = itf.lift(net, theta)
        >>> z.shape, net.n_lifted
        ((6,), 6)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted, "phi(theta)")
        return self._lifting(model, paths=True).lift(theta)

    def lift_jacobian(self, model: Model, theta: ArrayLike) -> Array:
        r"""The Jacobian J = dphi(theta), dense.

        .. math::

            J_{pe} &= \frac{\partial \phi_p}{\partial \theta_e}(\theta);

            J_{pe} &= \prod_{g \in p,\, g \neq e} \theta_g \ \text{ if } e \in p, \text{ else } 0
            \quad \text{(path-liftings)}.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.

        Returns
        -------
        J : ndarray of shape (d, D)

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        lift_vjp, lift_jvp : products with J without forming it.
        lift_jacobian_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.lift_jacobian(net, theta).shape
        (6, 9)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted * model.n_params, "the Jacobian (d x D)")
        return self._lifting(model, paths=True).jacobian(theta)

    def metric(self, model: Model, theta: ArrayLike) -> Array:
        r"""The metric M(theta) = J J^T on the lifted space.

        .. math::

            M(\theta) &= J J^\top, \qquad J = \partial\phi(\theta);

            M_{pq} &= z_p z_q \sum_{e \in p \cap q} \theta_e^{-2} \quad \text{(path-lifting)}.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.

        Returns
        -------
        M : ndarray of shape (d, d)
            Symmetric positive semi-definite.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        metric_derivative, metric_batch, lift_gram : J^T J, of shape (D, D).

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> M = itf.metric(net, theta)
        >>> J = itf.lift_jacobian(net, theta)
        >>> M.shape, bool(np.allclose(M, J @ J.T))
        ((6, 6), True)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_lifted * (model.n_lifted + model.n_params), "the metric (d x d) and Jacobian")
        return self._lifting(model, paths=True).metric(theta)

    def metric_derivative(self, model: Model, theta: ArrayLike, v: ArrayLike) -> Array:
        r"""The derivative of the metric M along a direction v.

        .. math::

            \partial M(\theta)[v] &= \partial J[v]\, J^\top + J\, \partial J[v]^\top,

            \partial J[v] &= \frac{d}{dt} J(\theta + t v) \Big|_{t=0}, \qquad J = \partial\phi(\theta).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        v : array_like of shape (D,)
            The direction, finite.

        Returns
        -------
        dM : ndarray of shape (d, d)
            Symmetric.

        Raises
        ------
        ValueError
            If ``theta`` or ``v`` is not a flat vector of length D or has a non-finite entry, or if
            the result would exceed ``intrinsic_flow.config.max_bytes``.

        See Also
        --------
        metric

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> v = np.ones(net.n_params)
        >>> itf.metric_derivative(net, theta, v).shape
        (6, 6)
        """
        theta = _checks.theta(model, theta)
        v = _checks.theta(model, v, "v")
        _checks.check_size(model.n_lifted * (model.n_lifted + 2 * model.n_params), "the metric derivative (d x d)")
        return self._lifting(model, paths=True).metric_derivative(theta, v)

    # -- products with J, without forming it -------------------------------------------------
    def lift_vjp(self, model: Model, theta: ArrayLike, w: ArrayLike) -> Array:
        r"""Vector-Jacobian product J^T w = sum_p w_p grad phi_p(theta).

        The gradient of :math:`\theta \mapsto \langle w, \phi(\theta) \rangle`, computed without the
        dense :math:`d \times D` Jacobian. For path-liftings, in O(paths x depth),

        .. math::

            (J^\top w)_e = \sum_{p \ni e} w_p \prod_{g \in p,\, g \neq e} \theta_g ;

        for linear chains :math:`W_L \cdots W_1` the block of layer :math:`l` is
        :math:`S_l^\top G P_l^\top`, with :math:`G` = ``w`` as (d_out, d_in),
        :math:`S_l = W_L \cdots W_{l+1}` and :math:`P_l = W_{l-1} \cdots W_1`.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        w : array_like of shape (d,)
            The covector on the lifted space, finite.

        Returns
        -------
        ndarray of shape (D,)
            J^T w.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D, ``w`` not of shape (d,), or either has a
            non-finite entry.

        See Also
        --------
        lift_jvp, lift_vjp_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> w = np.arange(net.n_lifted, dtype=float)
        >>> g = itf.lift_vjp(net, theta, w)
        >>> g.shape, bool(np.allclose(g, itf.lift_jacobian(net, theta).T @ w))
        ((9,), True)
        """
        theta = _checks.theta(model, theta)
        w = _checks.finite_array(w, "w", (model.n_lifted,))
        return self._lifting(model, paths=True).vjp(theta, w)

    def lift_jvp(self, model: Model, theta: ArrayLike, v: ArrayLike) -> Array:
        r"""Jacobian-vector product J v = d/dt phi(theta + t v) at t = 0.

        Without the dense Jacobian. For path-liftings, in O(paths x depth),

        .. math::

            (J v)_p = \frac{d}{dt} \phi_p(\theta + t v) \Big|_{t=0}
            = \sum_{e \in p} v_e \prod_{g \in p,\, g \neq e} \theta_g ;

        for linear chains :math:`\sum_l S_l V_l P_l` (notation of :func:`lift_vjp`, :math:`V_l` the
        block of ``v`` for layer :math:`l`).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        v : array_like of shape (D,)
            The direction in parameter space, finite.

        Returns
        -------
        ndarray of shape (d,)
            J v.

        Raises
        ------
        ValueError
            If ``theta`` or ``v`` is not a flat vector of length D or has a non-finite entry, or if
            the result would exceed ``intrinsic_flow.config.max_bytes``.

        See Also
        --------
        lift_vjp, lift_jvp_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> v = np.ones(net.n_params)
        >>> Jv = itf.lift_jvp(net, theta, v)
        >>> Jv.shape, bool(np.allclose(Jv, itf.lift_jacobian(net, theta) @ v))
        ((6,), True)
        """
        theta = _checks.theta(model, theta)
        v = _checks.theta(model, v, "v")
        _checks.check_size(model.n_lifted, "J v")
        return self._lifting(model, paths=True).jvp(theta, v)

    def conserved(self, model: Model, theta: ArrayLike) -> Array:
        r"""The known conservation laws h(theta).

        For ReLU nets one law per hidden neuron :math:`\nu` (by layer, then index), with
        :math:`w_{\mathrm{in}}(\nu)` its incoming weights, :math:`b_\nu` its bias and
        :math:`w_{\mathrm{out}}(\nu)` its outgoing weights; for ``LinearNet`` the upper triangles
        (row by row) of :math:`H_l`; for ``LinearNeuralODE`` those of :math:`H_k`:

        .. math::

            h_\nu &= \|w_{\mathrm{in}}(\nu)\|^2 + b_\nu^2 - \|w_{\mathrm{out}}(\nu)\|^2,

            H_l &= W_{l+1}^\top W_{l+1} - W_l W_l^\top,

            H_k &= U_{k+1}^\top U_{k+1} - U_k U_k^\top.

        The order is given in ``docs/theory/laws.md`` (parameter layouts in
        ``docs/theory/lifting.md``).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.

        Returns
        -------
        h : ndarray of shape (N_known,)
            N_known = ``model.n_known_laws``.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry.

        See Also
        --------
        conserved_jacobian, conserved_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.conserved(net, theta).shape, net.n_known_laws
        ((3,), 3)
        """
        theta = _checks.theta(model, theta)  # before the model's structure is built
        return self._lifting(model).conserved(theta)

    def conserved_jacobian(self, model: Model, theta: ArrayLike) -> Array:
        r"""The Jacobian Jh = dh(theta) of the known laws.

        .. math::

            (J_h)_{ke} = \frac{\partial h_k}{\partial \theta_e}(\theta),

        one row per law of :func:`conserved`, in its order.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.

        Returns
        -------
        Jh : ndarray of shape (N_known, D)

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        conserved, conserved_jacobian_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.conserved_jacobian(net, theta).shape
        (3, 9)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_known_laws * model.n_params, "the Jacobian of the known laws")
        return self._lifting(model).conserved_jacobian(theta)

    def lift_gram(self, model: Model, theta: ArrayLike, n_threads: int | None = None) -> Array:
        r"""The Gram matrix G = J^T J of the Jacobian J = dphi(theta).

        .. math::

            G = J^\top J \in \mathbb{R}^{D \times D}, \qquad
            G_{ef} = \sum_p J_{pe} J_{pf}.

        For path-lifting models computed without enumerating paths.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        G : ndarray of shape (D, D)
            Symmetric positive semi-definite.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also if ``n_threads`` is not a positive integer.

        See Also
        --------
        joint_gram, metric, lift_gram_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> G = itf.lift_gram(net, theta)
        >>> J = itf.lift_jacobian(net, theta)
        >>> G.shape, bool(np.allclose(G, J.T @ J))
        ((9, 9), True)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_params ** 2, "the Gram matrix (D x D)")
        lifting = self._lifting(model)
        return self._run(n_threads, lambda: lifting.gram(theta))

    def joint_gram(self, model: Model, theta: ArrayLike, n_threads: int | None = None) -> Array:
        r"""The Gram matrix J^T J + Jh^T Jh of the stacked Jacobian [J; Jh].

        .. math::

            \begin{bmatrix} J \\ J_h \end{bmatrix}^\top \begin{bmatrix} J \\ J_h \end{bmatrix}
            = J^\top J + J_h^\top J_h, \qquad J = \partial\phi(\theta), \quad J_h = \partial h(\theta)

        (:math:`h` the known laws).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (D, D)
            Symmetric positive semi-definite.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length D or has a non-finite entry, or if the result
            would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also if ``n_threads`` is not a positive integer.

        See Also
        --------
        lift_gram, rank_joint

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.joint_gram(net, theta).shape
        (9, 9)
        """
        theta = _checks.theta(model, theta)
        _checks.check_size(model.n_params ** 2 + model.n_known_laws * model.n_params, "the joint Gram matrix (D x D)")
        lifting = self._lifting(model)
        return self._run(n_threads, lambda: lifting.joint_gram(theta))

    # -- ranks -----------------------------------------------------------------------------
    def rank_info(self, model: Model, theta: ArrayLike, which: str = "lift", rtol: float | None = None,
                  n_threads: int | None = None) -> RankInfo:
        r"""Rank of J (``which="lift"``) or of [J; Jh] (``which="joint"``) with its singular values.

        Taken on the Gram matrix

        .. math::

            G &= J^\top J \quad \text{or} \quad
            G = \frac{J^\top J}{\|J\|_F^2} + \frac{J_h^\top J_h}{\|J_h\|_F^2},

            \operatorname{rank} &= \#\{\lambda \in \operatorname{spec}(G) :
            \lambda > \mathrm{rtol} \cdot \lambda_{\max}\},

        each block at unit trace, with :math:`\mathrm{rtol} = 10\, D\, \varepsilon` by default,

        at the rank point of theta: for path-lifting models the balanced point of its
        neuron-rescaling orbit (:math:`\phi` unchanged, :math:`\|\text{incoming}\|^2 =
        \|\text{outgoing}\|^2` at every hidden neuron) divided by the geometric mean of its
        :math:`|\text{entries}|`, so rescaling a neuron by 1e8 or theta by 1e30 changes no rank; for
        linear nets theta over its geometric mean; other models theta. ``singular_values`` are the
        square roots of the eigenvalues.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        which : {"lift", "joint"}, default "lift"
            The matrix ranked: J = dphi(theta), or J stacked with Jh = dh(theta).
        rtol : float in (0, 1) or None, default None
            Relative tolerance on the eigenvalues of the Gram matrix (None: 10 D eps).
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        RankInfo
            ``rank`` (int), ``singular_values`` (ndarray of shape (D,), decreasing), ``threshold``,
            ``sigma_kept``, ``sigma_dropped`` and ``gap``.

        Raises
        ------
        ValueError
            If ``which`` is not "lift" or "joint", ``rtol`` not in (0, 1), ``theta`` not a finite
            flat vector of length D, the Gram matrix would exceed ``intrinsic_flow.config.max_bytes``,
            or the Gram matrix at the rank point is not finite in float64.

        See Also
        --------
        rank_lift, rank_joint, singular_gap

        Notes
        -----
        The rank point and the tolerance are discussed in ``docs/theory/ranks.md``.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> info = itf.rank_info(net, theta)
        >>> info.rank, info.singular_values.shape
        (6, (9,))
        >>> itf.rank_info(net, theta, which="joint").rank
        9
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
        if method == "exact" and getattr(model, "kind", None) != "shared":  # shared: exact_rank of _shared
            require(model, "path_lifting", "method='exact'")
        return method == "exact"

    def rank_lift(self, model: Model, theta: ArrayLike, rtol: float | None = None, method: str = "gram",
                  n_threads: int | None = None) -> int:
        r"""Rank of dphi(theta), scale-invariant.

        ``method="gram"`` (default): numerical rank of the scaled Gram matrix (see :func:`rank_info`),
        :math:`O(D^3)`, with rtol. ``method="exact"`` (path-lifting models): from the zero pattern of
        theta alone, in :math:`O(D)`: the identity

        .. math::

            J \operatorname{diag}(\theta) = \operatorname{diag}(\phi(\theta))\, A,
            \qquad A_{pe} = 1 \text{ if } e \in p \text{ else } 0,

        makes the rank an integer property of the graph of nonzero weights (no tolerance involved).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        rtol : float in (0, 1) or None, default None
            Relative tolerance of ``method="gram"`` (None: 10 D eps); unused by ``"exact"``.
        method : {"gram", "exact"}, default "gram"
            How the rank is found.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        int
            rank J, between 0 and min(d, D).

        Raises
        ------
        ValueError
            If ``method`` is not "gram" or "exact", ``method="exact"`` is asked of a model that is not
            a path-lifting, ``theta`` or ``rtol`` is invalid, or (``"gram"``) the Gram matrix at the
            rank point is not finite in float64 (see :func:`rank_info`).

        See Also
        --------
        rank_info, rank_joint, rank_lift_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.rank_lift(net, theta), itf.rank_lift(net, theta, method="exact")
        (6, 6)
        """
        if self._exact_allowed(model, method):
            theta = _checks.theta(model, theta)  # before the model's structure is built
            return int(self._lifting(model).exact_rank(theta))
        return self.rank_info(model, theta, "lift", rtol, n_threads).rank

    def rank_joint(self, model: Model, theta: ArrayLike, rtol: float | None = None, n_threads: int | None = None) -> int:
        r"""Rank of [dphi(theta); dh(theta)] via the Gram form.

        The numerical rank of the stacked Jacobian of :math:`\phi` and of the known laws :math:`h`,

        .. math::

            \operatorname{rank} \begin{bmatrix} \partial\phi(\theta) \\ \partial h(\theta) \end{bmatrix},

        taken as in :func:`rank_info` with ``which="joint"``. :math:`D` means theta is recoverable
        from :math:`(z, h)`.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta : array_like of shape (D,)
            The parameters, a flat vector of finite reals.
        rtol : float in (0, 1) or None, default None
            Relative tolerance on the eigenvalues of the Gram matrix (None: 10 D eps).
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        int
            rank [J; Jh], between 0 and D.

        Raises
        ------
        ValueError
            As :func:`rank_info`.

        See Also
        --------
        rank_info, rank_lift, rank_joint_batch

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> itf.rank_joint(net, theta) == net.n_params
        True
        """
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
        """phi over a batch: thetas (B, D) -> (B, d).

        Row b of the result is ``lift(model, theta)`` at ``thetas[b]``; see :func:`lift` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, d)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        lift

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.lift_batch(net, thetas).shape
        (4, 6)
        """
        return self._batch(model, thetas, "lift_batch", model.n_lifted, "the batch of phi(theta)", paths=True,
                           n_threads=n_threads)

    def lift_jacobian_batch(self, model: Model, thetas: ArrayLike, out: Array | None = None,
                            n_threads: int | None = None) -> Array:
        """Jacobians over a batch: thetas (B, D) -> (B, d, D).

        Row b of the result is ``lift_jacobian(model, theta)`` at ``thetas[b]``; see :func:`lift_jacobian` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        out : ndarray of shape (B, d, D) or None, default None
            An optional preallocated float64, C-contiguous, writeable array that receives the result
            (and is returned), so that repeated calls reuse one buffer; it must not overlap ``thetas``.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, d, D)
            ``out`` when given.

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also if ``out`` has the wrong shape or dtype, is not C-contiguous, is read-only or
            overlaps ``thetas``.
        TypeError
            If ``out`` is not a NumPy array.

        See Also
        --------
        lift_jacobian

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> out = np.empty((4, net.n_lifted, net.n_params))
        >>> itf.lift_jacobian_batch(net, thetas, out=out) is out
        True
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
        """lift_vjp over a batch: row b = J(thetas[b])^T ws[b].

        Row b of the result is ``lift_vjp(model, theta, w)`` at ``thetas[b]``; see :func:`lift_vjp` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        ws : array_like of shape (B, d)
            One covector per row of ``thetas``, finite.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, D)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also if ``ws`` is not of shape (B, d) or has a non-finite entry.

        See Also
        --------
        lift_vjp

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.lift_vjp_batch(net, thetas, np.ones((4, net.n_lifted))).shape
        (4, 9)
        """
        thetas = _checks.thetas(model, thetas)
        ws = _checks.finite_array(ws, "ws", (thetas.shape[0], model.n_lifted))
        _checks.check_size(thetas.shape[0] * model.n_params, "the batch of J^T w")
        lifting = self._lifting(model, paths=True)
        return self._run(n_threads, lambda: lifting.vjp_batch(thetas, ws))

    def lift_jvp_batch(self, model: Model, thetas: ArrayLike, vs: ArrayLike, n_threads: int | None = None) -> Array:
        """lift_jvp over a batch: row b = J(thetas[b]) vs[b].

        Row b of the result is ``lift_jvp(model, theta, v)`` at ``thetas[b]``; see :func:`lift_jvp` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        vs : array_like of shape (B, D)
            One direction per row of ``thetas``, finite.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, d)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also if ``vs`` is not of shape (B, D) or has a non-finite entry.

        See Also
        --------
        lift_jvp

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.lift_jvp_batch(net, thetas, np.ones_like(thetas)).shape
        (4, 6)
        """
        thetas = _checks.thetas(model, thetas)
        vs = _checks.finite_array(vs, "vs", thetas.shape)
        _checks.check_size(thetas.shape[0] * model.n_lifted, "the batch of J v")
        lifting = self._lifting(model, paths=True)
        return self._run(n_threads, lambda: lifting.jvp_batch(thetas, vs))

    def metric_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Metrics over a batch: thetas (B, D) -> (B, d, d).

        Row b of the result is ``metric(model, theta)`` at ``thetas[b]``; see :func:`metric` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, d, d)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        metric

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.metric_batch(net, thetas).shape
        (4, 6, 6)
        """
        d = model.n_lifted
        return self._batch(model, thetas, "metric_batch", d * (d + model.n_params), "the batch of metrics", True, (d, d),
                           n_threads)

    def conserved_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Known laws over a batch: thetas (B, D) -> (B, N_known).

        Row b of the result is ``conserved(model, theta)`` at ``thetas[b]``; see :func:`conserved` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, N_known)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        conserved

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.conserved_batch(net, thetas).shape
        (4, 3)
        """
        return self._batch(model, thetas, "conserved_batch", model.n_known_laws, "the batch of laws",
                           shape=(model.n_known_laws,), n_threads=n_threads)

    def conserved_jacobian_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Jacobians of the known laws over a batch: (B, D) -> (B, N_known, D).

        Row b of the result is ``conserved_jacobian(model, theta)`` at ``thetas[b]``; see :func:`conserved_jacobian` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, N_known, D)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        conserved_jacobian

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.conserved_jacobian_batch(net, thetas).shape
        (4, 3, 9)
        """
        N, D = model.n_known_laws, model.n_params
        return self._batch(model, thetas, "conserved_jacobian_batch", N * D, "the batch of law Jacobians", shape=(N, D),
                           n_threads=n_threads)

    def lift_gram_batch(self, model: Model, thetas: ArrayLike, n_threads: int | None = None) -> Array:
        """Gram matrices over a batch: (B, D) -> (B, D, D).

        Row b of the result is ``lift_gram(model, theta)`` at ``thetas[b]``; see :func:`lift_gram` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of shape (B, D, D)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating).

        See Also
        --------
        lift_gram

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.lift_gram_batch(net, thetas).shape
        (4, 9, 9)
        """
        D = model.n_params
        return self._batch(model, thetas, "gram_batch", D * D, "the batch of Gram matrices", shape=(D, D),
                           n_threads=n_threads)

    def rank_lift_batch(self, model: Model, thetas: ArrayLike, rtol: float | None = None, method: str = "gram",
                        n_threads: int | None = None) -> IntArray:
        """rank_lift over a batch: (B, D) -> (B,) integers.

        Row b of the result is ``rank_lift(model, theta)`` at ``thetas[b]``; see :func:`rank_lift` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        rtol : float in (0, 1) or None, default None
            As in :func:`rank_lift`.
        method : {"gram", "exact"}, default "gram"
            As in :func:`rank_lift`.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of int64, shape (B,)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also for the errors of :func:`rank_lift`.

        See Also
        --------
        rank_lift

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.rank_lift_batch(net, thetas)
        array([6, 6, 6, 6])
        """
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
        """rank_joint over a batch: (B, D) -> (B,) integers.

        Row b of the result is ``rank_joint(model, theta)`` at ``thetas[b]``; see :func:`rank_joint` for
        the formula. The rows are computed in parallel over the batch.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        thetas : array_like of shape (B, D)
            A batch of B >= 1 parameter vectors, one per row.
        rtol : float in (0, 1) or None, default None
            As in :func:`rank_joint`.
        n_threads : int or None, default None
            Threads of the core for this call (None: the process-wide setting of
            ``set_num_threads``; the NumPy reference only validates it). Results do not depend on it.

        Returns
        -------
        ndarray of int64, shape (B,)

        Raises
        ------
        ValueError
            If ``thetas`` is not of shape (B, D) with B >= 1 or has a non-finite entry, or if the
            result would exceed ``intrinsic_flow.config.max_bytes`` (checked before allocating). Also for the errors of :func:`rank_joint`.

        See Also
        --------
        rank_joint

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> itf.rank_joint_batch(net, thetas)
        array([9, 9, 9, 9])
        """
        thetas = _checks.thetas(model, thetas)
        _checks.check_size(2 * model.n_params ** 2, "the Gram matrix (D x D)")
        lifting, rtol = self._lifting(model), self._rtol(model, rtol)
        ranks = self._run(n_threads, lambda: lifting.rank_joint_batch(thetas, rtol))
        return _rank.checked_ranks(np.asarray(ranks, dtype=np.int64))
