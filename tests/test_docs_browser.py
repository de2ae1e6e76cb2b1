"""The documentation as a reader sees it without a network.

The theory pages and the API entries whose docstrings hold formulas are built with the project's
Sphinx settings and extensions (docs/_ext), then opened in headless Chromium with every connection
sent nowhere. Each formula must be typeset by the MathJax copied beside the pages: no TeX left in
the page's text, one SVG per formula, no TeX error, nothing fetched from the web. Skipped where the
docs extra or Chromium is not installed (`pip install ".[docs]"`, `apt-get install chromium`).
"""
import ast
import html.parser
import importlib.metadata
import importlib.util
import json
import pathlib
import re
import shutil
import struct
import subprocess
import sys
import textwrap

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# settings of docs/conf.py that shape how a page and a docstring are parsed, copied as written there
SETTINGS = ("myst_enable_extensions", "myst_heading_anchors", "html_theme", "autodoc_typehints",
            "autodoc_inherit_docstrings", "autodoc_default_options", "numpydoc_show_class_members",
            "numpydoc_xref_param_type")
# classes whose fields and properties had entries with a name and nothing else
CLASSES = ("intrinsic_flow.ReLUNet", "intrinsic_flow.LinearNet", "intrinsic_flow.RankInfo", "intrinsic_flow.Criteria",
           "intrinsic_flow.LieTrace", "intrinsic_flow.Trajectory", "intrinsic_flow.ScanResult",
           "intrinsic_flow.parsimony.FactorizationResult", "intrinsic_flow.datasets.Dataset")
# pages whose display formulas may still be wider than the column of a 1200-pixel window
WIDTH_UNCHECKED = {"theory/parsimony.html", "theory/symmetries.html", "theory/parameterizations.html"}
# TeX left as text: a command, or the delimiters Sphinx writes around formulas for MathJax
RAW_TEX = re.compile(r"\\[A-Za-z]+|\\\(|\\\)|\\\[|\\\]|\$\$")


def _requirements():
    for module in ("sphinx", "myst_parser", "numpydoc", "pydata_sphinx_theme"):
        pytest.importorskip(module)
    try:
        importlib.metadata.distribution("sphinx-mathjax-offline")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("the docs extra is not installed (sphinx-mathjax-offline)")
    browser = next((found for name in BROWSERS if (found := shutil.which(name))), None)
    if browser is None:
        pytest.skip(f"no headless browser found (looked for {', '.join(BROWSERS)})")
    return browser


def _settings() -> dict:
    tree = ast.parse((DOCS / "conf.py").read_text(encoding="utf-8"))
    values = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            if node.targets[0].id in SETTINGS:
                values[node.targets[0].id] = ast.literal_eval(node.value)
    assert set(values) == set(SETTINGS), "docs/conf.py no longer sets " + ", ".join(set(SETTINGS) - set(values))
    return values


def _with_math(module):
    """Public names of module whose docstrings hold formulas (``.. math::`` or ``:math:``)."""
    import inspect

    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.ismodule(obj):
            obj = getattr(obj, "__function__", None)
        doc = (getattr(obj, "__doc__", None) or "") if obj is not None else ""
        if ".. math::" in doc or ":math:`" in doc:
            names.append((name, obj))
    return names


# the modules of the API pages whose docstrings are checked (torch only where it is installed)
API_MODULES = ("intrinsic_flow", "intrinsic_flow.losses", "intrinsic_flow.parsimony", "intrinsic_flow.symmetries",
               "intrinsic_flow.parameterizations", "intrinsic_flow.datasets", "intrinsic_flow.torch")


def _api_page() -> tuple[str, int]:
    import importlib
    import inspect

    lines = ["API formulas", "============", ""]
    count = 0
    for module_name in API_MODULES:
        if module_name.endswith(".torch") and importlib.util.find_spec("torch") is None:
            continue
        module = importlib.import_module(module_name)
        for name, obj in _with_math(module):
            attribute = getattr(module, name)  # a module that is also its function documents the function
            qualified = f"{attribute.__name__}.{name}" if inspect.ismodule(attribute) else f"{module.__name__}.{name}"
            kind = "autoclass" if inspect.isclass(obj) else "autofunction"
            lines += [f".. {kind}:: {qualified}", "   :no-index:", ""]
            count += 1
    lines += ["Classes", "-------", ""] + [f".. autoclass:: {name}\n   :no-index:\n" for name in CLASSES]
    return "\n".join(lines) + "\n", count


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    browser = _requirements()
    source, out = tmp_path_factory.mktemp("docs-src"), tmp_path_factory.mktemp("docs-html")
    shutil.copytree(DOCS / "theory", source / "theory")
    api, n_entries = _api_page()
    (source / "api.rst").write_text(api, encoding="utf-8")
    (source / "index.rst").write_text("Offline\n=======\n\n.. toctree::\n\n   theory/index\n   api\n", encoding="utf-8")
    settings = "\n".join(f"{name} = {value!r}" for name, value in _settings().items())
    (source / "conf.py").write_text(textwrap.dedent(f"""\
        import sys
        sys.path.insert(0, {str(DOCS / "_ext")!r})
        project = "intrinsic-flow"
        extensions = ["sphinx.ext.autodoc", "offline_math", "api_docstrings", "numpydoc", "myst_parser"]
        source_suffix = {{".rst": "restructuredtext", ".md": "markdown"}}
        numpydoc_validation_checks = set()
        suppress_warnings = ["ref", "toc", "myst"]  # links to pages left out of this build
        """) + settings + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "sphinx", "-q", "-j", "1", "-b", "html", str(source), str(out)],
                          capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-3000:]
    return browser, out, n_entries, done.stderr


_PROBE = """<script>
window.addEventListener("load", () => {
  const report = () => {
    const body = document.body;
    const containers = [...document.querySelectorAll("mjx-container")];
    const errors = containers.filter(c => c.querySelector("[data-mjx-error], [data-mml-node=merror], merror") ||
        /\\\\/.test((c.querySelector("mjx-assistive-mml") || c).textContent)).map(c => c.textContent.slice(0, 80));
    const text = body.cloneNode(true);
    text.querySelectorAll("mjx-container, script, style, pre, code").forEach(e => e.remove());
    body.dataset.probe = JSON.stringify({
      formulas: document.querySelectorAll(".math").length,
      typeset: containers.filter(c => c.querySelector("svg")).length,
      errors: errors,
      text: text.textContent,
      fetched: performance.getEntriesByType("resource").map(e => e.name).filter(n => !n.startsWith("file:")),
      wide: [...document.querySelectorAll("div.math, mjx-container[display='true']")]
          .filter(e => e.scrollWidth > e.clientWidth + 1)
          .map(e => e.textContent.slice(0, 60)),
    });
  };
  if (window.MathJax && MathJax.startup) { MathJax.startup.promise.then(report); }
  else { document.body.dataset.probe = JSON.stringify({missing: "MathJax did not load"}); }
});
</script>"""


class _Body(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.probe = None

    def handle_starttag(self, tag, attrs):
        if tag == "body":
            self.probe = dict(attrs).get("data-probe")


def _open_offline(browser, page: pathlib.Path, tmp_path, *extra):
    # no network: names resolve to nothing and every connection goes to a closed local port
    command = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
               "--disable-extensions", "--proxy-server=127.0.0.1:9", "--host-resolver-rules=MAP * ~NOTFOUND",
               f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=20000", *extra, page.as_uri()]
    return subprocess.run(command, capture_output=True, text=True, timeout=180)


def _probed(browser, page: pathlib.Path, tmp_path) -> dict:
    probe = page.with_name(page.stem + "-probe.html")
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", _PROBE + "</body>"), encoding="utf-8")
    done = _open_offline(browser, probe, tmp_path, "--window-size=1200,900", "--dump-dom")
    parser = _Body()
    parser.feed(done.stdout)
    assert parser.probe, f"the probe did not run; browser stderr:\n{done.stderr[-2000:]}"
    return json.loads(parser.probe)


def test_pages_name_no_web_script_or_style(site):
    _, out, _, _ = site
    remote = re.compile(r"<(script|link)\b[^>]*\b(src|href)=\"(https?:)?//", re.I)
    pages = list(out.rglob("*.html"))
    assert len(pages) > 10
    for page in pages:
        assert not remote.search(page.read_text(encoding="utf-8")), page.name
    assert (out / "_static" / "mathjax" / "tex-svg.js").is_file()


def test_api_entries_are_never_empty(site):
    """Every entry of the API page (classes, their methods and properties) has a text of its own."""
    _, out, _, _ = site
    page = (out / "api.html").read_text(encoding="utf-8")
    entries = re.findall(r'<dl class="py (\w+)">\s*<dt[^>]*>(.*?)</dt>\s*<dd>(.*?)</dd>', page, re.S)
    assert len(entries) > 20
    empty = [re.sub("<[^>]+>", "", title).strip() for _, title, body in entries if not re.sub("<[^>]+>", "", body).strip()]
    assert empty == []


@pytest.mark.parametrize("page", ["theory/laws.html", "theory/lifting.html", "theory/intrinsic.html",
                                  "theory/flows.html", "theory/criteria.html", "theory/ranks.html",
                                  "theory/parsimony.html", "theory/symmetries.html",
                                  "theory/parameterizations.html", "api.html"])
def test_formulas_render_offline(site, page, tmp_path):
    browser, out, n_entries, _ = site
    found = _probed(browser, out / page, tmp_path)
    assert "missing" not in found, found
    assert found["formulas"] > 0
    assert found["typeset"] == found["formulas"], "some formulas were not typeset"
    assert found["errors"] == []
    assert RAW_TEX.findall(found["text"]) == []
    assert found["fetched"] == []
    if page == "api.html":
        assert n_entries >= 10, "docstrings with formulas"
    if page not in WIDTH_UNCHECKED:
        # a display formula fits the text column of a 1200-pixel window (no scroll bar)
        assert found["wide"] == [], "wider than the column:\n" + "\n".join(found["wide"])


def test_screenshot_of_a_theory_page(site, tmp_path):
    browser, out, _, _ = site
    shot = tmp_path / "laws.png"
    _open_offline(browser, out / "theory" / "laws.html", tmp_path, "--window-size=1200,1400", f"--screenshot={shot}")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1200, 1400)
