"""`intrinsic-flow reproduce PAPER`: rerun the experiments of a paper and write them as a report."""
from __future__ import annotations

from ..reproductions import PAPERS


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "reproduce", help="rerun the experiments of a paper this library builds on and write their figures",
        description="Run the experiments of one paper (parsimony: Yaras et al. 2023, the law of parsimony in deep "
                    "linear networks; symmetries: Hajjar & Chizat 2022, symmetries of wide two-layer networks; "
                    "integrable: Hajjar, Chizat & Giraud 2021, integrable parameterisations), print a Markdown "
                    "summary and write DIR/report.html, DIR/report.md and DIR/figures. Each caption says what the "
                    "paper's figure shows and how this one compares.")
    parser.add_argument("paper", choices=sorted(PAPERS), help="which paper")
    parser.add_argument("--out", default=None, metavar="DIR",
                        help="output directory (default: intrinsic-flow-PAPER)")
    parser.add_argument("--quick", action="store_true", help="scaled-down runs (under a minute on 2 cores)")
    parser.set_defaults(func=run)


def run(args) -> int:
    import pathlib

    try:  # before any work: the figures need matplotlib, an optional dependency
        import matplotlib  # noqa: F401
    except ImportError:
        raise ImportError('the reproductions draw their figures with matplotlib, which is not installed: '
                          'pip install "intrinsic-flow[report]"') from None
    out = pathlib.Path(args.out or f"intrinsic-flow-{args.paper}")
    out.mkdir(parents=True, exist_ok=True)  # an unwritable --out fails now, not after the work
    from ..report import build_report
    from ..reproductions import paper

    module = paper(args.paper)
    report = build_report(quick=args.quick, sections=module.SECTIONS, title=module.TITLE)
    print(report.markdown())
    page = report.write(out)
    print(f"wrote {page}")
    return 0
