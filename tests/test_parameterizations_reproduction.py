"""The integrable-parameterisation reproduction runs in its quick form: every section has a table,
figures with lines, and captions that say what the paper shows and how this run was scaled."""
import pytest

pytest.importorskip("matplotlib")
pytest.importorskip("pandas")
pytest.importorskip("sklearn")

from intrinsic_flow.reproductions import integrable  # noqa: E402


@pytest.mark.parametrize("section", integrable.SECTIONS, ids=lambda f: f.__name__)
def test_quick_section(section):
    result = section(True)
    assert result.title and "|---|" in result.markdown
    assert result.figures
    for caption, figure in result.figures:
        assert "paper" in caption or "authors" in caption
        assert "Ours" in caption or "ours" in caption
        assert "Scaled" in caption or "scaled" in caption or "width" in caption
        assert any(ax.lines for ax in figure.axes)

    if section is integrable.outputs_at_initialisation:
        # the fitted IP slopes are within 0.25 of -L/2
        rows = [line.split("|")[1:-1] for line in result.markdown.splitlines() if line.startswith("| IP")]
        assert len(rows) == 3
        for _, predicted, fitted in rows:
            assert abs(float(fitted) - float(predicted)) <= 0.25
