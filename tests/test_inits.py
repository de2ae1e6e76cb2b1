"""Initialisation schemes: exact conserved values first, identities second, bad input third."""
import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow.inits import SCHEMES, incoming_params, parse_scheme


def conserved_matrices(model, theta):
    """H_l = W_{l+1}^T W_{l+1} - W_l W_l^T for every hidden layer (docs/theory/intrinsic.md)."""
    layers = model.unflatten(theta)
    return [upper.T @ upper - lower @ lower.T for lower, upper in zip(layers[:-1], layers[1:])]


# -- exact values ------------------------------------------------------------------------------
@pytest.mark.parametrize("widths,lambdas", [
    ([3, 3, 3], [0.5]), ([3, 3, 3], [-0.7]), ([4, 2, 3], [0.7]), ([3, 2, 5], [-0.5]), ([1, 2, 2], [0.7]),
    ([3, 4, 4, 4, 2], [0.5, 0.2, -0.7]), ([2, 3, 3, 2], [0.0, 0.0]),
])
def test_relaxed_balanced_conserved_matrices_are_lambda_identity(widths, lambdas):
    model = itf.LinearNet(widths)
    for seed in range(3):
        theta = model.init(seed, "relaxed_balanced", lambdas=lambdas)
        for lam, H in zip(lambdas, conserved_matrices(model, theta)):
            np.testing.assert_allclose(H, lam * np.eye(H.shape[0]), atol=1e-12)


def test_relaxed_balanced_scalar_lambda_applies_to_every_hidden_layer():
    model = itf.LinearNet([3, 3, 3, 3])
    theta = model.init(1, "relaxed_balanced", lambdas=0.25)
    for H in conserved_matrices(model, theta):
        np.testing.assert_allclose(H, 0.25 * np.eye(3), atol=1e-12)


def test_balanced_linear_has_zero_conserved_matrices():
    model = itf.LinearNet([4, 3, 5, 2])
    theta = model.init(2, "balanced")
    assert np.max(np.abs(itf.conserved(model, theta))) < 1e-12


@pytest.mark.parametrize("model", [itf.ReLUNet([3, 5, 4, 2], bias=True), itf.ReLUNet([2, 3, 3, 1], bias="hidden")])
def test_balanced_relu_has_zero_laws_and_unit_scale(model):
    theta = model.init(4, "balanced")
    laws = itf.conserved(model, theta)
    assert np.max(np.abs(laws)) < 1e-12 * np.sum(theta ** 2)


def test_orthogonal_linear_layers_have_orthonormal_rows_or_columns():
    model = itf.LinearNet([3, 5, 2])
    for W in model.unflatten(model.init(0, "orthogonal")):
        small = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
        np.testing.assert_allclose(small, np.eye(min(W.shape)), atol=1e-13)


def test_orthogonal_relu_layers_are_sqrt2_times_orthonormal():
    model = itf.ReLUNet([4, 4, 3], bias=True)
    for W, _ in model.unflatten(model.init(0, "orthogonal")):
        small = W @ W.T if W.shape[0] <= W.shape[1] else W.T @ W
        np.testing.assert_allclose(small, 2.0 * np.eye(min(W.shape)), atol=1e-13)


def test_sparse_extremes():
    model = itf.ReLUNet([3, 5, 5, 1], bias=True)
    assert not np.any(model.init(0, "sparse", p=1.0))
    np.testing.assert_array_equal(model.init(7, "sparse", p=0.0), model.init(7, "gaussian"))


def test_sparse_zero_fraction_is_about_p():
    model = itf.ReLUNet([20, 50, 50, 1])
    theta = model.init(0, "sparse", p=0.3)
    assert abs(np.mean(theta == 0.0) - 0.3) < 0.03  # 3550 Bernoulli draws: sd 0.008


@pytest.mark.parametrize("model", [itf.ReLUNet([3, 4, 2], bias=True), itf.LinearNet([3, 4, 2]),
                                   itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (2, 3), (0, 3)])])
def test_dead_neuron_zeroes_exactly_one_hidden_neuron(model):
    theta = model.init(3, "dead_neuron")
    dead = [group for group in incoming_params(model) if not np.any(theta[group])]
    assert len(dead) == 1
    assert np.count_nonzero(theta) == model.n_params - len(dead[0])


# -- identities --------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", sorted(SCHEMES))
def test_every_scheme_is_deterministic_for_a_seed(scheme):
    model = itf.LinearNet([3, 3, 3]) if scheme == "relaxed_balanced" else itf.ReLUNet([3, 4, 4, 2], bias=True)
    a, b = model.init(11, scheme), model.init(11, scheme)
    np.testing.assert_array_equal(a, b)
    assert a.shape == (model.n_params,) and np.all(np.isfinite(a))


def test_balanced_relu_keeps_phi():
    model = itf.ReLUNet([3, 4, 3, 2], bias=True)
    rng_a, rng_b = np.random.default_rng(5), np.random.default_rng(5)
    gaussian, balanced = model.init(rng_a, "gaussian"), model.init(rng_b, "balanced")
    np.testing.assert_allclose(ref.lift(model, balanced), ref.lift(model, gaussian), rtol=1e-12, atol=1e-14)


def test_parse_scheme_forms():
    assert parse_scheme("gaussian") == ("gaussian", {})
    assert parse_scheme("sparse:0.25") == ("sparse", {"p": 0.25})
    assert parse_scheme("relaxed_balanced:0.5,-0.2") == ("relaxed_balanced", {"lambdas": [0.5, -0.2]})
    assert parse_scheme(("sparse", {"p": 0.1})) == ("sparse", {"p": 0.1})


# -- bad input ---------------------------------------------------------------------------------
def test_unknown_scheme_names_the_accepted_ones():
    with pytest.raises(ValueError, match="unknown init scheme 'xavier'.*gaussian"):
        itf.ReLUNet([2, 2, 1]).init(0, "xavier")


@pytest.mark.parametrize("widths,lambdas,why", [
    ([1, 3, 1], 0.5, "force lambda_1 = 0"),                      # hidden directions outside both ranges
    ([3, 2, 1], 0.5, "negative squared singular value"),          # lambda > 0 needs rank W_2 = 2 > 1
    ([1, 2, 3], -0.5, "negative squared singular value"),         # mirror: lambda < 0 needs rank W_1 = 2
    ([3, 4, 4, 3], [0.5, -0.3], "lambda_1 \\+ lambda_2 = 0"),
])
def test_unrealisable_lambda_says_why(widths, lambdas, why):
    with pytest.raises(ValueError, match=f"cannot be realised for widths.*{why}"):
        itf.LinearNet(widths).init(0, "relaxed_balanced", lambdas=lambdas)


@pytest.mark.parametrize("call,match", [
    (lambda: itf.LinearNet([3, 3, 3, 3]).init(0, "relaxed_balanced", lambdas=[0.1]), "one per hidden layer"),
    (lambda: itf.LinearNet([3, 3, 3]).init(0, "relaxed_balanced", lambdas="big"), "lambdas must be"),
    (lambda: itf.ReLUNet([3, 3, 3]).init(0, "relaxed_balanced", lambdas=0.5), "LinearNet only"),
    (lambda: itf.ReLUNet([3, 3, 3]).init(0, "sparse", p=1.5), "p must be a probability"),
    (lambda: itf.DAGReLUNet(1, 1, [(0, 1), (1, 2)]).init(0, "orthogonal"), "layered model"),
    (lambda: itf.LinearNet([3, 2]).init(0, "dead_neuron"), "needs a hidden neuron"),
    (lambda: itf.ReLUNet([3, 3, 3]).init(0, "gaussian", p=0.5), "unexpected options"),
    (lambda: parse_scheme("gaussian:0.5"), "takes no ':value'"),
    (lambda: parse_scheme("sparse:half"), "expected numbers"),
    (lambda: parse_scheme(3), "init must be a scheme name"),
])
def test_bad_options(call, match):
    with pytest.raises(ValueError, match=match):
        call()
