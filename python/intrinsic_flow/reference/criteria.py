"""Intrinsic-dynamics criteria in plain NumPy (mirrors cpp/criteria): docs/theory/criteria.md

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

import functools

from .._backend import serial
from .._callable_module import make_callable
from .._criteria import (CriteriaFrontEnd, check_inclusion_tol, criteria_from_row, evaluation_point,  # noqa: F401
                         numpy_criteria, numpy_rows, rank_and_gap)
from .._graph import checked_balanced  # noqa: F401
from ..results import FLOAT_FIELDS, INCLUSION_TOL, INT_FIELDS, Criteria  # noqa: F401
from . import geometry


def _balanced(model, theta):
    return geometry.lifting_of(model).balanced(theta)


_front = CriteriaFrontEnd(functools.partial(numpy_rows, geometry), _balanced, serial)
# the public functions: bound methods of the one front end, assigned by name (docstrings in _criteria)
criteria_rows = _front.criteria_rows
criteria = _front.criteria
criteria_batch = _front.criteria_batch
balanced_representative = _front.balanced_representative

__all__ = ["Criteria", "criteria", "criteria_batch", "balanced_representative", "INCLUSION_TOL"]

# `import intrinsic_flow.reference.criteria` gives this module; calling it calls criteria() (see _callable_module)
make_callable(__name__, criteria)
