"""The console command never shows a traceback: one line and status 2 for bad input, 130 for
Ctrl-C, 1 and a hint for a bug. Each command runs in a subprocess, as a user runs it."""
import os
import pathlib
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow.cli import main
from intrinsic_flow.scan import ScanResult

# runs main() after an optional preamble (a simulated environment), as the console script does
WRAPPER = """
import sys
{preamble}
from intrinsic_flow.cli import main
sys.exit(main(sys.argv[1:]))
"""


def run(*argv, preamble="", timeout=120):
    command = [sys.executable, "-m", "intrinsic_flow.cli"] if not preamble else \
        [sys.executable, "-c", WRAPPER.format(preamble=preamble)]
    return subprocess.run(command + [str(a) for a in argv], capture_output=True, text=True, timeout=timeout)


class Result:
    """What main() returned and printed when called in this process (for the many small cases)."""

    def __init__(self, capsys, argv):
        try:
            self.returncode = main([str(a) for a in argv])
        except SystemExit as exit:  # argparse's answer to a bad option
            self.returncode = exit.code
        captured = capsys.readouterr()
        self.stdout, self.stderr = captured.out, captured.err


def one_line_error(result, code=2) -> str:
    """The single line a failing command prints on stderr."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def usage_error(result) -> str:
    """argparse's answer to a bad option: one line, as for any other error (no usage block); status 2."""
    line = one_line_error(result)
    assert not line.startswith("usage:"), line
    return line


# -- scan --------------------------------------------------------------------------------------
def test_scan_out_into_a_missing_directory(tmp_path):
    out = tmp_path / "new" / "deeper" / "scan.npz"
    result = run("scan", "--model", "linear", "--widths", "2,2,2", "--samples", "12", "--out", out)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert f"rows saved to {out}" in result.stdout
    assert len(ScanResult.load(out)) == 12


def test_scan_out_that_cannot_be_written(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    line = one_line_error(run("scan", "--model", "linear", "--widths", "2,2,2", "--samples", "5",
                              "--out", blocker / "scan.npz"))
    assert line.startswith("intrinsic-flow scan: error: [Errno") and str(blocker) in line


def test_zero_samples_names_the_flag():
    line = usage_error(run("scan", "--model", "relu", "--widths", "2,3,1", "--samples", "0"))
    assert line == "intrinsic-flow scan: error: argument --samples: expected an integer >= 1, got '0'"


@pytest.mark.parametrize("command", ["scan", "inspect", "laws"])
def test_negative_seed_names_the_flag(command, capsys):
    line = usage_error(Result(capsys, [command, "--model", "relu", "--widths", "2,3,1", "--seed", "-1"]))
    assert line == f"intrinsic-flow {command}: error: argument --seed: expected an integer >= 0, got '-1'"


def test_oversized_scan_without_out_names_the_flags():
    begin = time.monotonic()
    line = one_line_error(run("scan", "--model", "relu", "--widths", "2,3,1", "--samples", "1000000000"))
    assert line == ("intrinsic-flow scan: error: --samples 1000000000 x 1 init scheme: the rows need 96.9 GiB in "
                    "memory, more than --max-bytes 2.0 GiB; give --out FILE to stream them to disk, or fewer --samples")
    assert time.monotonic() - begin < 30  # refused before any work


def test_large_scan_streams_to_out(tmp_path):
    out = tmp_path / "scan.parquet"
    result = run("scan", "--model", "relu", "--widths", "2,3,1", "--init", "gaussian", "--init", "sparse:0.5",
                 "--samples", "100", "--chunk-size", "20", "--max-bytes", "10K", "--out", out)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert f"rows saved to 10 files in {out}.parts/" in result.stdout and not out.exists()
    expected = itf.scan(itf.ReLUNet([2, 3, 1]), 100, init=["gaussian", "sparse:0.5"])
    assert str(expected.summary()) in result.stdout
    loaded = ScanResult.load(out)  # the default max_bytes here: back in memory
    for column in expected.columns:
        np.testing.assert_array_equal(loaded.rows[column], expected.rows[column])


def test_unreachable_dask_scheduler():
    pytest.importorskip("dask.distributed")
    begin = time.monotonic()
    line = one_line_error(run("scan", "--model", "linear", "--widths", "2,2,2", "--samples", "5",
                              "--dask", "tcp://127.0.0.1:9", "--dask-timeout", "0.5"))
    assert line.startswith("intrinsic-flow scan: error: no Dask scheduler answered at 'tcp://127.0.0.1:9' "
                           "within timeout = 0.5 s")
    assert time.monotonic() - begin < 30


@pytest.mark.parametrize("value", ["0", "-3", "nan", "inf", "soon"])
def test_dask_timeout_must_be_positive(value, capsys):
    line = usage_error(Result(capsys, ["scan", "--model", "linear", "--widths", "2,2,2", "--dask-timeout", value]))
    assert line == f"intrinsic-flow scan: error: argument --dask-timeout: expected a positive number of seconds, got '{value}'"


# -- scan files without pyarrow ----------------------------------------------------------------
@pytest.mark.parametrize("name", ["missing.parquet", "missing.npz"])
def test_loading_a_missing_scan_file_says_it_is_missing(tmp_path, monkeypatch, name):
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # as if it were not installed
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(FileNotFoundError, match="does not exist") as error:
        ScanResult.load(tmp_path / name)
    assert str(tmp_path / name) in str(error.value) and "pyarrow" not in str(error.value)


def test_reading_parquet_without_pyarrow_says_reading(tmp_path, monkeypatch):
    pytest.importorskip("pyarrow")
    path = tmp_path / "scan.parquet"
    itf.scan(itf.ReLUNet([2, 3, 1]), 4, progress=False).save(path)
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ValueError) as error:
        ScanResult.load(path)
    assert str(error.value) == f"reading .parquet needs pyarrow: {HINT.format('scan')}; or save the scan as .npz"


def test_scan_to_parquet_without_pyarrow_says_writing(tmp_path):
    line = one_line_error(run("scan", "--model", "linear", "--widths", "2,2", "--samples", "3", "--out",
                              tmp_path / "scan.parquet", preamble="sys.modules['pyarrow'] = None"))
    assert line == f"intrinsic-flow scan: error: writing .parquet needs pyarrow: {HINT.format('scan')}; or use .npz"


SLOW_CHUNKS = """
import time
import intrinsic_flow
scan_module = sys.modules["intrinsic_flow.scan"]
evaluate = scan_module.evaluate_chunk
def slow(*args):  # a slow machine: time to press Ctrl-C mid-scan
    time.sleep(0.05)
    return evaluate(*args)
scan_module.evaluate_chunk = slow
"""


@pytest.mark.parametrize("mode", ["in-memory", "streamed", "dask"])
def test_ctrl_c_exits_130_and_keeps_the_checkpoint(tmp_path, mode):
    if mode == "dask":  # closing the cluster must not log the cancelled tasks
        pytest.importorskip("dask.distributed")
    streamed = mode == "streamed"
    out = tmp_path / "scan.npz"
    parts = tmp_path / "scan.npz.parts"
    argv = ["scan", "--model", "linear", "--widths", "3,3,3", "--init", "sparse:0.2", "--samples", "600",
            "--chunk-size", "5", "--seed", "3", "--out", str(out)] + \
        {"in-memory": [], "streamed": ["--max-bytes", "40K"], "dask": ["--dask"]}[mode]
    child = subprocess.Popen([sys.executable, "-c", WRAPPER.format(preamble=SLOW_CHUNKS)] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("*.npz"))) < 3 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130, stderr
    assert stderr.strip() == (f"intrinsic-flow scan: interrupted; the finished rows are kept in {out}: "
                              "run the same command again to resume")
    if streamed:  # the parts are the checkpoint
        assert not out.exists() and len(list(parts.glob("*.npz"))) >= 3
    else:  # merged into the file
        assert out.exists() and not parts.exists()
    partial = ScanResult.load(out)
    assert 15 <= len(partial) < 600
    resumed = run(*argv)  # the same command, without the slow-down, finishes the scan
    assert resumed.returncode == 0 and resumed.stderr == "", resumed.stderr
    expected = itf.scan(itf.LinearNet([3, 3, 3]), 600, init="sparse:0.2", seed=3)
    assert str(expected.summary()) in resumed.stdout
    finished = ScanResult.load(out)
    for column in expected.columns:
        np.testing.assert_array_equal(finished.rows[column], expected.rows[column])


# -- report ------------------------------------------------------------------------------------
HINT = 'pip install "intrinsic-flow[{0}]" (from a source checkout: pip install ".[{0}]")'


@pytest.mark.parametrize("command", ["report", "reproduce"])
def test_report_without_matplotlib_says_how_to_install_it(tmp_path, command):
    begin = time.monotonic()
    argv = [command] + (["parsimony"] if command == "reproduce" else []) + ["--quick", "--out", tmp_path / "report"]
    result = run(*argv, preamble="sys.modules['matplotlib'] = None  # as if it were not installed")
    line = one_line_error(result)
    what = "the report draws its" if command == "report" else "the reproductions draw their"
    assert line == (f"intrinsic-flow {command}: error: {what} figures with matplotlib, which is not installed: "
                    + HINT.format("report"))
    assert result.stdout == "" and not (tmp_path / "report").exists()  # before any work
    assert time.monotonic() - begin < 30


@pytest.mark.parametrize("out", ["/dev/null", "file", "file/report"])
def test_report_into_a_file_path(tmp_path, out, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("")
    out = out if out.startswith("/") else str(tmp_path / out)
    begin = time.monotonic()
    line = one_line_error(Result(capsys, ["report", "--quick", "--out", out]))
    file = "/dev/null" if out == "/dev/null" else str(blocker)
    assert line == (f"intrinsic-flow report: error: --out {out!r}: {file!r} is a file, not a folder; "
                    "the report is a folder (report.html, report.md, figures/)")
    assert time.monotonic() - begin < 5 and sorted(tmp_path.iterdir()) == [blocker]  # before any work


@pytest.mark.parametrize("out", ["", " "])
def test_report_into_an_empty_out(tmp_path, monkeypatch, capsys, out):
    monkeypatch.chdir(tmp_path)
    line = one_line_error(Result(capsys, ["report", "--quick", "--out", out]))
    assert line == (f"intrinsic-flow report: error: --out {out!r} is empty; give a folder, "
                    "e.g. --out intrinsic-flow-report")
    assert list(tmp_path.iterdir()) == []


# -- writing a report: all or nothing ---------------------------------------------------------
def stand_in_paper(monkeypatch, n_figures, interrupt=None, theory=False):
    """reproductions.paper(...) returns one small section of n_figures falling lines (linking a
    theory page when theory); interrupt "section" presses Ctrl-C while it runs, "figure" while the
    second figure is written."""
    import types

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from intrinsic_flow import report, reproductions
    from intrinsic_flow.report import Section

    def section(quick):
        if interrupt == "section":
            raise KeyboardInterrupt
        figures = []
        for k in range(n_figures):
            figure, ax = plt.subplots()
            ax.plot([0, 1], [k, 0])
            figures.append((f"line {k}", figure))
        text = "one paragraph" + (" ([the ranks](theory/ranks.md))" if theory else "")
        return Section("a stand-in experiment", text, figures)

    stand_in = types.SimpleNamespace(TITLE=f"A paper with {n_figures} figures", SECTIONS=[section])
    monkeypatch.setattr(reproductions, "paper", lambda name: stand_in)
    if interrupt == "figure":
        png = report.Report.png

        def png_then_interrupt(self, s, f):
            if f == 2:
                raise KeyboardInterrupt
            return png(self, s, f)

        monkeypatch.setattr(report.Report, "png", png_then_interrupt)


def contents(folder) -> dict:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("interrupt", ["section", "figure"])
def test_an_interrupted_reproduce_writes_nothing(tmp_path, monkeypatch, capsys, interrupt):
    stand_in_paper(monkeypatch, 3, interrupt)
    out = tmp_path / "deeper" / "out"
    assert main(["reproduce", "symmetries", "--out", str(out)]) == 130
    assert list(tmp_path.iterdir()) == []  # no half folder, no temporary one
    assert "nothing was written" in capsys.readouterr().err


@pytest.mark.parametrize("interrupt", ["section", "figure"])
def test_an_interrupted_reproduce_keeps_the_previous_report(tmp_path, monkeypatch, capsys, interrupt):
    out = tmp_path / "out"
    stand_in_paper(monkeypatch, 3)
    assert main(["reproduce", "symmetries", "--out", str(out)]) == 0
    before = contents(out)
    assert "report.html" in before and "figures/figure-1-3.png" in before
    stand_in_paper(monkeypatch, 2, interrupt)
    assert main(["reproduce", "symmetries", "--out", str(out)]) == 130
    assert contents(out) == before and list(tmp_path.iterdir()) == [out]
    assert f"the previous report in {str(out)!r} is unchanged" in capsys.readouterr().err


def test_a_new_report_replaces_its_own_files_only(tmp_path, monkeypatch):
    out = tmp_path / "out"
    stand_in_paper(monkeypatch, 3, theory=True)
    assert main(["reproduce", "symmetries", "--out", str(out)]) == 0
    assert "theory/ranks.md" in contents(out)
    (out / "notes.txt").write_text("mine")
    (out / "figures" / "sketch.txt").write_text("mine too")
    stand_in_paper(monkeypatch, 1)
    assert main(["reproduce", "symmetries", "--out", str(out)]) == 0
    # figures 1-2 and 1-3 and the theory page were the old report's
    assert sorted(contents(out)) == ["figures/figure-1-1.png", "figures/sketch.txt", "notes.txt",
                                     "report.html", "report.md"]
    assert sorted(p.name for p in out.iterdir()) == ["figures", "notes.txt", "report.html", "report.md"]
    assert "A paper with 1 figures" in (out / "report.html").read_text()
    assert list(tmp_path.iterdir()) == [out]


SLOW_SECTION = """
import pathlib, time, types
import matplotlib
matplotlib.use("Agg")
from intrinsic_flow import reproductions
def section(quick):
    pathlib.Path(sys.argv[-1] + ".running").touch()
    time.sleep(60)
reproductions.paper = lambda name: types.SimpleNamespace(TITLE="slow", SECTIONS=[section])
"""


def test_ctrl_c_during_reproduce_leaves_no_folder(tmp_path):
    out = tmp_path / "out"
    argv = ["reproduce", "symmetries", "--out", str(out)]
    child = subprocess.Popen([sys.executable, "-c", WRAPPER.format(preamble=SLOW_SECTION)] + argv,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not pathlib.Path(f"{out}.running").exists() and time.monotonic() < deadline:
            time.sleep(0.01)
        pressed = time.monotonic()
        child.send_signal(signal.SIGINT)
        _, stderr = child.communicate(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == 130 and time.monotonic() - pressed < 10, stderr
    assert stderr.strip() == f"intrinsic-flow reproduce: interrupted; nothing was written to {str(out)!r}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.running"]


# -- reproduce ---------------------------------------------------------------------------------
def test_reproduce_writes_the_sections_of_the_paper(tmp_path, monkeypatch, capsys):
    """The command runs the paper's SECTIONS (here one small stand-in) and writes them as a report."""
    import types

    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from intrinsic_flow import reproductions
    from intrinsic_flow.report import Section

    calls = []

    def section(quick):
        calls.append(quick)
        figure, ax = plt.subplots()
        ax.plot([0, 1], [1, 0])
        return Section("a stand-in experiment", "one paragraph", [("a falling line", figure)])

    stand_in = types.SimpleNamespace(TITLE="A paper", SECTIONS=[section])
    monkeypatch.setattr(reproductions, "paper", lambda name: stand_in)
    assert main(["reproduce", "symmetries", "--quick", "--out", str(tmp_path / "out")]) == 0
    assert calls == [True]
    page = (tmp_path / "out" / "report.html").read_text()
    assert "<title>A paper</title>" in page and "a falling line" in page
    assert (tmp_path / "out" / "figures" / "figure-1-1.png").stat().st_size > 0
    assert capsys.readouterr().out.startswith("# A paper")


def test_reproduce_every_listed_paper_has_sections():
    from intrinsic_flow import reproductions

    for name in reproductions.PAPERS:
        module = reproductions.paper(name)
        assert module.TITLE and module.SECTIONS and all(callable(f) for f in module.SECTIONS), name


def test_reproduce_an_unknown_paper_names_the_choices(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["reproduce", "nonsense"])
    assert exit_.value.code == 2
    assert "invalid choice: 'nonsense' (choose from" in capsys.readouterr().err


# -- inspect, laws and the common options ------------------------------------------------------
def test_inspect_of_a_huge_model_is_refused_before_allocating():
    line = one_line_error(run("inspect", "--model", "relu", "--widths", "1000000,1000000"))
    assert line.startswith("intrinsic-flow inspect: error: the Gram matrix (D x D) of the ranks would need ")
    assert "TiB" in line and "intrinsic_flow.config.max_bytes = 2.0 GiB" in line
    assert line.endswith("(on the command line: --max-bytes)")


def test_max_bytes_is_the_knob():
    line = one_line_error(run("inspect", "--model", "relu", "--widths", "3,2", "--max-bytes", "100"))
    assert "would need 576 B (72 values), more than intrinsic_flow.config.max_bytes = 100 B" in line
    assert run("--max-bytes", "1K", "inspect", "--model", "relu", "--widths", "3,2").returncode == 0
    line = usage_error(run("inspect", "--model", "relu", "--widths", "3,2", "--max-bytes", "lots"))
    assert line == ("intrinsic-flow inspect: error: argument --max-bytes: expected a number of bytes such as 4G, "
                    "512M or 1000000, got 'lots'")


@pytest.mark.parametrize("text,value", [("4G", 4 * 1024**3), ("512M", 512 * 1024**2), ("1e6", 10**6),
                                        ("1000", 1000), ("1.5KiB", 1536), ("2gb", 2 * 1024**3)])
def test_max_bytes_sizes(text, value):
    from intrinsic_flow.cli import max_bytes

    assert max_bytes(text) == value


@pytest.mark.parametrize("text", ["1e400", "1e99999999", "9" * 400, "1e" + "9" * 5000, "0", "0.5", "-1", "nan", "inf"])
def test_max_bytes_out_of_range_is_one_line(text):
    begin = time.monotonic()
    line = usage_error(run("--max-bytes", text, "laws", "--model", "linear", "--widths", "2,2", timeout=20))
    assert line.startswith("intrinsic-flow: error: argument --max-bytes: expected a number of bytes")
    assert time.monotonic() - begin < 15  # parsed, not computed: 10**99999999 takes minutes


@pytest.mark.parametrize("argv,message", [
    (["--nonsense"], "intrinsic-flow: error: unrecognized arguments: --nonsense"),
    (["frobnicate"], "intrinsic-flow: error: argument COMMAND: invalid choice: 'frobnicate'"),
    (["inspect"], "intrinsic-flow inspect: error: the following arguments are required: --model, --widths"),
    (["laws", "--model", "linear", "--widths", "2,2", "--seed"], "intrinsic-flow laws: error: argument --seed: "
                                                                 "expected one argument"),
])
def test_usage_errors_are_one_line(argv, message, capsys):
    """The README's promise: an error prints one line (argparse printed its usage block first)."""
    assert usage_error(Result(capsys, argv)).startswith(message)


def test_no_command_is_one_line(capsys):
    line = usage_error(Result(capsys, []))
    assert line.startswith("intrinsic-flow: error: a COMMAND is needed: report, inspect, laws, scan, reproduce")
    assert "--help" in line


@pytest.mark.parametrize("argv", [["--help"], ["inspect", "--help"], ["--version"]])
def test_help_and_version_exit_0(argv, capsys):
    result = Result(capsys, argv)
    assert result.returncode == 0 and result.stderr == "" and result.stdout


def test_main_restores_max_bytes(capsys):
    before = itf.config.max_bytes
    assert main(["inspect", "--model", "relu", "--widths", "3,2", "--max-bytes", "100"]) == 2
    assert itf.config.max_bytes == before
    assert "--max-bytes" in capsys.readouterr().err


@pytest.mark.parametrize("argv,message", [
    (["inspect", "--model", "linear", "--widths", "3,2", "--bias"], "--bias applies to --model relu only"),
    (["scan", "--model", "relu", "--widths", "2,3,1", "--init", "xavier"], "unknown init scheme 'xavier'"),
    (["scan", "--model", "relu", "--widths", "2,3,1", "--out", "scan.csv"], "scan files end in .npz or .parquet"),
    (["scan", "--model", "relu", "--widths", "2,3,1", "--dask", "nonsense"], "nonsense"),
])
def test_bad_input_is_one_line(argv, message, capsys):
    line = one_line_error(Result(capsys, argv))
    assert line.startswith(f"intrinsic-flow {argv[0]}: error: ") and message in line


@pytest.mark.parametrize("name", ["ReLU", "RELU", "Linear"])
def test_model_names_ignore_case(name, capsys):
    result = Result(capsys, ["laws", "--model", name, "--widths", "2,2"])
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert f"{name.lower()[:4]}" in result.stdout.lower()


def test_an_unknown_model_names_the_choices(capsys):
    line = usage_error(Result(capsys, ["laws", "--model", "conv", "--widths", "2,2"]))
    assert line == "intrinsic-flow laws: error: argument --model: invalid choice: 'conv' (choose from 'relu', 'linear')"


def test_paper_and_bias_names_ignore_case():
    from intrinsic_flow.cli import build_parser

    args = build_parser().parse_args(["reproduce", "Parsimony", "--out", "x"])
    assert args.paper == "parsimony"
    args = build_parser().parse_args(["inspect", "--model", "relu", "--widths", "2,2", "--bias", "Hidden"])
    assert args.bias == "hidden"


@pytest.mark.parametrize("text,problem", [
    ("3,0,1", "width 2 is 0; every width must be a positive integer"),
    ("3,5,-2", "width 3 is -2; every width must be a positive integer"),
    ("0,5", "width 1 is 0; every width must be a positive integer"),
    ("3", "needs at least two widths (input and output)"),
    ("3,,1", "width 2 is empty"),
    ("3,x,1", "width 2 is not an integer: 'x'"),
    ("3,2.5", "width 2 is not an integer: '2.5'"),
    ("", "width 1 is empty"),
    ("3," + "9" * 5000, "width 2 is too large"),
])
def test_widths_name_the_problem(text, problem, capsys):
    line = usage_error(Result(capsys, ["inspect", "--model", "relu", "--widths", text]))
    assert line.startswith(f"intrinsic-flow inspect: error: argument --widths: {problem}"), line
    assert len(line) < 300  # the offending text is shortened, not echoed in full


def test_undecodable_bytes_in_arguments(tmp_path):
    """A file name with bytes that are not UTF-8 (a lone surrogate in Python) is printed escaped, even
    where the output stream is strict (PYTHONIOENCODING=utf-8:strict, as a UTF-8 terminal often is)."""
    strict = {**os.environ, "PYTHONIOENCODING": "utf-8:strict"}
    command = [sys.executable, "-m", "intrinsic_flow.cli"]
    out = os.fsencode(tmp_path) + b"/\xff.npz"
    result = subprocess.run(command + [b"scan", b"--model", b"linear", b"--widths", b"2,2", b"--samples", b"3",
                                       b"--out", out], capture_output=True, env=strict, timeout=120)
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    assert f"rows saved to {os.fsdecode(tmp_path)}/\\udcff.npz".encode() in result.stdout
    assert os.path.exists(out)
    result = subprocess.run(command + [b"laws", b"--model", b"linear", b"--widths", b"2,2", b"\xff"],
                            capture_output=True, env=strict, timeout=120)
    assert result.returncode == 2
    assert result.stderr == b"intrinsic-flow: error: unrecognized arguments: \\udcff\n"


def test_undecodable_bytes_in_process(capsys):
    """main() in a program whose streams are strict (pytest's are): the error still prints."""
    line = usage_error(Result(capsys, ["laws", "--model", "linear", "--widths", "2,2", "\udcff"]))
    assert line == "intrinsic-flow: error: unrecognized arguments: \\udcff"


BUG = """
import intrinsic_flow.commands.inspect as inspect
def broken(model, seed=0):
    raise RuntimeError("an unexpected state")
inspect.inspect_model = broken
"""


def test_a_bug_is_one_line_with_a_hint():
    line = one_line_error(run("inspect", "--model", "relu", "--widths", "3,2", preamble=BUG), code=1)
    assert line == ("intrinsic-flow inspect: internal error: RuntimeError: an unexpected state "
                    "(rerun with --debug for the traceback and report it)")


@pytest.mark.parametrize("where", ["before", "after"])
def test_debug_shows_the_traceback(where):
    argv = ["inspect", "--model", "relu", "--widths", "3,2"]
    argv = ["--debug"] + argv if where == "before" else argv + ["--debug"]
    result = run(*argv, preamble=BUG)
    assert result.returncode == 1 and "Traceback" in result.stderr
    assert result.stderr.strip().endswith("RuntimeError: an unexpected state")
    result = run(*argv, "--max-bytes", "100")
    assert "Traceback" in result.stderr and "ValueError: the Gram matrix" in result.stderr


def test_a_closed_output_pipe_is_quiet():
    reader = subprocess.Popen([sys.executable, "-c", "pass"], stdin=subprocess.PIPE)
    reader.wait(timeout=60)  # nobody reads the pipe any more: writing to it fails (EPIPE)
    try:
        writer = subprocess.run([sys.executable, "-m", "intrinsic_flow.cli", "laws", "--model", "linear", "--widths",
                                 "2,3,2"], stdout=reader.stdin, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        reader.stdin.close()
    assert writer.returncode == 1 and writer.stderr == ""
