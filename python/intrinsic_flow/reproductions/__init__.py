"""Reproductions of the papers this library builds on, one module per paper.

Each module defines ``TITLE`` (the paper), ``SECTIONS`` (functions ``section(quick: bool) ->
report.Section``, one per experiment, run in order) and is listed in ``PAPERS`` under the name the
command line uses: ``intrinsic-flow reproduce NAME [--quick] [--out DIR]`` runs its sections and
writes them as an HTML report with the same machinery as ``intrinsic-flow report``.
"""
from __future__ import annotations

import importlib

__all__ = ["PAPERS", "paper"]

# command-line name -> module of this package
PAPERS = {
    "parsimony": "parsimony",
    "symmetries": "symmetries",
    "integrable": "integrable",
}


def paper(name: str):
    """The reproduction module of ``name`` (one of ``PAPERS``)."""
    if name not in PAPERS:
        raise ValueError(f"paper must be one of {sorted(PAPERS)}, got {name!r}")
    return importlib.import_module(f".{PAPERS[name]}", __name__)
