"""A fuzz of the console command: generated argument lists (numbers out of range, empty, unicode,
negative, huge, NaN and inf strings, unknown options, options in any order) each end with status 0,
or with one line ``intrinsic-flow[ COMMAND]: error: ...`` on stderr and status 2; never a traceback,
never an internal error, never a slow refusal.

The valid runs are small (widths of at most 4, a few samples) and the reports are stand-ins, so the
test stays within a few seconds. Run it longer by hand with

    INTRINSIC_FLOW_FUZZ_SECONDS=600 INTRINSIC_FLOW_FUZZ_SEED=1 python -m pytest tests/test_cli_fuzz.py -x -q

(the long form also tries ``--dask`` addresses, which import Dask).
"""
import os
import random
import signal
import time
import traceback

import pytest

from intrinsic_flow.cli import main

SECONDS = float(os.environ.get("INTRINSIC_FLOW_FUZZ_SECONDS", "3"))
SEED = int(os.environ.get("INTRINSIC_FLOW_FUZZ_SEED", "0"))
LONG = "INTRINSIC_FLOW_FUZZ_SECONDS" in os.environ
# One case using more CPU than this is a finding (a refusal must come before the work); the wall
# clock limit only catches a hang (the machine may be shared, so wall time says little).
CASE_CPU_SECONDS, CASE_WALL_SECONDS = 10.0, 120.0

# Values that are wrong for most options, or right in a surprising spelling.
NASTY = ["", " ", "-", "--", "-1", "0", "-0", "00", "1", "2", "1.5", "0.5", "1e3", "1e400", "-1e400", "1e99999999",
         "nan", "NaN", "-nan", "inf", "-inf", "Infinity", "9" * 30, "9" * 5000, "0x10", "1_000", "+3", " 4 ", "３",
         "٣", "é", "ReLU", "LINEAR", "💥", "\x00", "\udcff", "a,b", ",", "2,", ",2", "2,,2", "2;2", "2 2",
         "-2,3", "2,-3", "2,0", "2,3,1,", "1e3,2", "4G", "1K", "0B", "8TiB", "1e19", "2**63", "tcp://", "~",
         "/dev/null", "con", "x" * 300]
UNKNOWN = ["--nonsense", "-x", "--modle", "--m", "--w", "--samp", "-", "extra", "--out=", "--=", "---", "--debug=1"]


def small_widths(rng):
    return ",".join(str(rng.randint(1, 4)) for _ in range(rng.randint(2, 4)))


def generate(rng, tmp, index) -> list:
    """One argument list: a command, its options (valid and small, or NASTY), maybe unknown ones."""
    def value(valid):
        return valid() if rng.random() < 0.6 else rng.choice(NASTY)

    out_dir = lambda: str(tmp / f"out{index}")  # noqa: E731
    model_options = {
        "--model": lambda: value(lambda: rng.choice(["relu", "linear", "ReLU", "Linear"])),
        "--widths": lambda: value(lambda: small_widths(rng)),
        "--seed": lambda: value(lambda: str(rng.choice([0, 1, 7, 2**64, 10**30]))),
        "--bias": lambda: rng.choice([None, None, "hidden", "all", "Hidden"] + [rng.choice(NASTY)]),
    }
    commands = {
        "inspect": dict(model_options),
        "laws": {**model_options, "--float": None},
        "scan": {**model_options,
                 "--samples": lambda: value(lambda: str(rng.randint(1, 6))),
                 "--init": lambda: value(lambda: rng.choice(["gaussian", "uniform", "orthogonal", "balanced",
                                                             "relaxed_balanced:1", "relaxed_balanced:0.5,2",
                                                             "sparse:0.5", "sparse:1", "dead_neuron"])),
                 "--chunk-size": lambda: value(lambda: str(rng.choice([1, 2, 5, 10**40]))),
                 "--out": lambda: value(lambda: str(tmp / f"scan{index}.{rng.choice(['npz', 'parquet', 'csv'])}")),
                 "--no-progress": None,
                 **({"--dask": lambda: rng.choice(["nonsense", "", "tcp://", "💥", None]),
                     "--dask-timeout": lambda: value(lambda: "0.5")} if LONG else {})},
        "report": {"--out": lambda: value(out_dir), "--quick": None},
        "reproduce": {"--out": lambda: value(out_dir), "--quick": None},
    }
    name = rng.choice(list(commands) * 4 + ["", "nonsense", "Inspect", "help", "-h", "--version"])
    argv = [name] if name else []
    if name == "reproduce" and rng.random() < 0.9:
        argv.append(value(lambda: rng.choice(["parsimony", "symmetries", "integrable", "Parsimony"])))
    for option, make in commands.get(name, {}).items():
        if rng.random() < (0.9 if option in ("--model", "--widths", "--samples") else 0.4):
            made = make() if make else None
            argv += [option] if made is None else ([f"{option}={made}"] if rng.random() < 0.2 else [option, made])
            if option == "--init" and rng.random() < 0.3:  # repeatable
                argv += ["--init", make()]
    if rng.random() < 0.15:
        argv.insert(rng.randint(0, len(argv)), rng.choice(UNKNOWN))
    if rng.random() < 0.15:  # the common option, before or after the command
        where = rng.choice([0, len(argv)])
        argv[where:where] = ["--max-bytes", value(lambda: rng.choice(["1K", "100", "64M", "2G"]))]
    if rng.random() < 0.05:
        argv.append(rng.choice(["--help", "-h"]))
    return argv


class TooSlow(BaseException):
    """Raised by a timer when one case runs too long (main() does not catch it)."""


@pytest.fixture
def cheap_reports(monkeypatch):
    """report and reproduce check their options, then build a stand-in report (no experiments)."""
    from intrinsic_flow import report

    def build_report(quick=False, sections=None, progress=None, title="intrinsic-flow report"):
        return report.Report([report.Section("a stand-in", "one paragraph")], title=title)

    monkeypatch.setattr(report, "build_report", build_report)


def check(argv, capsys):
    """Run one case; return '' when it behaves, else what went wrong."""
    def too_slow(*_):
        raise TooSlow

    timers = {signal.ITIMER_PROF: (signal.SIGPROF, CASE_CPU_SECONDS),
              signal.ITIMER_REAL: (signal.SIGALRM, CASE_WALL_SECONDS)}
    previous = {which: signal.signal(number, too_slow) for which, (number, _) in timers.items()}
    for which, (_, seconds) in timers.items():
        signal.setitimer(which, seconds)
    try:
        code = main(argv)
    except SystemExit as exit_:  # argparse: --help, --version or a bad option
        code = exit_.code
    except TooSlow:
        code = f"more than {CASE_CPU_SECONDS:g} CPU s or {CASE_WALL_SECONDS:g} s"
    except Exception:  # escaped main(): a finding, with where it came from
        code = "an exception out of main(): " + traceback.format_exc()[-600:]
    finally:
        for which, (number, _) in timers.items():
            signal.setitimer(which, 0)
            signal.signal(number, previous[which])
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    if "Traceback" in captured.err:
        return f"a traceback: {captured.err[-400:]}"
    if code == 0:
        return "" if not lines else f"status 0 with stderr {captured.err[:400]!r}"
    if code != 2:
        return f"status {code}: {captured.err[:400]!r}"
    if len(lines) != 1 or not lines[0].startswith("intrinsic-flow") or ": error: " not in lines[0]:
        return f"not one error line: {captured.err[:400]!r}"
    return ""


def test_fuzz_the_command_line(tmp_path, capsys, monkeypatch, cheap_reports):
    monkeypatch.chdir(tmp_path)  # relative --out values and the default output folders land here
    rng = random.Random(SEED)
    deadline = time.monotonic() + SECONDS
    findings, cases = [], 0
    while time.monotonic() < deadline or cases < 20:
        argv = generate(rng, tmp_path, cases)
        problem = check(argv, capsys)
        cases += 1
        if problem:
            findings.append(f"{argv!r}: {problem}")
            if len(findings) >= 5:
                break
    print(f"{cases} generated command lines, {len(findings)} misbehaved")
    assert not findings, f"{len(findings)} of {cases} cases misbehave:\n" + "\n".join(findings)
