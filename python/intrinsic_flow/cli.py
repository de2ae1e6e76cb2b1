"""The ``intrinsic-flow`` console command.

It never shows a traceback unless asked. Bad input (ValueError, TypeError, OverflowError), a
request too large for memory (MemoryError), a file or a connection that fails (OSError) and a
missing optional dependency (ImportError) print one line ``intrinsic-flow COMMAND: error: ...``
and exit with status 2, like a bad option; Ctrl-C prints one line and exits with 130. Any other
exception is a bug: one line saying so, with a hint to rerun with ``--debug``, which shows the
traceback (of every error), and status 1. A bad option is one line too (argparse's usage block is
left out: ``--help`` shows it).
"""
from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import os
import re
import sys
from decimal import Decimal

from . import __version__
from .commands import NAMES
from .commands._args import shown as _shown

EXPECTED_ERRORS = (ValueError, TypeError, OverflowError, MemoryError, OSError, ImportError)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}


def max_bytes(text: str) -> int:
    """``--max-bytes``: a number of bytes, with an optional K, M, G or T suffix (powers of 1024)."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d*)?|\.\d+)(?:e(\d+))?\s*([KMGT]?)i?B?\s*", text, re.I)
    if not match:
        raise argparse.ArgumentTypeError(f"expected a number of bytes such as 4G, 512M or 1000000, got {_shown(text)}")
    digits, exponent, unit = match.groups()
    # exact decimal arithmetic: 1e400 overflows a float, and 10 ** 99999999 takes minutes as an int
    exponent = exponent.lstrip("0") if exponent else ""
    if len(exponent) > 3:  # beyond 1e999: larger than any limit, whatever the digits
        exponent = "999"
    value = Decimal(digits).scaleb(int(exponent or 0)) * _UNITS[unit.upper()]
    if not 1 <= value < 2**63:
        raise argparse.ArgumentTypeError(f"expected a number of bytes between 1 and 2^63, got {_shown(text)}")
    return int(value)


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``PROG: error: MESSAGE`` and status 2, without the usage block."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {' '.join(message.split())}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="intrinsic-flow",
        description="Conservation laws, intrinsic-dynamics criteria and flows of z = phi(theta).")
    parser.add_argument("--version", action="version", version=f"intrinsic-flow {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in NAMES:
        importlib.import_module(f".commands.{name}", __package__).register(subparsers)
    # the common options, accepted before or after the command (after it, a default would
    # overwrite the value given before: hence SUPPRESS)
    for target, default in [(parser, None)] + [(command, argparse.SUPPRESS) for command in subparsers.choices.values()]:
        options = target.add_argument_group("common options") if target is not parser else target
        options.add_argument("--debug", action="store_true", default=default or False,
                             help="show the traceback of an error instead of one line")
        options.add_argument("--max-bytes", type=max_bytes, default=default, metavar="SIZE",
                             help="largest array a command may allocate, e.g. 4G (default 2G, the library's "
                                  "intrinsic_flow.config.max_bytes); larger requests are refused before any work")
    return parser


def _say(command: str, message: str) -> None:
    print(f"intrinsic-flow {command}: {' '.join(message.split())}", file=sys.stderr)


def _describe(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError):
        text = f"out of memory ({text}); requests the library can size are refused up front: lower --max-bytes"
    elif "config.max_bytes" in text:
        text += " (on the command line: --max-bytes)"
    return text


@contextlib.contextmanager
def _escaped_output():
    """stdout and stderr write what they cannot encode as escapes (\\udcff for a file name's byte
    that is not UTF-8) rather than fail after the work is done; as they were afterwards."""
    strict = [stream for stream in (sys.stdout, sys.stderr)
              if isinstance(stream, io.TextIOWrapper) and not stream.closed and stream.errors == "strict"]
    for stream in strict:
        stream.reconfigure(errors="backslashreplace")
    try:
        yield
    finally:
        for stream in strict:
            with contextlib.suppress(ValueError):  # closed meanwhile
                stream.reconfigure(errors="strict")


def main(argv=None) -> int:
    with _escaped_output():
        return _main(argv)


def _main(argv) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.error(f"a COMMAND is needed: {', '.join(NAMES)} (intrinsic-flow --help describes them)")
    from ._config import config

    saved_max_bytes = config.max_bytes
    try:
        if args.max_bytes is not None:
            config.max_bytes = args.max_bytes
        return int(args.func(args) or 0)
    except KeyboardInterrupt as interrupt:
        if args.debug:
            raise
        _say(args.command, str(interrupt) or "interrupted")
        return 130
    except BrokenPipeError:  # the reader of our output went away (| head): nothing left to say
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    except EXPECTED_ERRORS as error:
        if args.debug:
            raise
        _say(args.command, f"error: {_describe(error)}")
        return 2
    except Exception as error:  # a bug: say so in one line, the traceback on demand
        if args.debug:
            raise
        _say(args.command, f"internal error: {type(error).__name__}: {error} "
                           f"(rerun with --debug for the traceback and report it)")
        return 1
    finally:  # main() called in a program must not change its settings
        config.max_bytes = saved_max_bytes


if __name__ == "__main__":
    sys.exit(main())
