"""PyTorch models in: from_torch, validate, load_theta and the ConservationMonitor.

The translated model must compute what the module computes (float64), keep theta in
``parameters_to_vector`` order, give one law per hidden channel, refuse what it cannot express
by name, and the laws it watches must drift by exactly eta^2 (|grad_in|^2 - |grad_out|^2) per
SGD step.
"""
import re
import subprocess
import sys

import numpy as np
import pytest

torch = pytest.importorskip("torch")
nn = torch.nn
F = torch.nn.functional

import intrinsic_flow as itf  # noqa: E402
from intrinsic_flow.torch import (ConservationMonitor, from_torch, load_theta,  # noqa: E402
                                  validate, _laws)


def _double(net):
    torch.manual_seed(0)
    net = net.double().eval()
    with torch.no_grad():  # non-trivial biases and BatchNorm statistics
        for m in net.modules():
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
                m.running_mean.normal_()
                m.running_var.uniform_(0.5, 2.0)
                if m.weight is not None:
                    m.weight.normal_()
                    m.bias.normal_()
    return net


def _agree(net, shape, n=6, **options):
    model, theta = from_torch(net, shape, **options)
    X = torch.randn(n, *shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = net(X).reshape(n, -1).numpy()
    np.testing.assert_allclose(model.forward(theta, X.numpy()), expected, rtol=0, atol=1e-12)
    assert model.n_outputs == expected.shape[1] and model.n_inputs == int(np.prod(shape))
    src, dst = np.asarray(model.edge_src), np.asarray(model.edge_dst)
    assert np.all(src < dst)  # topological numbering
    return model, theta


class Residual(nn.Module):
    def __init__(self, c=3):
        super().__init__()
        self.stem = nn.Conv2d(2, c, 3, padding=1)
        self.c1 = nn.Conv2d(c, c, 3, padding=1)
        self.c2 = nn.Conv2d(c, c, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(c, 2)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = torch.relu(self.c2(F.relu(self.c1(x))) + x)
        return self.head(torch.flatten(self.pool(y), 1))


class Concat(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 2, 1)
        self.head = nn.Linear(5 * 4 * 4, 3)

    def forward(self, x):
        z = torch.cat([F.relu(self.a(x)), self.b(x)], dim=1).relu()
        z = F.max_pool2d(z, 2) if False else nn.functional.relu(z)
        return self.head(z.view(z.size(0), -1))


CASES = {
    "mlp": (lambda: nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)), (3,)),
    "mlp-no-bias": (lambda: nn.Sequential(nn.Linear(3, 5, bias=False), nn.ReLU(), nn.Linear(5, 2, bias=False)), (3,)),
    "cnn-stride-padding-dilation-groups": (lambda: nn.Sequential(
        nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.ReLU(),
        nn.Conv2d(4, 4, 3, padding=2, dilation=2, groups=2), nn.ReLU(),
        nn.Conv2d(4, 4, (1, 3), padding="same"), nn.ReLU(),
        nn.AvgPool2d(2), nn.Flatten(), nn.Linear(4 * 2 * 2, 3)), (2, 7, 7)),
    "conv1d-maxpool": (lambda: nn.Sequential(nn.Conv1d(2, 3, 3, stride=1), nn.ReLU(), nn.MaxPool1d(3, stride=2, padding=1),
                                             nn.Conv1d(3, 2, 2, dilation=2), nn.Flatten(), nn.Linear(14, 2)), (2, 20)),
    "avgpool-padding": (lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(),
                                              nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                                              nn.Identity(), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2 * 9, 2)), (1, 6, 6)),
    "adaptive-uneven": (lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.AdaptiveAvgPool2d((2, 3)),
                                              nn.Flatten(), nn.Linear(12, 1)), (1, 6, 8)),
    "maxpool2d": (lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                                        nn.Linear(2 * 2 * 2, 2)), (1, 6, 6)),
    "residual": (Residual, (2, 4, 4)),
    "concat": (Concat, (2, 4, 4)),
    "linear-on-sequence": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)), (5, 3)),
}


@pytest.mark.parametrize("case", CASES)
def test_forward_equals_the_torch_module(case):
    make, shape = CASES[case]
    _agree(_double(make()), shape)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_same_padding_with_an_even_kernel_pads_more_on_the_right():
    _agree(_double(nn.Sequential(nn.Conv2d(1, 2, (2, 4), padding="same", dilation=(1, 1)), nn.ReLU(),
                                 nn.Conv1d(2, 1, 1) if False else nn.Flatten(), nn.Linear(2 * 25, 1))), (1, 5, 5))


@pytest.mark.parametrize("case", CASES)
def test_theta_is_parameters_to_vector_and_load_theta_round_trips(case):
    make, shape = CASES[case]
    net = _double(make())
    model, theta = from_torch(net, shape)
    np.testing.assert_array_equal(theta, nn.utils.parameters_to_vector(net.parameters()).detach().numpy())
    new = np.random.default_rng(2).standard_normal(theta.size)
    assert load_theta(net, new) is net
    np.testing.assert_array_equal(from_torch(net, shape)[1], new)
    _agree(net, shape)  # the module now computes the model at the new theta


def test_batchnorm_folded_for_path_norms_and_refused_otherwise():
    net = _double(nn.Sequential(nn.Conv2d(2, 3, 3, bias=False), nn.BatchNorm2d(3), nn.ReLU(), nn.Flatten(),
                                nn.Linear(3 * 9, 2), nn.BatchNorm1d(2)))
    with pytest.raises(ValueError, match=r"node '_1'.*module '1' \(BatchNorm2d\).*fold_batchnorm=True"):
        from_torch(net, (2, 5, 5))
    model, theta = _agree(net, (2, 5, 5), fold_batchnorm=True)
    # theta: conv weight, its folded bias inserted after it, then the Linear weight and bias
    assert model.n_params == 3 * 2 * 9 + 3 + 2 * 27 + 2 == theta.size
    bn = net[1]
    scale = (bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach().numpy()
    np.testing.assert_allclose(theta[54:57], (bn.bias.detach().numpy() - bn.running_mean.numpy() * scale), atol=1e-14)
    load_theta(net, theta, fold_batchnorm=True)  # the module holds the folded values now
    np.testing.assert_allclose(from_torch(net, (2, 5, 5), fold_batchnorm=True)[1], theta, atol=1e-14)
    _agree(net, (2, 5, 5), fold_batchnorm=True)
    train = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).double().train()
    with pytest.raises(ValueError, match="training mode"):
        from_torch(train, (2,), fold_batchnorm=True)


class UsesParameter(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.ones(2, 3))

    def forward(self, x):
        return F.linear(x, self.w)


@pytest.mark.parametrize("net,shape,match", [
    (nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)), (3,), r"module '1' \(Tanh\)"),
    (nn.Sequential(nn.Conv1d(1, 1, 3, padding=1, padding_mode="circular")), (1, 5), r"module '0' \(Conv1d\).*circular"),
    (nn.Sequential(nn.Linear(3, 4), nn.Sigmoid()), (3,), r"Sigmoid"),
    (UsesParameter(), (3,), r"get_attr"),
    (nn.Sequential(nn.Flatten(0)), (3,), "batch dimension"),
    (nn.Sequential(nn.MaxPool1d(2, return_indices=False, ceil_mode=True)), (1, 5), "ceil_mode"),
])
def test_unsupported_modules_are_refused_by_name(net, shape, match):
    with pytest.raises(ValueError, match=match):
        from_torch(net.double(), shape)
    report = validate(net.double(), shape)
    assert not report.ok and report.unsupported


def test_validate_reports_every_node_without_raising():
    net = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 2))
    report = validate(net, (3,))
    assert [e[3] for e in report.entries] == [True, True, False, False, False]
    assert "GELU" in report.unsupported[0][2] and "not supported" in report.unsupported[0][4]
    assert "could not be translated" in report.unsupported[1][4]
    assert "GELU" in str(report)
    assert validate(CASES["residual"][0](), (2, 4, 4)).ok


def test_bad_arguments():
    net = nn.Sequential(nn.Linear(3, 2))
    with pytest.raises(TypeError, match="torch.nn.Module"):
        from_torch("not a module", (3,))
    for shape in [(0,), (-1, 2), (), "ab", (1.5,)]:
        with pytest.raises(ValueError, match="input_shape"):
            from_torch(net, shape)
    with pytest.raises(ValueError, match="in_features"):
        from_torch(net, (4,))
    with pytest.raises(ValueError, match="theta"):
        load_theta(net, np.zeros(7))
    with pytest.raises(ValueError, match="theta"):
        load_theta(net, np.full(8, np.nan))


def test_import_without_torch_names_the_extra():
    code = ("import sys; sys.modules['torch'] = None\n"
            "import intrinsic_flow, intrinsic_flow.torch as t\n"
            "try:\n    t.from_torch(None, (3,))\nexcept ImportError as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert "intrinsic-flow[torch]" in out


# -- the same network by hand and from torch --------------------------------------------------------

def test_mlp_from_torch_is_the_hand_built_relunet():
    widths = [3, 5, 4, 2]
    net = _double(nn.Sequential(nn.Linear(3, 5), nn.ReLU(), nn.Linear(5, 4), nn.ReLU(), nn.Linear(4, 2)))
    model, theta = from_torch(net, (3,))
    hand = itf.ReLUNet(widths, bias=True)  # same parameter order: W_l row by row, then b_l
    X = np.random.default_rng(0).standard_normal((7, 3))
    np.testing.assert_allclose(model.forward(theta, X), hand.forward(theta, X), atol=1e-13)
    assert [c for (c,) in model.channels] == list(range(3, 3 + 9))  # one channel per hidden neuron
    assert sorted(zip(model.edge_src, model.edge_dst)) == sorted(zip(hand.graph.param_src, hand.graph.param_dst))
    # phi up to the order of the paths, and everything that does not depend on that order
    np.testing.assert_allclose(np.sort(itf.lift(model, theta)), np.sort(itf.lift(hand, theta)), atol=1e-13)
    J, J_hand = itf.lift_jacobian(model, theta), itf.lift_jacobian(hand, theta)
    np.testing.assert_allclose(J.T @ J, J_hand.T @ J_hand, atol=1e-12)
    np.testing.assert_allclose(itf.lift_gram(model, theta), itf.lift_gram(hand, theta), atol=1e-12)
    np.testing.assert_allclose(itf.conserved(model, theta), itf.conserved(hand, theta), atol=1e-13)
    assert itf.rank_lift(model, theta) == itf.rank_lift(hand, theta)
    assert itf.rank_joint(model, theta) == itf.rank_joint(hand, theta) == hand.n_params
    np.testing.assert_allclose(ConservationMonitor(net, (3,)).laws[0], itf.conserved(hand, theta), atol=1e-13)


def test_a_cnn_by_hand_and_from_torch_agree():
    """Conv1d(1 -> 2, kernel 2, no bias) on 3 inputs, ReLU, then a Linear(4 -> 1) without bias."""
    net = _double(nn.Sequential(nn.Conv1d(1, 2, 2, bias=False), nn.ReLU(), nn.Flatten(), nn.Linear(4, 1, bias=False)))
    model, theta = from_torch(net, (1, 3))
    # by hand: neurons 0..2 inputs, 3..6 = channel c at position t is 3 + 2c + t, 7 the output;
    # theta = (k00, k01, k10, k11, v0..v3), kernel entry (c, j) on the edge t + j -> (c, t)
    src, dst, par = [], [], []
    for c in range(2):
        for t in range(2):
            for j in range(2):
                src.append(t + j), dst.append(3 + 2 * c + t), par.append(2 * c + j)
    for k in range(4):
        src.append(3 + k), dst.append(7), par.append(4 + k)
    hand = itf.SharedReLUNet(n_inputs=3, n_outputs=1, n_neurons=8, edge_src=src, edge_dst=dst, edge_param=par,
                             edge_weight=[0.0] * len(src), n_params=8,
                             activation=("identity",) * 3 + ("relu",) * 4 + ("identity",),
                             channels=((3, 4), (5, 6)), input_shape=(1, 3))
    assert model.channels == hand.channels
    assert sorted(zip(model.edge_src, model.edge_dst, model.edge_param)) == sorted(zip(src, dst, par))
    np.testing.assert_allclose(np.sort(itf.lift(model, theta)), np.sort(itf.lift(hand, theta)), atol=1e-14)
    np.testing.assert_allclose(itf.lift_gram(model, theta), itf.lift_gram(hand, theta), atol=1e-13)
    np.testing.assert_allclose(itf.conserved(model, theta), itf.conserved(hand, theta), atol=1e-14)
    assert itf.rank_lift(model, theta) == itf.rank_lift(hand, theta)
    assert itf.count_conservation_laws(model) == itf.count_conservation_laws(hand)


def test_one_law_per_hidden_channel_of_a_cnn():
    make, shape = CASES["cnn-stride-padding-dilation-groups"]
    model, theta = from_torch(_double(make()), shape)
    assert len(model.channels) == 4 + 4 + 4  # hidden channels of the three convolutions
    make, shape = CASES["residual"]
    model, _ = from_torch(_double(make()), shape)
    # the stem's output and the residual sum are rescaled together (a unit skip joins them), c1 alone
    assert len(model.channels) == 3 + 3


@pytest.mark.parametrize("case", ["cnn-stride-padding-dilation-groups", "residual", "concat", "maxpool2d", "mlp"])
def test_every_channel_is_a_rescaling_symmetry_with_the_models_law(case):
    make, shape = CASES[case]
    net = _double(make())
    model, theta = from_torch(net, shape)
    monitor = ConservationMonitor(net, shape)
    if not model.has_max:
        np.testing.assert_allclose(monitor.laws[0], itf.conserved(model, theta), atol=1e-13)
    X = np.random.default_rng(3).standard_normal((4,) + shape)
    y = model.forward(theta, X)
    index, param, sign = monitor._terms
    for g in range(monitor.n_laws):
        into, out = param[(index == g) & (sign > 0)], param[(index == g) & (sign < 0)]
        assert into.size and out.size and not set(into) & set(out)
        scaled = theta.copy()
        scaled[into] *= 2.5
        scaled[out] /= 2.5
        np.testing.assert_allclose(model.forward(scaled, X), y, atol=1e-12)


# -- the monitor ------------------------------------------------------------------------------------

def _train(lr, optimizer="sgd", steps=1, seed=0):
    torch.manual_seed(seed)
    net = nn.Sequential(nn.Conv1d(1, 3, 3), nn.ReLU(), nn.AvgPool1d(2), nn.Flatten(), nn.Linear(27, 6), nn.ReLU(),
                        nn.Linear(6, 2)).double()
    X = torch.randn(32, 1, 20, dtype=torch.float64)
    y = torch.randn(32, 2, dtype=torch.float64)
    opt = {"sgd": lambda: torch.optim.SGD(net.parameters(), lr=lr),
           "momentum": lambda: torch.optim.SGD(net.parameters(), lr=lr, momentum=0.9),
           "adam": lambda: torch.optim.Adam(net.parameters(), lr=lr)}[optimizer]()
    with ConservationMonitor(net, (1, 20), optimizer=opt) as monitor:
        for _ in range(steps):
            opt.zero_grad()
            F.mse_loss(net(X), y).backward()
            grads = nn.utils.parameters_to_vector([p.grad for p in net.parameters()]).detach().numpy()
            opt.step()
    return monitor, grads


def test_one_sgd_step_drifts_by_eta_squared_times_the_gradient_law():
    eta = 1e-2
    monitor, grads = _train(eta)
    assert monitor.laws.shape == (2, 3 + 6) and monitor.n_laws == 9
    # B3: delta h = eta^2 (|grad_in|^2 - |grad_out|^2): the first-order term vanishes by the symmetry
    expected = eta ** 2 * _laws(monitor._terms, monitor.n_laws, grads)
    np.testing.assert_allclose(monitor.step_drift[0], expected, rtol=1e-6, atol=1e-15)


def test_sgd_drift_per_step_scales_like_eta_squared_and_adam_does_not():
    def drift(lr, optimizer, steps):
        return np.abs(_train(lr, optimizer, steps)[0].step_drift[-1]).max()

    etas = [1e-2, 1e-3, 1e-4]
    sgd = [drift(eta, "sgd", 5) for eta in etas]
    ratios = [sgd[0] / sgd[1], sgd[1] / sgd[2]]
    assert all(60 < r < 140 for r in ratios), ratios  # ~100 per decade of eta
    adam = [drift(eta, "adam", 5) for eta in etas]
    assert all(adam[k] / adam[k + 1] < 30 for k in range(2)), adam  # ~10 per decade: first order in eta
    assert adam[2] > 100 * sgd[2]


def test_monitor_as_callback_and_figure():
    pytest.importorskip("matplotlib")
    net = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)).double()
    monitor = ConservationMonitor(net, (2,))
    opt = torch.optim.SGD(net.parameters(), lr=0.1)
    for _ in range(3):
        opt.zero_grad()
        net(torch.ones(4, 2, dtype=torch.float64)).sum().backward()
        opt.step()
        monitor.step()
    assert monitor.laws.shape == (4, 3) and monitor.drift.shape == (4, 3) and monitor.step_drift.shape == (3, 3)
    np.testing.assert_array_equal(monitor.drift[0], 0.0)
    fig = monitor.figure()
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="BatchNorm"):
        ConservationMonitor(nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2)).eval(), (2,))


def test_docstring_examples_run():
    """The module's ``>>>`` examples (here rather than in test_docs: they need PyTorch)."""
    import doctest

    import intrinsic_flow.torch

    result = doctest.testmod(intrinsic_flow.torch, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


# -- more translation corners -----------------------------------------------------------------------

class SumOfTwo(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = nn.Linear(3, 4)
        self.b = nn.Linear(3, 4)
        self.out = nn.Linear(4, 1)

    def forward(self, x):
        h = F.relu(self.a(x) + self.b(x))  # two biases and two weights between the same neurons
        return self.out(h + h)  # x + x


def test_sums_whose_operands_share_neurons():
    model, theta = _agree(_double(SumOfTwo()), (3,))
    pairs = list(zip(model.edge_src, model.edge_dst))
    assert len(pairs) == len(set(pairs))


class Unused(nn.Module):
    def __init__(self):
        super().__init__()
        self.used = nn.Linear(2, 1)
        self.spare = nn.Linear(2, 2)

    def forward(self, x):
        return self.used(x)


def test_a_parameter_without_edges_is_named():
    with pytest.raises(ValueError, match=r"parameter 'spare.weight' \(entry \(0, 0\), theta\[3\]\) carries no edge"):
        from_torch(Unused(), (2,))


# -- path norms -------------------------------------------------------------------------------------

def _explicit_path_norm(model, theta, q):
    """(sum over the listed paths of |prod of the weights|^q)^(1/q), the paths found by a search."""
    src, dst, par = (np.asarray(model.edge_src), np.asarray(model.edge_dst), np.asarray(model.edge_param))
    weight = np.where(par >= 0, theta[np.maximum(par, 0)], np.asarray(model.edge_weight))
    outgoing = {}
    for e in range(src.size):
        outgoing.setdefault(int(src[e]), []).append(e)
    first_output = model.n_neurons - model.n_outputs
    total = 0.0
    stack = [(v, 1.0) for v in range(model.n_inputs)] + [(int(dst[e]), weight[e]) for e in outgoing.get(-1, [])]
    count = 0
    while stack:
        v, w = stack.pop()
        if v >= first_output:
            total += abs(w) ** q
            count += 1
        for e in outgoing.get(v, []):
            stack.append((int(dst[e]), w * weight[e]))
    return total ** (1.0 / q), count


PATH_NORM_CASES = {
    "mlp-with-biases": (lambda: nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 3), nn.ReLU(),
                                              nn.Linear(3, 2)), (3,)),
    "cnn-with-pooling": (lambda: nn.Sequential(nn.Conv2d(1, 2, 2), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(2, 2, 1),
                                               nn.ReLU(), nn.AvgPool2d(2), nn.Flatten(), nn.Linear(2, 2)), (1, 5, 5)),
    "residual-block": (Residual, (2, 3, 3)),
}


@pytest.mark.parametrize("case", PATH_NORM_CASES)
@pytest.mark.parametrize("q", [1, 2, 4])
def test_path_norm_of_a_translated_module_is_the_sum_over_its_paths(case, q):
    make, shape = PATH_NORM_CASES[case]
    model, theta = from_torch(_double(make()), shape)
    expected, count = _explicit_path_norm(model, theta, q)
    assert count == model.n_lifted
    np.testing.assert_allclose(itf.path_norm(model, theta, q), expected, rtol=1e-12)


def test_path_norm_of_a_folded_batchnorm_network():
    net = _double(nn.Sequential(nn.Conv1d(1, 2, 2), nn.BatchNorm1d(2), nn.ReLU(), nn.Flatten(), nn.Linear(6, 1)))
    model, theta = from_torch(net, (1, 4), fold_batchnorm=True)
    np.testing.assert_allclose(itf.path_norm(model, theta, 2), _explicit_path_norm(model, theta, 2)[0], rtol=1e-12)


# -- sharp edges: padding wider than the kernel, bare layers, budgets ------------------------------
@pytest.mark.parametrize("net,shape", [
    (lambda: nn.Sequential(nn.Conv1d(1, 2, 2, padding=2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 7, 1)), (1, 4)),
    (lambda: nn.Sequential(nn.Conv2d(1, 2, 2, padding=3, stride=2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 5 * 5, 2)),
     (1, 4, 4)),
    (lambda: nn.Sequential(nn.Conv1d(1, 1, 3, padding=4)), (1, 2)),  # outputs fed by the bias alone
])
def test_padding_at_least_the_kernel_gives_positions_fed_by_the_bias_alone(net, shape):
    _agree(_double(net()), shape)


@pytest.mark.parametrize("layer,shape", [
    (lambda: nn.Linear(3, 2), (3,)),
    (lambda: nn.Linear(3, 2, bias=False), (4, 3)),
    (lambda: nn.Conv1d(2, 3, 2, padding=1), (2, 5)),
    (lambda: nn.Conv2d(1, 2, 3, stride=2), (1, 5, 5)),
])
def test_a_bare_layer_is_translated_like_a_sequential_of_it(layer, shape):
    net = _double(layer())
    assert validate(net, shape).ok
    model, theta = _agree(net, shape)
    wrapped, theta_wrapped = from_torch(nn.Sequential(net), shape)
    assert model == wrapped
    np.testing.assert_array_equal(theta, theta_wrapped)
    np.testing.assert_array_equal(theta, nn.utils.parameters_to_vector(net.parameters()).detach().numpy())
    assert load_theta(net, 2 * theta) is net
    np.testing.assert_array_equal(from_torch(net, shape)[1], 2 * theta)


@pytest.mark.parametrize("net,shape,match", [
    (Unused, (2,), "spare.weight"),
    (lambda: nn.Sequential(nn.Conv1d(1, 1, 3, padding=1, stride=2)), (1, 1), r"0.weight.*carries no edge"),
])
def test_validate_is_ok_exactly_when_from_torch_translates(net, shape, match):
    net = _double(net())
    with pytest.raises(ValueError, match=match):
        from_torch(net, shape)
    report = validate(net, shape)
    assert not report.ok
    assert any(re.search(match, e[4]) for e in report.unsupported)


def _peak_bytes(call):
    import tracemalloc

    tracemalloc.start()
    try:
        call()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


def test_translations_beyond_max_bytes_are_refused_before_allocating(restore_max_bytes):
    restore_max_bytes.max_bytes = 64 * 2 ** 20
    net = nn.Sequential(nn.Linear(400, 400), nn.ReLU(), nn.Linear(400, 2))  # 16 million edges on 100 positions
    shape = (100, 400)
    report = []
    peak = _peak_bytes(lambda: report.append(validate(net, shape)))
    assert not report[0].ok and "max_bytes" in report[0].unsupported[0][4]
    assert peak < 3 * 64 * 2 ** 20
    with pytest.raises(ValueError, match="max_bytes"):
        from_torch(net, shape)
    assert _peak_bytes(lambda: pytest.raises(ValueError, from_torch, net, shape)) < 3 * 64 * 2 ** 20
    conv = nn.Sequential(nn.Conv2d(16, 16, 5, padding=2))  # 25 * 16 * 16 * 128^2 edges
    with pytest.raises(ValueError, match="max_bytes"):
        from_torch(conv, (16, 128, 128))


# -- found by the fuzz (tests/test_shared_fuzz.py) ---------------------------------------------------
@pytest.mark.parametrize("net,shape", [
    (lambda: nn.Sequential(nn.Conv1d(1, 1, 2, stride=3, padding=2, bias=False), nn.MaxPool1d(2, stride=1),
                           nn.Flatten(), nn.Linear(2, 1)), (1, 4)),
    (lambda: nn.Sequential(nn.Conv2d(1, 1, 2, stride=3, padding=2, bias=False), nn.MaxPool2d(2, stride=1),
                           nn.Flatten(), nn.Linear(2, 2), nn.ReLU(), nn.Linear(2, 2)), (1, 3, 4)),
])
def test_positions_of_padding_alone_take_part_in_a_max(net, shape):
    """A convolution without bias is 0 where its window holds padding alone; a max pooling over it
    takes that 0 into its max."""
    _agree(_double(net()), shape)


def test_huge_input_shapes_and_non_bool_flags_are_refused_by_name():
    net = nn.Linear(3, 2)
    for shape in [(10 ** 10, 10 ** 10, 3), (10 ** 30,), (2 ** 62, 4)]:
        with pytest.raises(ValueError, match="input_shape.*max_bytes"):
            from_torch(net, shape)
        with pytest.raises(ValueError, match="input_shape.*max_bytes"):
            validate(net, shape)
    for flag in ("yes", 1):
        with pytest.raises(ValueError, match="fold_batchnorm must be True or False"):
            from_torch(net, (3,), fold_batchnorm=flag)
        with pytest.raises(ValueError, match="fold_batchnorm must be True or False"):
            load_theta(net, np.zeros(8), fold_batchnorm=flag)
    assert from_torch(net, (3,), fold_batchnorm=np.True_)[0].n_params == 8
