"""Geometry of phi on the C++ core: the public functions of shared/API.md (see _backend.Backend)."""
from __future__ import annotations

import functools
import threading

from . import _core
from ._backend import Backend
from .polynomial import PolynomialKernel


def _path_graph(model):
    g = model.graph
    return _core.PathGraph(g.n_neurons, g.n_inputs, g.n_outputs, list(g.param_src), list(g.param_dst))


LIFTINGS = {
    "path": _path_graph,
    "linear": lambda model: _core.LinearChain(list(model.widths)),
    "poly": PolynomialKernel,  # user polynomials: NumPy evaluation (intrinsic_flow.polynomial)
    "node": lambda model: _core.LinearNeuralODE(model.n, model.n_steps),
}


@functools.lru_cache(maxsize=64)
def _cached(model):
    if model.kind not in LIFTINGS:
        raise ValueError(f"the core has no geometry for {type(model).__name__}")
    return LIFTINGS[model.kind](model)


# The core builds a path table with the GIL released; threads (scans, Dask workers) may ask for
# the same model at once, so the first build is serialised.
_paths_lock = threading.Lock()


def lifting_of(model, paths: bool = False):
    """The core object of model; path tables are built on first need."""
    lifting = _cached(model)
    if paths and model.kind == "path" and not lifting.paths_ready:
        with _paths_lock:
            if not lifting.paths_ready:
                lifting.enumerate_paths(float(model.n_lifted))
    return lifting


_backend = Backend(lifting_of)
globals().update(_backend.exports())
__all__ = sorted(_backend.exports())
