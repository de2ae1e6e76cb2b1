"""`intrinsic-flow report`: run the demonstrations, print a Markdown summary, write report.html."""
from __future__ import annotations

from .._extras import install_hint


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "report", help="run the demonstrations and write a self-contained HTML report",
        description="Geometry of phi for the standard models, their conservation laws, the criteria on random "
                    "points, theta-flows against intrinsic flows (ReLU and "
                    "relaxed-balanced linear networks), the necessity of relaxed balance and the neural-ODE limit. "
                    "Prints a Markdown summary and writes DIR/report.html (one page, figures embedded, opens without "
                    "a network), DIR/report.md and its figures in DIR/figures.")
    parser.add_argument("--out", default="intrinsic-flow-report", metavar="DIR",
                        help="output folder (default: intrinsic-flow-report); the report replaces the previous one "
                             "there only once complete")
    parser.add_argument("--quick", action="store_true", help="smaller runs (about 10 s on 2 cores)")
    parser.set_defaults(func=run)


def run(args) -> int:
    try:  # before any work: the figures need matplotlib, an optional dependency
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('the report draws its figures with matplotlib, which is not installed: '
                          + install_hint("report")) from None
    from ..report import build_report
    from ._output import ReportFolder

    with ReportFolder(args.out) as folder:  # a bad --out fails now, not after the work
        report = build_report(quick=args.quick)
        print(report.markdown())
        page = folder.commit(report)  # all or nothing: an interruption leaves --out as it was
    print(f"wrote {page}")
    return 0
