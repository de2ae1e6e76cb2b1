"""Ctrl-C reaches the core's long loops: a SIGINT sent while a C++ training or integration loop
runs (GIL released) raises KeyboardInterrupt within a second, and the library works afterwards."""
import os
import signal
import sys
import threading
import time

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import parsimony, symmetries

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="SIGINT to the own process is POSIX")

DELAY = 0.4  # seconds before the signal; every run below needs at least 20 s uninterrupted


def _seconds_to_stop(call) -> float:
    """Seconds between a SIGINT (sent from another thread) and the KeyboardInterrupt of ``call``."""
    sent = []

    def interrupt():
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(DELAY, interrupt)
    timer.start()
    try:
        with pytest.raises(KeyboardInterrupt):
            call()
    finally:
        timer.cancel()
    assert sent, "the call ended before the signal was sent"
    return time.perf_counter() - sent[0]


def test_parsimony_descent_stops_within_a_second():
    # d = 120, L = 3: about 1e7 flops a step, 10^6 steps would take minutes (no state saved but the last)
    factors = [1e-3 * np.eye(120)] * 3
    run = lambda: parsimony.train(factors, np.eye(120), 1e-3, 1_000_000, save_every=0)
    assert _seconds_to_stop(run) < 1.0
    assert parsimony.factorization(20, 2, 3, 1.0, 0.5, 10, seed=0).singular_values.shape[0] >= 2  # still works


def test_particle_training_stops_within_a_second():
    a0, B0 = symmetries.init_particles(2000, 20, rng=0)
    run = lambda: symmetries.train(a0, B0, lr=1e-3, n_steps=100_000, method="sgd", batch=2000, target="cubic",
                                   coef=np.ones(20))
    assert _seconds_to_stop(run) < 1.0


def test_gradient_flow_stops_within_a_second():
    net = itf.ReLUNet([20, 60, 60, 5], bias="hidden")
    loss = itf.losses.LiftedQuadratic(np.zeros(net.n_lifted))
    run = lambda: itf.gradient_flow(net, net.init(0), loss, 1.0, n_steps=10_000_000, save_at=[0.0, 1.0])
    assert _seconds_to_stop(run) < 1.0
