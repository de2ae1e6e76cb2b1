"""The parsimony reproduction: the numbers of its paper-vs-ours claims, from one quick run of every
section (shared by the module), and from the full sections in the slow tests."""
from __future__ import annotations

import re

import pytest

pytest.importorskip("matplotlib")

from readability import assert_readable, assert_tables_well_formed  # noqa: E402

from intrinsic_flow.reproductions import parsimony as reproduction  # noqa: E402


@pytest.fixture(scope="module")
def quick():
    return {section.__name__.split("_")[0]: section(True) for section in reproduction.SECTIONS}


def _claims(section) -> dict:
    return {c.quantity: c for c in section.claims}


def test_sections_are_x1_to_x8(quick):
    assert list(quick) == [f"x{k}" for k in range(1, 9)]
    for name, section in quick.items():
        assert section.claims and all(c.experiment == name.upper() for c in section.claims)


def test_figures_are_readable_tables_well_formed_and_prose_has_no_tex(quick):
    for section in quick.values():
        assert_tables_well_formed(section.markdown)
        texts = [section.markdown] + [caption for caption, _ in section.figures]
        for text in texts:
            assert not re.search(r"[{}$]|\\[a-zA-Z]", text), text
        for _, figure in section.figures:
            assert_readable(figure)


def test_only_the_size_limited_claims_differ_in_the_quick_run(quick):
    # the compressed completion network at d = 100 (the paper: d = 1000) is slower than the paper's
    failing = {(c.experiment, c.quantity) for s in quick.values() for c in s.claims if not c.holds}
    allowed = {("X5", "speed-up of the compressed network (same number of steps)"),  # processor time, loaded machine
               ("X6", "iterations, compressed γ = 0.01 / original"),
               ("X6", "plateau of the recovery error, compressed γ = 0"),
               ("X7", "compressed network: iterations, largest / smallest over r̂"),
               ("X7", "iterations narrow / compressed, smallest over r̂")}
    assert failing <= allowed, failing - allowed
    for s in quick.values():
        for c in s.claims:
            if not c.holds:
                assert c.partial and re.search(r"\d", c.cause), c  # a cause with the run's numbers


def test_law_x1_x3(quick):
    for name in ("x1", "x3"):
        claims = _claims(quick[name])
        assert claims["singular values of W_1 that move"].value == 6
        assert claims["spread of the middle 24 singular values, every layer"].value < 1e-12
        assert claims["largest angle of the middle singular subspaces (deg)"].value < 1e-4
    x1 = _claims(quick["x1"])
    assert abs(x1["largest singular value of W_1 after 50 iterations"].value - 1.5) < 0.15
    assert 0.56 < x1["smallest singular value of W_1 after 50 iterations"].value < 0.84
    assert _claims(quick["x2"])["spread of the middle 24 singular values of W_1 / motion of the top one"].value < 0.05


def test_depth_and_width_x4(quick):
    c = _claims(quick["x4"])
    assert c["recovery error, L = 3, width 10"].value < 1e-6
    assert c["recovery error, L = 3, width 100"].value < 1e-6
    wide, narrow = c["iterations, L = 3, width 100"].value, c["iterations, L = 3, width 10"].value
    assert 0.7 * 42_000 <= narrow <= 1.3 * 42_000 and 0.7 * 11_000 <= wide <= 1.3 * 11_000
    assert c["recovery error, L = 2, width 10"].value < 1e-6
    assert abs(c["recovery error, L = 2, width 100"].value - 1.1e-3) <= 0.3 * 1.1e-3


def test_compressed_factorisation_x5(quick):
    c = _claims(quick["x5"])
    assert c["gap between the original and compressed trajectories, relative to ‖Φ‖_F"].value < 1e-6
    assert c["speed-up of the compressed network (same number of steps)"].value > 1.5


def test_compressed_completion_x6(quick):
    c = _claims(quick["x6"])
    original = c["final recovery error, original"].value
    moving = c["final recovery error, compressed γ = 0.01"].value
    assert original < 1e-10 and moving < 1e-10 and 0.1 < moving / original < 10
    assert c["plateau of the recovery error, compressed γ = 0"].value > 1e-3  # stalls


def test_narrow_network_x7(quick):
    c = _claims(quick["x7"])
    assert c["narrow network: iterations at the largest r̂ / at r̂ = 5"].value < 1
    assert c["compressed network: iterations, largest / smallest over r̂"].value > 0


def test_progressive_separation_x8(quick):
    c = _claims(quick["x8"])
    K, n = 5, 10
    assert c["D_0 (input layer)"].value == pytest.approx(K * (n - 1) / (K - 1), abs=1e-9)
    for depth, paper in ((6, 1.5e-3), (8, 1e-4), (10, 5e-6)):
        value = c[f"D_{depth - 1}, linear, L = {depth}"].value
        assert paper / 2 < value < paper * 2
        # the converged factor per layer, ε² n^(−1/L), within 3 %
        factor = c[f"factor per layer, linear, L = {depth}"].value
        assert factor == pytest.approx(0.25 * n ** (-1 / depth), rel=0.03)


# -- the full sections ----------------------------------------------------------------------------------------
@pytest.mark.slow
def test_full_depth_and_width_x4():
    section = reproduction.x4_depth_width(False)
    c = _claims(section)
    assert all(claim.holds for claim in section.claims), [cl.row() for cl in section.claims if not cl.holds]
    assert c["iterations, L = 3, width 10"].value > 2 * c["iterations, L = 3, width 100"].value


@pytest.mark.slow
def test_full_compressed_factorisation_x5():
    c = _claims(reproduction.x5_compressed_factorisation(False))
    assert c["gap between the original and compressed trajectories, relative to ‖Φ‖_F"].value < 1e-6
    assert c["speed-up of the compressed network (same number of steps)"].value >= 5


@pytest.mark.slow
def test_full_compressed_completion_x6_at_the_paper_size():
    c = _claims(reproduction.x6_compressed_completion(False))
    assert abs(c["d = 1000: iterations of the compressed network, γ = 0.01"].value - 20_000) <= 5_000
    assert 2e-4 <= c["d = 1000: plateau of the compressed network, γ = 0"].value <= 8e-4
    assert c["final recovery error, compressed γ = 0.01"].value < 1e-10


@pytest.mark.slow
def test_full_narrow_network_x7():
    c = _claims(reproduction.x7_narrow(False))
    assert c["narrow network: iterations at the largest r̂ / at r̂ = 5"].value < 0.9


@pytest.mark.slow
def test_full_progressive_separation_x8():
    section = reproduction.x8_separation(False)
    assert all(claim.holds for claim in section.claims), [cl.row() for cl in section.claims if not cl.holds]


@pytest.mark.slow
def test_reproduce_command_quick(tmp_path):
    from intrinsic_flow import cli

    assert cli.main(["reproduce", "parsimony", "--quick", "--out", str(tmp_path)]) == 0
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert markdown.count("*Figure") == len(list((tmp_path / "figures").glob("*.png"))) >= 9
    assert "## Paper vs ours" in markdown
