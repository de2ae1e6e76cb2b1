"""Packaging: the licence, the version flag, and what an sdist contains."""
import pathlib
import tarfile

import pytest

import intrinsic_flow as itf
from intrinsic_flow import cli

ROOT = pathlib.Path(__file__).resolve().parents[1]
needs_source_tree = pytest.mark.skipif(not (ROOT / "pyproject.toml").is_file(), reason="needs the source tree")


@needs_source_tree
def test_license_file_is_the_bsd_3_clause_the_metadata_declares():
    text = (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")
    assert "Copyright (c) 2026, the intrinsic-flow developers" in text
    assert 'license = { text = "BSD-3-Clause" }' in (ROOT / "pyproject.toml").read_text()


def test_version_flag(capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f"intrinsic-flow {itf.__version__}" == "intrinsic-flow 0.1.0"


@needs_source_tree
def test_sdist_leaves_out_generated_output(tmp_path, monkeypatch):
    """A report folder, built wheels and build trees next to the sources never enter an sdist, with or
    without git (the sdist settings of pyproject.toml, not only .gitignore)."""
    build = pytest.importorskip("scikit_build_core.build")
    project = tmp_path / "project"
    for name in ("pyproject.toml", "README.md", "LICENSE", "CMakeLists.txt"):
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_bytes((ROOT / name).read_bytes())
    generated = ["intrinsic-flow-report/report.html", "intrinsic-flow-symmetries/report.html", "dist/old.whl", "wheelhouse/old.whl", "build/dev/x.o",
                 "python/intrinsic_flow/_core_avx2.so"]
    for name in ["python/intrinsic_flow/__init__.py", "cpp/lifting.cpp", *generated]:
        (project / name).parent.mkdir(parents=True, exist_ok=True)
        (project / name).write_text("x")
    monkeypatch.chdir(project)
    out = tmp_path / "out"
    out.mkdir()
    sdist = out / build.build_sdist(str(out))
    with tarfile.open(sdist) as archive:
        names = {name.split("/", 1)[1] for name in archive.getnames() if "/" in name}
    assert {"LICENSE", "python/intrinsic_flow/__init__.py", "cpp/lifting.cpp"} <= names
    assert not names & set(generated)
    assert not any(name.startswith(("intrinsic-flow-report", "intrinsic-flow-symmetries", "dist/", "wheelhouse/", "build/")) for name in names)


def test_submodules_load_on_attribute_access():
    """``itf.parsimony`` works without importing the submodule first (PEP 562), and importing the
    package does not import the topic modules."""
    import subprocess
    import sys

    script = ("import sys, intrinsic_flow as itf\n"
              "assert 'intrinsic_flow.parsimony' not in sys.modules and 'intrinsic_flow.symmetries' not in sys.modules\n"
              "assert callable(itf.parsimony.factorization) and callable(itf.reference.parsimony.factorization)\n"
              "assert itf.symmetries.alpha(2) > 3 and 'parsimony' in dir(itf)\n"
              "try:\n    itf.no_such_name\nexcept AttributeError as e:\n    assert 'no_such_name' in str(e)\n"
              "else:\n    raise SystemExit('no AttributeError')\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
