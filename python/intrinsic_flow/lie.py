"""Conservation laws by the Lie-algebra trace on the C++ core (cpp/lie).

Same functions and results as ``intrinsic_flow.reference.lie``, whose docstring states the
algorithm and why an exact count is right with probability > 1 - 1e-9. Here the exact mode runs
in the core (F_p arithmetic with 128-bit products, OpenMP over candidate brackets; exact, so the
thread count cannot change a result). The float mode (``exact=False``) and ``polynomial_laws``
(exact rational linear algebra) run the shared Python code of the reference.
"""
from __future__ import annotations

import numpy as np

from . import _checks, _core
from ._config import config
from ._kinds import supports
from .geometry import run_with_threads
from .polynomial import MODULUS, PolynomialLaws, PolynomialMap, law_terms, lifted_terms, polynomial_laws
from ._liealgebra import LIE_MAX_WORK, LieFrontEnd, make_trace
from .results import LieTrace

if _core.LIE_MODULUS != MODULUS:  # pragma: no cover - a stale build
    raise ImportError(f"the core works modulo {_core.LIE_MODULUS}, the Python layer modulo {MODULUS}: rebuild")


def _modular_coefficients(coefficients: list) -> np.ndarray:
    from .polynomial import to_modular

    if all(type(c) is int and 0 <= c < MODULUS for c in coefficients):
        return np.asarray(coefficients, dtype=np.uint64).reshape(-1)
    return np.asarray([to_modular(c) for c in coefficients], dtype=np.uint64).reshape(-1)


def _table_arguments(table) -> tuple:
    return (table.n_polys, table.poly, _modular_coefficients(table.coeff), table.monomials)


def _modular_trace(model, point) -> LieTrace:
    """The exact trace at a point of F_p^D in the core (OpenMP over candidate brackets)."""
    n_laws, *laws = _table_arguments(law_terms(model))
    if supports(model, "path_lifting"):
        # Level 0 from the Gram matrix by path sums (no path table); enough whenever it already
        # reaches D - rank of the known laws, as for every generic ReLU network.
        g = model.graph
        _checks.check_size(float(model.n_params) ** 2, "the Gram matrix of dphi (D x D)")
        rank_lift = _core.path_lift_rank_modular(g.n_neurons, g.n_inputs, g.n_outputs, list(g.param_src),
                                                 list(g.param_dst), point)
        rank_laws = _core.gradient_rank_modular(model.n_params, n_laws, *laws, point) if n_laws else 0
        if rank_lift == model.n_params - rank_laws:
            return make_trace(model, [rank_lift], rank_laws, True, True)
    n_lifted, *lifted = _table_arguments(lifted_terms(model))
    # the core refuses (ValueError) bracket work beyond config.max_bytes before allocating it
    dims, rank_laws, reached = _core.lie_trace_modular(model.n_params, n_lifted, *lifted, n_laws, *laws, point,
                                                       float(config.max_bytes))
    return make_trace(model, dims, rank_laws, reached, True)


_front = LieFrontEnd(_modular_trace, run_with_threads)
# the public functions: bound methods of the one front end, assigned by name (docstrings in _liealgebra)
lie_trace = _front.lie_trace
count_conservation_laws = _front.count_conservation_laws
known_laws_complete = _front.known_laws_complete

__all__ = ["LIE_MAX_WORK", "LieTrace", "lie_trace", "count_conservation_laws", "known_laws_complete", "polynomial_laws",
           "PolynomialMap", "PolynomialLaws"]
