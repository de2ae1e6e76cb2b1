"""Path-lifting of ReLU networks in plain NumPy (mirrors cpp/lifting).

phi_p(theta) = prod_{e in p} theta_e over the parameters along path p (main_paper §3.1).
Paths are listed once per model as a padded table of parameter indices.
"""
from __future__ import annotations

import numpy as np

from .._checks import check_size


# Balancing sweeps the hidden neurons until no log-scale moves by more than BALANCE_TOLERANCE in a
# sweep, at most BALANCE_MAX_SWEEPS sweeps (as cpp/lifting.hpp).
BALANCE_MAX_SWEEPS, BALANCE_TOLERANCE = 10_000, 1e-13
_LOG2_HIGH, _LOG2_LOW = 6.93147180369123816490e-01, 1.90821492927058770002e-10  # Cody-Waite split of log 2


def times_exp(x: np.ndarray, a: np.ndarray) -> np.ndarray:
    """x e^a elementwise without overflow of e^a alone: a = q log 2 + r and
    x e^a = ldexp(mantissa(x) e^r, exponent(x) + q) (as cpp/geometry.cpp)."""
    x, a = np.broadcast_arrays(np.asarray(x, dtype=np.float64), np.asarray(a, dtype=np.float64))
    q = np.clip(np.rint(a / 0.69314718055994530942), -4000.0, 4000.0)
    r = (a - q * _LOG2_HIGH) - q * _LOG2_LOW
    mantissa, exponent = np.frexp(x)
    return np.ldexp(mantissa * np.exp(r), exponent + q.astype(np.int64).astype(np.int32))


def _log_abs(theta: np.ndarray):
    """log|theta| (-inf at zeros) and the mean log over the nonzero entries (0 when none)."""
    nonzero = theta != 0
    logs = np.full(theta.shape, -np.inf)
    logs[nonzero] = np.log(np.abs(theta[nonzero]))
    return logs, (float(np.mean(logs[nonzero])) if np.any(nonzero) else 0.0)


def unit_geometric_scale(theta: np.ndarray) -> np.ndarray:
    """theta / c with c the geometric mean of the nonzero |theta_e|: the rank point of homogeneous
    models (J(theta / c) = c^(1-k) J(theta), Jh(theta / c) = Jh(theta) / c), as cpp/geometry.cpp."""
    return times_exp(theta, -_log_abs(theta)[1])


class PathLifting:
    """The geometry of phi for a model described by a ``PathGraph`` (see models.py)."""

    def __init__(self, graph) -> None:
        self.graph = graph
        self.n_params = len(graph.param_dst)
        src, dst = np.asarray(graph.param_src, dtype=int), np.asarray(graph.param_dst, dtype=int)
        self.src, self.dst = src, dst
        self.hidden = graph.hidden
        self.first_output = graph.n_neurons - graph.n_outputs
        # grouped by one stable sort each (linear in the parameters, not neurons x parameters)
        by_dst = np.argsort(dst, kind="stable")
        cuts = np.searchsorted(dst[by_dst], np.arange(graph.n_neurons + 1))
        self.in_params = [by_dst[cuts[v]:cuts[v + 1]] for v in range(graph.n_neurons)]
        # outgoing params sorted by target neuron: the lexicographic path order of shared/API.md
        by_src = np.lexsort((dst, src))
        cuts = np.searchsorted(src[by_src], np.arange(graph.n_neurons + 1))
        self.out_params = [list(by_src[cuts[v]:cuts[v + 1]]) for v in range(graph.n_neurons)]
        self._table = None

    # -- paths -----------------------------------------------------------------------------
    def paths(self) -> list:
        """Paths as lists of parameter indices: input paths, then bias paths by neuron."""
        paths = []
        starts = [(v, []) for v in range(self.graph.n_inputs)]
        starts += [(v, [int(p)]) for v in range(self.graph.n_neurons) for p in self.in_params[v] if self.src[p] < 0]
        for start in starts:  # depth first with an explicit stack: no recursion limit on deep graphs
            stack = [start]
            while stack:
                neuron, prefix = stack.pop()
                if neuron >= self.first_output:
                    paths.append(prefix)
                    continue
                stack.extend((self.dst[p], prefix + [int(p)]) for p in reversed(self.out_params[neuron]))
        return paths

    @property
    def table(self) -> np.ndarray:
        """(d, longest path) parameter indices, padded with n_params (which reads a 1)."""
        if self._table is None:
            paths = self.paths()
            longest = max(len(p) for p in paths)
            table = np.full((len(paths), longest), self.n_params, dtype=np.int64)
            for row, path in enumerate(paths):
                table[row, : len(path)] = path
            self._table = table
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
        """G = J^T J from sums of squared weights (main_paper §3.3):

        G_ee = F(src e) B(dst e) and, for e before f on a path,
        G_ef = theta_e theta_f F(src e) N(dst e, src f) B(dst f),
        with F the sum over partial paths from a start, B to an output, N between two neurons.
        """
        n = self.graph.n_neurons
        check_size(n * n + self.n_params ** 2, "the Gram matrix and its path sums")
        squared = theta ** 2
        order = self._topological_order()
        forward, backward = np.zeros(n), np.zeros(n)
        for v in order:
            if v < self.graph.n_inputs:
                forward[v] = 1.0
            else:
                p = self.in_params[v]
                forward[v] = np.sum(squared[p] * np.where(self.src[p] < 0, 1.0, forward[self.src[p]]))
        for v in reversed(order):
            p = self.out_params[v]
            backward[v] = 1.0 if v >= self.first_output else np.sum(squared[p] * backward[self.dst[p]])
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

    def exact_rank(self, theta: np.ndarray) -> int:
        """rank J from the zero pattern of theta alone (J diag(theta) = diag(phi) A, BUILD_NOTES §1.5).

        Rows of paths with exactly one zero parameter e are multiples of e_e; rows of all-nonzero
        paths form diag(phi) A on the nonzero parameters, whose kernel is
        {x_e = pi(dst e) - pi(src e)} with pi free on the hidden neurons such paths visit. So
        rank J = #{e : src e reachable, dst e co-reachable} - #{hidden v reachable and co-reachable},
        reachability through nonzero parameters from inputs and nonzero biases to outputs.
        """
        order = self._topological_order()
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
        """The balanced representative of theta (D,) -> (D,): hidden neurons rescaled (phi unchanged)
        until |incoming|^2 = |outgoing|^2 at each; with ``normalise``, also divided by the geometric
        mean of its nonzero |entries| (mirrors PathGraph::balanced in cpp/lifting.cpp).

        Coordinate descent on the log-scales sigma (incoming x e^sigma_v, outgoing x e^-sigma_v),
        neuron by neuron in index order: sigma_v += (L_out - L_in) / 4, L = log sum of the squared
        rescaled weights by log-sum-exp on logs centred at their mean, so no square overflows or
        underflows; a neuron with zero incoming or outgoing weights is left as it is. Stops when no
        step exceeds BALANCE_TOLERANCE (at most BALANCE_MAX_SWEEPS sweeps).
        """
        theta = np.asarray(theta, dtype=np.float64)
        log_abs, log_mean = _log_abs(theta)
        log_abs = log_abs - log_mean
        sigma = np.zeros(self.graph.n_neurons + 1)  # the extra entry, always 0, is a bias's source
        src = np.where(self.src < 0, self.graph.n_neurons, self.src)
        groups = [(np.asarray(self.in_params[v], dtype=int), np.asarray(self.out_params[v], dtype=int))
                  for v in self.hidden]

        def log_sum_squares(group):
            shifted = log_abs[group] + sigma[self.dst[group]] - sigma[src[group]]
            top = np.max(shifted) if group.size else -np.inf
            if top == -np.inf:
                return -np.inf
            return 2.0 * top + np.log(np.sum(np.exp(2.0 * (shifted - top))))

        for _ in range(BALANCE_MAX_SWEEPS):
            largest_step = 0.0
            for v, (incoming, outgoing) in zip(self.hidden, groups):
                log_in, log_out = log_sum_squares(incoming), log_sum_squares(outgoing)
                if log_in == -np.inf or log_out == -np.inf:
                    continue
                step = 0.25 * (log_out - log_in)  # |in|^2 s^2 = |out|^2 / s^2
                sigma[v] += step
                largest_step = max(largest_step, abs(step))
            if largest_step <= BALANCE_TOLERANCE:
                break
        moves = sigma[self.dst] - sigma[src]
        shift = 0.0
        if normalise:
            nonzero = theta != 0
            shift = -(float(np.mean((log_abs + moves)[nonzero])) if np.any(nonzero) else 0.0) - log_mean
        return times_exp(theta, moves + shift)

    def rank_point(self, theta: np.ndarray) -> np.ndarray:
        """The normalised balanced representative: J there is J(theta) scaled on both sides by
        invertible diagonals, so ranks equal ranks at theta, whatever the rescalings or the global
        scale of theta."""
        return self.balanced(theta, normalise=True)

    def _topological_order(self) -> list:
        indegree = np.zeros(self.graph.n_neurons, dtype=int)
        for s, t in zip(self.src, self.dst):
            if s >= 0:
                indegree[t] += 1
        ready = [v for v in range(self.graph.n_neurons) if indegree[v] == 0]
        order = []
        while ready:
            v = ready.pop()
            order.append(v)
            for p in self.out_params[v]:
                indegree[self.dst[p]] -= 1
                if indegree[self.dst[p]] == 0:
                    ready.append(self.dst[p])
        return order
