"""Models: parameter and path orders, sizes, flatten/unflatten, forward."""
import numpy as np
import pytest
from hypothesis import given, settings

import intrinsic_flow as itf
from intrinsic_flow import DAGReLUNet, LinearNet, ReLUNet

from strategies import dag_nets, relu_nets

# -- exact values: a hand-worked example --------------------------------------------------

# ReLUNet([2, 2, 1], bias=True): theta = W1 (2x2, C order), b1, W2 (1x2), b2.
A, B, C, D, E, F, G, H, I = 2.0, 3.0, 5.0, 7.0, 11.0, 13.0, 17.0, 19.0, 23.0
HAND_THETA = np.array([A, B, C, D, E, F, G, H, I])
# z[i0, i1, i2] = W1[i1, i0] W2[i2, i1] in C order, then bias paths of layer 1 (j1, i2), then b2.
HAND_Z = np.array([A * G, C * H, B * G, D * H, E * G, F * H, I])


def test_hand_worked_parameter_and_path_order(backend):
    net = ReLUNet([2, 2, 1], bias=True)
    assert (net.n_params, net.n_lifted, net.n_hidden, net.n_known_laws) == (9, 7, 2, 2)
    (W1, b1), (W2, b2) = net.unflatten(HAND_THETA)
    np.testing.assert_array_equal(W1, [[A, B], [C, D]])
    np.testing.assert_array_equal(b1, [E, F])
    np.testing.assert_array_equal(W2, [[G, H]])
    np.testing.assert_array_equal(b2, [I])
    np.testing.assert_array_equal(backend.lift(net, HAND_THETA), HAND_Z)
    # laws: |in|^2 + bias^2 - |out|^2 per hidden neuron
    np.testing.assert_array_equal(backend.conserved(net, HAND_THETA),
                                  [A**2 + B**2 + E**2 - G**2, C**2 + D**2 + F**2 - H**2])


def test_hidden_bias_convention():
    net = ReLUNet([2, 2, 1], bias="hidden")
    assert net.n_params == 8 and net.n_lifted == 6
    np.testing.assert_array_equal(itf.lift(net, HAND_THETA[:8]), HAND_Z[:6])


def test_linear_lift_is_the_product():
    net = LinearNet([3, 4, 2])
    theta = net.init(0)
    W1, W2 = net.unflatten(theta)
    np.testing.assert_allclose(itf.lift(net, theta), (W2 @ W1).ravel(), rtol=1e-14)
    assert (net.n_params, net.n_lifted, net.n_known_laws) == (20, 6, 10)


def test_dag_parameter_order_and_skip_paths(backend):
    # 0 -> 1 -> 2 with a skip 0 -> 2 and a bias on 1: paths in lexicographic neuron order
    net = DAGReLUNet(1, 1, [(1, 2), (0, 1), (0, 2)], bias=[1])
    theta = np.array([3.0, 5.0, 7.0, 11.0])  # w12, w01, w02, b1
    assert (net.n_params, net.n_lifted, net.n_hidden) == (4, 3, 1)
    np.testing.assert_array_equal(backend.lift(net, theta), [5.0 * 3.0, 7.0, 11.0 * 3.0])
    np.testing.assert_array_equal(backend.conserved(net, theta), [5.0**2 + 11.0**2 - 3.0**2])


@settings(max_examples=25, deadline=None)
@given(relu_nets())
def test_layered_net_equals_its_dag(net):
    dag = DAGReLUNet.from_relunet(net)
    theta = net.init(1)
    # the DAG lists edges first, then biases: permute theta accordingly
    weight_first = [k for k, s in enumerate(net.graph.param_src) if s >= 0] + \
                   [k for k, s in enumerate(net.graph.param_src) if s < 0]
    dag_theta = theta[weight_first]
    assert dag.n_lifted == net.n_lifted and dag.n_params == net.n_params
    np.testing.assert_array_equal(itf.lift(dag, dag_theta), itf.lift(net, theta))
    np.testing.assert_array_equal(itf.conserved(dag, dag_theta), itf.conserved(net, theta))
    X = np.random.default_rng(0).standard_normal((5, net.widths[0]))
    np.testing.assert_allclose(dag.forward(dag_theta, X), net.forward(theta, X), rtol=1e-13, atol=1e-13)


@settings(max_examples=25, deadline=None)
@given(dag_nets())
def test_forward_is_a_sum_over_paths_when_every_neuron_is_active(net):
    # with positive weights and inputs every ReLU is active: output_o = sum over paths ending at o
    # of phi_p times the path's input (1 for bias paths)
    theta = np.abs(net.init(2)) + 0.1
    x = np.abs(np.random.default_rng(3).standard_normal(net.n_inputs)) + 0.1
    lifting = itf.reference.geometry.lifting_of(net)
    z = itf.lift(net, theta)
    expected = np.zeros(net.n_outputs)
    first_output = net.n_neurons - net.n_outputs
    for value, path in zip(z, lifting.paths()):
        last = net.graph.param_dst[path[-1]]
        start = net.graph.param_src[path[0]]
        expected[last - first_output] += value * (x[start] if start >= 0 else 1.0)
    np.testing.assert_allclose(net.forward(theta, x[None, :])[0], expected, rtol=1e-12)


@pytest.mark.parametrize("net", [ReLUNet([3, 4, 2], bias=True), ReLUNet([2, 3, 1], bias="hidden"), LinearNet([2, 3, 4])])
def test_flatten_inverts_unflatten(net):
    theta = net.init(4)
    np.testing.assert_array_equal(net.flatten(net.unflatten(theta)), theta)


def test_init_is_reproducible_from_a_seed():
    net = ReLUNet([3, 5, 2])
    np.testing.assert_array_equal(net.init(7), net.init(np.random.default_rng(7)))
    assert not np.array_equal(net.init(7), net.init(8))


def test_path_counts_are_exact_for_astronomical_nets():
    assert ReLUNet([10] * 14).n_lifted == 10**14
    assert ReLUNet([2, 3, 4], bias=True).n_lifted == 24 + 12 + 4


CHAIN_SCRIPT = """
import time
import intrinsic_flow as itf
from intrinsic_flow.models import longest_path
net = itf.DAGReLUNet(1, 1, [(i, i + 1) for i in range(10_000)])
start = time.perf_counter()
print(net.n_lifted, longest_path(net.graph), time.perf_counter() - start)
"""


def test_a_chain_of_ten_thousand_edges_is_counted_without_recursion():
    # out of process: the recursive count overflowed the C stack (a segfault, not an exception)
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", CHAIN_SCRIPT], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    n_lifted, longest, seconds = done.stdout.split()
    assert (int(n_lifted), int(longest)) == (1, 10_000)
    assert float(seconds) < 0.5  # linear: the quadratic relaxation took 16 s at 4,000 edges


@settings(max_examples=40, deadline=None)
@given(dag_nets())
def test_path_count_and_longest_path_agree_with_the_listed_paths(net):
    from intrinsic_flow.models import longest_path
    from intrinsic_flow.reference.lifting import PathLifting

    paths = PathLifting(net.graph).paths()
    assert net.n_lifted == len(paths)
    assert longest_path(net.graph) == max(len(p) for p in paths)


def test_longest_path_of_layered_nets():
    from intrinsic_flow.models import longest_path

    assert longest_path(ReLUNet([2, 3, 4, 1]).graph) == 3
    assert longest_path(ReLUNet([2, 3, 4, 1], bias=True).graph) == 3  # a bias path is never longer
    # a skip connection does not shorten the longest path: 0 -> 1 -> 2 -> 3 and 0 -> 3
    assert longest_path(DAGReLUNet(1, 1, [(0, 1), (1, 2), (2, 3), (0, 3)]).graph) == 3
    assert longest_path(DAGReLUNet(1, 1, [(0, 1), (1, 2)], bias=[1]).graph) == 2


# -- bad input ----------------------------------------------------------------------------

@pytest.mark.parametrize("widths", [[3, 0, 1], [3, -2, 1], [3], [], [2.5, 3], "3,4"])
def test_bad_widths(widths):
    with pytest.raises(ValueError, match="widths"):
        ReLUNet(widths)
    with pytest.raises(ValueError, match="widths"):
        LinearNet(widths)


def test_bad_bias_flag():
    with pytest.raises(ValueError, match="bias must be False, True or 'hidden'"):
        ReLUNet([2, 2], bias="output")


@pytest.mark.parametrize("edges,bias,message", [
    ([(0, 1), (1, 2), (2, 1), (1, 3)], (), "cycle"),
    ([(0, 1), (1, 1), (1, 2)], (), "self-loop"),
    ([(0, 2), (1, 2)], (), "dangling"),            # neuron 1 (hidden) has no input
    ([(0, 1), (0, 2)], (), "dangling"),            # neuron 1 (hidden) has no output
    ([(0, 1), (0, 1), (1, 2)], (), "duplicate"),
    ([(0, 1), (1, 2), (2, 0)], (), "enters input"),
    ([(0, 1), (1, 2)], (0,), "biases go on non-input"),
])
def test_bad_dags(edges, bias, message):
    with pytest.raises(ValueError, match=message):
        DAGReLUNet(1, 1, edges, bias=bias)


def test_forward_checks_the_input_shape():
    with pytest.raises(ValueError, match=r"X must have shape \(n, 3\)"):
        ReLUNet([3, 2]).forward(np.zeros(6), np.zeros((4, 2)))
