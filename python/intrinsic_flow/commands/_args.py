"""Arguments shared by the subcommands: how a model is named on the command line."""
from __future__ import annotations

import argparse

from ..models import LinearNet, ReLUNet

MODELS = ("relu", "linear")


def widths(text: str) -> list:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--widths must be comma-separated integers such as 3,5,5,1, got {text!r}") from None
    if len(values) < 2 or min(values) < 1:
        raise argparse.ArgumentTypeError(f"--widths needs at least two positive integers, got {text!r}")
    return values


def integer(minimum: int):
    """An argparse type: an integer >= minimum (argparse names the flag in its error)."""
    def convert(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {text!r}")
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
        raise argparse.ArgumentTypeError(f"expected a positive number of seconds, got {text!r}")
    return value


def add_seed_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--seed", type=integer(0), default=0, help=f"seed of {what} (default 0)")


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--model", choices=MODELS, required=True, help="relu (path-lifting) or linear (product of matrices)")
    parser.add_argument("--widths", type=widths, required=True, help="layer widths, input first, e.g. 3,5,5,1")
    parser.add_argument("--bias", nargs="?", const="all", choices=["all", "hidden"], default=None,
                        help="ReLU biases on every non-input neuron (--bias) or hidden neurons only (--bias hidden)")


def model_from(args):
    if args.model == "linear":
        if args.bias:
            raise ValueError("--bias applies to --model relu only; linear networks have no biases")
        return LinearNet(args.widths)
    return ReLUNet(args.widths, bias={None: False, "all": True, "hidden": "hidden"}[args.bias])
