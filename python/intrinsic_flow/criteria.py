"""Intrinsic-dynamics criteria on the C++ core (main_paper §2).

Same definitions and results as ``intrinsic_flow.reference.criteria`` (read its docstring: ranks
on Gram matrices, the balanced representative of a path-lifting model, the Hilbert–Schmidt
kernel-inclusion residual). The core never forms a d x d matrix: the residual goes through a thin
QR of [J, dJ[v]] (cpp/criteria.hpp), so only the (d, D) Jacobian must fit in memory.
"""
from __future__ import annotations

import numpy as np

from . import _checks, _core, geometry
from ._callable_module import make_callable
from ._criteria import check_inclusion_tol, criteria_from_row, numpy_criteria
from ._graph import checked_balanced
from ._kinds import require, supports
from .geometry import lifting_of, run_with_threads
from ._typing import Array, ArrayLike, Model
from .results import FLOAT_FIELDS, INCLUSION_TOL, INT_FIELDS, Criteria


def _core_lifting(model, inclusion: bool):
    """The core object; the residual needs J (d, D), refused before allocating when too large."""
    if inclusion:
        _checks.check_size(model.n_lifted * model.n_params * 3, "the kernel-inclusion residual (J, dJ and QR, d x D each)")
    return lifting_of(model, paths=inclusion)


def criteria_rows(model: Model, thetas: ArrayLike, inclusion: bool = True, n_threads: int | None = None) -> Array:
    """The raw criteria table: thetas (B, D) -> (B, 8) with columns rank_lift, rank_conserved,
    rank_joint, kernel_dim, gap_lift, gap_conserved, gap_joint, inclusion_residual (NaN when
    ``inclusion`` is False). Parallel over samples in the core (GIL released). A row whose Gram
    matrices are not finite in float64 at the rank point has ranks -1 and NaN floats."""
    thetas = _checks.thetas(model, thetas)
    _checks.check_size(3 * model.n_params ** 2 + model.n_known_laws * model.n_params, "the Gram matrices (D x D)")
    if not supports(model, "core_kernel"):  # user polynomials: the shared NumPy algorithm, as for its geometry
        return _numpy_rows(model, thetas, inclusion)
    lifting = _core_lifting(model, inclusion)
    return run_with_threads(n_threads, lambda: _core.criteria_batch(lifting, thetas, bool(inclusion)))


def _numpy_rows(model, thetas, inclusion: bool) -> np.ndarray:
    """criteria_rows by the shared NumPy algorithm (same columns; residual NaN without ``inclusion``)."""
    rows = []
    for theta in thetas:
        found = numpy_criteria(geometry, model, theta)
        row = [getattr(found, name) for name in INT_FIELDS + FLOAT_FIELDS]
        rows.append(row[:-1] + [row[-1] if inclusion else np.nan])
    return np.array(rows, dtype=np.float64).reshape(len(thetas), len(INT_FIELDS) + len(FLOAT_FIELDS))


def criteria(model: Model, theta: ArrayLike, *, inclusion_tol: float | None = None,
             n_threads: int | None = None) -> Criteria:
    """Intrinsic-dynamics criteria at theta (D,) -> Criteria.

    Fields: rank_lift, rank_conserved, rank_joint, recoverable (rank_joint == D), kernel_dim
    (dim ker J ∩ ker Jh), inclusion_residual, kernel_inclusion (residual <= inclusion_tol, default
    1e-8) and the singular-value gaps gap_lift, gap_conserved, gap_joint behind each rank.
    Evaluated at the rank point of theta (the point of rank_lift and rank_joint; for path-lifting
    models the balanced representative over its geometric mean), so no answer changes when a
    neuron is rescaled or theta is multiplied by a constant.
    """
    theta = _checks.theta(model, theta)
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    return criteria_from_row(model.n_params, criteria_rows(model, theta[None, :], n_threads=n_threads)[0], inclusion_tol)


def criteria_batch(model: Model, thetas: ArrayLike, *, inclusion_tol: float | None = None,
                   n_threads: int | None = None) -> list[Criteria]:
    """criteria over a batch, in parallel in the core: thetas (B, D) -> list of B Criteria."""
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    return [criteria_from_row(model.n_params, row, inclusion_tol) for row in criteria_rows(model, thetas, n_threads=n_threads)]


def balanced_representative(model: Model, theta: ArrayLike) -> Array:
    """The rescaling of theta with |incoming|^2 = |outgoing|^2 at every hidden neuron (path models);
    the same algorithm and tolerance as the reference (reference/criteria.py)."""
    theta = _checks.theta(model, theta)
    require(model, "path_lifting", "balanced_representative")
    return checked_balanced(model, np.asarray(_core.balanced_representative(lifting_of(model), theta)), theta)


__all__ = ["Criteria", "criteria", "criteria_batch", "balanced_representative", "INCLUSION_TOL"]

# `import intrinsic_flow.criteria` gives this module; calling it calls criteria() (see _callable_module)
make_callable(__name__, criteria)
