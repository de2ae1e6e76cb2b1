"""The core never kills the interpreter: each reproduction runs in a subprocess that must exit
without a signal, either working or raising a clear Python error. Also: flows on PolynomialMap in
both backends, bounded thread counts, exceptions inside parallel loops, and bit-identical
Regression flows whatever the allocation history, the calling thread or the thread count."""
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.losses import LiftedQuadratic, Regression


def run_isolated(code: str) -> subprocess.CompletedProcess:
    """Runs code in a fresh interpreter; fails the test if it died from a signal."""
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True, timeout=300)
    assert done.returncode >= 0, f"killed by signal {-done.returncode}:\n{done.stderr[-2000:]}"
    return done


POLY = "import numpy as np, intrinsic_flow as itf\nfrom intrinsic_flow.losses import LiftedQuadratic\n" \
       "m = itf.PolynomialMap([{(1, 1): 1}], 2)\nloss = LiftedQuadratic(np.array([1.0]))\ntheta = np.array([0.5, 0.3])\n"


@pytest.mark.parametrize("call", [
    "itf.gradient_flow(m, theta, loss, 1.0, n_steps=10)",
    "itf.gradient_flow(m, theta, loss, 1.0, method='rk45')",
    "itf.gradient_descent(m, theta, loss, 0.1, 5)",
])
def test_polynomial_map_flows_run_in_the_core(call):
    done = run_isolated(POLY + call + "\nprint('ok')")
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr


def test_compare_flows_on_a_polynomial_map_never_crashes():
    done = run_isolated(POLY + """
        try:
            itf.compare_flows(m, theta, loss, 1.0, n_steps=10)
        except (ValueError, TypeError) as error:
            print("refused:", type(error).__name__, error)
        else:
            print("ok")
    """.replace("\n        ", "\n"))
    assert done.returncode == 0, done.stderr


def test_polynomial_map_flows_agree_between_backends():
    m = itf.PolynomialMap([{(1, 1): 1, (2, 0): -0.5}, {(0, 2): 2.0}], 2)
    loss = LiftedQuadratic(np.array([1.0, -0.5]), weights=np.array([1.0, 2.0]))
    theta = np.array([0.5, 0.3])
    for run in (lambda b: b.gradient_flow(m, theta, loss, 1.0, n_steps=50),
                lambda b: b.gradient_flow(m, theta, loss, 1.0, method="rk45"),
                lambda b: b.gradient_descent(m, theta, loss, 0.05, 10)):
        core, reference = run(itf), run(ref)
        np.testing.assert_array_equal(core.theta, reference.theta)
        assert core.loss[-1] < core.loss[0]


@pytest.mark.parametrize("call", [
    "_core.LiftedLoss.quadratic(object(), np.ones(1), np.ones(1))",
    "_core.LiftedLoss.quadratic(None, np.ones(1), np.ones(1))",
    "_core.LiftedLoss.matrix_regression(object(), np.ones((1, 1)), np.ones((1, 1)))",
    "_core.integrate_rk4(object(), np.ones(1), [0.0, 1.0], [True, True])",
    "_core.integrate_rk4(None, np.ones(1), [0.0, 1.0], [True, True])",
    "_core.gradient_descent(object(), np.ones(1), 0.1, 2)",
    "_core.Lifting.lift(object(), np.ones(1))",
    "_core.criteria_batch(object(), None, np.ones((1, 1)), False)",
])
def test_bindings_reject_wrong_types_with_type_error(call):
    done = run_isolated(f"""
        import numpy as np
        from intrinsic_flow import _core
        try:
            {call}
        except TypeError as error:
            print("TypeError", error)
    """)
    assert done.returncode == 0 and "TypeError" in done.stdout, done.stdout + done.stderr


def test_set_num_threads_is_bounded():
    done = run_isolated("""
        import numpy as np, intrinsic_flow as itf
        for n in (100_000, 10 ** 30):
            try:
                itf.set_num_threads(n)
            except ValueError as error:
                print("ValueError", error)
                upper = int(str(error).split("<= n <= ")[1].split()[0])
        net = itf.ReLUNet([2, 3, 1])
        print(itf.lift_jacobian_batch(net, np.ones((8, net.n_params))).shape)
        itf.set_num_threads(upper)  # the largest accepted value runs
        print(itf.lift_jacobian_batch(net, np.ones((300, net.n_params))).shape)
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("ValueError") == 2
    assert "n = 100000 is out of range; accepted 1 <= n <= " in done.stdout
    assert "n = 1000000000000000000000000000000 is out of range" in done.stdout
    assert "(8, 6, 9)" in done.stdout and "(300, 6, 9)" in done.stdout


def test_set_num_threads_accepts_the_documented_range():
    before = itf.build_info()["threads"]
    try:
        itf.set_num_threads(1)
        assert itf.build_info()["threads"] == 1
        with pytest.raises(ValueError, match="n = 0 is out of range|n must be"):
            itf.set_num_threads(0)
    finally:
        itf.set_num_threads(before)


@pytest.mark.parametrize("kind, error", [("bad_alloc", MemoryError), ("invalid", ValueError)])
def test_an_exception_inside_a_parallel_loop_reaches_python(kind, error):
    done = run_isolated(f"""
        from intrinsic_flow import _core
        import intrinsic_flow as itf
        itf.set_num_threads(2)
        for at in (0, 7, 99):
            try:
                _core._throw_in_parallel_loop(100, at, "{kind}")
            except {error.__name__} as e:
                print("caught", e)
        _core._throw_in_parallel_loop(100, -1, "{kind}")  # no iteration throws
        print("done")
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.count("caught") == 3 and "done" in done.stdout


# -- bit-identical Regression flows ------------------------------------------------------------------
REGRESSION_RUN = """
import numpy as np, intrinsic_flow as itf
from intrinsic_flow.losses import Regression
def flow_bytes(kind):
    rng = np.random.default_rng(3)
    if kind == "relu":
        net = itf.ReLUNet([5, 13, 7, 3], bias="hidden")
        loss = Regression(rng.standard_normal((37, 5)), rng.standard_normal((37, 3)))
    else:
        net = itf.LinearNeuralODE(3, 4)
        loss = Regression(rng.standard_normal((29, 3)), rng.standard_normal((29, 3)))
    theta = 0.5 * rng.standard_normal(net.n_params)
    return itf.gradient_flow(net, theta, loss, 0.5, n_steps=40).theta.tobytes()
"""


@pytest.mark.parametrize("kind", ["relu", "node"])
def test_regression_flows_are_bit_identical(kind):
    namespace = {}
    exec(REGRESSION_RUN, namespace)
    expected = namespace["flow_bytes"](kind)
    # after unrelated allocations of assorted sizes (they move where later buffers land)
    keep = [np.ones(n) for n in (1, 3, 5, 7, 33, 1001)]
    assert namespace["flow_bytes"](kind) == expected
    del keep
    # from worker threads (each has its own scratch buffers)
    import threading

    results = []
    workers = [threading.Thread(target=lambda: results.append(namespace["flow_bytes"](kind))) for _ in range(2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert results == [expected, expected]
    # with 1 and 2 threads, and in fresh processes after different allocations
    before = itf.build_info()["threads"]
    try:
        for threads in (1, 2):
            itf.set_num_threads(threads)
            assert namespace["flow_bytes"](kind) == expected
    finally:
        itf.set_num_threads(before)
    for shift in (1, 2, 3):
        done = run_isolated(REGRESSION_RUN + f"""
import sys
junk = [bytearray({shift} * 8 + k) for k in range(5)]
sys.stdout.write(flow_bytes("{kind}").hex())
""")
        assert done.returncode == 0, done.stderr
        assert bytes.fromhex(done.stdout.strip()) == expected



def test_size_check_of_counts_beyond_the_float_range():
    """A count of items beyond float64 (an int of 400 digits) is refused by the size check with its
    ValueError, not an OverflowError."""
    from intrinsic_flow import _checks

    with pytest.raises(ValueError, match=r"about 1e400 values.*max_bytes"):
        _checks.check_size(10**400, "a test array")
    with pytest.raises(ValueError, match=r"\(3000000000000 values\)"):
        _checks.check_size(3 * 10**12, "a test array")
