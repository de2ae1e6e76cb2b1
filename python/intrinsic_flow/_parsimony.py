"""The law of parsimony in deep linear networks, written once for both backends.

Yaras, Wang, Hu, Zhu, Balzano, Qu, *The law of parsimony in gradient descent for learning deep
linear networks* (arXiv 2306.01154). A deep linear network W_L ⋯ W_1 trained on
l = (s/2)‖Ω ⊙ (W_L ⋯ W_1 X − Y)‖²_F from an orthogonal initialisation of scale ε learns inside an
invariant subspace of dimension 2r of each factor; on the complement every factor is ρ(t) times
its initial value. ``Parsimony(kernels)`` holds the public functions; ``kernels`` provides the two
training loops (the C++ core in ``intrinsic_flow.parsimony``, NumPy in
``intrinsic_flow.reference.parsimony``):

- ``descent(dims, theta0, inputs, targets, mask, scale, relu, learning_rates, momentum, n_steps,
  save_every, tol) -> (states, saved_steps, losses, info)``;
- ``rk4(dims, theta0, inputs, targets, mask, scale, relu, dt, n_steps, save_every) -> (same)``.

``theta`` packs W_1, …, W_L row-major (W_l of shape d_l × d_{l−1}); an empty ``inputs`` means
X = I and an empty ``mask`` means every entry observed. The mathematics is in
docs/theory/parsimony.md.

**Learning rates.** ``reduction="mean"`` (the default, as in the authors' code) takes
s = 1/(number of entries of Y), so a learning rate is the one of the mean loss ½·mean(…)²;
``reduction="sum"`` takes s = 1, the sum loss ½‖…‖². Gradient descent with rate η on the mean
loss is gradient descent with rate η·s on the sum loss.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from . import _checks
from ._typing import Array, ArrayLike

__all__ = ["Parsimony", "rho_flow", "separation", "completion_problem", "FactorizationResult", "CompressionResult",
           "CompletionResult", "SeparationResult"]

REDUCTIONS = ("mean", "sum")
INITS = ("orthogonal", "gaussian", "uniform")
METHODS = ("gd", "rk4")
ACTIVATIONS = ("linear", "relu")
_EMPTY = np.zeros((0, 0))


# -- validation --------------------------------------------------------------------------------
def _choice(value, name: str, accepted: tuple) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{name} must be one of {list(accepted)}, got {value!r}")
    return value


def _check_rank(d, r) -> tuple:
    d = _checks.positive_int(d, "d")
    r = _checks.positive_int(r, "r")
    if d <= 2 * r:
        raise ValueError(f"d must be > 2r (the invariant subspace has dimension 2r = {2 * r}), got d = {d}, r = {r}")
    return d, r


def _check_observed(observed, d) -> int:
    """⌊observed·d²⌋, the number of observed entries, after checking that it is ≥ 1."""
    observed = _checks.finite_real(observed, "observed")
    if not 0.0 < observed <= 1.0:
        raise ValueError(f"observed must be a fraction in (0, 1], got {observed!r}")
    n_observed = int(observed * d * d)
    if n_observed < 1:
        raise ValueError(f"observed = {observed!r} of {d * d} entries leaves no observed entry (the mask "
                         "must hold at least one)")
    return n_observed


def _check_common(depth, eps, lr, n_steps, name_steps="n_steps") -> tuple:
    depth = _checks.positive_int(depth, "depth", minimum=2)
    eps = _checks.positive_real(eps, "eps")
    # the end-to-end start is eps^L times an orthogonal product, and the compressed network divides
    # by it: it must be a normal float64 number
    log_scale = depth * math.log10(eps)
    if not -300.0 < log_scale < 300.0:
        raise ValueError(f"eps^depth = 10^{log_scale:.4g} is outside float64's normal range (eps = {eps!r}, "
                         f"depth = {depth}); take eps closer to 1")
    lr = _checks.positive_real(lr, "lr")
    n_steps = _checks.nonnegative_int(n_steps, name_steps)
    return depth, eps, lr, n_steps


def _check_momentum(value) -> float:
    value = _checks.finite_real(value, "momentum")
    if not 0.0 <= value < 1.0:
        raise ValueError(f"momentum must be in [0, 1), got {value!r}")
    return value


def _check_saves(n_saved: int, n_params: int) -> None:
    _checks.check_size(n_saved * n_params, f"{n_saved} saved states of {n_params} parameters "
                       "(lower it with save_every)")


# -- building blocks (NumPy, shared) -------------------------------------------------------------
def orthogonal(m: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """An m × n slice of a Haar-random orthogonal matrix of size max(m, n)."""
    size = max(m, n)
    q, upper = np.linalg.qr(rng.standard_normal((size, size)))
    q = q * np.sign(np.diag(upper))  # the sign fix makes Q Haar-distributed
    return np.ascontiguousarray(q[:m, :n])


def initial_factors(dims, eps: float, init: str, rng: np.random.Generator) -> list:
    """W_l(0) (d_l × d_{l−1}) of scale eps: eps·orthogonal, or Gaussian / uniform entries rescaled to
    the Frobenius norm eps·√min(m, n) of the orthogonal one, as the authors do."""
    factors = []
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        rescale = math.sqrt(min(n_out, n_in) / (n_out * n_in))
        if init == "orthogonal":
            factor = eps * orthogonal(n_out, n_in, rng)
        elif init == "gaussian":
            factor = eps * rescale * rng.standard_normal((n_out, n_in))
        else:  # uniform on (−eps, eps), variance eps²/3, hence the √3
            factor = math.sqrt(3.0) * rescale * rng.uniform(-eps, eps, (n_out, n_in))
        factors.append(factor)
    return factors


def pack(factors) -> np.ndarray:
    return np.concatenate([np.ravel(w) for w in factors])


def unpack(theta: np.ndarray, dims) -> list:
    """The views W_1, …, W_L of a packed vector (or of the rows of a stack of them)."""
    factors, start = [], 0
    for n_in, n_out in zip(dims[:-1], dims[1:]):
        stop = start + n_in * n_out
        factors.append(theta[..., start:stop].reshape(theta.shape[:-1] + (n_out, n_in)))
        start = stop
    return factors


def end_to_end(factors) -> np.ndarray:
    """W_{L:1} = W_L ⋯ W_1 (stacks broadcast)."""
    product = factors[0]
    for w in factors[1:]:
        product = w @ product
    return product


def low_rank_truncation(matrix: np.ndarray, r: int) -> np.ndarray:
    u, s, vt = np.linalg.svd(matrix)
    return (u[:, :r] * s[:r]) @ vt[:r]


def invariant_basis(w1: np.ndarray, g0: np.ndarray, r: int) -> np.ndarray:
    """V_{1,1} (d_0 × 2r): an orthonormal basis of row(G₀,r) + W_1(0)ᵀ col(G₀,r), where G₀,r = U_r Σ_r V_rᵀ
    is the best rank-r approximation of G₀ (d_1 × d_0).

    The law acts on this 2r-dimensional space. For factorisation G₀ (from :func:`target_gradient`) has
    rank r and G₀,r = G₀. For completion G₀ is the first masked gradient, of full rank: its rank-r part
    carries the target's directions, while the rest is noise of the mask; without the truncation the
    basis would follow that noise and miss W_1(0)ᵀ col(G₀,r), a block ε^L times smaller in [G₀; G₀ᵀW_1].
    Computed as the left singular vectors of [V_r, W_1(0)ᵀU_r] (d_0 × 2r), in decreasing order.
    """
    u, _, vt = np.linalg.svd(g0, full_matrices=False)
    spanning = np.hstack([vt[:r].T, w1.T @ u[:, :r]])
    return np.linalg.svd(spanning, full_matrices=False)[0][:, :2 * r].copy()


def capture(basis: np.ndarray, matrix: np.ndarray, r: int) -> float:
    """How much of the r-dimensional column space of ``matrix`` lies in span(``basis``): the mean of the
    squared cosines of the principal angles, ‖P_B Q_r‖_F² / r with Q_r the top r left singular vectors of
    ``matrix`` and P_B the orthogonal projector on span(basis). 1 when col(matrix) ⊂ span(basis)."""
    q = np.linalg.svd(matrix, full_matrices=False)[0][:, :r]
    b = np.linalg.qr(basis)[0]
    return float(np.sum((b.T @ q) ** 2) / r)


def completion_problem(d: int, r: int, observed: float, seed: int = 0) -> tuple:
    """The authors' deep-matrix-completion data: Φ, the rank-r truncation of a d × d standard Gaussian
    matrix (drawn first), and a 0/1 mask Ω with exactly ⌊observed·d²⌋ ones chosen uniformly.

    Parameters
    ----------
    d, r : int
        Size and rank, d > 2r.
    observed : float
        Fraction of observed entries in (0, 1].
    seed : int

    Returns
    -------
    tuple
        (Φ (d, d), Ω (d, d)).

    Raises
    ------
    ValueError
        d ≤ 2r, or ``observed`` outside (0, 1] or leaving no observed entry.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import parsimony
    >>> target, mask = parsimony.completion_problem(10, 2, 0.3)
    >>> int(np.linalg.matrix_rank(target)), int(mask.sum())
    (2, 30)
    """
    d, r = _check_rank(d, r)
    n_observed = _check_observed(observed, d)
    rng = np.random.default_rng(_checks.nonnegative_int(seed, "seed"))
    target = low_rank_truncation(rng.standard_normal((d, d)), r)
    mask = np.zeros(d * d)
    mask[rng.choice(d * d, size=n_observed, replace=False)] = 1.0
    return target, mask.reshape(d, d)


def first_layer_gradient(factors, inputs, targets, mask, scale: float) -> np.ndarray:
    """∇_{W_1} l = W_{L:2}ᵀ (s Ω ⊙ (W_{L:1}X − Y)) Xᵀ."""
    output = end_to_end(factors) if inputs is None else end_to_end(factors) @ inputs
    residual = scale * (output - targets) * (1.0 if mask is None else mask)
    upper = end_to_end(factors[1:])
    g = upper.T @ residual
    return g if inputs is None else g @ inputs.T


def target_gradient(factors, inputs, targets) -> np.ndarray:
    """G₀ = W_{L:2}(0)ᵀ Y Xᵀ (rank ≤ r): the part of −∇_{W_1} l(W(0)) that depends on the target. For a
    balanced start, W_{L:2}ᵀW_{L:2} = ε^{2L−2} I and ∇_{W_1} l = s(ε^{2L−2} W_1(0) − G₀) (whitened data),
    so G₀ carries the directions in which the first factor moves."""
    upper = end_to_end(factors[1:])
    g = upper.T @ targets
    return g if inputs is None else g @ inputs.T


def rho_recursion(eps: float, depth: int, rate: float, n_steps: int, momentum: float = 0.0) -> np.ndarray:
    """ρ_0 = eps, then gradient descent on the complement block: v_t = ρ_t^{2L−1} + μ v_{t−1},
    ρ_{t+1} = ρ_t − rate·v_t (rate = lr·s). With μ = 0: ρ_{t+1} = ρ_t − rate·ρ_t^{2L−1}."""
    rho = np.empty(n_steps + 1)
    rho[0] = eps
    velocity = 0.0
    for t in range(n_steps):
        velocity = rho[t] ** (2 * depth - 1) + momentum * velocity
        rho[t + 1] = rho[t] - rate * velocity
    return rho


def rho_flow(t: ArrayLike, eps: float, depth: int) -> Any:
    r"""The complement scale under gradient flow on the sum loss:

    .. math::

        \rho' = -\rho^{2L-1}, \qquad \rho(0) = \varepsilon,

        \rho(t) = \big(\varepsilon^{-(2L-2)} + (2L-2)\, t\big)^{-1/(2L-2)}.

    Parameters
    ----------
    t : float or array_like
        Times ≥ 0 (any shape).
    eps : float
        Initial scale ε > 0.
    depth : int
        Number of layers L ≥ 2.

    Returns
    -------
    float or numpy.ndarray
        ρ(t), of the shape of ``t``.

    Raises
    ------
    ValueError
        When eps ≤ 0, depth < 2, or a time is negative or not finite.

    Examples
    --------
    >>> from intrinsic_flow import parsimony
    >>> round(float(parsimony.rho_flow(6.0, 1.0, 3)), 7)  # 25^(-1/4)
    0.4472136
    """
    eps = _checks.positive_real(eps, "eps")
    depth = _checks.positive_int(depth, "depth", minimum=2)
    scalar = np.ndim(t) == 0
    times = _checks.finite_array(np.atleast_1d(t), "t")
    if np.any(times < 0):
        raise ValueError(f"t must be >= 0, got a minimum of {times.min()}")
    power = 2.0 * depth - 2.0
    # in logs: eps^(-power) overflows for deep networks (and power t for long times)
    with np.errstate(divide="ignore"):
        log_sum = np.logaddexp(-power * math.log(eps), np.log(power) + np.log(times))
    value = np.exp(-log_sum / power)
    return float(value[0]) if scalar else value.reshape(np.shape(t))


def _principal_angle(a: np.ndarray, b: np.ndarray) -> float:
    """The largest principal angle between the column spans of a and b (orthonormal columns)."""
    if a.shape[1] == 0:
        return 0.0
    cosines = np.linalg.svd(a.T @ b, compute_uv=False)
    return float(np.arccos(np.clip(cosines.min(), -1.0, 1.0)))


def _spectra(factors_by_step, r: int | None, width: int):
    """Singular values (n_saved, L, width) and angles of the left and right singular vectors to those
    of the first saved step after the start (NaN-padded for smaller layers)."""
    n_saved, depth = len(factors_by_step), len(factors_by_step[0])
    values = np.full((n_saved, depth, width), np.nan)
    angles_left = np.zeros((n_saved, depth, width))
    angles_right = np.zeros((n_saved, depth, width))
    reference = min(1, n_saved - 1)
    # one SVD at a time against the reference step's: no list of every step's singular vectors
    # (twice the saved states), so the diagnostics stay within the size checked for the states
    for layer in range(depth):
        u0, _, vt0 = np.linalg.svd(factors_by_step[reference][layer])
        for k in range(n_saved):
            u, s, vt = np.linalg.svd(factors_by_step[k][layer])
            m = len(s)
            values[k, layer, :m] = s
            if k == 0:
                continue  # at t = 0 the spectrum is degenerate: the angles start at 0
            cos_left = np.abs(np.sum(u[:, :m] * u0[:, :m], axis=0))
            cos_right = np.abs(np.sum(vt[:m] * vt0[:m], axis=1))
            angles_left[k, layer, :m] = np.arccos(np.clip(cos_left, -1.0, 1.0))
            angles_right[k, layer, :m] = np.arccos(np.clip(cos_right, -1.0, 1.0))
            if r is not None and m > 2 * r:  # the middle block: one principal angle between subspaces
                middle = slice(r, m - r)
                angles_left[k, layer, middle] = _principal_angle(u[:, middle], u0[:, middle])
                angles_right[k, layer, middle] = _principal_angle(vt[middle].T, vt0[middle].T)
    for layer in range(depth):
        m = min(factors_by_step[0][layer].shape)
        angles_left[:, layer, m:] = np.nan
        angles_right[:, layer, m:] = np.nan
    return values, angles_left, angles_right


def _middle_block(values: np.ndarray, size: int, rho_hint: np.ndarray) -> tuple:
    """ρ (mean of W_1's middle block) and the spread (max over square layers of its range) at each
    saved step. The middle block is the window of ``size`` consecutive sorted singular values with the
    smallest range: the bottom r values may cross ρ, so it is not always at indices r … d − r − 1.
    Windows of equal range (always so when size = 1, d = 2r + 1) are told apart by ``rho_hint``, the
    scale of W_1 on the complement of the invariant subspace: the one nearest to it is taken."""
    n_saved, depth, width = values.shape
    rho, spread = np.empty(n_saved), np.zeros(n_saved)
    for k in range(n_saved):
        for layer in range(depth):
            s = values[k, layer]
            if np.isnan(s).any():
                continue  # a non-square (output) layer
            ranges = s[:width - size + 1] - s[size - 1:]
            means = np.array([s[i:i + size].mean() for i in range(width - size + 1)])
            tied = np.flatnonzero(ranges <= ranges.min() + 1e-12 * max(s[0], 1e-300))
            start = int(tied[np.argmin(np.abs(means[tied] - rho_hint[k]))])
            spread[k] = max(spread[k], ranges[start])
            if layer == 0:
                rho[k] = means[start]
    return rho, spread


def _balance_defects(factors_by_step) -> np.ndarray:
    """max_l ‖D_l(t) − D_l(0)‖_F with D_l = W_{l+1}ᵀW_{l+1} − W_l W_lᵀ (conserved by the flow)."""
    def defects(factors):
        return [w_next.T @ w_next - w @ w.T for w, w_next in zip(factors[:-1], factors[1:])]
    start = defects(factors_by_step[0])
    return np.array([max(np.linalg.norm(d - d0) for d, d0 in zip(defects(f), start)) for f in factors_by_step])


# -- results ---------------------------------------------------------------------------------------
@dataclass
class FactorizationResult:
    """A deep linear run and the law-of-parsimony diagnostics at its saved steps (n_saved of them).

    ``states`` (n_saved, D) packs W_1, …, W_L; ``steps`` (n_saved,) are their step numbers and
    ``times`` = steps × lr their gradient-flow times. ``singular_values`` (n_saved, L, d): each
    layer's singular values, decreasing (NaN beyond a smaller layer's rank). ``angles_left`` and
    ``angles_right`` (n_saved, L, d): angles (radians) of u_i(t), v_i(t) to those of the first saved
    step after the start (the initial spectrum is degenerate); for the middle indices r ≤ i < d − r,
    the largest principal angle between the middle singular subspaces. ``rho`` (n_saved,): mean of
    the d − 2r middle singular values of W_1; ``rho_predicted``: the scalar recursion (gd) or the
    closed form of the flow (rk4); ``middle_spread``: max over layers of the range of the middle
    singular values; ``complement_residual``: max_l ‖W_l(t)B_l − (ρ/ε)W_l(0)B_l‖_F with
    B_l = W_{l−1:1}(0)P⊥/ε^{l−1}; ``balance_defect``: max_l ‖D_l(t) − D_l(0)‖_F, D_l = W_{l+1}ᵀW_{l+1}
    − W_lW_lᵀ; ``invariant_basis``: V_{1,1} (d × 2r); ``loss``: l at ``loss_steps``.
    """

    dims: tuple
    r: int
    eps: float
    lr: float
    method: str
    scale: float
    states: np.ndarray
    steps: np.ndarray
    times: np.ndarray
    loss: np.ndarray
    loss_steps: np.ndarray
    target: np.ndarray
    singular_values: np.ndarray
    angles_left: np.ndarray
    angles_right: np.ndarray
    rho: np.ndarray
    rho_predicted: np.ndarray
    middle_spread: np.ndarray
    complement_residual: np.ndarray
    balance_defect: np.ndarray
    invariant_basis: np.ndarray
    seconds: float = 0.0

    @property
    def depth(self) -> int:
        return len(self.dims) - 1

    @property
    def angles(self) -> np.ndarray:
        """The right singular-vector angles (``angles_right``), as the paper plots for W_1."""
        return self.angles_right

    def factors(self, k: int = -1) -> list:
        """W_1, …, W_L at saved step k."""
        return unpack(self.states[k], self.dims)

    def end_to_end(self, k: int = -1) -> np.ndarray:
        """W_{L:1} at saved step k."""
        return end_to_end(self.factors(k))

    def summary(self) -> str:
        d, r = self.dims[0], self.r
        lines = [f"deep linear factorisation: d = {d}, r = {r}, L = {self.depth}, eps = {self.eps:g}, "
                 f"lr = {self.lr:g} ({self.method}), {int(self.steps[-1])} steps in {self.seconds:.3g} s",
                 f"loss {self.loss[0]:.4g} -> {self.loss[-1]:.4g}",
                 f"middle {d - 2 * r} singular values of W_1: rho = {self.rho[-1]:.12g}, "
                 f"predicted {self.rho_predicted[-1]:.12g}, spread {np.max(self.middle_spread):.2e}",
                 f"complement residual (max over steps and layers) {np.max(self.complement_residual):.2e}",
                 f"balance defect drift {np.max(self.balance_defect):.2e}"]
        return "\n".join(lines)

    def figure(self, layers=None):
        """Heat maps over (step, index) of σ_i(t) and of the angles of v_i(t) and u_i(t), one column
        per layer (default: all): the panels of the paper's main figure."""
        from matplotlib.figure import Figure

        layers = range(self.depth) if layers is None else layers
        layers = list(layers)
        figure = Figure(figsize=(3.6 * len(layers), 7.5), layout="constrained")
        axes = figure.subplots(3, len(layers), squeeze=False)
        panels = [(self.singular_values, "$\\sigma_i$", "viridis"),
                  (np.degrees(self.angles_right), "angle of $v_i$ (deg)", "magma"),
                  (np.degrees(self.angles_left), "angle of $u_i$ (deg)", "magma")]
        extent = [0.5, self.singular_values.shape[2] + 0.5, self.steps[-1], self.steps[0]]
        for row, (data, label, cmap) in enumerate(panels):
            for col, layer in enumerate(layers):
                ax = axes[row][col]
                image = ax.imshow(data[:, layer, :], aspect="auto", cmap=cmap, extent=extent,
                                  interpolation="nearest")
                figure.colorbar(image, ax=ax, shrink=0.8)
                ax.set_title(f"$W_{layer + 1}$: {label}", fontsize=9)
                ax.set_xlabel("index i", fontsize=8)
                ax.set_ylabel("step", fontsize=8)
        return figure


@dataclass
class CompressionResult:
    """The original network and the compressed one W̃ (2r × 2r factors) trained from the same start.

    ``gaps`` (n_saved,): ‖W_{L:1}^orig(t) − W_{L:1}^comp(t)‖_F at the saved ``steps``, where W^comp =
    U_{L,1} W̃_{L:1}(t) V_{1,1}ᵀ (+ (ρ_t/ε)^L W_{L:1}(0)P⊥ when ``complement``); ``max_gap`` their
    maximum; ``gaps_without_complement`` the same without the term (equal to ``gaps`` when not
    ``complement``). ``seconds_original`` / ``seconds_compressed``: wall times of the two runs;
    ``cpu_original`` / ``cpu_compressed``: their processor times (all threads).
    """

    complement: bool
    steps: np.ndarray
    gaps: np.ndarray
    max_gap: float
    gaps_without_complement: np.ndarray
    seconds_original: float
    seconds_compressed: float
    loss_original: np.ndarray
    loss_compressed: np.ndarray
    invariant_basis: np.ndarray
    left_basis: np.ndarray
    end_to_end_original: np.ndarray
    end_to_end_compressed: np.ndarray
    n_params_original: int
    n_params_compressed: int
    cpu_original: float = 0.0
    cpu_compressed: float = 0.0

    @property
    def speedup(self) -> float:
        """Wall time of the original run over that of the compressed one."""
        return self.seconds_original / max(self.seconds_compressed, 1e-12)

    @property
    def cpu_speedup(self) -> float:
        """Processor time of the original run over that of the compressed one (steadier than wall
        time on a shared machine)."""
        return self.cpu_original / max(self.cpu_compressed, 1e-12)

    def summary(self) -> str:
        return (f"compressed network ({'with' if self.complement else 'without'} the complement term): "
                f"max gap {self.max_gap:.3e} over {len(self.steps)} saved steps; "
                f"{self.n_params_compressed} trained parameters instead of {self.n_params_original}; "
                f"{self.seconds_original:.3g} s vs {self.seconds_compressed:.3g} s ({self.speedup:.1f}x)")


@dataclass
class CompletionResult:
    """Deep matrix completion: ``recovery_error`` is the loss on the unobserved entries (same
    reduction as the training loss), ``n_steps`` the steps taken, ``converged`` whether the training
    loss reached ``tol``; ``loss`` holds the training loss at every step. For a compressed run,
    ``invariant_basis`` is V_{1,1} and ``left_basis`` U_{L,1} (d × 2r̂) at the start. ``seconds`` is
    the wall time of the training loop, ``cpu_seconds`` its processor time (all threads)."""

    recovery_error: float
    n_steps: int
    converged: bool
    loss: np.ndarray
    end_to_end: np.ndarray
    target: np.ndarray
    mask: np.ndarray
    seconds: float
    compressed: bool = False
    gamma: float = 0.0
    recovery_curve: np.ndarray | None = None
    curve_steps: np.ndarray | None = None
    invariant_basis: np.ndarray | None = None
    left_basis: np.ndarray | None = None
    cpu_seconds: float = 0.0


@dataclass
class SeparationResult:
    """Progressive separation: ``D`` (L,) is D_l = tr Σ_W / tr Σ_B of the features at layers
    0, …, L−1 (layer 0 the input); ``slope``, ``intercept`` and ``r_squared`` describe the
    least-squares fit log D_l ≈ intercept + slope·l."""

    D: np.ndarray
    slope: float
    intercept: float
    r_squared: float
    loss: np.ndarray
    n_steps: int
    converged: bool
    activation: str


def separation(features_by_layer: Sequence[ArrayLike], labels: ArrayLike) -> Array:
    r"""The separation D_l of each layer's features h_i (one row per sample):

    .. math::

        D_l = \frac{\operatorname{tr} \Sigma_W^l}{\operatorname{tr} \Sigma_B^l},

        \Sigma_W = \frac{1}{N} \sum_{i=1}^N (h_i - \mu_{y_i})(h_i - \mu_{y_i})^\top \quad \text{(within class)},

        \Sigma_B = \frac{1}{K} \sum_{k=1}^K (\mu_k - \mu_G)(\mu_k - \mu_G)^\top \quad \text{(between classes)},

    μ_k the class means and μ_G the global mean (of all samples).

    Parameters
    ----------
    features_by_layer : sequence of array_like
        One (N, p_l) array per layer: row i holds the features h_i of sample i.
    labels : array_like of int
        (N,) class of each sample; at least two classes.

    Returns
    -------
    numpy.ndarray
        (number of layers,) the D_l.

    Raises
    ------
    ValueError
        On non-finite features, a wrong number of rows, fewer than two classes, or classes whose
        means coincide (tr Σ_B = 0).

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import parsimony
    >>> K, n = 5, 10
    >>> labels = np.repeat(np.arange(K), n)
    >>> float(parsimony.separation([np.eye(K * n)], labels)[0])  # K(n - 1)/(K - 1)
    11.25
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0 or labels.dtype.kind not in "iub":
        raise ValueError(f"labels must be a non-empty 1-D array of integers, got dtype {labels.dtype} "
                         f"and shape {labels.shape}")
    classes = np.unique(labels)
    if len(classes) < 2:
        raise ValueError(f"labels must hold at least two classes, got {classes.tolist()}")
    values = []
    for l, features in enumerate(features_by_layer):
        h = _checks.finite_array(features, f"features_by_layer[{l}]")
        if h.ndim != 2 or h.shape[0] != labels.size:
            raise ValueError(f"features_by_layer[{l}] has shape {h.shape}, expected ({labels.size}, p)")
        means = np.stack([h[labels == k].mean(axis=0) for k in classes])
        within = np.sum((h - means[np.searchsorted(classes, labels)]) ** 2) / labels.size
        between = np.sum((means - h.mean(axis=0)) ** 2) / len(classes)
        if between == 0.0:
            raise ValueError(f"the class means of features_by_layer[{l}] coincide: tr Σ_B = 0")
        values.append(within / between)
    return np.array(values)


def _loglinear_fit(values: np.ndarray) -> tuple:
    layers = np.arange(len(values), dtype=float)
    logs = np.log(values)
    slope, intercept = np.polyfit(layers, logs, 1)
    residual = logs - (intercept + slope * layers)
    total = np.sum((logs - logs.mean()) ** 2)
    r_squared = 1.0 - np.sum(residual ** 2) / total if total > 0 else 1.0
    return float(slope), float(intercept), float(r_squared)


# -- the public functions --------------------------------------------------------------------------
class Parsimony:
    """The public functions of ``intrinsic_flow.parsimony`` bound to a kernel set (see the module
    docstring)."""

    def __init__(self, kernels: Any) -> None:
        self.kernels = kernels

    # a training run through the kernels, with the divergence check shared by every function
    def _descent(self, dims, theta0, inputs, targets, mask, scale, relu, rates, momentum, n_steps, save_every,
                 tol):
        n_saved = (n_steps // save_every + 2) if save_every else 2
        _check_saves(n_saved, theta0.size)
        _checks.check_size(n_steps + 1, "the loss history")
        states, steps, losses, info = self.kernels.descent(
            list(dims), theta0, _EMPTY if inputs is None else inputs, targets, _EMPTY if mask is None else mask,
            float(scale), bool(relu), [float(x) for x in rates], float(momentum), int(n_steps), int(save_every),
            float(tol))
        if not info["finite"]:
            raise ValueError(f"training diverged (non-finite loss) at step {info['steps_done']}: "
                             f"lower lr (got learning rates {sorted(set(rates))})")
        return np.asarray(states), np.asarray(steps, dtype=np.int64), np.asarray(losses), info

    def _rk4(self, dims, theta0, inputs, targets, mask, scale, dt, n_steps, save_every):
        n_saved = (n_steps // save_every + 2) if save_every else 2
        _check_saves(n_saved, theta0.size)
        # the core lays out the time grid and its save flags, n_steps + 1 entries each, before it starts
        _checks.check_size(2.0 * (n_steps + 1), f"the time grid of {n_steps} RK4 steps (n_steps)")
        states, steps, losses, info = self.kernels.rk4(
            list(dims), theta0, _EMPTY if inputs is None else inputs, targets, _EMPTY if mask is None else mask,
            float(scale), False, float(dt), int(n_steps), int(save_every))
        if not info["finite"]:
            raise ValueError(f"the RK4 flow diverged (non-finite loss) near step {info['steps_done']}: "
                             f"lower lr (the time step), got {dt}")
        return np.asarray(states), np.asarray(steps, dtype=np.int64), np.asarray(losses), info

    def train(self, factors: Sequence[ArrayLike], target: ArrayLike, lr: float, n_steps: int, *,
              inputs: ArrayLike | None = None, mask: ArrayLike | None = None, reduction: str = "mean",
              momentum: float = 0.0, learning_rates: Sequence[float] | None = None, save_every: int = 1,
              tol: float = 0.0, method: str = "gd", activation: str = "linear", check_every: int = 1) -> tuple:
        r"""Train a deep linear network from given factors: the loop behind every function here.

        It minimises

        .. math::

            l(\theta) = \frac{s}{2} \big\| \Omega \odot (W_L \cdots W_1 X - Y) \big\|_F^2

        by gradient descent with heavy-ball momentum (``method="gd"``),

        .. math::

            v \leftarrow \nabla l(\theta) + \mu v,

            \theta \leftarrow \theta - \eta v,

        or by classic RK4 on θ′ = −∇l(θ) with time step lr (``method="rk4"``).

        Parameters
        ----------
        factors : sequence of array_like
            W_1(0), …, W_L(0), W_l of shape (d_l, d_{l−1}), L ≥ 1.
        target : array_like
            Y, (d_L, n); with ``inputs=None`` (X = I), n = d_0.
        lr : float
            Learning rate η > 0 of the ``reduction`` loss (the time step for rk4).
        n_steps : int
            Maximal number of steps (≥ 0).
        inputs : array_like, optional
            X, (d_0, n). Default: the identity (deep matrix factorisation).
        mask : array_like, optional
            Ω, 0/1 of the shape of Y with at least one 1. Default: every entry observed.
        reduction : {"mean", "sum"}
            s = 1/Y.size (the authors' convention) or s = 1.
        momentum : float
            μ in [0, 1) (gd only).
        learning_rates : sequence of float, optional
            One rate ≥ 0 per layer, overriding lr (0 freezes a layer).
        save_every : int
            Save θ every k steps (0: first and last only); the last state is always saved.
        tol : float
            Stop at the first step where l ≤ tol (0: never).
        method : {"gd", "rk4"}
        activation : {"linear", "relu"}
            ReLU on the hidden layers (gd only).
        check_every : int
            Test the stopping rule l ≤ tol only at multiples of this many steps (the authors test it
            after each block of 100 steps); 1 tests it at every step. gd without momentum only.

        Returns
        -------
        tuple
            (states (n_saved, D), saved steps (n_saved,), losses, info) with losses at every step
            for gd and at the saved steps for rk4; info has ``steps_done``, ``converged``.

        Raises
        ------
        ValueError
            On non-finite or wrongly shaped arrays, an empty mask, lr ≤ 0, or a diverging run.

        Examples
        --------
        >>> import numpy as np
        >>> from intrinsic_flow import parsimony
        >>> factors = [0.5 * np.eye(2), 0.5 * np.eye(2)]
        >>> states, steps, losses, info = parsimony.train(factors, np.eye(2), 0.1, 3, reduction="sum")
        >>> steps.tolist(), bool(losses[-1] < losses[0])
        ([0, 1, 2, 3], True)
        """
        method = _choice(method, "method", METHODS)
        reduction = _choice(reduction, "reduction", REDUCTIONS)
        activation = _choice(activation, "activation", ACTIVATIONS)
        if not isinstance(factors, (list, tuple)) or len(factors) < 1:
            raise ValueError("factors must be a non-empty list of 2-D arrays W_1, ..., W_L")
        factors = [_checks.finite_array(w, f"factors[{l}]") for l, w in enumerate(factors)]
        dims = [factors[0].shape[1] if factors[0].ndim == 2 else -1]
        for l, w in enumerate(factors):
            if w.ndim != 2 or w.shape[1] != dims[-1]:
                raise ValueError(f"factors[{l}] has shape {w.shape}, expected ({'d', dims[-1]}) to chain with "
                                 "the previous factor")
            dims.append(w.shape[0])
        if min(dims) < 1:
            raise ValueError(f"factors must have at least one row and one column, got widths {dims}")
        lr = _checks.positive_real(lr, "lr")
        n_steps = _checks.nonnegative_int(n_steps, "n_steps")
        # past n_steps a period saves the same states (step 0 and the last): bounded so the core's
        # 64-bit integers take it
        save_every = min(_checks.nonnegative_int(save_every, "save_every"), n_steps + 1)
        tol = _checks.finite_real(tol, "tol")
        momentum = _check_momentum(momentum)
        if inputs is not None:
            inputs = _checks.finite_array(inputs, "inputs")
            if inputs.ndim != 2 or inputs.shape[0] != dims[0]:
                raise ValueError(f"inputs has shape {inputs.shape}, expected ({dims[0]}, n)")
        n = dims[0] if inputs is None else inputs.shape[1]
        target = _checks.finite_array(target, "target", shape=(dims[-1], n))
        if mask is not None:
            mask = _mask(mask, target.shape)
        scale = 1.0 / target.size if reduction == "mean" else 1.0
        theta0 = pack(factors)
        if method == "rk4":
            if momentum or learning_rates is not None or activation != "linear" or tol:
                raise ValueError("method='rk4' integrates the plain gradient flow: momentum, learning_rates, "
                                 "activation='relu' and tol apply to method='gd' only")
            return self._rk4(dims, theta0, inputs, target, mask, scale, lr, n_steps, save_every)
        if learning_rates is None:
            rates = [lr] * len(factors)
        else:
            rates = [_checks.finite_real(x, "learning_rates[...]") for x in learning_rates]
            if len(rates) != len(factors) or min(rates) < 0:
                raise ValueError(f"learning_rates must hold {len(factors)} numbers >= 0, got {learning_rates!r}")
        check_every = min(_checks.positive_int(check_every, "check_every"), n_steps + 1)
        if check_every > 1 and momentum:
            raise ValueError("check_every > 1 restarts the loop between checks: it needs momentum = 0")
        args = (dims, inputs, target, mask, scale, activation == "relu", rates, momentum)
        if check_every == 1 or not tol:
            return self._descent(args[0], theta0, *args[1:], n_steps, save_every, tol)
        return self._descent_checked(args, theta0, n_steps, save_every, tol, check_every)

    def _descent_checked(self, args, theta0, n_steps, save_every, tol, check_every):
        """Gradient descent that stops at the first multiple of ``check_every`` steps where l ≤ tol: runs
        to the first step with l ≤ tol, then on to the next multiple, and goes on if l > tol there. The
        saved states are those of one uninterrupted run (every ``save_every`` steps, and the last)."""
        dims, rest = args[0], args[1:]
        parts, theta, done = [], theta0, 0

        def call(length, stop, every):
            nonlocal theta, done
            states, steps, losses, info = self._descent(dims, theta, *rest, length, every, stop)
            parts.append((states, np.asarray(steps) + done, np.asarray(losses)))
            theta, done = states[-1], done + info["steps_done"]
            return info["converged"], info["steps_done"]

        def run(length, stop):
            """``length`` steps (fewer if l ≤ stop first) from step ``done``, saving on the global grid of
            save_every (a run that starts off the grid first goes to it); returns whether it stopped."""
            head = (-done) % save_every if save_every else 0
            if head:
                converged, taken = call(min(head, length), stop, 0)
                if converged or taken == length:
                    return converged
                length -= taken
            return call(length, stop, save_every)[0]

        while True:
            converged = run(n_steps - done, tol)
            if not converged or done % check_every == 0:
                break
            run(min(check_every - done % check_every, n_steps - done), 0.0)
            converged = bool(parts[-1][2][-1] <= tol)
            if converged or done == n_steps:
                break
        # each part starts where the previous one ended: drop its first state and loss; keep the states of
        # an uninterrupted run (a part started off the grid of save_every saves off it)
        states = np.concatenate([parts[0][0]] + [p[0][1:] for p in parts[1:]])
        steps = np.concatenate([parts[0][1]] + [p[1][1:] for p in parts[1:]])
        losses = np.concatenate([parts[0][2]] + [p[2][1:] for p in parts[1:]])
        on_grid = (steps % save_every == 0) if save_every else (steps == 0)
        on_grid[-1] = True
        return states[on_grid], steps[on_grid], losses, {"steps_done": done, "converged": converged, "finite": True}

    # -- factorisation and the law -----------------------------------------------------------------
    def _problem(self, d, r, depth, eps, seed, init, target, inputs):
        """(target, inputs, dims, W(0)) of a factorisation run: the target defaults to the rank-r
        truncation of a d × d Gaussian matrix (drawn first, then the factors)."""
        rng = np.random.default_rng(_checks.nonnegative_int(seed, "seed"))
        _checks.check_size(depth * d * d, f"{depth} factors of size {d} x {d}")
        if target is None:
            if inputs is not None:
                raise ValueError("with inputs, give the outputs as target (d_y, n)")
            target = low_rank_truncation(rng.standard_normal((d, d)), r)
        if inputs is None:
            target = _checks.finite_array(target, "target", shape=(d, d))
            dims = (d,) * (depth + 1)
        else:
            inputs = _checks.finite_array(inputs, "inputs")
            if inputs.ndim != 2 or inputs.shape[0] != d:
                raise ValueError(f"inputs has shape {inputs.shape}, expected ({d}, n)")
            target = _checks.finite_array(target, "target")
            if target.ndim != 2 or target.shape[1] != inputs.shape[1]:
                raise ValueError(f"target has shape {target.shape}, expected (d_y, {inputs.shape[1]})")
            dims = (d,) * depth + (target.shape[0],)
        factors = initial_factors(dims, eps, init, rng)
        return target, inputs, dims, factors

    def factorization(self, d: int, r: int, depth: int, eps: float, lr: float, n_steps: int, *, seed: int = 0,
                      init: str = "orthogonal", target: ArrayLike | None = None, inputs: ArrayLike | None = None,
                      save_every: int = 1, momentum: float = 0.0, method: str = "gd",
                      reduction: str = "mean") -> FactorizationResult:
        r"""Deep matrix factorisation W_L ⋯ W_1 ≈ Φ (rank r) and the law of parsimony along the run.

        Trains L square d × d factors from W_l(0) = ε·O_l (``init="orthogonal"``; ``"gaussian"`` and
        ``"uniform"`` are rescaled to its Frobenius norm) on

        .. math::

            l = \frac{s}{2} \| W_{L:1} X - Y \|_F^2, \qquad W_{L:1} = W_L \cdots W_1

        (X = I unless ``inputs``), by gradient descent (optionally with momentum) or by RK4 on the
        gradient flow. For an orthogonal start, whitened data and d > 2r, with fixed U_l and
        V_l = U_{l−1},

        .. math::

            W_l(t) = U_l \operatorname{diag}\big(\tilde W_l(t), \rho(t) I\big) V_l^\top;

        on the complement

        .. math::

            \rho_{t+1} = \rho_t - \eta s \, \rho_t^{2L-1} \quad \text{(gd)},

            \rho(t) = \big(\varepsilon^{-(2L-2)} + (2L-2)\, s t\big)^{-1/(2L-2)} \quad \text{(rk4)},

        that is :func:`rho_flow` at time s t. See :class:`FactorizationResult` for the diagnostics.

        Parameters
        ----------
        d, r : int
            Width and target rank, d > 2r.
        depth : int
            L ≥ 2.
        eps : float
            Initial scale ε > 0.
        lr : float
            Learning rate η > 0 of the ``reduction`` loss (``"mean"``: the authors' convention, the
            mean over the d_y·n entries; ``"sum"``: the sum); the time step for rk4.
        n_steps : int
            Number of steps.
        seed : int
            Seeds the target (when not given) and the initialisation.
        init : {"orthogonal", "gaussian", "uniform"}
        target : array_like, optional
            Φ (d × d), or the outputs Y (d_y × n) with ``inputs``. Default: the rank-r truncation of
            a d × d standard Gaussian matrix.
        inputs : array_like, optional
            X (d × n), non-whitened data; the last factor is then d_y × d.
        save_every : int
            Save every k steps (the last step is always saved).
        momentum : float
            Heavy-ball momentum μ in [0, 1) (gd).
        method : {"gd", "rk4"}
        reduction : {"mean", "sum"}

        Returns
        -------
        FactorizationResult

        Raises
        ------
        ValueError
            d ≤ 2r, depth < 2, eps or lr ≤ 0, non-finite or wrongly shaped target or inputs, or a
            diverging run.

        Examples
        --------
        >>> from intrinsic_flow import parsimony
        >>> run = parsimony.factorization(12, 2, 3, 1.0, 0.01, 200, reduction="sum")
        >>> bool(run.middle_spread.max() < 1e-12), bool(abs(run.rho[-1] - run.rho_predicted[-1]) < 1e-12)
        (True, True)
        """
        d, r = _check_rank(d, r)
        depth, eps, lr, n_steps = _check_common(depth, eps, lr, n_steps)
        init = _choice(init, "init", INITS)
        method = _choice(method, "method", METHODS)
        reduction = _choice(reduction, "reduction", REDUCTIONS)
        momentum = _check_momentum(momentum)
        target, inputs, dims, factors0 = self._problem(d, r, depth, eps, seed, init, target, inputs)
        scale = 1.0 / target.size if reduction == "mean" else 1.0
        started = time.perf_counter()
        states, steps, losses, _ = self.train(factors0, target, lr, n_steps, inputs=inputs, reduction=reduction,
                                              momentum=momentum, save_every=save_every, method=method)
        seconds = time.perf_counter() - started
        loss_steps = np.arange(len(losses)) if method == "gd" else steps
        if method == "gd":
            rho_predicted = rho_recursion(eps, depth, lr * scale, int(steps[-1]), momentum)[steps]
        else:
            rho_predicted = rho_flow(scale * lr * steps, eps, depth)
        factors_by_step = [unpack(state, dims) for state in states]
        values, angles_left, angles_right = _spectra(factors_by_step, r, d)
        basis = invariant_basis(factors0[0], target_gradient(factors0, inputs, target), r)
        complement = np.eye(d) - basis @ basis.T
        # ε ‖W_1(t)P⊥‖_F / ‖W_1(0)P⊥‖_F: equals ρ(t) when the law holds, and picks out the middle block
        rho_hint = eps * np.array([np.linalg.norm(f[0] @ complement) for f in factors_by_step]) / max(
            np.linalg.norm(factors0[0] @ complement), 1e-300)
        rho, spread = _middle_block(values, d - 2 * r, rho_hint)
        residual = np.zeros(len(steps))
        b = complement
        for l in range(depth):
            if factors0[l].shape[0] != d:
                break  # a non-square last layer (non-whitened outputs) has no complement block
            w0b = factors0[l] @ b
            for k, factors in enumerate(factors_by_step):
                residual[k] = max(residual[k], np.linalg.norm(factors[l] @ b - (rho[k] / eps) * w0b))
            b = w0b / eps
        return FactorizationResult(
            dims=dims, r=r, eps=eps, lr=lr, method=method, scale=scale, states=states, steps=steps,
            times=steps * lr, loss=losses, loss_steps=loss_steps, target=target, singular_values=values,
            angles_left=angles_left, angles_right=angles_right, rho=rho, rho_predicted=rho_predicted,
            middle_spread=spread, complement_residual=residual, balance_defect=_balance_defects(factors_by_step),
            invariant_basis=basis, seconds=seconds)

    def compress(self, d: int, r: int, depth: int, eps: float, lr: float, n_steps: int, *, seed: int = 0,
                 complement: bool = True, init: str = "orthogonal", target: ArrayLike | None = None,
                 factors: Sequence[ArrayLike] | None = None, save_every: int = 1,
                 reduction: str = "mean") -> CompressionResult:
        r"""Train the original network and its compressed equivalent, and measure their gap.

        From W(0) and Φ, with V_{1,1} = :func:`invariant_basis`:

        .. math::

            U_{L,1} = W_{L:1}(0) \, V_{1,1} / \varepsilon^L, \qquad \tilde W_l(0) = \varepsilon I_{2r},

            \tilde W_{L:1}(t) = U_{L,1} \tilde W_L(t) \cdots \tilde W_1(t) \, V_{1,1}^\top.

        The compressed network is trained with the same η (only the W̃_l: L·4r² parameters instead
        of L·d²). With ``complement`` the exact complement term (ρ_t from the scalar recursion,
        P⊥ the projector on the complement of span V_{1,1}) is added back,

        .. math::

            W_{L:1}(t) = \tilde W_{L:1}(t) + (\rho_t / \varepsilon)^L \, W_{L:1}(0) \, P_\perp,

        and the two trajectories agree to rounding; without it they differ by that term, of size
        ρ_t^L √(d − 2r) for an orthogonal start.

        Parameters
        ----------
        d, r, depth, eps, lr, n_steps, seed, init, target, reduction
            As in :meth:`factorization`.
        complement : bool
            Add the complement term to the compressed end-to-end matrix.
        factors : sequence of array_like, optional
            W_1(0), …, W_L(0) (d × d, balanced as ε·orthogonal) instead of drawing them.
        save_every : int
            Compare every k steps (0: the first and last steps only).

        Returns
        -------
        CompressionResult

        Raises
        ------
        ValueError
            As :meth:`factorization`, and for factors of the wrong shape.

        Examples
        --------
        >>> from intrinsic_flow import parsimony
        >>> result = parsimony.compress(12, 2, 3, 1.0, 0.01, 100, reduction="sum")
        >>> bool(result.max_gap < 1e-10)
        True
        """
        d, r = _check_rank(d, r)
        depth, eps, lr, n_steps = _check_common(depth, eps, lr, n_steps)
        init = _choice(init, "init", INITS)
        reduction = _choice(reduction, "reduction", REDUCTIONS)
        complement = _checks.boolean(complement, "complement")
        target, _, dims, factors0 = self._problem(d, r, depth, eps, seed, init, target, None)
        if factors is not None:
            if not isinstance(factors, (list, tuple)) or len(factors) != depth:
                raise ValueError(f"factors must be a list of {depth} arrays of shape ({d}, {d})")
            factors0 = [_checks.finite_array(w, f"factors[{l}]", shape=(d, d)) for l, w in enumerate(factors)]
        scale = 1.0 / target.size if reduction == "mean" else 1.0
        right = invariant_basis(factors0[0], target_gradient(factors0, None, target), r)
        left = end_to_end(factors0) @ right / eps ** depth
        compressed0 = [right.T] + [eps * np.eye(2 * r) for _ in range(depth)] + [left]
        rates = [0.0] + [lr] * depth + [0.0]
        started, started_cpu = time.perf_counter(), time.process_time()
        states, steps, loss_original, _ = self.train(factors0, target, lr, n_steps, reduction=reduction,
                                                     save_every=save_every)
        middle, middle_cpu = time.perf_counter(), time.process_time()
        states_c, steps_c, loss_compressed, _ = self.train(compressed0, target, lr, n_steps, reduction=reduction,
                                                           learning_rates=rates, save_every=save_every)
        finished, finished_cpu = time.perf_counter(), time.process_time()
        comp_dims = (d,) + (2 * r,) * (depth + 1) + (d,)
        original = end_to_end(unpack(states, dims))
        compressed = end_to_end(unpack(states_c, comp_dims))
        plain_gaps = np.linalg.norm(original - compressed, axis=(1, 2))
        if complement:
            rho = rho_recursion(eps, depth, lr * scale, int(steps[-1]))[steps]
            term = end_to_end(factors0) @ (np.eye(d) - right @ right.T)
            compressed = compressed + ((rho / eps) ** depth)[:, None, None] * term
        gaps = np.linalg.norm(original - compressed, axis=(1, 2))
        return CompressionResult(
            complement=complement, steps=steps, gaps=gaps, max_gap=float(gaps.max()),
            gaps_without_complement=plain_gaps,
            seconds_original=middle - started, seconds_compressed=finished - middle, loss_original=loss_original,
            loss_compressed=loss_compressed, invariant_basis=right, left_basis=left,
            end_to_end_original=original[-1], end_to_end_compressed=compressed[-1],
            n_params_original=depth * d * d, n_params_compressed=depth * 4 * r * r,
            cpu_original=middle_cpu - started_cpu, cpu_compressed=finished_cpu - middle_cpu)

    # -- deep matrix completion ----------------------------------------------------------------------
    def matrix_completion(self, d: int, r: int, observed: float, depth: int, width: int, eps: float, lr: float,
                          max_steps: int, tol: float = 1e-10, seed: int = 0, *, compressed: bool = False,
                          gamma: float = 0.01, rank_estimate: int | None = None, reduction: str = "mean",
                          init: str = "orthogonal", curve_every: int = 0, target: ArrayLike | None = None,
                          mask: ArrayLike | None = None, check_every: int = 1) -> CompletionResult:
        r"""Deep matrix completion: recover a rank-r d × d matrix Φ from the entries in a mask Ω.

        By default (Φ, Ω) = :func:`completion_problem` (d, r, observed, seed): the authors' data, Φ the
        rank-r truncation of a d × d standard Gaussian matrix, Ω with exactly ⌊observed·d²⌋ entries.
        The network W_L ⋯ W_1 (W_1: width × d, W_l: width × width, W_L: d × width, W_l(0) = ε times a
        sliced orthogonal matrix) is trained by gradient descent on the masked loss

        .. math::

            l = \frac{s}{2} \big\| \Omega \odot (W_{L:1} - \Phi) \big\|_F^2

        until l ≤ tol (tested every ``check_every`` steps) or ``max_steps``. The recovery error is the
        same loss on the unobserved entries:

        .. math::

            \frac{s}{2} \big\| (1 - \Omega) \odot (W_{L:1} - \Phi) \big\|_F^2.

        ``compressed=True`` trains instead U W̃_L ⋯ W̃_1 Vᵀ built from that initialisation (needs
        width = d): with G₀ = ∇_{W_1}l(W(0)) and r̂ = ``rank_estimate``, V = V_{1,1} spans
        row(G₀,r̂) + W_1(0)ᵀcol(G₀,r̂) (:func:`invariant_basis`), U = W_{L:1}(0)V/ε^L, W̃_l(0) = εI_{2r̂};
        the W̃_l move at rate η, U and V at the discrepant rate γη (γ = 0 keeps them fixed: the law is
        not exact for completion, and the run plateaus).

        Parameters
        ----------
        d, r : int
            Size and rank, d > 2r.
        observed : float
            Fraction of observed entries in (0, 1].
        depth : int
            L ≥ 2.
        width : int
            Hidden width ≥ 1 (≥ 2r for a meaningful run).
        eps, lr : float
            Initial scale and learning rate (of the ``reduction`` loss; the authors use the mean).
        max_steps : int
            Maximal number of steps.
        tol : float
            Stop when the training loss is ≤ tol.
        seed : int
            Seeds (Φ, Ω) when they are not given and, apart, the initialisation.
        compressed : bool
        gamma : float
            γ ≥ 0, the rate factor of U and V in the compressed network.
        rank_estimate : int, optional
            r̂ for the compressed network (its factors are 2r̂ × 2r̂); default r.
        reduction : {"mean", "sum"}
        init : {"orthogonal", "gaussian", "uniform"}
        curve_every : int
            When > 0, also record the recovery error every k steps (``recovery_curve``).
        target, mask : array_like, optional
            Φ and Ω (d × d) instead of drawing them: the authors keep one (Φ, Ω) for all the runs of
            an experiment and draw only the initialisation.
        check_every : int
            Test l ≤ tol every k steps only (the authors: 100).

        Returns
        -------
        CompletionResult

        Raises
        ------
        ValueError
            d ≤ 2r, depth < 2, lr or eps ≤ 0, observed outside (0, 1] or leaving no observed entry,
            gamma < 0, 2r̂ > d, a compressed run of width ≠ d, or a diverging run.

        Examples
        --------
        >>> from intrinsic_flow import parsimony
        >>> run = parsimony.matrix_completion(10, 1, 0.6, 3, 10, 0.1, 0.05, 3000, seed=2, reduction="sum")
        >>> run.n_steps, bool(run.recovery_error < 1e-3 * run.loss[0])
        (3000, True)
        """
        d, r = _check_rank(d, r)
        depth, eps, lr, max_steps = _check_common(depth, eps, lr, max_steps, "max_steps")
        width = _checks.positive_int(width, "width")
        _check_observed(observed, d)
        tol = _checks.finite_real(tol, "tol")
        gamma = _checks.finite_real(gamma, "gamma")
        if gamma < 0:
            raise ValueError(f"gamma must be >= 0, got {gamma!r}")
        compressed = _checks.boolean(compressed, "compressed")
        reduction = _choice(reduction, "reduction", REDUCTIONS)
        init = _choice(init, "init", INITS)
        curve_every = _checks.nonnegative_int(curve_every, "curve_every")
        rank = r if rank_estimate is None else _checks.positive_int(rank_estimate, "rank_estimate")
        if compressed and (width != d or 2 * rank > d):
            raise ValueError(f"the compressed network is built from a start of width d = {d} and needs "
                             f"2 rank_estimate <= d, got width = {width}, rank_estimate = {rank}")
        seed = _checks.nonnegative_int(seed, "seed")
        _checks.check_size(depth * max(width, d) ** 2, f"{depth} factors of width {width} and size {d}")
        if target is None or mask is None:
            drawn_target, drawn_mask = completion_problem(d, r, observed, seed)
        target = drawn_target if target is None else _checks.finite_array(target, "target", shape=(d, d))
        mask = drawn_mask if mask is None else _mask(mask, (d, d))
        dims = (d,) + (width,) * (depth - 1) + (d,)
        # the initialisation has a stream of its own: the same seed gives the same start whatever the data
        factors0 = initial_factors(dims, eps, init, np.random.default_rng([seed, 1]))
        scale = 1.0 / target.size if reduction == "mean" else 1.0
        rates, right, left = None, None, None
        if compressed:
            g0 = first_layer_gradient(factors0, None, target, mask, scale)
            right = invariant_basis(factors0[0], g0, rank)
            left = end_to_end(factors0) @ right / eps ** depth
            factors0 = [right.T] + [eps * np.eye(2 * rank) for _ in range(depth)] + [left]
            rates = [gamma * lr] + [lr] * depth + [gamma * lr]
        started, started_cpu = time.perf_counter(), time.process_time()
        states, steps, losses, info = self.train(factors0, target, lr, max_steps, mask=mask, reduction=reduction,
                                                 learning_rates=rates, save_every=curve_every, tol=tol,
                                                 check_every=check_every)
        seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - started_cpu
        chain = [w.shape for w in factors0]
        run_dims = (chain[0][1],) + tuple(s[0] for s in chain)
        unobserved = 1.0 - mask
        # one saved state at a time: a stack of d × d products would hold n_saved d² numbers at once
        errors = np.array([0.5 * scale * np.sum((unobserved * (end_to_end(unpack(state, run_dims)) - target)) ** 2)
                           for state in states])
        product = end_to_end(unpack(states[-1], run_dims))
        return CompletionResult(
            recovery_error=float(errors[-1]), n_steps=int(info["steps_done"]), converged=bool(info["converged"]),
            loss=np.asarray(losses), end_to_end=product, target=target, mask=mask, seconds=seconds,
            compressed=compressed, gamma=gamma if compressed else 0.0,
            recovery_curve=errors if curve_every else None, curve_steps=steps if curve_every else None,
            invariant_basis=right, left_basis=left, cpu_seconds=cpu_seconds)

    # -- progressive separation ----------------------------------------------------------------------
    def progressive_separation(self, K: int, n: int, depth: int, eps: float, lr: float, activation: str = "linear",
                               *, width: int | None = None, max_steps: int = 20000, tol: float = 1e-6, seed: int = 0,
                               init: str = "orthogonal", reduction: str = "mean",
                               check_every: int = 1) -> SeparationResult:
        r"""Train the progressive-separation network and measure the separation at every layer:

        .. math::

            D_l = \frac{\operatorname{tr} \Sigma_W^l}{\operatorname{tr} \Sigma_B^l}

        (Σ_W within the classes, Σ_B between them, as in :func:`separation`).

        N = K·n inputs are the columns of a random N × N orthogonal matrix (so orthonormal), class k
        holding n of them, with one-hot targets (K × N). The network W_L ⋯ W_1 (width ``width``,
        default N; ReLU on the hidden layers for ``activation="relu"``) is trained by gradient descent
        until l ≤ tol (tested every ``check_every`` steps) or ``max_steps``. :func:`separation` then gives
        D_l of the features at layers 0, …, L−1, with the least-squares line of log D_l against l.
        Before training, D_0 is exact:

        .. math::

            D_0 = \frac{K (n - 1)}{K - 1}.

        Parameters
        ----------
        K, n : int
            Classes (≥ 2) and samples per class (≥ 2).
        depth : int
            L ≥ 2.
        eps, lr : float
            Initial scale and learning rate (of the ``reduction`` loss).
        activation : {"linear", "relu"}
        width : int, optional
        max_steps : int
        tol : float
        seed : int
        init : {"orthogonal", "gaussian", "uniform"}
        reduction : {"mean", "sum"}
        check_every : int
            Test l ≤ tol every k steps only (the authors: 100). The last layers keep separating fast
            just after l reaches tol, so D_{L−1} depends on this rule.

        Returns
        -------
        SeparationResult

        Raises
        ------
        ValueError
            On K or n < 2, depth < 2, eps or lr ≤ 0, or a diverging run.

        Examples
        --------
        >>> from intrinsic_flow import parsimony
        >>> run = parsimony.progressive_separation(3, 4, 3, 0.5, 1.0, max_steps=50)
        >>> round(float(run.D[0]), 12)  # K(n - 1)/(K - 1) = 4.5
        4.5
        """
        K = _checks.positive_int(K, "K", minimum=2)
        n = _checks.positive_int(n, "n", minimum=2)
        depth, eps, lr, max_steps = _check_common(depth, eps, lr, max_steps, "max_steps")
        activation = _choice(activation, "activation", ACTIVATIONS)
        init = _choice(init, "init", INITS)
        N = K * n
        width = N if width is None else _checks.positive_int(width, "width")
        rng = np.random.default_rng(_checks.nonnegative_int(seed, "seed"))
        _checks.check_size(depth * max(width, N) ** 2, f"{depth} factors of width {width}")
        inputs = orthogonal(N, N, rng).T.copy()  # column i = row i of an orthogonal matrix
        labels = np.repeat(np.arange(K), n)
        targets = np.eye(K)[:, labels]
        dims = (N,) + (width,) * (depth - 1) + (K,)
        factors0 = initial_factors(dims, eps, init, rng)
        states, steps, losses, info = self.train(factors0, targets, lr, max_steps, inputs=inputs, reduction=reduction,
                                                 save_every=0, tol=tol, activation=activation, check_every=check_every)
        factors = unpack(states[-1], dims)
        features, hidden = [inputs.T], inputs
        for w in factors[:-1]:
            hidden = w @ hidden
            if activation == "relu":
                hidden = np.maximum(hidden, 0.0)
            features.append(hidden.T)
        values = separation(features, labels)
        slope, intercept, r_squared = _loglinear_fit(values)
        return SeparationResult(D=values, slope=slope, intercept=intercept, r_squared=r_squared, loss=losses,
                                n_steps=int(info["steps_done"]), converged=bool(info["converged"]),
                                activation=activation)


def _mask(value, shape) -> np.ndarray:
    mask = _checks.finite_array(value, "mask", shape=shape)
    if not np.all((mask == 0) | (mask == 1)):
        raise ValueError("mask must hold 0/1 entries only")
    if not mask.any():
        raise ValueError("mask has no observed entry (all zeros): at least one entry must be observed")
    return mask
