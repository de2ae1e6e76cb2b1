"""A module that is also its main function: ``intrinsic_flow.scan`` and ``intrinsic_flow.criteria``.

``import intrinsic_flow.scan`` must give the module (its ScanResult, load, ...) while
``itf.scan(models, n)`` calls the function, and the package attribute can hold only one object.
The module's class is switched to one whose ``__call__`` forwards to the function, with the
function's signature, so both readings are true of one object.
"""
from __future__ import annotations

import inspect
import sys
import types
from typing import Any, Callable


class CallableModule(types.ModuleType):
    """A module whose call is its ``__function__``."""

    __function__: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.__function__(*args, **kwargs)


def make_callable(module_name: str, function: Callable[..., Any]) -> None:
    """Make ``sys.modules[module_name]`` callable as ``function`` (same signature for inspect)."""
    module = sys.modules[module_name]
    module.__class__ = CallableModule
    module.__function__ = function  # type: ignore[attr-defined]
    module.__signature__ = inspect.signature(function)  # type: ignore[attr-defined]
