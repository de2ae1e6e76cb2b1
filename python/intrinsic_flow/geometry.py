"""Geometry of phi on the C++ core: the public geometry functions (see _backend.Backend; mathematics in docs/theory/lifting.md)."""
from __future__ import annotations

import functools
import threading
from typing import Callable, TypeVar

from . import _checks, _core
from ._backend import Backend
from ._derived import Derived
from ._kinds import supports
from ._pathnorm import PathNormFrontEnd
from ._shared import SharedLifting, path_guard
from .polynomial import PolynomialKernel


def _path_graph(model):
    g = model.graph
    return _core.PathGraph(g.n_neurons, g.n_inputs, g.n_outputs, list(g.param_src), list(g.param_dst))


class CoreSharedLifting(SharedLifting, Derived):
    """Shared parameters over the core's PathGraph of the edges (the path work in C++)."""


def _shared_lifting(model):
    g = model.edge_graph
    edge = _core.PathGraph(g.n_neurons, g.n_inputs, g.n_outputs, list(g.param_src), list(g.param_dst))

    def build():
        with _paths_lock:
            if not edge.paths_ready:
                edge.enumerate_paths(float(model.n_lifted))

    return CoreSharedLifting(model, edge, path_guard(model, build),
                             lambda theta: _core.balanced_representative(edge, theta, True))


LIFTINGS = {
    "path": _path_graph,
    "shared": _shared_lifting,
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
    if paths and supports(model, "path_lifting") and not lifting.paths_ready:
        with _paths_lock:
            if not lifting.paths_ready:
                lifting.enumerate_paths(float(model.n_lifted))
    return lifting


T = TypeVar("T")


def run_with_threads(n_threads: int | None, call: Callable[[], T]) -> T:
    """call() with its core loops on n_threads threads (None: the process-wide set_num_threads
    setting). The count is a per-call value of the calling thread in the core, so concurrent
    calls from other threads keep their own; results do not depend on it."""
    if n_threads is None:
        return call()
    return _core.with_threads(_checks.positive_int(n_threads, "n_threads"), call)


_backend = Backend(lifting_of, run_with_threads)
# the public functions: bound methods of the one Backend, assigned by name (docstrings in _backend)
lift = _backend.lift
lift_jacobian = _backend.lift_jacobian
metric = _backend.metric
metric_derivative = _backend.metric_derivative
conserved = _backend.conserved
conserved_jacobian = _backend.conserved_jacobian
lift_gram = _backend.lift_gram
joint_gram = _backend.joint_gram
rank_info = _backend.rank_info
rank_lift = _backend.rank_lift
rank_joint = _backend.rank_joint
lift_batch = _backend.lift_batch
lift_jacobian_batch = _backend.lift_jacobian_batch
metric_batch = _backend.metric_batch
conserved_batch = _backend.conserved_batch
conserved_jacobian_batch = _backend.conserved_jacobian_batch
lift_gram_batch = _backend.lift_gram_batch
rank_lift_batch = _backend.rank_lift_batch
rank_joint_batch = _backend.rank_joint_batch
lift_vjp = _backend.lift_vjp
lift_jvp = _backend.lift_jvp
lift_vjp_batch = _backend.lift_vjp_batch
lift_jvp_batch = _backend.lift_jvp_batch
_path_norms = PathNormFrontEnd(lambda model: _cached(model))
path_norm = _path_norms.path_norm

__all__ = ["conserved", "conserved_batch", "conserved_jacobian", "conserved_jacobian_batch", "joint_gram", "lift", "lift_batch", "lift_gram", "lift_gram_batch", "lift_jacobian", "lift_jacobian_batch", "lift_jvp", "lift_jvp_batch", "lift_vjp", "lift_vjp_batch", "metric", "metric_batch", "metric_derivative", "path_norm", "rank_info", "rank_joint", "rank_joint_batch", "rank_lift", "rank_lift_batch"]
