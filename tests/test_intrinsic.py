"""The intrinsic metric K(z, h) and intrinsic flows: exact values of docs/theory/intrinsic.md, K = M at
points and along flows, the negative controls C3/C4, bad input."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.losses import LiftedQuadratic
from intrinsic_flow.neural_ode import relaxed_balanced_chain
from strategies import rescale_neuron

BACKENDS = [itf, ref]


def _orthogonal(rng, n):
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.diag(r))


def relaxed_two_layer(n, r, m, lam, seed=0, scale=0.6):
    """theta of LinearNet([m, r, n]) with W2^T W2 - W1 W1^T = lam I (U = W2: n x r, V = W1^T: m x r).

    lam >= 0: V Gaussian, U = Q (V^T V + lam I)^(1/2) with Q (n x r) orthonormal (needs n >= r);
    lam < 0: U Gaussian, V = Q (U^T U - lam I)^(1/2) (needs m >= r)."""
    rng = np.random.default_rng(seed)
    small, big = (m, n) if lam >= 0 else (n, m)
    A = scale * rng.standard_normal((small, r))
    w, q = np.linalg.eigh(A.T @ A + abs(lam) * np.eye(r))
    B = _orthogonal(rng, big)[:, :r] @ (q * np.sqrt(w)) @ q.T
    U, V = (B, A) if lam >= 0 else (A, B)
    return itf.LinearNet([m, r, n]).flatten([V.T, U])


def c3_loss(n, m, seed=1):
    """f(Z) = 1/2 |C Z E - Y|^2 + 0.025 sum Z^4 (docs/theory/intrinsic.md)."""
    rng = np.random.default_rng(seed)
    C, E, Y = 0.5 * rng.standard_normal((3, n)), 0.5 * rng.standard_normal((m, 2)), rng.standard_normal((3, 2))

    def f(z):
        Z = z.reshape(n, m)
        R = C @ Z @ E - Y
        return 0.5 * np.sum(R ** 2) + 0.025 * np.sum(Z ** 4), (C.T @ R @ E.T + 0.1 * Z ** 3).ravel()

    return f


def _relative(a, b):
    return np.max(np.abs(a - b)) / np.max(np.abs(b))


# -- exact values ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("route", ["closed", "recovery"])
def test_scalar_two_layer(backend, route):
    # C1: (u, v) = (2, 1): z = 2, h = v^2 - u^2 = -3, M = 5 = sqrt(9 + 16)
    model = itf.ReLUNet([1, 1, 1])
    K = backend.intrinsic_metric(model, [2.0], [-3.0], route=route)
    np.testing.assert_allclose(K, [[5.0]], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("route", ["closed"])  # v has a zero weight: off the recovery route's domain
def test_single_relu_neuron(backend, route):
    # C7: u = (1, 2), v = (2, 0): c = 1, |Z|^2 = 20 -> |u|^2 = 5, |v|^2 = 4; K = (u u^T) ⊗ ... in z order
    u, v = np.array([1.0, 2.0]), np.array([2.0, 0.0])
    model = itf.ReLUNet([2, 1, 2])
    z = np.outer(v, u).ravel()  # z[i0, j, i2] = v[i0] u[i2]
    expected = np.kron(np.eye(2), np.outer(u, u)) + np.kron(np.outer(v, v), np.eye(2))
    K = backend.intrinsic_metric(model, z, [4.0 - 5.0], route=route)
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("route", ["closed", "recovery"])
def test_scalar_depth3_chain(backend, route):
    # C9: (2, 1, 1): h = (3, 0), z = 2, s = 1, M = 3 + 6 - 0 = 9
    model = itf.ReLUNet([1, 1, 1, 1])
    np.testing.assert_allclose(backend.intrinsic_metric(model, [2.0], [3.0, 0.0], route=route), [[9.0]], rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_relaxed_two_by_two(backend):
    # C2: U = diag(2, sqrt 7), V = diag(1, 2), lam = 3: A_3 = diag(4, 7), B_3 = diag(1, 4); and rotated
    model = itf.LinearNet([2, 2, 2])
    U, V = np.diag([2.0, np.sqrt(7.0)]), np.diag([1.0, 2.0])
    rng = np.random.default_rng(0)
    for Q1, Q2, R in [(np.eye(2),) * 3, tuple(_orthogonal(rng, 2) for _ in range(3))]:
        U2, V2 = Q1 @ U @ R, Q2 @ V @ R
        z = (U2 @ V2.T).ravel()
        A, B = Q1 @ np.diag([4.0, 7.0]) @ Q1.T, Q2 @ np.diag([1.0, 4.0]) @ Q2.T
        K = backend.intrinsic_metric(model, z, [3.0, 0.0, 3.0])
        np.testing.assert_allclose(K, np.kron(A, np.eye(2)) + np.kron(np.eye(2), B), rtol=0, atol=1e-13)


@pytest.mark.parametrize("backend", BACKENDS)
def test_neural_ode_logarithmic_mean(backend):
    # §5: K[G] = int (ZZ^T)^(1-s) G (Z^TZ)^s ds / K; diagonal Z = diag(e^(1/2), 2): a = b = (e, 4)
    model = itf.LinearNeuralODE(2, 3)
    h = np.zeros(model.n_known_laws)
    K = backend.intrinsic_metric(model, [np.exp(0.5), 0.0, 0.0, 2.0], h)
    mean = (np.e - 4.0) / (1.0 - np.log(4.0))
    # divided by n_steps: the Euclidean metric on (A_1, ..., A_K) is K times the L^2 metric
    np.testing.assert_allclose(K, np.diag([np.e, mean, mean, 4.0]) / 3, rtol=1e-13, atol=1e-15)
    scalar = itf.LinearNeuralODE(1, 2)
    np.testing.assert_allclose(backend.intrinsic_metric(scalar, [1.5], [0.0]), [[2.25 / 2]], rtol=1e-14)


# -- identities: K(phi(theta), h(theta)) = M(theta) ------------------------------------------------
@settings(max_examples=12, deadline=None, derandomize=True)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4), bias=st.sampled_from([False, True, "hidden"]),
       seed=st.integers(0, 1000))
def test_relu_recovery_gives_the_metric(widths, bias, seed):
    model = itf.ReLUNet(widths, bias=bias)
    theta = model.init(seed)
    z, h = itf.lift(model, theta), itf.conserved(model, theta)
    M = itf.metric(model, theta)
    K = itf.intrinsic_metric(model, z, h, route="recovery")
    assert _relative(K, M) <= 1e-9
    if len(widths) == 3:  # the closed form agrees with the general route
        assert _relative(itf.intrinsic_metric(model, z, h, route="closed"), M) <= 1e-12


def test_dag_recovery_gives_the_metric():
    dag = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[2, 3])
    theta = dag.init(1)
    for backend in BACKENDS:
        K = backend.intrinsic_metric(dag, backend.lift(dag, theta), backend.conserved(dag, theta))
        assert _relative(K, backend.metric(dag, theta)) <= 1e-10


@pytest.mark.parametrize("n, r, m, lam", [(3, 3, 3, 0.7), (3, 3, 3, -0.7), (3, 3, 3, 0.0), (4, 2, 3, 0.7),
                                          (2, 2, 1, 0.7), (5, 3, 4, -0.5)])
def test_relaxed_two_layer_metric(n, r, m, lam):
    model = itf.LinearNet([m, r, n])
    theta = relaxed_two_layer(n, r, m, lam)
    h = itf.conserved(model, theta)
    np.testing.assert_allclose(h, (lam * np.eye(r))[np.triu_indices(r)], atol=1e-12)
    K = itf.intrinsic_metric(model, itf.lift(model, theta), h)
    assert _relative(K, itf.metric(model, theta)) <= 1e-11


@pytest.mark.parametrize("lambdas", [(0.0, 0.0), (0.3, 0.3), (0.4, -0.2)])
def test_deep_square_relaxed_metric(lambdas):
    model = itf.LinearNet([3, 3, 3, 3])
    theta = model.flatten(relaxed_balanced_chain(3, 3, lambdas, np.random.default_rng(2), scale=0.5))
    h = itf.conserved(model, theta)
    K = itf.intrinsic_metric(model, itf.lift(model, theta), h)
    assert _relative(K, itf.metric(model, theta)) <= 1e-10


def test_deep_balanced_is_aroras_formula():
    # lam = 0: K[G] = sum_j (W W^T)^((L-j)/L) G (W^T W)^((j-1)/L)
    model = itf.LinearNet([2, 2, 2, 2])
    W = np.array([[1.0, 0.5], [-0.3, 2.0]])
    a, qa = np.linalg.eigh(W @ W.T)
    b, qb = np.linalg.eigh(W.T @ W)
    expected = sum(np.kron((qa * a ** ((3 - j) / 3)) @ qa.T, (qb * b ** ((j - 1) / 3)) @ qb.T) for j in (1, 2, 3))
    K = itf.intrinsic_metric(model, W.ravel(), np.zeros(model.n_known_laws))
    np.testing.assert_allclose(K, expected, rtol=1e-12, atol=1e-12)


# -- intrinsic flows match theta flows ------------------------------------------------------------
def test_two_layer_relu_flows_match():
    model = itf.ReLUNet([3, 4, 2], bias="hidden")
    theta = model.init(3)
    loss = LiftedQuadratic(np.random.default_rng(3).standard_normal(model.n_lifted))
    result = itf.compare_flows(model, theta, loss, 0.5, n_steps=400)
    assert result.max_relative_gap <= 1e-8
    assert result.intrinsic_flow.theta is None and result.intrinsic_flow.max_drift == 0.0


def test_deep_relu_flows_match_via_recovery():
    model = itf.ReLUNet([2, 3, 3, 1], bias="hidden")
    theta = model.init(3)
    loss = LiftedQuadratic(0.3 * np.random.default_rng(0).standard_normal(model.n_lifted))
    result = itf.compare_flows(model, theta, loss, 0.3, method="rk45", rtol=1e-11)
    assert result.max_relative_gap <= 1e-8


def test_scalar_chain_flows_match():
    model = itf.ReLUNet([1, 1, 1, 1])
    loss = lambda z: (0.5 * (z[0] - 3.0) ** 2 + 0.25 * z[0] ** 4, np.array([z[0] - 3.0 + z[0] ** 3]))  # noqa: E731
    result = itf.compare_flows(model, np.array([0.9, -0.7, 1.2]), loss, 1.0, method="rk45", rtol=1e-11)
    assert result.max_relative_gap <= 1e-8


@pytest.mark.parametrize("n, r, m, lam", [(3, 3, 3, 0.7), (3, 3, 3, -0.7), (3, 3, 3, 0.0), (4, 2, 3, 0.7)])
def test_c3_relaxed_flows_match(n, r, m, lam):
    model = itf.LinearNet([m, r, n])
    result = itf.compare_flows(model, relaxed_two_layer(n, r, m, lam, seed=4), c3_loss(n, m), 1.0, n_steps=400)
    assert result.max_relative_gap <= 1e-8


def test_c3_without_projectors_is_wrong():
    # (4, 2, 3), lam = 0.7: A without the projector puts lam on ker(ZZ^T), where UU^T is 0
    model, lam = itf.LinearNet([3, 2, 4]), 0.7
    theta = relaxed_two_layer(4, 2, 3, lam, seed=4)
    Z = itf.lift(model, theta).reshape(4, 3)
    values, vectors = np.linalg.eigh(Z @ Z.T)
    A_plain = (vectors * (lam / 2 + np.sqrt(np.clip(values, 0, None) + lam ** 2 / 4))) @ vectors.T
    values, vectors = np.linalg.eigh(Z.T @ Z)
    B = (vectors * (-lam / 2 + np.sqrt(np.clip(values, 0, None) + lam ** 2 / 4))) @ vectors.T
    M = itf.metric(model, theta)
    assert np.max(np.abs(np.kron(A_plain, np.eye(3)) + np.kron(np.eye(4), B) - M)) > 0.5 * lam  # O(1)
    assert _relative(itf.intrinsic_metric(model, Z.ravel(), itf.conserved(model, theta)), M) <= 1e-11


def test_c4_no_function_of_z():
    # (n, r, m) = (3, 2, 1), lam = 0.7: rotating U inside ker(ZZ^T) keeps z and h but changes M
    model, lam = itf.LinearNet([1, 2, 3]), 0.7
    theta = relaxed_two_layer(3, 2, 1, lam, seed=5)
    W1, W2 = model.unflatten(theta)
    Z = W2 @ W1
    kernel = np.linalg.svd(Z)[0][:, 1:]  # orthonormal basis of ker(ZZ^T) (rank Z = 1)
    rotation = np.eye(3) - 2 * np.outer(kernel[:, 0], kernel[:, 0])  # a reflection fixing range(Z)
    rotated = model.flatten([W1, rotation @ W2])
    np.testing.assert_allclose(itf.lift(model, rotated), itf.lift(model, theta), atol=1e-14)
    np.testing.assert_allclose(itf.conserved(model, rotated), itf.conserved(model, theta), atol=1e-14)
    assert _relative(itf.metric(model, rotated), itf.metric(model, theta)) > 0.1
    for backend in BACKENDS:
        with pytest.raises(ValueError, match=r"no function of Z gives M: lam = 0.7 > 0 with n = 3 > r = 2 and rank Z = 1 < r"):
            backend.intrinsic_metric(model, Z.ravel(), itf.conserved(model, theta))


def test_neural_ode_converges_like_one_over_depth():
    # theta-flows of K pieces run K times slower than the L^2 flow: integrate to t = K / 2
    gaps = []
    for n_steps in (4, 8, 16):
        model = itf.LinearNeuralODE(2, n_steps)
        theta = model.init(0, "relaxed_balanced", lam=1.0, spread=1.0)
        loss = LiftedQuadratic(np.array([1.0, 0.5, -0.5, 2.0]))
        gaps.append(itf.compare_flows(model, theta, loss, 0.5 * n_steps, n_steps=100).max_relative_gap)
    assert gaps[0] > gaps[1] > gaps[2] > 0
    ratios = [gaps[0] / gaps[1], gaps[1] / gaps[2]]
    assert all(1.6 < r < 2.5 for r in ratios), ratios


def test_intrinsic_flow_backends_agree():
    model = itf.ReLUNet([2, 3, 2])
    theta = model.init(6)
    loss = LiftedQuadratic(np.random.default_rng(6).standard_normal(model.n_lifted))
    z0, h0 = itf.lift(model, theta), itf.conserved(model, theta)
    a = itf.intrinsic_flow(model, z0, h0, loss, 0.5, n_steps=50)
    b = ref.intrinsic_flow(model, z0, h0, loss, 0.5, n_steps=50)
    np.testing.assert_allclose(a.z, b.z, rtol=0, atol=1e-12 * np.max(np.abs(a.z)))


# -- bad input ------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input(backend):
    relu = itf.ReLUNet([2, 2, 1])
    with pytest.raises(ValueError, match=r"z has shape \(3,\), expected \(4,\)"):
        backend.intrinsic_metric(relu, np.ones(3), np.zeros(2))
    with pytest.raises(ValueError, match=r"h has shape \(1,\), expected \(2,\)"):
        backend.intrinsic_metric(relu, np.ones(4), np.zeros(1))
    with pytest.raises(ValueError, match="hidden neuron 0 has Z_j = 0"):
        backend.intrinsic_metric(relu, np.array([0.0, 1.0, 0.0, 1.0]), np.zeros(2))
    with pytest.raises(ValueError, match="z has 2 zero entries: recovery needs every path nonzero"):
        backend.intrinsic_metric(relu, np.array([0.0, 1.0, 0.0, 1.0]), np.zeros(2), route="recovery")
    with pytest.raises(ValueError, match="route must be one of"):
        backend.intrinsic_metric(relu, np.ones(4), np.zeros(2), route="fast")
    deep = itf.ReLUNet([2, 2, 2, 1])
    with pytest.raises(ValueError, match="no closed form for"):
        backend.intrinsic_metric(deep, np.ones(deep.n_lifted), np.zeros(4), route="closed")
    linear = itf.LinearNet([2, 2, 2])
    with pytest.raises(ValueError, match="is not a multiple of the identity"):
        backend.intrinsic_metric(linear, np.ones(4), [1.0, 0.5, 1.0])
    with pytest.raises(ValueError, match="needs square layers"):
        backend.intrinsic_metric(itf.LinearNet([2, 3, 3, 2]), np.ones(4), np.zeros(12))
    with pytest.raises(ValueError, match="not a function of z alone"):
        from intrinsic_flow.losses import Regression
        backend.intrinsic_flow(relu, np.ones(4), np.zeros(2), Regression(np.ones((3, 2)), np.ones((3, 1))), 1.0)


# -- accuracy away from balance ----------------------------------------------------------------


def _metric_error(backend, model, theta, route="auto", h=None):
    z = backend.lift(model, theta)
    h = backend.conserved(model, theta) if h is None else h
    K = backend.intrinsic_metric(model, z, h, route=route)
    M = backend.metric(model, theta)
    assert np.all(np.isfinite(K))
    return float(np.max(np.abs(K - M)) / np.max(np.abs(M)))


TWO_LAYER = [itf.ReLUNet([1, 1, 1]), itf.ReLUNet([3, 4, 2]), itf.ReLUNet([3, 4, 2], bias=True),
             itf.ReLUNet([2, 3, 2], bias="hidden")]
DEEP = [itf.ReLUNet([1, 1, 1, 1]), itf.ReLUNet([1, 2, 1, 1]), itf.ReLUNet([2, 3, 2, 2]),
        itf.ReLUNet([2, 3, 3, 1], bias="hidden"),
        itf.DAGReLUNet(2, 2, [(0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (2, 5), (3, 5)], bias=(3,))]


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_two_layer_closed_form_without_cancellation(backend):
    # (v, u) = (1e-4, 1e4): |v|^2 = (-c + sqrt(c^2 + 4|Z|^2)) / 2 cancelled to 0 (K off by 33 %)
    model = itf.ReLUNet([1, 1, 1])
    for theta in (np.array([1e-4, 1e4]), np.array([1e4, 1e-4]), np.array([-3e-8, 2e7])):
        assert _metric_error(backend, model, theta, "closed") <= 1e-15


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
@pytest.mark.parametrize("model", TWO_LAYER, ids=str)
def test_two_layer_metric_at_rescaled_neurons(backend, model):
    # rescaling one neuron of [3, 4, 2] by 1e4 returned NaN/inf without an error
    rng = np.random.default_rng(11)
    for seed in range(3):
        for neuron in model.graph.hidden:
            for factor in (1e4, 1e-4, 10 ** rng.uniform(-4, 4)):
                theta = rescale_neuron(model, model.init(seed), neuron, factor)
                for route in ("auto", "recovery"):
                    assert _metric_error(backend, model, theta, route) <= 1e-10


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_deep_recovery_reported_point(backend):
    # Newton stopped on a global absolute tolerance: 6e-7 off at this point
    model = itf.ReLUNet([1, 2, 1, 1])
    theta = np.array([354.04, -4.9654e-3, -5.316e-4, -2.2766, 1.8715e-2])
    assert _metric_error(backend, model, theta) <= 1e-10


@pytest.mark.parametrize("model", DEEP, ids=str)
def test_deep_and_dag_metric_at_rescaled_neurons(model):
    # one neuron rescaled by up to 1e+-2 around a balanced point: K = M to 1e-10
    rng = np.random.default_rng(5)
    for seed in range(3):
        for neuron in model.graph.hidden:
            for factor in (1e2, 1e-2, 10 ** rng.uniform(-2, 2)):
                theta = rescale_neuron(model, model.init(seed, scheme="balanced"), neuron, factor)
                for backend in BACKENDS:
                    assert _metric_error(backend, model, theta, "recovery") <= 1e-10


@pytest.mark.parametrize("model", DEEP, ids=str)
def test_deep_metric_is_as_accurate_as_h_allows(model):
    # Rescaling a neuron by 1e4 makes its neighbours' laws differences of numbers 1e8 apart, so
    # (z, h) rounded to float64 fixes theta only to ~1e-8: K must be at least as close to M as K
    # at h moved by two ulps is to K (backward stability of the recovery).
    for seed in range(3):
        for neuron in model.graph.hidden:
            for factor in (1e4, 1e-4):
                theta = rescale_neuron(model, model.init(seed, scheme="balanced"), neuron, factor)
                z, h = itf.lift(model, theta), itf.conserved(model, theta)
                K = itf.intrinsic_metric(model, z, h, route="recovery")
                moved = itf.intrinsic_metric(model, z, np.nextafter(np.nextafter(h, np.inf), np.inf), route="recovery")
                floor = np.max(np.abs(moved - K)) / np.max(np.abs(K))
                assert _metric_error(itf, model, theta, "recovery") <= 1e-10 + floor


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_far_rescalings_never_give_nan(backend):
    # a neuron rescaled by 1e100: K is finite and right, or a ValueError names the cause
    for model in (itf.ReLUNet([3, 4, 2]), itf.ReLUNet([2, 3, 2, 2]), itf.ReLUNet([1, 1, 1, 1])):
        for factor in (1e50, 1e100, 1e-100):
            theta = rescale_neuron(model, model.init(0), model.graph.hidden[0], factor)
            for route in ("auto", "recovery"):
                try:
                    K = backend.intrinsic_metric(model, backend.lift(model, theta), backend.conserved(model, theta),
                                                 route=route)
                except ValueError as error:
                    assert "non-finite" not in str(error)
                    continue
                assert np.all(np.isfinite(K))


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_metric_beyond_float64_is_refused(backend):
    # the recovered weights of this (z, h) are about 1e200: their squares are no float64
    model = itf.ReLUNet([2, 3, 2, 2])
    z = np.full(model.n_lifted, 1e-300)
    h = np.full(model.n_known_laws, 1e300)
    with pytest.raises(ValueError, match="float64") as error:
        backend.intrinsic_metric(model, z, h, route="recovery")
    assert "theta contains" not in str(error.value)


@pytest.mark.parametrize("backend", BACKENDS, ids=["core", "reference"])
def test_polynomial_map_has_no_intrinsic_metric(backend):
    model = itf.PolynomialMap([{(1, 1): 1}], 2)
    loss = LiftedQuadratic(np.ones(1))
    calls = [lambda: backend.intrinsic_metric(model, np.ones(1), np.zeros(0)),
             lambda: backend.intrinsic_flow(model, np.ones(1), np.zeros(0), loss, 1.0),
             lambda: backend.compare_flows(model, np.ones(2), loss, 1.0)]
    for call in calls:
        with pytest.raises(ValueError, match="no intrinsic metric for PolynomialMap .model kind 'poly'.*LinearNet"):
            call()
