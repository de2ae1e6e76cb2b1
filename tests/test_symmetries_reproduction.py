"""The reproduction of the symmetries paper: every section runs in quick mode, draws its figures,
and its captions say what the paper shows and how this run compares."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from intrinsic_flow.reproductions import paper  # noqa: E402


@pytest.fixture(scope="module")
def sections():
    module = paper("symmetries")
    return [section(True) for section in module.SECTIONS]


def test_every_section_has_figures_and_captions(sections):
    module = paper("symmetries")
    assert "2211.08771" in module.TITLE
    assert len(sections) == 5
    for section in sections:
        assert section.title and section.markdown and section.figures
        for caption, figure in section.figures:
            assert "paper" in caption and "--quick" in caption  # what the paper shows; how it was scaled
            assert figure.axes and all(ax.has_data() for ax in figure.axes)


def test_quick_numbers_match_the_theory(sections):
    odd, paired, radial, reduced, sweep = sections
    assert "0.4" in odd.markdown and "κ" in odd.markdown
    # exactly linear with symmetric batches: the last table row reports round-off errors
    last_row = paired.markdown.strip().splitlines()[-1]
    assert "symmetric batches" in last_row and all(float(v) < 1e-12 for v in last_row.split("|")[3:5])
    assert "α = π" in radial.figures[0][0]
    assert "5.3333" in reduced.markdown and "5.5399" in reduced.markdown
    assert sweep.markdown.count("\n| ") >= 5
