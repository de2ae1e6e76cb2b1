"""The LinearNeuralODE model: layout and exact values, geometry identities in both backends,
its discrete laws, bad input."""
import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.losses import Regression

BACKENDS = [itf, ref]


# -- exact values ---------------------------------------------------------------------------------
def test_sizes():
    model = itf.LinearNeuralODE(3, 4)
    assert (model.n_params, model.n_lifted, model.n_known_laws, model.n_hidden) == (36, 9, 18, 9)
    assert model.widths == (3, 3, 3, 3, 3)


@pytest.mark.parametrize("backend", BACKENDS)
def test_scalar_flow_map(backend):
    # n = 1: z = prod_k (1 + a_k / K); with a_k = K (e^(1/K) - 1), z = e
    K = 5
    model = itf.LinearNeuralODE(1, K)
    theta = np.full(K, K * (np.exp(1 / K) - 1))
    np.testing.assert_allclose(backend.lift(model, theta), [np.e], rtol=1e-14)
    # dz/da_k = z / (K (1 + a_k / K)), M = sum_k of its square
    expected = np.e / (K * np.exp(1 / K))
    np.testing.assert_allclose(backend.lift_jacobian(model, theta), np.full((1, K), expected), rtol=1e-14)
    np.testing.assert_allclose(backend.metric(model, theta), [[K * expected ** 2]], rtol=1e-14)


@pytest.mark.parametrize("backend", BACKENDS)
def test_laws_are_the_chain_laws_of_the_factors(backend):
    model = itf.LinearNeuralODE(2, 3)
    theta = model.init(0)
    U = model.factors(theta)
    expected = np.concatenate([(U[k + 1].T @ U[k + 1] - U[k] @ U[k].T)[np.triu_indices(2)] for k in range(2)])
    np.testing.assert_allclose(backend.conserved(model, theta), expected, rtol=1e-13, atol=1e-15)


# -- identities -----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_lift_is_the_forward_map_and_jacobian_matches_differences(backend):
    model = itf.LinearNeuralODE(3, 4)
    theta = model.init(1)
    z = backend.lift(model, theta)
    np.testing.assert_allclose(model.forward(theta, np.eye(3)).T.ravel(), z, rtol=1e-13, atol=1e-15)
    J = backend.lift_jacobian(model, theta)
    fd = np.stack([(backend.lift(model, theta + e) - backend.lift(model, theta - e)) / 2e-6
                   for e in 1e-6 * np.eye(model.n_params)], axis=1)
    np.testing.assert_allclose(J, fd, rtol=1e-7, atol=1e-9)
    Jh = backend.conserved_jacobian(model, theta)
    fdh = np.stack([(backend.conserved(model, theta + e) - backend.conserved(model, theta - e)) / 2e-6
                    for e in 1e-6 * np.eye(model.n_params)], axis=1)
    np.testing.assert_allclose(Jh, fdh, rtol=1e-7, atol=1e-9)
    # the laws' gradients are orthogonal to the gradients of z (they are conserved)
    np.testing.assert_allclose(Jh @ J.T, 0, atol=1e-12)


def test_backends_agree_on_geometry():
    model = itf.LinearNeuralODE(2, 5)
    theta = model.init(2)
    v = np.random.default_rng(2).standard_normal(model.n_params)
    for name in ("lift", "lift_jacobian", "metric", "conserved", "conserved_jacobian", "lift_gram"):
        np.testing.assert_allclose(getattr(itf, name)(model, theta), getattr(ref, name)(model, theta),
                                   rtol=1e-12, atol=1e-14, err_msg=name)
    np.testing.assert_allclose(itf.metric_derivative(model, theta, v), ref.metric_derivative(model, theta, v),
                               rtol=1e-12, atol=1e-14)
    assert itf.rank_lift(model, theta) == ref.rank_lift(model, theta) == 4


def test_relaxed_balanced_init():
    model = itf.LinearNeuralODE(3, 6)
    theta = model.init(3, "relaxed_balanced", lam=2.0)
    H = (2.0 / 36) * np.eye(3)
    np.testing.assert_allclose(itf.conserved(model, theta), np.tile(H[np.triu_indices(3)], 5), atol=1e-13)


def test_regression_flow_conserves_laws_and_backends_agree():
    model = itf.LinearNeuralODE(2, 4)
    rng = np.random.default_rng(4)
    loss = Regression(rng.standard_normal((10, 2)), rng.standard_normal((10, 2)))
    theta = model.init(4)
    a = itf.gradient_flow(model, theta, loss, 1.0, n_steps=200)
    b = ref.gradient_flow(model, theta, loss, 1.0, n_steps=200)
    assert a.max_drift <= 1e-10 and a.loss[-1] < a.loss[0]
    np.testing.assert_allclose(a.theta, b.theta, rtol=0, atol=1e-12 * np.max(np.abs(a.theta)))
    residual = model.forward(theta, loss.X) - loss.Y
    assert a.loss[0] == pytest.approx(0.5 * np.sum(residual ** 2) / 10, rel=1e-13)


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs, message", [({"n": 0, "n_steps": 2}, "n must be an integer >= 1"),
                                              ({"n": 2, "n_steps": 0}, "n_steps must be an integer >= 1"),
                                              ({"n": 2.5, "n_steps": 2}, "n must be an integer >= 1")])
def test_bad_sizes(kwargs, message):
    with pytest.raises(ValueError, match=message):
        itf.LinearNeuralODE(**kwargs)


def test_bad_init_and_inputs():
    model = itf.LinearNeuralODE(2, 3)
    with pytest.raises(ValueError, match="unknown init scheme 'orthogonal' for LinearNeuralODE"):
        model.init(0, "orthogonal")
    with pytest.raises(ValueError, match="takes lam="):
        model.init(0, "relaxed_balanced")
    with pytest.raises(ValueError, match=r"theta has shape \(5,\), expected \(n_params,\) = \(12,\)"):
        itf.lift(model, np.zeros(5))
    with pytest.raises(ValueError, match=r"X must have shape \(m, 2\)"):
        model.forward(model.init(0), np.zeros((3, 3)))
