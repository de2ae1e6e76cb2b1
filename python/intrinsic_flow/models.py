"""Models: the networks whose parameters theta are reparametrised as z = phi(theta).

Plain frozen dataclasses shared by both backends (docs/theory/lifting.md). Path-lifting models
(``ReLUNet``, ``DAGReLUNet``) describe themselves as a ``PathGraph``: one edge per parameter;
``SharedReLUNet`` has edges carrying shared parameters or fixed weights.
"""
from __future__ import annotations

import functools
import hashlib
from typing import Sequence
from dataclasses import dataclass

import numpy as np

from . import _checks
from ._typing import Array
from ._graph import PathGraph, count_paths as _count_paths, longest_path, topological_order  # noqa: F401


class _Model:
    """What every model offers on top of its own layout."""

    def init(self, rng: np.random.Generator | int | None = None, scheme: str = "gaussian", **options: object) -> Array:
        """A parameter vector theta of shape (n_params,), drawn with ``scheme``.

        Schemes are listed in ``intrinsic_flow.inits.SCHEMES``: "gaussian" (He-scaled, the default),
        "uniform", "orthogonal" (layered models), "balanced" (every known law h = 0),
        "relaxed_balanced" (LinearNet), "sparse" and "dead_neuron".

        Parameters
        ----------
        rng : numpy.random.Generator, int or None, default None
            A numpy Generator or an integer seed (None: fresh entropy).
        scheme : str, default "gaussian"
            The initialisation scheme.
        **options
            Options of the scheme, such as ``lambdas`` (relaxed_balanced) or ``p`` (sparse).

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            If ``rng`` is not a Generator, an integer or None, ``scheme`` is unknown, or the scheme
            gets options it does not take.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([3, 4, 2])
        >>> net.init(0).shape, net.init(0, "sparse", p=0.5).shape
        ((20,), (20,))
        """
        from .inits import initialize

        return initialize(self, _checks.resolve_rng(rng), scheme, **options)


@dataclass(frozen=True)
class ReLUNet(_Model):
    r"""Layered ReLU network, widths input first: [d_in, h_1, ..., d_out].

    Layer :math:`l` computes (no ReLU on the output layer :math:`L`)

    .. math::

        x_l &= \operatorname{relu}(W_l x_{l-1} + b_l),

        z_p &= \phi_p(\theta) = \prod_{e \in p} \theta_e :

    its path-lifting :math:`z = \phi(\theta)` has one entry per path :math:`p` from an input or a
    bias to an output, the product of the parameters along it (``docs/theory/lifting.md``).

    Parameters
    ----------
    widths : sequence of int
        [d_in, h_1, ..., d_out], at least two positive integers.
    bias : bool or "hidden", default False
        False, True (every non-input neuron, the outputs included) or "hidden" (hidden neurons
        only, the convention of the authors' code).

    Attributes
    ----------
    n_params : int
        D, the length of theta. Parameter order: for l = 1..L, ``W_l.ravel()`` (shape
        (d_l, d_{l-1}), C order) then ``b_l`` when layer l has biases.
    n_lifted : int
        d, the number of paths.
    n_hidden, n_known_laws : int
        Hidden neurons; one known law per hidden neuron.
    n_layers : int
        L = len(widths) - 1.
    graph : PathGraph
        One edge per parameter.

    Raises
    ------
    ValueError
        If ``widths`` has fewer than two entries or a non-positive one (sets and other unordered
        containers are refused), or ``bias`` is not False, True or "hidden".

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> net = itf.ReLUNet([3, 4, 2], bias="hidden")
    >>> net.n_params, net.n_lifted, net.n_known_laws
    (24, 32, 4)
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
        """Whether layer ``layer`` (1..L) carries biases.

        Parameters
        ----------
        layer : int
            The layer, 1..L.

        Returns
        -------
        bool
        """
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
        """Global index of neuron ``index`` of layer ``layer`` (layer 0 = inputs).

        Parameters
        ----------
        layer : int
            The layer, 0..L.
        index : int
            The neuron within the layer.

        Returns
        -------
        int
            sum(widths[:layer]) + index.
        """
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
        """Per-layer ``(W_l, b_l)`` with W_l of shape (d_l, d_{l-1}) and b_l (d_l,) or None. Views of theta.

        Parameters
        ----------
        theta : array_like of shape (n_params,)

        Returns
        -------
        list of (ndarray, ndarray or None)
            L pairs; b_l is None where layer l has no bias.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length ``n_params`` or has a non-finite entry.

        See Also
        --------
        flatten

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([3, 4, 2], bias="hidden")
        >>> (W1, b1), (W2, b2) = net.unflatten(net.init(0))
        >>> W1.shape, b1.shape, W2.shape, b2
        ((4, 3), (4,), (2, 4), None)
        """
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
        """Inverse of ``unflatten``: a list of (W_l, b_l) (b_l None where the layer has no bias).

        Parameters
        ----------
        layers : list of (array_like, array_like or None)
            L pairs, W_l of shape (d_l, d_{l-1}) and b_l of shape (d_l,) or None.

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            If the number of layers, a shape, or the presence of a bias does not match the model,
            or an entry is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([3, 4, 2], bias="hidden")
        >>> theta = net.init(0)
        >>> np.array_equal(net.flatten(net.unflatten(theta)), theta)
        True
        """
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
        """Network output: X of shape (n, d_in) -> (n, d_out); ReLU on hidden layers.

        Parameters
        ----------
        theta : array_like of shape (n_params,)
        X : array_like of shape (n, d_in)
            One input per row.

        Returns
        -------
        ndarray of shape (n, d_out)

        Raises
        ------
        ValueError
            If ``X`` is not of shape (n, d_in), ``theta`` not of length ``n_params``, or either has a
            non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([3, 4, 2])
        >>> net.forward(net.init(0), np.ones((5, 3))).shape
        (5, 2)
        """
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
    r"""ReLU network on a directed acyclic graph (skip connections allowed).

    Neurons are 0..n-1 with n = 1 + the largest index in ``edges``; 0..n_inputs-1 are the inputs,
    the last n_outputs the outputs (no activation), the rest hidden (ReLU). An edge (u, v) means
    u -> v. Parameter order: one weight per edge in the order of ``edges``, then one bias per
    entry of ``bias``. :math:`z = \phi(\theta)` has one entry per path from an input or a bias to
    an output,

    .. math::

        \phi_p(\theta) = \prod_{e \in p} \theta_e

    (``docs/theory/lifting.md``).

    Parameters
    ----------
    n_inputs, n_outputs : int
        Numbers of input and output neurons, >= 1.
    edges : sequence of (int, int)
        The edges (u, v), one parameter each.
    bias : sequence of int, default ()
        The non-input neurons carrying a bias.

    Attributes
    ----------
    n_params : int
        D = len(edges) + len(bias).
    n_lifted : int
        d, the number of paths.
    n_neurons, n_hidden, n_known_laws : int
        Neurons; hidden neurons; one known law per hidden neuron.
    graph : PathGraph
        One edge per parameter.

    Raises
    ------
    ValueError
        For a cycle, a duplicate edge, an edge into an input or out of an output, a dangling
        neuron (one that no path from an input or a bias to an output goes through), a bias on an
        input or listed twice, or ``n_inputs + n_outputs`` above the number of neurons.

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3)], bias=[2])  # skip 0 -> 3
    >>> dag.n_params, dag.n_lifted, dag.n_known_laws
    (5, 4, 1)
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
        """The DAG of a layered net, with the same neuron numbering (parameter order differs).

        Parameters
        ----------
        net : ReLUNet

        Returns
        -------
        DAGReLUNet

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> itf.DAGReLUNet.from_relunet(itf.ReLUNet([2, 3, 1])).n_params
        9
        """
        g = net.graph
        edges = [(s, t) for s, t in zip(g.param_src, g.param_dst) if s >= 0]
        bias = [t for s, t in zip(g.param_src, g.param_dst) if s < 0]
        return cls(net.widths[0], net.widths[-1], tuple(edges), tuple(bias))

    def unflatten(self, theta) -> dict:
        """``{"weights": (E,), "bias": (n_bias,)}`` views of theta.

        Parameters
        ----------
        theta : array_like of shape (n_params,)

        Returns
        -------
        dict
            ``"weights"``: ndarray of shape (E,), one per edge (E = len(edges)); ``"bias"``: ndarray of
            shape (n_bias,), one per entry of ``bias``.

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length ``n_params`` or has a non-finite entry.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3)], bias=[2])
        >>> parts = dag.unflatten(dag.init(0))
        >>> parts["weights"].shape, parts["bias"].shape
        ((4,), (1,))
        """
        theta = _checks.theta(self, theta)
        return {"weights": theta[: len(self.edges)], "bias": theta[len(self.edges):]}

    def flatten(self, parts: dict) -> np.ndarray:
        """Inverse of ``unflatten``: theta from ``{"weights": (E,), "bias": (n_bias,)}``.

        Parameters
        ----------
        parts : dict
            ``"weights"`` of shape (E,) and, when the model has biases, ``"bias"`` of shape (n_bias,).

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            If a shape does not match the model or an entry is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3)], bias=[2])
        >>> theta = dag.init(0)
        >>> np.array_equal(dag.flatten(dag.unflatten(theta)), theta)
        True
        """
        weights = _checks.finite_array(parts["weights"], "weights", (len(self.edges),))
        bias = _checks.finite_array(parts.get("bias", ()), "bias", (len(self.bias),))
        return np.concatenate([weights, bias])

    def forward(self, theta, X) -> np.ndarray:
        """Network output: X of shape (n, n_inputs) -> (n, n_outputs).

        A neuron's value is its bias plus the weighted sum of the ReLU of its predecessors (inputs
        pass unchanged); outputs have no activation.

        Parameters
        ----------
        theta : array_like of shape (n_params,)
        X : array_like of shape (n, n_inputs)
            One input per row.

        Returns
        -------
        ndarray of shape (n, n_outputs)

        Raises
        ------
        ValueError
            If ``X`` is not of shape (n, n_inputs), ``theta`` not of length ``n_params``, or either has
            a non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3)], bias=[2])
        >>> dag.forward(dag.init(0), np.ones((5, 2))).shape
        (5, 1)
        """
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


def _frozen(values: np.ndarray) -> np.ndarray:
    """values as a read-only array (the model owns it: callers pass fresh arrays)."""
    values = np.ascontiguousarray(values)
    values.flags.writeable = False
    return values


@dataclass(frozen=True)
class SharedReLUNet(_Model):
    r"""ReLU network on a DAG whose edges carry shared parameters or fixed weights (convolutions,
    pooling, skips).

    Edge e goes from neuron ``edge_src[e]`` (-1: a bias, from the constant 1) to ``edge_dst[e]`` and
    carries :math:`w_e` = ``theta[edge_param[e]]``, or the constant ``edge_weight[e]`` when
    ``edge_param[e] = -1``. Many edges may share one parameter (a convolution kernel sits on every
    position). Neurons are numbered in a topological order (every edge has edge_src < edge_dst);
    0..n_inputs-1 are the inputs, the last n_outputs the outputs. The path-lifting has one entry
    per path of edges from an input or a bias to an output:

    .. math::

        \phi_p(\theta) &= \prod_{e \in p} w_e,

        \frac{\partial \phi_p}{\partial \theta_i} &= \sum_{e \in p,\ e \text{ carries } i}\
        \prod_{g \in p,\, g \neq e} w_g

    (the multiplicity of :math:`i` in :math:`p` times :math:`\phi_p / \theta_i` off zeros); see
    ``docs/theory/lifting.md``.

    Known laws: one per *channel* :math:`c` (a group of hidden neurons rescaled together: incoming
    weights times :math:`\lambda`, outgoing times :math:`1/\lambda`),

    .. math::

        h_c(\theta) = \sum_i s_c(i)\, \theta_i^2,

    with :math:`s_c(i) = +1` for a parameter entering :math:`c`, :math:`-1` for one leaving it,
    0 otherwise. Each parameter must be rescaled the same way on all its edges, and no fixed edge
    may enter or leave a channel.

    Parameters
    ----------
    n_inputs, n_outputs, n_neurons : int
        Inputs (the first neurons), outputs (the last ones) and all neurons.
    edge_src, edge_dst : sequence of int (array_like)
        One entry per edge: source (-1 for a bias) and target neuron, edge_src < edge_dst.
    edge_param : sequence of int (array_like)
        One entry per edge: the index into theta, or -1 for a fixed edge.
    edge_weight : sequence of float (array_like)
        One entry per edge: the constant weight of a fixed edge (ignored where edge_param >= 0).
    n_params : int
        D, the length of theta; every index 0..D-1 must appear in ``edge_param``.
    activation : sequence of str (array_like)
        One per neuron: "identity", "relu" or "max" (inputs and outputs "identity"). A "max"
        neuron takes the max of its incoming values (max pooling); models with max neurons are
        accepted by ``path_norm`` only.
    channels : sequence of sequences of int, or None, default None
        Disjoint groups of hidden relu/identity neurons, one known law each. None: every hidden
        relu/identity neuron whose incoming and outgoing edges all carry parameters is its own
        channel (with shared parameters, pass the channels, e.g. one per convolution channel).
    input_shape : tuple of int or None, default None
        The shape of one input for ``forward``; None means (n_inputs,). Its product is n_inputs,
        in C order over the input neurons.

    Attributes
    ----------
    edge_src, edge_dst, edge_param : ndarray of int64, shape (n_edges,)
        The edge fields as stored: read-only NumPy arrays (a copy of what was passed).
    edge_weight : ndarray of float64, shape (n_edges,)
        Read only; 0 where edge_param >= 0.
    activation : ndarray of str, shape (n_neurons,)
        Read only.
    n_lifted : int
        d, the number of paths (counted, never listed).
    n_edges, n_hidden, n_known_laws : int
        Edges; hidden neurons; channels.
    edge_graph : PathGraph
        The graph of the edges on some path from an input or a bias to an output (in edge order,
        neurons renumbered in order), on which the path-lifting is defined. Neurons on no path (an
        input a strided convolution skips, a position a pooling crops) are allowed: the forward
        pass computes them, the lifting has no path through them.

    Raises
    ------
    ValueError
        Naming the field, the value and what is accepted: an index out of range, an edge against
        the topological order, into an input or out of an output, two edges between the same
        neurons or two biases on one neuron, an output on no path, an unused parameter, a non-finite
        weight, an unknown activation, a bias into a max neuron, overlapping channels, or a
        channel whose rescaling is not a symmetry (inconsistent sharing, fixed edges).

    Examples
    --------
    A 1-D convolution (kernel (a, b), stride 1) on 3 inputs, two ReLU neurons, summed into one
    output by fixed unit edges:

    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> conv = itf.SharedReLUNet(
    ...     n_inputs=3, n_outputs=1, n_neurons=6,
    ...     edge_src=(0, 1, 1, 2, 3, 4), edge_dst=(3, 3, 4, 4, 5, 5),
    ...     edge_param=(0, 1, 0, 1, -1, -1), edge_weight=(0, 0, 0, 0, 1.0, 1.0),
    ...     n_params=2, activation=("identity",) * 3 + ("relu", "relu", "identity"),
    ...     channels=())
    >>> conv.n_params, conv.n_lifted, conv.n_known_laws
    (2, 4, 0)
    >>> conv.forward([1.0, -1.0], np.array([[1.0, 0.0, 2.0]]))
    array([[1.]])
    """

    n_inputs: int
    n_outputs: int
    n_neurons: int
    edge_src: Sequence[int]
    edge_dst: Sequence[int]
    edge_param: Sequence[int]
    edge_weight: Sequence[float]
    n_params: int
    activation: Sequence[str]
    channels: Sequence[Sequence[int]] | None = None
    input_shape: Sequence[int] | None = None
    kind = "shared"

    def __post_init__(self) -> None:
        from . import _shared

        structure = _shared.structure_of(self)
        set_ = functools.partial(object.__setattr__, self)
        for name in ("n_inputs", "n_outputs", "n_neurons", "n_params"):
            set_(name, int(getattr(self, name)))
        # read-only NumPy arrays (int64, float64, str): 8 bytes per edge and field, validated
        # vectorised; the structure shares them
        set_("edge_src", _frozen(structure.src))
        set_("edge_dst", _frozen(structure.dst))
        set_("edge_param", _frozen(structure.param))
        set_("edge_weight", _frozen(np.where(structure.fixed, structure.weight, 0.0)))
        set_("activation", _frozen(structure.activation))
        set_("channels", structure.channels if self.channels is not None else None)
        set_("input_shape", _shared.input_shape(self.input_shape, self.n_inputs))
        self.__dict__["structure"] = structure  # derived arrays, read only (not a field)

    @property
    def n_edges(self) -> int:
        return len(self.edge_src)

    @property
    def n_hidden(self) -> int:
        return self.n_neurons - self.n_inputs - self.n_outputs

    @property
    def n_known_laws(self) -> int:
        return len(self.structure.channels)

    @property
    def known_channels(self) -> tuple:
        """The channels the known laws are taken over (the default ones when ``channels`` is None)."""
        return self.structure.channels

    @functools.cached_property
    def edge_graph(self) -> PathGraph:
        s = self.structure  # the edges on some path, neurons renumbered (the same graph when none is pruned)
        return PathGraph(s.kernel_n_neurons, s.kernel_n_inputs, self.n_outputs, tuple(s.kernel_src.tolist()),
                         tuple(s.kernel_dst.tolist()))

    @functools.cached_property
    def n_lifted(self) -> int:
        return _count_paths(self.edge_graph)

    @property
    def has_max(self) -> bool:
        """Whether some neuron is a max neuron (then only ``path_norm`` accepts the model)."""
        return bool(np.any(self.structure.is_max))

    _ARRAYS = ("edge_src", "edge_dst", "edge_param", "edge_weight", "activation")

    def _scalars(self) -> tuple:
        return (self.n_inputs, self.n_outputs, self.n_neurons, self.n_params, self.channels, self.input_shape)

    def __hash__(self) -> int:
        """Hash of the scalar fields and a digest of the (read-only) arrays, computed once: the
        models key caches (``lru_cache``), so later hashes are O(1)."""
        cached = self.__dict__.get("_hash")
        if cached is None:
            digest = hashlib.blake2b(digest_size=16)
            for name in self._ARRAYS:
                values = getattr(self, name)
                digest.update(f"{name}:{values.dtype.str}:{values.size};".encode())
                digest.update(values.view(np.uint8))
            cached = hash(self._scalars() + (digest.digest(),))
            self.__dict__["_hash"] = cached
        return cached

    def __eq__(self, other: object) -> bool:
        """Equal fields (the arrays compared entry by entry, after the cached hashes)."""
        if self is other:
            return True
        if type(other) is not type(self):
            return NotImplemented
        return (hash(self) == hash(other) and self._scalars() == other._scalars()
                and all(np.array_equal(getattr(self, name), getattr(other, name)) for name in self._ARRAYS))

    def __reduce__(self):
        # rebuilt through the constructor: validated, arrays read-only again
        return type(self), (self.n_inputs, self.n_outputs, self.n_neurons, self.edge_src, self.edge_dst,
                            self.edge_param, self.edge_weight, self.n_params, self.activation, self.channels,
                            self.input_shape)

    @classmethod
    def from_dag(cls, dag: "DAGReLUNet | ReLUNet") -> "SharedReLUNet":
        """The same network with one parameter per edge (identity sharing) and one channel per
        hidden neuron: same theta, phi, laws (same order) and ranks. Hidden neurons are renumbered
        in a topological order when the DAG is not numbered so (then phi's path order may differ);
        a ReLUNet, and a DAG whose edges all go from lower to higher indices, keep their numbering
        and path order.

        Parameters
        ----------
        dag : DAGReLUNet or ReLUNet

        Returns
        -------
        SharedReLUNet
            edge e = parameter e of ``dag`` (its ``graph`` order), biases as edges from -1.

        Raises
        ------
        ValueError
            If ``dag`` is not a DAGReLUNet or a ReLUNet.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1], bias=True)
        >>> shared = itf.SharedReLUNet.from_dag(net)
        >>> theta = net.init(0)
        >>> bool(np.allclose(itf.lift(shared, theta), itf.lift(net, theta)))
        True
        """
        if not isinstance(dag, (DAGReLUNet, ReLUNet)):
            raise ValueError(f"from_dag needs a DAGReLUNet or a ReLUNet, got {dag!r}")
        g = dag.graph
        first_output = g.n_neurons - g.n_outputs
        # hidden neurons renumbered in a topological order (smallest index first: the identity when
        # the DAG is numbered topologically already, as every ReLUNet is)
        import heapq

        indegree = [0] * g.n_neurons
        children = [[] for _ in range(g.n_neurons)]
        for u, v in zip(g.param_src, g.param_dst):
            if u >= 0:
                indegree[v] += 1
                children[u].append(v)
        ready = [v for v in range(g.n_neurons) if indegree[v] == 0 and g.n_inputs <= v < first_output]
        for u in range(g.n_inputs):
            for v in children[u]:
                indegree[v] -= 1
                if indegree[v] == 0 and v < first_output:
                    ready.append(v)
        heapq.heapify(ready)
        new = list(range(g.n_neurons))
        position = g.n_inputs
        while ready:
            u = heapq.heappop(ready)
            new[u] = position
            position += 1
            for v in children[u]:
                indegree[v] -= 1
                if indegree[v] == 0 and v < first_output:
                    heapq.heappush(ready, v)
        new = np.asarray(new, dtype=np.int64)
        param_src = np.asarray(g.param_src, dtype=np.int64)
        src = np.where(param_src >= 0, new[np.maximum(param_src, 0)], -1)
        dst = new[np.asarray(g.param_dst, dtype=np.int64)]
        activation = np.full(g.n_neurons, "identity")
        activation[g.n_inputs:first_output] = "relu"
        return cls(g.n_inputs, g.n_outputs, g.n_neurons, src, dst, np.arange(src.size), np.zeros(src.size),
                   src.size, activation, tuple((int(new[v]),) for v in g.hidden), (g.n_inputs,))

    def forward(self, theta, X) -> np.ndarray:
        """Network output: X of shape ``(n, *input_shape)`` -> (n, n_outputs), float64.

        A neuron's value is the sum over its incoming edges of w_e x (value of the source after its
        activation), a bias reading 1; "relu" neurons apply max(., 0), "max" neurons take the max
        of their incoming terms instead of the sum. Vectorised over samples and over the neurons
        of each level of the graph.

        Parameters
        ----------
        theta : array_like of shape (n_params,)
        X : array_like of shape ``(n, *input_shape)``
            One input per row (flattened in C order onto the input neurons).

        Returns
        -------
        ndarray of shape (n, n_outputs)

        Raises
        ------
        ValueError
            If ``X`` is not of shape ``(n, *input_shape)``, ``theta`` not of length ``n_params``, or either
            has a non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.SharedReLUNet.from_dag(itf.ReLUNet([3, 4, 2]))
        >>> net.forward(net.init(0), np.ones((5, 3))).shape
        (5, 2)
        """
        X = _checks.finite_array(X, "X")
        if X.ndim != 1 + len(self.input_shape) or X.shape[1:] != tuple(self.input_shape):
            raise ValueError(f"X must have shape (n, {', '.join(map(str, self.input_shape))}), got {X.shape}")
        theta = _checks.theta(self, theta)
        structure = self.structure
        widest = max([edges.size for edges, _, _ in structure.levels] + [1])
        block = max(1, 2 ** 22 // (widest + self.n_neurons))  # samples per block: temporaries of ~32 MB
        _checks.check_size(float(min(X.shape[0], block)) * (self.n_neurons + widest) + X.shape[0] * self.n_outputs,
                           "the forward pass (a block of samples x (neurons + edges of a level))")
        w = structure.edge_weights(theta)
        flat = X.reshape(X.shape[0], self.n_inputs)
        if X.shape[0] <= block:
            return structure.forward(w, flat)
        return np.concatenate([structure.forward(w, flat[lo:lo + block]) for lo in range(0, X.shape[0], block)])


@dataclass(frozen=True)
class LinearNet(_Model):
    r"""Deep linear network, widths input first: the lifting is the end-to-end matrix.

    Parameter order: ``W_l.ravel()`` for l = 1..L, :math:`W_l` of shape (d_l, d_{l-1}). Known
    laws: the upper triangles (row by row) of :math:`H_l`,

    .. math::

        \phi(\theta) &= \operatorname{vec}(W_L \cdots W_1),

        H_l &= W_{l+1}^\top W_{l+1} - W_l W_l^\top, \quad l = 1, \dots, L - 1.

    Parameters
    ----------
    widths : sequence of int
        [d_in, h_1, ..., d_out], at least two positive integers.

    Attributes
    ----------
    n_params : int
        D = sum_l d_l d_{l-1}.
    n_lifted : int
        d = d_in d_out.
    n_known_laws : int
        sum over hidden widths h of h (h + 1) / 2.
    n_layers, n_hidden : int
        L = len(widths) - 1; the sum of the hidden widths.

    Raises
    ------
    ValueError
        If ``widths`` has fewer than two entries or a non-positive one (sets and other unordered
        containers are refused).

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> net = itf.LinearNet([2, 3, 2])
    >>> net.n_params, net.n_lifted, net.n_known_laws
    (12, 4, 6)
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
        """Per-layer W_l of shape (d_l, d_{l-1}), views of theta.

        Parameters
        ----------
        theta : array_like of shape (n_params,)

        Returns
        -------
        list of ndarray
            [W_1, ..., W_L].

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length ``n_params`` or has a non-finite entry.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> net = itf.LinearNet([2, 3, 2])
        >>> [W.shape for W in net.unflatten(net.init(0))]
        [(3, 2), (2, 3)]
        """
        theta = _checks.theta(self, theta)
        layers, offset = [], 0
        for l in range(1, len(self.widths)):
            rows, cols = self.widths[l], self.widths[l - 1]
            layers.append(theta[offset:offset + rows * cols].reshape(rows, cols))
            offset += rows * cols
        return layers

    def flatten(self, layers) -> np.ndarray:
        """Inverse of ``unflatten``: theta from [W_1, ..., W_L].

        Parameters
        ----------
        layers : list of array_like
            L matrices, W_l of shape (d_l, d_{l-1}).

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            If the number of matrices or a shape does not match the model, or an entry is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.LinearNet([2, 3, 2])
        >>> theta = net.init(0)
        >>> np.array_equal(net.flatten(net.unflatten(theta)), theta)
        True
        """
        if len(layers) != self.n_layers:
            raise ValueError(f"expected {self.n_layers} matrices, got {len(layers)}")
        return np.concatenate([
            _checks.finite_array(w, f"W_{l}", (self.widths[l], self.widths[l - 1])).ravel()
            for l, w in enumerate(layers, start=1)
        ])

    def forward(self, theta, X) -> np.ndarray:
        """X of shape (n, d_in) -> (n, d_out): X (W_L ... W_1)^T.

        Parameters
        ----------
        theta : array_like of shape (n_params,)
        X : array_like of shape (n, d_in)
            One input per row.

        Returns
        -------
        ndarray of shape (n, d_out)

        Raises
        ------
        ValueError
            If ``X`` is not of shape (n, d_in), ``theta`` not of length ``n_params``, or either has a
            non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.LinearNet([2, 3, 2])
        >>> net.forward(net.init(0), np.ones((5, 2))).shape
        (5, 2)
        """
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.widths[0]:
            raise ValueError(f"X must have shape (n, {self.widths[0]}), got {X.shape}")
        out = X
        for weight in self.unflatten(theta):
            out = out @ weight.T
        return out
