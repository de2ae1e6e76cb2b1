"""PyTorch models in: ``from_torch`` (a module -> a path-lifting model with shared parameters and
its theta), ``validate`` (what is supported), ``load_theta`` (theta back into the module) and
``ConservationMonitor`` (the known conservation laws watched along a plain PyTorch training loop).

PyTorch is an optional dependency (``pip install "intrinsic-flow[torch]"``, from a source checkout
``pip install ".[torch]"``): it is imported inside
the functions, so ``import intrinsic_flow`` and ``import intrinsic_flow.torch`` work without it.
The page ``docs/torch.md`` ("your own network") describes the translation.

**The translation.** The module is traced by ``torch.fx``; every element of every intermediate
tensor (batch dimension left out, C order) becomes a neuron, inputs first (the input flattened in C
order: neuron k is ``x.reshape(-1)[k]``) and outputs last (the output flattened likewise). A
``Linear`` or a convolution is fused with the additions, concatenations, reshapes and the ReLU
that follow it, so that a neuron is ``activation(bias + sum of incoming edges)``; an edge carries
a parameter (one entry of theta; a convolution weight sits on many edges) or a fixed weight
(average pooling 1/k, unit edges of skips and of max-pooling). Neurons that no path from an input
or a bias to an output goes through (zero padding, strided gaps) are left out.

**theta order.** ``theta = torch.nn.utils.parameters_to_vector(module.parameters())`` in float64:
the parameters in ``module.parameters()`` order (registration order, depth first, a shared
parameter once), each tensor flattened in C order (``Linear.weight`` of shape (out, in) row by
row, then ``Linear.bias``; ``Conv2d.weight`` of shape (C_out, C_in/groups, kh, kw)). A parameter
used by no supported operation keeps its entries (no edge carries them). With
``fold_batchnorm=True`` the weight and bias of each folded BatchNorm are left out and the
preceding ``Linear``/convolution holds the folded values (a folded bias is inserted right after
its weight when the layer has none).

**Biases.** A bias is an edge from the constant input 1 (``edge_src == -1``) carrying its own
parameter; an output layer's bias is such an edge into an output neuron (a path "bias -> output"
of length one).
"""
from __future__ import annotations

import dataclasses
import math
import operator
from typing import Any, Sequence

import numpy as np

from ._extras import install_hint
from ._shared import ACTIVATIONS

__all__ = ["from_torch", "validate", "load_theta", "ConservationMonitor", "ValidationReport"]

_INSTALL = f"PyTorch is needed here: {install_hint('torch')}, or pip install torch"


def _torch():
    try:
        import torch
    except ImportError as error:  # pragma: no cover - exercised only without torch
        raise ImportError(_INSTALL) from error
    return torch


# -- values flowing through the trace ---------------------------------------------------------------

class _Unsupported(Exception):
    pass


class _Neurons:
    """A tensor whose elements are neurons (ids, shape without the batch dimension)."""

    def __init__(self, ids: np.ndarray):
        self.ids = ids
        self.shape = ids.shape


class _Affine:
    """A tensor of pending pre-activations: edges (src neuron or -1, local flat dst, param, weight)."""

    def __init__(self, shape, src, dst, param, weight):
        self.shape = tuple(shape)
        self.src, self.dst, self.param, self.weight = src, dst, param, weight


def _as_affine(value) -> _Affine:
    if isinstance(value, _Affine):
        return value
    size = value.ids.size
    return _Affine(value.shape, value.ids.ravel().copy(), np.arange(size), np.full(size, -1),
                   np.ones(size))


def _reshaped(value, shape):
    if isinstance(value, _Neurons):
        return _Neurons(value.ids.reshape(shape))
    return _Affine(shape, value.src, value.dst, value.param, value.weight)


class _Builder:
    def __init__(self, input_shape):
        self.n = int(np.prod(input_shape))
        self.src, self.dst, self.param, self.weight = [], [], [], []
        self.n_edges = 0  # edges made so far (pending ones included): what the budget is checked on
        # activations per block of neurons (first neuron, code in _shared.ACTIVATIONS): no list per neuron
        self.blocks, self.codes = [0], [0]

    def materialize(self, value, activation: str = "identity", copy: bool = False) -> _Neurons:
        """Neurons holding ``value`` (new ones unless it is already identity/relu neurons and not ``copy``)."""
        if isinstance(value, _Neurons) and activation == "identity" and not copy:
            return value
        if isinstance(value, _Neurons) and activation == "relu" and not copy and \
                np.all(self.activation_of(value.ids.ravel()) == ACTIVATIONS.index("relu")):
            return value  # relu of relu
        if isinstance(value, _Neurons):
            self.reserve(value.ids.size, "unit edges into new neurons")
        affine = _as_affine(value)
        size = int(np.prod(affine.shape))
        base = self.n
        self.n += size
        self.blocks.append(base)
        self.codes.append(ACTIVATIONS.index(activation))
        self.src.append(affine.src)
        self.dst.append(affine.dst + base)
        self.param.append(affine.param)
        self.weight.append(affine.weight)
        return _Neurons(np.arange(base, base + size).reshape(affine.shape))


    def reserve(self, n_edges: float, what: str) -> None:
        """Count ``n_edges`` more edges (or index temporaries of that size), refused before they are
        made when the edges so far, four values each (source, target, parameter, weight), exceed
        config.max_bytes."""
        from . import _checks

        self.n_edges += float(n_edges)
        try:
            _checks.check_size(4.0 * self.n_edges, f"the edges of the translated model ({what}: {int(n_edges)} more)")
        except ValueError as error:  # reported on the node that asked (validate lists it)
            raise _Unsupported(str(error)) from None

    def activation_of(self, ids: np.ndarray) -> np.ndarray:
        """The activation codes of neurons ``ids``."""
        block = np.searchsorted(np.asarray(self.blocks), ids, side="right") - 1
        return np.asarray(self.codes, dtype=np.int8)[block]


def _pair(value, n: int, name: str) -> tuple:
    if isinstance(value, int):
        return (value,) * n
    value = tuple(value)
    if len(value) != n:
        raise _Unsupported(f"{name}={value!r} has {len(value)} entries, expected {n}")
    return value


def _windows(in_spatial, kernel, stride, pad_left, dilation, out_spatial):
    """(P_out, K) flat input positions and validity of every (output position, kernel offset)."""
    n = len(in_spatial)
    out_pos = np.indices(out_spatial).reshape(n, -1).T
    ker = np.indices(kernel).reshape(n, -1).T
    coords = out_pos[:, None, :] * np.asarray(stride) - np.asarray(pad_left) + ker[None, :, :] * np.asarray(dilation)
    valid = np.all((coords >= 0) & (coords < np.asarray(in_spatial)), axis=2)
    clipped = np.clip(coords, 0, np.asarray(in_spatial) - 1)
    flat = np.ravel_multi_index(tuple(clipped[..., d] for d in range(n)), in_spatial)
    return flat, valid


def _out_size(size, kernel, stride, pad_total, dilation) -> int:
    out = (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1
    if out < 1:
        raise _Unsupported(f"the output would be empty (input size {size}, kernel {kernel})")
    return out


class _Translator:
    """Walks the fx graph once; ``report`` mode records problems instead of raising."""

    def __init__(self, module, input_shape, fold_batchnorm: bool, report: bool = False):
        self.torch = _torch()
        module = _root(module)
        self.module = module
        self.input_shape = input_shape
        self.fold = fold_batchnorm
        self.report = report
        self.entries: list = []
        self.graph = _trace(module)
        self.folded = _fold_pairs(self.graph, module) if fold_batchnorm else {}
        self.slots, self.n_params, self.values_of_theta = _theta_layout(module, self.folded)
        self.builder = _Builder(input_shape)

    # parameters --------------------------------------------------------------------------------
    def _offset(self, layer_name: str, layer, kind: str):
        """Offset of layer.weight / layer.bias in theta (None when the layer has no such tensor)."""
        key = ("folded", layer_name, kind)
        if key in self.slots:
            return self.slots[key]
        tensor = getattr(layer, kind, None)
        if tensor is None:
            return None
        return self.slots[id(tensor)]

    # the walk ----------------------------------------------------------------------------------
    def run(self):
        env: dict = {}
        output = None
        for node in self.graph.nodes:
            try:
                if node.op == "placeholder":
                    if env:
                        raise _Unsupported("the module takes more than one input")
                    env[node] = _Neurons(np.arange(int(np.prod(self.input_shape))).reshape(self.input_shape))
                    self._ok(node, "input")
                    continue
                if node.op == "output":
                    output = self._output(node, env)
                    self._ok(node, "output")
                    continue
                args = [self._arg(a, env) for a in node.args]
                kwargs = {k: self._arg(v, env) for k, v in node.kwargs.items()}
                value = self._node(node, args, kwargs)
                if isinstance(value, _Affine) and len(node.users) > 1:
                    value = self.builder.materialize(value)  # reused pre-activations: one set of neurons
                env[node] = value
            except _Unsupported as error:
                if not self.report:
                    raise ValueError(self._message(node, str(error))) from None
                self.entries.append(self._entry(node, False, str(error)))
                env[node] = _MISSING
        return output

    def _arg(self, a, env):
        fx = self.torch.fx
        if isinstance(a, fx.Node):
            value = env[a]
            if value is _MISSING:
                raise _Unsupported(f"its input {a.name!r} could not be translated")
            return value
        if isinstance(a, (list, tuple)):
            return type(a)(self._arg(x, env) for x in a)
        return a

    def _describe(self, node) -> tuple:
        if node.op == "call_module":
            sub = self.module.get_submodule(node.target)
            return f"module {node.target!r} ({type(sub).__name__})", type(sub).__name__
        if node.op in ("call_function", "call_method"):
            name = getattr(node.target, "__name__", str(node.target))
            return f"{'function' if node.op == 'call_function' else 'method'} {name}", name
        if node.op in ("placeholder", "output"):
            return ("the input" if node.op == "placeholder" else "the output"), node.op
        return f"{node.op} {node.target}", str(node.target)

    def _message(self, node, reason: str) -> str:
        what, _ = self._describe(node)
        return f"from_torch cannot translate node {node.name!r}: {what}, operation {node.op}: {reason}"

    def _entry(self, node, ok: bool, reason: str) -> tuple:
        what, _ = self._describe(node)
        return (node.name, node.op, what, ok, reason)

    def _ok(self, node, reason: str) -> None:
        self.entries.append(self._entry(node, True, reason))

    def _output(self, node, env):
        (result,) = node.args
        if not isinstance(result, self.torch.fx.Node):
            raise _Unsupported("the module must return one tensor")
        value = self._arg(result, env)
        # the outputs are new identity neurons, numbered last (unit edges from neurons already made)
        return self.builder.materialize(_as_affine(value), "identity")

    def _node(self, node, args, kwargs):
        torch = self.torch
        F = torch.nn.functional
        nn = torch.nn
        if node.op == "call_module":
            sub = self.module.get_submodule(node.target)
            value = self._module(node, sub, args, kwargs)
            self._ok(node, "supported")
            return value
        if node.op == "call_function":
            f = node.target
            if f in (F.relu, torch.relu):
                self._ok(node, "relu")
                return self.builder.materialize(args[0], "relu")
            if f in (operator.add, torch.add):
                if kwargs.get("alpha", 1) != 1 or len(args) != 2:
                    raise _Unsupported("only a + b (alpha = 1) is supported")
                value = self._add(*args)
                self._ok(node, "addition")
                return value
            if f is torch.flatten:
                value = self._flatten(args[0], *args[1:], **kwargs)
                self._ok(node, "flatten")
                return value
            if f is torch.cat:
                value = self._cat(*args, **kwargs)
                self._ok(node, "concatenation")
                return value
            if f is operator.getitem and isinstance(args[0], _SizeOf):
                self._ok(node, "size")
                return _SizeOf(args[0].shape, args[1])
            raise _Unsupported("this function is not supported")
        if node.op == "call_method":
            name = node.target
            if name == "relu":
                self._ok(node, "relu")
                return self.builder.materialize(args[0], "relu")
            if name == "add":
                value = self._add(*args)
                self._ok(node, "addition")
                return value
            if name == "flatten":
                value = self._flatten(*args, **kwargs)
                self._ok(node, "flatten")
                return value
            if name in ("view", "reshape"):
                value = self._view(args[0], args[1:])
                self._ok(node, name)
                return value
            if name == "size":
                self._ok(node, "size")
                if args[1:]:
                    return _SizeOf(args[0].shape, args[1])
                return _SizeOf(args[0].shape, None)
            raise _Unsupported("this method is not supported")
        if node.op == "get_attr":
            raise _Unsupported("parameters read directly (get_attr) are not supported; use nn.Linear / nn.Conv modules")
        raise _Unsupported("operation not supported")

    # operations --------------------------------------------------------------------------------
    def _module(self, node, sub, args, kwargs):
        nn = self.torch.nn
        x = args[0] if args else None
        if len(args) != 1 or kwargs:
            raise _Unsupported("one tensor argument expected")
        if isinstance(sub, (nn.ReLU,)):
            return self.builder.materialize(x, "relu")
        if isinstance(sub, nn.Identity) or (isinstance(sub, nn.Dropout) and not sub.training):
            return x
        if isinstance(sub, nn.Dropout):
            raise _Unsupported("Dropout in training mode is random; call module.eval() first")
        if isinstance(sub, nn.Flatten):
            return self._flatten(x, sub.start_dim, sub.end_dim)
        if isinstance(sub, nn.Linear):
            return self._linear(node.target, sub, x)
        if isinstance(sub, (nn.Conv1d, nn.Conv2d)):
            return self._conv(node.target, sub, x)
        if isinstance(sub, (nn.AvgPool1d, nn.AvgPool2d)):
            return self._avgpool(sub, x)
        if isinstance(sub, (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)):
            return self._adaptive(sub, x)
        if isinstance(sub, (nn.MaxPool1d, nn.MaxPool2d)):
            return self._maxpool(sub, x)
        if isinstance(sub, (nn.BatchNorm1d, nn.BatchNorm2d)):
            if node.target in self.folded.values():
                return x  # folded into the layer before it
            if not self.fold:
                raise _Unsupported("BatchNorm has no rescaling symmetry (no conservation law); pass "
                                   "fold_batchnorm=True to fold it into the layer before it (path norms)")
            raise _Unsupported(_batchnorm_reason(sub) or "BatchNorm can be folded only right after a Linear or "
                               "convolution whose output feeds nothing else")
        raise _Unsupported("this module type is not supported")

    def _linear(self, name, layer, x):
        x = self.builder.materialize(x)
        if not x.shape or x.shape[-1] != layer.in_features:
            raise _Unsupported(f"input of shape {x.shape} does not end with in_features = {layer.in_features}")
        lead = int(np.prod(x.shape[:-1]))
        n_in, n_out = layer.in_features, layer.out_features
        self.builder.reserve(float(lead) * n_out * (n_in + 1), f"Linear({n_in}, {n_out}) on {lead} positions")
        ids = x.ids.reshape(lead, n_in)
        w = self._offset(name, layer, "weight")
        L, j, i = np.ix_(np.arange(lead), np.arange(n_out), np.arange(n_in))
        src = np.broadcast_to(ids[L, i], (lead, n_out, n_in)).ravel()
        dst = np.broadcast_to(L * n_out + j, (lead, n_out, n_in)).ravel()
        param = np.broadcast_to(w + j * n_in + i, (lead, n_out, n_in)).ravel()
        parts = [(src, dst, param)]
        b = self._offset(name, layer, "bias")
        if b is not None:
            L2, j2 = np.ix_(np.arange(lead), np.arange(n_out))
            parts.append((np.full(lead * n_out, -1), (L2 * n_out + j2).ravel(),
                          np.broadcast_to(b + j2, (lead, n_out)).ravel()))
        return _affine_from(x.shape[:-1] + (n_out,), parts)

    def _conv(self, name, layer, x):
        x = self.builder.materialize(x)
        nd = len(layer.kernel_size)
        if layer.padding_mode != "zeros":
            raise _Unsupported(f"padding_mode={layer.padding_mode!r}; only 'zeros' is supported")
        if len(x.shape) != nd + 1 or x.shape[0] != layer.in_channels:
            raise _Unsupported(f"input of shape {x.shape}, expected ({layer.in_channels}, ...) with {nd} spatial dims")
        spatial = x.shape[1:]
        kernel, stride, dilation = layer.kernel_size, layer.stride, layer.dilation
        if isinstance(layer.padding, str):
            if layer.padding == "valid":
                left = right = (0,) * nd
            else:  # "same" (stride 1)
                total = [d * (k - 1) for d, k in zip(dilation, kernel)]
                left = tuple(t // 2 for t in total)
                right = tuple(t - t // 2 for t in total)
        else:
            left = right = tuple(layer.padding)
        out_spatial = tuple(_out_size(s, k, st, l + r, d)
                            for s, k, st, l, r, d in zip(spatial, kernel, stride, left, right, dilation))
        c_out, groups = layer.out_channels, layer.groups
        cin_g, cout_g = layer.in_channels // groups, c_out // groups
        P, K = int(np.prod(out_spatial)), int(np.prod(kernel))
        self.builder.reserve(float(c_out) * P * (cin_g * K + 1) + float(P) * K * (nd + 2),
                             f"{type(layer).__name__} with {c_out} channels of {cin_g} x {K} weights on {P} positions")
        flat, valid = _windows(spatial, kernel, stride, left, dilation, out_spatial)
        P, K = flat.shape
        ids = x.ids.reshape(layer.in_channels, -1)
        o = np.arange(c_out)[:, None, None, None]
        p = np.arange(P)[None, :, None, None]
        cl = np.arange(cin_g)[None, None, :, None]
        k = np.arange(K)[None, None, None, :]
        ci = (o // cout_g) * cin_g + cl
        shape = (c_out, P, cin_g, K)
        mask = np.broadcast_to(valid[None, :, None, :], shape)
        src = np.broadcast_to(ids[ci, flat[None, :, None, :]], shape)[mask]
        dst = np.broadcast_to(o * P + p, shape)[mask]
        w = self._offset(name, layer, "weight")
        param = np.broadcast_to(w + (o * cin_g + cl) * K + k, shape)[mask]
        parts = [(src, dst, param)]
        b = self._offset(name, layer, "bias")
        if b is not None:
            o2, p2 = np.ix_(np.arange(c_out), np.arange(P))
            parts.append((np.full(c_out * P, -1), (o2 * P + p2).ravel(), np.broadcast_to(b + o2, (c_out, P)).ravel()))
        return _affine_from((c_out,) + out_spatial, parts)

    def _pool_geometry(self, layer, x, nd):
        kernel = _pair(layer.kernel_size, nd, "kernel_size")
        stride = _pair(layer.stride if layer.stride is not None else layer.kernel_size, nd, "stride")
        padding = _pair(layer.padding, nd, "padding")
        dilation = _pair(getattr(layer, "dilation", 1), nd, "dilation")
        if getattr(layer, "ceil_mode", False):
            raise _Unsupported("ceil_mode=True is not supported")
        if len(x.shape) != nd + 1:
            raise _Unsupported(f"input of shape {x.shape}, expected (C, ...) with {nd} spatial dims")
        spatial = x.shape[1:]
        out_spatial = tuple(_out_size(s, k, st, 2 * p, d)
                            for s, k, st, p, d in zip(spatial, kernel, stride, padding, dilation))
        P, K = int(np.prod(out_spatial)), int(np.prod(kernel))
        self.builder.reserve(float(x.shape[0]) * P * K + float(P) * K * (nd + 2),
                             f"{type(layer).__name__} of {K} entries on {x.shape[0]} x {P} positions")
        flat, valid = _windows(spatial, kernel, stride, padding, dilation, out_spatial)
        return kernel, out_spatial, flat, valid

    def _pool_edges(self, x, out_spatial, flat, valid, weight_of_window):
        C = x.shape[0]
        P, K = flat.shape
        ids = x.ids.reshape(C, -1)
        c = np.arange(C)[:, None, None]
        p = np.arange(P)[None, :, None]
        shape = (C, P, K)
        mask = np.broadcast_to(valid[None], shape)
        src = np.broadcast_to(ids[c, flat[None]], shape)[mask]
        dst = np.broadcast_to(c * P + p, shape)[mask]
        weight = np.broadcast_to(weight_of_window[None], shape)[mask]
        return _Affine((C,) + out_spatial, src, dst, np.full(src.size, -1), weight.astype(float))

    def _avgpool(self, layer, x):
        x = self.builder.materialize(x)
        nd = 1 if isinstance(layer, self.torch.nn.AvgPool1d) else 2
        kernel, out_spatial, flat, valid = self._pool_geometry(layer, x, nd)
        if getattr(layer, "divisor_override", None):
            w = np.full(valid.shape, 1.0 / layer.divisor_override)
        elif layer.count_include_pad:
            # torch divides by the window clipped to the padded input
            w = np.full(valid.shape, 1.0 / np.prod(kernel))
        else:
            w = np.broadcast_to(1.0 / valid.sum(axis=1, keepdims=True), valid.shape)
        return self._pool_edges(x, out_spatial, flat, valid, w)

    def _maxpool(self, layer, x):
        x = self.builder.materialize(x)
        nd = 1 if isinstance(layer, self.torch.nn.MaxPool1d) else 2
        if layer.return_indices:
            raise _Unsupported("return_indices=True is not supported")
        kernel, out_spatial, flat, valid = self._pool_geometry(layer, x, nd)
        return self.builder.materialize(self._pool_edges(x, out_spatial, flat, valid, np.ones(valid.shape)), "max")

    def _adaptive(self, layer, x):
        x = self.builder.materialize(x)
        nd = 1 if isinstance(layer, self.torch.nn.AdaptiveAvgPool1d) else 2
        if len(x.shape) != nd + 1:
            raise _Unsupported(f"input of shape {x.shape}, expected (C, ...) with {nd} spatial dims")
        spatial = x.shape[1:]
        size = layer.output_size
        size = (size,) * nd if isinstance(size, int) else tuple(size)
        size = tuple(s if s is not None else L for s, L in zip(size, spatial))
        if len(size) != nd or any(not isinstance(o, int) or o < 1 for o in size):
            raise _Unsupported(f"output_size={layer.output_size!r}: positive sizes expected, {nd} of them")
        # output i of a dimension of length L averages inputs floor(i L / o) .. ceil((i + 1) L / o) - 1
        windows = [(np.arange(o) * L) // o for L, o in zip(spatial, size)]
        ends = [-((-(np.arange(o) + 1) * L) // o) for L, o in zip(spatial, size)]
        lengths = [e - b for b, e in zip(windows, ends)]
        self.builder.reserve(float(x.shape[0]) * np.prod([float(n.sum()) for n in lengths]) * 2,
                             f"{type(layer).__name__} to {size} on {x.shape[0]} x {spatial}")
        per_dim = []
        for start, length in zip(windows, lengths):
            outs = np.repeat(np.arange(length.size), length)
            ins = start[outs] + (np.arange(outs.size) - np.repeat(np.cumsum(length) - length, length))
            per_dim.append((outs, ins, 1.0 / length[outs]))
        # combine the dimensions: every choice of one entry per dimension
        grids = np.meshgrid(*[np.arange(len(d[0])) for d in per_dim], indexing="ij")
        grids = [g.ravel() for g in grids]
        out_flat = np.ravel_multi_index(tuple(per_dim[d][0][grids[d]] for d in range(nd)), size)
        in_flat = np.ravel_multi_index(tuple(per_dim[d][1][grids[d]] for d in range(nd)), spatial)
        w = np.prod([per_dim[d][2][grids[d]] for d in range(nd)], axis=0)
        C = x.shape[0]
        ids = x.ids.reshape(C, -1)
        P = int(np.prod(size))
        src = ids[:, in_flat].ravel()
        dst = (np.arange(C)[:, None] * P + out_flat[None]).ravel()
        weight = np.broadcast_to(w, (C, w.size)).ravel()
        return _Affine((C,) + size, src, dst, np.full(src.size, -1), weight.astype(float))

    def _add(self, a, b):
        if not isinstance(a, (_Neurons, _Affine)) or not isinstance(b, (_Neurons, _Affine)):
            raise _Unsupported("only the sum of two tensors is supported (no constants)")
        if a.shape != b.shape:
            raise _Unsupported(f"shapes {a.shape} and {b.shape} differ (broadcasting is not supported)")
        self.builder.reserve(sum(v.ids.size if isinstance(v, _Neurons) else v.src.size for v in (a, b)),
                             "an addition")
        left, right = _as_affine(a), _as_affine(b)
        if _overlap(left, right):
            # x + x, two biases on one neuron, ...: the model has at most one edge per pair of
            # neurons, so route one operand through neurons of its own (unit edges onwards)
            right = _as_affine(self.builder.materialize(b, copy=True))
        return _Affine(left.shape, *(np.concatenate([getattr(left, f), getattr(right, f)])
                                     for f in ("src", "dst", "param", "weight")))

    def _flatten(self, x, start_dim=0, end_dim=-1):
        full = len(x.shape) + 1  # with the batch dimension
        start = start_dim % full
        end = end_dim % full
        if start == 0:
            raise _Unsupported("flattening the batch dimension (start_dim=0) is not supported")
        shape = x.shape[: start - 1] + (int(np.prod(x.shape[start - 1:end])),) + x.shape[end:]
        return _reshaped(x, shape)

    def _view(self, x, shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not shape or not (isinstance(shape[0], _SizeOf) and shape[0].dim == 0):
            raise _Unsupported("view/reshape must keep the batch dimension first (x.view(x.size(0), ...))")
        rest = [s for s in shape[1:]]
        if any(not isinstance(s, int) for s in rest):
            raise _Unsupported("view/reshape sizes after the batch must be integers")
        try:
            new = np.empty(x.shape, dtype=np.int8).reshape(rest).shape
        except ValueError:
            raise _Unsupported(f"cannot reshape {x.shape} to {tuple(rest)}") from None
        return _reshaped(x, new)

    def _cat(self, tensors, dim=0):
        if not tensors or any(not isinstance(t, (_Neurons, _Affine)) for t in tensors):
            raise _Unsupported("torch.cat of tensors expected")
        nd = len(tensors[0].shape) + 1
        dim = dim % nd
        if dim == 0:
            raise _Unsupported("concatenation along the batch dimension is not supported")
        axis = dim - 1
        if all(isinstance(t, _Neurons) for t in tensors):
            return _Neurons(np.concatenate([t.ids for t in tensors], axis=axis))
        self.builder.reserve(sum(t.ids.size if isinstance(t, _Neurons) else t.src.size for t in tensors) * 2,
                             "a concatenation")
        offsets = np.cumsum([0] + [int(np.prod(t.shape)) for t in tensors])
        position = np.concatenate([np.arange(int(np.prod(t.shape))).reshape(t.shape) + off
                                   for t, off in zip(tensors, offsets)], axis=axis)
        new_index = np.empty(offsets[-1], dtype=np.int64)
        new_index[position.ravel()] = np.arange(offsets[-1])
        affines = [_as_affine(t) for t in tensors]
        src = np.concatenate([a.src for a in affines])
        dst = np.concatenate([new_index[a.dst + off] for a, off in zip(affines, offsets)])
        param = np.concatenate([a.param for a in affines])
        weight = np.concatenate([a.weight for a in affines])
        return _Affine(position.shape, src, dst, param, weight)


class _SizeOf:
    """``x.size()`` / ``x.size(d)`` of a traced tensor (dim 0 is the batch)."""

    def __init__(self, shape, dim):
        self.shape, self.dim = shape, dim


_MISSING = object()


def _overlap(a: _Affine, b: _Affine) -> bool:
    """Whether two pending tensors have an edge between the same source (or a bias) and target."""
    sources = np.zeros(max(a.src.max(initial=-1), b.src.max(initial=-1)) + 2, dtype=bool)
    sources[a.src + 1] = True
    if not sources[b.src + 1].any():  # the usual case (a residual sum): no common source at all
        return False
    key_a = (a.src + 1) * (int(np.prod(a.shape)) + 1) + a.dst
    key_b = (b.src + 1) * (int(np.prod(b.shape)) + 1) + b.dst
    return bool(np.intersect1d(key_a, key_b).size)


def _affine_from(shape, parts) -> _Affine:
    src = np.concatenate([p[0] for p in parts]).astype(np.int64)
    dst = np.concatenate([p[1] for p in parts]).astype(np.int64)
    param = np.concatenate([p[2] for p in parts]).astype(np.int64)
    return _Affine(shape, src, dst, param, np.ones(src.size))


def _batchnorm_reason(bn) -> str | None:
    if bn.training:
        return "BatchNorm in training mode; call module.eval() first (its running statistics are folded)"
    if bn.running_mean is None:
        return "BatchNorm without running statistics (track_running_stats=False) cannot be folded"
    return None


def _root(module):
    """The module to trace: a bare layer (``nn.Linear``, ``nn.Conv2d``, ...: a module torch.fx keeps
    whole) inside an ``nn.Sequential`` of it, whose trace calls it as a module; any other module as it
    is. The wrapper holds the same parameters in the same order."""
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    if not isinstance(module, torch.nn.Sequential) and torch.fx.Tracer().is_leaf_module(module, ""):
        return torch.nn.Sequential(module)
    return module


def _trace(module):
    torch = _torch()
    if not isinstance(module, torch.nn.Module):
        raise TypeError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    try:
        return torch.fx.symbolic_trace(module).graph
    except Exception as error:  # tracing runs user code: report what failed, whatever it raised
        raise ValueError(f"torch.fx could not trace {type(module).__name__}: {error}") from error


def _fold_pairs(graph, module) -> dict:
    """{Linear/conv qualified name: BatchNorm qualified name} for every BatchNorm that can be folded."""
    torch = _torch()
    nn = torch.nn
    pairs = {}
    for node in graph.nodes:
        if node.op != "call_module":
            continue
        bn = module.get_submodule(node.target)
        if not isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) or _batchnorm_reason(bn):
            continue
        prev = node.args[0] if node.args else None
        if not isinstance(prev, torch.fx.Node) or prev.op != "call_module" or len(prev.users) != 1:
            continue
        layer = module.get_submodule(prev.target)
        if isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)) and prev.target not in pairs:
            pairs[prev.target] = node.target
    return pairs


def _folded(layer, bn):
    """(weight, bias) of ``layer`` followed by the eval-mode BatchNorm ``bn``, in float64."""
    torch = _torch()
    with torch.no_grad():
        scale = bn.weight.double() if bn.weight is not None else torch.ones_like(bn.running_mean, dtype=torch.float64)
        shift = bn.bias.double() if bn.bias is not None else torch.zeros_like(bn.running_mean, dtype=torch.float64)
        scale = scale / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = layer.weight.double() * scale.reshape((-1,) + (1,) * (layer.weight.dim() - 1))
        bias = layer.bias.double() if layer.bias is not None else torch.zeros_like(scale)
        bias = (bias - bn.running_mean.double()) * scale + shift
    return weight.reshape(-1).numpy(), bias.numpy()


def _theta_layout(module, folded: dict):
    """(slots, n_params, theta): slots maps id(parameter) and ("folded", layer, "weight"/"bias") to
    offsets in theta; theta is float64 in the documented order."""
    from . import _checks

    torch = _torch()
    # theta and its per-tensor float64 copies: refused before copying when beyond the budget
    _checks.check_size(2.0 * sum(p.numel() for p in module.parameters()), "theta (the module's parameters in "
                       "float64, and their copies)")
    skip = set()
    for bn_name in folded.values():
        bn = module.get_submodule(bn_name)
        skip |= {id(p) for p in (bn.weight, bn.bias) if p is not None}
    replaced = {}
    for layer_name, bn_name in folded.items():
        layer = module.get_submodule(layer_name)
        weight, bias = _folded(layer, module.get_submodule(bn_name))
        replaced[id(layer.weight)] = (layer_name, "weight", weight, bias if layer.bias is None else None)
        if layer.bias is not None:
            replaced[id(layer.bias)] = (layer_name, "bias", bias, None)
    slots, parts, offset = {}, [], 0
    for p in module.parameters():
        if id(p) in skip:
            continue
        if id(p) in replaced:
            layer_name, kind, values, extra = replaced[id(p)]
            slots[("folded", layer_name, kind)] = offset
            parts.append(values)
            offset += values.size
            if extra is not None:  # the folded bias of a layer without one, right after its weight
                slots[("folded", layer_name, "bias")] = offset
                parts.append(extra)
                offset += extra.size
            continue
        slots[id(p)] = offset
        parts.append(p.detach().to(device="cpu", dtype=torch.float64).reshape(-1).numpy())
        offset += p.numel()
    theta = np.concatenate(parts) if parts else np.zeros(0)
    return slots, offset, theta


def _input_shape(input_shape) -> tuple:
    from . import _checks

    if _checks.is_integer(input_shape):
        input_shape = (input_shape,)
    message = f"input_shape must be a tuple of positive integers (no batch dimension), got {input_shape!r}"
    if isinstance(input_shape, (str, bytes)) or not hasattr(input_shape, "__iter__"):
        raise ValueError(message)
    input_shape = tuple(input_shape)
    if not input_shape or any(not _checks.is_integer(s) or int(s) < 1 for s in input_shape):
        raise ValueError(message)
    input_shape = tuple(int(s) for s in input_shape)
    # one neuron per entry (the product of Python ints: no wrap-around), refused before any is made
    _checks.check_size(float(math.prod(input_shape)), f"the input neurons of input_shape {input_shape}")
    return input_shape


def _labels(n: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Connected components of the graph on 0..n-1 with edges (a, b): the smallest vertex of each.

    Min-label propagation with pointer jumping; after each round the edges are replaced by the
    edges between current labels and those inside one component dropped, so the rounds shrink."""
    labels = np.arange(n)
    while a.size:
        a, b = labels[a], labels[b]
        keep = a != b
        a, b = a[keep], b[keep]
        if not a.size:
            break
        m = np.minimum(a, b)
        np.minimum.at(labels, a, m)
        np.minimum.at(labels, b, m)
        while True:  # pointer jumping: every vertex points to its root
            jumped = labels[labels]
            if np.array_equal(jumped, labels):
                break
            labels = jumped
    return labels


def _finish(builder: _Builder, output: _Neurons, n_params: int, input_shape) -> dict:
    """Prune dead neurons, renumber, and find the channels: the fields of the model."""
    from . import _checks

    n_in = int(np.prod(input_shape))
    src = np.concatenate(builder.src) if builder.src else np.zeros(0, np.int64)
    dst = np.concatenate(builder.dst) if builder.dst else np.zeros(0, np.int64)
    param = np.concatenate(builder.param) if builder.param else np.zeros(0, np.int64)
    weight = np.concatenate(builder.weight) if builder.weight else np.zeros(0)
    _checks.check_size(4 * src.size, "the edges of the translated model")
    n = builder.n
    n_out = output.ids.size
    # forward reachability (from the inputs and the biases) and backward (to the outputs), one
    # block of neurons at a time: the edges into a block come from earlier blocks only
    reach = np.zeros(n, dtype=bool)
    reach[:n_in] = True
    for s_block, d_block in zip(builder.src, builder.dst):
        live = (s_block < 0) | reach[np.maximum(s_block, 0)]
        reach[d_block[live]] = True
    # a neuron no input or bias reaches is 0: dropped from a sum, but kept where a kept max takes
    # it in (max(0, v) is not v); blocks from the last, so that a max feeding a max is seen first
    is_max = builder.activation_of(np.arange(n)) == ACTIVATIONS.index("max")
    for s_block, d_block in zip(reversed(builder.src), reversed(builder.dst)):
        into_max = (s_block >= 0) & is_max[d_block] & reach[d_block]
        reach[s_block[into_max]] = True
    back = np.zeros(n, dtype=bool)
    back[n - n_out:] = True
    for s_block, d_block in zip(reversed(builder.src), reversed(builder.dst)):
        live = (s_block >= 0) & back[d_block]
        back[s_block[live]] = True
    keep = reach & back
    keep[:n_in] = True
    keep[n - n_out:] = True
    edge_keep = keep[dst] & ((src < 0) | keep[np.maximum(src, 0)])
    new_id = np.cumsum(keep) - 1
    src, dst, param, weight = src[edge_keep], dst[edge_keep], param[edge_keep], weight[edge_keep]
    src = np.where(src >= 0, new_id[np.maximum(src, 0)], -1)
    dst = new_id[dst]
    activation = np.asarray(ACTIVATIONS)[builder.activation_of(np.flatnonzero(keep))]
    n_neurons = int(keep.sum())
    # channels: neurons joined by fixed edges, and the destinations (sources) of each parameter's
    # edges, must be rescaled by the same factor; components without an input or output are channels
    fixed = (param < 0) & (src >= 0)
    has = param >= 0
    hub_dst = n_neurons + param[has]
    inner = has & (src >= 0)
    a = np.concatenate([src[fixed], dst[has], src[inner]])
    b = np.concatenate([dst[fixed], hub_dst, n_neurons + n_params + param[inner]])
    labels = _labels(n_neurons + 2 * n_params, a, b)[:n_neurons]
    bad = np.zeros(n_neurons, dtype=bool)
    bad[np.unique(labels[:n_in])] = True
    bad[np.unique(labels[n_neurons - n_out:])] = True
    hidden = np.arange(n_in, n_neurons - n_out)
    hidden = hidden[~bad[labels[hidden]]]
    # hidden neurons grouped by label (groups in the order of their first neuron, neurons sorted)
    order = np.argsort(labels[hidden], kind="stable")
    cuts = np.flatnonzero(np.diff(labels[hidden][order])) + 1
    groups = {int(members[0]): members.tolist() for members in np.split(hidden[order], cuts) if members.size}
    fields = dict(n_inputs=n_in, n_outputs=n_out, n_neurons=n_neurons, edge_src=src, edge_dst=dst,
                  edge_param=param, edge_weight=np.where(param >= 0, 0.0, weight), n_params=n_params,
                  activation=activation, input_shape=tuple(input_shape))
    return fields, sorted(groups.values())


def _law_terms(groups, n_neurons, src, dst, param):
    """(law index, parameter, sign) triples: h_g = sum_in theta_p^2 - sum_out theta_p^2 per group g.

    A parameter is "in" for group g when its edges end in g and start outside it, "out" when they
    start in g and end outside it (rescaling g by lambda multiplies the first by lambda and the
    second by 1/lambda); each parameter counts once per group.
    """
    chan = np.full(n_neurons, -1)
    for g, members in enumerate(groups):
        chan[list(members)] = g
    has = param >= 0
    cd = chan[dst[has]]
    cs = np.where(src[has] >= 0, chan[np.maximum(src[has], 0)], -1)
    p = param[has]
    into = (cd >= 0) & (cd != cs)
    out = (cs >= 0) & (cs != cd)
    pairs_in = np.unique(np.stack([cd[into], p[into]], axis=1), axis=0)
    pairs_out = np.unique(np.stack([cs[out], p[out]], axis=1), axis=0)
    index = np.concatenate([pairs_in[:, 0], pairs_out[:, 0]]).astype(np.int64)
    par = np.concatenate([pairs_in[:, 1], pairs_out[:, 1]]).astype(np.int64)
    sign = np.concatenate([np.ones(len(pairs_in)), -np.ones(len(pairs_out))])
    return index, par, sign


def _laws(terms, n_laws: int, theta) -> np.ndarray:
    index, param, sign = terms
    return np.bincount(index, weights=sign * np.asarray(theta)[param] ** 2, minlength=n_laws)


def _translate(module, input_shape, fold_batchnorm):
    """(fields of the model, theta, groups of hidden neurons rescaled together, max ones included)."""
    from . import _checks

    input_shape = _input_shape(input_shape)
    translator = _Translator(module, input_shape, _checks.boolean(fold_batchnorm, "fold_batchnorm"))
    output = translator.run()
    fields, groups = _fields(translator, output)
    return fields, translator.values_of_theta.copy(), groups


def _fields(translator, output) -> tuple:
    """(fields of the model, groups) from a translation that went through: the edges pruned and
    renumbered, every parameter checked to lie on an edge (ValueError naming it otherwise)."""
    input_shape = translator.input_shape
    fields, groups = _finish(translator.builder, output, translator.n_params, input_shape)
    used = np.zeros(translator.n_params, dtype=bool)
    used[fields["edge_param"][fields["edge_param"] >= 0]] = True
    if not used.all():
        i = int(np.flatnonzero(~used)[0])
        name, index = _name_of(translator.module, translator.slots, i)
        raise ValueError(f"from_torch: parameter {name!r} (entry {index}, theta[{i}]) carries no edge: the module "
                         f"does not use it on an input of shape {input_shape} (an unused layer, or a kernel entry "
                         "that only ever sees padding); the model needs every parameter on some edge")
    return fields, groups


def _name_of(module, slots: dict, i: int) -> tuple:
    """(qualified parameter name, index within it) of theta[i]."""
    names = {id(p): name for name, p in module.named_parameters()}
    best = None
    for key, offset in slots.items():
        if offset <= i and (best is None or offset > best[1]):
            best = (key, offset)
    key, offset = best
    if isinstance(key, tuple):
        name, size = f"{key[1]}.{key[2]} (folded)", module.get_submodule(key[1]).weight.shape
        shape = size if key[2] == "weight" else (size[0],)
    else:
        p = next(p for p in module.parameters() if id(p) == key)
        name, shape = names[key], tuple(p.shape)
    return name, tuple(int(k) for k in np.unravel_index(i - offset, shape))


def _build(fields: dict, groups: list):
    """The SharedReLUNet; its channels are the groups without max neurons (a model with max
    neurons is for path norms only)."""
    from .models import SharedReLUNet

    is_max = np.asarray(fields["activation"]) == "max"
    channels = tuple(tuple(g) for g in groups if not is_max[g].any())
    return SharedReLUNet(channels=channels, **fields)  # the arrays as they are (the model copies them)


# -- public functions -------------------------------------------------------------------------------

def from_torch(module: Any, input_shape: Sequence[int] | int, *,
               fold_batchnorm: bool = False) -> tuple[Any, np.ndarray]:
    """Translate a PyTorch module into a path-lifting model and its parameter vector theta.

    The module is traced with ``torch.fx``. Supported: ``nn.Linear``, ``nn.Conv1d``/``nn.Conv2d``
    (stride, padding, dilation, groups; zero padding), ``nn.ReLU``/``F.relu``/``torch.relu``,
    ``nn.Identity`` (and ``nn.Dropout`` in eval mode), ``nn.Flatten``/``torch.flatten``/``view``,
    residual additions (``+``, ``torch.add``), ``torch.cat`` along a non-batch dimension,
    ``nn.AvgPool1d/2d`` and ``nn.AdaptiveAvgPool1d/2d`` (fixed weights), ``nn.MaxPool1d/2d``
    (neurons with activation "max": path norms only), ``nn.Sequential`` and user modules made of
    these, and any of these layers alone (read as ``nn.Sequential(layer)``). Anything else raises
    a ValueError naming the node, the module (qualified name and type) and the operation;
    ``validate`` lists them all without raising. A layer whose edges would exceed
    ``intrinsic_flow.config.max_bytes`` is refused before they are made, naming the size.

    Parameters
    ----------
    module : torch.nn.Module
        The network; it takes one tensor of shape ``(n, *input_shape)`` and returns one of shape
        ``(n, ...)``, flattened into the outputs.
    input_shape : tuple of int
        The shape of one input, without the batch dimension.
    fold_batchnorm : bool, default False
        Fold every eval-mode ``BatchNorm1d/2d`` that directly follows a ``Linear`` or a convolution
        into it: theta then holds the folded weights and biases (the BatchNorm parameters leave
        theta). The folded model computes the same function, and its path norms are those of the
        network; it has no conservation laws of the original parameters.

    Returns
    -------
    model : SharedReLUNet
        The path-lifting model (``intrinsic_flow.SharedReLUNet``); its ``channels`` are the groups
        of hidden neurons rescaled together (none when the module has max pooling, which only
        ``path_norm`` accepts).
    theta : ndarray of shape (n_params,)
        ``parameters_to_vector(module.parameters())`` in float64 (folded values with
        ``fold_batchnorm=True``); see the module docstring for the order.

    Raises
    ------
    ImportError
        Without PyTorch.
    TypeError
        If ``module`` is not a ``torch.nn.Module``.
    ValueError
        If ``input_shape`` is not a tuple of positive integers, the module cannot be traced, or a
        node is not supported (the message names it).

    Examples
    --------
    >>> import torch
    >>> from intrinsic_flow.torch import from_torch
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> model, theta = from_torch(net, (3,))
    >>> model.n_params, theta.shape, len(model.channels)
    (26, (26,), 4)
    """
    fields, theta, groups = _translate(module, input_shape, fold_batchnorm)
    return _build(fields, groups), theta


@dataclasses.dataclass(frozen=True)
class ValidationReport:
    """What ``from_torch`` makes of each node of the traced module.

    Attributes
    ----------
    entries : tuple of (str, str, str, bool, str)
        Per node: (node name, fx operation, what it is, supported, reason).
    ok : bool
        Every node is supported.
    unsupported : list of tuple
        The entries that are not.
    """

    entries: tuple

    @property
    def ok(self) -> bool:
        return all(e[3] for e in self.entries)

    @property
    def unsupported(self) -> list:
        return [e for e in self.entries if not e[3]]

    def __str__(self) -> str:
        lines = [f"{'node':<20} {'supported':<9}  what: reason"]
        for name, _, what, ok, reason in self.entries:
            lines.append(f"{name:<20} {'yes' if ok else 'NO':<9}  {what}: {reason}")
        return "\n".join(lines)


def validate(module: Any, input_shape: Sequence[int] | int, *, fold_batchnorm: bool = False) -> ValidationReport:
    """Which nodes of ``module`` ``from_torch`` supports, without raising on unsupported ones.

    Parameters
    ----------
    module : torch.nn.Module
    input_shape : tuple of int
        The shape of one input, without the batch dimension.
    fold_batchnorm : bool, default False
        As in ``from_torch``.

    Returns
    -------
    ValidationReport
        One entry per traced node; a node fed by an unsupported one is reported as such. When
        every node is supported, the model is built as ``from_torch`` builds it, and a failure
        there (a parameter on no edge, the budget ``config.max_bytes``) is one more entry named
        "model": ``ok`` is True exactly when ``from_torch`` translates the module. A node whose
        edges would exceed ``config.max_bytes`` is reported, not built.

    Raises
    ------
    ImportError
        Without PyTorch.
    TypeError
        If ``module`` is not a ``torch.nn.Module``.
    ValueError
        If ``input_shape`` is invalid or the module cannot be traced at all.

    Examples
    --------
    >>> import torch
    >>> from intrinsic_flow.torch import validate
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2))
    >>> report = validate(net, (3,))
    >>> report.ok, report.unsupported[0][2], report.unsupported[0][4]
    (False, "module '1' (Tanh)", 'this module type is not supported')
    """
    from . import _checks

    input_shape = _input_shape(input_shape)
    translator = _Translator(module, input_shape, _checks.boolean(fold_batchnorm, "fold_batchnorm"), report=True)
    output = translator.run()
    entries = translator.entries
    if all(entry[3] for entry in entries):  # every node went through: what from_torch does next
        try:
            _build(*_fields(translator, output))
        except ValueError as error:
            entries.append(("model", "model", "the translated model", False, str(error)))
    return ValidationReport(tuple(entries))


def load_theta(module: Any, theta: Any, *, fold_batchnorm: bool = False) -> Any:
    """Write theta back into the parameters of ``module`` (in place); the inverse of ``from_torch``.

    Parameters
    ----------
    module : torch.nn.Module
    theta : array_like of shape (n_params,)
        In the order of ``from_torch`` (``module.parameters()``, each tensor in C order).
    fold_batchnorm : bool, default False
        theta holds folded values (``from_torch(..., fold_batchnorm=True)``): the folded weights
        and biases go into the layers, and each folded BatchNorm becomes the identity (weight 1,
        running mean 0, running variance 1 - eps; its bias holds the folded bias of a layer
        without one, else 0).

    Returns
    -------
    module : torch.nn.Module
        The same module.

    Raises
    ------
    ValueError
        If ``theta`` is not a finite vector of the right length.

    Examples
    --------
    >>> import numpy as np, torch
    >>> from intrinsic_flow.torch import from_torch, load_theta
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    >>> model, theta = from_torch(net, (3,))
    >>> _ = load_theta(net, 2 * theta)
    >>> np.allclose(from_torch(net, (3,))[1], 2 * theta)
    True
    """
    from . import _checks

    torch = _torch()
    root = _root(module)
    folded = _fold_pairs(_trace(root), root) if _checks.boolean(fold_batchnorm, "fold_batchnorm") else {}
    slots, n_params, _ = _theta_layout(root, folded)
    theta = _checks.finite_array(theta, "theta", (n_params,))
    with torch.no_grad():
        for p in module.parameters():
            if id(p) in slots:
                p.copy_(torch.from_numpy(theta[slots[id(p)]:slots[id(p)] + p.numel()].reshape(tuple(p.shape))))
        for layer_name, bn_name in folded.items():
            layer, bn = root.get_submodule(layer_name), root.get_submodule(bn_name)
            w = slots[("folded", layer_name, "weight")]
            layer.weight.copy_(torch.from_numpy(theta[w:w + layer.weight.numel()].reshape(tuple(layer.weight.shape))))
            b = slots[("folded", layer_name, "bias")]
            bias = torch.from_numpy(theta[b:b + bn.num_features].copy())
            if layer.bias is not None:
                layer.bias.copy_(bias)
                bias = torch.zeros_like(bias)
            if bn.weight is not None:
                bn.weight.fill_(1.0)
            if bn.bias is not None:
                bn.bias.copy_(bias)
            elif layer.bias is None and np.any(bias.numpy() != 0):
                raise ValueError(f"{bn_name} has no bias (affine=False) to hold the folded bias of {layer_name}")
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)
    return module


# -- conservation laws ------------------------------------------------------------------------------

class ConservationMonitor:
    r"""The known conservation laws of a PyTorch module, recorded along a plain training loop.

    One law per channel :math:`g` of ``from_torch(module, input_shape)`` (a hidden neuron of an
    MLP, a hidden channel of a CNN together with the pooling that follows it): the squares of the
    parameters entering the channel (weights and biases) minus those of the parameters leaving it,

    .. math::

        h_g(\theta) &= \sum_{i \in \mathrm{in}(g)} \theta_i^2 - \sum_{i \in \mathrm{out}(g)} \theta_i^2,

        h_g(\theta - \eta \nabla\ell) - h_g(\theta)
        &= \eta^2 \bigl(\|\nabla_{\mathrm{in}(g)} \ell\|^2 - \|\nabla_{\mathrm{out}(g)} \ell\|^2\bigr).

    Gradient flow conserves every :math:`h_g`; one SGD step of size :math:`\eta` changes it by
    exactly the second expression, so the drift per step scales like :math:`\eta^2`. Momentum
    keeps that order for a fixed momentum coefficient :math:`\beta` (with a constant growing like
    :math:`1/(1 - \beta)^2`), while Adam's per-coordinate scaling breaks the symmetry already at
    first order: its drift per step scales like :math:`\eta` (``docs/torch.md``).

    Use it as a callback (``monitor.step()`` after ``optimizer.step()``), or pass ``optimizer``:
    then every ``optimizer.step()`` records (a step post-hook), inside a ``with`` block or until
    ``close()``.

    Parameters
    ----------
    module : torch.nn.Module
        A network ``from_torch`` supports without BatchNorm.
    input_shape : tuple of int
        The shape of one input, without the batch dimension.
    optimizer : torch.optim.Optimizer, optional
        Record after each of its steps.

    Attributes
    ----------
    n_laws : int
    laws : ndarray of shape (n_records, n_laws)
        The laws at construction (row 0) and after every recorded step.
    drift : ndarray of shape (n_records, n_laws)
        ``laws - laws[0]``.
    step_drift : ndarray of shape (n_records - 1, n_laws)
        The change of the laws at every recorded step.

    Raises
    ------
    ValueError
        As ``from_torch`` (BatchNorm is refused: it has no rescaling symmetry).

    Examples
    --------
    >>> import torch
    >>> from intrinsic_flow.torch import ConservationMonitor
    >>> _ = torch.manual_seed(0)
    >>> net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1)).double()
    >>> opt = torch.optim.SGD(net.parameters(), lr=1e-3)
    >>> X, y = torch.randn(8, 3, dtype=torch.float64), torch.randn(8, 1, dtype=torch.float64)
    >>> with ConservationMonitor(net, (3,), optimizer=opt) as monitor:
    ...     for _ in range(5):
    ...         opt.zero_grad()
    ...         torch.nn.functional.mse_loss(net(X), y).backward()
    ...         opt.step()
    >>> monitor.laws.shape, bool(abs(monitor.drift).max() < 1e-4)
    ((6, 4), True)
    """

    def __init__(self, module: Any, input_shape: Sequence[int] | int, *, optimizer: Any = None) -> None:
        self.module = module
        fields, theta, groups = _translate(module, input_shape, False)
        self.groups = groups
        self._terms = _law_terms(groups, fields["n_neurons"], fields["edge_src"], fields["edge_dst"],
                                 fields["edge_param"])
        self.n_laws = len(groups)
        self._records = [_laws(self._terms, self.n_laws, theta)]
        self._hook = None
        if optimizer is not None:
            self._hook = optimizer.register_step_post_hook(lambda *args, **kwargs: self.step())

    def current(self) -> np.ndarray:
        """The laws at the module's current parameters, shape (n_laws,)."""
        torch = _torch()
        with torch.no_grad():
            theta = torch.nn.utils.parameters_to_vector(self.module.parameters()).double().cpu().numpy()
        return _laws(self._terms, self.n_laws, theta)

    def step(self) -> np.ndarray:
        """Record the laws now (call after ``optimizer.step()``); returns them, shape (n_laws,)."""
        values = self.current()
        self._records.append(values)
        return values

    def close(self) -> None:
        """Stop recording after optimizer steps (the records stay)."""
        if self._hook is not None:
            self._hook.remove()
            self._hook = None

    def __enter__(self) -> "ConservationMonitor":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def laws(self) -> np.ndarray:
        return np.array(self._records)

    @property
    def drift(self) -> np.ndarray:
        laws = self.laws
        return laws - laws[0]

    @property
    def step_drift(self) -> np.ndarray:
        return np.diff(self.laws, axis=0)

    def plot(self, ax: Any = None, label: str | None = None) -> Any:
        """Plot max_g |h_g(t) - h_g(0)| against the step on ``ax`` (log scale); returns ``ax``."""
        import matplotlib.pyplot as plt

        if ax is None:
            _, ax = plt.subplots()
        drift = np.abs(self.drift).max(axis=1) if self.n_laws else np.zeros(len(self._records))
        steps = np.arange(len(drift))
        ax.semilogy(steps[1:], np.maximum(drift[1:], 1e-300), label=label)
        ax.set_xlabel("step")
        ax.set_ylabel(r"$\max_g |h_g(t) - h_g(0)|$")
        return ax

    def figure(self) -> Any:
        """A matplotlib Figure: the drift of every law (left) and the largest one (right)."""
        from matplotlib.figure import Figure

        fig = Figure(figsize=(9, 3.5))
        left, right = fig.subplots(1, 2)
        left.plot(self.drift)
        left.set_xlabel("step")
        left.set_ylabel(r"$h_g(t) - h_g(0)$")
        left.set_title(f"{self.n_laws} laws")
        self.plot(right)
        right.set_title("largest drift")
        fig.tight_layout()
        return fig
