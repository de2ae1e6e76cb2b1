"""Flows in plain NumPy (mirrors cpp/flow): gradient fields and the integrators.

The integrators take any ``field`` with ``value_and_gradient(y) -> (value, gradient)`` and follow
y' = -gradient: classic RK4 on a grid, Dormand-Prince 5(4) with error control, gradient descent.
They are also the core backend's slow path (Python callables) and the integrators of intrinsic
flows in both backends.
"""
from __future__ import annotations

import numpy as np

from .._flowbackend import CallableField, FlowBackend, FlowComparison, FlowError, Trajectory  # noqa: F401
from .._integrate import LiftedLoss, integrate  # noqa: F401 - shared by both backends
from ..losses import LiftedQuadratic, Regression
from .._kinds import supports
from . import geometry

__all__ = ["gradient_flow", "gradient_descent", "intrinsic_metric", "intrinsic_flow", "compare_flows",
           "Trajectory", "FlowComparison", "FlowError"]

# -- gradient fields (mirror cpp/flow.cpp) ------------------------------------------------------
class NetworkRegression:
    """1/(2n) sum_i ||g(x_i) - y_i||^2 for a layered ReLU or linear network, by backpropagation
    (sigma'(0) = 0); parameters laid out as in docs/theory/lifting.md."""

    def __init__(self, model, X, Y) -> None:
        self.model, self.X, self.Y = model, X, Y
        self.relu = supports(model, "relu")

    def _layers(self, theta):
        if self.relu:
            return self.model.unflatten(theta)
        return [(w, None) for w in self.model.unflatten(theta)]

    def value_and_gradient(self, theta):
        theta = np.asarray(theta, dtype=np.float64)
        layers = self._layers(theta)
        n, L = self.X.shape[0], len(layers)
        acts, pres = [self.X], []
        for l, (weight, bias) in enumerate(layers):
            pre = acts[-1] @ weight.T + (bias if bias is not None else 0.0)
            pres.append(pre)
            acts.append(np.maximum(pre, 0.0) if self.relu and l + 1 < L else pre)
        delta = (acts[-1] - self.Y) / n
        value = 0.5 * float(np.sum((acts[-1] - self.Y) ** 2)) / n
        grads = [None] * L
        for l in range(L - 1, -1, -1):
            weight, bias = layers[l]
            grads[l] = (delta.T @ acts[l], delta.sum(axis=0) if bias is not None else None)
            if l > 0:
                delta = delta @ weight
                if self.relu:
                    delta = delta * (pres[l - 1] > 0.0)
        parts = []
        for grad_w, grad_b in grads:
            parts.append(grad_w.ravel())
            if grad_b is not None:
                parts.append(grad_b)
        return value, np.concatenate(parts)


def field_of(model, loss):
    """The gradient field of ``loss`` on ``model`` (validated)."""
    if isinstance(loss, LiftedQuadratic):
        loss.check(model)
        return LiftedLoss(model, loss, geometry)
    if isinstance(loss, Regression):
        loss.check(model)
        return LiftedLoss(model, loss, geometry) if model.kind == "node" else NetworkRegression(model, loss.X, loss.Y)
    if callable(loss):
        return CallableField(model, loss, geometry)
    raise ValueError(f"loss must be a LiftedQuadratic, a Regression or a callable f(z) -> (value, gradient), got {loss!r}")


_backend = FlowBackend(geometry, field_of, integrate, integrate)
# the public functions: bound methods of the one FlowBackend, assigned by name (docstrings in _flowbackend)
gradient_flow = _backend.gradient_flow
gradient_descent = _backend.gradient_descent
intrinsic_metric = _backend.intrinsic_metric
intrinsic_flow = _backend.intrinsic_flow
compare_flows = _backend.compare_flows
