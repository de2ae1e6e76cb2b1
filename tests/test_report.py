"""The report: each demonstration's content, the self-contained HTML page with a figure per section,
the page as a browser shows it (headless Chromium, when installed), the command."""
import base64
import contextlib
import html.parser
import io
import re
import shutil
import struct
import subprocess

import numpy as np
import pytest

from intrinsic_flow import report
from intrinsic_flow.cli import main

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _table_rows(markdown, first_cell):
    return [line for line in markdown.splitlines() if line.startswith(f"| {first_cell}")]


@pytest.fixture(scope="module")
def quick_report(tmp_path_factory):
    """`intrinsic-flow report --quick` run once for the module: (printed text, output directory)."""
    out = tmp_path_factory.mktemp("report")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main(["report", "--quick", "--out", str(out)]) == 0
    return printed.getvalue(), out


def test_geometry_section_gives_the_known_ranks():
    # [2, 3, 3, 1] with hidden biases: D = 24, d = 30, rank 18, one law per hidden neuron (6), joint rank 24;
    # with biases on every layer: 25, 31, 19, 6, 25
    section = report.geometry_section(quick=True)
    hidden = _table_rows(section.markdown, "`ReLUNet(widths=(2, 3, 3, 1), bias='hidden')`")[0]
    assert [c.strip() for c in hidden.strip("|").split("|")][1:] == ["24", "30", "18", "6", "24", "yes"]
    full = _table_rows(section.markdown, "`ReLUNet(widths=(2, 3, 3, 1), bias=True)`")[0]
    assert [c.strip() for c in full.strip("|").split("|")][1:] == ["25", "31", "19", "6", "25", "yes"]
    # two-layer linear (3, 3, 3): rank deficit r(r-1)/2 = 3 of [dphi; dh] (the rotations of the inner layer)
    linear = _table_rows(section.markdown, "`LinearNet(widths=(3, 3, 3))`")[0]
    assert [c.strip() for c in linear.strip("|").split("|")][1:] == ["18", "9", "9", "6", "15", "no"]
    assert len(section.figures) == 1


def test_relaxed_balance_section_separates_the_cases():
    section = report.relaxed_balance_section(quick=True)
    gaps = [float(line.strip("|").split("|")[-1]) for line in section.markdown.splitlines()
            if line.startswith(("| relaxed", "| generic"))]
    assert gaps[0] < 1e-10 and gaps[1] > 1e-2
    assert len(section.figures) == 1
    # the text quotes no exception message: it states what the library does
    assert "ValueError:" not in section.markdown and "lam =" not in section.markdown


def test_neural_ode_section_converges_like_one_over_k():
    section = report.neural_ode_section(quick=True)
    ratios = [float(line.strip("|").split("|")[-1]) for line in section.markdown.splitlines()
              if re.match(r"\| \d+ \| [0-9.e+-]+ \| [0-9.]+ \|", line)]
    assert len(ratios) == 3 and all(1.7 < r < 2.3 for r in ratios)  # halves when K doubles
    assert re.search(r"fitted slope -(0\.9|1\.0)", section.markdown)


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
    assert page.startswith("<!DOCTYPE html>") and "<h2>1. demo</h2>" in page
    assert re.search(r'src="data:image/png;base64,[A-Za-z0-9+/=]{100,}"', page)
    assert "<figcaption><strong>Figure 1.1.</strong> a line</figcaption>" in page
    assert "http" not in page  # self-contained


def test_report_command_quick(quick_report):
    printed, out = quick_report
    titles = re.findall(r"^## (.+)$", printed, re.M)
    assert len(titles) == len(report.SECTIONS)
    assert "θ-flow vs intrinsic flow: ReLU networks" in titles
    assert (out / "report.md").read_text(encoding="utf-8") in printed
    # every flow comparison of the ReLU and linear sections is small
    gaps = [float(m) for m in re.findall(r"\| ([0-9.]+e-[0-9]+) \|\n", printed.split("## Necessity")[0])]
    assert gaps and max(gaps) < 1e-6
    # one step of gradient descent moves the laws by O(lr^2)
    slope = float(re.search(r"fitted slope ([0-9.]+)\)", printed.split("## θ-flow vs intrinsic flow: ReLU")[1]).group(1))
    assert abs(slope - 2) < 0.05


def test_report_text_names_no_file_users_lack(quick_report):
    printed, out = quick_report
    assert "§" not in printed  # no section numbers of a document the reader does not have
    named = set(re.findall(r"[\w./-]+\.(?:md|txt|tex|pdf)\b", printed))
    missing = {name for name in named if not (out / name).is_file()}
    assert missing == set(), f"the report names files its readers do not have: {missing}"
    # the theory pages it links to are written beside it, copies of the documentation's
    linked = set(re.findall(r"\]\((theory/[\w-]+\.md)\)", printed))
    assert len(linked) >= 3
    for name in linked:
        assert (out / name).read_bytes() == report.theory_source().joinpath(name.split("/")[1]).read_bytes()


def test_report_is_readable(quick_report):
    """Every table well formed (.md), no raw TeX braces or literal asterisks in prose, figures at most the
    page's width with text of at least 8 pt, italics and links rendered in the HTML."""
    from readability import assert_tables_well_formed

    printed, out = quick_report
    assert assert_tables_well_formed(printed) >= 6
    prose = [line for line in printed.splitlines() if not line.startswith("|")]
    assert not any(re.search(r"\w_\{", line) for line in prose), "TeX subscripts in prose"
    page = (out / "report.html").read_text(encoding="utf-8")
    body = re.sub(r'src="data:[^"]+"', "", page)
    assert "<em>On the optimization of deep networks" in body and "*On the" not in body
    assert '<a href="theory/' in body
    for png in (out / "figures").glob("*.png"):
        width, _ = _png_size(png.read_bytes())
        assert width <= report.MAX_WIDTH * report.DPI + 1, png.name


def test_figures_have_readable_text():
    from readability import assert_readable

    for section in (report.geometry_section, report.laws_section, report.neural_ode_section):
        for _, figure in section(True).figures:
            assert_readable(figure)


def test_tables_escape_pipes_and_claims_open_a_reproduction():
    from readability import assert_tables_well_formed

    markdown = report.table(["x", "|x − y|"], [["a", "|3|"]])
    assert assert_tables_well_formed(markdown) == 1
    assert "<th>|x − y|</th>" in report.markdown_to_html(markdown)
    assert "<td>|3|</td>" in report.markdown_to_html(markdown)
    good = report.claim("E1", "error", "≈ 1e-3", 2e-3, "within 3×", 2e-3 < 3e-3)
    bad = report.claim("E2", "steps", "420", 600, "within 20 %", abs(600 / 420 - 1) < 0.2,
                       fmt="{:.0f}", cause="fewer trials")
    assert (good.verdict, bad.verdict, bad.ours) == ("reproduced", "differs — fewer trials", "600")
    with pytest.raises(ValueError, match="cause"):
        report.claim("E3", "x", "1", 2.0, "= 1", False)
    sections = [report.Section("one", "text", claims=[good]), report.Section("two", "more", claims=[bad])]
    page = report.Report(sections, title="paper")
    markdown = page.markdown()
    assert markdown.index("## Paper vs ours") < markdown.index("## one")
    rows = [line for line in markdown.splitlines() if line.startswith("| E")]
    assert [r.split("|")[1].strip() for r in rows] == ["E1", "E2"]
    assert "differs — fewer trials" in rows[1]
    assert 'id="paper-vs-ours"' in page.html()
    assert "Paper vs ours" not in report.Report([report.Section("x", "y")]).markdown()


def _png_size(data: bytes):
    """(width, height) from the IHDR chunk of a PNG; ValueError if it is not one."""
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        raise ValueError("not a PNG")
    return struct.unpack(">II", data[16:24])


class _Figures(html.parser.HTMLParser):
    """Per <section>: its title and its figures as (PNG bytes or None, caption text); and every external URL."""

    def __init__(self):
        super().__init__()
        self.sections, self.external, self._in = [], [], None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("src", "href"):
            value = attrs.get(name) or ""
            if value and not value.startswith(("data:", "#")):
                self.external.append(value)
        if tag == "link":
            self.external.append(str(attrs))
        if tag == "section":
            self.sections.append({"title": "", "figures": []})
        elif tag == "h2" and self.sections:
            self._in = "title"
        elif tag == "figure":
            self.sections[-1]["figures"].append([None, ""])
        elif tag == "img" and self.sections and self.sections[-1]["figures"]:
            src = attrs.get("src", "")
            prefix = "data:image/png;base64,"
            self.sections[-1]["figures"][-1][0] = base64.b64decode(src[len(prefix):]) if src.startswith(prefix) else None
        elif tag == "figcaption":
            self._in = "caption"

    def handle_endtag(self, tag):
        if tag in ("h2", "figcaption"):
            self._in = None

    def handle_data(self, data):
        if self._in == "title":
            self.sections[-1]["title"] += data
        elif self._in == "caption":
            self.sections[-1]["figures"][-1][1] += data


def test_every_section_has_a_captioned_figure(quick_report):
    printed, out = quick_report
    page = (out / "report.html").read_text(encoding="utf-8")
    parser = _Figures()
    parser.feed(page)
    assert len(parser.sections) == len(report.SECTIONS)
    for section in parser.sections:
        assert section["figures"], f"section {section['title']!r} has no figure"
        for data, caption in section["figures"]:
            width, height = _png_size(data)
            assert width > 100 and height > 100
            assert len(caption.split()) >= 8, f"caption {caption!r} of {section['title']!r} says too little"
    # nothing fetched: no external URL, no style sheet or font from elsewhere; links only to the theory
    # pages written beside the page
    assert [url for url in parser.external if not (url.startswith("theory/") and (out / url).is_file())] == []
    assert not re.search(r"@import|url\(|<link|https?:", page)
    # the Markdown links the same figures, written beside it
    linked = re.findall(r"!\[[^]]*\]\((figures/[^)]+\.png)\)", printed)
    assert len(linked) == sum(len(s["figures"]) for s in parser.sections)
    for name in linked:
        _png_size((out / name).read_bytes())


_PROBE = """<script>
window.addEventListener("load", function () {
  var images = document.images;
  for (var i = 0; i < images.length; i++) {
    var image = images[i], box = image.getBoundingClientRect(), style = getComputedStyle(image);
    var shown = image.complete && image.naturalWidth > 0 && image.naturalHeight > 0 && box.width > 0
      && box.height > 0 && style.visibility === "visible" && style.display !== "none" && style.opacity !== "0";
    image.setAttribute("data-probe", (shown ? "ok " : "bad ") + image.naturalWidth + "x" + image.naturalHeight);
  }
  var fetched = performance.getEntriesByType("resource").map(function (e) { return e.name; })
    .filter(function (name) { return name.indexOf("data:") !== 0; });
  document.body.setAttribute("data-probe-images", String(images.length));
  document.body.setAttribute("data-probe-fetched", fetched.join(" "));
});
</script>
"""


class _Probed(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.images, self.body = [], {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "body":
            self.body = attrs
        elif tag == "img":
            src = attrs.get("src") or ""
            self.images.append((attrs.get("data-probe"), base64.b64decode(src.split(",", 1)[1])))


def test_report_renders_in_a_headless_browser(quick_report, tmp_path):
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)})")
    _, out = quick_report
    page = (out / "report.html").read_text(encoding="utf-8")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    # no network: every connection goes to a closed port, so anything fetched from elsewhere would fail
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-extensions", "--proxy-server=127.0.0.1:9", "--window-size=1200,900",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=10000", "--dump-dom",
               probe.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=180)
    parser = _Probed()
    parser.feed(done.stdout)
    assert parser.body.get("data-probe-images"), f"the probe did not run; browser stderr:\n{done.stderr[-2000:]}"
    assert int(parser.body["data-probe-images"]) == len(parser.images) == page.count("<img ")
    assert len(parser.images) >= len(report.SECTIONS)
    for mark, data in parser.images:
        width, height = _png_size(data)
        assert mark == f"ok {width}x{height}"  # decoded at the PNG's own size and laid out with a non-zero box
    assert parser.body["data-probe-fetched"] == ""


def test_extra_sections_are_one_function_each():
    def custom(quick):
        return report.Section("custom", f"quick = {quick}")

    built = report.build_report(quick=True, sections=[custom], progress=False)
    assert built.markdown() == "# intrinsic-flow report\n\n## custom\n\nquick = True\n"


def test_markdown_links_each_figure(tmp_path):
    from matplotlib.figure import Figure

    figure = Figure()
    figure.add_subplot().plot(np.arange(3))
    built = report.Report([report.Section("one", "text"), report.Section("two", "text", [("a curve", figure)])])
    assert built.markdown().endswith("## two\n\ntext\n\n![Figure 2.1](figures/figure-2-1.png)\n\n*Figure 2.1.* a curve\n")
    page = built.write(tmp_path / "out")
    assert page == tmp_path / "out" / "report.html"
    assert (tmp_path / "out" / "figures" / "figure-2-1.png").read_bytes() == built.png(2, 1)


def test_bad_arguments(capsys):
    with pytest.raises(SystemExit):
        main(["report", "--unknown"])
    assert "unrecognized arguments" in capsys.readouterr().err
