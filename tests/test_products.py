"""Products with the Jacobian of phi without forming it: lift_vjp (J^T w) and lift_jvp (J v),
their batches, the out= buffer of lift_jacobian_batch, and flows that use the vjp."""
import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.losses import LiftedQuadratic

MODELS = {
    "relu": itf.ReLUNet([3, 4, 2]),
    "relu-bias": itf.ReLUNet([2, 3, 3, 2], bias=True),
    "relu-hidden-bias": itf.ReLUNet([2, 3, 1], bias="hidden"),
    "dag": itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4)], bias=(3,)),
    "linear": itf.LinearNet([2, 3, 4, 2]),
    "node": itf.LinearNeuralODE(2, 3),
    "poly": itf.PolynomialMap([{(1, 1): 1, (2, 0): 3}, {(0, 3): -1.5, (1, 0): 2}, {(0, 0): 4}], 2),
}


def _point(model, rng):
    return rng.standard_normal(model.n_params)


def _close(a, b):
    scale = max(1.0, float(np.max(np.abs(b))) if np.size(b) else 1.0)
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-12 * scale)


@pytest.mark.parametrize("name", MODELS)
def test_vjp_and_jvp_equal_products_with_the_dense_jacobian(backend, name, rng):
    model = MODELS[name]
    theta = _point(model, rng)
    w, v = rng.standard_normal(model.n_lifted), rng.standard_normal(model.n_params)
    jac = backend.lift_jacobian(model, theta)
    vjp, jvp = backend.lift_vjp(model, theta, w), backend.lift_jvp(model, theta, v)
    assert vjp.shape == (model.n_params,) and jvp.shape == (model.n_lifted,)
    _close(vjp, jac.T @ w)
    _close(jvp, jac @ v)


@pytest.mark.parametrize("name", MODELS)
def test_backends_agree_on_products_and_batches(name, rng):
    model = MODELS[name]
    thetas = rng.standard_normal((5, model.n_params))
    ws, vs = rng.standard_normal((5, model.n_lifted)), rng.standard_normal((5, model.n_params))
    for backend in (itf, ref):
        vjp_rows = backend.lift_vjp_batch(model, thetas, ws)
        jvp_rows = backend.lift_jvp_batch(model, thetas, vs)
        assert vjp_rows.shape == (5, model.n_params) and jvp_rows.shape == (5, model.n_lifted)
        for b in range(5):
            np.testing.assert_array_equal(vjp_rows[b], backend.lift_vjp(model, thetas[b], ws[b]))
            np.testing.assert_array_equal(jvp_rows[b], backend.lift_jvp(model, thetas[b], vs[b]))
    _close(itf.lift_vjp_batch(model, thetas, ws), ref.lift_vjp_batch(model, thetas, ws))
    _close(itf.lift_jvp_batch(model, thetas, vs), ref.lift_jvp_batch(model, thetas, vs))


def test_products_on_the_path_lifting_in_closed_form(backend):
    # [1, 2, 1] without bias: z = (a c, b d) for theta = (a, b, c, d) = (W1[0], W1[1], W2[0], W2[1]).
    net = itf.ReLUNet([1, 2, 1])
    a, b, c, d = 2.0, 3.0, 5.0, 7.0
    theta = np.array([a, b, c, d])
    np.testing.assert_array_equal(backend.lift_vjp(net, theta, [1.0, 10.0]), [c, 10 * d, a, 10 * b])
    np.testing.assert_array_equal(backend.lift_jvp(net, theta, [1.0, 0.0, 0.0, 1.0]), [c, b])


def test_euler_identity_of_the_path_lifting(backend, rng):
    # phi is homogeneous of degree L in theta for a bias-free depth-L net: J theta = L phi.
    net = itf.ReLUNet([3, 4, 4, 2])
    theta = rng.standard_normal(net.n_params)
    _close(backend.lift_jvp(net, theta, theta), 3 * backend.lift(net, theta))


def test_vjp_is_the_gradient_of_the_pairing(backend, rng):
    # <J^T w, v> = <w, J v> for every v, w
    net = itf.ReLUNet([2, 3, 2], bias=True)
    theta = rng.standard_normal(net.n_params)
    w, v = rng.standard_normal(net.n_lifted), rng.standard_normal(net.n_params)
    assert abs(backend.lift_vjp(net, theta, w) @ v - w @ backend.lift_jvp(net, theta, v)) < 1e-12


@pytest.mark.parametrize("call, argument", [
    (lambda b, m, t: b.lift_vjp(m, t, np.ones(m.n_lifted + 1)), "w has shape"),
    (lambda b, m, t: b.lift_vjp(m, t, np.full(m.n_lifted, np.nan)), "w contains a non-finite"),
    (lambda b, m, t: b.lift_vjp(m, t[:-1], np.ones(m.n_lifted)), "theta has shape"),
    (lambda b, m, t: b.lift_jvp(m, t, np.ones(m.n_params + 2)), "v has shape"),
    (lambda b, m, t: b.lift_jvp(m, t, np.full(m.n_params, np.inf)), "v contains a non-finite"),
    (lambda b, m, t: b.lift_jvp(m, np.full(m.n_params, np.nan), t), "theta contains a non-finite"),
    (lambda b, m, t: b.lift_vjp_batch(m, np.tile(t, (2, 1)), np.ones((3, m.n_lifted))), "ws has shape"),
    (lambda b, m, t: b.lift_vjp_batch(m, np.tile(t, (2, 1)), np.full((2, m.n_lifted), np.nan)), "ws contains"),
    (lambda b, m, t: b.lift_jvp_batch(m, np.tile(t, (2, 1)), np.ones((2, m.n_params + 1))), "vs has shape"),
    (lambda b, m, t: b.lift_jvp_batch(m, np.ones((2, m.n_params + 1)), np.ones((2, m.n_params))), "thetas must have"),
])
@pytest.mark.parametrize("name", ["relu", "linear", "node", "poly"])
def test_bad_arguments_are_refused_by_name(backend, name, call, argument):
    model = MODELS[name]
    with pytest.raises(ValueError, match=argument):
        call(backend, model, np.ones(model.n_params))


# -- lift_jacobian_batch(out=) ---------------------------------------------------------------------
@pytest.mark.parametrize("name", ["relu-bias", "linear", "poly"])
def test_jacobian_batch_into_a_reused_buffer(backend, name, rng):
    model = MODELS[name]
    thetas = rng.standard_normal((4, model.n_params))
    buffer = np.full((4, model.n_lifted, model.n_params), np.nan)
    for _ in range(2):  # reuse: every entry rewritten, zeros included
        result = backend.lift_jacobian_batch(model, thetas, out=buffer)
        assert result is buffer
        np.testing.assert_array_equal(buffer, backend.lift_jacobian_batch(model, thetas))
        thetas = thetas * 2.0


@pytest.mark.parametrize("make, error, message", [
    (lambda shape: np.zeros(shape[:-1] + (shape[-1] + 1,)), ValueError, "out has shape"),
    (lambda shape: np.zeros(shape, dtype=np.float32), ValueError, "out has dtype float32"),
    (lambda shape: np.asfortranarray(np.zeros(shape)), ValueError, "out must be C-contiguous"),
    (lambda shape: np.zeros(shape[:-1] + (2 * shape[-1],))[..., ::2], ValueError, "out must be C-contiguous"),
    (lambda shape: np.broadcast_to(np.zeros(shape[1:]), shape), ValueError, "out must be C-contiguous|read-only"),
    (lambda shape: _read_only(np.zeros(shape)), ValueError, "out is read-only"),
    (lambda shape: np.zeros(shape).tolist(), TypeError, "out must be a numpy.ndarray"),
])
def test_bad_out_buffers_are_refused(backend, make, error, message):
    net = MODELS["relu"]
    thetas = np.ones((3, net.n_params))
    with pytest.raises(error, match=message):
        backend.lift_jacobian_batch(net, thetas, out=make((3, net.n_lifted, net.n_params)))


def _read_only(array):
    array.flags.writeable = False
    return array


# -- flows through the vjp -------------------------------------------------------------------------
def test_lifted_quadratic_flow_never_forms_the_jacobian(backend, restore_max_bytes, rng):
    # ReLUNet [1, 3000, 1]: J would take 3000 x 6000 x 8 bytes = 137 MiB, refused under a 16 MiB
    # budget, while the flow's right side needs O(d + D) memory.
    net = itf.ReLUNet([1, 3000, 1])
    theta = net.init(0)
    loss = LiftedQuadratic(rng.standard_normal(net.n_lifted))
    restore_max_bytes.max_bytes = 16 * 2 ** 20
    with pytest.raises(ValueError, match="the Jacobian"):
        backend.lift_jacobian(net, theta)
    flow = backend.gradient_flow(net, theta, loss, 0.01, n_steps=3, save_at=[0.01])
    assert flow.loss[-1] < 0.5 * np.sum((backend.lift(net, theta) - loss.target) ** 2)


@pytest.mark.parametrize("name", MODELS)
def test_lifted_quadratic_flows_agree_between_backends(name, rng):
    model = MODELS[name]
    theta = 0.5 * rng.standard_normal(model.n_params)
    loss = LiftedQuadratic(rng.standard_normal(model.n_lifted), weights=rng.uniform(0.5, 1.5, model.n_lifted))
    core = itf.gradient_flow(model, theta, loss, 0.2, n_steps=20)
    reference = ref.gradient_flow(model, theta, loss, 0.2, n_steps=20)
    _close(core.theta, reference.theta)
    gd_core, gd_ref = (b.gradient_descent(model, theta, loss, 0.01, 5) for b in (itf, ref))
    _close(gd_core.theta, gd_ref.theta)
