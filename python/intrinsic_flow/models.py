"""Models: the networks whose parameters theta are reparametrised as z = phi(theta).

Plain frozen dataclasses shared by both backends (docs/theory/lifting.md). Path-lifting models
(``ReLUNet``, ``DAGReLUNet``) describe themselves as a ``PathGraph``: one edge per parameter.
"""
from __future__ import annotations

import functools
from typing import Sequence
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._typing import Array
from ._graph import PathGraph, count_paths as _count_paths, longest_path, topological_order  # noqa: F401


def _resolve_rng(rng) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or _checks.is_integer(rng):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")


class _Model:
    """What every model offers on top of its own layout."""

    def init(self, rng: np.random.Generator | int | None = None, scheme: str = "gaussian", **options: object) -> Array:
        """A parameter vector theta of shape (n_params,), drawn with ``scheme``.

        ``rng``: a numpy Generator or an integer seed. Schemes are listed in
        ``intrinsic_flow.inits.SCHEMES``; options such as ``lambdas`` or ``p`` go to the scheme.
        """
        from .inits import initialize

        return initialize(self, _resolve_rng(rng), scheme, **options)


@dataclass(frozen=True)
class ReLUNet(_Model):
    """Layered ReLU network, widths input first: [d_in, h_1, ..., d_out].

    ``bias``: False, True (every non-input neuron, the outputs included) or "hidden" (hidden
    neurons only, the convention of the authors' code). Parameter order: for l = 1..L,
    ``W_l.ravel()`` (shape (d_l, d_{l-1}), C order) then ``b_l`` when layer l has biases.
    """

    widths: Sequence[int]
    bias: bool | str = False
    kind = "path"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", _checks.widths(self.widths))
        object.__setattr__(self, "bias", _checks.relu_bias(self.bias))

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    def has_bias(self, layer: int) -> bool:
        """Whether layer ``layer`` (1..L) carries biases."""
        return self.bias is True or (self.bias == "hidden" and layer < self.n_layers)

    @property
    def n_params(self) -> int:
        w = self.widths
        return sum(w[l] * w[l - 1] + (w[l] if self.has_bias(l) else 0) for l in range(1, len(w)))

    @property
    def n_hidden(self) -> int:
        return sum(self.widths[1:-1])

    @property
    def n_known_laws(self) -> int:
        return self.n_hidden

    @property
    def n_lifted(self) -> int:
        w = self.widths
        total = int(np.prod(w, dtype=object))
        for l in range(1, len(w)):
            if self.has_bias(l):
                total += int(np.prod(w[l:], dtype=object))
        return total

    def neuron(self, layer: int, index: int) -> int:
        """Global index of neuron ``index`` of layer ``layer`` (layer 0 = inputs)."""
        return sum(self.widths[:layer]) + index

    @functools.cached_property
    def graph(self) -> PathGraph:
        _checks.check_graph_size(self.n_params)
        src, dst = [], []
        for l in range(1, len(self.widths)):
            for j in range(self.widths[l]):
                for i in range(self.widths[l - 1]):
                    src.append(self.neuron(l - 1, i))
                    dst.append(self.neuron(l, j))
            if self.has_bias(l):
                src.extend([-1] * self.widths[l])
                dst.extend(self.neuron(l, j) for j in range(self.widths[l]))
        return PathGraph(sum(self.widths), self.widths[0], self.widths[-1], tuple(src), tuple(dst))

    def unflatten(self, theta) -> list:
        """Per-layer ``(W_l, b_l)`` with W_l of shape (d_l, d_{l-1}) and b_l (d_l,) or None. Views of theta."""
        theta = _checks.theta(self, theta)
        layers, offset = [], 0
        for l in range(1, len(self.widths)):
            rows, cols = self.widths[l], self.widths[l - 1]
            weight = theta[offset:offset + rows * cols].reshape(rows, cols)
            offset += rows * cols
            bias = None
            if self.has_bias(l):
                bias = theta[offset:offset + rows]
                offset += rows
            layers.append((weight, bias))
        return layers

    def flatten(self, layers) -> np.ndarray:
        """Inverse of ``unflatten``: a list of (W_l, b_l) (b_l None where the layer has no bias)."""
        if len(layers) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} layers, got {len(layers)}")
        parts = []
        for l, (weight, bias) in enumerate(layers, start=1):
            shape = (self.widths[l], self.widths[l - 1])
            parts.append(_checks.finite_array(weight, f"W_{l}", shape).ravel())
            if self.has_bias(l):
                if bias is None:
                    raise ValueError(f"layer {l} has a bias in this model; got None")
                parts.append(_checks.finite_array(bias, f"b_{l}", (self.widths[l],)))
            elif bias is not None:
                raise ValueError(f"layer {l} has no bias in this model; got {bias!r}")
        return np.concatenate(parts)

    def forward(self, theta, X) -> np.ndarray:
        """Network output: X of shape (n, d_in) -> (n, d_out); ReLU on hidden layers."""
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.widths[0]:
            raise ValueError(f"X must have shape (n, {self.widths[0]}), got {X.shape}")
        out = X
        for l, (weight, bias) in enumerate(self.unflatten(theta), start=1):
            out = out @ weight.T + (bias if bias is not None else 0.0)
            if l < self.n_layers:
                out = np.maximum(out, 0.0)
        return out


@dataclass(frozen=True)
class DAGReLUNet(_Model):
    """ReLU network on a directed acyclic graph (skip connections allowed).

    Neurons are 0..n-1 with n = 1 + the largest index in ``edges``; 0..n_inputs-1 are the inputs,
    the last n_outputs the outputs (no activation), the rest hidden (ReLU). An edge (u, v) means
    u -> v. ``bias`` lists the non-input neurons carrying a bias. Parameter order: one weight per
    edge in the order of ``edges``, then one bias per entry of ``bias``.
    """

    n_inputs: int
    n_outputs: int
    edges: Sequence[tuple[int, int]]
    bias: Sequence[int] = ()
    kind = "path"

    def __post_init__(self) -> None:
        n, edges, bias = _checks.dag(self.n_inputs, self.n_outputs, self.edges, self.bias)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "bias", bias)
        object.__setattr__(self, "n_inputs", int(self.n_inputs))
        object.__setattr__(self, "n_outputs", int(self.n_outputs))

    @functools.cached_property
    def n_neurons(self) -> int:
        return 1 + max(max(u, v) for u, v in self.edges)

    @property
    def n_params(self) -> int:
        return len(self.edges) + len(self.bias)

    @property
    def n_hidden(self) -> int:
        return self.n_neurons - self.n_inputs - self.n_outputs

    @property
    def n_known_laws(self) -> int:
        return self.n_hidden

    @functools.cached_property
    def n_lifted(self) -> int:
        return _count_paths(self.graph)

    @functools.cached_property
    def graph(self) -> PathGraph:
        src = [u for u, _ in self.edges] + [-1] * len(self.bias)
        dst = [v for _, v in self.edges] + list(self.bias)
        return PathGraph(self.n_neurons, self.n_inputs, self.n_outputs, tuple(src), tuple(dst))

    @classmethod
    def from_relunet(cls, net: ReLUNet) -> "DAGReLUNet":
        """The DAG of a layered net, with the same neuron numbering (parameter order differs)."""
        g = net.graph
        edges = [(s, t) for s, t in zip(g.param_src, g.param_dst) if s >= 0]
        bias = [t for s, t in zip(g.param_src, g.param_dst) if s < 0]
        return cls(net.widths[0], net.widths[-1], tuple(edges), tuple(bias))

    def unflatten(self, theta) -> dict:
        """``{"weights": (E,), "bias": (n_bias,)}`` views of theta."""
        theta = _checks.theta(self, theta)
        return {"weights": theta[: len(self.edges)], "bias": theta[len(self.edges):]}

    def flatten(self, parts: dict) -> np.ndarray:
        weights = _checks.finite_array(parts["weights"], "weights", (len(self.edges),))
        bias = _checks.finite_array(parts.get("bias", ()), "bias", (len(self.bias),))
        return np.concatenate([weights, bias])

    def forward(self, theta, X) -> np.ndarray:
        """Network output: X of shape (n, n_inputs) -> (n, n_outputs)."""
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.n_inputs:
            raise ValueError(f"X must have shape (n, {self.n_inputs}), got {X.shape}")
        theta = _checks.theta(self, theta)
        n, first_output = self.n_neurons, self.n_neurons - self.n_outputs
        pre = np.zeros((X.shape[0], n))
        pre[:, : self.n_inputs] = X
        for k, v in enumerate(self.bias):
            pre[:, v] += theta[len(self.edges) + k]
        incoming = {v: [] for v in range(n)}
        for k, (u, v) in enumerate(self.edges):
            incoming[v].append((u, k))
        done = [False] * n

        def value(v):
            if v < self.n_inputs:
                return pre[:, v]
            if not done[v]:
                for u, k in incoming[v]:
                    pre[:, v] += theta[k] * activation(u)
                done[v] = True
            return pre[:, v]

        def activation(u):
            out = value(u)
            return out if u < self.n_inputs else np.maximum(out, 0.0)

        return np.stack([value(v) for v in range(first_output, n)], axis=1)


@dataclass(frozen=True)
class LinearNet(_Model):
    """Deep linear network, widths input first; phi(theta) = (W_L ... W_1).ravel().

    Parameter order: ``W_l.ravel()`` for l = 1..L, W_l of shape (d_l, d_{l-1}). Known laws: the
    upper triangles (row by row) of H_l = W_{l+1}^T W_{l+1} - W_l W_l^T, l = 1..L-1.
    """

    widths: Sequence[int]
    kind = "linear"

    def __post_init__(self) -> None:
        object.__setattr__(self, "widths", _checks.widths(self.widths))

    @property
    def n_layers(self) -> int:
        return len(self.widths) - 1

    @property
    def n_params(self) -> int:
        return sum(self.widths[l] * self.widths[l - 1] for l in range(1, len(self.widths)))

    @property
    def n_lifted(self) -> int:
        return self.widths[0] * self.widths[-1]

    @property
    def n_hidden(self) -> int:
        return sum(self.widths[1:-1])

    @property
    def n_known_laws(self) -> int:
        return sum(w * (w + 1) // 2 for w in self.widths[1:-1])

    def unflatten(self, theta) -> list:
        """Per-layer W_l of shape (d_l, d_{l-1}), views of theta."""
        theta = _checks.theta(self, theta)
        layers, offset = [], 0
        for l in range(1, len(self.widths)):
            rows, cols = self.widths[l], self.widths[l - 1]
            layers.append(theta[offset:offset + rows * cols].reshape(rows, cols))
            offset += rows * cols
        return layers

    def flatten(self, layers) -> np.ndarray:
        if len(layers) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} matrices, got {len(layers)}")
        return np.concatenate([
            _checks.finite_array(w, f"W_{l}", (self.widths[l], self.widths[l - 1])).ravel()
            for l, w in enumerate(layers, start=1)
        ])

    def forward(self, theta, X) -> np.ndarray:
        """X of shape (n, d_in) -> (n, d_out)."""
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.widths[0]:
            raise ValueError(f"X must have shape (n, {self.widths[0]}), got {X.shape}")
        out = X
        for weight in self.unflatten(theta):
            out = out @ weight.T
        return out
