"""The core and the NumPy reference agree to 1e-12 relative on every function, batched or not,
whatever the thread count; batches equal the per-sample calls."""
import numpy as np
import pytest
from hypothesis import given, settings

import intrinsic_flow as itf
import intrinsic_flow.reference as ref

from strategies import any_model

DEFAULT_THREADS = itf.build_info()["threads"]
SINGLE = ["lift", "lift_jacobian", "metric", "conserved", "conserved_jacobian", "lift_gram", "joint_gram"]
BATCHED = {"lift_batch": "lift", "lift_jacobian_batch": "lift_jacobian", "metric_batch": "metric",
           "conserved_batch": "conserved", "conserved_jacobian_batch": "conserved_jacobian",
           "lift_gram_batch": "lift_gram"}


def assert_close(core, reference):
    assert core.shape == reference.shape
    scale = max(np.max(np.abs(reference), initial=0.0), 1e-300)
    assert np.max(np.abs(core - reference), initial=0.0) <= 1e-12 * scale


@settings(max_examples=40, deadline=None)
@given(any_model)
def test_every_function_agrees(model):
    rng = np.random.default_rng(0)
    theta, v = model.init(rng), rng.standard_normal(model.n_params)
    for name in SINGLE:
        assert_close(getattr(itf, name)(model, theta), getattr(ref, name)(model, theta))
    assert_close(itf.metric_derivative(model, theta, v), ref.metric_derivative(model, theta, v))
    assert itf.rank_lift(model, theta) == ref.rank_lift(model, theta)
    assert itf.rank_joint(model, theta) == ref.rank_joint(model, theta)


@settings(max_examples=20, deadline=None)
@given(any_model)
def test_batches_agree_with_single_calls_for_any_thread_count(model):
    thetas = np.stack([model.init(seed) for seed in range(5)])
    try:
        outputs = {}
        for threads in (1, 2):
            itf.set_num_threads(threads)
            outputs[threads] = {name: getattr(itf, name)(model, thetas) for name in BATCHED}
            outputs[threads]["rank_lift_batch"] = itf.rank_lift_batch(model, thetas)
            outputs[threads]["rank_joint_batch"] = itf.rank_joint_batch(model, thetas)
    finally:
        itf.set_num_threads(DEFAULT_THREADS)
    for name in outputs[1]:
        np.testing.assert_array_equal(outputs[1][name], outputs[2][name])  # bit for bit
    for name, single in BATCHED.items():
        reference = getattr(ref, name)(model, thetas)
        assert_close(outputs[1][name], reference)
        for b in range(len(thetas)):
            np.testing.assert_array_equal(outputs[1][name][b], getattr(itf, single)(model, thetas[b]))
    np.testing.assert_array_equal(outputs[1]["rank_lift_batch"], ref.rank_lift_batch(model, thetas))
    np.testing.assert_array_equal(outputs[1]["rank_joint_batch"], ref.rank_joint_batch(model, thetas))


def test_rank_info_reports_the_gap():
    net = itf.ReLUNet([4, 8, 8, 3])
    info = itf.rank_info(net, net.init(0))
    assert info.rank == 104 and info.gap > 1e4
    assert info.sigma_kept > info.threshold > info.sigma_dropped
    ref_info = ref.rank_info(net, net.init(0))
    np.testing.assert_allclose(info.singular_values[:104], ref_info.singular_values[:104], rtol=1e-9)


@pytest.mark.parametrize("threads", [1, 2])
def test_threads_follow_set_num_threads(threads):
    itf.set_num_threads(threads)
    try:
        assert itf.build_info()["threads"] == threads
    finally:
        itf.set_num_threads(DEFAULT_THREADS)
