"""Flows in plain NumPy (mirrors cpp/flow): gradient fields and the integrators.

The integrators take any ``field`` with ``value_and_gradient(y) -> (value, gradient)`` and follow
y' = -gradient: classic RK4 on a grid, Dormand-Prince 5(4) with error control, gradient descent.
They are also the core backend's slow path (Python callables) and the integrators of intrinsic
flows in both backends.
"""
from __future__ import annotations

import math

import numpy as np

from .._flowbackend import CallableField, FieldError, FlowBackend, FlowComparison, FlowError, Trajectory  # noqa: F401
from ..losses import LiftedQuadratic, Regression
from . import geometry

__all__ = ["gradient_flow", "gradient_descent", "intrinsic_metric", "intrinsic_flow", "compare_flows",
           "Trajectory", "FlowComparison", "FlowError"]

NON_FINITE = "the loss or its gradient is not finite"

# Dormand & Prince (1980), the RK5(4)7M pair: c, a (row by row), b = a[6] (5th order), e = b - b_hat.
DOPRI_A = [
    [],
    [1 / 5],
    [3 / 40, 9 / 40],
    [44 / 45, -56 / 15, 32 / 9],
    [19372 / 6561, -25360 / 2187, 64448 / 6561, -212 / 729],
    [9017 / 3168, -355 / 33, 46732 / 5247, 49 / 176, -5103 / 18656],
    [35 / 384, 0.0, 500 / 1113, 125 / 192, -2187 / 6784, 11 / 84],
]
DOPRI_E = [71 / 57600, 0.0, -71 / 16695, 71 / 1920, -17253 / 339200, 22 / 525, -1 / 40]


# rk45 step control: the smallest factor a rejection applies, and the step (relative to t_end)
# below which a rejected step stops the flow (as cpp/flow.cpp).
RK45_MIN_FACTOR = 0.2
RK45_MIN_STEP = 1e-12


class _Stop(Exception):
    pass


class _NonFinite(_Stop):
    """The field was evaluated at, or returned, a non-finite value (rk45 shrinks the step)."""


def _velocity(field, y, counter):
    """(l, -grad l) at y; raises _Stop with the reason when unusable."""
    counter[0] += 1
    if not np.all(np.isfinite(y)):
        raise _NonFinite(NON_FINITE)
    try:
        # an overflow is a result like any other here: it is checked below, and rk45 shrinks the step
        with np.errstate(over="ignore", invalid="ignore"):
            value, gradient = field.value_and_gradient(y)
    except (FieldError, ValueError) as error:
        raise _Stop(str(error)) from None
    gradient = np.asarray(gradient, dtype=np.float64)
    if not np.isfinite(value) or not np.all(np.isfinite(gradient)):
        raise _NonFinite(NON_FINITE)
    return float(value), -gradient


class _Recorder:
    def __init__(self) -> None:
        self.times, self.states, self.values = [], [], []
        self.info = {"completed": True, "time_reached": 0.0, "reason": "", "n_evaluations": 0, "n_rejected": 0}
        self.counter = [0]

    def save(self, t, y, value):
        self.times.append(float(t))
        self.states.append(np.array(y))
        self.values.append(value)

    def stop(self, t, reason):
        self.info.update(completed=False, time_reached=float(t), reason=reason)

    def result(self, size):
        self.info["n_evaluations"] = self.counter[0]
        states = np.array(self.states).reshape(len(self.times), size)
        return np.array(self.times), states, np.array(self.values), self.info


def integrate_rk4(field, y0, times, save):
    """Classic RK4 on the grid ``times`` (one step per interval): y += h (k1 + 2 k2 + 2 k3 + k4) / 6."""
    record = _Recorder()
    y = np.array(y0, dtype=np.float64)
    for step, t in enumerate(times):
        try:
            value, k1 = _velocity(field, y, record.counter)
        except _Stop as stop:
            record.stop(t, str(stop))
            break
        if save[step]:
            record.save(t, y, value)
        record.info["time_reached"] = float(t)
        if step + 1 == len(times):
            break
        h = times[step + 1] - t
        try:
            _, k2 = _velocity(field, y + (0.5 * h) * k1, record.counter)
            _, k3 = _velocity(field, y + (0.5 * h) * k2, record.counter)
            _, k4 = _velocity(field, y + h * k3, record.counter)
        except _Stop as stop:
            record.stop(t, str(stop))
            break
        y_new = y + (h / 6.0) * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        if not np.all(np.isfinite(y_new)):
            record.stop(t, NON_FINITE)
            break
        y = y_new
    return record.result(np.size(y0))


def integrate_rk45(field, y0, stops, save, save_all_steps, rtol, max_steps):
    """Dormand-Prince 5(4) landing on every stop; error scaled by rtol (1 + max(|y|, |y_new|)), RMS
    norm, accepted when <= 1, step factor 0.9 err^(-1/5) clipped to [0.2, 5] and rounded down to a
    power 2^(k/8) (mirrors cpp/flow.cpp). A step whose stages are not finite is rejected with the
    factor 0.2; a rejected step below 1e-12 t_end stops the flow."""
    record = _Recorder()
    t_end = float(stops[-1])
    y = np.array(y0, dtype=np.float64)
    k = [None] * 7
    try:
        value, k[0] = _velocity(field, y, record.counter)
    except _Stop as stop:
        record.stop(0.0, str(stop))
        return record.result(y.size)
    if save[0] or save_all_steps:
        record.save(0.0, y, value)
    t, h, next_stop, n_steps = 0.0, t_end / 100.0, 1, 0
    while next_stop < len(stops):
        n_steps += 1
        if n_steps > max_steps:
            record.stop(t, f"more than max_steps = {max_steps} steps")
            break
        target = float(stops[next_stop])
        lands = t + h >= target - 1e-12 * t_end
        step = target - t if lands else h
        try:
            with np.errstate(over="ignore", invalid="ignore"):
                for s in range(1, 7):
                    stage = y.copy()
                    for j in range(s):
                        if DOPRI_A[s][j] != 0.0:
                            stage += (step * DOPRI_A[s][j]) * k[j]
                    last_value, k[s] = _velocity(field, stage, record.counter)
        except _NonFinite:
            # a stage left the domain (overflow): rejected like any error-control failure, with the
            # smallest factor; the flow stops only when the step can no longer shrink
            record.info["n_rejected"] += 1
            if step <= RK45_MIN_STEP * t_end:
                record.stop(t, f"{NON_FINITE} even with steps below 1e-12 t_end")
                break
            h = step * RK45_MIN_FACTOR
            continue
        except _Stop as stop:
            record.stop(t, str(stop))
            break
        y_new, error = y.copy(), np.zeros_like(y)
        with np.errstate(over="ignore", invalid="ignore"):
            for j in range(7):
                if j < 6 and DOPRI_A[6][j] != 0.0:  # b_7 = 0
                    y_new += (step * DOPRI_A[6][j]) * k[j]
                if DOPRI_E[j] != 0.0:
                    error += (step * DOPRI_E[j]) * k[j]
            scale = rtol * (1.0 + np.maximum(np.abs(y), np.abs(y_new)))
            err = float(np.sqrt(np.sum((error / scale) ** 2) / y.size))
        raw = 5.0 if err == 0.0 else min(5.0, max(RK45_MIN_FACTOR, 0.9 * err ** -0.2))
        factor = 2.0 ** (math.floor(8.0 * math.log2(raw)) / 8.0)  # a discrete set of factors, as in the core
        if not err <= 1.0:  # NaN too (an overflow in y_new)
            record.info["n_rejected"] += 1
            if step <= RK45_MIN_STEP * t_end:
                record.stop(t, "the error control failed even with steps below 1e-12 t_end")
                break
            h = step * min(1.0, factor)
            continue
        y, k[0], value = y_new, k[6], last_value  # first same as last
        t = target if lands else t + step
        record.info["time_reached"] = t
        if lands:
            if save[next_stop] or save_all_steps:
                record.save(t, y, value)
            next_stop += 1
        elif save_all_steps:
            record.save(t, y, value)
        h = max(h, step * factor) if lands else step * factor
    return record.result(y.size)


def gradient_descent_steps(field, y0, lr, n_steps):
    """theta_{k+1} = theta_k - lr grad l(theta_k); saves every iterate at t = k."""
    record = _Recorder()
    y = np.array(y0, dtype=np.float64)
    for step in range(n_steps + 1):
        try:
            value, v = _velocity(field, y, record.counter)
        except _Stop as stop:
            record.stop(step, str(stop))
            break
        record.save(step, y, value)
        record.info["time_reached"] = float(step)
        if step < n_steps:
            y = y + lr * v
    return record.result(np.size(y0))


def integrate(field, y0, flow_plan):
    """Run ``flow_plan`` (a _flowbackend.Plan, or ("gd", lr, n_steps)) with the NumPy integrators."""
    if isinstance(flow_plan, tuple):
        return gradient_descent_steps(field, y0, flow_plan[1], flow_plan[2])
    if flow_plan.method == "rk4":
        return integrate_rk4(field, y0, flow_plan.times, flow_plan.save)
    return integrate_rk45(field, y0, flow_plan.times, flow_plan.save, flow_plan.save_all_steps, flow_plan.rtol,
                          flow_plan.max_steps)


# -- gradient fields (mirror cpp/flow.cpp) ------------------------------------------------------
class LiftedLoss:
    """l = f o phi with f a function of z: grad l = J^T grad f(z), a vector-Jacobian product
    (geometry.lift_vjp; the d x D Jacobian is never formed)."""

    def __init__(self, model, objective) -> None:
        self.model, self.objective = model, objective

    def value_and_gradient(self, theta):
        value, gradient = self.objective(geometry.lift(self.model, theta))
        return value, geometry.lift_vjp(self.model, theta, gradient)


class NetworkRegression:
    """1/(2n) sum_i ||g(x_i) - y_i||^2 for a layered ReLU or linear network, by backpropagation
    (sigma'(0) = 0); parameters laid out as in shared/API.md."""

    def __init__(self, model, X, Y) -> None:
        self.model, self.X, self.Y = model, X, Y
        self.relu = model.kind == "path"

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
        return LiftedLoss(model, loss)
    if isinstance(loss, Regression):
        loss.check(model)
        return LiftedLoss(model, loss) if model.kind == "node" else NetworkRegression(model, loss.X, loss.Y)
    if callable(loss):
        return CallableField(model, loss, geometry)
    raise ValueError(f"loss must be a LiftedQuadratic, a Regression or a callable f(z) -> (value, gradient), got {loss!r}")


_backend = FlowBackend(geometry, field_of, integrate, integrate)
globals().update(_backend.exports())
