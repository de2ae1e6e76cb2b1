"""Gradient flows and gradient descent: exact GD changes of the laws, integrator order and
tolerance control, conservation, the two backends agree, bad input."""
import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.losses import LiftedQuadratic, Regression

BACKENDS = [itf, ref]


def _quadratic(model, seed=0):
    rng = np.random.default_rng(seed)
    return LiftedQuadratic(rng.standard_normal(model.n_lifted), rng.uniform(0.5, 1.5, model.n_lifted))


def _mse(model, theta, X, Y):
    return 0.5 * np.sum((model.forward(theta, X) - Y) ** 2) / X.shape[0]


# -- exact values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_gd_step_changes_linear_laws_exactly(backend):
    # docs/theory/flows.md: Δ(U^T U - V^T V) = η² (V^T G^T G V - U^T G G^T U), U = W2, V = W1^T
    model = itf.LinearNet([3, 2, 4])
    theta = model.init(1)
    loss, eta = _quadratic(model), 0.05
    W1, W2 = model.unflatten(theta)
    U, V = W2, W1.T
    G = loss(itf.lift(model, theta))[1].reshape(4, 3)
    expected = eta ** 2 * (V.T @ G.T @ G @ V - U.T @ G @ G.T @ U)
    traj = backend.gradient_descent(model, theta, loss, eta, 1)
    change = traj.h[1] - traj.h[0]
    np.testing.assert_allclose(change, expected[np.triu_indices(2)], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
def test_gd_step_changes_relu_laws_exactly(backend):
    # docs/theory/flows.md: Δh_j = η² (|∇W1[j,:]|² + |∇b_j|² - |∇W2[:,j]|²), hidden biases
    rng = np.random.default_rng(2)
    model = itf.ReLUNet([3, 4, 2], bias="hidden")
    theta = model.init(3)
    X, Y = rng.standard_normal((20, 3)), rng.standard_normal((20, 2))
    eta = 0.1
    traj = backend.gradient_descent(model, theta, Regression(X, Y), eta, 1)
    gradient = (traj.theta[0] - traj.theta[1]) / eta
    # the step used the true gradient of the network's mean squared error (central differences)
    fd = np.array([(_mse(model, theta + e, X, Y) - _mse(model, theta - e, X, Y)) / 2e-6
                   for e in 1e-6 * np.eye(model.n_params)])
    np.testing.assert_allclose(gradient, fd, rtol=1e-6, atol=1e-8)
    (gW1, gb1), (gW2, _) = model.unflatten(gradient)
    expected = eta ** 2 * (np.sum(gW1 ** 2, axis=1) + gb1 ** 2 - np.sum(gW2 ** 2, axis=0))
    np.testing.assert_allclose(traj.h[1] - traj.h[0], expected, rtol=1e-10, atol=1e-15)
    assert traj.loss[0] == pytest.approx(_mse(model, theta, X, Y), rel=1e-14)


def test_gd_drift_is_linear_in_the_step():
    # docs/theory/flows.md: over t = 1 the GD drift of h scales like η (ratio ≈ 10 per decade)
    model = itf.ReLUNet([3, 4, 2], bias="hidden")
    theta, loss = model.init(4), _quadratic(model, 4)
    drifts = [itf.gradient_descent(model, theta, loss, eta, int(round(1 / eta))).max_drift for eta in (1e-2, 1e-3)]
    assert 6 < drifts[0] / drifts[1] < 15


# -- identities -----------------------------------------------------------------------------------
def test_rk4_is_fourth_order_on_a_linear_net():
    model = itf.LinearNet([2, 3, 2])
    theta, loss = model.init(5), _quadratic(model, 5)
    exact = itf.gradient_flow(model, theta, loss, 1.0, method="rk45", rtol=1e-13).theta[-1]
    errors = [np.linalg.norm(itf.gradient_flow(model, theta, loss, 1.0, n_steps=n).theta[-1] - exact)
              for n in (10, 20, 40)]
    ratios = [errors[0] / errors[1], errors[1] / errors[2]]
    assert all(12 < r < 20 for r in ratios), ratios


def test_rk45_error_follows_the_tolerance():
    model = itf.LinearNet([2, 3, 2])
    theta, loss = model.init(6), _quadratic(model, 6)
    exact = itf.gradient_flow(model, theta, loss, 1.0, n_steps=4000).theta[-1]
    errors, steps = [], []
    for rtol in (1e-5, 1e-7, 1e-9):
        traj = itf.gradient_flow(model, theta, loss, 1.0, method="rk45", rtol=rtol)
        errors.append(np.linalg.norm(traj.theta[-1] - exact) / np.linalg.norm(exact))
        steps.append(len(traj.t))
        assert errors[-1] < 100 * rtol
    assert errors[0] > errors[1] > errors[2] and steps[0] < steps[1] < steps[2]


def _conservation_models():
    dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[2, 3])
    return [itf.ReLUNet([3, 4, 3, 2], bias=True), itf.ReLUNet([2, 3, 1], bias="hidden"), dag,
            itf.LinearNet([3, 4, 2, 3]), itf.LinearNeuralODE(2, 3)]


@pytest.mark.parametrize("model", _conservation_models(), ids=lambda m: type(m).__name__)
def test_laws_are_conserved_along_rk4_flows(model):
    theta, loss = model.init(7), _quadratic(model, 7)
    traj = itf.gradient_flow(model, theta, loss, 0.5, n_steps=400)
    assert traj.max_drift <= 1e-10
    assert traj.loss[-1] < traj.loss[0]
    np.testing.assert_allclose(traj.z, itf.lift_batch(model, traj.theta), rtol=1e-14, atol=1e-14)


def _losses_for(model):
    rng = np.random.default_rng(8)
    d_in, d_out = (model.n, model.n) if model.kind == "node" else (model.widths[0], model.widths[-1])
    losses = [_quadratic(model, 8), Regression(rng.standard_normal((9, d_in)), rng.standard_normal((9, d_out)))]
    target = rng.standard_normal(model.n_lifted)
    losses.append(lambda z: (0.5 * np.sum((z - target) ** 2) + 0.1 * np.sum(z ** 4),
                             z - target + 0.4 * z ** 3))
    return losses


@pytest.mark.parametrize("model", [itf.ReLUNet([3, 4, 2], bias=True), itf.LinearNet([2, 3, 2]),
                                   itf.LinearNeuralODE(2, 3)], ids=lambda m: type(m).__name__)
@pytest.mark.parametrize("which", range(3), ids=["quadratic", "regression", "callable"])
@pytest.mark.parametrize("method", ["rk4", "rk45", "gd"])
def test_backends_agree(model, which, method):
    theta = model.init(9)
    loss_core, loss_ref = _losses_for(model)[which], _losses_for(model)[which]
    if method == "gd":
        a = itf.gradient_descent(model, theta, loss_core, 0.01, 30)
        b = ref.gradient_descent(model, theta, loss_ref, 0.01, 30)
    else:
        options = {"n_steps": 50} if method == "rk4" else {"rtol": 1e-8}
        a = itf.gradient_flow(model, theta, loss_core, 0.5, method=method, **options)
        b = ref.gradient_flow(model, theta, loss_ref, 0.5, method=method, **options)
    np.testing.assert_array_equal(a.t, b.t)
    scale = np.max(np.abs(a.theta))
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(a.loss, b.loss, rtol=1e-12)
    np.testing.assert_allclose(a.h, b.h, rtol=0, atol=1e-12 * scale ** 2)


def test_save_at_and_default_grid():
    model = itf.LinearNet([2, 2, 2])
    theta, loss = model.init(10), _quadratic(model, 10)
    full = itf.gradient_flow(model, theta, loss, 1.0, n_steps=10)
    np.testing.assert_allclose(full.t, np.linspace(0, 1, 11))
    picked = itf.gradient_flow(model, theta, loss, 1.0, n_steps=10, save_at=[0.0, 0.5, 1.0])
    np.testing.assert_array_equal(picked.t, [0.0, 0.5, 1.0])
    np.testing.assert_array_equal(picked.theta, full.theta[[0, 5, 10]])
    adaptive = itf.gradient_flow(model, theta, loss, 1.0, method="rk45", save_at=[0.25, 1.0])
    np.testing.assert_array_equal(adaptive.t, [0.25, 1.0])


def test_save_at_off_the_grid_is_inserted():
    model = itf.LinearNet([2, 2, 2])
    theta, loss = model.init(12), _quadratic(model, 12)
    for backend in BACKENDS:
        traj = backend.gradient_flow(model, theta, loss, 1.0, n_steps=4, save_at=[0.3, 1.0])
        np.testing.assert_array_equal(traj.t, [0.3, 1.0])
    # the step to 0.3 splits the interval [0.25, 0.5]: the state at 1 differs from the plain grid's
    plain = itf.gradient_flow(model, theta, loss, 1.0, n_steps=4)
    assert not np.array_equal(plain.theta[-1], traj.theta[-1])
    np.testing.assert_allclose(plain.theta[-1], traj.theta[-1], rtol=1e-3)


def test_dag_backends_agree():
    dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[2, 3])
    theta = dag.init(13)
    for loss in (_quadratic(dag, 13), lambda z: (0.5 * z @ z, z)):
        a = itf.gradient_flow(dag, theta, loss, 0.5, n_steps=40)
        b = ref.gradient_flow(dag, theta, loss, 0.5, n_steps=40)
        np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-12 * np.max(np.abs(a.theta)))


def test_core_is_independent_of_thread_count():
    model = itf.ReLUNet([5, 16, 2], bias=True)
    rng = np.random.default_rng(11)
    loss = Regression(rng.standard_normal((64, 5)), rng.standard_normal((64, 2)))
    theta = model.init(11)
    threads = itf.build_info()["threads"]
    runs = []
    for n in (1, 2):
        itf.set_num_threads(n)
        runs.append(itf.gradient_flow(model, theta, loss, 1.0, n_steps=100).theta)
    itf.set_num_threads(threads)
    np.testing.assert_array_equal(runs[0], runs[1])


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, message", [
    ({"t_end": 0.0}, "t_end must be a finite number > 0"),
    ({"t_end": -1.0}, "t_end must be a finite number > 0"),
    ({"t_end": float("nan")}, "t_end must be a finite number > 0"),
    ({"n_steps": 0}, "n_steps must be an integer >= 1"),
    ({"n_steps": 2.5}, "n_steps must be an integer >= 1"),
    ({"method": "euler"}, "method must be one of"),
    ({"rtol": 1e-6}, "rtol applies to method='rk45' only"),
    ({"method": "rk45", "rtol": 2.0}, "rtol must be a number in (0, 1)"),
    ({"method": "rk45", "n_steps": 10}, "n_steps applies to method='rk4' only"),
    ({"save_at": [0.5, 0.2]}, "save_at must be a non-empty increasing vector"),
    ({"save_at": [0.5, 2.0]}, "save_at must be a non-empty increasing vector"),
])
def test_bad_options(backend, kwargs, message):
    model = itf.LinearNet([2, 2, 2])
    options = {"t_end": 1.0, **kwargs}
    t_end = options.pop("t_end")
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        backend.gradient_flow(model, model.init(0), _quadratic(model), t_end, **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_losses(backend):
    model = itf.LinearNet([2, 2, 2])
    theta = model.init(0)
    with pytest.raises(ValueError, match="target has length 3, expected n_lifted = 4"):
        backend.gradient_flow(model, theta, LiftedQuadratic(np.zeros(3)), 1.0)
    with pytest.raises(ValueError, match=r"Regression data have shapes X \(5, 3\)"):
        backend.gradient_flow(model, theta, Regression(np.zeros((5, 3)), np.zeros((5, 2))), 1.0)
    dag = itf.DAGReLUNet(1, 1, [(0, 1), (1, 2)])
    with pytest.raises(ValueError, match="Regression supports ReLUNet, LinearNet and LinearNeuralODE, got DAGReLUNet"):
        backend.gradient_flow(dag, dag.init(0), Regression(np.zeros((5, 1)), np.zeros((5, 1))), 1.0)
    with pytest.raises(ValueError, match="loss must be a LiftedQuadratic, a Regression or a callable"):
        backend.gradient_flow(model, theta, "mse", 1.0)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        backend.gradient_descent(model, theta, _quadratic(model), 0.0, 3)
    with pytest.raises(ValueError, match=r"theta0 has shape \(3,\), expected \(n_params,\) = \(8,\)"):
        backend.gradient_flow(model, np.zeros(3), _quadratic(model), 1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_wrong_gradient_shape_stops_with_the_time_and_keeps_the_trajectory(backend):
    model = itf.LinearNet([2, 2, 2])
    with pytest.raises(itf.FlowError, match=r"stopped at t = 0 .*gradient has shape \(3,\), expected \(4,\)") as info:
        backend.gradient_flow(model, model.init(0), lambda z: (0.0, np.zeros(3)), 1.0, n_steps=10)
    assert len(info.value.trajectory) == 0 and info.value.time_reached == 0.0


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("method", ["rk4", "rk45"])
def test_nan_gradient_stops_with_the_time_and_keeps_the_trajectory(backend, method):
    model = itf.LinearNet([2, 2, 2])
    theta = model.init(0)
    z_scale = np.linalg.norm(itf.lift(model, theta))

    def loss(z):  # grows z until |z| passes 2 |z0|, then returns NaN
        value = -0.5 * z @ z
        return (value, -z) if np.linalg.norm(z) < 2 * z_scale else (np.nan, -z)

    options = {"n_steps": 200} if method == "rk4" else {}
    with pytest.raises(itf.FlowError, match=r"stopped at t = [0-9.]+ \(t_end = 5\): the loss or its gradient is not finite") as info:
        backend.gradient_flow(model, theta, loss, 5.0, method=method, **options)
    partial = info.value.trajectory
    assert 0 < info.value.time_reached < 5 and partial.t[-1] <= info.value.time_reached
    assert len(partial) >= 2 and np.all(np.isfinite(partial.theta))
    assert np.linalg.norm(partial.z[-1]) > np.linalg.norm(partial.z[0])


def test_divergent_core_flow_stops_with_an_error():
    model = itf.ReLUNet([1, 1, 1])
    # l = 1/2 (z - 0)^2 with a huge step on a quartic-in-theta loss overflows
    with pytest.raises(itf.FlowError, match="not finite") as info:
        itf.gradient_flow(model, np.array([30.0, 30.0]), LiftedQuadratic(np.zeros(1)), 10.0, n_steps=2)
    assert info.value.trajectory.t[0] == 0.0


# -- rk45 step control -----------------------------------------------------------------------------
def test_rk45_shrinks_a_first_step_that_overflows():
    # the first trial step (t_end / 100 = 10) overflows: it stopped at t = 0, now it is rejected
    model = itf.ReLUNet([2, 3, 1])
    theta, loss = model.init(0), LiftedQuadratic(np.ones(model.n_lifted))
    flows = [backend.gradient_flow(model, theta, loss, 1000.0, method="rk45", save_at=[0.0, 1.0, 10.0, 100.0, 1000.0])
             for backend in BACKENDS]
    for flow in flows:
        assert flow.info["completed"] and flow.info["n_rejected"] >= 1
        np.testing.assert_array_equal(flow.t, [0.0, 1.0, 10.0, 100.0, 1000.0])
        assert flow.loss[-1] < 1e-10 * flow.loss[0]
    # the same steps up to t = 100; later the two backends' rounding may pick other steps
    np.testing.assert_allclose(flows[0].theta[:4], flows[1].theta[:4], rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(flows[0].z, flows[1].z, rtol=1e-6, atol=1e-8)


@pytest.mark.parametrize("backend", BACKENDS)
def test_rk45_stops_when_the_step_cannot_shrink(backend):
    # a gradient that is never finite away from theta0: rejected down to 1e-12 t_end, then FlowError
    model = itf.LinearNet([2, 2, 2])
    theta = model.init(0)
    z0 = itf.lift(model, theta)

    def loss(z):
        return (0.0, -z) if np.array_equal(z, z0) else (np.inf, -z)

    with pytest.raises(itf.FlowError, match=r"stopped at t = 0 .*not finite even with steps below 1e-12 t_end") as info:
        backend.gradient_flow(model, theta, loss, 1.0, method="rk45")
    # steps 0.01 * 0.2^k, k = 0..15: the 16th, 3.3e-13 <= 1e-12, is the last one rejected
    assert info.value.trajectory.info["n_rejected"] == 16


# -- saved times and memory -------------------------------------------------------------------------
def test_every_save_time_comes_back_in_order_fast():
    # times closer than 1e-9 dt were merged (one dropped) and the merge was quadratic (> 150 s)
    import time

    from intrinsic_flow._flowbackend import plan

    rng = np.random.default_rng(0)
    base = np.sort(rng.uniform(0.0, 1.0, 50_000))
    grid_neighbours = np.linspace(0.0, 1.0, 1001)[1:-1] + 1e-13  # within 1e-9 dt of grid points
    saves = np.unique(np.concatenate([base, base + 1e-14, grid_neighbours, [0.0, 1e-15, 1.0]]))
    assert saves.size > 100_000 and np.all(np.diff(saves) > 0)
    start = time.perf_counter()
    for method, n_steps in (("rk4", 1000), ("rk45", None)):
        flow_plan = plan(1.0, method, n_steps, None, saves)
        np.testing.assert_array_equal(flow_plan.times[flow_plan.save], saves)
        assert np.all(np.diff(flow_plan.times) > 0) and flow_plan.times[0] == 0.0 and flow_plan.times[-1] == 1.0
    assert time.perf_counter() - start < 2.0
    model = itf.LinearNet([2, 2, 2])
    flow = itf.gradient_flow(model, model.init(0), _quadratic(model), 1.0, save_at=saves)
    np.testing.assert_array_equal(flow.t, saves)


@pytest.mark.parametrize("backend", BACKENDS)
def test_near_duplicate_save_times_in_both_backends(backend):
    model = itf.LinearNet([2, 2, 2])
    theta, loss = model.init(3), _quadratic(model, 3)
    saves = [0.0, 1e-15, 0.25, 0.25 + 1e-13, 0.5 - 1e-14, 1.0 - 1e-15, 1.0]
    for method in ("rk4", "rk45"):
        options = {"n_steps": 4} if method == "rk4" else {}
        flow = backend.gradient_flow(model, theta, loss, 1.0, method=method, save_at=saves, **options)
        np.testing.assert_array_equal(flow.t, saves)
        np.testing.assert_allclose(flow.theta[1], flow.theta[0], atol=1e-12)
        np.testing.assert_array_equal(flow.theta[0], theta)  # t = 0 is still the start


@pytest.mark.parametrize("backend", BACKENDS)
def test_flows_refuse_oversized_saved_states_before_allocating(backend):
    import time

    model = itf.ReLUNet([2, 3, 1])
    theta, loss = model.init(0), LiftedQuadratic(np.ones(model.n_lifted))
    z, h = itf.lift(model, theta), itf.conserved(model, theta)
    calls = [
        (lambda: backend.gradient_flow(model, theta, loss, 1.0, n_steps=10**9), r"gradient_flow: 1000000001 saved states.*n_steps"),
        (lambda: backend.gradient_descent(model, theta, loss, 0.01, 10**9), r"gradient_descent: 1000000001 saved states.*n_steps"),
        (lambda: backend.intrinsic_flow(model, z, h, loss, 1.0, n_steps=10**9), r"intrinsic_flow: 1000000001 saved states"),
        (lambda: backend.compare_flows(model, theta, loss, 1.0, n_steps=10**9), r"gradient_flow: 1000000001 saved states"),
        (lambda: backend.gradient_flow(model, theta, loss, 1.0, n_steps=10**9, save_at=[0.5, 1.0]), r"the grid of n_steps \+ 1"),
    ]
    for call, message in calls:
        start = time.perf_counter()
        with pytest.raises(ValueError, match=message + r".*GiB.*intrinsic_flow.config.max_bytes"):
            call()
        assert time.perf_counter() - start < 0.5


def test_saved_states_follow_config_max_bytes(restore_max_bytes):
    model = itf.ReLUNet([2, 3, 1])
    theta, loss = model.init(0), LiftedQuadratic(np.ones(model.n_lifted))
    restore_max_bytes.max_bytes = 20 * 8 * 100  # 100 states of D + d + N + 2 = 20 values
    itf.gradient_flow(model, theta, loss, 1.0, n_steps=99)
    with pytest.raises(ValueError, match="101 saved states of 20 values"):
        itf.gradient_flow(model, theta, loss, 1.0, n_steps=100)
    with pytest.raises(ValueError, match="101 saved states of 20 values.*save_at"):
        itf.gradient_flow(model, theta, loss, 1.0, method="rk45", save_at=np.linspace(0.01, 1.0, 101))
