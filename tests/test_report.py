"""The report: each demonstration's content, the self-contained HTML page, the command."""
import re

import numpy as np
import pytest

from intrinsic_flow import report
from intrinsic_flow.cli import main


def _table_rows(markdown, first_cell):
    return [line for line in markdown.splitlines() if line.startswith(f"| {first_cell}")]


def test_geometry_section_gives_the_known_ranks():
    # main_paper §9 C10: [2, 3, 3, 1] with hidden biases: D = 24, rank 18, 6 laws, joint 24; bias=True: 25, 19, 25
    section = report.geometry_section(quick=True)
    hidden = _table_rows(section.markdown, "`ReLUNet(widths=(2, 3, 3, 1), bias='hidden')`")[0]
    assert [c.strip() for c in hidden.strip("|").split("|")][1:] == ["24", "30", "18", "6", "24", "yes"]
    full = _table_rows(section.markdown, "`ReLUNet(widths=(2, 3, 3, 1), bias=True)`")[0]
    assert [c.strip() for c in full.strip("|").split("|")][1:] == ["25", "31", "19", "6", "25", "yes"]
    # two-layer linear (3, 3, 3): rank deficit r(r-1)/2 = 3 of [dphi; dh] (§4.4)
    linear = _table_rows(section.markdown, "`LinearNet(widths=(3, 3, 3))`")[0]
    assert [c.strip() for c in linear.strip("|").split("|")][1:] == ["18", "9", "9", "6", "15", "no"]


def test_relaxed_balance_section_separates_the_cases():
    section = report.relaxed_balance_section(quick=True)
    gaps = [float(line.strip("|").split("|")[-1]) for line in section.markdown.splitlines()
            if line.startswith(("| relaxed", "| generic"))]
    assert gaps[0] < 1e-10 and gaps[1] > 1e-2
    assert "no function of Z gives M" in section.markdown


def test_markdown_to_html_tables_lists_and_code():
    page = report.markdown_to_html("text with `code`\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n- item")
    assert "<code>code</code>" in page
    assert "<table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>" in page
    assert "<ul><li>item</li></ul>" in page


def test_html_embeds_figures():
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot(np.arange(3))
    page = report.Report([report.Section("demo", "a paragraph", [("a line", figure)])]).html()
    assert page.startswith("<!DOCTYPE html>") and "<h2>demo</h2>" in page
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)
    assert "http" not in page  # self-contained


def test_report_command_quick(tmp_path, capsys):
    assert main(["report", "--quick", "--out", str(tmp_path)]) == 0
    printed = capsys.readouterr().out
    titles = re.findall(r"^## (.+)$", printed, re.M)
    assert len(titles) == len(report.SECTIONS)
    assert "θ-flow vs intrinsic flow: ReLU networks" in titles
    page = (tmp_path / "report.html").read_text()
    assert page.count("data:image/png;base64,") == 2
    assert (tmp_path / "report.md").read_text() in printed
    # every flow comparison of the ReLU and linear sections is small
    gaps = [float(m) for m in re.findall(r"\| ([0-9.]+e-[0-9]+) \|\n", printed.split("## Necessity")[0])]
    assert gaps and max(gaps) < 1e-6


def test_extra_sections_are_one_function_each():
    def custom(quick):
        return report.Section("custom", f"quick = {quick}")

    built = report.build_report(quick=True, sections=[custom], progress=False)
    assert built.markdown() == "# intrinsic-flow report\n\n## custom\n\nquick = True\n"


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--unknown"])
    assert "unrecognized arguments" in capsys.readouterr().err
