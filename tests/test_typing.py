"""User code type-checks against the public API: ``mypy --strict`` passes on the README's Python
examples and on tests/typing/check_api.py, which calls every public function once.

The package itself is followed silently (its own annotations need not be strict); what must
hold is that a user's annotated code sees real names with parameter and return types. Skipped
when mypy is not installed.
"""
from __future__ import annotations

import importlib.util
import pathlib
import re
import subprocess
import sys

import pytest

pytest.importorskip("mypy")

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
PYTHON_BLOCK = re.compile(r"```python\n(.*?)```", re.S)
MYPY = [sys.executable, "-m", "mypy", "--strict", "--follow-imports=silent", "--allow-redefinition",
        "--no-incremental", "--cache-dir=/dev/null", "--show-error-codes"]


def readme_sections() -> list:
    """One file per README section: its ```python blocks in order (they share a namespace)."""
    sections = []
    for section in re.split(r"\n## ", README.read_text(encoding="utf-8")):
        blocks = PYTHON_BLOCK.findall(section)
        imported = re.findall(r"^(?:import|from) (\w+)", "\n".join(blocks), re.M)
        if any(importlib.util.find_spec(name) is None for name in imported):
            continue  # an example of an optional extra (torch) that is not installed
        if blocks:
            sections.append((section.splitlines()[0], "\n".join(blocks)))
    return sections


def _mypy(paths: list) -> subprocess.CompletedProcess:
    return subprocess.run(MYPY + [str(p) for p in paths], capture_output=True, text=True, cwd=ROOT, timeout=600)


WRONG_CALL = "import intrinsic_flow as itf\n\nrank: str = itf.rank_lift(itf.ReLUNet([2, 2]), [1.0] * 4)\n"


@pytest.fixture(scope="module")
def checked(tmp_path_factory) -> dict:
    """One mypy run over every file (mypy's start-up dominates): {file label: its error lines}."""
    folder = tmp_path_factory.mktemp("typing")
    files = {"api": ROOT / "tests" / "typing" / "check_api.py", "wrong": folder / "wrong.py"}
    files["wrong"].write_text(WRONG_CALL, encoding="utf-8")
    for k, (title, code) in enumerate(readme_sections()):
        files[f"readme {k}"] = folder / f"readme_section_{k}.py"
        files[f"readme {k}"].write_text(f"# README section: {title}\n{code}", encoding="utf-8")
    result = _mypy(list(files.values()))
    assert "error: " in result.stdout or result.returncode == 0, result.stdout + result.stderr  # mypy itself ran
    return {label: [line for line in result.stdout.splitlines() if line.startswith(str(path) + ":")]
            for label, path in files.items()}


def test_readme_examples_pass_mypy_strict(checked):
    readme = {label: errors for label, errors in checked.items() if label.startswith("readme")}
    assert readme, "no python example found in README.md"
    assert {label: errors for label, errors in readme.items() if errors} == {}


def test_the_api_check_file_passes_mypy_strict(checked):
    assert checked["api"] == []


def test_mypy_sees_a_wrong_call(checked):
    """The check can fail: a call with a wrong argument type is reported."""
    assert any("Incompatible types in assignment" in line for line in checked["wrong"]), checked["wrong"]
