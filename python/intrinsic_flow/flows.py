"""Flows on the C++ core: gradient flows and gradient descent in theta (right side and integrator
in the core for LiftedQuadratic and Regression; a Python callable is the slow path through the
NumPy integrators), intrinsic flows in z. Same API and results as intrinsic_flow.reference."""
from __future__ import annotations

from . import _core, geometry
from ._kinds import supports
from ._flowbackend import CallableField, FlowBackend, FlowComparison, FlowError, Trajectory  # noqa: F401
from .losses import LiftedQuadratic, Regression
from ._integrate import LiftedLoss, integrate as integrate_numpy

__all__ = ["gradient_flow", "gradient_descent", "intrinsic_metric", "intrinsic_flow", "compare_flows",
           "Trajectory", "FlowComparison", "FlowError"]


def field_of(model, loss):
    """The core's gradient field of ``loss`` on ``model`` (validated), or a CallableField.

    LiftedQuadratic: -grad l = -J^T (w^2 * (z - target)) as a vector-Jacobian product in the core
    (the d x D Jacobian is never formed). A PolynomialMap's geometry lives in NumPy, so its field is
    the reference one (same results in both backends, integrated by the NumPy integrators)."""
    if not supports(model, "core_kernel") and isinstance(loss, (LiftedQuadratic, Regression)):
        loss.check(model)  # a Regression needs a network: refused here
        return LiftedLoss(model, loss, geometry)
    # linear chains (LinearNet, LinearNeuralODE with W_k = I + A_k / K) backpropagate without a Jacobian
    offset_scale = 1.0 / model.n_steps if model.kind == "node" else 0.0
    if isinstance(loss, LiftedQuadratic):
        loss.check(model)
        if supports(model, "matrix_chain"):
            return _core.ChainLiftedLoss.quadratic(list(model.widths), loss.target, loss.weights_squared, offset_scale)
        return _core.LiftedLoss.quadratic(geometry.lifting_of(model, paths=True), loss.target, loss.weights_squared)
    if isinstance(loss, Regression):
        loss.check(model)
        if model.kind == "node":
            return _core.ChainLiftedLoss.matrix_regression(list(model.widths), loss.X, loss.Y, offset_scale)
        layers = model.n_layers
        relu = supports(model, "relu")
        has_bias = [relu and model.has_bias(l) for l in range(1, layers + 1)]
        return _core.NetworkRegression(list(model.widths), has_bias, relu, loss.X, loss.Y)
    if callable(loss):
        return CallableField(model, loss, geometry)
    raise ValueError(f"loss must be a LiftedQuadratic, a Regression or a callable f(z) -> (value, gradient), got {loss!r}")


def integrate(field, theta0, flow_plan):
    if not isinstance(field, _core.GradientField):
        return integrate_numpy(field, theta0, flow_plan)
    if isinstance(flow_plan, tuple):
        return _core.gradient_descent(field, theta0, flow_plan[1], flow_plan[2])
    if flow_plan.method == "rk4":
        return _core.integrate_rk4(field, theta0, list(flow_plan.times), list(map(bool, flow_plan.save)))
    return _core.integrate_rk45(field, theta0, list(flow_plan.times), list(map(bool, flow_plan.save)),
                                flow_plan.save_all_steps, flow_plan.rtol, flow_plan.max_steps)


_backend = FlowBackend(geometry, field_of, integrate, integrate_numpy)
# the public functions: bound methods of the one FlowBackend, assigned by name (docstrings in _flowbackend)
gradient_flow = _backend.gradient_flow
gradient_descent = _backend.gradient_descent
intrinsic_metric = _backend.intrinsic_metric
intrinsic_flow = _backend.intrinsic_flow
compare_flows = _backend.compare_flows
