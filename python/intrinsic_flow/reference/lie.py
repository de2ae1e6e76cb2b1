"""Conservation laws by the Lie-algebra trace, in plain Python (mirrors cpp/lie).

The count (docs/theory/laws.md): near a generic theta the number of independent conservation laws
is N = D - dim Lie(W_phi)(theta), where W_phi = span{grad phi_1, ..., grad phi_d} and Lie(W_phi)
is the Lie algebra of vector fields it generates. Frobenius property (§2.3): dim Lie(W_phi)(theta)
= rank dphi(theta).

Algorithm (§6.2, the iteration W_0 = W_phi, W_{k+1} = W_k + [W_0, W_k]):

1. Level 0: evaluate the fields grad phi_q at the point and keep those that raise the rank (a
   basis B_0 of W_0 at the point, at most D fields out of d).
2. Level k + 1: for every field g kept at level k (outer loop, in order) and every f in B_0
   (inner loop, in order), the value at the point of the bracket
   [f, g](x) = Dg(x) f(x) - Df(x) g(x)
   needs only the values and Jacobians of f and g at the point; it is kept when it raises the
   rank. Only the kept brackets are expanded as polynomials, and only if a further level is needed.
3. Stop when a level adds nothing, or when the dimension reaches D - (rank of the known laws'
   gradients), an upper bound on dim Lie since every known law has its gradient orthogonal to
   the whole Lie algebra.

Cost: level 0 evaluates the d fields once; each later level evaluates |B_0| x |new| bracket
values at the point (D^2 operations each, from the Jacobians at the point: no polynomial is
formed), so d^2 pairs of the original fields are never bracketed (a ReLU net [9,9,9,9] has 6561
paths but |B_0| <= D = 243, and its count stops at level 0 on the known laws' bound). Only the
brackets kept (at most D - rank dphi in all) are expanded, and only when another level follows.
Random linear combinations (values are bilinear in the two fields) would save evaluations but
make every kept field a dense combination, far costlier to expand for the next level; the core
uses them where they pay, for the level-0 rank of d >> D path fields (see below).

Why keeping only rank-raising fields is enough: at a generic point the ranks of W_k are locally
constant, so a field whose value lies in the span of the kept values is, near the point, a
combination with smooth coefficients of the kept fields, and [f, sum c_i g_i] =
sum c_i [f, g_i] + sum (f c_i) g_i adds nothing new at the point (docs/theory/laws.md).

Exact mode (``exact=True``): every field is a polynomial with rational coefficients; all of them,
their brackets and values are computed in F_p, p = 2^61 - 1, at a point x uniform in
(F_p \\ {0})^D drawn from ``seed``. Why the count is right with probability > 1 - 1e-9:

- Every dimension computed is the rank of values at x of true elements of the Lie algebra (or of
  the known laws' gradients), reduced mod p. A rank mod p never exceeds the rank over Q, so an
  error can only lower a dimension, never invent one.
- Given correct earlier decisions, the candidates evaluated are those of a generic point. Along
  them the generic rank grows at most D times; for each step j one j x j minor of the values,
  a nonzero polynomial of degree <= D * delta (delta the largest degree of a field used, a few
  dozen here), certifies it, and if none of them vanishes at x every rank taken equals the
  generic one. The same holds for the known laws. A nonzero polynomial of degree k vanishes at
  a uniform point of (F_p \\ {0})^D with probability <= k / (p - 1) (Schwartz-Zippel), so by a
  union bound over these 2D minors, P(error) <= 2 D^2 delta / (p - 1): below 1e-9 while
  D^2 delta < 1.1e9 (for instance D = 1000 and delta = 1000).
- What the point cannot fix: p dividing every coefficient of such a minor over Z, a property of
  the prime alone. The tests rule it out for the models here by agreeing with float64 and the
  known counts.

The core (cpp/lie) takes the same decisions with two shortcuts covered by the same bound: with
more fields than dimensions, it takes the rank of D random combinations of the values (a minor
in the random coefficients, degree <= D); for path-liftings, the rank of the Gram matrix
dphi^T dphi computed by sums over partial paths (same rank over R at every point, hence nonzero
minors of the same degree, doubled), which avoids listing the paths.

Float mode (``exact=False``): the same steps in float64 at the given theta. Level 0 is the
numerical rank of dphi(theta) (``singular_gap``, tolerance min(d, D) eps sigma_max); when it does
not reach the bound, a value raises the rank when its component orthogonal to the kept ones
exceeds ``FLOAT_RTOL`` times its norm. The singular values are returned so the gap can be judged.
"""
from __future__ import annotations

from .._liealgebra import (FLOAT_RTOL, LIE_MAX_WORK, LieFrontEnd, _Arithmetic, _ModularEchelon,  # noqa: F401
                           check_lie_budget, float_trace, make_trace, prepare, trace_levels)
from ..polynomial import (MODULUS, PolynomialLaws, PolynomialMap, gradient_fields, gradients_at,  # noqa: F401
                          law_terms, lifted_terms, modular_rank, polynomial_laws, to_modular)
from .._backend import serial
from ..results import LieTrace


def _modular_trace(model, point) -> LieTrace:
    arithmetic = _Arithmetic(True, point)
    rank_laws = modular_rank(gradients_at(law_terms(model), point)) if law_terms(model).n_polys else 0
    dims, reached = trace_levels(gradient_fields(lifted_terms(model), to_modular), model.n_params,
                                 model.n_params - rank_laws, arithmetic, _ModularEchelon())
    return make_trace(model, dims, rank_laws, reached, True)


_front = LieFrontEnd(_modular_trace, serial)
# the public functions: bound methods of the one front end, assigned by name (docstrings in _liealgebra)
lie_trace = _front.lie_trace
count_conservation_laws = _front.count_conservation_laws
known_laws_complete = _front.known_laws_complete

__all__ = ["LIE_MAX_WORK", "LieTrace", "lie_trace", "count_conservation_laws", "known_laws_complete", "polynomial_laws",
           "PolynomialMap", "PolynomialLaws"]
