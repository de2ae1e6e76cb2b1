"""Arguments are read as written or refused, and oversized requests are refused before any work.

Every refusal is a ValueError naming the argument, the value and what is accepted; size refusals
name the size and the knob (intrinsic_flow.config.max_bytes or a documented budget), and come
before anything of that size is allocated or computed.
"""
import time
import tracemalloc

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import DAGReLUNet, LinearNet, LinearNeuralODE, PolynomialMap, ReLUNet


# -- flags and containers ------------------------------------------------------------------------

def test_numpy_bools_are_bools():
    assert ReLUNet([2, 3, 1], bias=np.True_) == ReLUNet([2, 3, 1], bias=True)
    assert ReLUNet([2, 3, 1], bias=np.True_).n_params == 2 * 3 + 3 + 3 * 1 + 1
    assert ReLUNet([2, 3, 1], bias=np.False_).n_params == 9
    assert ReLUNet([2, 3, 1], bias=np.True_).bias is True


@pytest.mark.parametrize("bias", [1, 0, 1.0, "True", None, np.array([True])])
def test_other_bias_values_are_refused(bias):
    with pytest.raises(ValueError, match=r"bias must be False, True or 'hidden', got"):
        ReLUNet([2, 3, 1], bias=bias)


@pytest.mark.parametrize("widths", [{3, 1, 2}, frozenset({3, 1}), {3: 1, 1: 2}])
def test_unordered_widths_are_refused(widths):
    for model in (ReLUNet, LinearNet):
        with pytest.raises(ValueError, match=r"widths must be a list or tuple of positive integers, got a \w+, whose order"):
            model(widths)


def test_ordered_widths_of_any_kind_are_read_in_order():
    expected = ReLUNet([3, 1, 2])
    assert ReLUNet((3, 1, 2)) == ReLUNet(np.array([3, 1, 2])) == ReLUNet(iter([3, 1, 2])) == expected
    assert LinearNet(range(1, 4)).widths == (1, 2, 3)
    assert ReLUNet(np.array([3, 1, 2], dtype=np.int32)).widths == (3, 1, 2)
    with pytest.raises(ValueError, match="widths must contain positive integers only"):
        ReLUNet(np.array([3.0, 1.0, 2.0]))


@pytest.mark.parametrize("edges,bias,message", [
    ([(0, 1.7), (1.7, 2)], (), r"edges\[0\]\[1\] must be an integer neuron index, got 1.7"),
    ([(0, 1), (1, 2.0)], (), r"edges\[1\]\[1\] must be an integer neuron index, got 2.0"),
    ([(0, 1), (1, True)], (), r"edges\[1\]\[1\] must be an integer neuron index, got True"),
    ([(0, 1), (1, 2)], (1.0,), r"bias\[0\] must be an integer neuron index, got 1.0"),
    ([(0, 1, 2)], (), r"edges\[0\] must be a \(u, v\) pair"),
    ({(0, 1), (1, 2)}, (), r"edges must be a list or tuple of \(u, v\) integer pairs, got a set"),
    ([(0, 1), (1, 2)], {1}, r"bias must be a list or tuple of neuron indices, got a set"),
])
def test_dag_ids_are_integers_in_order(edges, bias, message):
    with pytest.raises(ValueError, match=message):
        DAGReLUNet(1, 1, edges, bias=bias)


def test_dag_accepts_numpy_integers():
    edges = np.array([[0, 1], [1, 2]], dtype=np.int64)
    assert DAGReLUNet(1, 1, edges, bias=np.array([1])) == DAGReLUNet(1, 1, [(0, 1), (1, 2)], bias=[1])


# -- arrays ---------------------------------------------------------------------------------------

NET = ReLUNet([2, 3, 1])


@pytest.mark.parametrize("theta,message", [
    (np.ones(9) + 1e-3j, r"theta must be an array of real numbers .* got dtype complex128 \(the imaginary part"),
    (np.ones(9, dtype=complex), r"got dtype complex128"),  # even with a zero imaginary part
    (["1"] * 9, r"theta must be an array of real numbers .* got dtype <U1"),
    (np.array([b"1"] * 9), r"got dtype \|S1"),
    ([None] * 9, r"theta must be an array of real numbers, got an element None"),
    (np.array(["2020-01-01"] * 9, dtype="datetime64[D]"), r"got dtype datetime64"),
])
def test_theta_that_is_not_real_numbers_is_refused(backend, theta, message):
    with pytest.raises(ValueError, match=message):
        backend.lift(NET, theta)
    with pytest.raises(ValueError, match=message.replace("theta", "theta0")):
        backend.gradient_flow(NET, theta, itf.losses.LiftedQuadratic(np.zeros(6)), 1.0)


def test_real_arrays_of_any_real_dtype_are_read(backend):
    theta = np.arange(1, 10)
    expected = backend.lift(NET, theta.astype(float))
    for value in (theta, theta.astype(np.float32), list(theta), theta.astype(object)):
        np.testing.assert_array_equal(backend.lift(NET, value), expected)


@pytest.mark.parametrize("make", [
    lambda: itf.losses.LiftedQuadratic(np.ones(3) * 1j),
    lambda: itf.losses.LiftedQuadratic(["0.5", "1"]),
    lambda: itf.losses.Regression(np.array([["1", "2"]]), np.ones((1, 1))),
    lambda: NET.forward(NET.init(0), np.ones((2, 2), dtype=complex)),
])
def test_data_that_is_not_real_numbers_is_refused(make):
    with pytest.raises(ValueError, match="must be an array of real numbers"):
        make()


# -- init options ---------------------------------------------------------------------------------

@pytest.mark.parametrize("options,message", [
    ({"std": float("nan")}, "std must be a finite number > 0, got nan"),
    ({"std": -1}, "std must be a finite number > 0, got -1"),
    ({"std": 0.0}, "std must be a finite number > 0, got 0.0"),
    ({"std": float("inf")}, "std must be a finite number > 0, got inf"),
    ({"std": "1"}, "std must be a finite number > 0, got '1'"),
])
def test_neural_ode_gaussian_std_is_checked(options, message):
    with pytest.raises(ValueError, match=message):
        LinearNeuralODE(2, 3).init(0, **options)


def test_neural_ode_gaussian_std_scales_the_draw():
    node = LinearNeuralODE(2, 3)
    np.testing.assert_allclose(node.init(0, std=2.0), 2.0 * node.init(0, std=1.0), rtol=0, atol=0)


@pytest.mark.parametrize("options,message", [
    ({"lam": float("nan")}, "lam must be a finite number, got nan"),
    ({"lam": "0.5"}, "lam must be a finite number, got '0.5'"),
    ({"lam": 0.5, "spread": -1.0}, "spread must be a finite number > 0, got -1.0"),
    ({"lam": 0.5, "spread": float("inf")}, "spread must be a finite number > 0, got inf"),
])
def test_neural_ode_relaxed_balanced_options_are_checked(options, message):
    with pytest.raises(ValueError, match=message):
        LinearNeuralODE(2, 3).init(0, "relaxed_balanced", **options)


@pytest.mark.parametrize("lambdas,message", [
    (float("nan"), "lambdas must be a finite number, got nan"),
    (["0.5"], r"lambdas must be an array of real numbers .* got dtype <U3"),
    ([0.5 + 1j], r"lambdas must be an array of real numbers .* complex128"),
    ([float("inf")], "lambdas must be a number or 1 finite numbers"),
    ([0.5, 0.5], "lambdas must be a number or 1 finite numbers"),
])
def test_relaxed_balanced_lambdas_are_checked(lambdas, message):
    with pytest.raises(ValueError, match=message):
        LinearNet([2, 2, 2]).init(0, "relaxed_balanced", lambdas=lambdas)


def test_a_bool_is_not_a_seed(backend):
    with pytest.raises(ValueError, match="rng must be a numpy Generator, an integer seed or None, got True"):
        NET.init(True)
    for seed in (1.5, "1", True, -1):
        with pytest.raises(ValueError, match=f"seed must be an integer >= 0, got {seed!r}"):
            backend.lie_trace(NET, seed=seed)
        with pytest.raises(ValueError, match=f"seed must be an integer >= 0, got {seed!r}"):
            backend.polynomial_laws(NET, 1, seed=seed)


# -- the memory budget ----------------------------------------------------------------------------

@pytest.mark.parametrize("value", [float("nan"), float("inf"), -1, 0, 1.5, "1000", True, None, 1e300 * 1j])
def test_max_bytes_must_be_a_positive_integer(restore_max_bytes, value):
    before = itf.config.max_bytes
    with pytest.raises(ValueError, match=r"intrinsic_flow.config.max_bytes must be a positive integer number of bytes, got"):
        itf.config.max_bytes = value
    assert itf.config.max_bytes == before  # unchanged: every size guard stays on


def test_max_bytes_accepts_whole_numbers(restore_max_bytes):
    itf.config.max_bytes = 4e9
    assert itf.config.max_bytes == 4_000_000_000 and type(itf.config.max_bytes) is int
    itf.config.max_bytes = np.int64(100)
    assert itf.config.max_bytes == 100 and type(itf.config.max_bytes) is int
    with pytest.raises(ValueError, match=r"intrinsic_flow.config.max_bytes = 100 B"):
        itf.lift_jacobian(NET, NET.init(0))


# -- refused before the work ----------------------------------------------------------------------

def _refused_quickly(call, message, seconds=1.0, megabytes=50):
    """call raises ValueError matching message, in under ``seconds`` and allocating < ``megabytes``."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(ValueError, match=message):
            call()
        elapsed = time.perf_counter() - start
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert elapsed < seconds, f"refused after {elapsed:.2f} s"
    assert peak < megabytes * 2**20, f"allocated {peak / 2**20:.0f} MiB before refusing"


def test_theta_shape_is_checked_before_the_structure_is_built(backend):
    net = ReLUNet([10**4, 10**4, 1])  # 10^8 parameters: building its graph took 92 s
    for name in ("conserved", "lift", "lift_gram", "conserved_jacobian", "rank_lift", "criteria"):
        _refused_quickly(lambda: getattr(backend, name)(net, np.zeros(3)),
                         r"theta has shape \(3,\), expected \(n_params,\) = \(100010000,\)")
    _refused_quickly(lambda: backend.rank_lift(net, np.zeros(3), method="exact"), r"theta has shape \(3,\)")
    for name in ("conserved_batch", "rank_lift_batch", "criteria_batch"):
        _refused_quickly(lambda: getattr(backend, name)(net, np.zeros((2, 3))),
                         r"thetas must have shape \(B, n_params\) = \(B, 100010000\)")


def test_a_model_graph_beyond_max_bytes_is_refused_before_it_is_built():
    _refused_quickly(lambda: ReLUNet([10**4, 10**4, 1]).graph,
                     r"the parameter graph of the model .* would need 6.7 GiB .* intrinsic_flow.config.max_bytes")


def test_dag_size_is_bounded_by_the_edges_given():
    _refused_quickly(lambda: DAGReLUNet(1, 1, [(0, 10**8)]),
                     r"neuron 1 is dangling: no edge or bias names it .* n = 1 \+ the largest index in edges = 100000001")
    _refused_quickly(lambda: DAGReLUNet(1, 1, [(0, 1), (1, 10**9)], bias=[5]), "neuron 2 is dangling")
    _refused_quickly(lambda: DAGReLUNet(10**9, 1, [(0, 1)]), r"n_inputs \+ n_outputs = 1000000001 exceeds the 2 neurons")


def test_polynomial_degree_is_bounded():
    from intrinsic_flow.polynomial import POLY_MAX_DEGREE

    assert POLY_MAX_DEGREE == 1000
    _refused_quickly(lambda: PolynomialMap([{(10**8,): 1}], 1),
                     r"polys\[0\] has a monomial of total degree 100000000, more than the supported bound POLY_MAX_DEGREE = 1000")
    _refused_quickly(lambda: PolynomialMap([{(1, 0): 1}, {(600, 401): 1}], 2), r"polys\[1\] .* total degree 1001")
    phi = PolynomialMap([{(1000,): 1}], 1)
    assert itf.lift(phi, [1.0])[0] == 1.0


def test_polynomial_law_search_beyond_its_budget_is_refused(backend):
    # 42504 unknown coefficients: more than five minutes of exact elimination before the budget
    _refused_quickly(lambda: backend.polynomial_laws(ReLUNet([3, 4, 2]), 5),
                     r"polynomial_laws at degree 5 in D = 20 variables has 42504 unknown coefficients, about n\^2 = "
                     r"1.8e\+09 operations, more than the budget intrinsic_flow.polynomial.LAWS_MAX_WORK = 2e\+08")
    _refused_quickly(lambda: backend.polynomial_laws(ReLUNet([4, 4, 2]), 4, inhomogeneous=True),
                     "has 20475 unknown coefficients")  # C(27, 4) + C(26, 3) + ... + 1
    _refused_quickly(lambda: backend.polynomial_laws(PolynomialMap([{(0,): 1}], 1), 10**9),
                     "degree = 1000000000 is more than the supported bound POLY_MAX_DEGREE")


def test_the_law_budget_is_a_knob(backend, monkeypatch):
    from intrinsic_flow import polynomial

    monkeypatch.setattr(polynomial, "LAWS_MAX_WORK", 100.0)
    with pytest.raises(ValueError, match="has 21 unknown coefficients"):
        backend.polynomial_laws(ReLUNet([2, 2, 1]), 2)
    monkeypatch.setattr(polynomial, "LAWS_MAX_WORK", 1e3)
    assert backend.polynomial_laws(ReLUNet([2, 2, 1]), 2).n_independent == 2


@pytest.mark.parametrize("name", ["lift_batch", "lift_jacobian_batch", "metric_batch", "conserved_batch",
                                  "lift_gram_batch", "rank_lift_batch", "rank_joint_batch", "criteria_batch"])
def test_batches_of_broadcast_views_are_sized_before_copying(backend, name):
    net = ReLUNet([3, 4, 2])
    view = np.broadcast_to(net.init(0), (10**8, net.n_params))  # 16 GiB once copied
    _refused_quickly(lambda: getattr(backend, name)(net, view), r"would need .* GiB .* intrinsic_flow.config.max_bytes")


def test_a_copy_of_an_input_beyond_max_bytes_is_refused(restore_max_bytes):
    itf.config.max_bytes = 10**6
    view = np.broadcast_to(1.0, (10**6,))
    with pytest.raises(ValueError, match=r"a contiguous float64 copy of target \(shape \(1000000,\)\) would need 7.6 MiB"):
        itf.losses.LiftedQuadratic(view)


@pytest.mark.parametrize("model", [ReLUNet([100_000, 100_000, 100_000]), LinearNeuralODE(100_000, 3)],
                         ids=["relu", "neural-ode"])
def test_init_refuses_a_theta_beyond_max_bytes_before_drawing(model):
    with pytest.raises(ValueError, match=r"theta \(n_params values\) would need .*max_bytes"):
        model.init(0)
