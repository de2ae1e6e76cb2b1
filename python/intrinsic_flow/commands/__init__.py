"""Subcommands of the ``intrinsic-flow`` console command, one module each.

Each module defines ``register(subparsers)`` that adds its parser and sets ``func(args) -> int``.
"""
NAMES = ["report", "inspect", "laws", "scan", "reproduce"]
