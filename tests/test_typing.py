"""User code type-checks against the public API: ``mypy --strict`` passes on the README's Python
examples and on tests/typing/check_api.py, which calls every public function once.

The package itself is followed silently (its own annotations need not be strict); what must
hold is that a user's annotated code sees real names with parameter and return types. Skipped
when mypy is not installed.
"""
from __future__ import annotations

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
        if blocks:
            sections.append((section.splitlines()[0], "\n".join(blocks)))
    return sections


def _mypy(paths: list) -> subprocess.CompletedProcess:
    return subprocess.run(MYPY + [str(p) for p in paths], capture_output=True, text=True, cwd=ROOT, timeout=600)


def test_readme_examples_pass_mypy_strict(tmp_path):
    sections = readme_sections()
    assert sections
    paths = []
    for k, (title, code) in enumerate(sections):
        path = tmp_path / f"readme_section_{k}.py"
        path.write_text(f"# README section: {title}\n{code}", encoding="utf-8")
        paths.append(path)
    result = _mypy(paths)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_api_check_file_passes_mypy_strict():
    result = _mypy([ROOT / "tests" / "typing" / "check_api.py"])
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_sees_a_wrong_call(tmp_path):
    """The check can fail: a call with a wrong argument type is reported."""
    path = tmp_path / "wrong.py"
    path.write_text("import intrinsic_flow as itf\n\nrank: str = itf.rank_lift(itf.ReLUNet([2, 2]), [1.0] * 4)\n")
    result = _mypy([path])
    assert result.returncode != 0, result.stdout
    assert "Incompatible types in assignment" in result.stdout
