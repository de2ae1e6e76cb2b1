"""Polynomial maps as models and polynomial conservation laws (docs/theory/laws.md).

Exact values first (A1's laws, the known laws of small nets recovered), identities second
(PolynomialMap geometry against finite differences, both backends, SymPy construction, the
level-0 rank of path-liftings from path sums), bad input third (degree, inconsistent variables).
"""
import subprocess
import sys
from fractions import Fraction

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import LinearNet, PolynomialMap, ReLUNet
from intrinsic_flow import reference as ref
from intrinsic_flow.polynomial import (MODULUS, gradients_at, law_terms, lifted_terms, modular_rank, random_point,
                                       table_as_dicts, to_modular)


def span_rank(polys, n_vars) -> int:
    """Rank over F_p of polynomials as coefficient vectors (integers: the same rank over Q here)."""
    monomials = sorted({e for poly in polys for e in poly})
    return modular_rank([[to_modular(poly.get(e, 0)) for e in monomials] for poly in polys]) if polys else 0


def known_laws_as_dicts(model) -> list:
    return table_as_dicts(law_terms(model), model.n_params)


# -- exact values ----------------------------------------------------------------------------
@pytest.mark.parametrize("backend", [itf, ref])
def test_a1_degree_two_laws_of_x1_x2_x3(backend):
    laws = backend.polynomial_laws(PolynomialMap([{(1, 1, 1): 1}], 3), 2)
    expected = [{(0, 0, 2): 1, (2, 0, 0): -1}, {(0, 2, 0): 1, (2, 0, 0): -1}]  # x3^2 - x1^2, x2^2 - x1^2
    assert len(laws) == 2 and laws.n_independent == 2
    assert span_rank(list(laws) + expected, 3) == 2
    assert all(isinstance(c, int) for law in laws for c in law.values())


def test_a1_inhomogeneous_adds_the_constant_only():
    laws = itf.polynomial_laws(PolynomialMap([{(1, 1, 1): 1}], 3), 2, inhomogeneous=True)
    assert len(laws) == 3 and laws.n_independent == 2  # constants do not count
    assert {(0, 0, 0): 1} in laws


def test_a2_random_field_has_no_degree_four_law_and_constants_do_not_count():
    rng = np.random.default_rng(11)
    exponents = [tuple(int(e) for e in row) for row in rng.integers(0, 3, size=(12, 5))]
    phi = PolynomialMap([{e: int(rng.integers(1, 9)) for e in exponents}], 5)
    assert len(itf.polynomial_laws(phi, 4)) == 0
    constants = itf.polynomial_laws(phi, 0)
    assert len(constants) == 1 and constants.n_independent == 0


@pytest.mark.parametrize("model", [ReLUNet([2, 3, 2]), ReLUNet([3, 2, 3], bias="hidden"), ReLUNet([2, 2, 2, 1]),
                                   LinearNet([2, 2, 2]), LinearNet([2, 3, 2]), LinearNet([2, 2, 2, 2])],
                         ids=str)
def test_degree_two_laws_of_small_nets_are_the_known_laws(model):
    laws = itf.polynomial_laws(model, 2)
    known = known_laws_as_dicts(model)
    assert laws.n_independent == len(laws) == model.n_known_laws == itf.count_conservation_laws(model)
    assert span_rank(list(laws) + known, model.n_params) == span_rank(list(laws), model.n_params) == len(known)


# -- identities: PolynomialMap as a model ----------------------------------------------------
POLY = PolynomialMap([{(1, 1, 1): 1, (0, 0, 2): Fraction(1, 2)}, {(2, 0, 0): 1.5, (0, 1, 0): -2}], 3)


@pytest.mark.parametrize("backend", [itf, ref])
def test_polynomial_map_lift_and_jacobian(backend):
    theta = np.array([0.7, -1.3, 2.1])
    x, y, w = theta
    np.testing.assert_allclose(backend.lift(POLY, theta), [x * y * w + w * w / 2, 1.5 * x * x - 2 * y], rtol=1e-14)
    jac = backend.lift_jacobian(POLY, theta)
    np.testing.assert_allclose(jac, [[y * w, x * w, x * y + w], [3 * x, -2, 0]], rtol=1e-14)


def test_polynomial_map_metric_derivative_matches_finite_differences():
    theta, direction, step = np.array([0.7, -1.3, 2.1]), np.array([0.3, 0.2, -0.5]), 1e-6
    numeric = (itf.metric(POLY, theta + step * direction) - itf.metric(POLY, theta - step * direction)) / (2 * step)
    np.testing.assert_allclose(itf.metric_derivative(POLY, theta, direction), numeric, rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(ref.metric_derivative(POLY, theta, direction), itf.metric_derivative(POLY, theta, direction),
                               rtol=1e-12)


def test_polynomial_map_from_sympy_equals_dicts():
    sympy = pytest.importorskip("sympy")
    x, y, w = sympy.symbols("x y w")
    built = PolynomialMap.from_sympy([x * y * w + w**2 / 2, sympy.Rational(3, 2) * x**2 - 2 * y], [x, y, w])
    assert built == POLY and built.n_params == 3 and built.n_lifted == 2 and built.kind == "poly"


@pytest.mark.parametrize("model", [LinearNet([2, 3, 2]), LinearNet([3, 2, 2, 4]), ReLUNet([2, 3, 2], bias=True),
                                   itf.DAGReLUNet(2, 1, ((0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (0, 4)), (3, 4))],
                         ids=str)
def test_polynomial_form_of_a_network_has_the_same_lift_and_laws(model):
    """The polynomials lie_trace works on are phi itself and the known laws h, in API order."""
    polys = table_as_dicts(lifted_terms(model), model.n_params)
    theta = model.init(2)
    np.testing.assert_allclose(itf.lift(PolynomialMap(polys, model.n_params), theta), itf.lift(model, theta), rtol=1e-13)
    laws = PolynomialMap(known_laws_as_dicts(model), model.n_params)
    np.testing.assert_allclose(itf.lift(laws, theta), itf.conserved(model, theta), rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("model", [ReLUNet([3, 4, 2], bias=True), ReLUNet([2, 3, 3, 2], bias="hidden"),
                                   itf.DAGReLUNet(2, 1, ((0, 2), (1, 2), (2, 3), (0, 3), (3, 4), (0, 4)), (3,))], ids=str)
def test_path_sum_rank_equals_rank_of_the_field_values(model):
    """The core's level 0 for path-liftings (Gram by path sums) against the values of grad phi_p."""
    from intrinsic_flow import _core

    point = random_point(model.n_params, 4)
    g = model.graph
    by_paths = _core.path_lift_rank_modular(g.n_neurons, g.n_inputs, g.n_outputs, list(g.param_src), list(g.param_dst), point)
    by_values = modular_rank(gradients_at(lifted_terms(model), point))
    assert by_paths == by_values == model.n_params - model.n_hidden


def test_modular_coefficients_are_exact():
    assert to_modular(Fraction(1, 2)) * 2 % MODULUS == 1
    assert to_modular(0.25) * 4 % MODULUS == 1 and to_modular(-3) == MODULUS - 3


# -- CLI -------------------------------------------------------------------------------------
def test_cli_laws_prints_counts_levels_and_completeness(capsys):
    from intrinsic_flow.cli import main

    assert main(["laws", "--model", "linear", "--widths", "2,3,2"]) == 0
    lines = dict((line[:29].strip(), line[29:].strip()) for line in capsys.readouterr().out.splitlines())
    assert lines["parameters D"] == "12"
    assert lines["dim W_k by level"] == "4, 6"  # docs/theory/laws.md: (n, r, m) = (2, 3, 2)
    assert lines["conservation laws N"] == "6"
    assert lines["known laws (rank)"] == "6 (6)" and lines["known laws complete"] == "yes"
    assert lines["Frobenius (dim Lie = rank)"] == "no"


def test_cli_laws_as_a_console_command():
    result = subprocess.run([sys.executable, "-m", "intrinsic_flow.cli", "laws", "--model", "relu", "--widths", "3,2,3",
                             "--bias", "hidden", "--float"], capture_output=True, text=True, check=True)
    assert "conservation laws N          2" in result.stdout and "float64" in result.stdout


def test_criteria_of_a_polynomial_map_agree_in_both_backends():
    # x0 x1 - x2^2 and 2 x1 x2: rank 2 of 3 at a generic point, no known laws
    phi = PolynomialMap([{(1, 1, 0): 1, (0, 0, 2): -1}, {(0, 1, 1): 2}], 3)
    thetas = np.array([[0.3, -1.2, 0.7], [1.0, 2.0, -0.5]])
    for theta, core in zip(thetas, itf.criteria_batch(phi, thetas)):
        reference = ref.criteria(phi, theta)
        assert core == itf.criteria(phi, theta)
        assert (core.rank_lift, core.rank_conserved, core.rank_joint, core.kernel_dim) == (2, 0, 2, 1)
        assert core.inclusion_residual == pytest.approx(reference.inclusion_residual, rel=1e-12)


@pytest.mark.parametrize("flow", ["gradient_flow", "gradient_descent"])
def test_regression_on_a_polynomial_map_is_refused(backend, flow):
    loss = itf.losses.Regression(np.ones((3, 1)), np.ones((3, 1)))
    arguments = (0.1,) if flow == "gradient_flow" else (0.1, 3)
    with pytest.raises(ValueError, match=r"Regression needs a network with data inputs \(ReLUNet, LinearNet or "
                                         r"LinearNeuralODE\), got PolynomialMap; a PolynomialMap takes a LiftedQuadratic"):
        getattr(backend, flow)(POLY, np.ones(3), loss, *arguments)


# -- bad input -------------------------------------------------------------------------------
@pytest.mark.parametrize("degree", [-1, 2.5, True])
def test_degree_must_be_a_nonnegative_integer(degree):
    with pytest.raises(ValueError, match="degree must be an integer >= 0"):
        itf.polynomial_laws(POLY, degree)


def test_inconsistent_variable_counts_are_refused():
    with pytest.raises(ValueError, match=r"polys\[1\] has an exponent tuple of length 2 .* n_vars = 3"):
        PolynomialMap([{(1, 1, 1): 1}, {(1, 1): 1}], 3)


@pytest.mark.parametrize("polys,match", [
    ([{(1, -1): 1}], "non-negative integers"),
    ([{(1.0, 1): 1}], "non-negative integers"),
    ([{frozenset({0, 1}): 1}], r"exponents must be a list or tuple of 2 integers, got a frozenset"),
    ({(1, 1): 1}, r"polys must be a list or tuple of dicts .* got a dict"),
    ([{(1, 1): 1}, 5], r"polys\[1\] must be a list or tuple of \(exponents, coefficient\) pairs, got 5"),
    ([[((1, 1),)]], r"polys\[0\] must be a dict \{exponent tuple: coefficient\}, got the term \(\(1, 1\),\)"),
    ([{(1, 1): float("nan")}], "finite"),
    ([{(1, 1): "a"}], "real number"),
    ([], "non-empty"),
])
def test_malformed_polynomials_are_refused(polys, match):
    with pytest.raises(ValueError, match=match):
        PolynomialMap(polys, 2)


def test_polynomial_law_system_beyond_the_budget_is_refused(monkeypatch):
    monkeypatch.setattr(itf.config, "max_bytes", 10_000)
    with pytest.raises(ValueError, match="polynomial-law linear system would need"):
        itf.polynomial_laws(LinearNet([3, 3, 3]), 2)
