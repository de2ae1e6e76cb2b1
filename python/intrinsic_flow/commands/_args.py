"""Arguments shared by the subcommands: how a model is named on the command line."""
from __future__ import annotations

import argparse

from ..models import LinearNet, ReLUNet

MODELS = ("relu", "linear")
BIASES = ("all", "hidden")
LARGEST_WIDTH = 10**18  # far beyond any memory; int() of longer digit strings is slow or refused


def shown(text: str, limit: int = 40) -> str:
    """text as an error message quotes it: its repr, cut in the middle when long."""
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit // 2]!r}...{text[-limit // 2:]!r} ({len(text)} characters)"


def widths(text: str) -> list:
    """``--widths``: comma-separated positive integers, input first; an error names the first bad width."""
    values = []
    for position, part in enumerate(text.split(","), start=1):
        part = part.strip()
        digits = part.lstrip("+-").lstrip("0")
        value, problem = None, None
        if not part:
            problem = "is empty"
        elif digits.isdecimal() and len(digits) > 19:  # int() of thousands of digits is refused
            problem = ("is negative; every width must be a positive integer" if part.startswith("-")
                       else f"is too large (more than {LARGEST_WIDTH:.0e})")
        else:
            try:
                value = int(part)
            except ValueError:
                problem = f"is not an integer: {shown(part)}"
            else:
                if value < 1:
                    problem = f"is {value}; every width must be a positive integer"
                elif value > LARGEST_WIDTH:
                    problem = f"is too large (more than {LARGEST_WIDTH:.0e})"
        if problem:
            raise argparse.ArgumentTypeError(f"width {position} {problem}, got {shown(text)}")
        values.append(value)
    if len(values) < 2:
        raise argparse.ArgumentTypeError(f"needs at least two widths (input and output) such as 3,5,5,1, "
                                         f"got {shown(text)}")
    return values


def name(choices):
    """An argparse type: one of choices, in any case (argparse's own check of choices then passes)."""
    def convert(text: str) -> str:
        folded = text.strip().casefold()
        if folded not in choices:
            raise argparse.ArgumentTypeError(f"invalid choice: {shown(text)} (choose from "
                                             f"{', '.join(map(repr, choices))})")
        return folded

    convert.__name__ = "name"
    return convert


def integer(minimum: int):
    """An argparse type: an integer >= minimum (argparse names the flag in its error)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:  # also for thousands of digits, which int() refuses
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {shown(text)}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {shown(text)}")
        return value

    convert.__name__ = f"integer >= {minimum}"
    return convert


def seconds(text: str) -> float:
    """An argparse type: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {shown(text)}")
    return value


def add_seed_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seed", type=integer(0), default=0, help=f"seed of {what} (default 0)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", type=name(MODELS), choices=MODELS, required=True,
                        help="relu (path-lifting) or linear (product of matrices), in any case")
    parser.add_argument("--widths", type=widths, required=True, help="layer widths, input first, e.g. 3,5,5,1")
    parser.add_argument("--bias", nargs="?", const="all", type=name(BIASES), choices=BIASES, default=None,
                        help="ReLU biases on every non-input neuron (--bias) or hidden neurons only (--bias hidden)")


def model_from(args):
    if args.model == "linear":
        if args.bias:
            raise ValueError("--bias applies to --model relu only; linear networks have no biases")
        return LinearNet(args.widths)
    return ReLUNet(args.widths, bias={None: False, "all": True, "hidden": "hidden"}[args.bias])
