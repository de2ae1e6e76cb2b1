"""Ranks and criteria do not depend on the scale of theta: neither on a neuron rescaling (phi is
unchanged) nor on theta -> s theta (each row of dphi is multiplied by a power of s, dh by s).
Exact values first (the exact rank from the zero pattern), identities second, refusals third."""
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from strategies import rescale_neuron

BACKENDS = [pytest.param(itf, id="core"), pytest.param(ref, id="reference")]
SCALES = [1e-3, 0.1, 1.0, 10.0, 1e3]
MODELS = [
    pytest.param(itf.ReLUNet([2] * 11), id="relu-deep"),
    pytest.param(itf.ReLUNet([3, 4, 3, 2]), id="relu"),
    pytest.param(itf.ReLUNet([3, 4, 3, 2], bias=True), id="relu-bias"),
    pytest.param(itf.ReLUNet([2, 3, 3, 1], bias="hidden"), id="relu-hidden-bias"),
    pytest.param(itf.DAGReLUNet(2, 2, [(0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (2, 5), (3, 5)], bias=(3, 5)),
                 id="dag"),
    pytest.param(itf.LinearNet([2, 3, 3, 2]), id="linear"),
]


# -- exact values ------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("scale", [1e-300, 1e-30, 0.1, 1.0, 10.0, 1e30, 1e300])
def test_deep_relu_ranks_equal_the_exact_rank_at_every_scale(backend, scale):
    # rank_joint gave 18, 40, 22 at x0.1, x1, x10 and every rank collapsed to 0 at x1e+-30
    net = itf.ReLUNet([2] * 11)
    theta = scale * net.init(0)
    exact = itf.rank_lift(net, net.init(0), method="exact")
    assert exact == 22
    assert backend.rank_lift(net, theta) == exact
    assert backend.rank_joint(net, theta) == net.n_params == 40
    c = backend.criteria(net, theta)
    assert (c.rank_lift, c.rank_joint) == (exact, 40)


# -- identities --------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("model", MODELS)
def test_ranks_do_not_depend_on_the_global_scale(backend, model):
    theta = model.init(3)
    ranks = {(backend.rank_lift(model, s * theta), backend.rank_joint(model, s * theta)) for s in SCALES}
    criteria = [backend.criteria(model, s * theta) for s in SCALES]
    assert len(ranks) == 1
    (rank_lift, rank_joint), = ranks
    assert {(c.rank_lift, c.rank_joint) for c in criteria} == {(rank_lift, rank_joint)}
    if model.kind == "path":
        assert rank_lift == itf.rank_lift(model, theta, method="exact")
    # homogeneous or not, the residual is taken at the same normalised point
    residuals = np.array([c.inclusion_residual for c in criteria])
    np.testing.assert_allclose(residuals, residuals[2], rtol=1e-6, atol=1e-12)


@settings(max_examples=20, deadline=None, derandomize=True)
@given(log_factors=st.lists(st.floats(-6.0, 6.0), min_size=10, max_size=10), log_scale=st.floats(-40.0, 40.0),
       seed=st.integers(0, 100))
def test_random_rescalings_change_no_rank(log_factors, log_scale, seed):
    # every hidden neuron rescaled by up to 1e+-6 and theta by up to 1e+-40, in both backends
    model = itf.ReLUNet([3, 4, 3, 2], bias=True)
    theta = model.init(seed)
    moved = theta.copy()
    for neuron, log_factor in zip(model.graph.hidden, log_factors):
        moved = rescale_neuron(model, moved, neuron, 10.0 ** log_factor)
    moved *= 10.0 ** log_scale
    exact = itf.rank_lift(model, theta, method="exact")
    for backend in (itf, ref):
        assert backend.rank_lift(model, moved) == exact
        assert backend.rank_joint(model, moved) == backend.rank_joint(model, theta)
        c = backend.criteria(model, moved)
        assert (c.rank_lift, c.rank_joint) == (exact, backend.rank_joint(model, theta))


@pytest.mark.parametrize("model", MODELS)
def test_both_backends_give_the_same_ranks_at_every_scale(model):
    theta = model.init(5)
    for s in SCALES:
        assert itf.rank_lift(model, s * theta) == ref.rank_lift(model, s * theta)
        assert itf.rank_joint(model, s * theta) == ref.rank_joint(model, s * theta)
        assert itf.rank_joint_batch(model, [s * theta])[0] == itf.rank_joint(model, s * theta)


@pytest.mark.parametrize("model", [m for m in MODELS if m.values[0].kind == "path"])
def test_balanced_representative_is_the_same_in_both_backends(model):
    rng = np.random.default_rng(7)
    theta = model.init(2)
    for neuron in model.graph.hidden:
        theta = rescale_neuron(model, theta, neuron, float(np.exp(rng.uniform(-4, 4) * np.log(10))))
    core, reference = itf.balanced_representative(model, theta), ref.balanced_representative(model, theta)
    np.testing.assert_allclose(core, reference, rtol=1e-12, atol=0)
    np.testing.assert_allclose(ref.lift(model, core), ref.lift(model, theta), rtol=1e-12)
    h = ref.conserved(model, core)
    assert np.max(np.abs(h)) <= 1e-12 * np.sum(core ** 2)
    # balanced(s theta) = s balanced(theta): the balancing is homogeneous
    np.testing.assert_allclose(itf.balanced_representative(model, 1e3 * theta), 1e3 * core, rtol=1e-12)


@pytest.mark.parametrize("model", [m for m in MODELS if m.values[0].kind == "path"])
def test_rank_lift_and_criteria_see_the_same_point(model):
    # both rank paths go through the one balancing of each backend: equal ranks and gaps
    theta = rescale_neuron(model, model.init(4), model.graph.hidden[-1], 1e5)
    for backend in (itf, ref):
        info = backend.rank_info(model, theta)
        c = backend.criteria(model, theta)
        assert c.rank_lift == info.rank
        if np.isfinite(c.gap_lift) and np.isfinite(info.gap):
            np.testing.assert_allclose(c.gap_lift, info.gap, rtol=1e-8)
        else:  # the largest dropped value is round-off, which one route may clip to an exact 0
            assert min(c.gap_lift, info.gap) > 1e6


@pytest.mark.parametrize("backend", BACKENDS)
def test_balanced_representative_is_finite_at_extreme_scales(backend):
    net = itf.ReLUNet([2] * 11)
    theta = net.init(0)
    base = backend.balanced_representative(net, theta)
    for scale in (1e-300, 1e300):
        point = backend.balanced_representative(net, scale * theta)
        assert np.all(np.isfinite(point)) and np.all(point != 0)
        np.testing.assert_allclose(point, scale * base, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_extreme_neuron_rescalings_change_no_rank(backend):
    model = itf.ReLUNet([3, 4, 3, 2], bias=True)
    theta = model.init(1)
    expected = (backend.rank_lift(model, theta), backend.rank_joint(model, theta))
    for factor in (1e-150, 1e150):
        moved = rescale_neuron(model, theta, model.graph.hidden[0], factor)
        assert (backend.rank_lift(model, moved), backend.rank_joint(model, moved)) == expected


# -- refusals ----------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_balanced_representative_out_of_range_is_refused(backend):
    # the hidden neuron is balanced by s = 1e-150: its first weight would be 1e-450, not a float64
    model = itf.ReLUNet([2, 1, 1])
    theta = np.array([1e-300, 1.0, 1e-300])
    with pytest.raises(ValueError, match="outside the float64 range"):
        backend.balanced_representative(model, theta)
    # its rank point (1e-200, 1e100, 1e100) has Gram entries up to 1e200: still a float64 rank
    assert backend.rank_lift(model, theta) == itf.rank_lift(model, theta, method="exact") == 2
    assert backend.rank_joint(model, theta) == 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_gram_ranks_beyond_float64_are_refused(backend):
    # balanced and normalised, (5e-324, 1e308, 1e308) has entries 1e210: Gram entries 1e420 are no
    # float64, so every Gram rank refuses; the exact rank (no Gram matrix) answers
    model = itf.ReLUNet([2, 1, 1])
    theta = np.array([5e-324, 1e308, 1e308])
    for call in (backend.rank_lift, backend.rank_joint, backend.criteria):
        with pytest.raises(ValueError, match="not finite in float64"):
            call(model, theta)
    for call in (backend.rank_lift_batch, backend.rank_joint_batch, backend.criteria_batch):
        with pytest.raises(ValueError, match="not finite in float64"):
            call(model, theta[None, :])
    assert backend.rank_lift(model, theta, method="exact") == 2


@pytest.mark.parametrize("model", [m for m in MODELS if m.values[0].kind == "path"])
def test_the_rank_point_is_the_same_in_both_backends(model):
    # the one balancing of each backend, normalised: the point of rank_lift, rank_joint and criteria
    from intrinsic_flow import _core
    from intrinsic_flow.geometry import lifting_of
    from intrinsic_flow.reference.geometry import lifting_of as reference_lifting_of

    theta = rescale_neuron(model, 1e30 * model.init(6), model.graph.hidden[0], 1e-7)
    core = np.asarray(_core.balanced_representative(lifting_of(model), theta, True))
    reference = reference_lifting_of(model).rank_point(theta)
    np.testing.assert_allclose(core, reference, rtol=1e-12, atol=0)
    assert abs(np.mean(np.log(np.abs(reference)))) < 1e-12  # geometric mean 1
    np.testing.assert_allclose(reference_lifting_of(model).rank_point(1e-30 * theta), reference, rtol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_linear_ranks_at_extreme_scales(backend):
    # a deep linear net: J scales as s^(L-1) = s^10, its Gram as s^20
    model = itf.LinearNet([2] * 11)
    theta = model.init(0)
    expected = (backend.rank_lift(model, theta), backend.rank_joint(model, theta))
    for scale in (1e-30, 1e30):
        assert (backend.rank_lift(model, scale * theta), backend.rank_joint(model, scale * theta)) == expected
        c = backend.criteria(model, scale * theta)
        assert (c.rank_lift, c.rank_joint) == expected
