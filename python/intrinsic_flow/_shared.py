"""The structure of a network with shared parameters (``SharedReLUNet``): validation, the
parameter-to-edge map, channels and their rescaling signs, and vectorised sweeps over the
neurons level by level (forward pass, path sums). NumPy only, shared by both backends.

An edge e carries w_e = theta[edge_param[e]] (a parameter, possibly shared by many edges) or the
constant edge_weight[e] (edge_param[e] = -1). Paths and phi_p = prod_{e in p} w_e are those of the
graph of edges (docs/theory/lifting.md), so the edge-level path-lifting kernels apply unchanged to
w, and derivatives in theta follow by the chain rule through w = P theta + fixed weights.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from . import _checks
from ._checks import check_size
from ._graph import balance, checked_balanced, longest_path, unit_geometric_scale
from ._rank import check_rank_work

ACTIVATIONS = ("identity", "relu", "max")


_INT64_MAX = np.iinfo(np.int64).max


def _int_vector(value, name: str) -> np.ndarray:
    """value as a 1-D int64 array (a copy); ValueError naming the entry for a non-integer or an
    index beyond int64 (an unsigned 2^64 - 1 would otherwise wrap to -1, a bias or a fixed edge)."""
    if isinstance(value, (tuple, list, np.ndarray)):
        array = np.asarray(value)
        if array.ndim == 1 and array.dtype.kind in "iu":  # the fast path for long edge lists
            if array.dtype.kind == "u" and array.size and int(array.max()) > _INT64_MAX:
                k = int(np.argmax(array > _INT64_MAX))
                raise _bad(name, k, int(array[k]), "an index beyond the int64 range")
            return array.astype(np.int64)  # a copy the model owns (then frozen)
        if array.ndim == 1 and array.size == 0:
            return np.zeros(0, dtype=np.int64)
    items = _checks._ordered(value, name, "integers")
    if any(not _checks.is_integer(v) for v in items):
        bad = next(v for v in items if not _checks.is_integer(v))
        raise ValueError(f"{name} must hold integers, got {bad!r}")
    items = [int(v) for v in items]
    too_large = next((k for k, v in enumerate(items) if not -_INT64_MAX <= v <= _INT64_MAX), None)
    if too_large is not None:
        raise _bad(name, too_large, items[too_large], "an index beyond the int64 range")
    return np.asarray(items, dtype=np.int64)


def _activation_array(value, n_neurons: int) -> np.ndarray:
    """The activations as a 1-D array of str (one per neuron); ValueError naming the value."""
    refused = ValueError(f"activation must be a sequence of {n_neurons} strings (one per neuron, each one of "
                         f"{ACTIVATIONS}), got {value!r:.80}")
    if isinstance(value, (str, bytes)) or _checks.is_integer(value):
        raise refused
    if not isinstance(value, (tuple, list, np.ndarray)):
        value = _checks._ordered(value, "activation", "strings")
    array = np.asarray(value)
    if array.ndim != 1 or array.size != n_neurons:
        raise refused
    if array.dtype.kind == "O" and all(isinstance(a, str) for a in array.tolist()):
        array = array.astype(str)
    if array.dtype.kind != "U":
        bad = next((v for v, a in enumerate(array.tolist()) if not isinstance(a, str)), 0)
        raise _bad("activation", bad, array[bad].item(), f"accepted: {ACTIVATIONS}")
    return array


def activation_codes(activation: np.ndarray) -> np.ndarray:
    """Index of each neuron's activation in ACTIVATIONS (int8), -1 for an unknown name."""
    codes = np.full(len(activation), -1, dtype=np.int8)
    for k, name in enumerate(ACTIVATIONS):
        codes[activation == name] = k
    return codes


def _bad(name: str, index, value, accepted: str) -> ValueError:
    return ValueError(f"{name}[{index}] = {value!r}: {accepted}")


class Structure:
    """Arrays derived once from a validated SharedReLUNet (read only)."""

    def __init__(self, n_inputs, n_outputs, n_neurons, src, dst, param, weight, n_params, activation, channels):
        self.n_inputs, self.n_outputs, self.n_neurons, self.n_params = n_inputs, n_outputs, n_neurons, n_params
        self.src, self.dst, self.param, self.weight = src, dst, param, weight
        self.first_output = n_neurons - n_outputs
        codes = activation_codes(activation)
        self.is_max = codes == ACTIVATIONS.index("max")
        self.is_relu = codes == ACTIVATIONS.index("relu")
        self.channels = channels
        self.fixed = param < 0
        self.safe_param = np.where(self.fixed, 0, param)  # gathers from theta (fixed edges masked after)
        # level(v): longest number of edges from an input, at least 1 for every other neuron (one
        # fed by a bias alone is on level 1); a sweep handles one level at a time
        level = np.zeros(n_neurons, dtype=np.int64)
        level[n_inputs:] = 1
        inner = src >= 0
        s, t = src[inner], dst[inner]
        while True:  # at most depth rounds, each vectorised over the edges
            new = level.copy()
            np.maximum.at(new, t, level[s] + 1)
            if np.array_equal(new, level):
                break
            level = new
        self.level = level
        order = np.lexsort((dst, level[dst]))
        self.levels = []  # per level >= 1: (edge indices sorted by dst, their dst cuts, dst neurons)
        # order is sorted by (level of dst, dst): each level is one run, its dst already sorted
        level_of = level[dst[order]]
        cuts = np.searchsorted(level_of, np.arange(1, int(level.max()) + 2 if n_neurons else 1))
        for lo, hi in zip(cuts[:-1], cuts[1:]):
            if hi == lo:
                continue
            edges = order[lo:hi]
            d = dst[edges]
            starts = np.flatnonzero(np.concatenate(([True], d[1:] != d[:-1])))
            self.levels.append((edges, starts, d[starts]))
        # the signs s_c(i) of the channel rescalings (incoming x lambda, outgoing x 1/lambda)
        # the channel each parameter enters and the one it leaves (-1: none); law_signs from them
        self.law_enter = np.full(n_params, -1, dtype=np.int64)
        self.law_leave = np.full(n_params, -1, dtype=np.int64)
        # The path kernels run on the useful edges, those on some path from an input or a bias to
        # an output: an input a strided convolution skips, or a neuron cropped by pooling, carries
        # no path (the forward pass still computes it). Neurons renumbered monotonically.
        reach = np.zeros(n_neurons + 1, dtype=bool)
        reach[:n_inputs] = True
        reach[n_neurons] = True
        s_idx = np.where(src < 0, n_neurons, src)
        for edges, starts, targets in self.levels:
            reach[targets] = np.add.reduceat(reach[s_idx[edges]].astype(np.int64), starts) > 0
        coreach = np.zeros(n_neurons + 1, dtype=bool)
        coreach[self.first_output:n_neurons] = True
        for edges, _, _ in reversed(self.levels):
            on = coreach[dst[edges]] & (src[edges] >= 0)
            coreach[src[edges][on]] = True
        useful = reach[s_idx] & coreach[dst]
        has_path = np.zeros(n_neurons, dtype=bool)
        has_path[dst[useful]] = True
        missing = np.flatnonzero(~has_path[self.first_output:]) + self.first_output
        if missing.size:
            raise ValueError(f"output neuron {int(missing[0])} is on no path from an input or a bias (no edge "
                             "reaches it from one); every output needs one")
        self.kept = np.flatnonzero(useful)
        kept_neurons = np.zeros(n_neurons, dtype=bool)
        kept_neurons[src[self.kept][src[self.kept] >= 0]] = True
        kept_neurons[dst[self.kept]] = True
        self.kernel_neurons = np.flatnonzero(kept_neurons)  # kernel index -> neuron
        renumber = np.full(n_neurons, -1, dtype=np.int64)
        renumber[self.kernel_neurons] = np.arange(self.kernel_neurons.size)
        k_src = src[self.kept]
        self.kernel_src = np.where(k_src < 0, -1, renumber[np.maximum(k_src, 0)])
        self.kernel_dst = renumber[dst[self.kept]]
        self.kernel_n_inputs = int(np.sum(kept_neurons[:n_inputs]))
        self.kernel_n_neurons = int(self.kernel_neurons.size)
        # sorted by parameter: the kept edges of each parameter (for contractions J_E P)
        param_k = param[self.kept]
        by_param = np.argsort(np.where(param_k < 0, n_params, param_k), kind="stable")
        self.param_edges = by_param[: int(np.sum(param_k >= 0))]
        self.param_of_edge = param_k[self.param_edges]
        # the parameters on some kept edge, and where their runs start in param_edges
        self.present, self.param_starts = np.unique(self.param_of_edge, return_index=True)
        # w on the kept edges by one gather (fixed edges patched after): path norms call it per step
        self.kernel_param = np.where(param_k < 0, 0, param_k)
        self.kernel_fixed = np.flatnonzero(param_k < 0)
        self.kernel_fixed_weight = weight[self.kept][self.kernel_fixed]
        # one parameter per edge, in edge order, no fixed or pruned edge: today's DAG (P = I)
        self.identity = bool(src.size == n_params and self.kept.size == src.size
                             and np.array_equal(param, np.arange(n_params)))

    @functools.cached_property
    def law_signs(self) -> np.ndarray:
        """(C, D) dense signs s_c(i): +1 where parameter i enters channel c, -1 where it leaves it
        (built on first use: C x D floats)."""
        check_size(float(len(self.channels)) * self.n_params, "the signs of the known laws (channels x n_params)")
        signs = np.zeros((len(self.channels), self.n_params))
        moved = np.arange(self.n_params)
        signs[self.law_enter[self.law_enter >= 0], moved[self.law_enter >= 0]] = 1.0
        signs[self.law_leave[self.law_leave >= 0], moved[self.law_leave >= 0]] = -1.0
        return signs

    def conserved(self, theta: np.ndarray) -> np.ndarray:
        """h_c = sum_i s_c(i) theta_i^2 (C,), from the per-parameter channels (no C x D matrix)."""
        square = np.asarray(theta, dtype=np.float64) ** 2
        C = len(self.channels)
        enter, leave = self.law_enter >= 0, self.law_leave >= 0
        return (np.bincount(self.law_enter[enter], weights=square[enter], minlength=C)
                - np.bincount(self.law_leave[leave], weights=square[leave], minlength=C))

    # -- w = P theta + fixed weights and the contraction P^T ---------------------------------
    def _gather(self, theta, index: np.ndarray) -> np.ndarray:
        """theta[..., index] as a new array (zeros when D = 0: every edge is then fixed)."""
        theta = np.asarray(theta, dtype=np.float64)
        if self.n_params == 0:
            return np.zeros(theta.shape[:-1] + index.shape)
        return theta[..., index]

    def edge_weights(self, theta: np.ndarray) -> np.ndarray:
        """w (E,) from theta (D,) (or (..., E) from (..., D))."""
        return np.where(self.fixed, self.weight, self._gather(theta, self.safe_param))

    def edge_directions(self, v: np.ndarray) -> np.ndarray:
        """P v: a direction in theta moves w by v on parameter edges, 0 on fixed ones."""
        return np.where(self.fixed, 0.0, self._gather(v, self.safe_param))

    def kernel_weights(self, theta: np.ndarray) -> np.ndarray:
        """w on the kept edges (the path kernels' parameters)."""
        w = self._gather(theta, self.kernel_param)
        w[..., self.kernel_fixed] = self.kernel_fixed_weight
        return w

    def kernel_directions(self, v: np.ndarray) -> np.ndarray:
        """P v on the kept edges (0 on fixed ones)."""
        d = self._gather(v, self.kernel_param)
        d[..., self.kernel_fixed] = 0.0
        return d

    def contract(self, per_edge: np.ndarray) -> np.ndarray:
        """P^T along the last axis: (..., kept edges) -> (..., D), summing the kept edges of each
        parameter (0 for a parameter on no path)."""
        per_edge = np.asarray(per_edge, dtype=np.float64)
        if self.identity:  # one parameter per edge, in edge order: nothing to sum (callers pass fresh arrays)
            return per_edge
        out = np.zeros(per_edge.shape[:-1] + (self.n_params,))
        if self.present.size:
            # runs of each parameter's edges summed in edge order (fixed order: reproducible sums)
            out[..., self.present] = np.add.reduceat(per_edge[..., self.param_edges], self.param_starts, axis=-1)
        return out

    # -- sweeps ----------------------------------------------------------------------------
    def forward(self, w: np.ndarray, X: np.ndarray) -> np.ndarray:
        """Outputs (n, n_outputs) of inputs X (n, n_inputs): neuron value = sum (or max, for "max"
        neurons) of w_e x activation(src e) over its incoming edges, a bias reading 1."""
        n = X.shape[0]
        values = np.zeros((n, self.n_neurons + 1))
        values[:, : self.n_inputs] = X
        values[:, self.n_neurons] = 1.0  # the source of bias edges
        for edges, starts, targets in self.levels:
            src = np.where(self.src[edges] < 0, self.n_neurons, self.src[edges])
            terms = values[:, src] * w[edges]
            total = np.add.reduceat(terms, starts, axis=1)
            pooled = self.is_max[targets]
            if np.any(pooled):
                total[:, pooled] = np.maximum.reduceat(terms, starts, axis=1)[:, pooled]
            relu = self.is_relu[targets]
            total[:, relu] = np.maximum(total[:, relu], 0.0)
            values[:, targets] = total
        return values[:, self.first_output: self.n_neurons]

    def forward_sums(self, a: np.ndarray) -> np.ndarray:
        """F(v) = sum over partial paths from a start (an input, or a bias) to v of prod a_e (n_neurons,)."""
        values = np.zeros(self.n_neurons + 1)
        values[: self.n_inputs] = 1.0
        values[self.n_neurons] = 1.0
        for edges, starts, targets in self.levels:
            src = np.where(self.src[edges] < 0, self.n_neurons, self.src[edges])
            values[targets] = np.add.reduceat(values[src] * a[edges], starts)
        return values[: self.n_neurons]

    def between(self, a: np.ndarray) -> np.ndarray:
        """N (n_neurons, n_neurons): N[x, y] = sum over partial paths from x to y of prod a_e (1 on
        the diagonal), level by level, vectorised over the sources x."""
        n = self.n_neurons
        N = np.eye(n)
        for edges, _, _ in self.levels:
            edges = edges[self.src[edges] >= 0]  # biases start paths, they lie between no two neurons
            if edges.size == 0:
                continue
            targets, starts = np.unique(self.dst[edges], return_index=True)
            step = max(1, int(2 ** 22 // max(edges.size, 1)))  # rows per block: temporaries of ~32 MB
            for lo in range(0, n, step):
                block = N[lo:lo + step]
                block[:, targets] += np.add.reduceat(block[:, self.src[edges]] * a[edges], starts, axis=1)
        return N

    def backward_sums(self, a: np.ndarray) -> np.ndarray:
        """B(v) = sum over partial paths from v to an output of prod a_e (n_neurons,)."""
        values = np.zeros(self.n_neurons + 1)
        values[self.first_output: self.n_neurons] = 1.0
        for edges, starts, targets in reversed(self.levels):
            inner = self.src[edges] >= 0
            contributions = a[edges] * values[self.dst[edges]]
            np.add.at(values, self.src[edges][inner], contributions[inner])
        return values[: self.n_neurons]


def validate(model) -> tuple:
    """Checked fields of a SharedReLUNet, as (fields dict, Structure). ValueError naming the field,
    the value and what is accepted."""
    n_inputs = _checks.positive_int(model.n_inputs, "n_inputs")
    n_outputs = _checks.positive_int(model.n_outputs, "n_outputs")
    n_neurons = _checks.positive_int(model.n_neurons, "n_neurons")
    if n_inputs + n_outputs > n_neurons:
        raise ValueError(f"n_neurons = {n_neurons} must be at least n_inputs + n_outputs = {n_inputs + n_outputs}")
    src = _int_vector(model.edge_src, "edge_src")
    dst = _int_vector(model.edge_dst, "edge_dst")
    param = _int_vector(model.edge_param, "edge_param")
    E = src.size
    if E == 0:
        raise ValueError("edge_src must list at least one edge, got none")
    for name, values in (("edge_dst", dst), ("edge_param", param)):
        if values.size != E:
            raise ValueError(f"{name} must have one entry per edge ({E}, as edge_src), got {values.size}")
    weights = _checks.as_array(model.edge_weight, "edge_weight")
    if weights.shape != (E,) or weights.dtype.kind not in "iuf":
        what = "bools" if weights.dtype.kind == "b" else f"shape {weights.shape}"
        raise ValueError(f"edge_weight must hold one real number per edge ({E}), got {what}")
    weights = weights.astype(np.float64)
    if not np.all(np.isfinite(weights)):
        k = int(np.flatnonzero(~np.isfinite(weights))[0])
        raise _bad("edge_weight", k, float(weights[k]), "weights must be finite")
    n_params = _checks.nonnegative_int(model.n_params, "n_params")
    if n_params > E:  # before any array over the parameters is allocated
        raise ValueError(f"n_params = {n_params} exceeds the number of edges ({E}); every parameter must be on an "
                         "edge, so n_params <= len(edge_param)")
    check_size(float(n_neurons), f"an array over the n_neurons = {n_neurons} neurons")
    check_size(float(n_params), f"an array over the n_params = {n_params} parameters")
    first_output = n_neurons - n_outputs
    checks = [
        ("edge_src", src, (src < -1) | (src >= n_neurons), f"accepted: -1 (a bias) or a neuron 0..{n_neurons - 1}"),
        ("edge_dst", dst, (dst < n_inputs) | (dst >= n_neurons),
         f"accepted: a non-input neuron {n_inputs}..{n_neurons - 1} (inputs are 0..{n_inputs - 1})"),
        ("edge_src", src, (src >= 0) & (src >= dst), "neurons must be numbered in a topological order: every "
         "edge needs edge_src < edge_dst"),
        ("edge_src", src, src >= first_output, f"an edge may not leave an output (outputs are {first_output}.."
         f"{n_neurons - 1})"),
        ("edge_param", param, (param < -1) | (param >= n_params),
         f"accepted: -1 (a fixed edge, weight edge_weight) or a parameter 0..{n_params - 1}"),
    ]
    for name, values, bad, accepted in checks:
        if np.any(bad):
            k = int(np.flatnonzero(bad)[0])
            raise _bad(name, k, int(values[k]), accepted)
    used = np.zeros(n_params, dtype=bool)
    used[param[param >= 0]] = True
    if not np.all(used):
        raise ValueError(f"n_params = {n_params}: parameter {int(np.flatnonzero(~used)[0])} is on no edge; every "
                         "index 0..n_params-1 must appear in edge_param")
    keys = np.where(src < 0, -1, src) * (n_neurons + 1) + dst
    order = np.argsort(keys, kind="stable")
    repeated = np.flatnonzero(np.diff(keys[order]) == 0)
    if repeated.size:
        k = int(order[repeated[0] + 1])
        what = f"a second bias edge into neuron {dst[k]}" if src[k] < 0 else f"a second edge {src[k]} -> {dst[k]}"
        raise ValueError(f"edge {k} is {what}; at most one edge per pair of neurons and one bias per neuron "
                         "(merge them into one edge, or route one through an identity neuron)")
    activation = _activation_array(model.activation, n_neurons)
    codes = activation_codes(activation)
    if np.any(codes < 0):
        v = int(np.flatnonzero(codes < 0)[0])
        raise _bad("activation", v, activation[v].item(), f"accepted: {ACTIVATIONS}")
    ends = np.zeros(n_neurons, dtype=bool)
    ends[:n_inputs] = True
    ends[first_output:] = True
    if np.any(ends & (codes != 0)):
        v = int(np.flatnonzero(ends & (codes != 0))[0])
        raise _bad("activation", v, activation[v].item(), "inputs and outputs must be 'identity'")
    activation = activation.astype(f"<U{max(len(a) for a in ACTIVATIONS)}")  # checked: no name is cut
    is_max = codes == ACTIVATIONS.index("max")
    bias_into_max = (src < 0) & is_max[dst]
    if np.any(bias_into_max):
        k = int(np.flatnonzero(bias_into_max)[0])
        raise ValueError(f"edge {k} is a bias into the max neuron {dst[k]}; a max neuron takes no bias")
    return (n_inputs, n_outputs, n_neurons, src, dst, param, weights, n_params, activation)


def resolve_channels(value, n_inputs, n_outputs, n_neurons, src, dst, param, activation) -> tuple:
    """The channels as a tuple of sorted tuples; the default (None) puts every hidden relu/identity
    neuron whose incoming and outgoing edges all carry parameters in its own channel."""
    first_output = n_neurons - n_outputs
    if value is None:
        fixed_touch = np.zeros(n_neurons, dtype=bool)
        fixed = param < 0
        fixed_touch[dst[fixed]] = True
        fixed_touch[src[fixed & (src >= 0)]] = True
        hidden = np.arange(n_inputs, first_output)
        keep = hidden[(activation[n_inputs:first_output] != "max") & ~fixed_touch[n_inputs:first_output]]
        return tuple((v,) for v in keep.tolist())
    groups = _checks._ordered(value, "channels", "sequences of hidden neurons")
    seen: dict = {}
    channels = []
    for c, group in enumerate(groups):
        if isinstance(group, (str, bytes)) or _checks.is_integer(group):
            raise ValueError(f"channels[{c}] = {group!r}: accepted: a sequence of hidden neuron indices")
        neurons = _int_vector(group, f"channels[{c}]")
        if neurons.size == 0:
            raise ValueError(f"channels[{c}] is empty; a channel needs at least one hidden neuron")
        for v in neurons.tolist():
            if not n_inputs <= v < first_output:
                raise ValueError(f"channels[{c}] holds neuron {v}: accepted: hidden neurons {n_inputs}.."
                                 f"{first_output - 1}")
            if activation[v] == "max":
                raise ValueError(f"channels[{c}] holds neuron {v}, a max neuron; channels hold relu or identity "
                                 "neurons")
            if v in seen:
                raise ValueError(f"neuron {v} is in channels[{seen[v]}] and channels[{c}]; channels must be disjoint")
            seen[v] = c
        channels.append(tuple(sorted(neurons.tolist())))
    return tuple(channels)


def law_signs(channels, n_neurons, n_params, src, dst, param, explicit: bool) -> tuple:
    """(enter, leave), each (D,): the channel parameter i enters and the one it leaves (-1: none).
    They give s_c(i) = [dst e in c] - [src e in c], the same for every edge e of parameter i, so
    that rescaling channel c (incoming x lambda, outgoing x 1/lambda) is theta_i -> lambda^s_c(i)
    theta_i; the law is h_c = sum_i s_c(i) theta_i^2. ValueError when a channel's edges do not
    share parameters consistently (or a fixed edge enters or leaves it)."""
    none = (np.full(n_params, -1, dtype=np.int64), np.full(n_params, -1, dtype=np.int64))
    member = np.full(n_neurons + 1, -1, dtype=np.int64)  # the extra entry: a bias's source
    for c, neurons in enumerate(channels):
        member[list(neurons)] = c
    src_c = member[np.where(src < 0, n_neurons, src)]
    dst_c = member[dst]
    hint = ("" if explicit else "; with shared parameters, pass channels= (e.g. one tuple of neurons per "
            "convolution channel), or channels=() for no known laws")
    if not channels:
        return none
    # an edge enters channel dst_c (+1) and/or leaves channel src_c (-1); one inside a channel
    # moves nothing
    into = (dst_c >= 0) & (dst_c != src_c)
    out_of = (src_c >= 0) & (src_c != dst_c)
    fixed = (into | out_of) & (param < 0)
    if np.any(fixed):
        k = int(np.flatnonzero(fixed)[0])
        c = int(dst_c[k] if into[k] else src_c[k])
        raise ValueError(f"channel {c} {channels[c][:8]} has the fixed edge {k} ({src[k]} -> {dst[k]}, weight "
                         f"not a parameter) entering or leaving it, so rescaling it is not a symmetry{hint}")
    # consistent: each edge of a parameter enters the same channel (or none) and leaves the same
    # channel (or none) as the parameter's first edge; then every (channel, parameter) moved has one
    # sign, carried by all the parameter's edges. O(E), no sorting.
    has = param >= 0
    p = param[has]
    a = np.where(into, dst_c, -1)[has]  # the channel each parameter edge enters (-1: none)
    b = np.where(out_of, src_c, -1)[has]  # the channel it leaves
    first_a, first_b = np.empty(n_params, dtype=np.int64), np.empty(n_params, dtype=np.int64)
    first_a[p[::-1]], first_b[p[::-1]] = a[::-1], b[::-1]  # repeated indices: the last write (first edge) wins
    bad = (a != first_a[p]) | (b != first_b[p])
    if np.any(bad):
        k = int(np.flatnonzero(bad)[0])
        i = int(p[k])
        c = next(int(x) for x in ((a[k], first_a[i]) if a[k] != first_a[i] else (b[k], first_b[i])) if x >= 0)
        shown = np.flatnonzero(param == i)[:6]
        raise ValueError(f"parameter {i} is shared by edges {shown.tolist()} that channel {c} "
                         f"{channels[c][:8]} rescales differently (incoming, outgoing or neither), so rescaling "
                         f"the channel is not a symmetry{hint}")
    return first_a, first_b


def structure_of(model) -> Structure:
    n_inputs, n_outputs, n_neurons, src, dst, param, weights, n_params, activation = validate(model)
    explicit = model.channels is not None
    channels = resolve_channels(model.channels, n_inputs, n_outputs, n_neurons, src, dst, param, activation)
    structure = Structure(n_inputs, n_outputs, n_neurons, src, dst, param, weights, n_params, activation, channels)
    structure.law_enter, structure.law_leave = law_signs(channels, n_neurons, n_params, src, dst, param, explicit)
    structure.activation = activation
    return structure


def input_shape(value, n_inputs: int) -> tuple:
    if value is None:
        return (n_inputs,)
    if _checks.is_integer(value) or isinstance(value, (str, bytes)):
        raise ValueError(f"input_shape must be None or a tuple of positive integers, got {value!r}")
    shape = tuple(_checks.positive_int(s, "input_shape") for s in _checks._ordered(value, "input_shape", "integers"))
    if int(np.prod(shape, dtype=object)) != n_inputs:
        raise ValueError(f"input_shape {shape} holds {int(np.prod(shape, dtype=object))} values, but n_inputs = "
                         f"{n_inputs}; its product must equal n_inputs")
    return shape


def is_real_number(value) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


class SharedLifting:
    """The geometry of phi for a SharedReLUNet, written once over an edge-level path kernel
    ``edge`` (the core's PathGraph or the reference's PathLifting on the graph of edges).

    With w = P theta + fixed weights (P: the (E, D) 0/1 map of edges to their parameters),
    phi(theta) = phi_E(w), J = J_E(w) P (the columns of a parameter's edges summed, which is the
    multiplicity rule and stays exact at zeros), J^T u = P^T J_E^T u, J v = J_E (P v),
    G = P^T G_E(w) P with G_E by the path sums of the edge graph, dJ[v] = dJ_E[P v] P.
    ``paths()`` enumerates the edge kernel's paths on first need (size-checked by the caller).
    """

    def __init__(self, model, edge, paths, balanced=None) -> None:
        self.model = model
        self.structure = model.structure
        self.edge = edge
        self._paths = paths
        # the edge kernel's normalised balanced point (theta -> point), default the NumPy one
        self._balanced = balanced or (lambda theta: balance(model.edge_graph, theta, True))

    def _refuse_max(self, what: str) -> None:
        if self.model.has_max:
            raise ValueError(f"{what} needs a SharedReLUNet without max neurons (max pooling is not a product of "
                             "weights along paths); only path_norm accepts models with max neurons")

    def _w(self, theta):
        return self.structure.kernel_weights(theta)

    # -- phi and its derivatives ---------------------------------------------------------------
    def lift(self, theta):
        self._refuse_max("lift")
        self._paths()
        return np.asarray(self.edge.lift(self._w(theta)))

    def jacobian(self, theta):
        self._refuse_max("lift_jacobian")
        self._paths()
        return self.structure.contract(np.asarray(self.edge.jacobian(self._w(theta))))

    def jacobian_derivative(self, theta, direction):
        self._paths()
        djac = np.asarray(self.edge.jacobian_derivative(self._w(theta), self.structure.kernel_directions(direction)))
        return self.structure.contract(djac)

    def vjp(self, theta, u):
        self._refuse_max("lift_vjp")
        self._paths()
        return self.structure.contract(np.asarray(self.edge.vjp(self._w(theta), u)))

    def jvp(self, theta, v):
        self._refuse_max("lift_jvp")
        self._paths()
        return np.asarray(self.edge.jvp(self._w(theta), self.structure.kernel_directions(v)))

    def gram(self, theta):
        """G = P^T G_E(w) P without listing paths. One parameter per edge: the edge kernel's Gram
        matrix itself. Otherwise, from the same path sums (docs/theory/lifting.md):
        G_E = T + T^T + diag(start B) with T_ef = w_e start(e) N(dst e, src f) w_f B(dst f), so
        G = U N V + (U N V)^T + diag(P^T (start B)) with U = P^T diag(w start) [dst] (D, n) and
        V = [src] diag(w B) P (n, D): memory D^2 + 2 D n + n^2, never E^2."""
        self._refuse_max("lift_gram")
        w = self._w(theta)
        if self.structure.identity:
            return np.asarray(self.edge.gram(w))
        s, D, n = self.structure, self.model.n_params, self.model.n_neurons
        check_size(float(D) * D + 2.0 * D * n + float(n) * n, "the Gram matrix and its path sums (D^2 + 2 D n + n^2)")
        a = w * w  # on the kept edges
        kernel_forward, kernel_backward = (np.asarray(x) for x in self.edge.path_sums(a))
        forward, backward = np.zeros(n), np.zeros(n)  # back to the model's neuron numbering
        forward[s.kernel_neurons], backward[s.kernel_neurons] = kernel_forward, kernel_backward
        src, dst, param = s.src[s.kept], s.dst[s.kept], s.param[s.kept]
        inner = src >= 0
        start = np.where(inner, forward[np.where(inner, src, 0)], 1.0)
        back = backward[dst]
        on = param >= 0
        U = np.zeros((D, n))
        np.add.at(U, (param[on], dst[on]), (w * start)[on])
        V = np.zeros((n, D))
        both = on & inner
        np.add.at(V, (src[both], param[both]), (w * back)[both])
        a_all = np.zeros(s.src.size)
        a_all[s.kept] = a  # pruned edges lie on no path between two kept neurons
        half = (U @ s.between(a_all)) @ V
        gram = half + half.T
        gram[np.diag_indices(D)] += s.contract(start * back)
        return gram

    # -- known laws: one per channel ------------------------------------------------------------
    def conserved(self, theta):
        """h_c = sum_i s_c(i) theta_i^2 (s_c: +1 entering channel c, -1 leaving it)."""
        self._refuse_max("conserved")
        return self.structure.conserved(theta)

    def conserved_jacobian(self, theta):
        self._refuse_max("conserved_jacobian")
        return 2.0 * self.structure.law_signs * np.asarray(theta)[None, :]

    def rank_point(self, theta):
        """Where ranks are taken. One parameter per edge: the normalised balanced point of the DAG
        (as ReLUNet and DAGReLUNet). Otherwise theta over the geometric mean of its nonzero
        |entries|: J there is J(theta) with rows scaled by powers of that mean (phi_p is
        homogeneous of the path's degree), same rank."""
        if self.structure.identity:
            theta = np.asarray(theta, dtype=np.float64)
            return checked_balanced(self.model, np.asarray(self._balanced(theta)), theta)
        return unit_geometric_scale(theta)

    def rank_lift(self, theta, rtol):
        """(rank, eigenvalues of G = J^T J at the rank point, decreasing). Fewer paths than
        parameters (d < D): from J J^T (d x d), whose eigenvalues are the nonzero ones of G (the
        other D - d are 0), in O(d^2 D + d^3) instead of O(D^3). Otherwise, one parameter per
        edge: the edge kernel's own rank (the DAG's, in the core's solver); else the Gram rank at
        the rank point (the shared default). Refused beyond _rank.RANK_MAX_WORK."""
        self._refuse_max("rank_lift")
        d, D = self.model.n_lifted, self.model.n_params
        check_rank_work(d, D, "rank_lift (method='gram')")
        if d < D:
            check_size(float(d) * D, "the Jacobian of phi (d x D) for its rank")
            self._paths()
            jac = self.jacobian(self.rank_point(theta))
            with np.errstate(over="ignore", invalid="ignore"):
                metric = jac @ jac.T
            if not np.all(np.isfinite(metric)):
                return -1, np.zeros(0)
            eigenvalues = np.concatenate([np.linalg.eigvalsh(metric)[::-1], np.zeros(D - d)])
            largest = eigenvalues[0] if eigenvalues.size else 0.0
            return (int(np.sum(eigenvalues > rtol * largest)) if largest > 0 else 0), eigenvalues
        if self.structure.identity:
            return self.edge.rank_lift(self._w(theta), rtol)
        return super().rank_lift(theta, rtol)

    def rank_joint(self, theta, rtol):
        """The joint Gram rank (D x D, the shared default), refused beyond _rank.RANK_MAX_WORK."""
        check_rank_work(self.model.n_params, self.model.n_params, "rank_joint")
        return super().rank_joint(theta, rtol)

    def exact_rank(self, theta):
        self._refuse_max("rank_lift(method='exact')")
        return exact_rank(self.structure, np.asarray(theta, dtype=np.float64))


def exact_rank(structure, theta: np.ndarray) -> int:
    """rank J exactly from theta's zero pattern and the sharing, without listing paths.

    Paths without zero weight: J diag(theta) = diag(phi) A P (A the path-edge incidence, P the
    edge-parameter map), so on the active nonzero parameters rank = #active - dim K, with
    K = {pi on live hidden neurons : pi(dst e) - pi(src e) is the same on all live edges of a
    parameter and 0 on live fixed edges} (ker A = {x_e = pi(dst e) - pi(src e)}, pi = 0 off the
    hidden neurons). A zero parameter adds its unit row when some path has it as its only zero.
    K is found by merging neurons that the constraints equate (vectorised union-find over the
    constraints, repeated until none is a plain equality) and a dense rank of what remains."""
    n = structure.n_neurons
    src, dst = structure.src, structure.dst
    w = structure.edge_weights(theta)
    nonzero = w != 0
    reach = np.zeros(n + 1, dtype=bool)  # the extra entry: a bias's source
    reach[: structure.n_inputs] = True
    reach[n] = True
    s_idx = np.where(src < 0, n, src)
    for edges, starts, targets in structure.levels:
        live = (nonzero[edges] & reach[s_idx[edges]]).astype(np.int64)
        reach[targets] = np.add.reduceat(live, starts) > 0
    coreach = np.zeros(n + 1, dtype=bool)
    coreach[structure.first_output: n] = True
    for edges, starts, targets in reversed(structure.levels):
        live = edges[nonzero[edges] & coreach[dst[edges]] & (src[edges] >= 0)]
        coreach[src[live]] = True
    through = reach[s_idx] & coreach[dst]  # a path from a start through e to an output (zeros aside on e)
    live_edges = through & nonzero
    param = structure.param
    zero_params = np.zeros(structure.n_params, dtype=bool)
    zero_params[param[through & ~nonzero & (param >= 0)]] = True
    active = np.zeros(structure.n_params, dtype=bool)
    active[param[live_edges & (param >= 0)]] = True
    hidden_live = np.zeros(n + 1, dtype=bool)
    hidden_live[structure.n_inputs: structure.first_output] = True
    hidden_live &= reach & coreach
    # pi variables: live hidden neurons; everything else is the node ZERO = n (pi = 0)
    node = np.where(hidden_live, np.arange(n + 1), n)
    e_live = np.flatnonzero(live_edges)
    a_dst, a_src = node[dst[e_live]], node[s_idx[e_live]]
    p_live = param[e_live]
    rows = [np.stack([a_dst, a_src], axis=1)[p_live < 0]]  # fixed: pi(dst) - pi(src) = 0
    signs = [np.tile([1, -1], (rows[0].shape[0], 1))]
    shared = p_live >= 0
    order = np.argsort(p_live[shared], kind="stable")
    ids, d_s, s_s = p_live[shared][order], a_dst[shared][order], a_src[shared][order]
    first = np.searchsorted(ids, ids)  # the first live edge of the same parameter
    others = np.arange(ids.size) != first
    rows.append(np.stack([d_s, s_s, d_s[first], s_s[first]], axis=1)[others])
    signs.append(np.tile([1, -1, -1, 1], (int(np.sum(others)), 1)))
    labels = np.arange(n + 1)
    pending = [(r, s) for r, s in zip(rows, signs) if r.size]
    while True:
        merged = False
        kept = []
        for r, s in pending:
            r = labels[r]
            r = np.where(r == labels[n], n, r)
            sums = _combine(r, s, n)
            if sums is None:
                continue
            cols, coefs = sums
            count = np.sum(coefs != 0, axis=1)
            # rows c (pi(a) - pi(b)) = 0 or c pi(a) = 0 merge a with b (or with ZERO)
            single = count == 1
            pair = (count == 2) & (np.sum(coefs, axis=1) == 0)
            nonzero = coefs != 0
            width = cols.shape[1]
            first_nz = np.argmax(nonzero, axis=1)
            last_nz = width - 1 - np.argmax(nonzero[:, ::-1], axis=1)
            rows_ = np.arange(cols.shape[0])
            a_single = cols[rows_[single], first_nz[single]]
            pairs = np.concatenate([np.stack([a_single, np.full(a_single.size, n)], axis=1),
                                    np.stack([cols[rows_[pair], first_nz[pair]], cols[rows_[pair], last_nz[pair]]],
                                             axis=1)])
            if pairs.size:
                labels = _union(labels, pairs, n)
                merged = True
            rest = ~(single | pair) & (count > 0)
            if np.any(rest):
                kept.append((cols[rest], coefs[rest]))
        pending = kept
        if not merged:
            break
    roots = np.unique(labels[np.flatnonzero(hidden_live[:n])])
    roots = roots[roots != labels[n]]
    rank_rest = 0
    if pending and roots.size:
        index = {int(r): k for k, r in enumerate(roots)}
        matrix = []
        for cols, coefs in pending:
            for row_cols, row_coefs in zip(cols, coefs):
                row = np.zeros(roots.size)
                for c, value in zip(row_cols, row_coefs):
                    if value and int(c) in index:
                        row[index[int(c)]] += value
                matrix.append(row)
        matrix = np.unique(np.asarray(matrix), axis=0)
        rank_rest = int(np.linalg.matrix_rank(matrix)) if matrix.size else 0
    dim_k = int(roots.size) - rank_rest
    return int(np.sum(active)) - dim_k + int(np.sum(zero_params & ~active))


def _combine(cols: np.ndarray, signs: np.ndarray, zero: int):
    """Rows of (column, sign) terms (a few columns) with equal columns merged and ZERO's terms
    dropped: (cols, coefs), the merged coefficient on the first occurrence of each column and 0
    elsewhere; None when no row is left. Pairwise comparisons of the columns: no sorting."""
    if cols.size == 0:
        return None
    signs = np.where(cols == zero, 0, signs).astype(np.int64)
    width = cols.shape[1]
    coefs = np.zeros_like(signs)
    for k in range(width):
        total = signs[:, k].copy()
        first = np.ones(cols.shape[0], dtype=bool)
        for j in range(width):
            if j == k:
                continue
            same = cols[:, j] == cols[:, k]
            total += np.where(same, signs[:, j], 0)
            if j < k:
                first &= ~same
        coefs[:, k] = np.where(first, total, 0)
    return cols, coefs


def _union(labels: np.ndarray, pairs: np.ndarray, zero: int) -> np.ndarray:
    """Labels after merging the pairs (connected components by min-label propagation with
    pointer jumping); the component of ZERO is labelled ZERO (the largest index, so it is forced)."""
    labels = labels.copy()
    a, b = labels[pairs[:, 0]], labels[pairs[:, 1]]
    while True:
        la, lb = labels[a], labels[b]
        low = np.minimum(la, lb)
        zero_side = (la == labels[zero]) | (lb == labels[zero])
        target = np.where(zero_side, labels[zero], low)
        new = labels.copy()
        np.minimum.at(new, la, target)
        np.minimum.at(new, lb, target)
        # ZERO wins: a component touching ZERO takes its label
        touching = np.zeros(labels.size, dtype=bool)
        touching[la[zero_side]] = True
        touching[lb[zero_side]] = True
        new[touching] = labels[zero]
        while True:  # pointer jumping to the roots
            jumped = new[new]
            if np.array_equal(jumped, new):
                break
            new = jumped
        if np.array_equal(new, labels):
            return labels
        labels = new


def path_guard(model, build):
    """A callable that, on first call, size-checks the edge graph's path table and runs ``build``."""
    state = {"ready": False}

    def ensure() -> None:
        if not state["ready"]:
            check_size(float(model.n_lifted) * max(longest_path(model.edge_graph), 1), "the table of paths", itemsize=4)
            build()
            state["ready"] = True

    return ensure
