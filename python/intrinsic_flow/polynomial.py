"""Polynomial maps phi and the polynomial form of every model (shared by both backends).

Every model of the library has a polynomial phi: monomials for the path-lifting
(phi_p = prod_{e in p} theta_e, docs/theory/lifting.md), sums of products for linear networks
((W_L ... W_1)[i, j], §4.1). ``PolynomialMap`` lets a user give their own phi. The Lie-algebra
counts (``lie_trace``) and the polynomial-law search (``polynomial_laws``) work on one
representation for all of them, a ``TermTable``: one row per term, with the polynomial it belongs
to, its coefficient and its monomial written as the sorted multiset of its variables
(x_0^2 x_3 is ``(0, 0, 3)``), padded with -1.

Exact arithmetic is done modulo the Mersenne prime ``MODULUS`` = 2^61 - 1 (see ``lie_trace``).
"""
from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Mapping, NamedTuple, Sequence

import numpy as np

from . import _checks
from ._extras import install_hint
from ._derived import Derived
from ._graph import longest_path, path_table
from ._typing import Array, Model
from .results import PolynomialLaws
from ._checks import POLY_MAX_DEGREE  # noqa: F401 - documented here, checked in _checks

MODULUS = 2**61 - 1


# -- a user's own polynomial phi ---------------------------------------------------------------
@dataclass(frozen=True)
class PolynomialMap:
    r"""phi: R^n_vars -> R^d given by d polynomials; a model like the networks (kind "poly").

    .. math::

        \phi_q(\theta) = \sum_{\alpha} c_{q,\alpha}\, \theta_0^{\alpha_0} \cdots \theta_{n-1}^{\alpha_{n-1}},
        \qquad q = 1, \dots, d,

    with n = ``n_vars``.

    ``polys``: a sequence of d polynomials, each a dict ``{exponent tuple: coefficient}``
    (:math:`\alpha \mapsto c_{q,\alpha}`) with exponent tuples of length ``n_vars``
    (``{(1, 1, 1): 1}`` is :math:`x_0 x_1 x_2`). Coefficients are
    integers, fractions or finite floats (floats are read exactly as the binary fractions they
    are). Zero coefficients are dropped. ``PolynomialMap.from_sympy`` builds one from SymPy
    expressions. theta is the vector of the n_vars variables; there are no known laws.
    A monomial's total degree is at most ``POLY_MAX_DEGREE`` = 1000 (larger ones are refused:
    terms are stored as lists of their variables, and the exact Lie count's error bound grows
    with the degree).

    Parameters
    ----------
    polys : sequence of d dicts {tuple of n_vars ints: coefficient}
        phi_q = sum over the terms of coefficient * prod_v x_v^exponent_v, q = 1..d.
    n_vars : int
        Number of variables: D = ``n_params`` = n_vars, theta of shape (n_vars,).

    Attributes
    ----------
    polys : tuple of d tuples
        The validated polynomials, each a sorted tuple of (exponent tuple, coefficient) pairs
        (zero coefficients dropped); ``as_dicts()`` gives them as dicts.
    n_vars, n_params : int
        The number of variables D.
    n_lifted : int
        The number of polynomials d.
    n_known_laws : int
        0: a user's map has no known laws.
    kind : str
        "poly".

    Raises
    ------
    ValueError
        When n_vars is not a positive integer, polys is not a non-empty sequence of dicts, an
        exponent tuple does not have length n_vars or has an entry that is not a non-negative
        integer, a coefficient is not an integer, fraction or finite float, or a total degree
        exceeds ``POLY_MAX_DEGREE``.

    See Also
    --------
    lie_trace, polynomial_laws

    Notes
    -----
    The lifting and its geometry: ``docs/theory/lifting.md``.

    Examples
    --------
    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> phi = itf.PolynomialMap([{(1, 1, 0): 1}, {(0, 1, 1): 1}], 3)  # (x0 x1, x1 x2)
    >>> phi.n_params, phi.n_lifted, phi.n_known_laws
    (3, 2, 0)
    >>> itf.lift(phi, np.array([1.0, 2.0, 3.0]))
    array([2., 6.])
    >>> itf.count_conservation_laws(phi)
    1
    """

    polys: Sequence[Mapping[tuple[int, ...], Any]]
    n_vars: int
    kind = "poly"

    def __post_init__(self) -> None:
        n_vars, polys = _checks.polynomials(self.polys, self.n_vars)
        object.__setattr__(self, "n_vars", n_vars)
        object.__setattr__(self, "polys", polys)

    @classmethod
    def from_sympy(cls, expressions, symbols) -> "PolynomialMap":
        """From SymPy expressions polynomial in ``symbols`` (the variables, in theta order).

        Needs SymPy (``pip install "intrinsic-flow[sympy]"``, from a source checkout
        ``pip install ".[sympy]"``); coefficients must be rational.
        """
        try:
            import sympy
        except ImportError:  # pragma: no cover - exercised only without sympy
            raise ImportError(f"PolynomialMap.from_sympy needs SymPy: {install_hint('sympy')}") from None
        symbols = list(symbols)
        polys = []
        for expression in expressions:
            poly = sympy.Poly(sympy.sympify(expression), *symbols)
            terms = {}
            for exponents, coefficient in poly.terms():
                if not coefficient.is_Rational:
                    raise ValueError(f"coefficients must be rational, got {coefficient} in {expression}")
                terms[tuple(int(e) for e in exponents)] = Fraction(int(coefficient.p), int(coefficient.q))
            polys.append(terms)
        return cls(polys, len(symbols))

    @property
    def n_params(self) -> int:
        return self.n_vars

    @property
    def n_lifted(self) -> int:
        return len(self.polys)

    n_hidden = 0
    n_known_laws = 0

    def as_dicts(self) -> list:
        """The polynomials as dicts {exponent tuple: coefficient}."""
        return [dict(poly) for poly in self.polys]

    @classmethod
    def from_model(cls, model) -> "PolynomialMap":
        """phi of a ReLUNet, DAGReLUNet or LinearNet as a user's polynomial map (same variables
        and order; a PolynomialMap has no known laws, so lie_trace runs without early stop)."""
        return cls(table_as_dicts(lifted_terms(model), model.n_params), model.n_params)

    def init(self, rng: np.random.Generator | int | None = None, scheme: str = "gaussian") -> Array:
        """Standard Gaussian theta of shape (n_vars,) (``scheme`` "gaussian" only)."""
        if scheme != "gaussian":
            raise ValueError(f"PolynomialMap supports init scheme 'gaussian' only, got {scheme!r}")
        return _checks.resolve_rng(rng).standard_normal(self.n_vars)

    def unflatten(self, theta) -> np.ndarray:
        """theta itself, validated (shape (n_vars,)): the variables have no structure to split."""
        return _checks.theta(self, theta)

    def flatten(self, theta) -> np.ndarray:
        """Inverse of ``unflatten``: theta itself, validated."""
        return _checks.theta(self, theta)


# -- one representation for every model --------------------------------------------------------
class TermTable(NamedTuple):
    """Polynomials as rows of terms: term t belongs to polynomial ``poly[t]``, has coefficient
    ``coeff[t]`` (int or Fraction) and monomial ``monomials[t]``: its variables sorted, repeated
    by their power, padded with -1; shape (T, max degree) (at least one column)."""

    n_vars: int
    n_polys: int
    poly: np.ndarray
    coeff: list
    monomials: np.ndarray

    @property
    def n_terms(self) -> int:
        return len(self.coeff)


def table_as_dicts(table: TermTable, n_vars: int) -> list:
    """The polynomials of a table as dicts {exponent tuple: coefficient} (like terms added)."""
    polys = [{} for _ in range(table.n_polys)]
    for q, coefficient, monomial in zip(table.poly, table.coeff, table.monomials):
        exponents = [0] * n_vars
        for v in monomial[monomial >= 0]:
            exponents[v] += 1
        polys[q][tuple(exponents)] = polys[q].get(tuple(exponents), 0) + coefficient
    return polys


def table_values(table: TermTable, theta: np.ndarray) -> np.ndarray:
    """The polynomials of the table at theta in float64, shape (n_polys,)."""
    factors = np.append(theta, 1.0)[table.monomials]  # the -1 padding reads the appended 1
    out = np.zeros(table.n_polys)
    np.add.at(out, table.poly, np.array([float(c) for c in table.coeff]) * np.prod(factors, axis=1))
    return out


def table_jacobian(table: TermTable, theta: np.ndarray) -> np.ndarray:
    """dP_q/dtheta_v at theta in float64, shape (n_polys, n_vars): the product rule over the
    factors of each monomial (a power appears as repeated factors), prefix times suffix."""
    _checks.check_size(float(table.n_polys) * (table.n_vars + 1) + 4.0 * table.monomials.size,
                       "the Jacobian of the polynomials (d x D) and its product-rule factors")
    factors = np.append(theta, 1.0)[table.monomials]
    ones = np.ones((factors.shape[0], 1))
    prefix = np.cumprod(np.hstack([ones, factors[:, :-1]]), axis=1)
    suffix = np.cumprod(np.hstack([ones, factors[:, :0:-1]]), axis=1)[:, ::-1]
    others = prefix * suffix * np.array([float(c) for c in table.coeff])[:, None]
    jac = np.zeros((table.n_polys, table.n_vars + 1))
    columns = np.where(table.monomials < 0, table.n_vars, table.monomials)
    np.add.at(jac, (np.broadcast_to(table.poly[:, None], columns.shape), columns), others)
    return jac[:, :-1]


def _table_from_dicts(polys, n_vars: int) -> TermTable:
    rows, coeffs, monos = [], [], []
    for q, poly in enumerate(polys):
        for exponents, coefficient in poly.items() if isinstance(poly, dict) else poly:
            rows.append(q)
            coeffs.append(coefficient)
            monos.append([v for v, e in enumerate(exponents) for _ in range(e)])
    degree = max([len(m) for m in monos] + [1])
    _checks.check_size(float(len(monos)) * degree, "the table of monomials")
    table = np.full((len(monos), degree), -1, dtype=np.int64)
    for t, mono in enumerate(monos):
        table[t, : len(mono)] = mono
    return TermTable(n_vars, len(polys), np.asarray(rows, dtype=np.int64), coeffs, table)


def _sorted_padded(table: np.ndarray) -> np.ndarray:
    """Sort each row's variables, keeping the -1 padding at the end."""
    big = np.iinfo(np.int64).max
    ordered = np.sort(np.where(table < 0, big, table), axis=1)
    return np.where(ordered == big, -1, ordered)


def _linear_chains(widths) -> tuple:
    """Monomials of (W_L ... W_1)[i, j]: one per chain j = i_0, i_1, ..., i_L = i of neurons.

    Returns (poly index i * d_0 + j per chain, (chains, L) parameter indices of W_l[i_l, i_{l-1}])."""
    offsets = np.cumsum([0] + [widths[l] * widths[l - 1] for l in range(1, len(widths))])
    chains = np.indices(widths).reshape(len(widths), -1)  # row l: i_l, C order over (i_0, ..., i_L)
    params = np.stack([offsets[l - 1] + chains[l] * widths[l - 1] + chains[l - 1] for l in range(1, len(widths))], axis=1)
    return chains[-1] * widths[0] + chains[0], params


@functools.lru_cache(maxsize=32)
def lifted_terms(model) -> TermTable:
    """The polynomials phi_1..phi_d of a model (ReLUNet, DAGReLUNet, LinearNet, PolynomialMap)."""
    if model.kind == "poly":
        return _table_from_dicts(model.polys, model.n_vars)
    if model.kind == "path":
        length = max(longest_path(model.graph), 1)
        _checks.check_size(float(model.n_lifted) * length * (length + 2), "the polynomial fields of phi (one per path)")

        table = path_table(model.graph)
        table[table == model.n_params] = -1
        table = _sorted_padded(table)
        return TermTable(model.n_params, table.shape[0], np.arange(table.shape[0]), [1] * table.shape[0], table)
    if model.kind == "shared":  # phi_p = (product of the fixed weights) x prod of the parameters along p
        if model.has_max:
            raise ValueError("SharedReLUNet with max neurons has no polynomial path-lifting (only path_norm "
                             "accepts it)")
        graph = model.edge_graph
        length = max(longest_path(graph), 1)
        _checks.check_size(float(model.n_lifted) * length * (length + 2), "the polynomial fields of phi (one per path)")
        table = path_table(graph)
        structure = model.structure
        kept = structure.kept  # the edge graph's edge k is the model's edge kept[k]
        edge_param = np.append(structure.param[kept], -1)  # the padding reads "no parameter"
        fixed_weight = np.append(np.where(structure.fixed, structure.weight, 1.0)[kept], 1.0)
        coefficients = [Fraction(float(c)) for c in np.prod(fixed_weight[table], axis=1)]
        keep = [k for k, c in enumerate(coefficients) if c != 0]
        params = _sorted_padded(edge_param[table][keep])
        return TermTable(model.n_params, table.shape[0], np.asarray(keep, dtype=np.int64),
                         [coefficients[k] for k in keep], params)
    if model.kind == "linear":
        length = len(model.widths) - 1
        _checks.check_size(float(np.prod(model.widths, dtype=float)) * length * (length + 2),
                           "the polynomial fields of phi")
        poly, params = _linear_chains(model.widths)
        order = np.argsort(poly, kind="stable")
        return TermTable(model.n_params, model.n_lifted, poly[order], [1] * len(order), _sorted_padded(params[order]))
    raise ValueError(f"no polynomial form for {type(model).__name__}")


@functools.lru_cache(maxsize=32)
def law_terms(model) -> TermTable:
    """The known conservation laws h of a model as polynomials (order of docs/theory/lifting.md); none for
    a PolynomialMap."""
    polys = []
    if model.kind == "path":
        src, dst = np.asarray(model.graph.param_src), np.asarray(model.graph.param_dst)
        for v in model.graph.hidden:  # h_v = |in(v)|^2 - |out(v)|^2, docs/theory/laws.md
            polys.append([((e, e), 1) for e in np.flatnonzero(dst == v)] + [((e, e), -1) for e in np.flatnonzero(src == v)])
    elif model.kind == "shared":  # h_c = sum_i s_c(i) theta_i^2, one per channel
        for signs in model.structure.law_signs:
            polys.append([((int(i), int(i)), int(signs[i])) for i in np.flatnonzero(signs)])
    elif model.kind == "linear":
        w = model.widths
        offsets = np.cumsum([0] + [w[l] * w[l - 1] for l in range(1, len(w))])
        for l in range(1, len(w) - 1):  # H_l = W_{l+1}^T W_{l+1} - W_l W_l^T, upper triangle row by row
            lower, upper = offsets[l - 1], offsets[l]
            for i, j in zip(*np.triu_indices(w[l])):
                terms = [((upper + a * w[l] + i, upper + a * w[l] + j), 1) for a in range(w[l + 1])]
                terms += [((lower + i * w[l - 1] + b, lower + j * w[l - 1] + b), -1) for b in range(w[l - 1])]
                polys.append(terms)
    rows, coeffs, monos = [], [], []
    for q, terms in enumerate(polys):
        for mono, coefficient in terms:
            rows.append(q)
            coeffs.append(coefficient)
            monos.append(sorted(int(v) for v in mono))
    table = np.asarray(monos, dtype=np.int64).reshape(len(monos), 2) if monos else np.full((0, 1), -1, dtype=np.int64)
    return TermTable(model.n_params, len(polys), np.asarray(rows, dtype=np.int64), coeffs, table)


# -- exact arithmetic modulo MODULUS ---------------------------------------------------------
def to_modular(coefficient) -> int:
    """A rational coefficient as an element of F_p, p = MODULUS."""
    value = Fraction(coefficient)
    denominator = value.denominator % MODULUS
    if denominator == 0:
        raise ValueError(f"coefficient {coefficient} has a denominator divisible by 2^61 - 1")
    return value.numerator * pow(denominator, -1, MODULUS) % MODULUS


def random_point(n_vars: int, seed) -> list:
    """A point of F_p^n_vars with coordinates uniform in 1..p-1, from numpy's default_rng(seed)."""
    rng = np.random.default_rng(_checks.nonnegative_int(seed, "seed"))
    return [int(v) for v in rng.integers(1, MODULUS, size=n_vars, dtype=np.int64)]


def modular_rank(rows: list) -> int:
    """Rank over F_p of a list of vectors (lists of ints), by Gaussian elimination."""
    echelon = {}
    for row in rows:
        row = [v % MODULUS for v in row]
        for pivot, reduced in echelon.items():
            if row[pivot]:
                factor = row[pivot]
                row = [(a - factor * b) % MODULUS for a, b in zip(row, reduced)]
        pivot = next((k for k, v in enumerate(row) if v), None)
        if pivot is not None:
            inverse = pow(row[pivot], -1, MODULUS)
            echelon[pivot] = [v * inverse % MODULUS for v in row]
    return len(echelon)


def gradient_fields(table: TermTable, coefficient=Fraction) -> list:
    """grad P_q for every polynomial of the table, as sparse vector fields: dicts
    {(component v, monomial): coefficient}, monomials as sorted tuples of variables (with repeats).
    ``coefficient`` maps a table coefficient into the working field (Fraction, F_p, float)."""
    fields = [dict() for _ in range(table.n_polys)]
    for q, c, mono in zip(table.poly, table.coeff, table.monomials):
        variables = [int(v) for v in mono if v >= 0]
        for k, v in enumerate(variables):
            if k and variables[k - 1] == v:
                continue  # d/dx_v x_v^m = m x_v^(m-1), once per distinct variable
            key = (v, tuple(variables[:k] + variables[k + 1:]))
            fields[q][key] = fields[q].get(key, 0) + coefficient(c) * variables.count(v)
    return fields


def gradients_at(table: TermTable, point) -> list:
    """Rows dP_q/dx at a point of F_p^n_vars for every polynomial of the table (lists of ints)."""
    rows = [[0] * table.n_vars for _ in range(table.n_polys)]
    for q, field in enumerate(gradient_fields(table, to_modular)):
        for (v, mono), c in field.items():
            value = c
            for u in mono:
                value = value * point[u] % MODULUS
            rows[q][v] = (rows[q][v] + value) % MODULUS
    return rows


# -- polynomial conservation laws (docs/theory/laws.md) ------------------------------------------
def _exponents(n_vars: int, degree: int):
    """Exponent tuples of the monomials of exactly ``degree`` in n_vars variables."""
    for combo in itertools.combinations_with_replacement(range(n_vars), degree):
        exponents = [0] * n_vars
        for v in combo:
            exponents[v] += 1
        yield tuple(exponents)


def _independent_rows_modular(rows: list) -> list:
    """Indices of rows (sparse dicts unknown -> int) independent over F_p, greedily in order.

    Rows independent mod p are independent over Q, so the rational elimination can run on them
    alone; ``_rational_kernel`` checks the result against every row and falls back to all rows."""
    echelon: dict = {}  # pivot -> reduced row (dict), over F_p
    chosen = []
    for index, row in enumerate(rows):
        row = {k: v % MODULUS for k, v in row.items() if v % MODULUS}
        for pivot, reduced in echelon.items():
            factor = row.get(pivot)
            if factor:
                for k, v in reduced.items():
                    row[k] = (row.get(k, 0) - factor * v) % MODULUS
                row = {k: v for k, v in row.items() if v}
        if row:
            pivot = min(row)
            inverse = pow(row[pivot], -1, MODULUS)
            echelon[pivot] = {k: v * inverse % MODULUS for k, v in row.items()}
            chosen.append(index)
    return chosen


def _rational_kernel(columns: list, n_unknowns: int) -> list:
    """Kernel over Q of the linear system whose column k is the sparse dict ``columns[k]``
    (row key -> integer). Returns a list of integer vectors (dicts), one per free unknown."""
    by_key: dict = {}
    for k, column in enumerate(columns):
        for key, value in column.items():
            by_key.setdefault(key, {})[k] = Fraction(value)
    rows = []
    for row in by_key.values():  # each equation scaled to integer coefficients
        scale = functools.reduce(math.lcm, [v.denominator for v in row.values()], 1)
        rows.append({k: int(v * scale) for k, v in row.items()})
    basis = _rational_kernel_of([rows[i] for i in _independent_rows_modular(rows)], n_unknowns)
    if all(sum(v * row.get(k, 0) for k, v in vector.items()) == 0 for vector in basis for row in rows):
        return basis
    return _rational_kernel_of(rows, n_unknowns)  # pragma: no cover - only if p divides a minor


def _rational_kernel_of(rows: list, n_unknowns: int) -> list:
    """Kernel over Q of the given rows by reduced row echelon form with Fractions."""
    pivots: dict = {}  # pivot unknown -> reduced row (dict unknown -> Fraction), fully reduced
    for row in rows:
        row = {k: Fraction(v) for k, v in row.items()}
        for pivot, reduced in pivots.items():
            factor = row.get(pivot)
            if factor:
                for k, v in reduced.items():
                    row[k] = row.get(k, 0) - factor * v
                row = {k: v for k, v in row.items() if v}
        if not row:
            continue
        pivot = min(row)
        scale = row[pivot]
        row = {k: v / scale for k, v in row.items()}
        for other, reduced in pivots.items():
            factor = reduced.get(pivot)
            if factor:
                for k, v in row.items():
                    reduced[k] = reduced.get(k, 0) - factor * v
                pivots[other] = {k: v for k, v in reduced.items() if v}
        pivots[pivot] = row
    basis = []
    for free in range(n_unknowns):
        if free in pivots:
            continue
        vector = {free: Fraction(1)}
        for pivot, row in pivots.items():
            if row.get(free):
                vector[pivot] = -row[free]
        denominators = [v.denominator for v in vector.values()]
        lcm = functools.reduce(math.lcm, denominators, 1)
        integers = {k: int(v * lcm) for k, v in vector.items()}
        divisor = functools.reduce(math.gcd, [abs(v) for v in integers.values()])
        basis.append({k: v // divisor for k, v in integers.items()})
    return basis


def polynomial_laws(model: Model, degree: int, *, inhomogeneous: bool = False, seed: int = 0) -> PolynomialLaws:
    r"""Every polynomial conservation law of ``degree`` (docs/theory/laws.md).

    Solves, over :math:`\mathbb{Q}` and exactly, the linear system

    .. math::

        \langle \nabla P(\theta), \nabla \phi_q(\theta) \rangle = 0
        \quad \text{identically in } \theta, \qquad q = 1, \dots, d,

    on the coefficients of a generic polynomial P: homogeneous of ``degree``, or of
    every degree 0..degree with ``inhomogeneous=True``. Returns a ``PolynomialLaws`` list: a basis
    of the solutions as dicts {exponent tuple (length D): integer coefficient}, each scaled to
    coprime integers, and ``n_independent``, the rank of their gradients at a random point of F_p
    (``seed``), the number of functionally independent laws among them (constants count 0).

    Parameters
    ----------
    model : ReLUNet, DAGReLUNet, LinearNet or PolynomialMap
        The model; D = ``model.n_params``.
    degree : int
        Non-negative degree of the laws, at most ``POLY_MAX_DEGREE``.
    inhomogeneous : bool, default False
        Search every degree 0..degree instead of ``degree`` alone.
    seed : int, default 0
        Non-negative seed of the random point of F_p behind ``n_independent``.

    Returns
    -------
    PolynomialLaws
        A list of the basis laws, dicts {exponent tuple (length D): integer coefficient}, with
        ``degree``, ``inhomogeneous`` and ``n_independent``.

    Raises
    ------
    ValueError
        When degree is not a non-negative integer or exceeds ``POLY_MAX_DEGREE``, inhomogeneous
        is not a bool, n^2 exceeds ``LAWS_MAX_WORK``, or the linear system would exceed
        ``config.max_bytes``.

    See Also
    --------
    count_conservation_laws, lie_trace

    Notes
    -----
    Cost: the unknowns are the n = C(D + degree - 1, degree) monomials of P (summed over the
    degrees with ``inhomogeneous``); the exact elimination costs about n^2 operations, and a request
    with n^2 > ``LAWS_MAX_WORK`` (module constant, about a minute) is refused before any work, as
    is a linear system beyond ``config.max_bytes``. For instance ReLUNet([3, 4, 2]) (D = 20) takes
    0.5 s at degree 3 and 20 s at degree 4; degree 5 (n = 42504) is refused.

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> phi = itf.PolynomialMap([{(1, 1, 0): 1}, {(0, 1, 1): 1}], 3)  # (x0 x1, x1 x2)
    >>> laws = itf.polynomial_laws(phi, 2)
    >>> laws  # x0^2 - x1^2 + x2^2
    PolynomialLaws([{(2, 0, 0): 1, (0, 2, 0): -1, (0, 0, 2): 1}], degree=2, n_independent=1)
    >>> len(itf.polynomial_laws(itf.ReLUNet([2, 3, 1]), 2))
    3
    """
    degree = _checks.nonnegative_int(degree, "degree")
    if degree > _checks.POLY_MAX_DEGREE:
        raise ValueError(f"degree = {degree} is more than the supported bound POLY_MAX_DEGREE = {_checks.POLY_MAX_DEGREE}")
    inhomogeneous = _checks.boolean(inhomogeneous, "inhomogeneous")
    D = model.n_params
    degrees = range(degree + 1) if inhomogeneous else [degree]
    n_unknowns = sum(_binomial(D + k - 1, k) for k in degrees)
    check_laws_budget(n_unknowns, D, degree)
    lifted = lifted_terms(model)
    _checks.check_size(n_unknowns * max(lifted.n_terms, 1) * 4, "the polynomial-law linear system")
    fields = _gradient_terms(lifted)
    unknowns = [e for k in degrees for e in _exponents(D, k)]
    columns = []
    for exponents in unknowns:
        column: dict = {}
        for v, power in enumerate(exponents):
            if not power:
                continue  # d/dx_v x^e = e_v x^(e - 1_v), times component v of each field
            for q, mono, coefficient in fields.get(v, ()):
                product = list(exponents)
                product[v] -= 1
                for u in mono:
                    product[u] += 1
                key = (q, tuple(product))
                column[key] = column.get(key, 0) + power * coefficient
        columns.append({k: v for k, v in column.items() if v})
    kernel = _rational_kernel(columns, len(unknowns))
    laws = [{unknowns[k]: v for k, v in sorted(vector.items())} for vector in kernel]
    point = random_point(D, seed)
    law_table = _table_from_dicts(laws, D)
    n_independent = modular_rank(gradients_at(law_table, point)) if laws else 0
    return PolynomialLaws(laws, degree, inhomogeneous, n_independent)


LAWS_MAX_WORK = 2e8
"""Budget of one ``polynomial_laws`` call: n^2 for its n unknown coefficients (the rational
elimination on n unknowns), about a minute. Refused above it, before building the system."""


def check_laws_budget(n_unknowns: int, n_vars: int, degree: int) -> None:
    """Refuse (ValueError naming the size and the knob) a law search whose work exceeds LAWS_MAX_WORK."""
    work = float(n_unknowns) ** 2
    if work > LAWS_MAX_WORK:
        raise ValueError(f"polynomial_laws at degree {degree} in D = {n_vars} variables has {n_unknowns} unknown "
                         f"coefficients, about n^2 = {work:.1e} operations, more than the budget "
                         f"intrinsic_flow.polynomial.LAWS_MAX_WORK = {LAWS_MAX_WORK:.0e}; use a lower degree or a smaller "
                         "model, or raise the budget")


def _binomial(n: int, k: int) -> int:
    from math import comb

    return comb(n, k) if n >= 0 else int(k == 0)


def _gradient_terms(table: TermTable) -> dict:
    """grad phi_q as {component v: [(q, monomial variables, Fraction coefficient), ...]}."""
    by_component: dict = {}
    for q, field in enumerate(gradient_fields(table, Fraction)):
        for (v, mono), c in field.items():
            by_component.setdefault(v, []).append((q, mono, c))
    return by_component


# -- geometry of a PolynomialMap (NumPy; both backends register it) -----------------------------
class PolynomialLifting:
    """lift, jacobian and jacobian_derivative of a PolynomialMap in float64 (no known laws).

    The core has no polynomial kernel: both backends evaluate user polynomials with this class."""

    def __init__(self, model) -> None:
        self.model = model
        self.n_params = model.n_vars
        self.n_lifted = model.n_lifted
        self.table = lifted_terms(model)
        self.poly = self.table.poly
        self.coeff = np.array([float(c) for c in self.table.coeff])
        _checks.check_size(float(self.table.n_terms) * model.n_vars, "the exponents of the polynomial terms")
        self.exponents = np.zeros((self.table.n_terms, model.n_vars))
        for t, mono in enumerate(self.table.monomials):
            for v in mono[mono >= 0]:
                self.exponents[t, v] += 1

    def _monomials(self, theta, exponents):
        return np.prod(np.where(exponents > 0, theta[None, :] ** exponents, 1.0), axis=1)

    def _sum_by_poly(self, values):
        out = np.zeros(self.n_lifted)
        np.add.at(out, self.poly, values)
        return out

    def lift(self, theta):
        return table_values(self.table, theta)

    def jacobian(self, theta):
        return table_jacobian(self.table, theta)

    def jacobian_derivative(self, theta, direction):
        """dJ[v][q, e] = sum_f v_f d^2 phi_q / dtheta_e dtheta_f."""
        djac = np.zeros((self.n_lifted, self.n_params))
        for e in range(self.n_params):
            for f in range(self.n_params):
                if direction[f] == 0.0:
                    continue
                lowered = self.exponents.copy()
                factor = lowered[:, e].copy()
                lowered[:, e] -= 1
                factor = factor * lowered[:, f]
                lowered[:, f] -= 1
                values = self.coeff * factor * self._monomials(theta, np.maximum(lowered, 0)) * (factor > 0)
                djac[:, e] += direction[f] * self._sum_by_poly(values)
        return djac

    def conserved(self, theta):
        return np.zeros(0)

    def conserved_jacobian(self, theta):
        return np.zeros((0, self.n_params))



__all__ = ["PolynomialMap", "PolynomialLaws", "polynomial_laws"]


class PolynomialKernel(PolynomialLifting, Derived):
    """User polynomials: products with J on the table of terms (each term c m(theta), its
    monomial m a product of factors with repeats), O(terms x degree), J never formed."""

    def _others(self, theta):
        """(terms, degree): c times the product of the other factors of the term at each position."""
        factors = np.append(theta, 1.0)[self.table.monomials]  # the -1 padding reads the appended 1
        ones = np.ones((factors.shape[0], 1))
        prefix = np.cumprod(np.hstack([ones, factors[:, :-1]]), axis=1)
        suffix = np.cumprod(np.hstack([ones, factors[:, :0:-1]]), axis=1)[:, ::-1]
        return prefix * suffix * self.coeff[:, None]

    def vjp(self, theta, w):
        """(J^T w)_e = sum_terms w_poly(term) d(term)/d theta_e (product rule over the factors)."""
        columns = np.where(self.table.monomials < 0, self.n_params, self.table.monomials)
        contributions = np.asarray(w)[self.poly][:, None] * self._others(theta)
        return np.bincount(columns.ravel(), contributions.ravel(), minlength=self.n_params + 1)[:-1]

    def jvp(self, theta, v):
        """(J v)_q = sum over the terms of polynomial q of sum_k v_(factor k) (other factors)."""
        moves = np.append(v, 0.0)[self.table.monomials]
        out = np.zeros(self.n_lifted)
        np.add.at(out, self.poly, np.sum(self._others(theta) * moves, axis=1))
        return out
