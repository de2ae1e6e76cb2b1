"""The graph of a path-lifting: one leaf module shared by the models, both backends and the inits.

A path-lifting model (``ReLUNet``, ``DAGReLUNet``) is a DAG of neurons with one edge per
parameter; ``phi_p(theta) = prod_{e in p} theta_e`` over its input-to-output and bias-to-output
paths. This module holds what depends on the graph alone: incoming and outgoing parameters of
each neuron, one topological order, the paths (count, table, longest), and the balancing of a
rescaling orbit (``balance``, the one tolerance ``BALANCE_TOLERANCE``). It imports nothing of the
package but NumPy, so every other module may import it.
"""
from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np


class PathGraph(NamedTuple):
    """Edges of a path-lifting model, one per parameter, in parameter order.

    ``param_src[k] -> param_dst[k]`` is the edge of parameter k; ``param_src[k] == -1`` marks a
    bias of neuron ``param_dst[k]``. Inputs are neurons 0..n_inputs-1, outputs the last n_outputs.
    """

    n_neurons: int
    n_inputs: int
    n_outputs: int
    param_src: tuple
    param_dst: tuple

    @property
    def hidden(self) -> list:
        return list(range(self.n_inputs, self.n_neurons - self.n_outputs))

    @property
    def first_output(self) -> int:
        return self.n_neurons - self.n_outputs


@functools.lru_cache(maxsize=64)
def _topology(graph: PathGraph) -> tuple:
    """(neurons in topological order, targets of each neuron's edges), computed once per graph and
    shared by the path count and the longest path. Kahn's algorithm: iterative, O(neurons + edges)."""
    indegree = [0] * graph.n_neurons
    outgoing = [[] for _ in range(graph.n_neurons)]
    for s, t in zip(graph.param_src, graph.param_dst):
        if s >= 0:
            outgoing[s].append(t)
            indegree[t] += 1
    ready = [v for v in range(graph.n_neurons) if indegree[v] == 0]
    order = []
    while ready:
        v = ready.pop()
        order.append(v)
        for t in outgoing[v]:
            indegree[t] -= 1
            if indegree[t] == 0:
                ready.append(t)
    if len(order) != graph.n_neurons:  # pragma: no cover - models validate acyclicity when built
        raise ValueError("the graph of the model has a cycle")
    return tuple(order), tuple(tuple(targets) for targets in outgoing)


def topological_order(graph: PathGraph) -> tuple:
    """Neurons ordered so that every edge goes forward."""
    return _topology(graph)[0]


def _to_outputs(graph: PathGraph, combine, at_output) -> list:
    """value[v] = at_output for output neurons, else combine(values of the neurons v feeds),
    by one sweep in reverse topological order (linear in neurons + edges, no recursion)."""
    order, outgoing = _topology(graph)
    first_output = graph.n_neurons - graph.n_outputs
    value = [at_output] * graph.n_neurons
    for v in reversed(order):
        if v < first_output:
            value[v] = combine(value[t] for t in outgoing[v])
    return value


def _path_starts(graph: PathGraph) -> list:
    """Where paths start: every input neuron, then the neuron of every bias (one path set each)."""
    return list(range(graph.n_inputs)) + [t for s, t in zip(graph.param_src, graph.param_dst) if s < 0]


def count_paths(graph: PathGraph) -> int:
    """Exact number of paths (a Python int: it may be astronomically large).

    paths(v) = 1 at an output, sum of paths(t) over the edges v -> t otherwise; d = sum over starts."""
    paths = _to_outputs(graph, sum, 1)
    return sum(paths[v] for v in _path_starts(graph))


def longest_path(graph: PathGraph) -> int:
    """Number of parameters on the longest path of a path-lifting model.

    edges(v) = 0 at an output, 1 + max edges(t) over v -> t otherwise; a path from an input has
    edges(input) parameters, one from a bias 1 + edges(neuron). Linear in neurons + edges."""
    edges = _to_outputs(graph, lambda lengths: 1 + max(lengths, default=-1), 0)
    return max([edges[v] for v in range(graph.n_inputs)]
               + [1 + edges[t] for s, t in zip(graph.param_src, graph.param_dst) if s < 0])


@functools.lru_cache(maxsize=64)
def in_out_params(graph: PathGraph) -> tuple:
    """(incoming, outgoing): per neuron, the parameters whose edge ends there (bias included) and
    those whose edge starts there, sorted by target neuron (the lexicographic path order).
    Grouped by one stable sort each: linear in the parameters, not neurons x parameters."""
    src, dst = np.asarray(graph.param_src, dtype=np.int64), np.asarray(graph.param_dst, dtype=np.int64)
    by_dst = np.argsort(dst, kind="stable")
    cuts = np.searchsorted(dst[by_dst], np.arange(graph.n_neurons + 1))
    incoming = tuple(by_dst[cuts[v]:cuts[v + 1]] for v in range(graph.n_neurons))
    by_src = np.lexsort((dst, src))
    cuts = np.searchsorted(src[by_src], np.arange(graph.n_neurons + 1))
    outgoing = tuple(by_src[cuts[v]:cuts[v + 1]] for v in range(graph.n_neurons))
    return incoming, outgoing


def paths(graph: PathGraph) -> list:
    """Paths as lists of parameter indices: input paths, then bias paths by neuron, each set in
    lexicographic order of the parameters (depth first with an explicit stack: no recursion limit)."""
    incoming, outgoing = in_out_params(graph)
    dst = graph.param_dst
    found = []
    starts = [(v, []) for v in range(graph.n_inputs)]
    starts += [(v, [int(p)]) for v in range(graph.n_neurons) for p in incoming[v] if graph.param_src[p] < 0]
    for start in starts:
        stack = [start]
        while stack:
            neuron, prefix = stack.pop()
            if neuron >= graph.first_output:
                found.append(prefix)
                continue
            stack.extend((dst[p], prefix + [int(p)]) for p in reversed(outgoing[neuron]))
    return found


def path_table(graph: PathGraph) -> np.ndarray:
    """(d, longest path) parameter indices of the paths, padded with n_params (which reads a 1)."""
    listed = paths(graph)
    longest = max(len(p) for p in listed)
    table = np.full((len(listed), longest), len(graph.param_dst), dtype=np.int64)
    for row, path in enumerate(listed):
        table[row, : len(path)] = path
    return table


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


def balance(graph: PathGraph, theta: np.ndarray, normalise: bool = False) -> np.ndarray:
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
    incoming, outgoing = in_out_params(graph)
    dst = np.asarray(graph.param_dst, dtype=np.int64)
    log_abs, log_mean = _log_abs(theta)
    log_abs = log_abs - log_mean
    sigma = np.zeros(graph.n_neurons + 1)  # the extra entry, always 0, is a bias's source
    src = np.asarray(graph.param_src, dtype=np.int64)
    src = np.where(src < 0, graph.n_neurons, src)
    groups = [(incoming[v], outgoing[v]) for v in graph.hidden]

    def log_sum_squares(group):
        shifted = log_abs[group] + sigma[dst[group]] - sigma[src[group]]
        top = np.max(shifted) if group.size else -np.inf
        if top == -np.inf:
            return -np.inf
        return 2.0 * top + np.log(np.sum(np.exp(2.0 * (shifted - top))))

    for _ in range(BALANCE_MAX_SWEEPS):
        largest_step = 0.0
        for v, (into, out_of) in zip(graph.hidden, groups):
            log_in, log_out = log_sum_squares(into), log_sum_squares(out_of)
            if log_in == -np.inf or log_out == -np.inf:
                continue
            step = 0.25 * (log_out - log_in)  # |in|^2 s^2 = |out|^2 / s^2
            sigma[v] += step
            largest_step = max(largest_step, abs(step))
        if largest_step <= BALANCE_TOLERANCE:
            break
    moves = sigma[dst] - sigma[src]
    shift = 0.0
    if normalise:
        nonzero = theta != 0
        shift = -(float(np.mean((log_abs + moves)[nonzero])) if np.any(nonzero) else 0.0) - log_mean
    return times_exp(theta, moves + shift)


def checked_balanced(model, point: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """The balanced representative computed by a backend, refused when it left the floating-point
    range (an entry overflowed, or a nonzero entry underflowed to zero)."""
    lost = np.flatnonzero((point == 0) & (theta != 0))
    if not np.all(np.isfinite(point)) or lost.size:
        raise ValueError(f"the balanced representative of theta is outside the float64 range (largest |theta| "
                         f"{np.max(np.abs(theta)):.3g}); rescale theta, e.g. by 1 / max|theta|: ranks and "
                         "criteria do not depend on the global scale")
    return point
