"""Formulas typeset from the documentation's own files, without a network.

Sphinx's default loads MathJax from a CDN: offline (or behind a firewall) every formula would show
as raw TeX. This extension serves MathJax 3 from ``_static/mathjax`` instead. The files come from
the PyPI package ``sphinx-mathjax-offline`` (in the ``docs`` extra), which ships the MathJax 3.2.2
distribution; at the end of an HTML build the SVG bundle and the parts it loads on demand (TeX
extensions such as ``boldsymbol``, the menu's accessibility modules) are copied beside the pages.

The SVG output draws every glyph as a path, so a page fetches no web font either: it renders the
same from ``file://``, from any web server, or inside a browser with the network off. MathJax
rather than a build-time converter because it covers the whole of the TeX the theory pages use
(``aligned``, ``\\operatorname``, ``\\boldsymbol``, ...) exactly as the CDN version did.

Use: add ``"offline_math"`` to ``extensions`` (with ``docs/_ext`` on ``sys.path``).
"""
from __future__ import annotations

import importlib.metadata
import pathlib
import shutil

# the distribution's folder in the wheel (its name has hyphens, so it is not imported as a module)
PACKAGE = "sphinx-mathjax-offline"
FOLDER = "sphinx-mathjax-offline/static/mathjax"
BUNDLE = "tex-svg.js"  # TeX input, SVG output, menu and assistive MathML in one file
MATHJAX_PATH = f"mathjax/{BUNDLE}"  # relative to _static
# the other combined bundles and the CHTML fonts are never loaded by tex-svg.js
UNUSED_TOP = {"output"}


def mathjax_source() -> pathlib.Path:
    """The folder of the MathJax distribution installed by the docs extra."""
    try:
        distribution = importlib.metadata.distribution(PACKAGE)
    except importlib.metadata.PackageNotFoundError as error:
        raise RuntimeError(f"the offline MathJax needs the package {PACKAGE!r}: "
                           'pip install ".[docs]" installs it') from error
    folder = pathlib.Path(distribution.locate_file(FOLDER))
    if not (folder / BUNDLE).is_file():
        raise RuntimeError(f"{PACKAGE} has no {BUNDLE} in {folder}")
    return folder


def copy_mathjax(source: pathlib.Path, static: pathlib.Path) -> pathlib.Path:
    """Copies the SVG bundle and the folders it loads from into static/mathjax; returns that folder."""
    target = static / "mathjax"
    target.mkdir(parents=True, exist_ok=True)
    shutil.copy2(source / BUNDLE, target / BUNDLE)
    for entry in sorted(source.iterdir()):
        if entry.is_dir() and entry.name not in UNUSED_TOP:
            shutil.copytree(entry, target / entry.name, dirs_exist_ok=True)
    return target


def _config_inited(app, config) -> None:
    config.mathjax_path = MATHJAX_PATH
    options = dict(config.mathjax3_config or {})
    # one copy of each glyph per page rather than one per formula
    options.setdefault("svg", {"fontCache": "global"})
    config.mathjax3_config = options


def _build_finished(app, exception) -> None:
    if exception is None and app.builder.format == "html":
        copy_mathjax(mathjax_source(), pathlib.Path(app.outdir) / "_static")


def setup(app):
    mathjax_source()  # fail at the start of a build, not after it, when the package is missing
    app.setup_extension("sphinx.ext.mathjax")
    app.connect("config-inited", _config_inited)
    app.connect("build-finished", _build_finished)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
