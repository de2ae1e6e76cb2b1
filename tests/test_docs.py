"""The documentation sources, the package, the C++ core and the benchmarks name no file outside the
repository, and every theory page the docstrings and the README point to exists."""
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
OUTSIDE = re.compile(r"main_paper|related_papers|shared/|API\.md|BUILD_NOTES")
THEORY_PAGES = ["index", "lifting", "laws", "criteria", "intrinsic", "ranks", "flows", "references"]


def doc_sources():
    docs = ROOT / "docs"
    files = [ROOT / "README.md"]
    for pattern in ("*.md", "*.rst", "*.py"):
        files += [p for p in docs.rglob(pattern) if "_build" not in p.parts and "auto_examples" not in p.parts
                  and "generated" not in p.parts]
    for folder, patterns in (("python", ("*.py", "*.pyi")), ("cpp", ("*.hpp", "*.cpp", "*.txt", "*.cmake")),
                             ("bench", ("*.py",)), ("tools", ("*",))):
        for pattern in patterns:
            files += [p for p in (ROOT / folder).rglob(pattern) if p.is_file() and "__pycache__" not in p.parts]
    return files


THEORY_LINK = re.compile(r"docs/theory/([a-z_]+)\.md")


@pytest.mark.parametrize("path", [p for p in doc_sources() if p.suffix in (".py", ".hpp", ".cpp")],
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_every_theory_page_named_in_code_exists(path):
    for page in THEORY_LINK.findall(path.read_text(encoding="utf-8")):
        assert (ROOT / "docs" / "theory" / f"{page}.md").is_file(), page


@pytest.mark.parametrize("path", doc_sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_documentation_names_no_outside_file(path):
    hits = [line for line in path.read_text(encoding="utf-8").splitlines() if OUTSIDE.search(line)]
    assert hits == []


@pytest.mark.parametrize("page", THEORY_PAGES)
def test_theory_page_exists(page):
    assert (ROOT / "docs" / "theory" / f"{page}.md").is_file()


def test_readme_links_to_existing_docs():
    links = re.findall(r"\]\((docs/[^)#]+)", (ROOT / "README.md").read_text(encoding="utf-8"))
    assert links, "the README links to the documentation"
    for link in links:
        assert (ROOT / link).exists(), link


USAGE = ROOT / "docs" / "usage.md"
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


@pytest.mark.parametrize("index", range(len(BLOCK.findall(USAGE.read_text(encoding="utf-8")))))
def test_usage_example_runs_on_its_own(index, capsys):
    code = BLOCK.findall(USAGE.read_text(encoding="utf-8"))[index]
    exec(compile(code, f"usage.md#{index}", "exec"), {})
    assert capsys.readouterr().out.strip()


DOCTEST_MODULES = ["intrinsic_flow", "intrinsic_flow._backend", "intrinsic_flow.models", "intrinsic_flow.neural_ode",
                   "intrinsic_flow._rank", "intrinsic_flow._flowbackend", "intrinsic_flow._intrinsic",
                   "intrinsic_flow._criteria", "intrinsic_flow._liealgebra", "intrinsic_flow.polynomial",
                   "intrinsic_flow.losses", "intrinsic_flow.scan", "intrinsic_flow.results",
                   "intrinsic_flow._parsimony", "intrinsic_flow._pathnorm",
                   "intrinsic_flow._parameterizations", "intrinsic_flow.datasets",
                   "intrinsic_flow._symmetries", "intrinsic_flow.symmetries"]


@pytest.mark.parametrize("name", DOCTEST_MODULES)
def test_docstring_examples_run(name):
    """Every ``>>>`` example of the API reference prints what its docstring says."""
    import doctest
    import importlib

    import intrinsic_flow

    threads = intrinsic_flow.build_info()["threads"]  # an example sets the thread count
    try:
        result = doctest.testmod(importlib.import_module(name), verbose=False,
                                 optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    finally:
        intrinsic_flow.set_num_threads(threads)
    assert result.attempted > 0, f"{name} has no docstring example"
    assert result.failed == 0


# -- the documentation's own Sphinx extensions (docs/_ext), without a Sphinx build ------------------

def _extension(name):
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / "_ext" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_bars_are_escaped_in_prose_only():
    escape = _extension("api_docstrings").escape_bars
    lines = ["a norm |x| and :math:`\\|x\\| =", "   \\|y\\|` then ``a|b``", "", ".. math::", "",
             "    \\|z\\|_F", "", "after |q|", "| a | grid |"]
    escape(None, "function", "f", None, None, lines)
    assert lines == ["a norm \\|x\\| and :math:`\\|x\\| =", "   \\|y\\|` then ``a|b``", "", ".. math::", "",
                     "    \\|z\\|_F", "", "after \\|q\\|", "| a | grid |"]


def test_members_without_their_own_docstring_are_skipped():
    skip = _extension("api_docstrings").skip_undocumented

    class Example:
        field = 3

        def documented(self):
            """Text."""

        def bare(self):
            pass

        @property
        def size(self):
            return 1

    members = {name: Example.__dict__[name] for name in ("field", "documented", "bare", "size")}
    assert {name: skip(None, "class", name, obj, False, {}) for name, obj in members.items()} == \
        {"field": True, "documented": None, "bare": True, "size": True}
    assert skip(None, "module", "bare", members["bare"], False, {}) is None  # module-level names: autodoc decides


def test_formulas_are_served_from_the_documentation_itself():
    """MathJax comes from _static (the docs extra's package), never from a CDN."""
    import tomllib

    conf = (ROOT / "docs" / "conf.py").read_text(encoding="utf-8")
    assert '"offline_math"' in conf and "sphinx.ext.mathjax" not in conf
    assert "mathjax_path" not in conf  # set by the extension, to a file under _static
    offline = _extension("offline_math")
    assert "://" not in offline.MATHJAX_PATH and not offline.MATHJAX_PATH.startswith("/")
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["optional-dependencies"]["docs"]
    assert any(requirement.startswith(offline.PACKAGE) for requirement in extra)


def test_mathjax_bundle_is_copied(tmp_path):
    offline = _extension("offline_math")
    try:
        source = offline.mathjax_source()
    except RuntimeError:
        pytest.skip("the docs extra is not installed (sphinx-mathjax-offline)")
    target = offline.copy_mathjax(source, tmp_path / "_static")
    assert (target / "tex-svg.js").stat().st_size > 1_000_000
    assert (target / "input" / "tex" / "extensions" / "boldsymbol.js").is_file()  # loaded on demand
    assert not (target / "tex-chtml.js").exists()  # the other bundles stay out
