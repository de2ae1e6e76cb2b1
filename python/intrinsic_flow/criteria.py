"""Intrinsic-dynamics criteria on the C++ core (docs/theory/criteria.md).

Same definitions and results as ``intrinsic_flow.reference.criteria`` (read its docstring: ranks
on Gram matrices, the balanced representative of a path-lifting model, the Hilbert–Schmidt
kernel-inclusion residual). The core never forms a d x d matrix: the residual goes through a thin
QR of [J, dJ[v]] (cpp/criteria.hpp), so only the (d, D) Jacobian must fit in memory.

``intrinsic_flow.criteria`` is this module and the function at once: ``itf.criteria(model, theta)``
calls ``criteria`` (parameters, returns and errors in its docstring, ``intrinsic_flow.criteria.criteria``).
"""
from __future__ import annotations

from . import _checks, _core, geometry
from ._callable_module import make_callable
from ._criteria import CriteriaFrontEnd, numpy_rows
from ._kinds import supports
from .geometry import lifting_of, run_with_threads
from .results import INCLUSION_TOL, Criteria


def _core_rows(model, thetas, inclusion: bool):
    """The criteria table in the core (parallel over samples, GIL released); user polynomials,
    which the core has no kernel for, by the shared NumPy algorithm. The residual needs J (d, D):
    refused before allocating when too large."""
    if not supports(model, "core_kernel"):
        return numpy_rows(geometry, model, thetas, inclusion)
    if inclusion:
        _checks.check_size(model.n_lifted * model.n_params * 3, "the kernel-inclusion residual (J, dJ and QR, d x D each)")
    return _core.criteria_batch(lifting_of(model, paths=inclusion), thetas, inclusion)


def _core_balanced(model, theta):
    return _core.balanced_representative(lifting_of(model), theta)


_front = CriteriaFrontEnd(_core_rows, _core_balanced, run_with_threads)
# the public functions: bound methods of the one front end, assigned by name (docstrings in _criteria)
criteria_rows = _front.criteria_rows
criteria = _front.criteria
criteria_batch = _front.criteria_batch
balanced_representative = _front.balanced_representative

__all__ = ["Criteria", "criteria", "criteria_batch", "balanced_representative", "INCLUSION_TOL"]

# `import intrinsic_flow.criteria` gives this module; calling it calls criteria() (see _callable_module)
make_callable(__name__, criteria)
