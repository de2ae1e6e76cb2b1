"""Thread control: a process-wide count (set_num_threads) that every thread honours, and an
``n_threads`` argument on every parallel call; results are bit-identical whatever the count."""
from __future__ import annotations

import inspect
import threading

import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow import _core

PARALLEL = ["lift_batch", "lift_jacobian_batch", "lift_vjp_batch", "lift_jvp_batch", "metric_batch", "conserved_batch",
            "conserved_jacobian_batch", "lift_gram_batch", "rank_lift_batch", "rank_joint_batch", "lift_gram",
            "joint_gram", "rank_info", "rank_lift", "rank_joint", "criteria", "criteria_batch", "lie_trace",
            "count_conservation_laws", "known_laws_complete"]


@pytest.fixture
def process_threads():
    """Restores the process-wide count after the test."""
    before = _core.get_num_threads()
    yield
    itf.set_num_threads(before)


def _in_thread(function):
    """function() run on a new thread (as a scan or Dask worker would), its result returned."""
    found = []
    worker = threading.Thread(target=lambda: found.append(function()))
    worker.start()
    worker.join()
    return found[0]


def test_the_process_wide_count_reaches_every_thread(process_threads):
    itf.set_num_threads(2)
    assert _core.threads_for_call() == 2
    assert _in_thread(_core.threads_for_call) == 2
    assert _in_thread(lambda: itf.build_info()["threads"]) == 2
    itf.set_num_threads(1)
    assert _in_thread(_core.threads_for_call) == 1 and _core.get_num_threads() == 1


def test_a_call_count_holds_for_that_call_and_that_thread_only(process_threads):
    itf.set_num_threads(1)
    assert _core.threads_for_call(2) == 2
    assert _core.threads_for_call() == 1  # the scope ended with the call
    assert _core.with_threads(2, _core.threads_for_call) == 2
    assert _core.with_threads(2, lambda: _in_thread(_core.threads_for_call)) == 1  # another thread: its own
    assert _in_thread(lambda: _core.with_threads(2, _core.threads_for_call)) == 2


@pytest.mark.parametrize("name", PARALLEL)
def test_every_parallel_function_takes_n_threads_in_both_backends(name):
    for backend in (itf, ref):
        assert "n_threads" in inspect.signature(getattr(backend, name)).parameters, f"{backend.__name__}.{name}"


def test_scan_takes_n_threads_and_gives_the_same_rows():
    assert "n_threads" in inspect.signature(itf.scan).parameters
    net = itf.ReLUNet([2, 3, 1])
    one, two = (itf.scan(net, 6, progress=False, n_threads=n).rows for n in (1, 2))
    assert all(np.array_equal(one[column], two[column], equal_nan=one[column].dtype.kind == "f") for column in one)
    with pytest.raises(ValueError, match="n_threads"):
        itf.scan(net, 6, progress=False, n_threads=0)


@pytest.mark.parametrize("backend", [itf, ref], ids=["core", "reference"])
@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_n_threads_is_a_positive_integer(backend, bad):
    net = itf.ReLUNet([2, 3, 1])
    with pytest.raises(ValueError, match="n_threads"):
        backend.lift_batch(net, np.ones((2, net.n_params)), n_threads=bad)
    with pytest.raises(ValueError, match="n_threads"):
        backend.criteria(net, np.ones(net.n_params), n_threads=bad)


def test_results_are_identical_for_one_and_two_threads(process_threads):
    net = itf.ReLUNet([3, 5, 4, 2], bias="hidden")
    thetas = np.random.default_rng(0).standard_normal((64, net.n_params))

    def run(n_threads):
        rows = [c.as_dict() for c in itf.criteria_batch(net, thetas, n_threads=n_threads)]
        return (itf.lift_jacobian_batch(net, thetas, n_threads=n_threads), itf.metric_batch(net, thetas, n_threads=n_threads),
                itf.rank_joint_batch(net, thetas, n_threads=n_threads), rows,
                itf.lie_trace(net, n_threads=n_threads).dims_by_depth)

    one, two = run(1), run(2)
    for a, b in zip(one[:3], two[:3]):
        assert np.array_equal(a, b)
    assert one[3:] == two[3:]
    itf.set_num_threads(2)
    from_worker = _in_thread(lambda: itf.lift_jacobian_batch(net, thetas))
    assert np.array_equal(from_worker, one[0])
