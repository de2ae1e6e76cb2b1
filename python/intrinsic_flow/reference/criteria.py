"""Intrinsic-dynamics criteria in plain NumPy (mirrors cpp/criteria): main_paper §2.

At a point theta, with J = dphi(theta) (d, D) and Jh = dh(theta) (N, D) the known laws:

- ``rank_lift`` = rank J, ``rank_conserved`` = rank Jh, ``rank_joint`` = rank [J; Jh];
- ``recoverable``: rank_joint == D, i.e. ker J ∩ ker Jh = {0} (Theorem 2.17, §2.1);
- ``kernel_dim`` = dim(ker J ∩ ker Jh) = D - rank_joint;
- ``inclusion_residual``: how far ker J ∩ ker Jh ⊆ ker dM is from holding (Theorem 2.14, §2.2),

    residual = ||theta|| * ||dM|_K||_HS / ||M||_F,   ||dM|_K||_HS^2 = sum_k ||dM(theta)[v_k]||_F^2

  over an orthonormal basis v_k of K = ker J ∩ ker Jh. The Hilbert–Schmidt norm does not depend
  on which orthonormal basis is used (an eigen-solver may return any) and lies between the max over
  the basis and sqrt(kernel_dim) times it; the factor ||theta|| makes the residual dimensionless
  (dM[v] and M have degrees 2k-1 and 2k in theta for a homogeneous phi of degree k);
- ``kernel_inclusion``: residual <= ``inclusion_tol`` (default ``INCLUSION_TOL`` = 1e-8).

Ranks are taken on Gram matrices (eigenvalues above 10 n eps times the largest, _rank.py); the
joint Gram matrix is J^T J / ||J||_F^2 + Jh^T Jh / ||Jh||_F^2, each block scaled to unit trace so
that the joint rank does not depend on how the blocks scale with theta (the same matrix as
``rank_joint``). Each ``gap_*`` is the ratio of the smallest kept to the largest dropped singular
value (inf when nothing was dropped).

Where the criteria are evaluated: the *rank point* of theta, the same point as ``rank_lift`` and
``rank_joint``. Rescaling a hidden neuron (incoming weights and bias times s, outgoing weights over
s) leaves phi unchanged but moves theta, h and the conditioning of J; so does the global scale
theta -> c theta (it multiplies each row of J by a power of c). Neither changes a rank, nor whether
ker J ∩ ker Jh ⊆ ker dM. For path-lifting models the rank point is the *balanced representative*
(|incoming|^2 = |outgoing|^2 at every hidden neuron, the unique minimiser of ||theta||^2 over the
rescaling orbit when every hidden neuron has nonzero incoming and outgoing weights) divided by the
geometric mean of its nonzero |entries|: the same point for theta, for any rescaling of theta and
for any multiple of it, so no answer depends on them (rescaling one neuron by 1e8 or theta by 1e30
changes nothing). It is computed in log space by coordinate descent over the hidden neurons until no
log-scale moves by more than ``BALANCE_TOLERANCE`` = 1e-13 in a sweep (reference/lifting.py, the
same algorithm as cpp/lifting.cpp). A neuron with zero incoming or zero outgoing weights cannot be
balanced and is left as it is. Linear networks (homogeneous) are evaluated at theta over the
geometric mean of its |entries|; other models at theta itself. The residual is then invariant
under theta -> c theta for every path-lifting and linear model. Where the Gram matrices at the rank
point are not finite in float64 (theta spans more orders of magnitude than balancing removes), a
ValueError is raised rather than a rank.
"""
from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

from .. import _checks, _rank
from .._graph import checked_balanced

INCLUSION_TOL = 1e-8

# Integer and boolean fields of Criteria, then floating ones: the columns of a scan.
INT_FIELDS = ("rank_lift", "rank_conserved", "rank_joint", "kernel_dim")
FLOAT_FIELDS = ("gap_lift", "gap_conserved", "gap_joint", "inclusion_residual")


@dataclass(frozen=True)
class Criteria:
    """Intrinsic-dynamics criteria at one theta (see the module docstring for the definitions)."""

    n_params: int
    rank_lift: int
    rank_conserved: int
    rank_joint: int
    kernel_dim: int
    gap_lift: float
    gap_conserved: float
    gap_joint: float
    inclusion_residual: float
    inclusion_tol: float = INCLUSION_TOL

    @property
    def recoverable(self) -> bool:
        """theta is locally recoverable from (phi(theta), h(theta)): rank [J; Jh] == D."""
        return self.rank_joint == self.n_params

    @property
    def kernel_inclusion(self) -> bool:
        """ker J ∩ ker Jh ⊆ ker dM, to the tolerance: residual <= inclusion_tol."""
        return bool(self.inclusion_residual <= self.inclusion_tol)

    def as_dict(self) -> dict:
        values = {f.name: getattr(self, f.name) for f in fields(self)}
        values.update(recoverable=self.recoverable, kernel_inclusion=self.kernel_inclusion)
        return values


def check_inclusion_tol(value) -> float:
    if value is None:
        return INCLUSION_TOL
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) < np.inf:
        raise ValueError(f"inclusion_tol must be a positive number, got {value!r}")
    return float(value)


def criteria_from_row(n_params: int, row: np.ndarray, inclusion_tol: float) -> Criteria:
    """A Criteria from one row (rank_lift, rank_conserved, rank_joint, kernel_dim, gaps..., residual)."""
    _rank.checked_ranks(row[: len(INT_FIELDS)])
    ints = {name: int(row[k]) for k, name in enumerate(INT_FIELDS)}
    floats = {name: float(row[len(INT_FIELDS) + k]) for k, name in enumerate(FLOAT_FIELDS)}
    return Criteria(n_params, **ints, **floats, inclusion_tol=inclusion_tol)


# -- balanced representative of a rescaling orbit ----------------------------------------------
def balanced_representative(model, theta) -> np.ndarray:
    """The rescaling of theta (path-lifting model) with |incoming|^2 = |outgoing|^2 at every hidden
    neuron; theta (D,) -> (D,). phi is unchanged. See the module docstring; ValueError when the
    result does not fit in float64."""
    from .geometry import lifting_of

    theta = _checks.theta(model, theta)
    if model.kind != "path":
        raise ValueError(f"balanced_representative needs a path-lifting model, got {type(model).__name__}")
    return checked_balanced(model, lifting_of(model).balanced(theta), theta)


def evaluation_point(model, theta: np.ndarray) -> np.ndarray:
    """Where the criteria are evaluated: the rank point (see the module docstring)."""
    from .geometry import lifting_of

    return lifting_of(model).rank_point(theta)


# -- ranks from Gram eigenvalues ---------------------------------------------------------------
def rank_and_gap(eigenvalues_desc: np.ndarray) -> tuple:
    """(rank, gap) of a Gram matrix from its eigenvalues (decreasing): eigenvalues above
    10 n eps times the largest count; gap = sqrt(kept / |dropped|), inf when nothing is dropped."""
    n = eigenvalues_desc.size
    largest = eigenvalues_desc[0] if n else 0.0
    if not largest > 0.0:
        return 0, np.inf
    rank = int(np.sum(eigenvalues_desc > _rank.default_gram_rtol(n) * largest))
    dropped = abs(eigenvalues_desc[rank]) if rank < n else 0.0
    return rank, (np.inf if dropped == 0.0 else float(np.sqrt(eigenvalues_desc[rank - 1] / dropped)))


def criteria(model, theta, *, inclusion_tol=None) -> Criteria:
    """Intrinsic-dynamics criteria at theta (D,): ranks, recoverability, kernel inclusion.

    Definitions, tolerances and the balanced representative used for path-lifting models: see the
    module docstring. The kernel-inclusion residual forms the d x d matrices M and dM[v] here (the
    core avoids them); a result above ``config.max_bytes`` raises ValueError before allocating.
    """
    from . import geometry
    from .geometry import unit_trace

    theta = _checks.theta(model, theta)
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    point = evaluation_point(model, theta)
    with np.errstate(over="ignore", invalid="ignore"):
        gram = geometry.lift_gram(model, point)
        laws_jac = geometry.conserved_jacobian(model, point)
    if not (np.all(np.isfinite(gram)) and np.all(np.isfinite(laws_jac))):
        raise ValueError(_rank.NOT_REPRESENTABLE)
    rank_lift, gap_lift = rank_and_gap(np.linalg.eigvalsh(gram)[::-1])
    rank_conserved, gap_conserved = rank_and_gap(np.linalg.eigvalsh(laws_jac @ laws_jac.T)[::-1])
    eigenvalues, vectors = np.linalg.eigh(unit_trace(gram) + unit_trace(laws_jac.T @ laws_jac))
    rank_joint, gap_joint = rank_and_gap(eigenvalues[::-1])
    kernel = vectors[:, : model.n_params - rank_joint]  # eigh sorts increasingly: the smallest span K
    residual = 0.0
    if kernel.shape[1]:
        metric = geometry.metric(model, point)
        moves = [np.linalg.norm(geometry.metric_derivative(model, point, v)) ** 2 for v in kernel.T]
        metric_norm, move = np.linalg.norm(metric), np.sqrt(np.sum(moves))
        residual = float(np.linalg.norm(point) * move / metric_norm) if metric_norm > 0 else (np.inf if move > 0 else 0.0)
    return Criteria(model.n_params, rank_lift, rank_conserved, rank_joint, kernel.shape[1],
                    gap_lift, gap_conserved, gap_joint, residual, inclusion_tol)


def criteria_batch(model, thetas, *, inclusion_tol=None) -> list:
    """criteria over a batch: thetas (B, D) -> list of B Criteria."""
    thetas = _checks.thetas(model, thetas)
    return [criteria(model, theta, inclusion_tol=inclusion_tol) for theta in thetas]


__all__ = ["Criteria", "criteria", "criteria_batch", "balanced_representative", "INCLUSION_TOL"]
