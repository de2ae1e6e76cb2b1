"""Mean-field two-layer ReLU networks and their symmetries: the front end shared by both backends.

``SymmetriesBackend(kernels)`` holds the public logic once (validation, initialisations,
diagnostics, the reduced angle dynamics); the kernel set (C++ core or NumPy) runs the hot loops.
The closed forms (odd-target constants and ODE, alpha) need no kernel. See
``docs/theory/symmetries.md``.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from . import _checks
from .models import ReLUNet

METHODS = ("gd", "rk4", "sgd")
INPUTS = ("gaussian", "sphere")
TARGETS = ("cubic", "radial", "linear")
MAX_SEED = 2**64 - 1


# -- closed forms --------------------------------------------------------------------------------
def alpha(d_H: int) -> float:
    r"""The mass of tau+ at the limit of the radial target:

    .. math::

        \alpha(d_H) = \frac{2 \sqrt{\pi}\, \Gamma\big(\tfrac{d_H + 1}{2}\big)}{\Gamma\big(\tfrac{d_H}{2}\big)},

        \alpha(d_H) \approx \sqrt{2 \pi d_H} \Big(1 - \frac{1}{4 d_H} + \frac{1}{32 d_H^2} + \dots\Big).

    It is the constant with :math:`\alpha\, E_{u \sim U(S^{d_H-1})}[\mathrm{relu}(u \cdot z)] = \|z\|`,
    so a point mass :math:`\alpha \delta_0` of neurons aligned with H represents the radial target
    :math:`\|x_H\|`. Exact products of the recurrence alpha(d + 2) = alpha(d) (d + 1)/d up to
    d_H = 100, Stirling's series of log Gamma beyond (no cancellation of large log-gammas): relative
    error about 1e-15 for every d_H.

    Parameters
    ----------
    d_H : int
        Dimension of the target's subspace H, >= 1 (at most about 1e616, where alpha overflows).

    Returns
    -------
    float

    Raises
    ------
    ValueError
        When d_H is not an integer >= 1, or so large that alpha overflows a float.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> [round(symmetries.alpha(k), 6) for k in (1, 2, 3)]
    [2.0, 3.141593, 4.0]
    """
    d_H = _checks.positive_int(d_H, "d_H")
    if d_H <= ALPHA_RECURRENCE_MAX:
        value = 2.0 if d_H % 2 else math.pi
        for k in range(2 - d_H % 2, d_H - 1, 2):
            value *= (k + 1) / k
        return value
    # Gamma(x + 1/2) / Gamma(x) = sqrt(x) exp(E(x)), x = d_H / 2, from Stirling's series
    # log Gamma(z) = (z - 1/2) log z - z + log(2 pi)/2 + S(z):
    # E(x) = x log1p(u) - 1/2 + S(x + 1/2) - S(x), u = 1/(2x), with x log1p(u) - 1/2 summed as a series.
    if d_H < 2**1000:
        x = d_H / 2
        root = math.sqrt(x)
    else:  # sqrt of an integer beyond the float range, by scaling with a power of 4
        shift = (d_H.bit_length() - 200) // 2
        root = math.sqrt((d_H >> (2 * shift)) / 2)
        try:
            root = math.ldexp(root, shift)
        except OverflowError:
            raise ValueError(f"d_H = {d_H} is too large: alpha(d_H) ~ sqrt(2 pi d_H) overflows a float") from None
        return 2.0 * math.sqrt(math.pi) * root
    u = 1.0 / (2.0 * x)
    series = sum((-1) ** (k + 1) * u ** (k - 1) / (2 * k) for k in range(2, 14))

    def stirling(z: float) -> float:
        return 1 / (12 * z) - 1 / (360 * z**3) + 1 / (1260 * z**5) - 1 / (1680 * z**7)

    return 2.0 * math.sqrt(math.pi) * root * math.exp(series + stirling(x + 0.5) - stirling(x))


ALPHA_RECURRENCE_MAX = 100
"""alpha is the product of its recurrence up to this d_H, Stirling's series beyond."""


@dataclass(frozen=True)
class OddTargetConstants:
    """Constants of the odd cubic target f*(x) = C_d sum_k z*_k x_k^3 with x ~ N(0, I/d).

    ``v_rho = 1/d`` (E[x x^T] = v_rho I), ``w_star_norm = sqrt(6d/5)`` (the best linear predictor
    w* = E[f* x]/v_rho), ``V = 1 + 1/d`` (E[a0^2] + E[(b0 . e)^2] at the authors' initialisation),
    ``A = v_rho ||w*||``, ``B = v_rho V / 4``, ``kappa = sqrt(A^2 + B^2)`` (the asymptotic rate) and
    ``best_linear_loss = 1/2 (E f*^2 - ||E f* x||^2 / v_rho) = 0.4``; ``initial_loss = 1/2 E f*^2 = 1``.
    """

    d: int
    v_rho: float
    w_star_norm: float
    V: float
    A: float
    B: float
    kappa: float
    best_linear_loss: float
    initial_loss: float


ODD_TARGET_MAX_D = 10**300
"""The largest input dimension of the odd-target closed forms (6d/5 must stay a float)."""


def odd_target_constants(d: int) -> OddTargetConstants:
    """The constants of the odd-target dynamics for input dimension d (x ~ N(0, I/d)).

    Parameters
    ----------
    d : int
        Input dimension, >= 1.

    Returns
    -------
    OddTargetConstants
        Fields d, v_rho, w_star_norm, V, A, B, kappa, best_linear_loss, initial_loss.

    Raises
    ------
    ValueError
        When d is not an integer >= 1.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> c = symmetries.odd_target_constants(60)
    >>> round(c.w_star_norm, 5), round(c.best_linear_loss, 12)
    (8.48528, 0.4)
    """
    d = _checks.positive_int(d, "d")
    if d > ODD_TARGET_MAX_D:
        raise ValueError(f"d must be at most {ODD_TARGET_MAX_D:.0e} (the constants sqrt(6d/5), 1/d overflow a float "
                         f"beyond), got {d}")
    v_rho = 1.0 / d
    w_norm = math.sqrt(6.0 * d / 5.0)
    V = 1.0 + 1.0 / d
    A = v_rho * w_norm
    B = v_rho * V / 4.0
    return OddTargetConstants(d=d, v_rho=v_rho, w_star_norm=w_norm, V=V, A=A, B=B, kappa=math.hypot(A, B),
                              best_linear_loss=0.5 * (2.0 - v_rho * w_norm**2), initial_loss=1.0)


def _times(t, name: str = "t"):
    if isinstance(t, (bool, np.bool_, str, bytes)) or (isinstance(t, np.ndarray) and t.dtype == bool):
        raise ValueError(f"{name} must be a number or an array of numbers (times >= 0), got {t!r}")
    if not isinstance(t, np.ndarray) and np.ndim(t) > 0:
        flat = np.asarray(t, dtype=object).ravel()
        if any(isinstance(v, (bool, np.bool_, str, bytes)) for v in flat):
            raise ValueError(f"{name} must be a number or an array of numbers (times >= 0), got {t!r}")
    scalar = np.ndim(t) == 0
    array = _checks.finite_array(np.atleast_1d(t), name)
    if np.any(array < 0):
        raise ValueError(f"{name} must be >= 0, got {array[array < 0][0]}")
    return scalar, array


def odd_target_ode(t, d: int):
    r"""s(t) = ||w(t)|| for the infinite-width odd-target dynamics, w(t) = s(t) w*/||w*||.

    .. math::

        s(t) = \frac{V}{4} \sinh \Lambda(t),

        \Lambda' = A - B \sinh \Lambda, \qquad \Lambda(0) = 0,

    with the constants V, A, B of ``odd_target_constants``. It is solved in closed form:
    :math:`u = \tanh(\Lambda/2)` obeys the Riccati equation

    .. math::

        u' = \frac{A}{2} (1 - u^2) - B u,

    so that

    .. math::

        u_\pm = -\frac{B}{A} \pm \sqrt{\frac{B^2}{A^2} + 1}, \qquad \kappa = \sqrt{A^2 + B^2},

        Q(t) = \frac{u_+}{u_-} e^{-\kappa t},

        u(t) = \frac{u_+ - Q(t)\, u_-}{1 - Q(t)}.

    Time t is the mean-field time (steps x eta).

    Parameters
    ----------
    t : float or array_like
        Times >= 0.
    d : int
        Input dimension (constants of ``odd_target_constants``).

    Returns
    -------
    float or ndarray
        s(t), of the shape of t.

    Raises
    ------
    ValueError
        When t is negative or not finite, or d is not an integer >= 1.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> s = symmetries.odd_target_ode([0.0, 1e4], 60)
    >>> float(s[0]), round(float(s[1]), 6)
    (0.0, 8.485281)
    """
    c = odd_target_constants(d)
    scalar, t = _times(t)
    ratio = c.B / c.A
    u_plus = -ratio + math.sqrt(ratio**2 + 1.0)
    u_minus = -ratio - math.sqrt(ratio**2 + 1.0)
    Q = (u_plus / u_minus) * np.exp(-c.kappa * t)
    u = (u_plus - Q * u_minus) / (1.0 - Q)
    s = (c.V / 4.0) * np.sinh(2.0 * np.arctanh(u))
    return float(s[0]) if scalar else s


def odd_target_bound(t, d: int):
    r"""The bound on the distance of w(t) to w* along the odd-target dynamics:

    .. math::

        \|w(t) - w^*\| \le \|w^*\| \exp\!\Big(-\frac{v_\rho V t}{4}\Big).

    Parameters
    ----------
    t : float or array_like
        Times >= 0.
    d : int
        Input dimension.

    Returns
    -------
    float or ndarray
        The bound, of the shape of t.

    Raises
    ------
    ValueError
        As ``odd_target_ode``.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> symmetries.odd_target_bound(0.0, 60) == symmetries.odd_target_constants(60).w_star_norm
    True
    """
    c = odd_target_constants(d)
    scalar, t = _times(t)
    bound = c.w_star_norm * np.exp(-c.v_rho * c.V * t / 4.0)
    return float(bound[0]) if scalar else bound


def odd_target_loss(t, d: int):
    r"""The population loss along the odd-target ODE:

    .. math::

        \mathcal{L}(t) = \mathcal{L}_{\mathrm{lin}} + \frac{v_\rho}{2} \big(\|w^*\| - s(t)\big)^2,

    with :math:`\mathcal{L}_{\mathrm{lin}}` = ``best_linear_loss`` and s(t) = ``odd_target_ode(t, d)``.

    Parameters
    ----------
    t : float or array_like
        Times >= 0.
    d : int
        Input dimension.

    Returns
    -------
    float or ndarray

    Raises
    ------
    ValueError
        As ``odd_target_ode``.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> round(symmetries.odd_target_loss(0.0, 60), 12)
    1.0
    """
    c = odd_target_constants(d)
    s = odd_target_ode(t, d)
    return c.best_linear_loss + 0.5 * c.v_rho * (c.w_star_norm - s) ** 2


def odd_cubic_coef(d: int, rng=None) -> np.ndarray:
    r"""Coefficients c of the odd target of the odd-target experiments:

    .. math::

        f^*(x) = \sum_k c_k x_k^3,

        c = C_d z^*, \qquad z^* \sim \mathcal{N}(0, I/d), \qquad C_d = \frac{\sqrt{2 d^3 / 15}}{\|z^*\|},

    so that :math:`\tfrac12 E f^{*2} = 1` for x ~ N(0, I/d); the best linear predictor is
    :math:`w^* = 3 c / d`, of norm :math:`\sqrt{6d/5}`.

    Parameters
    ----------
    d : int
        Input dimension, >= 1.
    rng : numpy Generator, int or None

    Returns
    -------
    ndarray, shape (d,)

    Raises
    ------
    ValueError
        When d is not an integer >= 1 or rng is not a Generator, seed or None.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import symmetries
    >>> c = symmetries.odd_cubic_coef(60, 0)
    >>> round(float(np.linalg.norm(3 * c / 60)), 5)
    8.48528
    """
    d = _checks.positive_int(d, "d")
    _checks.check_size(2 * d, f"the coefficients (d = {d})")
    rng = _checks.resolve_rng(rng)
    z = rng.standard_normal(d) / math.sqrt(d)
    return math.sqrt(2.0 * d**3 / 15.0) / np.linalg.norm(z) * z


# -- the model of the library and the particle layout --------------------------------------------
def mean_field_model(d: int, m: int) -> ReLUNet:
    r"""The mean-field network as a model of the library: ReLUNet([d, m, 1]).

    .. math::

        f(x) = \frac{1}{m} \sum_{j=1}^m a_j \, \mathrm{relu}(b_j \cdot x).

    The library's ReLUNet computes sum_j a_j relu(b_j . x); the mean-field factor 1/m is applied by
    the particle trainer (``train``), not by the model: its path-lifting, its laws a_j^2 - ||b_j||^2
    and its geometry are those of this ReLUNet. Parameters map with ``to_theta`` / ``from_theta``
    (theta = [B.ravel(), a], B of shape (m, d)).

    Parameters
    ----------
    d, m : int
        Input dimension and number of neurons, >= 1.

    Returns
    -------
    ReLUNet

    Raises
    ------
    ValueError
        When d or m is not an integer >= 1.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> net = symmetries.mean_field_model(3, 4)
    >>> net.widths, net.n_params, net.n_known_laws
    ((3, 4, 1), 16, 4)
    """
    return ReLUNet([_checks.positive_int(d, "d"), _checks.positive_int(m, "m"), 1], bias=False)


def to_theta(a, B) -> np.ndarray:
    """theta of ``mean_field_model(d, m)`` for the particles (a, B): [B.ravel(), a].

    Parameters
    ----------
    a : array_like, shape (m,)
    B : array_like, shape (m, d)

    Returns
    -------
    ndarray, shape (m d + m,)

    Raises
    ------
    ValueError
        On mismatched shapes or non-finite values.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> symmetries.to_theta([1.0, -1.0], [[1.0, 2.0], [3.0, 4.0]]).tolist()
    [1.0, 2.0, 3.0, 4.0, 1.0, -1.0]
    """
    a, B = _particles(a, B)
    return np.concatenate([B.ravel(), a])


def from_theta(theta, d: int) -> tuple:
    """The particles (a, B) of a theta of ``mean_field_model(d, m)`` (inverse of ``to_theta``).

    Parameters
    ----------
    theta : array_like, shape (m d + m,)
    d : int

    Returns
    -------
    a : ndarray, shape (m,)
    B : ndarray, shape (m, d)

    Raises
    ------
    ValueError
        When the length of theta is not a multiple of d + 1.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> a, B = symmetries.from_theta([1.0, 2.0, 3.0, 4.0, 1.0, -1.0], 2)
    >>> a.tolist(), B.tolist()
    ([1.0, -1.0], [[1.0, 2.0], [3.0, 4.0]])
    """
    d = _checks.positive_int(d, "d")
    theta = _checks.finite_array(theta, "theta")
    if theta.ndim != 1 or theta.size % (d + 1) != 0 or theta.size == 0:
        raise ValueError(f"theta must be a vector of length m (d + 1) = m * {d + 1}, got shape {theta.shape}")
    m = theta.size // (d + 1)
    return theta[m * d:].copy(), theta[:m * d].reshape(m, d).copy()


def _particles(a, B) -> tuple:
    a = _checks.finite_array(a, "a")
    B = _checks.finite_array(B, "B")
    if a.ndim != 1 or a.size == 0:
        raise ValueError(f"a must be a non-empty vector of output weights, got shape {a.shape}")
    if B.ndim != 2 or B.shape[0] != a.size or B.shape[1] == 0:
        raise ValueError(f"B must have shape (m, d) = ({a.size}, d), got {B.shape}")
    return a, B


def init_particles(m: int, d: int, rng=None, paired: bool = False) -> tuple:
    """The authors' initialisation: b_j uniform on the sphere S^{d-1}, a_j uniform on {-1, +1}.

    With ``paired=True`` (m even), neuron 2j+1 is the negative of neuron 2j, for a and b: the
    initial measure is exactly invariant under (a, b) -> (-a, -b).

    Parameters
    ----------
    m, d : int
        Number of neurons and input dimension.
    rng : numpy Generator, int or None
    paired : bool, default False

    Returns
    -------
    a : ndarray, shape (m,)
    B : ndarray, shape (m, d)

    Raises
    ------
    ValueError
        When m or d is not a positive integer, or m is odd with paired=True.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import symmetries
    >>> a, B = symmetries.init_particles(4, 3, 0, paired=True)
    >>> bool(np.all(a[1::2] == -a[::2])), np.allclose(np.linalg.norm(B, axis=1), 1.0)
    (True, True)
    """
    m = _checks.positive_int(m, "m")
    d = _checks.positive_int(d, "d")
    paired = _checks.boolean(paired, "paired")
    if paired and m % 2:
        raise ValueError(f"m must be even for a paired initialisation, got m = {m}")
    _checks.check_size(m * (d + 1), f"the particles (m = {m}, d = {d})")
    rng = _checks.resolve_rng(rng)
    n = m // 2 if paired else m
    G = rng.standard_normal((n, d))
    B = G / np.linalg.norm(G, axis=1, keepdims=True)
    a = rng.choice(np.array([-1.0, 1.0]), size=n)
    if paired:
        a = np.stack([a, -a], axis=1).ravel()
        B = np.stack([B, -B], axis=1).reshape(m, d)
    return a, np.ascontiguousarray(B)


def symmetrize(X, y) -> tuple:
    """The symmetrised sample: each x_i together with -x_i labelled -y_i.

    Parameters
    ----------
    X : array_like, shape (N, d)
    y : array_like, shape (N,)

    Returns
    -------
    X2 : ndarray, shape (2N, d)
        [X; -X].
    y2 : ndarray, shape (2N,)
        [y; -y].

    Raises
    ------
    ValueError
        On mismatched shapes or non-finite values.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> X2, y2 = symmetries.symmetrize([[1.0, 2.0]], [3.0])
    >>> X2.tolist(), y2.tolist()
    ([[1.0, 2.0], [-1.0, -2.0]], [3.0, -3.0])
    """
    X, y = _sample(X, y)
    return np.concatenate([X, -X]), np.concatenate([y, -y])


def _sample(X, y, d: int | None = None) -> tuple:
    X = _checks.finite_array(X, "X")
    y = _checks.finite_array(y, "y")
    if X.ndim != 2 or X.shape[0] == 0:
        raise ValueError(f"X must have shape (N, d) with N >= 1, got {X.shape}")
    if d is not None and X.shape[1] != d:
        raise ValueError(f"X must have shape (N, d) = (N, {d}), got {X.shape}")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y must have shape (N,) = ({X.shape[0]},), got {y.shape}")
    return X, y


def _subspace(H, d: int) -> np.ndarray | None:
    """An orthonormal basis (k, d) of H: H given as an int d_H (the first d_H coordinates) or a
    (k, d) matrix whose rows span H."""
    if H is None:
        return None
    if _checks.is_integer(H):
        if not 1 <= H <= d:
            raise ValueError(f"H as an integer d_H must satisfy 1 <= d_H <= d = {d}, got {H}")
        return np.eye(d)[:H]
    basis = _checks.finite_array(H, "H")
    if basis.ndim != 2 or basis.shape[1] != d or basis.shape[0] == 0:
        raise ValueError(f"H must be an integer d_H or a matrix of shape (k, d) = (k, {d}), got {basis.shape}")
    q, r = np.linalg.qr(basis.T)
    if np.min(np.abs(np.diag(r))) < 1e-12 * max(1.0, float(np.max(np.abs(r)))):
        raise ValueError("H: the rows of H are linearly dependent")
    return q.T


# -- diagnostics (NumPy, shared) ------------------------------------------------------------------
def pair_symmetry_error(a, B) -> float:
    """max over pairs of |a_{2j} + a_{2j+1}| and |b_{2j} + b_{2j+1}|: 0 for a paired system.

    Parameters
    ----------
    a : array_like, shape (m,), m even
    B : array_like, shape (m, d)

    Returns
    -------
    float

    Raises
    ------
    ValueError
        On bad shapes or odd m.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> symmetries.pair_symmetry_error([1.0, -1.0], [[0.5, 1.0], [-0.5, -1.0]])
    0.0
    """
    a, B = _particles(a, B)
    if a.size % 2:
        raise ValueError(f"pair_symmetry_error needs an even number of neurons, got m = {a.size}")
    return float(max(np.max(np.abs(a[::2] + a[1::2])), np.max(np.abs(B[::2] + B[1::2]))))


def linear_surrogate(a, B) -> np.ndarray:
    r"""The linear predictor the network equals when it is odd:

    .. math::

        w = \frac{1}{2m} \sum_{j=1}^m a_j b_j.

    Parameters
    ----------
    a : array_like, shape (m,)
    B : array_like, shape (m, d)

    Returns
    -------
    ndarray, shape (d,)

    Raises
    ------
    ValueError
        On bad shapes.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> symmetries.linear_surrogate([1.0, -1.0], [[2.0, 0.0], [-2.0, 0.0]]).tolist()
    [1.0, 0.0]
    """
    a, B = _particles(a, B)
    return (a @ B) / (2.0 * a.size)


def angles_to_subspace(B, H) -> np.ndarray:
    r"""The angle of each neuron to H:

    .. math::

        \theta_j = \operatorname{atan2}\big(\|P_{H^\perp} b_j\|, \|P_H b_j\|\big) \in [0, \pi/2].

    Parameters
    ----------
    B : array_like, shape (m, d)
    H : int or array_like, shape (k, d)
        d_H (H = the first d_H coordinates) or rows spanning H.

    Returns
    -------
    ndarray, shape (m,)

    Raises
    ------
    ValueError
        On bad shapes or a degenerate H.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> symmetries.angles_to_subspace([[1.0, 0.0], [1.0, 1.0]], 1).round(6).tolist()
    [0.0, 0.785398]
    """
    B = _checks.finite_array(B, "B")
    if B.ndim != 2:
        raise ValueError(f"B must have shape (m, d), got {B.shape}")
    if H is None:
        raise ValueError("H must be an integer d_H or a matrix of shape (k, d), got None")
    basis = _subspace(H, B.shape[1])
    inside = B @ basis.T
    outside = B - inside @ basis
    return np.arctan2(np.linalg.norm(outside, axis=1), np.linalg.norm(inside, axis=1))


def _tau_masses(c, m: int) -> tuple:
    return float(np.sum(c[c > 0]) / m), float(-np.sum(c[c < 0]) / m)


def tau_histogram(angles, masses, bins: int = 20) -> tuple:
    """Histograms of tau+ and tau- on [0, pi/2]: weights |c_j|/m of the neurons with c_j > 0 and < 0.

    Parameters
    ----------
    angles : array_like, shape (m,)
        Angles to H (folded into [0, pi/2] by theta -> arccos |cos theta|).
    masses : array_like, shape (m,)
        Signed masses c_j.
    bins : int, default 20

    Returns
    -------
    edges : ndarray, shape (bins + 1,)
    plus, minus : ndarray, shape (bins,)

    Raises
    ------
    ValueError
        On mismatched shapes or bins < 1.

    Examples
    --------
    >>> from intrinsic_flow import symmetries
    >>> edges, plus, minus = symmetries.tau_histogram([0.1, 1.5], [2.0, -1.0], bins=2)
    >>> plus.tolist(), minus.tolist()
    ([1.0, 0.0], [0.0, 0.5])
    """
    angles = _checks.finite_array(angles, "angles")
    c = _checks.finite_array(masses, "masses")
    bins = _checks.positive_int(bins, "bins")
    if angles.ndim != 1 or c.shape != angles.shape:
        raise ValueError(f"angles and masses must be vectors of the same length, got {angles.shape} and {c.shape}")
    _checks.check_size(3 * bins + 4 * c.size, f"the histograms (bins = {bins}, m = {c.size})")
    folded = np.arccos(np.clip(np.abs(np.cos(angles)), 0.0, 1.0))
    edges = np.linspace(0.0, np.pi / 2, bins + 1)
    m = c.size
    plus, _ = np.histogram(folded[c > 0], bins=edges, weights=c[c > 0] / m)
    minus, _ = np.histogram(folded[c < 0], bins=edges, weights=-c[c < 0] / m)
    return edges, plus, minus


def _saved_index(index, n_saved: int) -> int:
    if not _checks.is_integer(index) or not -n_saved <= index < n_saved:
        raise ValueError(f"index must be an integer in [-{n_saved}, {n_saved - 1}] (a saved step), got {index!r}")
    return int(index)


@dataclass
class ParticleTrajectory:
    """A particle run of ``train``, with its diagnostics at each saved step.

    Attributes
    ----------
    steps : ndarray, shape (S,)
        Saved steps; ``times = steps * lr`` is the mean-field time.
    a : ndarray, shape (S, m)
    B : ndarray, shape (S, m, d)
    loss : ndarray, shape (S,)
        1/2 mean (f - y)^2 on the training sample (GD, RK4) or on the batch of that step (SGD).
    eval_loss : ndarray, shape (S,) or None
        The same on the evaluation sample (X_eval, y_eval) when given.
    w : ndarray, shape (S, d)
        The linear surrogate (1/2m) sum_j a_j b_j.
    linearity_error : ndarray, shape (S,) or None
        max_i |f(x_i) - w . x_i| on the training sample (GD, RK4) or on X_eval (SGD).
    pair_error : ndarray, shape (S,) or None
        ``pair_symmetry_error`` (m even only).
    balance : ndarray, shape (S, m)
        a_j^2 - ||b_j||^2 (conserved by the flow).
    mass : ndarray, shape (S, m)
        c_j = a_j ||b_j||.
    angle : ndarray, shape (S, m) or None
        Angle of each neuron to H (when H is given).
    tau_plus, tau_minus : ndarray, shape (S,)
        (1/m) sum of |c_j| over c_j > 0 and over c_j < 0.
    """

    steps: np.ndarray
    times: np.ndarray
    a: np.ndarray
    B: np.ndarray
    loss: np.ndarray
    eval_loss: np.ndarray | None
    w: np.ndarray
    linearity_error: np.ndarray | None
    pair_error: np.ndarray | None
    balance: np.ndarray
    mass: np.ndarray
    angle: np.ndarray | None
    tau_plus: np.ndarray
    tau_minus: np.ndarray
    info: dict = field(default_factory=dict)

    def histogram(self, index: int = -1, bins: int = 20) -> tuple:
        """``tau_histogram`` of saved step ``index`` (needs H)."""
        if self.angle is None:
            raise ValueError("histogram needs the angles to H: pass H to train")
        index = _saved_index(index, len(self.steps))
        return tau_histogram(self.angle[index], self.mass[index], bins)


@dataclass
class ReducedTrajectory:
    """A run of the reduced angle dynamics (``reduced_train``).

    Attributes
    ----------
    steps : ndarray, shape (S,)
    c, theta : ndarray, shape (S, m)
        Signed masses and angles of the particles.
    loss : ndarray, shape (S,)
        Monte Carlo estimate of the loss 1/2 E R(phi)^2 at that step: the mean of products of two
        independent estimates of R(phi_i) (one with (r', s'), one with (r, s)), unbiased but noisy
        (it can dip below 0 near the optimum).
    tau_plus, tau_minus : ndarray, shape (S,)
        Masses (1/m) sum |c_j| over eps_j > 0 and eps_j < 0.
    w2_plus : ndarray, shape (S,)
        W2(tau+ / |tau+|, delta_0).
    w2_minus : ndarray, shape (S,)
        W2(tau- / |tau-|, delta_{pi/2}).
    alpha : float
        alpha(d_H), the limit mass of tau+.
    """

    steps: np.ndarray
    c: np.ndarray
    theta: np.ndarray
    loss: np.ndarray
    tau_plus: np.ndarray
    tau_minus: np.ndarray
    w2_plus: np.ndarray
    w2_minus: np.ndarray
    alpha: float

    def histogram(self, index: int = -1, bins: int = 20) -> tuple:
        """``tau_histogram`` of saved step ``index``."""
        return tau_histogram(self.theta[_saved_index(index, len(self.steps))], self.c[_saved_index(index, len(self.steps))], bins)

    def first_step_above_alpha(self) -> int | None:
        """t*: the first saved step at which the tau+ mass exceeds alpha (None if never)."""
        above = np.nonzero(self.tau_plus > self.alpha)[0]
        return int(self.steps[above[0]]) if above.size else None


def _save_steps(n_steps: int, save_every, save_steps, check=None) -> list:
    """The saved steps; ``check(count)`` runs on their number before the list is built."""
    if save_steps is not None:
        steps = _checks.as_array(save_steps, "save_steps")
        if steps.ndim != 1 or steps.size == 0 or not all(_checks.is_integer(s) for s in steps.tolist()):
            raise ValueError(f"save_steps must be a non-empty sequence of integers, got {save_steps!r}")
        steps = [int(s) for s in steps.tolist()]
        if any(s < 0 or s > n_steps for s in steps) or any(b <= a for a, b in zip(steps, steps[1:])):
            raise ValueError(f"save_steps must be strictly increasing integers in [0, n_steps = {n_steps}], "
                             f"got {steps}")
        if check is not None:
            check(len(steps))
        return steps
    every = _checks.positive_int(save_every, "save_every")
    if check is not None:
        check(n_steps // every + 1 + (n_steps % every != 0))
    _checks.check_size(n_steps // every + 2, f"the list of saved steps (n_steps = {n_steps}, save_every = {every})",
                       itemsize=_checks.PYTHON_LIST_ENTRY_BYTES)
    steps = list(range(0, n_steps + 1, every))
    if steps[-1] != n_steps:
        steps.append(n_steps)
    return steps


def _choice(value, name: str, options: Sequence[str]) -> str:
    if not isinstance(value, str) or value not in options:
        raise ValueError(f"{name} must be one of {list(options)}, got {value!r}")
    return value


MAX_WORK = 1e15
"""The most floating-point operations one training call may be asked for (about a day on 2 cores):
(n_steps + 1) x samples per step x m x d (x 4 for RK4); a larger request is refused as a likely typo."""


def _check_work(work: float, what: str) -> None:
    if work > MAX_WORK:
        raise ValueError(f"{what} would take about {work:.1e} operations, more than "
                         f"intrinsic_flow._symmetries.MAX_WORK = {MAX_WORK:.0e}; use fewer steps or samples, "
                         "or raise the knob")


INT_MAX = 2**31 - 1  # dimensions passed to the core as C int
LONG_MAX = 2**63 - 1  # counts passed to the core as C long
INDEX_END = 2**64  # sample indices of the seeded generator are 64-bit words


def _bounded(value: int, name: str, maximum: int) -> int:
    if value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def _check_finite_run(steps, lr: float, arrays, what: str) -> None:
    """Raise, as every trainer of the library does, when a run has left the floats."""
    bad = np.zeros(len(steps), dtype=bool)
    for array in arrays:
        bad |= ~np.isfinite(array.reshape(len(steps), -1)).all(axis=1)
    if bad.any():
        step = int(np.asarray(steps)[np.argmax(bad)])
        raise ValueError(f"training diverged (non-finite loss or weights) at step {step} (the first saved step "
                         f"where it shows): lower lr (got lr = {lr}){what}")


def _seed(seed) -> int:
    if not _checks.is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise ValueError(f"seed must be an integer in [0, 2**64 - 1], got {seed!r}")
    return int(seed)


def _reduced_masses(c, theta, eps) -> tuple:
    m = c.shape[1]
    plus, minus = eps > 0, eps < 0
    folded = np.arccos(np.clip(np.abs(np.cos(theta)), 0.0, 1.0))
    wp = np.abs(c) * plus
    wm = np.abs(c) * minus
    tau_plus = wp.sum(axis=1) / m
    tau_minus = wm.sum(axis=1) / m
    with np.errstate(invalid="ignore", divide="ignore"):
        w2p = np.sqrt((wp * folded**2).sum(axis=1) / wp.sum(axis=1))
        w2m = np.sqrt((wm * (np.pi / 2 - folded) ** 2).sum(axis=1) / wm.sum(axis=1))
    return tau_plus, tau_minus, w2p, w2m


class SymmetriesBackend:
    """The public functions that run kernels, bound to one kernel set (core or NumPy)."""

    def __init__(self, kernels: Any) -> None:
        self._k = kernels

    def predict(self, a, B, X) -> np.ndarray:
        r"""The network's outputs at the rows x_i of X:

        .. math::

            f(x_i) = \frac{1}{m} \sum_{j=1}^m a_j \, \mathrm{relu}(b_j \cdot x_i).

        Parameters
        ----------
        a : array_like, shape (m,)
        B : array_like, shape (m, d)
        X : array_like, shape (N, d)

        Returns
        -------
        ndarray, shape (N,)

        Raises
        ------
        ValueError
            On mismatched shapes or non-finite values.

        Examples
        --------
        >>> from intrinsic_flow import symmetries
        >>> symmetries.predict([2.0, 2.0], [[1.0, 0.0], [-1.0, 0.0]], [[3.0, 1.0], [-1.0, 0.0]]).tolist()
        [3.0, 1.0]
        """
        a, B = _particles(a, B)
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != B.shape[1]:
            raise ValueError(f"X must have shape (N, d) = (N, {B.shape[1]}), got {X.shape}")
        _checks.check_size(self._k.predict_items(a.size, B.shape[1], X.shape[0]), "the prediction buffers")
        return np.asarray(self._k.predict(a, B, X))

    def draw_inputs(self, n: int, d: int, seed: int = 0, inputs: str = "gaussian", scale: float = 1.0,
                    start: int = 0) -> np.ndarray:
        """Inputs of the seeded generator used by online SGD (samples start .. start + n - 1).

        Sample i is drawn from its own stream (splitmix64 of the seed and i; Box-Muller normals), so
        it does not depend on the block it is drawn in nor on the thread count. SGD step t uses
        samples t * batch .. t * batch + batch - 1.

        Parameters
        ----------
        n, d : int
            Number of samples and dimension.
        seed : int, default 0
            In [0, 2**64 - 1].
        inputs : {"gaussian", "sphere"}
            N(0, scale^2 I_d), or uniform on the sphere of radius scale.
        scale : float, default 1
        start : int, default 0
            Index of the first sample.

        Returns
        -------
        ndarray, shape (n, d)

        Raises
        ------
        ValueError
            On a bad argument or a request beyond config.max_bytes.

        Examples
        --------
        >>> import numpy as np
        >>> from intrinsic_flow import symmetries
        >>> X = symmetries.draw_inputs(5, 3, seed=1, inputs="sphere")
        >>> np.allclose(np.linalg.norm(X, axis=1), 1.0), bool(np.all(X[2:] == symmetries.draw_inputs(3, 3, 1, "sphere", start=2)))
        (True, True)
        """
        n = _checks.positive_int(n, "n")
        d = _checks.positive_int(d, "d")
        kind = INPUTS.index(_choice(inputs, "inputs", INPUTS))
        scale = _checks.positive_real(scale, "scale")
        seed = _seed(seed)
        start = _checks.nonnegative_int(start, "start")
        _checks.check_size(n * (d + 1), f"the inputs (n = {n}, d = {d})")
        if start + n > INDEX_END:
            raise ValueError(f"start + n must be at most 2**64 (the sample indices are 64-bit), got start = {start}, "
                             f"n = {n}")
        return np.asarray(self._k.draw_inputs(kind, scale, d, seed, start, n))

    def target_values(self, X, target: str = "cubic", coef=None, d_H: int | None = None) -> np.ndarray:
        """Values of the online-SGD target families at the rows of X.

        ``"cubic"``: sum_k coef_k x_k^3 (odd); ``"radial"``: ||x_{:d_H}|| (H = first d_H
        coordinates); ``"linear"``: coef . x.

        Parameters
        ----------
        X : array_like, shape (N, d)
        target : {"cubic", "radial", "linear"}
        coef : array_like, shape (d,), for "cubic" and "linear"
        d_H : int, for "radial"

        Returns
        -------
        ndarray, shape (N,)

        Raises
        ------
        ValueError
            On a bad argument.

        Examples
        --------
        >>> from intrinsic_flow import symmetries
        >>> symmetries.target_values([[3.0, 4.0, 1.0]], "radial", d_H=2).tolist()
        [5.0]
        """
        X = _checks.finite_array(X, "X")
        if X.ndim != 2:
            raise ValueError(f"X must have shape (N, d), got {X.shape}")
        kind, coef, d_H = _target(target, coef, d_H, X.shape[1])
        return np.asarray(self._k.target(kind, coef, d_H, X))

    def train(self, a0, B0, *, lr: float, n_steps: int, method: str = "gd", X=None, y=None,
              inputs: str = "gaussian", input_scale: float = 1.0, target: str = "cubic", coef=None,
              d_H: int | None = None, batch: int | None = None, seed: int = 0, symmetric_batch: bool = False,
              save_every: int | None = None, save_steps=None, H=None, X_eval=None,
              y_eval=None) -> ParticleTrajectory:
        r"""Train the particles (a_j, b_j) of the mean-field network on the square loss:

        .. math::

            f(x) = \frac{1}{m} \sum_{j=1}^m a_j \, \mathrm{relu}(b_j \cdot x),

            \mathcal{L} = \tfrac12 \operatorname{mean}_i \big(f(x_i) - y_i\big)^2.

        Mean-field scaling: ``lr`` is eta of "learning rate m * eta" (the 1/m of the model cancels
        the m), so one step of gradient descent is, with the residual R = f(x) - y,

        .. math::

            a_j \leftarrow a_j - \eta \, E\big[R \, \mathrm{relu}(b_j \cdot x)\big],

            b_j \leftarrow b_j - \eta \, E\big[R \, a_j \, \mathbf{1}\{b_j \cdot x > 0\} \, x\big];

        the mean-field time after k steps is k * eta.

        Methods: ``"gd"`` gradient descent and ``"rk4"`` (classical Runge-Kutta, time step lr) on
        the fixed sample (X, y) (e.g. ``symmetrize``-d), ``"sgd"`` online SGD with a fresh batch
        of ``batch`` inputs per step drawn from the seeded generator (``draw_inputs``) and labelled
        by ``target``.

        Parameters
        ----------
        a0 : array_like, shape (m,)
        B0 : array_like, shape (m, d)
        lr : float
            eta > 0.
        n_steps : int
            >= 0.
        method : {"gd", "rk4", "sgd"}
        X, y : array_like, shapes (N, d) and (N,)
            The fixed sample (gd, rk4).
        inputs, input_scale, target, coef, d_H, batch, seed
            The online data (sgd): inputs "gaussian" (N(0, input_scale^2 I)) or "sphere";
            target as in ``target_values``; batch >= 1; seed in [0, 2**64 - 1].
        symmetric_batch : bool, default False
            SGD only: each batch is batch/2 fresh inputs and their negatives (batch even), the online
            form of a symmetrised sample (with an odd target and paired particles the network stays
            exactly linear).
        save_every : int, optional
            Save every k steps (and the last); default about 100 saves.
        save_steps : sequence of int, optional
            Explicit saved steps (strictly increasing, in [0, n_steps]).
        H : int or array_like (k, d), optional
            Subspace for the angles and the tau histograms.
        X_eval, y_eval : array_like, optional
            Evaluation sample for ``eval_loss`` (and the linearity error of SGD runs).

        Returns
        -------
        ParticleTrajectory

        Raises
        ------
        ValueError
            On a bad argument, or buffers beyond config.max_bytes (named, before allocating).

        Examples
        --------
        >>> import numpy as np
        >>> from intrinsic_flow import symmetries
        >>> a, B = symmetries.init_particles(40, 3, 0, paired=True)
        >>> X, y = symmetries.symmetrize(np.random.default_rng(1).standard_normal((50, 3)), np.ones(50))
        >>> run = symmetries.train(a, B, X=X, y=y, lr=0.05, n_steps=100, save_every=50)
        >>> run.steps.tolist(), bool(run.pair_error.max() < 1e-12), bool(run.linearity_error.max() < 1e-12)
        ([0, 50, 100], True, True)
        """
        a0, B0 = _particles(a0, B0)
        m, d = B0.shape
        method = _choice(method, "method", METHODS)
        lr = _checks.positive_real(lr, "lr")
        n_steps = _bounded(_checks.nonnegative_int(n_steps, "n_steps"), "n_steps", LONG_MAX - 1)
        if save_every is None and save_steps is None:
            save_every = max(1, n_steps // 100)
        basis = _subspace(H, d)
        online = method == "sgd"
        empty = np.zeros((0, d))
        if online:
            if X is not None or y is not None:
                raise ValueError("X and y are for method 'gd' or 'rk4'; online SGD draws its inputs (use X_eval)")
            if batch is None:
                raise ValueError("batch is required for method 'sgd'")
            n = _checks.positive_int(batch, "batch")
            symmetric = _checks.boolean(symmetric_batch, "symmetric_batch")
            if symmetric and n % 2:
                raise ValueError(f"batch must be even with symmetric_batch=True, got {n}")
            kind, coef_v, dh = _target(target, coef, d_H, d)
            input_kind = INPUTS.index(_choice(inputs, "inputs", INPUTS))
            input_scale = _checks.positive_real(input_scale, "input_scale")
            seed = _seed(seed)
            if (n_steps + 1) * n > INDEX_END:
                raise ValueError(f"(n_steps + 1) * batch must be at most 2**64 (the sample indices are 64-bit), "
                                 f"got n_steps = {n_steps}, batch = {n}")
            X, y = empty, np.zeros(0)
        else:
            if X is None or y is None:
                raise ValueError(f"method {method!r} needs the sample X and y")
            X, y = _sample(X, y, d)
            n = X.shape[0]
            if symmetric_batch is not False:
                raise ValueError("symmetric_batch is for method 'sgd'; symmetrise a fixed sample with symmetrize")
            kind, coef_v, dh, input_kind, input_scale, seed, symmetric = 0, np.zeros(d), 1, 0, 1.0, 0, False
        if X_eval is not None or y_eval is not None:
            if X_eval is None or y_eval is None:
                raise ValueError("X_eval and y_eval go together")
            X_eval, y_eval = _sample(X_eval, y_eval, d)
        k = 0 if basis is None else basis.shape[0]
        n_lin = X.shape[0] if not online else (X_eval.shape[0] if X_eval is not None else 0)
        n_eval = X_eval.shape[0] if X_eval is not None else 0

        def check(S):  # the kernel's buffers and saved states, then the diagnostics, before allocating
            _checks.check_size(self._k.train_items(m, d, n, S, online),
                               f"the particle run (m = {m}, d = {d}, {S} saves, {n} samples per step)")
            _checks.check_size(S * (d + 6 * m) + 3 * m * d + m * k + self._k.predict_items(m, d, max(n_lin, n_eval))
                               + max(n_lin, n_eval) * 2,
                               f"the diagnostics of the particle run (m = {m}, d = {d}, {S} saves)")

        _check_work(float(n_steps + 1) * n * m * (d + 1) * (4 if method == "rk4" else 1),
                    f"the particle run (n_steps = {n_steps}, {n} samples per step, m = {m}, d = {d})")
        steps = _save_steps(n_steps, save_every, save_steps, check)
        A, Bs, loss = self._k.train(a0, B0, X, y, METHODS.index(method), lr, n_steps, steps, input_kind,
                                    input_scale, kind, coef_v, dh, n, seed, symmetric)
        A = np.asarray(A)
        Bs = np.asarray(Bs).reshape(len(steps), m, d)
        loss = np.asarray(loss)
        _check_finite_run(steps, lr, (loss, A, Bs), ", or a smaller input_scale or target" if online else "")
        return self._diagnose(np.asarray(steps), lr, A, Bs, loss, None if online else (X, y),
                              (X_eval, y_eval) if X_eval is not None else None, basis)

    def _diagnose(self, steps, lr, A, Bs, loss, train_sample, eval_sample, basis) -> ParticleTrajectory:
        S, m, d = Bs.shape
        w = np.einsum("sj,sjk->sk", A, Bs) / (2.0 * m)
        norms = np.linalg.norm(Bs, axis=2)
        mass = A * norms
        lin_sample = train_sample if train_sample is not None else eval_sample
        linearity = None
        if lin_sample is not None:
            Xl = lin_sample[0]
            linearity = np.array([np.max(np.abs(self._k.predict(A[s], Bs[s], Xl) - Xl @ w[s])) for s in range(S)])
        eval_loss = None
        if eval_sample is not None:
            Xe, ye = eval_sample
            eval_loss = np.array([0.5 * np.mean((self._k.predict(A[s], Bs[s], Xe) - ye) ** 2) for s in range(S)])
        pair = None
        if m % 2 == 0:
            pair = np.maximum(np.abs(A[:, ::2] + A[:, 1::2]).max(axis=1),
                              np.abs(Bs[:, ::2] + Bs[:, 1::2]).reshape(S, -1).max(axis=1))
        angle = None
        if basis is not None:  # one saved step at a time: (m, d) temporaries, not (S, m, d)
            angle = np.empty((S, m))
            for s in range(S):
                inside = Bs[s] @ basis.T
                angle[s] = np.arctan2(np.linalg.norm(Bs[s] - inside @ basis, axis=1), np.linalg.norm(inside, axis=1))
        tau = np.array([_tau_masses(mass[s], m) for s in range(S)]).reshape(S, 2)
        return ParticleTrajectory(steps=steps, times=steps * lr, a=A, B=Bs, loss=loss, eval_loss=eval_loss, w=w,
                                  linearity_error=linearity, pair_error=pair, balance=A**2 - norms**2, mass=mass,
                                  angle=angle, tau_plus=tau[:, 0], tau_minus=tau[:, 1])

    def reduced_samples(self, d: int, d_H: int, step: int = 0, n_samples: int = 1000, seed: int = 0) -> np.ndarray:
        """The Monte Carlo samples of one step of the reduced dynamics: rows (cos phi, sin phi, r, s, r', s').

        cos^2 phi ~ Beta(d_H/2, d_perp/2) (phi ~ tau_0, the angle law of a uniform input),
        r ~ gamma_{d_H} and s ~ gamma_{d_perp} (r = +-sqrt(U), U ~ Beta(1/2, (k-1)/2)), drawn
        from the sample's own stream as ratios of chi-square variables: cos^2 phi = X / (X + Y) with
        X ~ chi2(d_H), Y ~ chi2(d_perp), and r = g / sqrt(g^2 + chi2(d_H - 1)) with g normal. A
        chi-square of even order 2j is -2 log(u_1 ... u_j) (j uniforms), one of odd order adds the
        square of a normal. (r', s') is an independent copy of (r, s), used for the predictor: eight
        normals and about d uniforms per sample.

        Parameters
        ----------
        d, d_H : int
            1 <= d_H < d.
        step : int, default 0
        n_samples : int, default 1000
        seed : int, default 0

        Returns
        -------
        ndarray, shape (n_samples, 6)

        Raises
        ------
        ValueError
            On a bad argument.

        Examples
        --------
        >>> import numpy as np
        >>> from intrinsic_flow import symmetries
        >>> S = symmetries.reduced_samples(30, 5, n_samples=2000)
        >>> np.allclose(S[:, 0]**2 + S[:, 1]**2, 1.0), S.shape
        (True, (2000, 6))
        """
        d, d_H = _dims(d, d_H)
        step = _checks.nonnegative_int(step, "step")
        n_samples = _checks.positive_int(n_samples, "n_samples")
        _checks.check_size(self._k.samples_items(n_samples), f"the reduced samples (n_samples = {n_samples})")
        _check_work(float(n_samples) * d, f"the reduced samples (n_samples = {n_samples}, d = {d})")
        if (step + 1) * n_samples > INDEX_END:
            raise ValueError(f"(step + 1) * n_samples must be at most 2**64 (the sample indices are 64-bit), got "
                             f"step = {step}, n_samples = {n_samples}")
        return np.asarray(self._k.reduced_samples(d, d_H, _seed(seed), step, n_samples))

    def reduced_train(self, c0, theta0, *, d: int, d_H: int, lr: float = 5e-3, n_steps: int,
                      n_samples: int = 1000, seed: int = 0, save_every: int | None = None,
                      save_steps=None) -> ReducedTrajectory:
        r"""The reduced angle dynamics of the radial target ||x_H|| (x uniform on S^{d-1}).

        Particles carry signed masses c_j and angles theta_j to H; eps_j = sign c_j(0). Each step
        draws ``n_samples`` = N_b fresh samples (phi_i, r_i, s_i, r'_i, s'_i) (``reduced_samples``) and forms

        .. math::

            \psi_{ij} = \mathrm{relu}(\cos\theta_j \cos\phi_i \, r_i + \sin\theta_j \sin\phi_i \, s_i),

            R_i = \cos\phi_i - \frac{1}{m} \sum_j c_j \psi'_{ij},

            G_j = \frac{d}{N_b} \sum_i R_i \psi_{ij}, \qquad V_j = \frac{\partial G_j}{\partial \theta_j},

        with psi' built from the independent (r'_i, s'_i) (so that R_i psi_ij is unbiased), and updates

        .. math::

            c_j \leftarrow (1 + 2 \eta \varepsilon_j G_j) \, c_j,

            \theta_j \leftarrow \theta_j + \eta \varepsilon_j V_j,

        with eta = ``lr``.

        Parameters
        ----------
        c0, theta0 : array_like, shape (m,)
            Initial masses (their signs are eps) and angles (``reduced_init``).
        d, d_H : int
            1 <= d_H < d.
        lr : float, default 5e-3
        n_steps : int
        n_samples : int, default 1000
        seed : int, default 0
        save_every, save_steps
            As in ``train``.

        Returns
        -------
        ReducedTrajectory

        Raises
        ------
        ValueError
            On a bad argument or buffers beyond config.max_bytes.

        Examples
        --------
        >>> from intrinsic_flow import symmetries
        >>> c, theta = symmetries.reduced_init(64, 10, 2, 0)
        >>> run = symmetries.reduced_train(c, theta, d=10, d_H=2, lr=5e-3, n_steps=20, n_samples=200)
        >>> run.c.shape, run.alpha == symmetries.alpha(2)
        ((21, 64), True)
        """
        d, d_H = _dims(d, d_H)
        c0 = _checks.finite_array(c0, "c0")
        theta0 = _checks.finite_array(theta0, "theta0")
        if c0.ndim != 1 or c0.size == 0 or theta0.shape != c0.shape:
            raise ValueError(f"c0 and theta0 must be non-empty vectors of the same length, got {c0.shape} "
                             f"and {theta0.shape}")
        if np.any(c0 == 0):
            raise ValueError("c0 must have no zero entry (its signs are the particles' eps)")
        lr = _checks.positive_real(lr, "lr")
        n_steps = _bounded(_checks.nonnegative_int(n_steps, "n_steps"), "n_steps", LONG_MAX - 1)
        n_samples = _bounded(_checks.positive_int(n_samples, "n_samples"), "n_samples", LONG_MAX)
        if (n_steps + 1) * n_samples > INDEX_END:
            raise ValueError(f"(n_steps + 1) * n_samples must be at most 2**64 (the sample indices are 64-bit), got "
                             f"n_steps = {n_steps}, n_samples = {n_samples}")
        seed = _seed(seed)
        if save_every is None and save_steps is None:
            save_every = max(1, n_steps // 100)
        m = c0.size

        def check(S):  # the kernel's buffers and saved states, then the masses and W2 distances
            _checks.check_size(self._k.reduced_items(m, n_samples, S) + 8 * S * m,
                               f"the reduced run (m = {m}, {S} saves, n_samples = {n_samples})")

        _check_work(float(n_steps + 1) * n_samples * (4 * m + d),
                    f"the reduced run (n_steps = {n_steps}, n_samples = {n_samples}, m = {m}, d = {d})")
        steps = _save_steps(n_steps, save_every, save_steps, check)
        C, T, loss = self._k.reduced_train(c0, theta0, d, d_H, lr, n_steps, n_samples, seed, steps)
        C, T, loss = np.asarray(C), np.asarray(T), np.asarray(loss)
        _check_finite_run(steps, lr, (loss, C, T), "")
        eps = np.sign(c0)
        tp, tm, w2p, w2m = _reduced_masses(C, T, eps)
        return ReducedTrajectory(steps=np.asarray(steps), c=C, theta=T, loss=loss, tau_plus=tp,
                                 tau_minus=tm, w2_plus=w2p, w2_minus=w2m, alpha=alpha(d_H))


def reduced_init(m: int, d: int, d_H: int, rng=None) -> tuple:
    """Initial particles of the reduced dynamics: c_j = +-1 (uniform signs), theta_j ~ tau_0.

    tau_0 is the law of the angle to H of a uniform direction: theta = arccos sqrt(L) with
    L ~ Beta(d_H/2, d_perp/2), so E cos^2 theta = d_H/d.

    Parameters
    ----------
    m, d, d_H : int
        Particles, dimension, 1 <= d_H < d.
    rng : numpy Generator, int or None

    Returns
    -------
    c0, theta0 : ndarray, shape (m,)

    Raises
    ------
    ValueError
        On a bad argument.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import symmetries
    >>> c, theta = symmetries.reduced_init(100000, 30, 5, 0)
    >>> abs(float(np.mean(np.cos(theta)**2)) - 5 / 30) < 3e-3
    True
    """
    m = _checks.positive_int(m, "m")
    d, d_H = _dims(d, d_H)
    _checks.check_size(2 * m, f"the reduced particles (m = {m})")
    rng = _checks.resolve_rng(rng)
    c = rng.choice(np.array([-1.0, 1.0]), size=m)
    theta = np.arccos(np.sqrt(rng.beta(d_H / 2, (d - d_H) / 2, size=m)))
    return c, theta


REDUCED_MAX_WORK = 1e9
"""The most operations reduced_features may do (seconds of NumPy); the tables of h_k cost 4097 k."""


def _cos_power_integral(n: int, x: np.ndarray) -> np.ndarray:
    """I_n(x) = int_{-pi/2}^{x} cos^n w dw, by I_n = cos^{n-1} x sin x / n + (n-1)/n I_{n-2}."""
    low, high = x + np.pi / 2, np.sin(x) + 1.0  # I_0, I_1
    if n == 0:
        return low
    for k in range(2, n + 1):
        low, high = high, np.cos(x) ** (k - 1) * np.sin(x) / k + (k - 1) / k * low
    return high


def _gamma_nodes(k: int, n_nodes: int) -> tuple:
    """Nodes and weights (summing to 1) of a quadrature for r ~ gamma_k on [-1, 1].

    With r = sin w the density of w is proportional to cos^{k-2} w on [-pi/2, pi/2], smooth for
    every k >= 2, so Gauss-Legendre in w converges fast; gamma_1 is the two points +-1.
    """
    if k == 1:
        return np.array([-1.0, 1.0]), np.array([0.5, 0.5])
    x, w = np.polynomial.legendre.leggauss(n_nodes)
    omega = x * np.pi / 2
    w = w * np.cos(omega) ** (k - 2)
    return np.sin(omega), w / w.sum()


class _PositivePartMean:
    """h_k(t) = E[(r + t)_+] for r ~ gamma_k and |t| <= 1, tabulated in w = arcsin t.

    h_k(t) = t P(r > -t) + E[r 1{r > -t}] with, for r = sin w, P(r <= sin x) = I_{k-2}(x) / I_{k-2}(pi/2)
    and E[r 1{r > sin x}] = cos^{k-1} x / ((k-1) I_{k-2}(pi/2)); both are smooth in w, so linear
    interpolation on a fine grid of w is accurate to about 1e-8.
    """

    def __init__(self, k: int, n_grid: int = 4097):
        self.k = k
        self.omega = np.linspace(-np.pi / 2, np.pi / 2, n_grid)
        if k == 1:
            self.values = (1.0 + np.sin(self.omega)) / 2
            return
        norm = float(_cos_power_integral(k - 2, np.array([np.pi / 2]))[0])
        t = np.sin(self.omega)
        above = 1.0 - _cos_power_integral(k - 2, -self.omega) / norm
        self.values = t * above + np.cos(self.omega) ** (k - 1) / ((k - 1) * norm)

    def __call__(self, t: np.ndarray) -> np.ndarray:
        return np.interp(np.arcsin(np.clip(t, -1.0, 1.0)), self.omega, self.values)


def reduced_features(theta, phi, d: int, d_H: int, n_nodes: int = 32) -> np.ndarray:
    r"""The feature of the reduced dynamics, with r ~ gamma_{d_H} and s ~ gamma_{d_perp}:

    .. math::

        \tilde\phi(\theta; \phi) = E\big[\mathrm{relu}(\cos\theta \cos\phi \, r + \sin\theta \sin\phi \, s)\big].

    It is a neuron at angle theta to H, seen by an input at angle phi (both averaged over the
    rotations of H and of H-perp), so that the reduced predictor and loss are

    .. math::

        \tilde f(\tau; \phi) = \frac{1}{m} \sum_j c_j \, \tilde\phi(\theta_j; \phi),

        \mathcal{L} = \tfrac12 E_{\phi \sim \tau_0} \big(\cos\phi - \tilde f(\tau; \phi)\big)^2.

    With A = |cos theta cos phi| and B = |sin theta sin phi|, the expectation over the variable of
    the larger coefficient is closed-form (A h_{d_H}(B s / A) if A >= B, h_k as in the code) and the
    other one is a Gauss quadrature with ``n_nodes`` nodes of a smooth integrand; the result is
    accurate to about 1e-7 for n_nodes = 32. Depends on theta only through the folded angle.

    Parameters
    ----------
    theta : array_like, shape (m,)
        Angles of the neurons to H.
    phi : array_like, shape (n,)
        Angles of the inputs to H.
    d, d_H : int
        1 <= d_H < d.
    n_nodes : int, default 32

    Returns
    -------
    ndarray, shape (m, n)

    Raises
    ------
    ValueError
        On a bad argument.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow import symmetries
    >>> phi = np.linspace(0.0, np.pi / 2, 5)
    >>> f = symmetries.alpha(5) * symmetries.reduced_features([0.0], phi, 30, 5)[0]  # alpha delta_0
    >>> bool(np.allclose(f, np.cos(phi), atol=1e-12))
    True
    """
    d, d_H = _dims(d, d_H)
    theta = _checks.finite_array(theta, "theta")
    phi = _checks.finite_array(phi, "phi")
    if theta.ndim != 1 or phi.ndim != 1:
        raise ValueError(f"theta and phi must be vectors, got shapes {theta.shape} and {phi.shape}")
    n_nodes = _checks.positive_int(n_nodes, "n_nodes")
    d_perp = d - d_H
    _checks.check_size(theta.size * phi.size * (n_nodes + 4) + 4 * n_nodes, "the reduced features")
    work = 4097.0 * d + theta.size * phi.size * n_nodes
    if work > REDUCED_MAX_WORK:
        raise ValueError(f"reduced_features with d = {d}, {theta.size} x {phi.size} angles and n_nodes = {n_nodes} "
                         f"would take about {work:.1e} operations (its tables cost 4097 d), more than "
                         f"intrinsic_flow._symmetries.REDUCED_MAX_WORK = {REDUCED_MAX_WORK:.0e}; use a smaller d or "
                         "fewer angles, or raise the knob")
    h_H, h_perp = _PositivePartMean(d_H), _PositivePartMean(d_perp)
    r, w_r = _gamma_nodes(d_H, n_nodes)
    s, w_s = _gamma_nodes(d_perp, n_nodes)
    A = np.abs(np.cos(theta))[:, None] * np.abs(np.cos(phi))[None, :]
    B = np.abs(np.sin(theta))[:, None] * np.abs(np.sin(phi))[None, :]
    out = np.zeros((theta.size, phi.size))
    h_first = A >= B
    big = np.where(h_first, A, B)
    ratio = np.divide(np.where(h_first, B, A), big, out=np.zeros_like(big), where=big > 0)
    if h_first.any():  # closed form over r, quadrature over s
        t = ratio[h_first]
        out[h_first] = big[h_first] * (h_H(t[:, None] * s[None, :]) @ w_s)
    if (~h_first).any():  # closed form over s, quadrature over r
        t = ratio[~h_first]
        out[~h_first] = big[~h_first] * (h_perp(t[:, None] * r[None, :]) @ w_r)
    return out


def _dims(d, d_H) -> tuple:
    d = _bounded(_checks.positive_int(d, "d", 2), "d", INT_MAX)
    d_H = _checks.positive_int(d_H, "d_H")
    if d_H >= d:
        raise ValueError(f"d_H must satisfy 1 <= d_H < d = {d}, got {d_H}")
    return d, d_H


def _chunks(n: int) -> int:
    """Chunks of the core's sample loops (cpp/symmetries.cpp, chunk_size)."""
    chunk = max(128, (n + 31) // 32)
    return (n + chunk - 1) // chunk


def _target(target, coef, d_H, d: int) -> tuple:
    target = _choice(target, "target", TARGETS)
    kind = TARGETS.index(target)
    if target == "radial":
        if d_H is None or not _checks.is_integer(d_H) or not 1 <= d_H <= d:
            raise ValueError(f"d_H must be an integer in [1, d = {d}] for the radial target, got {d_H!r}")
        return kind, np.zeros(d), int(d_H)
    if coef is None:
        raise ValueError(f"coef (shape ({d},)) is required for the {target} target")
    coef = _checks.finite_array(coef, "coef")
    if coef.shape != (d,):
        raise ValueError(f"coef must have shape (d,) = ({d},), got {coef.shape}")
    return kind, coef, 1
