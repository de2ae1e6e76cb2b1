"""Geometry of phi: exact values of docs/theory/intrinsic.md, identities, conservation."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import intrinsic_flow as itf
from intrinsic_flow import DAGReLUNet, LinearNet, ReLUNet

from strategies import any_model, dag_nets, linear_nets, relu_nets

# -- exact values (docs/theory/intrinsic.md) -------------------------------------------------------


@pytest.mark.parametrize("net", [LinearNet([1, 1, 1]), ReLUNet([1, 1, 1])])
def test_C1_scalar_two_layer(backend, net):
    theta = np.array([1.0, 2.0])  # (v, u) = (1, 2): z = 2, lambda = u^2 - v^2 = 3
    z = backend.lift(net, theta)
    M = backend.metric(net, theta)
    lam = 4.0 - 1.0
    assert z[0] == 2.0
    assert M[0, 0] == 5.0 == np.sqrt(lam**2 + 4 * z[0] ** 2)
    assert abs(backend.conserved(net, theta)[0]) == lam  # ReLU uses in - out, the opposite sign


def _operator_matrix(apply, n_out, n_in, order="C"):
    """Matrix of a linear map on (n_out x n_in) matrices, in the ravel order of z."""
    size = n_out * n_in
    matrix = np.zeros((size, size))
    for k in range(size):
        basis = np.zeros(size)
        basis[k] = 1.0
        matrix[:, k] = apply(basis.reshape((n_out, n_in) if order == "C" else (n_in, n_out)).copy()).ravel()
    return matrix


def test_C2_relaxed_balanced_metric_is_exact(backend):
    # U = diag(2, sqrt 7), V = diag(1, 2): U^T U - V^T V = 3 I, Z = U V^T; M[G] = U U^T G + G V V^T
    U, V = np.diag([2.0, np.sqrt(7.0)]), np.diag([1.0, 2.0])
    net = LinearNet([2, 2, 2])
    theta = net.flatten([V.T, U])  # W1 = V^T (input side), W2 = U
    np.testing.assert_allclose(backend.lift(net, theta), np.diag([2.0, 2.0 * np.sqrt(7.0)]).ravel(), rtol=1e-15)
    np.testing.assert_allclose(backend.conserved(net, theta), [3.0, 0.0, 3.0], atol=1e-14)
    A3, B3 = np.diag([4.0, 7.0]), np.diag([1.0, 4.0])  # A_3(Z) = U U^T, B_3(Z) = V V^T
    expected = _operator_matrix(lambda G: A3 @ G + G @ B3, 2, 2)
    np.testing.assert_allclose(backend.metric(net, theta), expected, rtol=1e-14, atol=1e-14)
    # still exact after U <- Q1 U R, V <- Q2 V R
    rng = np.random.default_rng(0)
    Q1, Q2, R = (np.linalg.qr(rng.standard_normal((2, 2)))[0] for _ in range(3))
    theta = net.flatten([(Q2 @ V @ R).T, Q1 @ U @ R])
    expected = _operator_matrix(lambda G: Q1 @ A3 @ Q1.T @ G + G @ Q2 @ B3 @ Q2.T, 2, 2)
    np.testing.assert_allclose(backend.metric(net, theta), expected, rtol=1e-13, atol=1e-13)


def test_C7_two_layer_relu_single_neuron(backend):
    # u = (1, 2) outgoing, v = (2, 0) incoming: c = |u|^2 - |v|^2 = 1, |Z|_F^2 = 20,
    # recovered |u|^2 = (1 + 9) / 2 = 5, |v|^2 = (-1 + 9) / 2 = 4, K[G] = Z Z^T G / 4 + G Z^T Z / 5
    u, v = np.array([1.0, 2.0]), np.array([2.0, 0.0])
    net = ReLUNet([2, 1, 2])
    theta = net.flatten([(v[None, :], None), (u[:, None], None)])
    assert backend.conserved(net, theta)[0] == -1.0
    Z = np.outer(u, v)  # (n_out, n_in); paths are z[i0, i2] = v[i0] u[i2] = Z^T
    np.testing.assert_array_equal(backend.lift(net, theta), Z.T.ravel())
    c, norm2 = 1.0, np.sum(Z**2)
    u2, v2 = (c + np.sqrt(c**2 + 4 * norm2)) / 2, (-c + np.sqrt(c**2 + 4 * norm2)) / 2
    assert (u2, v2) == (5.0, 4.0)
    K = _operator_matrix(lambda Gt: (Z @ Z.T / v2 @ Gt.T + Gt.T @ Z.T @ Z / u2).T, 2, 2, order="F")
    np.testing.assert_allclose(backend.metric(net, theta), K, rtol=1e-14, atol=1e-14)


def _path_parameter_sets(net):
    return [set(p) for p in itf.reference.geometry.lifting_of(net).paths()]


@pytest.mark.parametrize("net", [ReLUNet([2, 3, 2, 2]), ReLUNet([2, 3, 2], bias=True),
                                 DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[3])])
def test_C8_path_lifting_metric_formula(backend, net):
    # M_pq = z_p z_q sum_{e in p ∩ q} theta_e^-2 (docs/theory/lifting.md)
    theta = net.init(5)
    z = backend.lift(net, theta)
    paths = _path_parameter_sets(net)
    expected = np.array([[z[p] * z[q] * sum(theta[e] ** -2.0 for e in paths[p] & paths[q])
                          for q in range(len(z))] for p in range(len(z))])
    M = backend.metric(net, theta)
    assert np.max(np.abs(M - expected)) <= 1e-14 * np.max(np.abs(expected))


def test_C9_scalar_depth_three_chain(backend):
    # (u, v, w) = (2, 1, 1) output to input: c1 = u^2 - v^2 = 3, c2 = v^2 - w^2 = 0,
    # M = (vw)^2 + (uw)^2 + (uv)^2 = 9 = 3 s^2 + 2 (c1 - c2) s - c1 c2 at s = v^2 = 1
    net = ReLUNet([1, 1, 1, 1])
    theta = np.array([1.0, 1.0, 2.0])  # W1 = w, W2 = v, W3 = u
    assert backend.lift(net, theta)[0] == 2.0
    assert backend.metric(net, theta)[0, 0] == 9.0 == 3 + 2 * 3 - 0
    np.testing.assert_array_equal(backend.conserved(net, theta), [0.0, -3.0])  # (-c2, -c1)


@pytest.mark.parametrize("bias,D,rank,joint", [("hidden", 24, 18, 24), (True, 25, 19, 25)])
def test_C10_recoverability_ranks(backend, bias, D, rank, joint):
    net = ReLUNet([2, 3, 3, 1], bias=bias)
    theta = net.init(0)
    assert net.n_params == D and net.n_known_laws == 6
    assert backend.rank_lift(net, theta) == rank
    assert itf.numerical_rank(backend.conserved_jacobian(net, theta)) == 6
    assert backend.rank_joint(net, theta) == joint


@pytest.mark.parametrize("n,r,m", [(2, 2, 2), (3, 2, 3), (3, 3, 3), (4, 2, 3), (4, 3, 5)])
def test_C10_two_layer_linear_nets_are_not_recoverable(backend, n, r, m):
    # at full-column-rank points rank [J; Jh] = D - r(r-1)/2 (docs/theory/criteria.md)
    net = LinearNet([m, r, n])
    theta = net.init(1)
    assert backend.rank_joint(net, theta) == net.n_params - r * (r - 1) // 2


# dim W_phi = rank J at a generic point, docs/theory/laws.md (linear: n r m; widths input first [m, r, n])
@pytest.mark.parametrize("n,r,m,dim", [(1, 1, 1, 1), (2, 1, 2, 3), (1, 2, 1, 1), (1, 2, 3, 3), (2, 2, 2, 4),
                                       (3, 2, 3, 8), (2, 3, 2, 4), (3, 3, 3, 9), (2, 4, 2, 4), (3, 4, 4, 12),
                                       (4, 4, 4, 16)])
def test_two_layer_linear_rank_table(backend, n, r, m, dim):
    net = LinearNet([m, r, n])
    assert backend.rank_lift(net, net.init(2)) == dim
    if r <= min(n, m):
        assert dim == r * (n + m) - r * r


@pytest.mark.parametrize("widths,bias,D,d,dim", [([2, 3, 2], False, 12, 12, 9), ([3, 2, 3], "hidden", 14, 24, 12),
                                                 ([2, 2, 2, 2], "hidden", 16, 28, 12)])
def test_relu_rank_table(backend, widths, bias, D, d, dim):
    net = ReLUNet(widths, bias=bias)
    assert (net.n_params, net.n_lifted) == (D, d)
    assert backend.rank_lift(net, net.init(3)) == dim


@pytest.mark.parametrize("n_in,r,n_out", [(2, 3, 2), (4, 2, 3), (1, 5, 2), (3, 4, 1)])
def test_two_layer_relu_closed_form_rank(backend, n_in, r, n_out):
    net = ReLUNet([n_in, r, n_out])
    assert backend.rank_lift(net, net.init(4)) == r * (n_in + n_out - 1)


# -- identities ---------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(any_model)
def test_metric_is_J_J_transpose_and_gram_is_J_transpose_J(model):
    theta = model.init(6)
    J = itf.reference.lift_jacobian(model, theta)
    scale = max(1.0, np.max(np.abs(J)) ** 2)
    for backend in (itf, itf.reference):
        assert np.max(np.abs(backend.metric(model, theta) - J @ J.T)) <= 1e-13 * scale
        assert np.max(np.abs(backend.lift_gram(model, theta) - J.T @ J)) <= 1e-13 * scale


@settings(max_examples=30, deadline=None)
@given(any_model)
def test_jacobians_and_metric_derivative_match_finite_differences(model):
    rng = np.random.default_rng(7)
    theta = model.init(rng)
    v = rng.standard_normal(model.n_params)
    step = 1e-5
    for backend in (itf, itf.reference):
        fd_J = (backend.lift(model, theta + step * v) - backend.lift(model, theta - step * v)) / (2 * step)
        np.testing.assert_allclose(backend.lift_jacobian(model, theta) @ v, fd_J, rtol=1e-6, atol=1e-8)
        if model.n_known_laws:
            fd_h = (backend.conserved(model, theta + step * v) - backend.conserved(model, theta - step * v)) / (2 * step)
            np.testing.assert_allclose(backend.conserved_jacobian(model, theta) @ v, fd_h, rtol=1e-6, atol=1e-8)
        fd_M = (backend.metric(model, theta + step * v) - backend.metric(model, theta - step * v)) / (2 * step)
        np.testing.assert_allclose(backend.metric_derivative(model, theta, v), fd_M, rtol=1e-6, atol=1e-6)


@settings(max_examples=30, deadline=None)
@given(relu_nets())
def test_relu_rank_is_D_minus_hidden_at_nonzero_points(net):
    # J diag(theta) = diag(phi) A (docs/theory/ranks.md): with no zero weight, rank J = rank A = D - H
    theta = net.init(8)
    assert itf.rank_lift(net, theta) == net.n_params - net.n_hidden
    assert itf.rank_joint(net, theta) == net.n_params


@settings(max_examples=20, deadline=None)
@given(dag_nets())
def test_dag_rank_matches_the_dense_jacobian(net):
    theta = net.init(9)
    dense = itf.numerical_rank(itf.lift_jacobian(net, theta) * theta)  # J diag(theta), scale-invariant
    assert itf.rank_lift(net, theta) == dense == net.n_params - net.n_hidden


def test_rank_is_invariant_under_a_1e8_neuron_rescaling():
    net = ReLUNet([4, 8, 8, 3])
    theta = net.init(10)
    (W1, b1), (W2, b2), (W3, b3) = net.unflatten(theta.copy())
    W1[2] *= 1e8
    W2[:, 2] /= 1e8
    rescaled = net.flatten([(W1, None), (W2, None), (W3, None)])
    np.testing.assert_allclose(itf.lift(net, rescaled), itf.lift(net, theta), rtol=1e-12)
    assert itf.rank_lift(net, rescaled) == itf.rank_lift(net, theta) == 104
    assert itf.reference.rank_lift(net, rescaled) == 104


def test_rank_at_a_point_with_a_zero_weight_counts_the_dense_rank():
    net = ReLUNet([2, 3, 2])
    theta = net.init(11)
    theta[0] = 0.0  # W1[0, 0]
    dense = itf.numerical_rank(itf.lift_jacobian(net, theta))
    assert itf.rank_lift(net, theta) == dense == itf.reference.rank_lift(net, theta)


def test_rank_of_a_net_with_10_to_the_12_paths_without_paths():
    net = ReLUNet([2] * 41)  # 2^41 ≈ 2.2e12 paths, D = 160
    assert net.n_lifted == 2**41
    theta = net.init(12)
    assert itf.rank_lift(net, theta) == net.n_params - net.n_hidden
    with pytest.raises(ValueError, match=r"phi\(theta\) would need 16.0 TiB"):
        itf.lift(net, theta)


# -- conservation along a gradient flow ---------------------------------------------------

def _rk4_flow(backend, model, theta, target, t_end=0.5, n_steps=500):
    """theta' = -J^T grad f(z), f(z) = 1/2 |z - target|^2, classic RK4."""
    def velocity(t):
        return -backend.lift_jacobian(model, t).T @ (backend.lift(model, t) - target)

    h = t_end / n_steps
    laws = [backend.conserved(model, theta)]
    for _ in range(n_steps):
        k1 = velocity(theta)
        k2 = velocity(theta + h / 2 * k1)
        k3 = velocity(theta + h / 2 * k2)
        k4 = velocity(theta + h * k3)
        theta = theta + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        laws.append(backend.conserved(model, theta))
    return theta, np.array(laws)


@pytest.mark.parametrize("model", [ReLUNet([3, 4, 2], bias=True), ReLUNet([2, 3, 3, 1], bias="hidden"),
                                   DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[2, 4]),
                                   LinearNet([3, 3, 2]), LinearNet([2, 3, 3, 2])])
def test_known_laws_are_conserved_along_rk4(backend, model):
    rng = np.random.default_rng(13)
    theta0 = model.init(rng) * 0.7
    target = rng.standard_normal(model.n_lifted)
    theta, laws = _rk4_flow(backend, model, theta0, target)
    assert np.linalg.norm(theta - theta0) > 0.1  # the flow really moved
    drift = np.max(np.abs(laws - laws[0])) / max(np.max(np.abs(laws[0])), 1.0)
    assert drift < 1e-10


@settings(max_examples=60, deadline=None)
@given(st.one_of(relu_nets(), dag_nets()), st.integers(0, 2**32 - 1), st.floats(0.1, 0.7))
def test_exact_rank_from_the_zero_pattern_matches_the_dense_rank(net, seed, p_zero):
    rng = np.random.default_rng(seed)
    theta = net.init(rng) * (rng.random(net.n_params) > p_zero)
    dense = itf.numerical_rank(itf.reference.lift_jacobian(net, theta), rtol=1e-10)
    assert itf.rank_lift(net, theta, method="exact") == dense
    assert itf.reference.rank_lift(net, theta, method="exact") == dense
    assert itf.rank_lift(net, theta) == dense  # the Gram route agrees


def test_exact_rank_is_for_path_lifting_only():
    with pytest.raises(ValueError, match="method='exact' needs a path-lifting model"):
        itf.rank_lift(LinearNet([2, 2]), np.ones(4), method="exact")
    with pytest.raises(ValueError, match="method must be 'gram' or 'exact'"):
        itf.rank_lift(ReLUNet([2, 2]), np.ones(4), method="svd")
