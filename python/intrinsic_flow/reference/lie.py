"""Conservation laws by the Lie-algebra trace, in plain Python (mirrors cpp/lie).

The count (main_paper §6.1): near a generic theta the number of independent conservation laws
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
sum c_i [f, g_i] + sum (f c_i) g_i adds nothing new at the point (main_paper §6.2).

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

from dataclasses import dataclass

import numpy as np

from .. import _checks
from ..polynomial import (MODULUS, PolynomialLaws, PolynomialMap, gradient_fields, gradients_at,  # noqa: F401
                          law_terms, lifted_terms, modular_rank, polynomial_laws, random_point, table_jacobian, to_modular)

FLOAT_RTOL = 1e-9
"""Float mode: a value raises the rank when its residual exceeds FLOAT_RTOL times its norm."""


@dataclass(frozen=True)
class LieTrace:
    """The trace at one point of the Lie algebra generated by the fields grad phi_q.

    ``dims_by_depth[k]`` = dim W_k(x) for the levels computed, W_0 = W_phi,
    W_{k+1} = W_k + [W_0, W_k] (strictly increasing: a level that adds nothing is not listed);
    ``dim`` = dim Lie(W_phi)(x); ``n_params`` = D; ``n_laws`` = D - dim; ``frobenius``: dim ==
    rank dphi(x) (= dims_by_depth[0]); ``rank_lift`` = rank dphi(x); ``rank_known_laws`` = rank of
    the known laws' gradients at x; ``bound_reached``: the iteration stopped because dim reached
    D - rank_known_laws (so the known laws are complete); ``exact``: modular arithmetic;
    ``singular_values``: float mode only (decreasing), else None: those of dphi(theta) when
    level 0 already reaches the bound, otherwise those of all the values considered.
    """

    dims_by_depth: list
    dim: int
    n_params: int
    n_laws: int
    frobenius: bool
    rank_lift: int
    rank_known_laws: int
    bound_reached: bool
    exact: bool
    singular_values: object = None

    @property
    def known_laws_complete(self) -> bool:
        """The known laws' gradients span as many directions as there are laws (rank == n_laws)."""
        return self.rank_known_laws == self.n_laws


# -- polynomial vector fields (sparse: {(component, monomial): coefficient}, see gradient_fields)
def _without(mono: tuple, v: int) -> tuple:
    k = mono.index(v)
    return mono[:k] + mono[k + 1:]


def _merge(a: tuple, b: tuple) -> tuple:
    return tuple(sorted(a + b))


class _Arithmetic:
    """Where coefficients and values live: F_p (exact) or float64."""

    def __init__(self, exact: bool, point) -> None:
        self.exact = exact
        self.point = point

    def coefficient(self, c):
        return to_modular(c) if self.exact else float(c)

    def reduce(self, value):
        return value % MODULUS if self.exact else value

    def vector(self, n: int):
        return np.zeros(n, dtype=object if self.exact else np.float64)

    def monomial(self, mono: tuple):
        value = 1 if self.exact else 1.0
        for v in mono:
            value = self.reduce(value * self.point[v])
        return value

    def value(self, field: dict, n: int):
        """The field at the point, shape (D,)."""
        out = self.vector(n)
        for (component, mono), c in field.items():
            out[component] = self.reduce(out[component] + c * self.monomial(mono))
        return out

    def jacobian(self, field: dict, n: int):
        """d field / dx at the point, shape (D, D): J[i, k] = d field_i / dx_k."""
        jac = np.zeros((n, n), dtype=object if self.exact else np.float64)
        for (component, mono), c in field.items():
            for k, v in enumerate(mono):
                if k and mono[k - 1] == v:
                    continue
                term = c * mono.count(v) * self.monomial(_without(mono, v))
                jac[component, v] = self.reduce(jac[component, v] + term)
        return jac

    def bracket_value(self, jac_f, value_f, jac_g, value_g):
        """[f, g](x) = Dg(x) f(x) - Df(x) g(x)."""
        out = jac_g.dot(value_f) - jac_f.dot(value_g)
        return out % MODULUS if self.exact else out

    def bracket(self, f: dict, g: dict) -> dict:
        """The polynomial field [f, g] = Dg f - Df g."""
        out: dict = {}
        for (i, a), c in f.items():
            for (j, b), d in g.items():
                if i in b:  # f_i d/dx_i of the term d x^b of g_j
                    key = (j, _merge(a, _without(b, i)))
                    out[key] = self.reduce(out.get(key, 0) + c * d * b.count(i))
                if j in a:  # - g_j d/dx_j of the term c x^a of f_i
                    key = (i, _merge(b, _without(a, j)))
                    out[key] = self.reduce(out.get(key, 0) - c * d * a.count(j))
        return {key: c for key, c in out.items() if c}


class _ModularEchelon:
    """Rows in echelon form over F_p; ``add`` keeps a vector iff it raises the rank."""

    def __init__(self) -> None:
        self.rows, self.pivots = [], []

    @property
    def rank(self) -> int:
        return len(self.rows)

    def add(self, vector) -> bool:
        vector = np.array(vector, dtype=object) % MODULUS
        for pivot, row in zip(self.pivots, self.rows):
            if vector[pivot]:
                vector = (vector - vector[pivot] * row) % MODULUS
        nonzero = np.flatnonzero(vector != 0)
        if nonzero.size == 0:
            return False
        pivot = int(nonzero[0])
        self.rows.append(vector * pow(int(vector[pivot]), -1, MODULUS) % MODULUS)
        self.pivots.append(pivot)
        return True


class _FloatEchelon:
    """Orthonormal basis in float64; ``add`` keeps a vector whose residual exceeds FLOAT_RTOL * norm."""

    def __init__(self) -> None:
        self.basis, self.seen = [], []

    @property
    def rank(self) -> int:
        return len(self.basis)

    def add(self, vector) -> bool:
        vector = np.asarray(vector, dtype=np.float64)
        self.seen.append(vector)
        norm = np.linalg.norm(vector)
        if norm == 0.0:
            return False
        residual = vector.copy()
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to working precision
            for q in self.basis:
                residual -= (q @ residual) * q
        size = np.linalg.norm(residual)
        if size <= FLOAT_RTOL * norm:
            return False
        self.basis.append(residual / size)
        return True


def trace_levels(fields: list, n_params: int, bound: int, arithmetic: _Arithmetic, echelon) -> tuple:
    """The iteration of the module docstring; returns (dims_by_depth, bound_reached)."""
    basis = []
    for field in fields:  # level 0: a basis of W_phi at the point
        if echelon.add(arithmetic.value(field, n_params)):
            basis.append(field)
        if echelon.rank == bound:
            break
    dims = [echelon.rank]
    if echelon.rank == bound:
        return dims, True
    _checks.check_size(float(len(basis) + 1) * n_params**2, "the Jacobians at the point of the basis fields")
    base = [(arithmetic.jacobian(f, n_params), arithmetic.value(f, n_params)) for f in basis]
    newest = basis
    while True:
        kept = []
        for g in newest:
            jac_g, value_g = arithmetic.jacobian(g, n_params), arithmetic.value(g, n_params)
            for f, (jac_f, value_f) in zip(basis, base):
                if echelon.add(arithmetic.bracket_value(jac_f, value_f, jac_g, value_g)):
                    kept.append((f, g))
                    if echelon.rank == bound:
                        break
            if echelon.rank == bound:
                break
        if not kept:
            return dims, False
        dims.append(echelon.rank)
        if echelon.rank == bound:
            return dims, True
        work = sum(_bracket_work(f, g) for f, g in kept)  # as cpp/lie: refused before expanding
        _checks.check_size(48.0 * work, "the Lie brackets of the next level", itemsize=1)
        newest = [arithmetic.bracket(f, g) for f, g in kept]


def _bracket_work(f: dict, g: dict) -> int:
    """Number of term pairs that contribute to [f, g] (the size of the work, as in cpp/lie)."""
    def containing(field):
        count: dict = {}
        for (_, mono) in field:
            for v in set(mono):
                count[v] = count.get(v, 0) + 1
        return count

    in_f, in_g = containing(f), containing(g)
    return sum(in_g.get(i, 0) for i, _ in f) + sum(in_f.get(j, 0) for j, _ in g)


LIE_MAX_WORK = 1e11
"""Budget of one count: refused when D^3 (the elimination on D columns) exceeds it, about a
minute of the core. Memory is bounded separately by ``config.max_bytes`` at every allocation
(polynomial fields, Jacobians at the point, expanded brackets), before allocating."""


def check_lie_budget(model) -> None:
    """Refuse (ValueError naming the size) a count whose elimination work exceeds LIE_MAX_WORK."""
    work = float(model.n_params) ** 3
    if work > LIE_MAX_WORK:
        raise ValueError(f"the Lie bracket work for D = {model.n_params} parameters would need about D^3 = {work:.1e} "
                         f"operations, more than the budget LIE_MAX_WORK = {LIE_MAX_WORK:.0e}; use a smaller model")


def prepare(model, theta, exact: bool, seed):
    """Validated inputs shared by both backends: (point, theta or None)."""
    if not hasattr(model, "kind") or model.kind not in ("path", "linear", "poly"):
        raise ValueError(f"lie_trace needs a ReLUNet, DAGReLUNet, LinearNet or PolynomialMap, got {model!r}")
    if not isinstance(exact, bool):
        raise ValueError(f"exact must be True or False, got {exact!r}")
    check_lie_budget(model)
    if exact:
        if theta is not None:
            raise ValueError("theta is used only with exact=False; exact=True works at a random point of F_p "
                             "drawn from seed")
        return random_point(model.n_params, seed), None
    theta = model.init(seed) if theta is None else _checks.theta(model, theta)
    return None, theta


def float_trace(model, theta) -> LieTrace:
    """exact=False: the iteration in float64 at theta (shared by both backends)."""
    arithmetic = _Arithmetic(False, theta)
    lifted = lifted_terms(model)
    laws = law_terms(model)
    law_rows = np.array([arithmetic.value(f, model.n_params) for f in gradient_fields(laws, float)]).reshape(-1, model.n_params)
    from .._rank import numerical_rank, singular_gap

    rank_laws = numerical_rank(law_rows) if law_rows.shape[0] else 0
    # Level 0 is dphi(theta): when its rank already reaches the bound, no basis is needed.
    level0 = singular_gap(table_jacobian(lifted, theta))
    if level0.rank == model.n_params - rank_laws:
        return make_trace(model, [level0.rank], rank_laws, True, False, level0.singular_values)
    echelon = _FloatEchelon()
    dims, reached = trace_levels(gradient_fields(lifted, float), model.n_params, model.n_params - rank_laws,
                                 arithmetic, echelon)
    singular_values = np.linalg.svd(np.array(echelon.seen), compute_uv=False)
    return make_trace(model, dims, rank_laws, reached, False, singular_values)


def make_trace(model, dims, rank_laws, reached, exact, singular_values=None) -> LieTrace:
    dim = dims[-1]
    return LieTrace(list(int(d) for d in dims), int(dim), model.n_params, model.n_params - int(dim),
                    bool(dim == dims[0]), int(dims[0]), int(rank_laws), bool(reached), exact, singular_values)


def _modular_trace(model, point) -> LieTrace:
    arithmetic = _Arithmetic(True, point)
    rank_laws = modular_rank(gradients_at(law_terms(model), point)) if law_terms(model).n_polys else 0
    dims, reached = trace_levels(gradient_fields(lifted_terms(model), to_modular), model.n_params,
                                 model.n_params - rank_laws, arithmetic, _ModularEchelon())
    return make_trace(model, dims, rank_laws, reached, True)


def lie_trace(model, theta=None, *, exact: bool = True, seed=0) -> LieTrace:
    """dim Lie(W_phi) at a point and the number of conservation laws N = D - dim (main_paper §6).

    ``model``: ReLUNet, DAGReLUNet, LinearNet or PolynomialMap. ``exact=True`` (default): exact
    arithmetic in F_p, p = 2^61 - 1, at a random point drawn from ``seed`` (``theta`` must be
    None); a wrong answer has probability < 1e-9 (module docstring). ``exact=False``: float64 at
    ``theta`` (default: ``model.init(seed)``), with the singular values of the values considered.
    Returns a ``LieTrace``. Raises ValueError when the polynomial fields would exceed
    ``config.max_bytes``.
    """
    point, theta = prepare(model, theta, exact, seed)
    return _modular_trace(model, point) if exact else float_trace(model, theta)


def counting_functions(lie_trace_function) -> tuple:
    """``count_conservation_laws`` and ``known_laws_complete`` built on a backend's lie_trace."""

    def count_conservation_laws(model, theta=None, **options) -> int:
        """N = D - dim Lie(W_phi)(x), the number of independent conservation laws near a generic
        point (options as for ``lie_trace``)."""
        return lie_trace_function(model, theta, **options).n_laws

    def known_laws_complete(model, theta=None, **options) -> bool:
        """Whether the known laws (shared/API.md) are all the laws: rank of their gradients at the
        point == D - dim Lie(W_phi) (options as for ``lie_trace``)."""
        return lie_trace_function(model, theta, **options).known_laws_complete

    return count_conservation_laws, known_laws_complete


count_conservation_laws, known_laws_complete = counting_functions(lie_trace)

__all__ = ["LIE_MAX_WORK", "LieTrace", "lie_trace", "count_conservation_laws", "known_laws_complete", "polynomial_laws",
           "PolynomialMap", "PolynomialLaws"]
