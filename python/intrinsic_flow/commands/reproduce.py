"""`intrinsic-flow reproduce PAPER`: rerun the experiments of a paper and write them as a report."""
from __future__ import annotations

from .._extras import install_hint
from ..reproductions import PAPERS
from ._args import name


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="rerun the experiments of a paper this library builds on and write their figures",
        description="Run the experiments of one paper (parsimony: Yaras et al. 2023, the law of parsimony in deep "
                    "linear networks; symmetries: Hajjar & Chizat 2022, symmetries of wide two-layer networks; "
                    "integrable: Hajjar, Chizat & Giraud 2021, integrable parameterisations), print a Markdown "
                    "summary and write DIR/report.html, DIR/report.md and DIR/figures. Each caption says what the "
                    "paper's figure shows and how this one compares.")
    parser.add_argument("paper", type=name(sorted(PAPERS)), choices=sorted(PAPERS), help="which paper")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output folder (default: intrinsic-flow-PAPER); the report replaces the previous one "
                             "there only once complete")
    parser.add_argument("--quick", action="store_true", help="scaled-down runs (under a minute on 2 cores)")
    parser.set_defaults(func=run)


def run(args) -> int:
    try:  # before any work: the figures need matplotlib, an optional dependency
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('the reproductions draw their figures with matplotlib, which is not installed: '
                          + install_hint("report")) from None
    from ..report import build_report
    from ..reproductions import paper
    from ._output import ReportFolder

    with ReportFolder(args.out or f"intrinsic-flow-{args.paper}") as folder:  # a bad --out fails now
        module = paper(args.paper)
        report = build_report(quick=args.quick, sections=module.SECTIONS, title=module.TITLE)
        print(report.markdown())
        page = folder.commit(report)  # all or nothing: an interruption leaves --out as it was
    print(f"wrote {page}")
    return 0
