"""Submodules that load on first attribute access (PEP 562), as in NumPy and SciPy: used by
``intrinsic_flow`` and ``intrinsic_flow.reference`` so that ``itf.parsimony`` needs no import of
its own and ``import intrinsic_flow`` does not pay for the topic modules."""
from __future__ import annotations

import importlib


def attach(package: str, submodules, namespace: dict):
    """``(__getattr__, __dir__)`` for ``package``, whose ``submodules`` load when first asked for;
    ``namespace`` is the package's ``globals()``."""
    names = frozenset(submodules)

    def __getattr__(name: str):
        if name in names:
            return importlib.import_module(f".{name}", package)
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(set(namespace) | names)

    return __getattr__, __dir__
