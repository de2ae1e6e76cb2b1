"""abc-parameterisations: the exponent table, the network (finite differences, core against the
NumPy reference, thread counts), the width scalings of Hajjar, Chizat, Giraud (arXiv 2110.15596)
computed here, data sets and bad input."""
import math

import numpy as np
import pytest

import intrinsic_flow
import intrinsic_flow.parameterizations as core
import intrinsic_flow.reference.parameterizations as ref

pytest.importorskip("pandas")

BACKENDS = [core, ref]
ACTIVATIONS = ["relu", "gelu", "elu", "tanh", "sigmoid"]


# -- exponent table --------------------------------------------------------------------------------

@pytest.mark.parametrize("L", [1, 2, 3, 6])
def test_exponent_table(L):
    ones, zeros = np.ones(L + 1), np.zeros(L + 1)
    integrable_a = np.r_[0.0, np.ones(L)]
    mean_field_c = np.r_[-1.0, -2.0 * np.ones(L - 1), -1.0]
    expected = {
        ("ip", False): (integrable_a, zeros, mean_field_c),
        ("ipllr", False): (integrable_a, zeros, mean_field_c),
        ("ipllr", True): (integrable_a, zeros, np.r_[-(L + 1) / 2, -(L + 2) / 2 * np.ones(L - 1), -(L + 1) / 2]),
        ("ipllr_bias", True): (integrable_a, zeros,
                               np.r_[-(L + 1) / 2, [-(L - l + 4) / 2 for l in range(2, L + 1)], -1.0]),
        ("mup", False): (np.r_[-0.5, np.zeros(L - 1), 0.5], 0.5 * ones, zeros),
        ("ntk", False): (np.r_[0.0, 0.5 * np.ones(L)], zeros, zeros),
        ("standard", False): (zeros, np.r_[0.0, 0.5 * np.ones(L)], zeros),
    }
    for (scheme, warmup), abc in expected.items():
        for got, want in zip(core.abc_exponents(scheme, L, warmup=warmup), abc):
            assert got.shape == (L + 1,)
            np.testing.assert_array_equal(got, want)
    # warm-up only changes IP-LLR
    for scheme in ("ip", "mup", "ntk", "standard"):
        for got, want in zip(core.abc_exponents(scheme, L, warmup=True), core.abc_exponents(scheme, L)):
            np.testing.assert_array_equal(got, want)
    np.testing.assert_array_equal(core.bias_lr_exponents(L, warmup=True), [-(L - l + 2) / 2 for l in range(1, L + 1)] + [0])
    np.testing.assert_array_equal(core.bias_lr_exponents(L), [-1.0] * L + [0.0])


def test_ipllr_reduces_to_mean_field_with_one_hidden_layer():
    np.testing.assert_array_equal(core.abc_exponents("ipllr", 1, warmup=True)[2], [-1.0, -1.0])
    np.testing.assert_array_equal(core.abc_exponents("ipllr", 1, warmup=True)[2], core.abc_exponents("ip", 1)[2])


# -- the network -----------------------------------------------------------------------------------

def _problem(activation="tanh", loss="cross_entropy", scheme="ntk", width=20, n_hidden=3, backend=core, seed=0):
    model = backend.abc_network(scheme, d_in=5, width=width, n_out=4, n_hidden=n_hidden, activation=activation,
                                loss=loss, seed=seed)
    rng = np.random.default_rng(seed + 7)
    return model, rng.standard_normal((9, 5)), rng.integers(0, 4, size=9)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation, loss):
    model, x, y = _problem(activation, loss, width=6)
    _, grads, grad_bias, _ = model.gradients(x, y)
    weights, bias = model.network.weights, model.network.bias0
    scales = [6.0 ** (-e) for e in model.exponents[0]]

    def loss_at(ws, b):
        return core.AbcNetwork(ws, b, scales, activation, loss).loss_and_gradients(x, np.eye(4)[y])[0]

    eps = 1e-6
    for l, w in enumerate(weights):
        for index in [(0, 0), (w.shape[0] - 1, w.shape[1] - 1), (w.shape[0] // 2, 1)]:
            plus, minus = [v.copy() for v in weights], [v.copy() for v in weights]
            plus[l][index] += eps
            minus[l][index] -= eps
            assert (loss_at(plus, bias) - loss_at(minus, bias)) / (2 * eps) == pytest.approx(grads[l][index], abs=1e-8)
    for k in (0, 5):
        plus, minus = bias.copy(), bias.copy()
        plus[k] += eps
        minus[k] -= eps
        assert (loss_at(weights, plus) - loss_at(weights, minus)) / (2 * eps) == pytest.approx(grad_bias[k], abs=1e-8)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ["gelu", "tanh"])
def test_ipllr_bias_gradients_match_finite_differences(activation, loss):
    """The unscaled biases beta_1 .. beta_L of ipllr_bias (and the weights beside them)."""
    model, x, y = _problem(activation, loss, scheme="ipllr_bias", width=6)
    _, grads, grad_bias0, grad_biases = model.gradients(x, y)
    weights, bias0, biases = model.network.weights, model.network.bias0, model.network.biases
    assert [b.shape for b in biases] == [(6,), (6,), (4,)] and [g.shape for g in grad_biases] == [(6,), (6,), (4,)]
    scales = [6.0 ** (-e) for e in model.exponents[0]]

    def loss_at(ws, bs):
        return core.AbcNetwork(ws, bias0, scales, activation, loss, bs).loss_and_gradients(x, np.eye(4)[y])[0]

    eps = 1e-6
    for l, b in enumerate(biases):
        for k in range(b.shape[0]):
            plus, minus = [v.copy() for v in biases], [v.copy() for v in biases]
            plus[l][k] += eps
            minus[l][k] -= eps
            assert (loss_at(weights, plus) - loss_at(weights, minus)) / (2 * eps) == pytest.approx(grad_biases[l][k], abs=1e-8)
    for l, w in enumerate(weights):
        plus, minus = [v.copy() for v in weights], [v.copy() for v in weights]
        plus[l][0, 1] += eps
        minus[l][0, 1] -= eps
        assert (loss_at(plus, biases) - loss_at(minus, biases)) / (2 * eps) == pytest.approx(grads[l][0, 1], abs=1e-8)


def test_only_ipllr_bias_has_hidden_biases():
    for scheme in core.SCHEMES:
        for backend in BACKENDS:
            model = _problem(scheme=scheme, width=8, backend=backend)[0]
            assert len(model.network.biases) == (3 if scheme == "ipllr_bias" else 0)
            assert len(model.bias_learning_rates(0.1)) == (4 if scheme == "ipllr_bias" else 0)


def _close(a, b, tol=1e-12):
    a, b = np.asarray(a), np.asarray(b)
    assert a.shape == b.shape
    assert np.max(np.abs(a - b)) <= tol * max(np.max(np.abs(b)), 1e-300)


@pytest.mark.parametrize("loss", ["cross_entropy", "mse"])
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_core_equals_reference(activation, loss):
    """Forward, gradients and 4 SGD steps (width 150: several row blocks) agree to 1e-12."""
    results = []
    for backend in BACKENDS:
        model, x, y = _problem(activation, loss, scheme="mup", width=150, backend=backend)
        hidden, out = model.forward(x)
        value, grads, grad_bias, _ = model.gradients(x, y)
        losses = [model.step(x, y, 0.2) for _ in range(4)]
        results.append((hidden, out, value, grads, grad_bias, losses, model.network.weights, model.network.bias0))
    (h_c, f_c, v_c, g_c, b_c, l_c, w_c, b0_c), (h_r, f_r, v_r, g_r, b_r, l_r, w_r, b0_r) = results
    for a, b in zip(h_c + [f_c] + g_c + [b_c] + w_c + [b0_c], h_r + [f_r] + g_r + [b_r] + w_r + [b0_r]):
        _close(a, b)
    _close([v_c] + l_c, [v_r] + l_r)


@pytest.mark.parametrize("activation", ["relu", "elu"])
def test_ipllr_bias_core_equals_reference(activation):
    """Forward, gradients of weights and biases, and 3 SGD steps (warm-up, then after) to 1e-12."""
    results = []
    for backend in BACKENDS:
        model, x, y = _problem(activation, scheme="ipllr_bias", width=150, backend=backend)
        hidden, out = model.forward(x)
        value, grads, grad_bias0, grad_biases = model.gradients(x, y)
        losses = [model.step(x, y, 0.05) for _ in range(3)]
        net = model.network
        results.append((list(hidden) + [out] + list(grads) + [grad_bias0] + list(grad_biases) + net.weights + [net.bias0]
                        + list(net.biases), [value] + losses))
    (arrays_c, values_c), (arrays_r, values_r) = results
    assert len(arrays_c) == len(arrays_r) == 3 + 1 + 4 + 1 + 3 + 4 + 1 + 3
    for a, b in zip(arrays_c, arrays_r):
        _close(a, b)
    _close(values_c, values_r)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_ipllr_bias_steps_use_the_bias_rates(backend):
    """Two SGD steps on a tiny network (2 hidden layers of width 3, tanh, MSE) against the update
    written out here: every parameter moves by its rate times its gradient in closed form, the
    biases with lr m^{-e} for e = bias_lr_exponents(2, warmup=True) = (-3/2, -1, 0), then (-1, -1, 0)."""
    m, lr = 3, 0.07
    model = backend.abc_network("ipllr_bias", d_in=2, width=m, n_out=2, n_hidden=2, activation="tanh", loss="mse", seed=4)
    x = np.array([[0.5, -1.0], [1.5, 0.25], [-0.75, 0.5], [0.1, 0.9]])
    y = np.array([0, 1, 1, 0])
    t = np.eye(2)[y]
    for step, e_bias in enumerate([(-1.5, -1.0, 0.0), (-1.0, -1.0, 0.0)]):
        w, b0, (b1, b2) = model.network.weights, model.network.bias0, model.network.biases
        s0, s1, s2 = 1.0, 1.0 / m, 1.0 / m  # a = (0, 1, 1)
        h1 = s0 * (x @ w[0].T + b0)
        h2 = s1 * (np.tanh(h1) @ w[1].T) + b1
        f = s2 * (np.tanh(h2) @ w[2].T) + b2
        e2 = (f - t) / x.shape[0]
        d2 = (e2 @ w[2]) * s2 * (1 - np.tanh(h2) ** 2)
        d1 = (d2 @ w[1]) * s1 * (1 - np.tanh(h1) ** 2)
        grad_w = [s0 * d1.T @ x, s1 * d2.T @ np.tanh(h1), s2 * e2.T @ np.tanh(h2)]
        grad_b = [s0 * d1.sum(axis=0), d2.sum(axis=0), e2.sum(axis=0)]
        c = core.abc_exponents("ipllr_bias", 2, warmup=step == 0)[2]
        bias_rates = [lr * m ** (-e) for e in e_bias]
        assert model.bias_learning_rates(lr) == pytest.approx(bias_rates, rel=1e-15)
        value = model.step(x, y, lr)
        assert value == pytest.approx(0.5 * np.sum((f - t) ** 2) / x.shape[0], rel=1e-13)
        for new, old, grad, rate in zip(model.network.weights, w, grad_w, [lr * m ** (-e) for e in c]):
            _close(new, old - rate * grad, 1e-13)
        for new, old, grad, rate in zip([model.network.bias0] + list(model.network.biases), [b0, b1, b2], grad_b,
                                        bias_rates):
            _close(new, old - rate * grad, 1e-13)


def test_sgd_step_uses_per_layer_rates():
    model, x, y = _problem(scheme="ip", width=16)
    before = model.network.weights
    _, grads, _, _ = model.gradients(x, y)
    rates = model.learning_rates(0.3)
    np.testing.assert_allclose(rates, [0.3 * 16.0 ** (-c) for c in core.abc_exponents("ip", 3)[2]], rtol=1e-15)
    model.step(x, y, 0.3)
    for w0, w1, g, rate in zip(before, model.network.weights, grads, rates):
        _close(w1, w0 - rate * g, 1e-13)


def test_ipllr_switches_after_warmup():
    model, x, y = _problem(scheme="ipllr", width=16)
    warm = core.abc_exponents("ipllr", 3, warmup=True)[2]
    cold = core.abc_exponents("ipllr", 3)[2]
    np.testing.assert_allclose(model.learning_rates(0.1), [0.1 * 16.0 ** (-c) for c in warm], rtol=1e-15)
    model.step(x, y, 0.1)
    np.testing.assert_allclose(model.learning_rates(0.1), [0.1 * 16.0 ** (-c) for c in cold], rtol=1e-15)


def _update_contributions(model, initial, x):
    """mean |m^(-a_l) (W_l(1) - W_l(0)) x_l(1)| per layer of a ReLU network, x_l(1) the inputs of layer l after
    the step (the first layer's includes its bias update); computed here from the weights, independently of the
    library."""
    weights, bias0 = model.network.weights, model.network.bias0
    scales = [model.width ** (-e) for e in model.exponents[0]]
    hidden, _ = model.forward(x)
    inputs = [x] + [np.maximum(h, 0.0) for h in hidden]
    sizes = []
    for l, (w, w0, s, xl) in enumerate(zip(weights, initial[0], scales, inputs)):
        update = xl @ (w - w0).T + (bias0 - initial[1] if l == 0 else 0.0)
        sizes.append(float(np.mean(np.abs(s * update))))
    return np.array(sizes)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_calibration_rules_hit_their_targets(backend):
    """After the calibrated first step, each layer's update moves its pre-activations on the measuring batch by
    its target on average: the authors' rule keeps lr on the first layer and targets 1 (hidden) and 0.1 (output);
    the unit rule targets 1 everywhere."""
    rng = np.random.default_rng(3)
    x0, x1 = rng.standard_normal((16, 5)), rng.standard_normal((16, 5))
    y0 = rng.integers(0, 4, size=16)
    for rule, targets in (("authors", [None, 1.0, 1.0, 0.1]), ("unit", [1.0, 1.0, 1.0, 1.0])):
        model = backend.abc_network("ipllr", d_in=5, width=64, n_out=4, n_hidden=3, activation="relu", seed=2)
        initial = (model.network.weights, model.network.bias0)
        base = backend.calibrate_base_lrs(model, x0, y0, x1, lr=0.03, rule=rule)
        assert base.shape == (4,) and np.all(base > 0) and np.all(base < 500)  # no cap reached
        if rule == "authors":
            assert base[0] == 0.03
        model.step(x0, y0, 0.03)
        sizes = _update_contributions(model, initial, x1)
        for size, target in zip(sizes, targets):
            if target is not None:
                assert size == pytest.approx(target, rel=1e-9)
    with pytest.raises(ValueError, match="ipllr network before its first step"):
        core.calibrate_base_lrs(_problem(scheme="mup")[0], x0, y0, x0)
    with pytest.raises(ValueError, match="rule must be one of"):
        core.calibrate_base_lrs(_problem(scheme="ipllr")[0], x0, y0, x0, rule="mean")


def test_train_calibrates_ipllr_but_not_ipllr_bias_by_default():
    """As the authors' code: IP-LLR's first step is calibrated, IP-LLR with unscaled biases keeps the base rate."""
    def losses(scheme, **kwargs):
        return core.train(scheme, n_hidden=3, width=32, n_steps=3, batch=16, lr=0.05, eval_every=3,
                          **kwargs)["loss"].to_numpy()

    np.testing.assert_array_equal(losses("ipllr"), losses("ipllr", calibrate=True))
    assert not np.array_equal(losses("ipllr"), losses("ipllr", calibrate=False))
    assert not np.array_equal(losses("ipllr"), losses("ipllr", calibration_rule="unit"))
    np.testing.assert_array_equal(losses("ipllr_bias"), losses("ipllr_bias", calibrate=False))
    assert not np.array_equal(losses("ipllr_bias"), losses("ipllr_bias", calibrate=True))


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_lr_factors_multiply_the_rates(backend):
    model, x, y = _problem(scheme="ipllr", width=16, backend=backend)
    plain = model.learning_rates(0.1)
    model.lr_factors = np.array([12.0, 1.0, 1.0, 0.5])
    np.testing.assert_allclose(model.learning_rates(0.1), np.array(plain) * [12.0, 1.0, 1.0, 0.5], rtol=1e-15)
    before = model.network.weights
    _, grads, _, _ = model.gradients(x, y)
    rates = model.learning_rates(0.1)
    model.step(x, y, 0.1)
    for w0, w1, g, rate in zip(before, model.network.weights, grads, rates):
        _close(w1, w0 - rate * g, 1e-13)
    runs = [b.train("ip", n_hidden=2, width=32, n_steps=10, batch=16, lr=0.1, lr_factors=[10.0, 1.0, 1.0],
                    eval_every=10) for b in BACKENDS]
    _close(runs[0][["loss", "abs_f"]].to_numpy(), runs[1][["loss", "abs_f"]].to_numpy(), 1e-10)
    with pytest.raises(ValueError, match="lr_factors must be 3 numbers > 0"):
        backend.train("ip", n_hidden=2, width=8, n_steps=1, lr_factors=[1.0, 1.0])


def test_results_do_not_depend_on_thread_count():
    threads = intrinsic_flow.build_info()["threads"]
    weights = {"mup": [], "ipllr_bias": []}
    try:
        for n in (1, 2):
            intrinsic_flow.set_num_threads(n)
            for scheme, params in weights.items():
                model, _, _ = _problem("gelu", scheme=scheme, width=320)  # products big enough to run in parallel
                x = np.random.default_rng(1).standard_normal((64, 5))
                y = np.arange(64) % 4
                for _ in range(3):
                    model.step(x, y, 0.1)
                params.append(model.network.weights + [model.network.bias0] + list(model.network.biases))
    finally:
        intrinsic_flow.set_num_threads(threads)
    for params in weights.values():
        assert len(params[0]) == len(params[1])
        for a, b in zip(*params):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("scheme", ["ip", "mup"])
def test_first_layer_draws_as_the_authors(scheme):
    """W_0 ~ N(0, v/(d+1)) m^(-b_0) and its bias beta_0 ~ N(0, v) m^(-b_0) (not divided by d + 1), v = 2 for
    ReLU and for the sigmoid."""
    d, m = 63, 4000
    for activation, v in (("relu", 2.0), ("sigmoid", 2.0), ("gelu", 4.0)):
        model = core.abc_network(scheme, d_in=d, width=m, n_out=2, n_hidden=1, activation=activation, seed=5)
        scale = m ** (-core.abc_exponents(scheme, 1)[1][0])
        assert np.std(model.network.bias0) / scale == pytest.approx(math.sqrt(v), rel=0.05)
        assert np.std(model.network.weights[0]) / scale == pytest.approx(math.sqrt(v / (d + 1)), rel=0.01)


def test_non_centred_initialisation_has_mean_one():
    model = core.abc_network("ip", d_in=3, width=400, n_out=10, n_hidden=2, init_mean=1.0, seed=3)
    hidden, output = model.network.weights[1], model.network.weights[2]
    assert abs(hidden.mean() - 1.0) < 5 * math.sqrt(2.0 / hidden.size)
    assert abs(output.mean() - 1.0) < 5 * math.sqrt(1.0 / output.size)
    assert abs(model.network.weights[0].mean()) < 5 * math.sqrt(0.5 / 1200)


# -- width scalings (Hajjar, Chizat, Giraud) --------------------------------------------------------

def _mixture():
    from intrinsic_flow.datasets import gaussian_mixture

    return gaussian_mixture(n_samples=64, dim=10, seed=1)


@pytest.mark.parametrize("L", [1, 2, 3])
def test_ip_output_at_init_scales_like_width_power_minus_half_depth(L):
    check = core.coord_check("ip", [64, 128, 256, 512, 1024], n_hidden=L, n_steps=0, n_seeds=20, data=_mixture(),
                             batch=8)
    slope = check.slopes("abs_f").loc[(L + 1, 0)]
    assert abs(slope + L / 2) <= 0.25


def test_mup_output_at_init_scales_like_width_power_minus_half():
    check = core.coord_check("mup", [64, 256, 1024], n_hidden=3, n_steps=0, n_seeds=20, data=_mixture(), batch=8)
    assert abs(check.slopes("abs_f").loc[(4, 0)] + 0.5) <= 0.25


def test_ip_is_stationary_with_five_matrices_and_learns_with_two():
    deep = core.coord_check("ip", [128, 512, 2048], n_hidden=4, n_steps=1, n_seeds=3, data=_mixture(), batch=16)
    assert deep.slopes("abs_df").loc[(5, 1)] <= -1.0
    shallow = core.coord_check("ip", [128, 512, 2048], n_hidden=1, n_steps=1, n_seeds=3, data=_mixture(), batch=16)
    changes = shallow.means("abs_df").loc[(2, 1)].to_numpy()
    assert changes.max() <= 2.0 * changes.min()


def test_mup_learns_features_at_every_width_and_ntk_does_not():
    widths = [256, 1024, 4096]
    mup = core.coord_check("mup", widths, n_hidden=3, n_steps=1, n_seeds=2, data=_mixture(), batch=16)
    for layer in (1, 2, 3):
        dh = mup.means("abs_dh").loc[(layer, 1)].to_numpy()
        assert dh.max() <= 1.5 * dh.min()
    ntk = core.coord_check("ntk", widths, n_hidden=3, n_steps=1, n_seeds=2, data=_mixture(), batch=16)
    for layer in (2, 3):
        dh = ntk.means("abs_dh").loc[(layer, 1)].to_numpy()
        assert np.all(np.diff(dh) < 0)


def test_mup_features_move_flat_in_width_quick():
    widths = [128, 256, 512]
    mup = core.coord_check("mup", widths, n_hidden=3, n_steps=1, n_seeds=2, data=_mixture(), batch=16)
    ntk = core.coord_check("ntk", widths, n_hidden=3, n_steps=1, n_seeds=2, data=_mixture(), batch=16)
    for layer in (1, 2, 3):
        dh = mup.means("abs_dh").loc[(layer, 1)].to_numpy()
        assert dh.max() <= 1.5 * dh.min()
    assert np.all(ntk.slopes("abs_dh").loc[[(2, 1), (3, 1)]].to_numpy() < -0.25)


def test_coord_check_frame():
    check = core.coord_check("mup", [16, 32], n_hidden=2, n_steps=2, n_seeds=2, batch=8)
    assert list(check.columns) == ["width", "layer", "step", "seed", "abs_h", "abs_dh", "abs_f", "abs_df"]
    assert len(check) == 2 * 3 * 3 * 2
    assert np.all(check[check.step == 0][["abs_dh", "abs_df"]].to_numpy() == 0)
    output = check[check.layer == 3]
    np.testing.assert_array_equal(output.abs_h.to_numpy(), output.abs_f.to_numpy())
    assert len(core.coord_check("mup", [16], n_hidden=2, n_steps=0, n_seeds=1)) == 3
    pytest.importorskip("matplotlib")
    figure = check.figure()
    assert len(figure.axes) == 3
    assert all(len(ax.lines) == 3 for ax in figure.axes)


def test_coord_check_agrees_between_backends():
    a = core.coord_check("ipllr", [16, 32], n_hidden=3, n_steps=2, n_seeds=1, batch=8, calibrate=True)
    b = ref.coord_check("ipllr", [16, 32], n_hidden=3, n_steps=2, n_seeds=1, batch=8, calibrate=True)
    _close(a[["abs_h", "abs_dh", "abs_f", "abs_df"]].to_numpy(), b[["abs_h", "abs_dh", "abs_f", "abs_df"]].to_numpy(), 1e-10)


# -- training and data ------------------------------------------------------------------------------

def test_train_learns_and_backends_agree():
    runs = [backend.train("mup", n_hidden=2, width=64, n_steps=30, batch=32, lr=0.5, eval_every=10)
            for backend in BACKENDS]
    assert list(runs[0].columns) == ["step", "loss", "abs_f", "test_accuracy"]
    assert runs[0]["loss"].iloc[-5:].mean() < runs[0]["loss"].iloc[:5].mean()
    assert runs[0]["test_accuracy"].iloc[-1] > 0.2  # 10 classes: chance is 0.1
    assert np.isnan(runs[0]["test_accuracy"].iloc[0])
    _close(runs[0][["loss", "abs_f"]].to_numpy(), runs[1][["loss", "abs_f"]].to_numpy(), 1e-10)


def test_train_ipllr_bias_learns_and_backends_agree():
    runs = [backend.train("ipllr_bias", n_hidden=2, width=64, n_steps=40, batch=32, lr=0.2, eval_every=10)
            for backend in BACKENDS]
    assert np.all(np.isfinite(runs[0]["loss"]))
    assert runs[0]["loss"].iloc[-5:].mean() < 0.75 * runs[0]["loss"].iloc[:5].mean()
    assert runs[0]["test_accuracy"].iloc[-1] > 0.2  # 10 classes: chance is 0.1
    _close(runs[0][["loss", "abs_f"]].to_numpy(), runs[1][["loss", "abs_f"]].to_numpy(), 1e-10)


def test_load_digits_is_standardised_and_split():
    pytest.importorskip("sklearn")
    from intrinsic_flow.datasets import load_digits

    data = load_digits(test_fraction=0.2, seed=3)
    assert data.x_train.shape[1] == 64 and data.x_train.shape[0] + data.x_test.shape[0] == 1797
    assert data.x_test.shape[0] == round(0.2 * 1797)
    assert data.x_train.mean() == pytest.approx(0.0, abs=1e-12) and data.x_train.std() == pytest.approx(1.0, rel=1e-12)
    assert set(np.unique(data.y_train)) == set(range(10))


def test_gaussian_mixture_labels_cycle():
    from intrinsic_flow.datasets import gaussian_mixture

    data = gaussian_mixture(n_samples=40, dim=3, n_classes=4, test_fraction=0.25, seed=0)
    assert data.x_train.shape == (30, 3) and data.x_test.shape == (10, 3)
    assert np.bincount(np.r_[data.y_train, data.y_test]).tolist() == [10, 10, 10, 10]


def test_stable_rank():
    assert core.stable_rank(np.eye(5)) == 5.0
    assert core.stable_rank(np.diag([2.0, 1.0])) == pytest.approx(1.25, rel=1e-12)


# -- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_bad_input(backend, restore_max_bytes):
    with pytest.raises(ValueError, match="scheme must be one of"):
        backend.abc_exponents("sp", 2)
    with pytest.raises(ValueError, match="n_hidden must be an integer >= 1"):
        backend.abc_exponents("ip", 0)
    with pytest.raises(ValueError, match="activation must be one of"):
        backend.abc_network("ip", 3, 8, 2, 2, activation="softplus")
    with pytest.raises(ValueError, match="width must be an integer >= 1"):
        backend.abc_network("ip", 3, 0, 2, 2)
    with pytest.raises(ValueError, match="bias_lrs has 2 entries"):
        backend.abc_network("ipllr_bias", 3, 8, 2, 2).network.sgd_step(np.ones((4, 3)), np.ones((4, 2)), [0.1] * 3,
                                                                        [0.1] * 2)
    with pytest.raises(ValueError, match="bias"):
        backend.AbcNetwork([np.ones((8, 3)), np.ones((2, 8))], np.ones(8), [1.0, 1.0], "relu", "mse", [np.ones(3)])
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        backend.coord_check("mup", [8], lr=float("nan"))
    with pytest.raises(ValueError, match="non-finite"):
        backend.train("mup", (np.array([[np.nan, 0.0], [1.0, 1.0]]), np.array([0, 1])))
    with pytest.raises(ValueError, match="labels must be integers"):
        backend.train("mup", (np.ones((2, 2)), np.array([0.5, 1.0])))
    restore_max_bytes.max_bytes = 10**6
    with pytest.raises(ValueError, match="width 4096 .* config.max_bytes"):
        backend.coord_check("mup", [64, 4096], n_hidden=3)
    model = backend.abc_network("ip", 3, 8, 2, 2)
    with pytest.raises(ValueError, match="targets have shape"):
        model.network.loss_and_gradients(np.ones((4, 3)), np.ones((4, 3)))


# -- no sharp edges (issue 19) ----------------------------------------------------------------------

def _model_and_batch(backend, scheme="mup"):
    model = backend.abc_network(scheme, d_in=3, width=8, n_out=2, n_hidden=2, seed=0)
    return model, np.ones((4, 3)), np.array([0, 1, 0, 1])


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
@pytest.mark.parametrize("lr", [float("nan"), -1.0, 0.0, math.inf, "0.1", True, np.bool_(True), None, 1 + 0j])
def test_step_and_calibration_refuse_bad_learning_rates(backend, lr):
    model, x, y = _model_and_batch(backend)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        model.step(x, y, lr)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        model.learning_rates(lr)
    assert model.step_count == 0
    model, x, y = _model_and_batch(backend, "ipllr")
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        backend.calibrate_base_lrs(model, x, y, x, lr=lr)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
@pytest.mark.parametrize("labels, message", [
    ([0, -1, 0, 1], r"labels must be in \[0, n_out\) = \[0, 2\), got -1"),
    ([0, 2, 0, 1], r"labels must be in \[0, n_out\) = \[0, 2\), got 2"),
    ([0.0, 1.0, 0.0, 1.0], "labels must be integers"),
    ([True, False, True, False], "labels must be integers"),
    ([0, 1, 0], r"labels must have shape \(batch,\) = \(4,\)"),
    (None, "labels must be"),
    ("0101", "labels must be"),
])
def test_step_and_gradients_refuse_bad_labels(backend, labels, message):
    model, x, _ = _model_and_batch(backend)
    with pytest.raises(ValueError, match=message):
        model.step(x, labels, 0.1)
    with pytest.raises(ValueError, match=message):
        model.gradients(x, labels)
    model, x, _ = _model_and_batch(backend, "ipllr")
    with pytest.raises(ValueError, match=message.replace("labels", "y0")):
        backend.calibrate_base_lrs(model, x, labels, x)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
@pytest.mark.parametrize("x, message", [
    (np.full((4, 3), np.nan), "x contains a non-finite value"),
    (np.ones((4, 3)) + 1j, "x must be an array of real numbers"),
    (np.ones(3), r"x must have shape \(batch, d_in\) = \(batch, 3\)"),
    (np.ones((4, 5)), r"x must have shape \(batch, d_in\) = \(batch, 3\)"),
    (np.ones((0, 3)), r"x must have shape \(batch, d_in\) = \(batch, 3\) with batch >= 1"),
    ("abc", "x must be an array of real numbers"),
    (None, "x must be an array of real numbers"),
])
def test_forward_step_and_calibration_refuse_bad_inputs(backend, x, message):
    model, _, y = _model_and_batch(backend)
    with pytest.raises(ValueError, match=message):
        model.forward(x)
    with pytest.raises(ValueError, match=message):
        model.gradients(x, y)
    with pytest.raises(ValueError, match=message):
        model.step(x, y, 0.1)
    model, good, _ = _model_and_batch(backend, "ipllr")
    with pytest.raises(ValueError, match=message.replace("x ", "x0 ").replace("x must", "x0 must")):
        backend.calibrate_base_lrs(model, x, y, good)
    with pytest.raises(ValueError, match=message.replace("x ", "x1 ").replace("x must", "x1 must")):
        backend.calibrate_base_lrs(model, good, y, x)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_calibration_refuses_what_is_not_a_model(backend):
    with pytest.raises(TypeError, match="model must be an AbcModel"):
        backend.calibrate_base_lrs("model", np.ones((4, 3)), [0, 1, 0, 1], np.ones((4, 3)))


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_learning_rates_that_overflow_are_refused(backend):
    # ipllr's warm-up rate of a hidden layer is lr m^{(L+2)/2}: beyond the largest double at m = 100, L = 400
    model = backend.abc_network("ipllr", d_in=2, width=100, n_out=2, n_hidden=400, seed=0)
    with pytest.raises(ValueError, match="learning rates overflow"):
        model.learning_rates(0.1)
    with pytest.raises(ValueError, match="learning rates overflow"):
        model.step(np.ones((2, 2)), [0, 1], 0.1)
    with pytest.raises(ValueError, match="learning rates overflow"):
        backend.calibrate_base_lrs(model, np.ones((2, 2)), [0, 1], np.ones((2, 2)))


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_coord_check_refuses_too_much_before_any_work(backend, restore_max_bytes):
    with pytest.raises(ValueError, match=r"coord_check .* config\.max_bytes"):
        backend.coord_check("mup", [8], n_hidden=1, n_seeds=10**10)
    with pytest.raises(ValueError, match=r"coord_check .* config\.max_bytes"):
        backend.coord_check("mup", [8], n_hidden=1, n_seeds=1, n_steps=10**12)
    # pure work without memory: a wide network for many steps, few rows
    with pytest.raises(ValueError, match=r"ABC_MAX_WORK"):
        backend.coord_check("mup", [8000], n_hidden=2, n_seeds=2, n_steps=10**5, batch=64)
    with pytest.raises(ValueError, match=r"ABC_MAX_WORK"):
        backend.train("mup", n_hidden=2, width=4000, n_steps=10**6)
    with pytest.raises(ValueError, match=r"train .* config\.max_bytes"):
        backend.train("mup", n_hidden=1, width=2, n_steps=10**12)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_train_with_a_stray_label_refuses_before_allocating(backend, restore_max_bytes):
    # one label of 10^6 makes 10^6 classes: the network (width 1) fits in 64 MiB, the one-hot
    # targets and outputs of 40 samples (320 MB each) do not
    restore_max_bytes.max_bytes = 64 * 2**20
    x = np.random.default_rng(0).standard_normal((40, 2))
    y = np.arange(40) % 2
    y[7] = 10**6
    with pytest.raises(ValueError, match=r"config\.max_bytes"):
        backend.train("mup", (x, y), n_hidden=1, width=1, n_steps=1, batch=40)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_exponents_respect_the_budget(backend, restore_max_bytes):
    for n_hidden in (10**12, 10**30):
        for function in (lambda: backend.abc_exponents("ipllr_bias", n_hidden, warmup=True),
                         lambda: backend.bias_lr_exponents(n_hidden, warmup=True)):
            with pytest.raises(ValueError, match=r"config\.max_bytes"):
                function()
    restore_max_bytes.max_bytes = 10**6
    with pytest.raises(ValueError, match=r"config\.max_bytes"):
        backend.abc_exponents("ip", 10**6)
    assert backend.abc_exponents("ip", 10**4)[0].shape == (10**4 + 1,)


def test_stable_rank_is_scale_invariant_at_extreme_scales():
    matrix = np.diag([2.0, 1.0])
    for scale in (1e-300, 1e200, 1e300):
        assert core.stable_rank(scale * matrix) == pytest.approx(1.25, rel=1e-12)


def test_missing_pandas_hint_names_the_extra_and_the_checkout(monkeypatch):
    import sys

    from intrinsic_flow import _parameterizations

    monkeypatch.setitem(sys.modules, "pandas", None)
    _parameterizations._coord_check_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r'pip install "intrinsic-flow\[parameterizations\]" \(from a source '
                                              r'checkout: pip install "\.\[parameterizations\]"\)'):
            core.coord_check("mup", [8])
    finally:
        monkeypatch.undo()
        _parameterizations._coord_check_class.cache_clear()
