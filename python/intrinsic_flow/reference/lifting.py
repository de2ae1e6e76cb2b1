"""Path-lifting of ReLU networks in plain NumPy (mirrors cpp/lifting).

phi_p(theta) = prod_{e in p} theta_e over the parameters along path p (docs/theory/lifting.md).
Paths are listed once per model as a padded table of parameter indices.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_size
from .._graph import (BALANCE_MAX_SWEEPS, BALANCE_TOLERANCE, balance, in_out_params, path_table, paths,  # noqa: F401
                      times_exp, topological_order, unit_geometric_scale)


class PathLifting:
    """The geometry of phi for a model described by a ``PathGraph`` (see models.py)."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self.n_params = len(graph.param_dst)
        src, dst = np.asarray(graph.param_src, dtype=int), np.asarray(graph.param_dst, dtype=int)
        self.src, self.dst = src, dst
        self.hidden = graph.hidden
        self.first_output = graph.first_output
        self.in_params, self.out_params = in_out_params(graph)
        self._table = None

    # -- paths -----------------------------------------------------------------------------
    def paths(self) -> list:
        """Paths as lists of parameter indices: input paths, then bias paths by neuron."""
        return paths(self.graph)

    @property
    def table(self) -> np.ndarray:
        """(d, longest path) parameter indices, padded with n_params (which reads a 1)."""
        if self._table is None:
            self._table = path_table(self.graph)
        return self._table

    @property
    def n_lifted(self) -> int:
        return self.table.shape[0]

    def _factors(self, theta: np.ndarray) -> np.ndarray:
        return np.append(theta, 1.0)[self.table]

    # -- phi and its derivatives -----------------------------------------------------------
    def lift(self, theta: np.ndarray) -> np.ndarray:
        return np.prod(self._factors(theta), axis=1)

    def jacobian(self, theta: np.ndarray) -> np.ndarray:
        """J[p, e] = prod of the other factors of path p (prefix times suffix, no division)."""
        factors = self._factors(theta)
        ones = np.ones((factors.shape[0], 1))
        prefix = np.cumprod(np.hstack([ones, factors[:, :-1]]), axis=1)
        suffix = np.cumprod(np.hstack([ones, factors[:, :0:-1]]), axis=1)[:, ::-1]
        others = prefix * suffix
        jac = np.zeros((factors.shape[0], self.n_params + 1))
        rows = np.arange(factors.shape[0])[:, None]
        jac[rows, self.table] = others
        return jac[:, :-1]

    def _others(self, theta: np.ndarray) -> np.ndarray:
        """(d, longest path): the product of the other factors of path p at each position."""
        factors = self._factors(theta)
        ones = np.ones((factors.shape[0], 1))
        prefix = np.cumprod(np.hstack([ones, factors[:, :-1]]), axis=1)
        suffix = np.cumprod(np.hstack([ones, factors[:, :0:-1]]), axis=1)[:, ::-1]
        return prefix * suffix

    def vjp(self, theta: np.ndarray, w: np.ndarray) -> np.ndarray:
        """(J^T w)_e = sum_{p ∋ e} w_p prod_{g in p, g != e} theta_g, on the path table (J never formed)."""
        contributions = w[:, None] * self._others(theta)
        return np.bincount(self.table.ravel(), contributions.ravel(), minlength=self.n_params + 1)[:-1]

    def jvp(self, theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        """(J v)_p = sum_{e in p} v_e prod_{g in p, g != e} theta_g (padding reads v = 0)."""
        return np.sum(self._others(theta) * np.append(v, 0.0)[self.table], axis=1)

    def jacobian_derivative(self, theta: np.ndarray, direction: np.ndarray) -> np.ndarray:
        """dJ[v][p, e] = sum_{g in p, g != e} v_g prod_{k in p, k != e, g} theta_k."""
        factors = self._factors(theta)
        moves = np.append(direction, 0.0)[self.table]
        length = factors.shape[1]
        derivative = np.zeros_like(factors)
        for e in range(length):
            for g in range(length):
                if g == e:
                    continue
                keep = [k for k in range(length) if k not in (e, g)]
                derivative[:, e] += moves[:, g] * np.prod(factors[:, keep], axis=1)
        djac = np.zeros((factors.shape[0], self.n_params + 1))
        djac[np.arange(factors.shape[0])[:, None], self.table] = derivative
        return djac[:, :-1]

    # -- known laws ------------------------------------------------------------------------
    def conserved(self, theta: np.ndarray) -> np.ndarray:
        """h_v = |incoming weights and bias|^2 - |outgoing weights|^2 per hidden neuron."""
        return np.array([np.sum(theta[self.in_params[v]] ** 2) - np.sum(theta[self.out_params[v]] ** 2)
                         for v in self.hidden])

    def conserved_jacobian(self, theta: np.ndarray) -> np.ndarray:
        jac = np.zeros((len(self.hidden), self.n_params))
        for row, v in enumerate(self.hidden):
            jac[row, self.in_params[v]] = 2.0 * theta[self.in_params[v]]
            jac[row, self.out_params[v]] = -2.0 * theta[self.out_params[v]]
        return jac

    # -- Gram matrix without paths ---------------------------------------------------------
    def gram(self, theta: np.ndarray) -> np.ndarray:
        """G = J^T J from sums of squared weights (docs/theory/lifting.md):

        G_ee = F(src e) B(dst e) and, for e before f on a path,
        G_ef = theta_e theta_f F(src e) N(dst e, src f) B(dst f),
        with F the sum over partial paths from a start, B to an output, N between two neurons.
        """
        n = self.graph.n_neurons
        check_size(n * n + self.n_params ** 2, "the Gram matrix and its path sums")
        squared = theta ** 2
        order = topological_order(self.graph)
        forward, backward = self.path_sums(squared)
        # between[a, b]: sum over paths a -> b of prod theta^2; an extra column for "bias" sources
        between = np.zeros((n, n + 1))
        between[np.arange(n), np.arange(n)] = 1.0
        for b in order:
            edges = [p for p in self.in_params[b] if self.src[p] >= 0]
            if edges:
                between[:, b] += between[:, self.src[edges]] @ squared[edges]
        start = np.where(self.src < 0, 1.0, forward[self.src])
        src_col = np.where(self.src < 0, n, self.src)
        after = start[:, None] * between[self.dst[:, None], src_col[None, :]] * backward[self.dst][None, :]
        gram = (after + after.T) * np.outer(theta, theta)
        gram[np.diag_indices(self.n_params)] = start * backward[self.dst]
        return gram

    def forward_sums(self, a: np.ndarray) -> np.ndarray:
        """The forward sums of ``path_sums`` alone (the path-norm without its gradient)."""
        return self.path_sums(a)[0]

    def path_sums(self, a: np.ndarray) -> tuple:
        """(forward, backward), (n_neurons,) each: forward[v] sums prod a_e over the partial paths
        from a start (an input, or a bias) to v, backward[v] over those from v to an output (as
        path_sums in cpp/path_sums.hpp). With a = theta^2 they build the Gram matrix; with
        a = |theta|^q, sum(forward[outputs]) = ||phi(theta)||_q^q."""
        n = self.graph.n_neurons
        order = topological_order(self.graph)
        forward, backward = np.zeros(n), np.zeros(n)
        for v in order:
            if v < self.graph.n_inputs:
                forward[v] = 1.0
            else:
                p = self.in_params[v]
                forward[v] = np.sum(a[p] * np.where(self.src[p] < 0, 1.0, forward[self.src[p]]))
        for v in reversed(order):
            p = self.out_params[v]
            backward[v] = 1.0 if v >= self.first_output else np.sum(a[p] * backward[self.dst[p]])
        return forward, backward

    def log_path_sums(self, log_w: np.ndarray, q: float, backward: bool = True) -> tuple:
        """The path sums of |theta|^q in log space (as log_path_sums in cpp/path_sums.hpp), from
        log_w = log|theta| (-inf at zeros): forward[v] = (1/q) log sum over partial paths from a
        start to v of prod |theta_e|^q, backward[v] the same from v to an output (None without
        ``backward``). Each neuron takes m + (1/q) log sum_e exp(q (t_e - m)) over its terms t_e
        (m their max; -inf when there are none or all are -inf): nothing leaves the float64 range."""
        n = self.graph.n_neurons
        order = topological_order(self.graph)

        def combine(terms: np.ndarray) -> float:
            top = np.max(terms) if terms.size else -np.inf
            if np.isinf(top):  # no term, or a sum beyond float64 already (q near 0): inf - inf is NaN
                return float(top)
            return float(top + np.log(np.sum(np.exp(q * (terms - top)))) / q)

        def log_product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
            """a + b, -inf where either is -inf (a zero factor wins over a sum beyond float64)."""
            zero = (a == -np.inf) | (b == -np.inf)
            return np.where(zero, -np.inf, np.where(zero, 0.0, a) + np.where(zero, 0.0, b))

        forward = np.zeros(n)
        for v in order:
            if v >= self.graph.n_inputs:
                p = self.in_params[v]
                forward[v] = combine(log_product(log_w[p], np.where(self.src[p] < 0, 0.0, forward[self.src[p]])))
        if not backward:
            return forward, None
        back = np.zeros(n)
        for v in reversed(order):
            if v < self.first_output:
                p = self.out_params[v]
                back[v] = combine(log_product(log_w[p], back[self.dst[p]]))
        return forward, back

    def exact_rank(self, theta: np.ndarray) -> int:
        """rank J from the zero pattern of theta alone (J diag(theta) = diag(phi) A, docs/theory/ranks.md).

        Rows of paths with exactly one zero parameter e are multiples of e_e; rows of all-nonzero
        paths form diag(phi) A on the nonzero parameters, whose kernel is
        {x_e = pi(dst e) - pi(src e)} with pi free on the hidden neurons such paths visit. So
        rank J = #{e : src e reachable, dst e co-reachable} - #{hidden v reachable and co-reachable},
        reachability through nonzero parameters from inputs and nonzero biases to outputs.
        """
        order = topological_order(self.graph)
        n = self.graph.n_neurons
        reach, coreach = np.zeros(n, bool), np.zeros(n, bool)
        for v in order:
            p = self.in_params[v]
            reach[v] = v < self.graph.n_inputs or bool(np.any((theta[p] != 0) & ((self.src[p] < 0) | reach[self.src[p]])))
        for v in reversed(order):
            p = np.asarray(self.out_params[v], dtype=int)
            coreach[v] = v >= self.first_output or bool(np.any((theta[p] != 0) & coreach[self.dst[p]]))
        starts = (self.src < 0) | reach[self.src]
        return int(np.sum(starts & coreach[self.dst]) - sum(reach[v] and coreach[v] for v in self.hidden))

    def balanced(self, theta: np.ndarray, normalise: bool = False) -> np.ndarray:
        """The balanced representative of theta (``_graph.balance``, one algorithm and tolerance)."""
        return balance(self.graph, theta, normalise)

    def rank_point(self, theta: np.ndarray) -> np.ndarray:
        """The normalised balanced representative: J there is J(theta) scaled on both sides by
        invertible diagonals, so ranks equal ranks at theta, whatever the rescalings or the global
        scale of theta."""
        return self.balanced(theta, normalise=True)
