"""Numerical rank with a documented tolerance and the singular values around the cut.

Conventions (docs/theory/ranks.md): the relative tolerance grows with min(M, N), never with
the number of rows (a path-lifting Jacobian has one row per path); a Gram matrix squares the
singular values, so its eigenvalues are cut at 10 * n * eps times the largest one.
"""
from __future__ import annotations


import numpy as np

from . import _checks
from ._typing import ArrayLike
from .results import RankInfo

EPS = np.finfo(np.float64).eps


# Both backends mark with rank -1 a point where the Gram matrix at the rank point is not finite.
NOT_REPRESENTABLE = ("the Gram matrix of dphi at the rank point of theta is not finite in float64 (a path product "
                     "squared overflows: theta spans too many orders of magnitude, even balanced and normalised); "
                     "for path-lifting models rank_lift(model, theta, method='exact') needs no Gram matrix")


RANK_MAX_WORK = 1e11
"""Budget of one Gram rank of a ``SharedReLUNet``: about m^3 operations for the eigenvalues of its
m x m Gram matrix (m = min(d, D): J J^T when there are fewer paths than parameters), half a
minute or so. Refused above it, before the matrix is formed; ``method="exact"`` needs no matrix."""


def check_rank_work(n_lifted: float, n_params: int, what: str) -> None:
    """Refuse (ValueError naming the work and the knob) a Gram rank whose eigenvalue problem, of
    size m = min(d, D), exceeds RANK_MAX_WORK operations (m^3, plus d^2 D to form J J^T)."""
    m = min(float(n_lifted), float(n_params))
    work = m ** 3 + (m * m * n_params if n_lifted < n_params else 0.0)
    if work > RANK_MAX_WORK:
        raise ValueError(f"{what} needs the eigenvalues of a {int(m)} x {int(m)} Gram matrix (d = {n_lifted:.6g} "
                         f"paths, D = {n_params} parameters), about {work:.1e} operations, more than the budget "
                         f"intrinsic_flow._rank.RANK_MAX_WORK = {RANK_MAX_WORK:.0e}; rank_lift(model, theta, "
                         "method='exact') gives the rank of dphi in O(D) without a tolerance, or raise the budget")


def checked_ranks(ranks):
    """ranks (int or array) unchanged, or ValueError when a backend marked one with -1."""
    if np.any(np.asarray(ranks) < 0):
        raise ValueError(NOT_REPRESENTABLE)
    return ranks


def default_rtol(shape) -> float:
    """Relative tolerance on singular values of an M x N matrix: min(M, N) * eps."""
    return max(min(shape), 1) * EPS


def default_gram_rtol(n: int) -> float:
    """Relative tolerance on eigenvalues of an n x n Gram matrix: 10 * n * eps."""
    return 10.0 * max(n, 1) * EPS


def _info(singular_values: np.ndarray, threshold: float) -> RankInfo:
    rank = int(np.sum(singular_values > threshold))
    kept = float(singular_values[rank - 1]) if rank > 0 else np.inf
    dropped = float(singular_values[rank]) if rank < singular_values.size else 0.0
    return RankInfo(rank, singular_values, float(threshold), kept, dropped)


def singular_gap(A: ArrayLike, rtol: float | None = None) -> RankInfo:
    r"""Rank of a matrix A (M, N) by SVD, with the singular values around the cut.

    .. math::

        \operatorname{rank} A = \#\{i : \sigma_i > \mathrm{rtol} \cdot \sigma_{\max}\},

    with :math:`\mathrm{rtol} = \min(M, N)\, \varepsilon` by default: the tolerance grows with
    min(M, N), never with the number of rows (``docs/theory/ranks.md``).

    Parameters
    ----------
    A : array_like of shape (M, N)
        A finite real matrix.
    rtol : float in (0, 1) or None, default None
        Relative tolerance on the singular values (None: min(M, N) * eps).

    Returns
    -------
    RankInfo
        ``rank``, ``singular_values`` (ndarray of shape (min(M, N),), decreasing), ``threshold``
        = rtol * sigma_max, ``sigma_kept`` (the smallest counted, inf if rank 0), ``sigma_dropped``
        (the largest not counted, 0 if full rank) and ``gap``. An empty A has rank 0.

    Raises
    ------
    ValueError
        If ``A`` is not 2-D or has a non-finite entry, or ``rtol`` is not in (0, 1).

    See Also
    --------
    numerical_rank, rank_info

    Examples
    --------
    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> info = itf.singular_gap(np.diag([1.0, 1e-3, 1e-20]))
    >>> info.rank, info.singular_values.shape, bool(info.gap > 1e10)
    (2, (3,), True)
    """
    A = _checks.finite_array(A, "A")
    if A.ndim != 2:
        raise ValueError(f"A must be a 2-D matrix, got shape {A.shape}")
    rtol = _checks.rtol(rtol)
    if A.size == 0:
        return RankInfo(0, np.zeros(0), 0.0, np.inf, 0.0)
    sv = np.linalg.svd(A, compute_uv=False)
    return _info(sv, (rtol if rtol is not None else default_rtol(A.shape)) * sv[0])


def numerical_rank(A: ArrayLike, rtol: float | None = None) -> int:
    r"""Number of singular values of A above rtol * sigma_max (rtol default min(M, N) * eps).

    .. math::

        \operatorname{rank} A = \#\{i : \sigma_i(A) > \mathrm{rtol} \cdot \sigma_{\max}(A)\}.

    See ``singular_gap`` for the singular values around the cut.

    Parameters
    ----------
    A : array_like of shape (M, N)
        A finite real matrix.
    rtol : float in (0, 1) or None, default None
        Relative tolerance on the singular values (None: min(M, N) * eps).

    Returns
    -------
    int
        The numerical rank, between 0 and min(M, N).

    Raises
    ------
    ValueError
        If ``A`` is not 2-D or has a non-finite entry, or ``rtol`` is not in (0, 1).

    See Also
    --------
    singular_gap

    Examples
    --------
    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> itf.numerical_rank(np.outer([1.0, 2.0, 3.0], [1.0, 1.0]))
    1
    >>> itf.numerical_rank(np.diag([1.0, 1e-3]), rtol=1e-2)
    1
    """
    return singular_gap(A, rtol).rank


def gram_info(eigenvalues_desc: np.ndarray, rtol=None) -> RankInfo:
    """RankInfo from the eigenvalues (decreasing) of a Gram matrix A^T A: singular values of A
    are their square roots; eigenvalues above rtol * largest count (rtol default 10 n eps)."""
    n = eigenvalues_desc.size
    rtol = default_gram_rtol(n) if rtol is None else rtol
    largest = float(eigenvalues_desc[0]) if n else 0.0
    rank = int(np.sum(eigenvalues_desc > rtol * largest)) if largest > 0 else 0
    sv = np.sqrt(np.clip(eigenvalues_desc, 0.0, None))
    info = _info(sv, np.sqrt(rtol * max(largest, 0.0)))
    # the rank is decided on eigenvalues; keep that exact count
    return RankInfo(rank, sv, info.threshold, float(sv[rank - 1]) if rank else np.inf,
                    float(sv[rank]) if rank < n else 0.0)
