"""Geometry of phi in plain NumPy (mirrors cpp/geometry): what is derived from a model's lifting
once for all models, and the public functions (same names and results as intrinsic_flow)."""
from __future__ import annotations

import functools

import numpy as np

from .._backend import Backend
from .._derived import Derived, unit_trace  # noqa: F401
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


LIFTINGS = {
    "path": lambda model: ReferencePathLifting(model.graph),
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
globals().update(_backend.exports())
__all__ = sorted(_backend.exports())
