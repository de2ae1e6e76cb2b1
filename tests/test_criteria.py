"""Intrinsic-dynamics criteria (docs/theory/criteria.md): exact values first, identities second, bad input third."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from strategies import rescale_neuron

BACKENDS = [pytest.param(itf, id="core"), pytest.param(ref, id="reference")]


def same_answers(a, b):
    return (a.rank_lift, a.rank_conserved, a.rank_joint, a.kernel_dim, a.recoverable, a.kernel_inclusion) == \
        (b.rank_lift, b.rank_conserved, b.rank_joint, b.kernel_dim, b.recoverable, b.kernel_inclusion)


# -- exact values ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bias,D,rank", [("hidden", 24, 18), (True, 25, 19)])
def test_c10_relu_2331_is_recoverable(backend, bias, D, rank):
    # docs/theory/criteria.md: [2,3,3,1], 6 laws; joint rank D
    model = itf.ReLUNet([2, 3, 3, 1], bias=bias)
    c = backend.criteria(model, model.init(0))
    assert (c.n_params, c.rank_lift, c.rank_conserved, c.rank_joint) == (D, rank, 6, D)
    assert c.recoverable and c.kernel_dim == 0 and c.kernel_inclusion and c.inclusion_residual == 0.0
    assert c.gap_lift > 1e5 and c.gap_joint == np.inf


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("m,r,n", [(3, 3, 3), (3, 2, 4), (5, 3, 4), (2, 2, 2)])
def test_two_layer_linear_kernel_dim_and_inclusion(backend, m, r, n):
    # docs/theory/criteria.md: at full-column-rank points dim(ker dphi ∩ ker dh) = r(r-1)/2, and kernel
    # inclusion holds iff U^T U - V^T V = lambda I (relaxed balance)
    model = itf.LinearNet([m, r, n])
    expected_kernel = r * (r - 1) // 2
    for lam in (0.5, -0.4, 0.0):
        c = backend.criteria(model, model.init(1, "relaxed_balanced", lambdas=lam))
        assert c.kernel_dim == expected_kernel and not c.recoverable
        assert c.rank_joint == model.n_params - expected_kernel
        assert c.kernel_inclusion and c.inclusion_residual < 1e-12
    generic = backend.criteria(model, model.init(1, "gaussian"))
    assert generic.kernel_dim == expected_kernel
    assert not generic.kernel_inclusion and generic.inclusion_residual > 1e-3


@pytest.mark.parametrize("backend", BACKENDS)
def test_width_one_linear_inclusion_always_holds(backend):
    # r = 1: S is a scalar, the kernel of [dphi; dh] is {0}
    model = itf.LinearNet([3, 1, 2])
    c = backend.criteria(model, model.init(0))
    assert c.kernel_dim == 0 and c.recoverable and c.kernel_inclusion


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_ranks_3x3x3(backend):
    # D = 18, rank dphi = 9 (Z is a generic 3x3 matrix), 6 laws, deficit 3 = r(r-1)/2
    model = itf.LinearNet([3, 3, 3])
    c = backend.criteria(model, model.init(3))
    assert (c.rank_lift, c.rank_conserved, c.rank_joint, c.kernel_dim) == (9, 6, 15, 3)


def test_ranks_match_a_direct_svd_at_a_degenerate_point():
    # neuron 2 has no incoming weight; at this small, well-conditioned point the ranks must
    # equal those of a plain SVD of J and [J; Jh]
    model = itf.ReLUNet([2, 2, 1])
    theta = np.array([0.0, 0.0, 1.0, -2.0, 0.5, 3.0])  # W1 rows (neurons 2, 3), then W2
    jac = ref.lift_jacobian(model, theta)
    laws = ref.conserved_jacobian(model, theta)
    for backend in (itf, ref):
        c = backend.criteria(model, theta)
        assert c.rank_lift == np.linalg.matrix_rank(jac)
        assert c.rank_joint == np.linalg.matrix_rank(np.vstack([jac, laws]))
        assert c.kernel_dim == 6 - c.rank_joint


# -- identities --------------------------------------------------------------------------------
@pytest.mark.parametrize("model", [itf.ReLUNet([3, 4, 4, 2], bias=True), itf.ReLUNet([4, 8, 8, 3]),
                                   itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3), (1, 4), (3, 4), (2, 4)], bias=(2, 3))])
@pytest.mark.parametrize("factor", [1e8, 1e-8])
def test_rescaling_one_neuron_changes_no_answer(model, factor):
    theta = model.init(2)
    for neuron in model.graph.hidden[:2]:
        moved = rescale_neuron(model, theta, neuron, factor)
        for backend in (itf, ref):
            before, after = backend.criteria(model, theta), backend.criteria(model, moved)
            assert same_answers(before, after)
            assert after.recoverable
            assert after.gap_lift > 1e5


def test_rescaling_invariance_at_a_point_with_a_kernel():
    # a dead first-layer neuron (no incoming weight or bias): its 4 outgoing weights move no path,
    # and h only fixes their norm, so the kernel has dimension >= 3; rescale a live neuron
    model = itf.ReLUNet([3, 4, 4, 1], bias=True)
    theta = model.init(5)
    dead, live = model.graph.hidden[0], model.graph.hidden[5]
    theta[np.asarray(model.graph.param_dst) == dead] = 0.0
    base = itf.criteria(model, theta)
    assert base.kernel_dim >= 3 and not base.kernel_inclusion
    moved = rescale_neuron(model, theta, live, 1e8)
    for backend in (itf, ref):
        after = backend.criteria(model, moved)
        assert same_answers(base, after)
        np.testing.assert_allclose(after.inclusion_residual, base.inclusion_residual, rtol=1e-7)


def test_tall_jacobian_residual_matches_the_dense_metric_derivative():
    # d = 192 paths > 2D = 96: the core takes the QR route (no d x d matrix), the reference forms dM
    model = itf.ReLUNet([3, 4, 4, 4, 1])
    assert model.n_lifted > 2 * model.n_params
    theta = model.init(3)
    theta[np.asarray(model.graph.param_dst) == model.graph.hidden[0]] = 0.0  # a dead neuron: a kernel
    core, reference = itf.criteria(model, theta), ref.criteria(model, theta)
    assert core.kernel_dim == reference.kernel_dim >= 3
    assert reference.inclusion_residual > 1e-3
    np.testing.assert_allclose(core.inclusion_residual, reference.inclusion_residual, rtol=1e-10)


def test_naive_rank_fails_where_criteria_do_not():
    # the reason for the balanced representative (docs/theory/ranks.md): a 1e8 rescaling breaks the SVD of J
    model = itf.ReLUNet([4, 8, 8, 3])
    theta = model.init(0)
    moved = rescale_neuron(model, theta, model.graph.hidden[0], 1e8)
    assert np.linalg.matrix_rank(ref.lift_jacobian(model, moved)) < 104  # the naive SVD loses rank
    assert itf.criteria(model, moved).rank_lift == itf.criteria(model, theta).rank_lift == 104  # D - 16


@pytest.mark.parametrize("model", [itf.ReLUNet([3, 4, 3, 2], bias=True),
                                   itf.DAGReLUNet(2, 2, [(0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (2, 5), (3, 5)], bias=(3,))])
def test_balanced_representative_keeps_phi_and_balances(model):
    theta = model.init(1)
    for backend in (itf, ref):
        point = backend.balanced_representative(model, theta)
        np.testing.assert_allclose(ref.lift(model, point), ref.lift(model, theta), rtol=1e-12, atol=1e-15)
        assert np.max(np.abs(ref.conserved(model, point))) < 1e-12 * np.sum(point ** 2)
    moved = rescale_neuron(model, theta, model.graph.hidden[0], 1e6)
    np.testing.assert_allclose(itf.balanced_representative(model, moved), itf.balanced_representative(model, theta),
                               rtol=1e-10)


def test_residual_is_invariant_under_theta_scaling():
    # the factor ||theta|| makes the residual dimensionless for homogeneous phi
    model = itf.LinearNet([3, 3, 3])
    theta = model.init(4)
    a, b = itf.criteria(model, theta), itf.criteria(model, 10.0 * theta)
    assert same_answers(a, b)
    np.testing.assert_allclose(b.inclusion_residual, a.inclusion_residual, rtol=1e-10)


@settings(max_examples=15, deadline=None)
@given(widths=st.lists(st.integers(1, 3), min_size=3, max_size=4), relu=st.booleans(),
       bias=st.sampled_from([False, True, "hidden"]), scheme=st.sampled_from(["gaussian", "sparse", "dead_neuron"]),
       seed=st.integers(0, 2**16))
def test_backends_agree(widths, relu, bias, scheme, seed):
    model = itf.ReLUNet(widths, bias=bias) if relu else itf.LinearNet(widths)
    options = {"p": 0.3} if scheme == "sparse" else {}
    theta = model.init(seed, scheme, **options)
    core, reference = itf.criteria(model, theta), ref.criteria(model, theta)
    assert same_answers(core, reference)
    if reference.inclusion_residual > 1e-8:
        np.testing.assert_allclose(core.inclusion_residual, reference.inclusion_residual, rtol=1e-8)
    else:
        assert core.inclusion_residual <= 1e-8


@pytest.mark.parametrize("model", [
    itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (1, 4), (2, 4), (3, 4)], bias=(2, 3)),
    itf.DAGReLUNet(1, 2, [(0, 1), (1, 2), (0, 2), (1, 3), (2, 3), (2, 4), (0, 4)], bias=(1, 4)),
])
@pytest.mark.parametrize("scheme,options", [("gaussian", {}), ("sparse", {"p": 0.4}), ("dead_neuron", {})])
def test_backends_agree_on_dags(model, scheme, options):
    for seed in range(4):
        theta = model.init(seed, scheme, **options)
        core, reference = itf.criteria(model, theta), ref.criteria(model, theta)
        assert same_answers(core, reference)
        np.testing.assert_allclose(core.inclusion_residual, reference.inclusion_residual, rtol=1e-8, atol=1e-12)


def test_batch_is_the_same_whatever_the_thread_count():
    model = itf.LinearNet([3, 3, 3])
    thetas = np.stack([model.init(s, "sparse", p=0.2) for s in range(64)])
    from intrinsic_flow.criteria import criteria_rows

    threads = itf.build_info()["threads"]
    try:
        itf.set_num_threads(1)
        serial = criteria_rows(model, thetas)
        itf.set_num_threads(3)
        parallel = criteria_rows(model, thetas)
    finally:
        itf.set_num_threads(threads)
    np.testing.assert_array_equal(serial, parallel)
    assert [c.as_dict() for c in itf.criteria_batch(model, thetas[:5])] == \
        [itf.criteria(model, t).as_dict() for t in thetas[:5]]


def test_inclusion_tol_decides_kernel_inclusion():
    model = itf.LinearNet([3, 3, 3])
    theta = model.init(0)
    residual = itf.criteria(model, theta).inclusion_residual
    assert itf.criteria(model, theta, inclusion_tol=2 * residual).kernel_inclusion
    assert not itf.criteria(model, theta, inclusion_tol=residual / 2).kernel_inclusion


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_theta(backend):
    model = itf.ReLUNet([2, 2, 1])
    with pytest.raises(ValueError, match=r"expected \(n_params,\) = \(6,\)"):
        backend.criteria(model, np.zeros(5))
    with pytest.raises(ValueError, match="non-finite"):
        backend.criteria(model, np.array([1.0, np.nan, 1, 1, 1, 1]))
    with pytest.raises(ValueError, match="inclusion_tol must be a positive number"):
        backend.criteria(model, np.ones(6), inclusion_tol=-1.0)
    with pytest.raises(ValueError, match="thetas must have shape"):
        backend.criteria_batch(model, np.ones(6))


def test_too_large_is_refused_before_allocating():
    model = itf.ReLUNet([4, 8, 8, 3])
    limit = itf.config.max_bytes
    try:
        itf.config.max_bytes = 10_000
        with pytest.raises(ValueError, match="would need .* more than intrinsic_flow.config.max_bytes"):
            itf.criteria(model, model.init(0))
    finally:
        itf.config.max_bytes = limit
