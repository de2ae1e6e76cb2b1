"""`intrinsic-flow scan`: the intrinsic-dynamics criteria over many random initialisations."""
from __future__ import annotations

from ._args import add_model_arguments, model_from


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
    parser.add_argument("--samples", type=int, default=1000, help="samples per init scheme (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the scan (default 0)")
    parser.add_argument("--out", default=None,
                        help="save the rows to this .parquet or .npz file; an unfinished file of the same scan is resumed")
    parser.add_argument("--dask", metavar="ADDRESS", nargs="?", const="local", default=None,
                        help="run on the Dask scheduler at ADDRESS (tcp://host:port); without ADDRESS on a "
                             "local cluster of 2 workers")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar even on a terminal")
    parser.set_defaults(func=run)


def run(args) -> int:
    from ..scan import scan

    executor, address = ("local", None) if args.dask is None else ("dask", None if args.dask == "local" else args.dask)
    result = scan(model_from(args), args.samples, init=args.init or ["gaussian"], seed=args.seed,
                  progress=not args.no_progress, executor=executor, address=address, checkpoint=args.out)
    print(result.summary())
    if args.out:
        print(f"rows saved to {args.out}")
    return 0
