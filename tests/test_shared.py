"""SharedReLUNet: edges carrying shared parameters or fixed weights (docs/theory/lifting.md).

Hand-built networks (a 1-D convolution, pooling, a residual block) are checked against an
explicit enumeration of their paths, finite differences, today's DAG (one parameter per edge),
and across the two backends.
"""
from __future__ import annotations

import itertools

import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow._graph import paths as list_paths

DAGS = [
    itf.ReLUNet([3, 4, 2]),
    itf.ReLUNet([2, 3, 2, 2], bias=True),
    itf.ReLUNet([3, 2, 2], bias="hidden"),
    itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 4), (0, 4), (1, 3), (3, 4), (2, 3)], bias=[2, 3]),
]


class Builder:
    """Neurons and edges of a hand-built SharedReLUNet (neurons added in topological order)."""

    def __init__(self, n_inputs):
        self.activation = ["identity"] * n_inputs
        self.src, self.dst, self.param, self.weight = [], [], [], []
        self.n_params = 0
        self.channels = []

    def neurons(self, count, activation="relu"):
        first = len(self.activation)
        self.activation += [activation] * count
        return list(range(first, first + count))

    def params(self, count):
        first = self.n_params
        self.n_params += count
        return list(range(first, first + count))

    def edge(self, u, v, param=-1, weight=0.0):
        self.src.append(u)
        self.dst.append(v)
        self.param.append(param)
        self.weight.append(weight)

    def conv1d(self, inputs, out_channels, kernel, bias=True, activation="relu"):
        """inputs: list of channels (lists of neurons, equal lengths); stride 1, no padding."""
        length = len(inputs[0]) - kernel + 1
        weights = self.params(out_channels * len(inputs) * kernel)
        biases = self.params(out_channels) if bias else None
        outputs = []
        for o in range(out_channels):
            channel = self.neurons(length, activation)
            for t, v in enumerate(channel):
                for c, source in enumerate(inputs):
                    for k in range(kernel):
                        self.edge(source[t + k], v, weights[(o * len(inputs) + c) * kernel + k])
                if bias:
                    self.edge(-1, v, biases[o])
            outputs.append(channel)
        return outputs

    def model(self, n_inputs, n_outputs, channels=True, input_shape=None):
        return itf.SharedReLUNet(n_inputs, n_outputs, len(self.activation), tuple(self.src), tuple(self.dst),
                                 tuple(self.param), tuple(self.weight), self.n_params, tuple(self.activation),
                                 tuple(self.channels) if channels else None, input_shape)


def conv_net(length=5, channels=2, kernel=2, pool=None, residual=False, bias=True, outputs=1, second=None):
    """Input (1, length) -> conv(1 -> channels) ReLU [-> h + ReLU(conv1x1(h))] [-> pooling by 2] -> dense
    outputs. Channel c groups the neurons rescaled together: the convolution's channel c, and with a
    residual block also its 1x1 convolution's channel c and the sums (fixed unit edges join them),
    and with average pooling the pooled neurons of c (fixed edges 1/k inside the channel). Max
    pooling (a max neuron after fixed edges) leaves no channel."""
    b = Builder(length)
    x = [list(range(length))]
    h = b.conv1d(x, channels, kernel, bias=bias)
    groups = [list(c) for c in h]
    if second is not None:  # a second convolution (second = (channels, kernel)) with its own channels
        h = b.conv1d(h, second[0], second[1], bias=bias)
        groups += [list(c) for c in h]
        channels = second[0]
    last = len(groups) - channels  # the channels the residual block and the pooling extend
    if residual:  # h + relu(conv1x1(h)) through identity neurons and fixed unit edges
        g = b.conv1d(h, channels, 1, bias=bias)
        summed = []
        for c in range(channels):
            out = b.neurons(len(h[c]), "identity")
            for u, w, v in zip(h[c], g[c], out):
                b.edge(u, v, weight=1.0)
                b.edge(w, v, weight=1.0)
            summed.append(out)
            groups[last + c] += g[c] + out
        h = summed
    if pool is not None:
        kind, size = pool
        pooled = []
        for c in range(channels):
            out = b.neurons(len(h[c]) // size, "max" if kind == "max" else "identity")
            for j, v in enumerate(out):
                for u in h[c][j * size:(j + 1) * size]:
                    b.edge(u, v, weight=1.0 if kind == "max" else 1.0 / size)
            pooled.append(out)
            groups[last + c] += out
        h = pooled
    flat = [v for channel in h for v in channel]
    out = b.neurons(outputs, "identity")
    dense = b.params(len(flat) * outputs)
    for k, v in enumerate(out):
        for j, u in enumerate(flat):
            b.edge(u, v, dense[k * len(flat) + j])
    b.channels = [] if pool is not None and pool[0] == "max" else [tuple(c) for c in groups]
    return b.model(length, outputs, input_shape=(1, length))


def explicit_paths(model):
    """Each path as its list of edges, by the graph of edges (phi's order)."""
    return list_paths(model.edge_graph)


def explicit_phi_and_jacobian(model, theta):
    """phi_p = prod w_e and dphi_p/dtheta_i = sum over the edges of p carrying i of the product of
    the others, straight from the list of paths."""
    s = model.structure
    w, param = s.edge_weights(theta)[s.kept], s.param[s.kept]  # the edge graph holds the edges on paths
    found = explicit_paths(model)
    phi = np.array([np.prod(w[p]) for p in found])
    jac = np.zeros((len(found), model.n_params))
    for row, p in enumerate(found):
        for k, e in enumerate(p):
            if param[e] >= 0:
                jac[row, param[e]] += np.prod(w[p[:k] + p[k + 1:]])
    return phi, jac


# -- the model ------------------------------------------------------------------------------
@pytest.mark.parametrize("dag", DAGS, ids=lambda m: type(m).__name__)
def test_from_dag_forward_equals_the_dag(dag):
    shared = itf.SharedReLUNet.from_dag(dag)
    theta = dag.init(1)
    X = np.random.default_rng(0).standard_normal((9, dag.graph.n_inputs))
    np.testing.assert_allclose(shared.forward(theta, X), dag.forward(theta, X), rtol=0, atol=1e-12)
    assert (shared.n_params, shared.n_lifted, shared.n_known_laws) == (dag.n_params, dag.n_lifted, dag.n_known_laws)


def test_forward_of_a_convolution_equals_numpy():
    model = conv_net(length=6, channels=2, kernel=3)
    theta = model.init(2)
    X = np.random.default_rng(3).standard_normal((7, 1, 6))
    W, bias, dense = theta[:6].reshape(2, 3), theta[6:8], theta[8:]
    windows = np.stack([X[:, 0, t:t + 3] for t in range(4)], axis=1)  # (n, 4, 3)
    hidden = np.maximum(np.einsum("ntk,ck->nct", windows, W) + bias[None, :, None], 0.0)
    expected = hidden.reshape(7, -1) @ dense.reshape(1, -1).T
    np.testing.assert_allclose(model.forward(theta, X), expected, rtol=1e-13, atol=1e-13)


def test_forward_with_max_and_average_pooling_and_a_residual_block():
    for kind in ("max", "avg"):
        model = conv_net(length=6, channels=2, kernel=1, pool=(kind, 2), residual=True)
        theta = model.init(4)
        X = np.random.default_rng(5).standard_normal((4, 1, 6))
        W, b1 = theta[0:2], theta[2:4]
        V, b2 = theta[4:8].reshape(2, 2), theta[8:10]
        h = np.maximum(W[None, :, None] * X + b1[None, :, None], 0.0)  # (n, 2, 6)
        g = np.maximum(np.einsum("oc,nct->not", V, h) + b2[None, :, None], 0.0)
        r = (h + g).reshape(4, 2, 3, 2)
        pooled = r.max(axis=3) if kind == "max" else r.mean(axis=3)
        expected = pooled.reshape(4, -1) @ theta[10:]
        np.testing.assert_allclose(model.forward(theta, X)[:, 0], expected, rtol=1e-13, atol=1e-13)


def test_default_channels_are_single_neurons_with_parameter_edges():
    dag = DAGS[3]
    shared = itf.SharedReLUNet.from_dag(dag)
    plain = itf.SharedReLUNet(shared.n_inputs, shared.n_outputs, shared.n_neurons, shared.edge_src, shared.edge_dst,
                              shared.edge_param, shared.edge_weight, shared.n_params, shared.activation)
    assert plain.channels is None and plain.known_channels == shared.channels
    # a fixed edge out of a neuron removes it from the default channels
    fixed = itf.SharedReLUNet(3, 1, 5, (0, 1, 2, 3), (3, 3, 3, 4), (0, 1, 2, -1), (0, 0, 0, 0.5), 3,
                              ("identity",) * 3 + ("relu", "identity"))
    assert fixed.known_channels == () and fixed.n_known_laws == 0


def test_edge_fields_are_read_only_arrays_with_value_equality():
    import pickle

    model = itf.SharedReLUNet(**_fields())
    for name, kind in (("edge_src", "i"), ("edge_dst", "i"), ("edge_param", "i"), ("edge_weight", "f"),
                       ("activation", "U")):
        values = getattr(model, name)
        assert isinstance(values, np.ndarray) and values.dtype.kind == kind and not values.flags.writeable
        with pytest.raises(ValueError, match="read-only"):
            values[0] = values[1]
    # the caller's arrays are copied, not frozen
    src = np.array([0, 1, 2])
    same = itf.SharedReLUNet(**_fields(edge_src=src, activation=list(_fields()["activation"])))
    assert src.flags.writeable
    src[0] = 1
    assert same.edge_src[0] == 0
    # equal fields (tuples or arrays in) give equal models with equal hashes; one changed entry does not
    assert same == model and hash(same) == hash(model) and same is not model
    other = itf.SharedReLUNet(**_fields(edge_param=(1, 1, 0)))
    assert other != model
    assert {model: 1}[same] == 1
    # pickling rebuilds through the constructor: equal, still read only
    back = pickle.loads(pickle.dumps(model))
    assert back == model and not back.edge_src.flags.writeable
    np.testing.assert_array_equal(itf.conserved(back, [1.0, 2.0]), itf.conserved(model, [1.0, 2.0]))


def test_law_signs_match_the_channel_rescaling():
    # the conv of the docs example with its two relu neurons as one channel: theta_0, theta_1 enter it
    model = itf.SharedReLUNet(3, 1, 6, (0, 1, 1, 2, 3, 4), (3, 3, 4, 4, 5, 5), (0, 1, 0, 1, 2, 2), (0,) * 6, 3,
                              ("identity",) * 3 + ("relu", "relu", "identity"), channels=((3, 4),))
    np.testing.assert_array_equal(model.structure.law_signs, [[1.0, 1.0, -1.0]])
    theta = np.array([0.5, -2.0, 3.0])
    assert itf.conserved(model, theta)[0] == 0.25 + 4.0 - 9.0


def _fields(**change):
    fields = dict(n_inputs=2, n_outputs=1, n_neurons=4, edge_src=(0, 1, 2), edge_dst=(2, 2, 3), edge_param=(0, 0, 1),
                  edge_weight=(0.0, 0.0, 0.0), n_params=2, activation=("identity", "identity", "relu", "identity"),
                  channels=())
    fields.update(change)
    return fields


@pytest.mark.parametrize("change, match", [
    (dict(edge_src=(0, 5, 2)), r"edge_src\[1\] = 5"),
    (dict(edge_dst=(2, 1, 3)), r"edge_dst\[1\] = 1: accepted: a non-input"),
    (dict(edge_src=(0, 1, 3), edge_dst=(2, 2, 2)), r"edge_src\[2\] = 3.*topological"),
    (dict(edge_param=(0, 0, 2)), r"edge_param\[2\] = 2"),
    (dict(n_params=3), r"parameter 2 is on no edge"),
    (dict(edge_weight=(0.0, np.nan, 0.0)), r"edge_weight\[1\] = nan"),
    (dict(edge_dst=(2, 2)), r"edge_dst must have one entry per edge \(3"),
    (dict(activation=("identity", "identity", "tanh", "identity")), r"activation\[2\] = 'tanh'"),
    (dict(activation=("relu", "identity", "relu", "identity")), r"activation\[0\] = 'relu': inputs and outputs"),
    (dict(activation=("identity",) * 3), r"activation must be a sequence of 4"),
    (dict(edge_src=(0, 0, 2), edge_dst=(2, 2, 3)), r"a second edge 0 -> 2"),
    (dict(edge_src=(0, 1, 2, -1, -1), edge_dst=(2, 2, 3, 2, 2), edge_param=(0, 0, 1, 1, 1),
          edge_weight=(0.0,) * 5), r"a second bias edge into neuron 2"),
    (dict(n_neurons=5, activation=("identity", "identity", "relu", "relu", "identity"), edge_src=(0, 1, 3),
          edge_dst=(2, 2, 4)), r"output neuron 4 is on no path"),
    (dict(channels=((2,), (2,))), r"neuron 2 is in channels\[0\] and channels\[1\]"),
    (dict(channels=((3,),)), r"channels\[0\] holds neuron 3: accepted: hidden neurons"),
    (dict(channels=None, edge_param=(0, 1, 0)), r"parameter 0 is shared by edges \[0, 2\].*pass channels="),
    (dict(channels=((2,),), edge_param=(0, 1, -1), edge_weight=(0, 0, 1.0)), r"fixed edge 2"),
    (dict(input_shape=(3,)), r"input_shape \(3,\) holds 3 values, but n_inputs = 2"),
    (dict(n_neurons=2), r"n_neurons = 2 must be at least"),
])
def test_bad_fields_are_refused_by_name(change, match):
    with pytest.raises(ValueError, match=match):
        itf.SharedReLUNet(**_fields(**change))


def test_bias_into_a_max_neuron_is_refused():
    fields = _fields(activation=("identity", "identity", "max", "identity"), edge_src=(0, 1, 2, -1),
                     edge_dst=(2, 2, 3, 2), edge_param=(-1, -1, 0, 1), edge_weight=(1.0, 1.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="a bias into the max neuron 2"):
        itf.SharedReLUNet(**fields)


def test_forward_refuses_bad_input():
    model = conv_net()
    theta = model.init(0)
    with pytest.raises(ValueError, match=r"X must have shape \(n, 1, 5\)"):
        model.forward(theta, np.ones((2, 5)))
    with pytest.raises(ValueError, match="theta"):
        model.forward(theta[:-1], np.ones((2, 1, 5)))


# -- geometry: today's DAG is the special case ------------------------------------------------
ARRAYS = ["lift", "lift_jacobian", "metric", "lift_gram", "joint_gram", "conserved", "conserved_jacobian"]


@pytest.mark.parametrize("dag", DAGS, ids=lambda m: type(m).__name__)
def test_from_dag_geometry_equals_the_dag(backend, dag):
    shared = itf.SharedReLUNet.from_dag(dag)
    theta = dag.init(2)
    v = np.random.default_rng(1).standard_normal(dag.n_params)
    for name in ARRAYS:
        expected, got = getattr(backend, name)(dag, theta), getattr(backend, name)(shared, theta)
        np.testing.assert_allclose(got, expected, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(expected))), err_msg=name)
    np.testing.assert_allclose(backend.metric_derivative(shared, theta, v), backend.metric_derivative(dag, theta, v),
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(backend.lift_vjp(shared, theta, np.arange(dag.n_lifted, dtype=float)),
                               backend.lift_vjp(dag, theta, np.arange(dag.n_lifted, dtype=float)), rtol=0, atol=1e-12)
    np.testing.assert_allclose(backend.lift_jvp(shared, theta, v), backend.lift_jvp(dag, theta, v), rtol=0, atol=1e-12)
    sparse = dag.init(3, "sparse", p=0.4)
    for point in (theta, sparse):
        assert backend.rank_lift(shared, point) == backend.rank_lift(dag, point)
        assert backend.rank_lift(shared, point, method="exact") == backend.rank_lift(dag, point, method="exact")
        assert backend.rank_joint(shared, point) == backend.rank_joint(dag, point)
    assert backend.count_conservation_laws(shared) == backend.count_conservation_laws(dag)
    for q in (1, 2, 4):
        assert backend.path_norm(shared, theta, q) == pytest.approx(backend.path_norm(dag, theta, q), rel=1e-12)


# -- shared parameters ------------------------------------------------------------------------
SHARED = {
    "conv": dict(),
    "conv-no-bias": dict(bias=False, length=4),
    "conv-3-channels": dict(length=6, channels=3, kernel=2, outputs=2),
    "avg-pool": dict(length=5, pool=("avg", 2)),
    "residual": dict(length=3, kernel=1, residual=True),
    "residual-avg-pool": dict(length=5, kernel=2, residual=True, pool=("avg", 2)),
    "two-convs": dict(length=5, channels=2, kernel=2, second=(2, 2)),
    "two-convs-pool": dict(length=6, channels=1, kernel=2, second=(2, 2), pool=("avg", 2), bias=False),
}


@pytest.mark.parametrize("name", SHARED)
def test_shared_phi_and_jacobian_against_the_listed_paths(backend, name):
    model = conv_net(**SHARED[name])
    for theta in (model.init(0), model.init(1, "sparse", p=0.3)):
        phi, jac = explicit_phi_and_jacobian(model, theta)
        np.testing.assert_allclose(backend.lift(model, theta), phi, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(backend.lift_jacobian(model, theta), jac, rtol=1e-13, atol=1e-14)
        np.testing.assert_allclose(backend.lift_gram(model, theta), jac.T @ jac, rtol=1e-12, atol=1e-13)
        np.testing.assert_allclose(backend.metric(model, theta), jac @ jac.T, rtol=1e-12, atol=1e-13)
        assert backend.rank_lift(model, theta, method="exact") == np.linalg.matrix_rank(jac)
        assert backend.rank_lift(model, theta) == np.linalg.matrix_rank(jac)


def test_shared_jacobian_against_finite_differences_and_multiplicity():
    # a parameter used twice on one path: phi = a^2 x  ->  dphi/da = 2 a x, also at a = 0
    model = itf.SharedReLUNet(1, 1, 3, (0, 1), (1, 2), (0, 0), (0.0, 0.0), 1, ("identity", "relu", "identity"), ())
    for a in (1.5, -0.5, 0.0):
        np.testing.assert_allclose(itf.lift_jacobian(model, [a]), [[2.0 * a]], rtol=0, atol=1e-15)
    model = conv_net(length=5, kernel=2, residual=False)
    theta = model.init(5)
    jac = itf.lift_jacobian(model, theta)
    h = 1e-6
    for i in range(model.n_params):
        step = np.zeros(model.n_params)
        step[i] = h
        numeric = (itf.lift(model, theta + step) - itf.lift(model, theta - step)) / (2 * h)
        np.testing.assert_allclose(jac[:, i], numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SHARED)
def test_backends_agree_on_shared_models(name):
    model = conv_net(**SHARED[name])
    theta = model.init(3)
    v = np.random.default_rng(2).standard_normal(model.n_params)
    for fn in ARRAYS:
        a, b = getattr(itf, fn)(model, theta), getattr(ref, fn)(model, theta)
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * max(1.0, np.max(np.abs(b))), err_msg=fn)
    np.testing.assert_allclose(itf.metric_derivative(model, theta, v), ref.metric_derivative(model, theta, v),
                               rtol=0, atol=1e-12)
    assert itf.rank_joint(model, theta) == ref.rank_joint(model, theta)
    for q in (0.5, 1, 2, 3.5):
        a, ga = itf.path_norm(model, theta, q, return_grad=True)
        b, gb = ref.path_norm(model, theta, q, return_grad=True)
        assert a == pytest.approx(b, rel=1e-12)
        np.testing.assert_allclose(ga, gb, rtol=0, atol=1e-12 * np.max(np.abs(gb)))


@pytest.mark.parametrize("name", SHARED)
def test_known_laws_are_conserved_and_counted_by_the_lie_trace(backend, name):
    """Every channel law is conserved (its gradient is orthogonal to every grad phi_p), and the
    Lie trace finds as many laws as channels on these convolutional nets."""
    model = conv_net(**SHARED[name])
    theta = model.init(4)
    laws_jac = backend.conserved_jacobian(model, theta)
    jac = backend.lift_jacobian(model, theta)
    np.testing.assert_allclose(jac @ laws_jac.T, 0.0, atol=1e-12 * np.max(np.abs(jac)) * np.max(np.abs(laws_jac)))
    trace = backend.lie_trace(model)
    assert trace.n_laws == model.n_known_laws == len(model.channels)
    assert backend.known_laws_complete(model)


def test_exact_rank_of_a_large_cnn_without_paths():
    """A 1-D CNN with > 10^4 parameters and millions of paths: the rank D - #channels comes from the
    graph and the sharing alone (the bench times it)."""
    b = Builder(32)
    h = b.conv1d([list(range(32))], 16, 5)
    g = b.conv1d(h, 32, 5)
    flat = [v for ch in g for v in ch]
    out = b.neurons(10, "identity")
    dense = b.params(len(flat) * 10)
    for o, v in enumerate(out):
        for j, u in enumerate(flat):
            b.edge(u, v, dense[o * len(flat) + j])
    b.channels = [tuple(c) for c in h] + [tuple(c) for c in g]
    model = b.model(32, 10)
    assert model.n_params > 10_000 and model.n_lifted > 10 ** 6
    theta = model.init(0)
    assert itf.rank_lift(model, theta, method="exact") == model.n_params - 48
    assert ref.rank_lift(model, theta, method="exact") == model.n_params - 48
    theta[:5] = 0.0  # the whole kernel of the first channel: its neurons still carry bias paths
    assert itf.rank_lift(model, theta, method="exact") == model.n_params - 48


# -- path-norms -------------------------------------------------------------------------------
def explicit_path_norm(model, theta, q):
    if model.kind == "shared":
        w = model.structure.edge_weights(theta)[model.structure.kept]
        found = list_paths(model.edge_graph)
    else:
        w, found = np.asarray(theta), list_paths(model.graph)
    return np.sum([np.prod(np.abs(w[p]) ** q) for p in found]) ** (1.0 / q)


PATH_NORM_MODELS = {
    "mlp-bias": lambda: itf.ReLUNet([3, 4, 3, 2], bias=True),
    "mlp-bias-shared": lambda: itf.SharedReLUNet.from_dag(itf.ReLUNet([3, 4, 3, 2], bias=True)),
    "dag": lambda: DAGS[3],
    "cnn-max-pool": lambda: conv_net(length=7, channels=2, kernel=2, pool=("max", 2), outputs=2),
    "cnn-avg-pool": lambda: conv_net(length=7, channels=2, kernel=2, pool=("avg", 3)),
    "cnn-residual": lambda: conv_net(length=5, channels=2, kernel=2, residual=True, pool=("max", 2)),
}


@pytest.mark.parametrize("name", PATH_NORM_MODELS)
@pytest.mark.parametrize("q", [1, 2, 4])
def test_path_norm_equals_the_sum_over_paths(backend, name, q):
    model = PATH_NORM_MODELS[name]()
    theta = model.init(6)
    assert backend.path_norm(model, theta, q) == pytest.approx(explicit_path_norm(model, theta, q), rel=1e-12)
    if not getattr(model, "has_max", False):  # the lifting exists: the q-norm of phi itself
        assert backend.path_norm(model, theta, q) == pytest.approx(np.linalg.norm(backend.lift(model, theta), q),
                                                                   rel=1e-12)


@pytest.mark.parametrize("name", PATH_NORM_MODELS)
@pytest.mark.parametrize("q", [1, 2, 3.5])
def test_path_norm_without_gradient_equals_the_value_with_it(backend, name, q):
    # the value comes from the forward sweep alone, the gradient from both sweeps: same norm
    model = PATH_NORM_MODELS[name]()
    theta = model.init(8)
    theta[::5] = 0.0
    norm, _ = backend.path_norm(model, theta, q, return_grad=True)
    assert backend.path_norm(model, theta, q) == pytest.approx(norm, rel=1e-14)


@pytest.mark.parametrize("name", PATH_NORM_MODELS)
def test_path_norm_gradient_against_finite_differences(backend, name):
    model = PATH_NORM_MODELS[name]()
    theta = model.init(7)
    for q in (1, 2, 3):
        _, grad = backend.path_norm(model, theta, q, return_grad=True)
        h = 1e-6
        numeric = np.array([(backend.path_norm(model, theta + h * e, q) - backend.path_norm(model, theta - h * e, q))
                            / (2 * h) for e in np.eye(model.n_params)])
        np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


def test_path_norm_refuses_bad_input(backend):
    net = itf.ReLUNet([2, 2, 1])
    theta = net.init(0)
    for q in (0, -1, -np.inf, np.nan, True, "2", 1j):
        with pytest.raises(ValueError, match="q must be a positive real number or inf"):
            backend.path_norm(net, theta, q)
    with pytest.raises(ValueError, match="return_grad must be True or False"):
        backend.path_norm(net, theta, 1, return_grad=1)
    with pytest.raises(ValueError, match="path_norm needs a path-lifting model.*LinearNet"):
        backend.path_norm(itf.LinearNet([2, 2]), np.ones(4))
    with pytest.raises(ValueError, match="theta"):
        backend.path_norm(net, theta[:-1])
    assert backend.path_norm(net, np.zeros(net.n_params), 2, return_grad=True)[0] == 0.0


def test_max_neurons_are_for_path_norms_only(backend):
    model = PATH_NORM_MODELS["cnn-max-pool"]()
    theta = model.init(0)
    assert backend.path_norm(model, theta) > 0
    for name in ("lift", "lift_jacobian", "lift_gram", "conserved"):
        with pytest.raises(ValueError, match="without max neurons.*only path_norm"):
            getattr(backend, name)(model, theta)
    with pytest.raises(ValueError, match="max neurons"):
        backend.lie_trace(model)


def test_fixed_edges_after_one_parameter_per_edge_are_not_identity_sharing():
    # parameters 0..D-1 on edges 0..D-1, then a fixed edge: J still has D columns
    model = itf.SharedReLUNet(2, 1, 4, (0, 1, 2, 0), (2, 2, 3, 3), (0, 1, 2, -1), (0.0, 0.0, 0.0, 0.5), 3,
                              ("identity", "identity", "relu", "identity"), ((2,),))
    theta = np.array([1.0, -2.0, 0.5])
    phi, jac = explicit_phi_and_jacobian(model, theta)
    for backend in (itf, ref):
        np.testing.assert_allclose(backend.lift_jacobian(model, theta), jac, rtol=1e-14)
        np.testing.assert_allclose(backend.lift_gram(model, theta), jac.T @ jac, rtol=1e-13)
        assert backend.rank_lift(model, theta) == backend.rank_lift(model, theta, method="exact") == 2  # D - 1 law


def test_identity_sharing_ranks_are_those_of_the_dag_at_a_badly_scaled_point(backend):
    net = itf.ReLUNet([3, 4, 4, 1], bias="hidden")
    shared = itf.SharedReLUNet.from_dag(net)
    theta = net.init(0)
    theta[:3] *= 1e6  # neuron 3 rescaled: phi, and every rank, unchanged
    theta[np.asarray(net.graph.param_src) == 3] /= 1e6
    info_dag, info_shared = backend.rank_info(net, theta), backend.rank_info(shared, theta)
    assert info_shared.rank == info_dag.rank
    kept = info_dag.rank  # the dropped ones are rounding noise
    np.testing.assert_allclose(info_shared.singular_values[:kept], info_dag.singular_values[:kept], rtol=1e-10)


def strided_net():
    """Stride 2, kernel 1 on 4 inputs (inputs 1 and 3 unused), 2 channels, then a pooling that
    crops: neurons off every path are allowed and pruned from the path kernels."""
    b = Builder(4)
    weights, biases = b.params(2), b.params(2)
    groups = []
    for c in range(2):
        hidden = b.neurons(2, "relu")
        for t, v in enumerate(hidden):
            b.edge(2 * t, v, weights[c])
            b.edge(-1, v, biases[c])
        groups.append(hidden)
    out = b.neurons(1, "identity")
    dense = b.params(2)
    for c in range(2):  # only position 0 of each channel is read: position 1 is cropped
        b.edge(groups[c][0], out[0], dense[c])
    b.channels = [tuple(g) for g in groups]
    return b.model(4, 1)


def test_neurons_off_every_path_are_pruned_from_the_lifting(backend):
    model = strided_net()
    assert model.edge_graph.n_inputs == 1 and model.edge_graph.n_neurons == 4  # input 0, positions 0, output
    theta = model.init(3)
    phi, jac = explicit_phi_and_jacobian(model, theta)
    assert phi.size == model.n_lifted == 4  # x0 w_c v_c and b_c v_c for c = 0, 1
    np.testing.assert_allclose(backend.lift(model, theta), phi, rtol=1e-14)
    np.testing.assert_allclose(backend.lift_jacobian(model, theta), jac, rtol=1e-14)
    np.testing.assert_allclose(backend.lift_gram(model, theta), jac.T @ jac, rtol=1e-13, atol=1e-15)
    assert backend.rank_lift(model, theta) == backend.rank_lift(model, theta, method="exact") == np.linalg.matrix_rank(jac)
    assert backend.path_norm(model, theta, 2) == pytest.approx(np.linalg.norm(phi), rel=1e-13)
    assert backend.count_conservation_laws(model) == 2
    X = np.random.default_rng(0).standard_normal((3, 4))
    W, bias, dense = theta[:2], theta[2:4], theta[4:]
    expected = np.maximum(X[:, :1] * W + bias, 0.0) @ dense
    np.testing.assert_allclose(model.forward(theta, X)[:, 0], expected, rtol=1e-14)


@pytest.mark.parametrize("name", PATH_NORM_MODELS)
def test_path_norm_inf_is_the_largest_path(backend, name):
    model = PATH_NORM_MODELS[name]()
    theta = model.init(8)
    if model.kind == "shared":
        w, found = model.structure.kernel_weights(theta), list_paths(model.edge_graph)
    else:
        w, found = theta, list_paths(model.graph)
    products = np.array([np.prod(np.abs(w[p])) for p in found])
    value, grad = backend.path_norm(model, theta, np.inf, return_grad=True)
    assert value == pytest.approx(products.max(), rel=1e-14)
    h = 1e-7  # the maximising path is unique at a random point: the max is smooth there
    numeric = np.array([(backend.path_norm(model, theta + h * e, np.inf) - backend.path_norm(model, theta - h * e, np.inf))
                        / (2 * h) for e in np.eye(model.n_params)])
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("name", SHARED)
def test_structural_level_zero_equals_the_polynomial_trace(backend, name):
    """The Lie count of a SharedReLUNet starts from the structural rank; the polynomial trace at a
    random point of F_p (the route of every other model) gives the same levels and laws."""
    import importlib

    from intrinsic_flow.polynomial import random_point

    model = conv_net(**SHARED[name])
    lie = importlib.import_module(backend.__name__ + ".lie")
    polynomial = lie._modular_trace(model, random_point(model.n_params, 0))
    quick = backend.lie_trace(model)
    assert (quick.dims_by_depth, quick.n_laws, quick.rank_known_laws) == (
        polynomial.dims_by_depth, polynomial.n_laws, polynomial.rank_known_laws)


def test_laws_of_a_large_cnn_are_counted_without_paths():
    b = Builder(32)
    h = b.conv1d([list(range(32))], 8, 5)
    g = b.conv1d(h, 16, 5)
    out = b.neurons(12, "identity")
    flat = [v for ch in g for v in ch]
    dense = b.params(len(flat) * 12)
    for o, v in enumerate(out):
        for j, u in enumerate(flat):
            b.edge(u, v, dense[o * len(flat) + j])
    b.channels = [tuple(c) for c in h] + [tuple(c) for c in g]
    model = b.model(32, 12)
    assert model.n_params ** 3 > itf.LIE_MAX_WORK  # beyond the budget of the polynomial trace
    assert itf.count_conservation_laws(model) == ref.count_conservation_laws(model) == 24


# -- sharp edges: bias-only neurons, indices, NumPy bools, budgets -----------------------------
def bias_fed_net():
    """Inputs 0, 1; hidden 2 fed by a bias alone, hidden 3 by the inputs; output 4 reads 2 and 3,
    output 5 is a bias alone: phi = (x0 path, x1 path, b2 v24, b5)."""
    return itf.SharedReLUNet(2, 2, 6, edge_src=(-1, 0, 1, 2, 3, -1), edge_dst=(2, 3, 3, 4, 4, 5),
                             edge_param=(0, 1, 2, 3, 4, 5), edge_weight=(0.0,) * 6, n_params=6,
                             activation=("identity",) * 2 + ("relu", "relu") + ("identity",) * 2)


def test_a_neuron_fed_by_a_bias_alone_carries_the_bias_path(backend):
    model = bias_fed_net()
    theta = np.array([2.0, 1.0, -1.0, 3.0, 1.0, 8.0])
    X = np.array([[1.0, 0.0], [0.5, 2.0]])
    hidden = np.maximum(X @ [1.0, -1.0], 0.0)  # neuron 3
    expected = np.stack([3.0 * 2.0 + 1.0 * hidden, np.full(2, 8.0)], axis=1)
    np.testing.assert_allclose(model.forward(theta, X), expected, rtol=1e-15)
    assert model.n_lifted == 4
    phi = np.array([1.0 * 1.0, -1.0 * 1.0, 2.0 * 3.0, 8.0])
    np.testing.assert_allclose(np.sort(backend.lift(model, theta)), np.sort(phi), rtol=1e-15)
    assert backend.path_norm(model, theta, 1) == pytest.approx(np.sum(np.abs(phi)), rel=1e-14)
    assert backend.path_norm(model, theta, 2) == pytest.approx(np.linalg.norm(phi), rel=1e-14)


def test_indices_beyond_int64_are_refused_not_wrapped():
    model = bias_fed_net()
    fields = dict(n_inputs=2, n_outputs=2, n_neurons=6, edge_src=model.edge_src, edge_dst=model.edge_dst,
                  edge_param=model.edge_param, edge_weight=model.edge_weight, n_params=6,
                  activation=model.activation)
    huge = np.uint64(2 ** 64 - 1)
    for name in ("edge_src", "edge_param", "edge_dst"):
        values = np.asarray(fields[name]).astype(np.uint64)
        values[0] = huge
        with pytest.raises(ValueError, match=name):
            itf.SharedReLUNet(**{**fields, name: values})
        listed = [int(v) for v in fields[name]]
        listed[0] = 2 ** 64 - 1  # a Python int as large
        with pytest.raises(ValueError, match=name):
            itf.SharedReLUNet(**{**fields, name: listed})


def test_return_grad_takes_numpy_bools(backend):
    model = bias_fed_net()
    theta = np.arange(1.0, 7.0)
    norm, grad = backend.path_norm(model, theta, 2, return_grad=np.True_)
    assert backend.path_norm(model, theta, 2, return_grad=np.False_) == norm
    assert grad.shape == (6,)


def test_a_huge_parameter_count_is_refused_before_allocating(restore_max_bytes):
    restore_max_bytes.max_bytes = 64 * 2 ** 20
    with pytest.raises(ValueError, match="n_params = 1000000000 exceeds the number of edges"):
        itf.SharedReLUNet(1, 1, 2, edge_src=(0,), edge_dst=(1,), edge_param=(0,), edge_weight=(0.0,),
                          n_params=10 ** 9, activation=("identity", "identity"))
    with pytest.raises(ValueError, match="n_neurons = 1000000000000 .*max_bytes"):
        itf.SharedReLUNet(1, 1, 10 ** 12, edge_src=(0,), edge_dst=(10 ** 12 - 1,), edge_param=(0,), edge_weight=(0.0,),
                          n_params=1, activation=np.array(["identity"]))


# -- path norms at any scale: rescaled neurons, large q ---------------------------------------------
def rescaled(model, theta, scale):
    """theta with one hidden channel (a neuron of a DAG) rescaled: incoming x scale, outgoing / scale
    (phi unchanged), and the factor each entry was multiplied by."""
    theta = np.asarray(theta, dtype=np.float64)
    factor = np.ones(theta.size)
    if model.kind == "shared":
        s = model.structure
        factor[s.law_enter == 0] *= scale
        factor[s.law_leave == 0] /= scale
    else:
        g = model.graph
        v = g.hidden[1]
        factor[np.asarray(g.param_dst) == v] *= scale
        factor[np.asarray(g.param_src) == v] /= scale
    return theta * factor, factor


def path_norm_in_logs(model, theta, q):
    """(||phi||_q, its gradient) from the listed paths, in logs: N = exp((1/q) log sum_p |phi_p|^q)
    and dN/dw_e = sum_{p through e} N (|phi_p| / N)^q / w_e, summed over a parameter's edges."""
    if model.kind == "shared":
        w, found, contract = model.structure.kernel_weights(theta), list_paths(model.edge_graph), model.structure.contract
    else:
        w, found, contract = np.asarray(theta), list_paths(model.graph), (lambda x: x)
    with np.errstate(divide="ignore"):
        log_w = np.log(np.abs(w))
    logs = np.array([np.sum(log_w[p]) for p in found])
    top = logs.max()
    log_norm = top + np.log(np.sum(np.exp(q * (logs - top)))) / q
    per_edge = np.zeros(w.size)
    for p, log_phi in zip(found, logs):
        for e in p:
            if w[e] != 0:
                per_edge[e] += np.sign(w[e]) * np.exp(log_norm + q * (log_phi - log_norm) - log_w[e])
    return np.exp(log_norm), contract(per_edge), logs


LAW_MODELS = ["mlp-bias", "mlp-bias-shared", "dag", "cnn-avg-pool"]


@pytest.mark.parametrize("name", LAW_MODELS)
@pytest.mark.parametrize("scale", [1e120, 1e160, 1e-160])
def test_path_norm_is_invariant_under_extreme_rescalings(backend, name, scale):
    model = PATH_NORM_MODELS[name]()
    theta = model.init(4)
    moved, factor = rescaled(model, theta, scale)
    assert np.ptp(np.log10(np.abs(moved))) > 150  # |w|^2 of some entry leaves the float64 range
    for q in (0.5, 1, 2, 3.5, np.inf):
        norm, grad = backend.path_norm(model, theta, q, return_grad=True)
        moved_norm, moved_grad = backend.path_norm(model, moved, q, return_grad=True)
        assert np.isfinite(moved_norm) and moved_norm == pytest.approx(norm, rel=1e-12)
        # d/dtheta of the same function composed with the rescaling: grad(moved) * factor = grad(theta)
        np.testing.assert_allclose(moved_grad * factor, grad, rtol=1e-9, atol=1e-12 * np.abs(grad).max())


@pytest.mark.parametrize("name", PATH_NORM_MODELS)
@pytest.mark.parametrize("q", [800, 1000])
def test_path_norm_of_large_order_lies_between_the_largest_path_and_its_bound(backend, name, q):
    model = PATH_NORM_MODELS[name]()
    theta = 0.3 * model.init(5)  # every |phi_p| < 1: |phi_p|^q underflows
    expected, expected_grad, logs = path_norm_in_logs(model, theta, q)
    assert q * logs.max() < np.log(np.finfo(float).tiny)
    norm, grad = backend.path_norm(model, theta, q, return_grad=True)
    largest = np.exp(logs.max())
    assert largest <= norm <= largest * logs.size ** (1.0 / q) * (1 + 1e-14)
    assert norm == pytest.approx(expected, rel=1e-12)
    assert backend.path_norm(model, theta, q) == norm
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-9, atol=1e-12 * np.abs(expected_grad).max())


def test_path_norms_in_range_take_the_plain_sweep(backend, monkeypatch):
    """Where nothing leaves the float64 range the plain sums are used (the log-space ones are only
    a fallback); out of range, the log-space ones."""
    import intrinsic_flow._pathnorm as pathnorm

    calls = []
    original = pathnorm._log_norm
    monkeypatch.setattr(pathnorm, "_log_norm", lambda *args: calls.append(1) or original(*args))
    for name in PATH_NORM_MODELS:
        model = PATH_NORM_MODELS[name]()
        theta = model.init(2)
        theta[::7] = 0.0  # zero weights: sums of exact zeros are exact
        for q in (1, 2, 3.5):
            backend.path_norm(model, theta, q, return_grad=True)
            backend.path_norm(model, theta, q)
    assert not calls
    model = PATH_NORM_MODELS["mlp-bias"]()
    backend.path_norm(model, model.init(2), 800)
    assert calls


def test_a_path_norm_beyond_the_float64_range_is_refused(backend):
    net = itf.ReLUNet([2, 3, 3, 1], bias=True)
    theta = np.full(net.n_params, 1e200)  # phi_p = 1e600
    for q in (1, 2, np.inf):
        with pytest.raises(ValueError, match="beyond the float64 range"):
            backend.path_norm(net, theta, q)
    # (sum_p 1)^(1/q) for q = 1e-3: d^1000
    with pytest.raises(ValueError, match="beyond the float64 range"):
        backend.path_norm(net, np.ones(net.n_params), 1e-3)
    assert backend.path_norm(net, np.ones(net.n_params), 10 ** 400) == 1.0  # an integer order beyond float64: inf


# -- ranks: fewer paths than parameters, the work budget -----------------------------------------
def chain(n_edges):
    n = n_edges + 1
    return itf.SharedReLUNet(1, 1, n, edge_src=np.arange(n_edges), edge_dst=np.arange(1, n),
                             edge_param=np.arange(n_edges), edge_weight=np.zeros(n_edges), n_params=n_edges,
                             activation=["identity"] * n)


def test_rank_of_a_long_chain_is_fast():
    import time

    model = chain(10_000)
    theta = np.random.default_rng(0).standard_normal(model.n_params)
    start = time.process_time()
    info = itf.rank_info(model, theta)
    assert time.process_time() - start < 20.0  # the D x D eigenproblem alone would take minutes
    assert info.rank == 1 == itf.rank_lift(model, theta, method="exact")
    assert info.singular_values.shape == (model.n_params,) and np.all(info.singular_values[1:] == 0)


@pytest.mark.parametrize("model", [chain(6), bias_fed_net(),
                                   conv_net(length=4, channels=1, kernel=4, bias=False)], ids=["chain", "bias", "conv"])
def test_ranks_with_fewer_paths_than_parameters_are_those_of_the_jacobian(backend, model):
    assert model.n_lifted < model.n_params
    theta = np.random.default_rng(1).standard_normal(model.n_params)
    theta[0] *= 1e5  # badly scaled: the rank point takes it out
    jac = backend.lift_jacobian(model, theta)
    info = backend.rank_info(model, theta)
    assert info.rank == backend.rank_lift(model, theta) == np.linalg.matrix_rank(jac)
    assert info.rank == backend.rank_lift(model, theta, method="exact")
    assert info.singular_values.shape == (model.n_params,)
    assert list(backend.rank_lift_batch(model, np.stack([theta, 2 * theta]))) == [info.rank] * 2


def test_the_rank_work_budget_is_a_knob(backend, monkeypatch):
    import intrinsic_flow._rank as rank

    model = PATH_NORM_MODELS["mlp-bias-shared"]()
    theta = model.init(0)
    expected = backend.rank_lift(model, theta)
    monkeypatch.setattr(rank, "RANK_MAX_WORK", 1e3)
    for call in (lambda: backend.rank_lift(model, theta), lambda: backend.rank_joint(model, theta),
                 lambda: backend.rank_info(model, theta)):
        with pytest.raises(ValueError, match=r"RANK_MAX_WORK = 1e\+03.*method='exact'"):
            call()
    assert backend.rank_lift(model, theta, method="exact") == expected


# -- found by the fuzz (tests/test_shared_fuzz.py) ------------------------------------------------
def test_a_model_without_parameters_evaluates(backend):
    """Every edge fixed (n_params = 0): theta is empty, phi and the norms are the fixed weights'."""
    model = itf.SharedReLUNet(2, 1, 3, edge_src=(0, 1), edge_dst=(2, 2), edge_param=(-1, -1), edge_weight=(0.5, -2.0),
                              n_params=0, activation=("identity",) * 3)
    theta = np.zeros(0)
    np.testing.assert_allclose(model.forward(theta, np.array([[2.0, 1.0]])), [[-1.0]])
    np.testing.assert_allclose(np.sort(backend.lift(model, theta)), [-2.0, 0.5])
    norm, grad = backend.path_norm(model, theta, 1, return_grad=True)
    assert norm == 2.5 and grad.shape == (0,)


def test_a_model_whose_inputs_reach_no_output_has_its_bias_paths(backend):
    only_bias = itf.SharedReLUNet(1, 1, 2, edge_src=(-1,), edge_dst=(1,), edge_param=(0,), edge_weight=(0.0,),
                                  n_params=1, activation=("identity", "identity"))
    assert only_bias.edge_graph.n_inputs == 0 and only_bias.n_lifted == 1
    theta = np.array([-3.0])
    np.testing.assert_array_equal(backend.lift(only_bias, theta), [-3.0])
    assert backend.path_norm(only_bias, theta, 2) == 3.0
    assert backend.rank_lift(only_bias, theta) == backend.rank_lift(only_bias, theta, method="exact") == 1


def test_bool_edge_weights_are_refused():
    with pytest.raises(ValueError, match="edge_weight must hold one real number per edge .1., got bools"):
        itf.SharedReLUNet(1, 1, 2, edge_src=(0,), edge_dst=(1,), edge_param=(-1,), edge_weight=[True], n_params=0,
                          activation=("identity", "identity"))


@pytest.mark.parametrize("q", [1e-300, 1e-320])
def test_an_order_near_zero_gives_the_norm_or_refuses_it(backend, q):
    net = itf.ReLUNet([2, 2, 1])
    with pytest.raises(ValueError, match="beyond the float64 range"):  # (sum_p 1)^(1/q) = 4^(1/q)
        backend.path_norm(net, np.ones(net.n_params), q)
    one_path = np.zeros(net.n_params)
    one_path[[0, 4]] = (3.0, -0.5)  # weights 0 -> 2 and 2 -> 4: phi = (-1.5, 0, 0, 0)
    assert backend.path_norm(net, one_path, q) == pytest.approx(1.5, rel=1e-15)


def test_a_zero_weight_after_a_sum_beyond_float64_gives_no_share(backend):
    """q = 1e-320: the two paths into neuron 2 sum to 2^(1/q) |b|, beyond float64, but the weight
    out of it is 0; phi has one nonzero entry, the output's bias, and the norm is its size."""
    model = itf.SharedReLUNet(1, 1, 3, edge_src=(-1, 0, 1, -1), edge_dst=(1, 1, 2, 2), edge_param=(0, 0, 1, 2),
                              edge_weight=(0.0,) * 4, n_params=3, activation=("identity", "relu", "identity"),
                              channels=())
    theta = np.array([7e-4, 0.0, 5.5e-4])
    for q in (1e-320, 1e-300, 0.5, 800):
        norm, grad = backend.path_norm(model, theta, q, return_grad=True)
        assert norm == pytest.approx(5.5e-4, rel=1e-14)
        np.testing.assert_allclose(grad, [0.0, 0.0, 1.0], atol=1e-14)


@pytest.mark.skipif(__import__("sys").platform == "win32", reason="SIGINT to the own process is POSIX")
def test_balancing_a_deep_network_stops_on_ctrl_c_within_a_second():
    """The balancing sweeps of the core (the rank point) poll Ctrl-C: a 20,000-layer network of
    width 2 takes some 10,000 sweeps, about 20 s, uninterrupted."""
    import os
    import signal
    import threading
    import time

    net = itf.ReLUNet([1] + [2] * 20_000 + [1])
    theta = np.random.default_rng(0).standard_normal(net.n_params)
    sent = []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.4, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            itf.balanced_representative(net, theta)
    finally:
        timer.cancel()
    assert sent and time.perf_counter() - sent[0] < 1.0
    small = itf.ReLUNet([2, 3, 1])
    assert itf.balanced_representative(small, small.init(0)).shape == (9,)  # the core works afterwards


def test_fixed_edges_take_no_part_in_the_gradients_range(backend):
    """q = 0.0015: ||phi||_q ~ e^705 (in range) and its gradient in theta too; the derivative in a
    fixed weight 0.001 would be ~e^712, beyond float64, but a fixed weight has no entry."""
    model = itf.SharedReLUNet(1, 1, 4, edge_src=(2, -1, 0, 1, -1), edge_dst=(3, 3, 2, 2, 1), edge_param=(-1, -1, 0, 1, -1),
                              edge_weight=(1e-3, 1e-3, 0.0, 0.0, 1e-3), n_params=2,
                              activation=("identity", "identity", "relu", "identity"), channels=())
    theta = np.array([-1.56805135, -1.75191973])
    q = 0.0015372754048843327
    phi = np.array([theta[0] * 1e-3, 1e-3 * theta[1] * 1e-3, 1e-3])
    log_norm = np.log(np.sum(np.abs(phi) ** q)) / q
    assert 700 < log_norm < np.log(np.finfo(float).max)
    norm, grad = backend.path_norm(model, theta, q, return_grad=True)
    assert np.log(norm) == pytest.approx(log_norm, rel=1e-12)
    shares = np.abs(phi) ** q / np.sum(np.abs(phi) ** q)
    np.testing.assert_allclose(grad, norm * shares[:2] / theta, rtol=1e-10)


def test_a_norm_below_the_normal_numbers_keeps_its_gradient(backend):
    """phi = (t^2) with t = 1e-200: the norm 1e-400 rounds to 0, its gradient 2t is in range."""
    model = itf.SharedReLUNet(1, 1, 3, edge_src=(0, 1), edge_dst=(1, 2), edge_param=(0, 0), edge_weight=(0.0, 0.0),
                              n_params=1, activation=("identity",) * 3, channels=())
    for q in (0.05, 1, 2, np.inf):
        norm, grad = backend.path_norm(model, np.array([-1e-200]), q, return_grad=True)
        assert norm == 0.0
        np.testing.assert_allclose(grad, [-2e-200], rtol=1e-13)


def test_a_gradient_whose_scale_factor_overflows_takes_logs(backend):
    """||phi||_2 with |phi_1| = 1.3e154: S = 1.7e308 is finite but q S = 3.4e308 is not; the
    gradient is S^(1/q - 1) / q times dS, not 0."""
    model = itf.SharedReLUNet(1, 2, 3, edge_src=(0, -1), edge_dst=(1, 2), edge_param=(0, 1), edge_weight=(0.0, 0.0),
                              n_params=2, activation=("identity",) * 3, channels=())
    theta = np.array([3.0, -1.29478463e154])
    norm, grad = backend.path_norm(model, theta, 2, return_grad=True)
    assert norm == pytest.approx(np.hypot(*theta), rel=1e-15)
    np.testing.assert_allclose(grad, theta / norm, rtol=1e-14)


def test_a_gradient_summed_beyond_float64_over_shared_edges_is_refused(backend):
    """Three bias paths of one parameter t: ||phi||_q = 3^(1/q) |t|, in range for |t| = 1e-10, and
    d/dt = 3^(1/q) sign(t) = e^710 (each edge's share e^710 / 3 is in range, their sum is not)."""
    model = itf.SharedReLUNet(1, 3, 4, edge_src=(-1, -1, -1), edge_dst=(1, 2, 3), edge_param=(0, 0, 0),
                              edge_weight=(0.0,) * 3, n_params=1, activation=("identity",) * 4, channels=())
    q = np.log(3.0) / 710.0
    theta = np.array([1e-10])
    assert backend.path_norm(model, theta, q) == pytest.approx(np.exp(710.0 + np.log(1e-10)), rel=1e-11)
    with pytest.raises(ValueError, match=r"gradient of the path-norm is beyond the float64 range at theta\[0\]"):
        backend.path_norm(model, theta, q, return_grad=True)
