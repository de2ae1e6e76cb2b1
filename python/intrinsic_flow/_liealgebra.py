"""The Lie-algebra trace shared by both backends (the algorithm: ``intrinsic_flow.reference.lie``):
polynomial vector fields and their brackets, the level iteration with a modular or float
echelon form, the work budget, input preparation and the float mode (``exact=False``), which
both backends run in NumPy.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _checks
from ._kinds import require
from ._rank import numerical_rank, singular_gap
from .polynomial import MODULUS, gradient_fields, law_terms, lifted_terms, random_point, table_jacobian, to_modular
from ._typing import ArrayLike, Model
from .results import LieTrace


FLOAT_RTOL = 1e-9
"""Float mode: a value raises the rank when its residual exceeds FLOAT_RTOL times its norm."""


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
    require(model, "lie_trace", "lie_trace")
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


def structural_trace(model, seed: int):
    """SharedReLUNet, exact mode: level 0 without polynomials or paths, or None.

    At a point with no zero parameter, rank dphi is a property of the graph and the sharing
    (``_shared.exact_rank``, exact integer reasoning), which is the generic rank; the known laws'
    gradients 2 s_c(i) theta_i have the rank of the integer sign matrix s. When the first reaches
    D minus the second the count is complete at level 0 (N = D - rank dphi), whatever the size of
    the model: no D^3 budget applies. Otherwise the polynomial trace runs as for every model."""
    from ._shared import exact_rank

    if model.has_max:
        return None  # the polynomial route refuses it with its message
    rng = np.random.default_rng(seed)
    theta = rng.uniform(0.5, 1.5, model.n_params) * rng.choice([-1.0, 1.0], model.n_params)  # no zero
    rank_lift = exact_rank(model.structure, theta)
    signs = model.structure.law_signs
    rank_laws = int(np.linalg.matrix_rank(signs)) if signs.size else 0  # small integer matrix: exact
    if rank_lift != model.n_params - rank_laws:
        return None
    return make_trace(model, [rank_lift], rank_laws, True, True)


def make_trace(model, dims, rank_laws, reached, exact, singular_values=None) -> LieTrace:
    dim = dims[-1]
    return LieTrace(list(int(d) for d in dims), int(dim), model.n_params, model.n_params - int(dim),
                    bool(dim == dims[0]), int(dims[0]), int(rank_laws), bool(reached), exact, singular_values)


class LieFrontEnd:
    """The public conservation-law counts, written once over a backend's kernel
    ``modular_trace(model, point) -> LieTrace`` (exact mode at a point of F_p^D) and
    ``run(n_threads, call)``; the float mode (``float_trace``) is shared NumPy code."""

    def __init__(self, modular_trace: Callable[[Any, Any], LieTrace],
                 run: Callable[[int | None, Callable[[], Any]], Any]) -> None:
        self._modular_trace, self._run = modular_trace, run

    def _trace(self, model: Model, theta: ArrayLike | None, exact: bool, seed: int) -> LieTrace:
        if exact is True and theta is None and getattr(model, "kind", None) == "shared":
            quick = structural_trace(model, _checks.nonnegative_int(seed, "seed"))
            if quick is not None:  # level 0 already reaches D - rank of the known laws
                return quick
        point, theta = prepare(model, theta, exact, seed)
        return self._modular_trace(model, point) if exact else float_trace(model, theta)

    def lie_trace(self, model: Model, theta: ArrayLike | None = None, *, exact: bool = True, seed: int = 0,
                  n_threads: int | None = None) -> LieTrace:
        r"""dim Lie(W_phi) at a point and the number of conservation laws N = D - dim.

        :math:`W_\phi` is spanned by the fields :math:`\nabla\phi_q`, :math:`q = 1, \dots, d`. The
        trace computes the levels

        .. math::

            W_0 &= W_\phi, \qquad W_{k+1} = W_k + [W_0, W_k],

            {}[f, g] &= Dg\, f - Df\, g,

        at one point x until a level adds nothing, or until the dimension reaches D minus the rank
        of the known laws' gradients (then the known laws are complete);
        :math:`\dim \mathrm{Lie}(W_\phi)(x)` is the last dimension and

        .. math::

            N = D - \dim \mathrm{Lie}(W_\phi)(x)

        the number of independent conservation laws near a generic point.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet or PolynomialMap
            The model; D = ``model.n_params``.
        theta : array_like of shape (D,), optional
            The point of the float mode (default: ``model.init(seed)``); must be None with
            ``exact=True``.
        exact : bool, default True
            True: exact arithmetic in F_p, p = 2^61 - 1, at a random point drawn from ``seed``; a
            wrong answer has probability < 1e-9 (see ``intrinsic_flow.reference.lie``). False:
            float64 at ``theta``, with the singular values of the values considered.
        seed : int, default 0
            Non-negative seed of the random point (or of ``model.init`` in the float mode).
        n_threads : int, optional
            Threads of the core's loops for this call (None: the process-wide
            ``set_num_threads``).

        Returns
        -------
        LieTrace
            ``dims_by_depth`` (one dimension per level), ``dim``, ``n_laws`` = D - dim and the
            ranks behind them.

        Raises
        ------
        ValueError
            When the model has no polynomial form for the trace (e.g. LinearNeuralODE), exact is
            not a bool, theta is given with ``exact=True`` or does not fit the model, the seed is
            not a non-negative integer, the polynomial fields or brackets would exceed
            ``config.max_bytes``, or D^3 exceeds ``LIE_MAX_WORK``.

        See Also
        --------
        count_conservation_laws, known_laws_complete, polynomial_laws

        Notes
        -----
        The algorithm and its error bound: ``docs/theory/laws.md``.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> trace = itf.lie_trace(itf.LinearNet([2, 2, 2]))
        >>> trace.dims_by_depth, trace.dim, trace.n_params, trace.n_laws
        ([4, 5], 5, 8, 3)
        >>> trace.frobenius, trace.known_laws_complete
        (False, True)
        >>> itf.lie_trace(itf.LinearNet([2, 2, 2]), exact=False).n_laws
        3
        """
        return self._run(n_threads, lambda: self._trace(model, theta, exact, seed))

    def count_conservation_laws(self, model: Model, theta: ArrayLike | None = None, *, exact: bool = True,
                                seed: int = 0, n_threads: int | None = None) -> int:
        r"""N = D - dim Lie(W_phi)(x), the number of independent conservation laws near a generic
        point (options as for ``lie_trace``).

        .. math::

            N = D - \dim \mathrm{Lie}(W_\phi)(x).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet or PolynomialMap
            The model; D = ``model.n_params``.
        theta : array_like of shape (D,), optional
            The point of the float mode (``exact=False`` only).
        exact : bool, default True
            Exact arithmetic in F_p at a random point (True) or float64 at ``theta``.
        seed : int, default 0
            Seed of the random point.
        n_threads : int, optional
            Threads of the core's loops for this call.

        Returns
        -------
        int
            N, ``lie_trace(...).n_laws``.

        Raises
        ------
        ValueError
            As ``lie_trace``.

        See Also
        --------
        lie_trace, polynomial_laws

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> itf.count_conservation_laws(itf.ReLUNet([2, 3, 1]))
        3
        >>> xy_yz = itf.PolynomialMap([{(1, 1, 0): 1}, {(0, 1, 1): 1}], 3)  # (x0 x1, x1 x2)
        >>> itf.count_conservation_laws(xy_yz)
        1
        """
        return self.lie_trace(model, theta, exact=exact, seed=seed, n_threads=n_threads).n_laws

    def known_laws_complete(self, model: Model, theta: ArrayLike | None = None, *, exact: bool = True,
                            seed: int = 0, n_threads: int | None = None) -> bool:
        r"""Whether the known laws are all the laws: rank of their gradients at the point
        == D - dim Lie(W_phi) (options as for ``lie_trace``).

        .. math::

            \operatorname{rank} \partial h(x) = D - \dim \mathrm{Lie}(W_\phi)(x).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet or PolynomialMap
            The model; D = ``model.n_params``.
        theta : array_like of shape (D,), optional
            The point of the float mode (``exact=False`` only).
        exact : bool, default True
            Exact arithmetic in F_p at a random point (True) or float64 at ``theta``.
        seed : int, default 0
            Seed of the random point.
        n_threads : int, optional
            Threads of the core's loops for this call.

        Returns
        -------
        bool
            ``lie_trace(...).known_laws_complete``; always False for a PolynomialMap with laws
            (it has no known laws).

        Raises
        ------
        ValueError
            As ``lie_trace``.

        See Also
        --------
        lie_trace, count_conservation_laws

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> itf.known_laws_complete(itf.ReLUNet([2, 3, 1]))
        True
        >>> itf.known_laws_complete(itf.PolynomialMap([{(1, 1, 0): 1}, {(0, 1, 1): 1}], 3))
        False
        """
        return self.lie_trace(model, theta, exact=exact, seed=seed, n_threads=n_threads).known_laws_complete
