"""The parsimony reproduction: each section runs in quick mode and yields captioned figures."""
from __future__ import annotations

import pytest

pytest.importorskip("matplotlib")

from intrinsic_flow.reproductions import parsimony as reproduction  # noqa: E402

# X4 (depth against width at d = 100) takes most of the quick run: its claim is tested in
# test_parsimony.py, and the whole command runs in the slow test below.
FAST = [s for s in reproduction.SECTIONS if s.__name__ != "x4_depth_width"]


@pytest.mark.parametrize("section", FAST, ids=lambda s: s.__name__)
def test_quick_sections_have_captioned_figures(section):
    result = section(True)
    assert result.title and result.markdown.strip()
    assert result.figures
    for caption, figure in result.figures:
        assert "paper" in caption and "Ours" in caption
        assert figure.axes


def test_sections_are_x1_to_x8():
    titles = [s.__name__.split("_")[0] for s in reproduction.SECTIONS]
    assert titles == [f"x{k}" for k in range(1, 9)]


@pytest.mark.slow
def test_reproduce_command_quick(tmp_path):
    from intrinsic_flow import cli

    assert cli.main(["reproduce", "parsimony", "--quick", "--out", str(tmp_path)]) == 0
    assert (tmp_path / "report.html").exists()
    markdown = (tmp_path / "report.md").read_text(encoding="utf-8")
    assert markdown.count("*Figure") == len(list((tmp_path / "figures").glob("*.png"))) >= 8
