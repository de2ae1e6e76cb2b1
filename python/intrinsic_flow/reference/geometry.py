"""Geometry of phi in plain NumPy (mirrors cpp/geometry): what is derived from a model's lifting
once for all models, and the public functions (same names and results as intrinsic_flow)."""
from __future__ import annotations

import functools

from .._backend import Backend
from .._derived import Derived, unit_trace  # noqa: F401
from .._pathnorm import PathNormFrontEnd
from .._shared import SharedLifting, path_guard
from .lifting import PathLifting, unit_geometric_scale
from .linear import LinearLifting
from ..polynomial import PolynomialKernel
from .neural_ode import NeuralODELifting


class ReferencePathLifting(PathLifting, Derived):
    pass


class ReferenceLinearLifting(LinearLifting, Derived):
    def rank_point(self, theta):
        """phi is homogeneous: ranks are taken at theta over the geometric mean of its |entries|."""
        return unit_geometric_scale(theta)


ReferencePolynomialLifting = PolynomialKernel  # the core has no polynomial kernel: one class for both


class ReferenceNeuralODELifting(NeuralODELifting, Derived):
    pass


class ReferenceSharedLifting(SharedLifting, Derived):
    """Shared parameters over the NumPy PathLifting of the edges."""


def _shared_lifting(model):
    return ReferenceSharedLifting(model, ReferencePathLifting(model.edge_graph), path_guard(model, lambda: None))


LIFTINGS = {
    "path": lambda model: ReferencePathLifting(model.graph),
    "shared": _shared_lifting,
    "linear": ReferenceLinearLifting,
    "poly": PolynomialKernel,
    "node": ReferenceNeuralODELifting,
}


@functools.lru_cache(maxsize=64)
def _cached(model):
    if model.kind not in LIFTINGS:
        raise ValueError(f"the reference backend has no geometry for {type(model).__name__}")
    return LIFTINGS[model.kind](model)


def lifting_of(model, paths: bool = False):
    return _cached(model)


_backend = Backend(lifting_of)
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
