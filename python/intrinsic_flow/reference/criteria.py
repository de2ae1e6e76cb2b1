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

from .. import _checks
from .._backend import serial
from .._callable_module import make_callable
from .._criteria import check_inclusion_tol, criteria_from_row, evaluation_point, numpy_criteria, rank_and_gap  # noqa: F401
from .._graph import checked_balanced
from .._kinds import require
from .._typing import Array, ArrayLike, Model
from ..results import FLOAT_FIELDS, INCLUSION_TOL, INT_FIELDS, Criteria  # noqa: F401

def balanced_representative(model: Model, theta: ArrayLike) -> Array:
    """The rescaling of theta (path-lifting model) with |incoming|^2 = |outgoing|^2 at every hidden
    neuron; theta (D,) -> (D,). phi is unchanged. See the module docstring; ValueError when the
    result does not fit in float64."""
    from .geometry import lifting_of

    theta = _checks.theta(model, theta)
    require(model, "path_lifting", "balanced_representative")
    return checked_balanced(model, lifting_of(model).balanced(theta), theta)


def criteria(model: Model, theta: ArrayLike, *, inclusion_tol: float | None = None,
             n_threads: int | None = None) -> Criteria:
    """Intrinsic-dynamics criteria at theta (D,): ranks, recoverability, kernel inclusion.

    Definitions, tolerances and the balanced representative used for path-lifting models: see the
    module docstring. The kernel-inclusion residual forms the d x d matrices M and dM[v] here (the
    core avoids them); a result above ``config.max_bytes`` raises ValueError before allocating.
    """
    from . import geometry

    return serial(n_threads, lambda: numpy_criteria(geometry, model, theta, inclusion_tol=inclusion_tol))


def criteria_batch(model: Model, thetas: ArrayLike, *, inclusion_tol: float | None = None,
                   n_threads: int | None = None) -> list[Criteria]:
    """criteria over a batch: thetas (B, D) -> list of B Criteria."""
    thetas = _checks.thetas(model, thetas)
    return [criteria(model, theta, inclusion_tol=inclusion_tol, n_threads=n_threads) for theta in thetas]


__all__ = ["Criteria", "criteria", "criteria_batch", "balanced_representative", "INCLUSION_TOL"]

# `import intrinsic_flow.reference.criteria` gives this module; calling it calls criteria() (see _callable_module)
make_callable(__name__, criteria)
