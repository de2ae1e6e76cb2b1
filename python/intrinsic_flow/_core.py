"""The C++ core, compiled for the best instruction set this CPU supports.

The build compiles the core once per level, as the extension modules ``_core_baseline``
(x86-64), ``_core_avx2`` (x86-64-v3: AVX2, FMA) and ``_core_avx512`` (x86-64-v4: AVX-512); other
architectures get ``_core_baseline`` only, and a build with ``INTRINSIC_FLOW_NATIVE=ON`` gets
``_core_native`` only. This module imports the highest level that is both built and supported by
the CPU and its operating system (asked of the small ``_cpu`` module, which checks CPUID and the
OS-enabled register state), or the level named by the environment variable
``INTRINSIC_FLOW_CPU`` (``baseline``, ``avx2``, ``avx512``, ``native``, or ``auto``), and
re-exports its names: ``from intrinsic_flow import _core`` works as with one module.
``_core.pyi`` types them.
"""
import importlib as _importlib
import importlib.util as _importlib_util
import os as _os

from . import _cpu

_ENV = "INTRINSIC_FLOW_CPU"
_ORDER = ("baseline", "avx2", "avx512")  # lowest first; "native" is built alone when it is built


def _built_levels() -> "list[str]":
    """Levels whose extension module is in this installation, lowest first."""
    return [level for level in (*_ORDER, "native")
            if _importlib_util.find_spec(f"{__package__}._core_{level}") is not None]


def _usable(built: "list[str]", supported: "list[str]") -> "list[str]":
    """Built levels this CPU runs, lowest first. A native module is compiled for the machine that
    built it; nothing here can check it, so it counts as usable."""
    return [level for level in built if level == "native" or level in supported]


def _choose(requested: "str | None", built: "list[str]", supported: "list[str]") -> str:
    """The level to import: ``requested`` (the value of INTRINSIC_FLOW_CPU) or the best available."""
    usable = _usable(built, supported)
    value = (requested or "").strip().lower()
    if value in ("", "auto"):
        if not usable:
            raise ImportError(f"intrinsic_flow: no core module this CPU can run: built {built}, "
                              f"CPU supports {supported}")
        return usable[-1]
    accepted = ("auto", *_ORDER, "native")
    if value not in accepted:
        raise ValueError(f"{_ENV}={requested!r} is not a CPU level; accepted: "
                         f"{', '.join(accepted)} (unset means auto)")
    if value not in built:
        raise ImportError(f"{_ENV}={requested!r}: this installation has no {value} core module; "
                          f"built: {', '.join(built)}; usable on this CPU: {', '.join(usable)}")
    if value not in usable:
        raise ImportError(f"{_ENV}={requested!r}: this CPU (or its operating system) does not support "
                          f"{value}; usable on this CPU: {', '.join(usable)}")
    return value


_built = _built_levels()
_supported = list(_cpu.supported_levels())
_levels = _usable(_built, _supported)
_level = _choose(_os.environ.get(_ENV), _built, _supported)
_module = _importlib.import_module(f"{__package__}._core_{_level}")
globals().update({name: value for name, value in vars(_module).items() if not name.startswith("__")})  # test hooks such as _throw_in_parallel_loop too
# Classes name this module, not the level's: a class pickled on one machine (a Dask client, say)
# is then found on another through that machine's own choice of level.
for _value in list(globals().values()):
    if isinstance(_value, type) and _value.__module__ == _module.__name__:
        _value.__module__ = __name__
del _value
