"""`intrinsic-flow scan`: the intrinsic-dynamics criteria over many random initialisations."""
from __future__ import annotations

from ._args import add_model_arguments, add_seed_argument, integer, model_from, seconds


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "scan", help="fractions of random initialisations that are recoverable / satisfy kernel inclusion",
        description="Draw --samples parameter vectors with each --init scheme, evaluate the intrinsic-dynamics "
                    "criteria at each (in parallel in the core, or on a Dask cluster with --dask) and print the "
                    "summary: fraction recoverable, fraction with kernel inclusion, rank histograms.")
    add_model_arguments(parser)
    parser.add_argument("--init", action="append", default=None,
                        help="init scheme, repeatable: gaussian, uniform, orthogonal, balanced, "
                             "relaxed_balanced:LAMBDA[,LAMBDA...], sparse:P, dead_neuron (default gaussian)")
    parser.add_argument("--samples", type=integer(1), default=1000, help="samples per init scheme (default 1000)")
    add_seed_argument(parser, "the scan")
    parser.add_argument("--out", default=None, metavar="FILE",
                        help="save the rows to this .parquet or .npz file (its directory is created), chunk by chunk "
                             "as they finish: an interrupted scan rerun with the same --out resumes. A scan larger "
                             "than --max-bytes needs --out and keeps its rows in FILE.parts/")
    parser.add_argument("--dask", metavar="ADDRESS", nargs="?", const="local", default=None,
                        help="run on the Dask scheduler at ADDRESS (tcp://host:port); without ADDRESS on a "
                             "local cluster of 2 workers")
    parser.add_argument("--dask-timeout", type=seconds, default=10.0, metavar="SECONDS",
                        help="how long to wait for the Dask scheduler to answer (default 10)")
    parser.add_argument("--chunk-size", type=integer(1), default=1000, metavar="N",
                        help="samples per unit of work, saved to --out as one file (default 1000)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..scan import CHECKS, scan, table_bytes
    from .._checks import _fmt_bytes
    from .._config import config

    inits = args.init or ["gaussian"]
    needed = table_bytes(len(inits) * args.samples, CHECKS)
    if args.out is None and needed > config.max_bytes:  # the library's refusal, in the names of the flags
        schemes = f"{len(inits)} init scheme" + ("s" if len(inits) > 1 else "")
        raise ValueError(f"--samples {args.samples} x {schemes}: the rows need {_fmt_bytes(needed)} in "
                         f"memory, more than --max-bytes {_fmt_bytes(config.max_bytes)}; give --out FILE to stream "
                         "them to disk, or fewer --samples")
    executor, address = ("local", None) if args.dask is None else ("dask", None if args.dask == "local" else args.dask)
    try:
        result = scan(model_from(args), args.samples, init=inits, seed=args.seed,
                      progress=not args.no_progress, executor=executor, address=address,
                      timeout=args.dask_timeout, chunk_size=args.chunk_size, checkpoint=args.out)
    except KeyboardInterrupt:
        if args.out is None:
            raise
        raise KeyboardInterrupt(f"interrupted; the finished rows are kept in {args.out}: run the same command "
                                "again to resume") from None
    print(result.summary())
    if result.on_disk:
        print(f"rows saved to {len(result.files)} files in {args.out}.parts/ (ScanResult.load({args.out!r}) "
              "reads them chunk by chunk)")
    elif args.out:
        print(f"rows saved to {args.out}")
    return 0
