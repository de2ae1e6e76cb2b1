"""The ``intrinsic-flow`` console command."""
from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__
from .commands import NAMES


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="intrinsic-flow",
        description="Conservation laws, intrinsic-dynamics criteria and flows of z = phi(theta).")
    parser.add_argument("--version", action="version", version=f"intrinsic-flow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in NAMES:
        importlib.import_module(f".commands.{name}", __package__).register(subparsers)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ValueError as error:
        print(f"intrinsic-flow {args.command}: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
