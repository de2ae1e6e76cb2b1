"""The integrable-parameterisation reproduction: the numbers of its paper-vs-ours claims, from one
quick run of every section (shared by the module), and from the full sections in the slow tests."""
from __future__ import annotations

import math
import re

import numpy as np
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from readability import assert_readable, assert_tables_well_formed  # noqa: E402

from intrinsic_flow.reproductions import integrable as reproduction  # noqa: E402

LN10 = math.log(10.0)
# claims allowed to differ in the quick run, each for a stated cause (see the sections)
QUICK_DIFFERS = {("E1", "L = 3, training loss after the paper's 10 epochs (m = 128)"),
                 ("E2", "IP-LLR, GELU: training loss at step 150"),
                 ("E3", "IP-LLR, GELU: rank of h^6 after step 1")}


@pytest.fixture(scope="module")
def quick():
    return {section.__name__: section(True) for section in reproduction.SECTIONS}


def _claims(section) -> dict:
    return {c.quantity: c for c in section.claims}


def test_every_section_is_readable_and_makes_claims(quick):
    for section in quick.values():
        assert section.claims
        assert assert_tables_well_formed(section.markdown) >= 1
        for text in [section.markdown] + [caption for caption, _ in section.figures]:
            assert not re.search(r"[{}$]|\\[a-zA-Z]", text), text
        for _, figure in section.figures:
            assert any(ax.lines for ax in figure.axes)
            assert_readable(figure)


def test_only_the_known_claims_differ_in_the_quick_run(quick):
    failing = {(c.experiment, c.quantity) for s in quick.values() for c in s.claims if not c.holds}
    assert failing <= QUICK_DIFFERS, failing - QUICK_DIFFERS
    for s in quick.values():
        for c in s.claims:
            if not c.holds:
                assert c.partial and re.search(r"\d", c.cause), c  # a cause with the run's numbers


def test_first_layer_factor_and_rank_helpers():
    from intrinsic_flow.datasets import load_digits

    # digits standardised as MNIST: mean |x|^2 = 64, so rho = 785 / 65
    assert reproduction.first_layer_factor(load_digits()) == pytest.approx(785 / 65, rel=1e-12)
    rng = np.random.default_rng(0)
    h = rng.standard_normal((300, 3)) @ rng.standard_normal((3, 40)) + 1e-9 * rng.standard_normal((300, 40))
    for matrix in (h, h.T, rng.standard_normal((50, 20))):
        sigma = np.linalg.svd(matrix, compute_uv=False)
        tol = sigma[0] * max(matrix.shape) * 2.0**-23
        assert reproduction.numerical_rank(matrix) == np.linalg.matrix_rank(matrix, tol=tol)
    assert reproduction.numerical_rank(h) == 3


def test_outputs_at_initialisation_e4(quick):
    c = _claims(quick["outputs_at_initialisation"])
    for L in (1, 2, 3):
        assert abs(c[f"slope of log mean |f(0)| in log m, IP, L = {L}"].value + L / 2) <= 0.25
    assert abs(c["slope of log mean |f(0)| in log m, μP, L = 3"].value + 0.5) <= 0.25


def test_standard_ip_fails_at_depth_e1(quick):
    c = _claims(quick["standard_ip_fails"])
    assert 0.1 < c["L = 2, training loss after the paper's 10 epochs (m = 128)"].value < 0.94  # trains
    assert c["L = 3, training loss after the paper's 10 epochs (m = 128)"].value > 2.2  # not yet at 10 epochs...
    assert c["L = 3, lowest training loss within 30 paper-epochs (m = 128)"].value < 1.65  # ...but later
    for L in (4, 5):
        assert c[f"L = {L}, largest |loss − ln 10| after 10 and 30 epochs (m = 128)"].value < 0.01


def test_first_step_stationarity(quick):
    c = _claims(quick["first_step_stationarity"])
    assert c["2 weight matrices: largest / smallest mean |Δf| over widths"].value <= 2.0
    assert abs(c["4 weight matrices: slope of mean |Δf| in m"].value + 1.0) <= 0.3
    assert c["5 weight matrices: slope of mean |Δf| in m"].value <= -1.5


def test_mup_learns_features_ntk_does_not(quick):
    c = _claims(quick["features_mup_ntk"])
    assert c["μP: largest / smallest mean |Δh^l| over widths, worst layer"].value <= 1.5
    assert c["NTK: slope of mean |Δh^l| in m, l = 2, 3 (steepest of the two)"].value <= -0.25


def test_training_comparison_e2(quick):
    c = _claims(quick["training_comparison"])
    for name in ("ReLU", "GELU", "ELU", "tanh"):
        assert abs(c[f"IP, {name}: final training loss"].value - LN10) < 0.01
        assert c[f"μP, {name}: test accuracy"].value > 0.8
        assert c[f"IP-LLR bias, {name}: test accuracy"].value <= 0.15
    relu = c["IP-LLR, ReLU: training loss at step 100"].value
    assert abs(relu - 2.16) <= 0.2  # the collapse of the authors' notebook
    assert c["IP-LLR, GELU: training loss at step 150"].value < relu - 0.3  # GELU trains, ReLU does not
    assert c["IP-LLR, ELU: test accuracy"].value > 0.6


def test_update_ranks_e3(quick):
    c = _claims(quick["update_ranks"])
    for name, paper in (("ReLU", 1.51), ("GELU", 3.00), ("ELU", 3.65), ("tanh", 3.70)):
        value = c[f"IP-LLR, {name}: stable rank of the hidden updates W2–W6 after step 1"].value
        assert abs(value - paper) <= 0.25 * paper
    assert c["IP-LLR, ReLU: rank of h^6 after step 1"].value <= 3
    assert c["IP-LLR, GELU: rank of h^6 after step 1"].value > 5  # no collapse without ReLU
    assert c["μP, ReLU: rank of h^6 after step 1 / width"].value > 0.6


# -- full forms ------------------------------------------------------------------------------------

def _full(section, differs=frozenset()):
    result = section(False)
    failing = {c.quantity for c in result.claims if not c.holds}
    assert failing <= set(differs), [c.row() for c in result.claims if not c.holds]
    return _claims(result)


@pytest.mark.slow
def test_full_e4_e1_and_width_checks():
    _full(reproduction.outputs_at_initialisation)
    _full(reproduction.first_step_stationarity)
    _full(reproduction.features_mup_ntk)
    c = _full(reproduction.standard_ip_fails, {"L = 3, training loss after the paper's 10 epochs (m = 128)"})
    assert c["L = 3, lowest training loss within 30 paper-epochs (m = 128)"].value < 1.0


@pytest.mark.slow
def test_full_e2_at_the_authors_batch():
    c = _full(reproduction.training_comparison)
    assert c["IP-LLR, GELU: training loss at step 150"].value <= 1.0  # the authors' notebook: about 0.5


@pytest.mark.slow
def test_full_e3():
    c = _full(reproduction.update_ranks, {"IP-LLR, GELU: rank of h^6 after step 1"})
    assert c["IP-LLR, ReLU: rank of h^6 after step 1"].value <= 2
