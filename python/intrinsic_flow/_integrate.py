"""The NumPy integrators shared by both backends: classic RK4 on a grid, Dormand-Prince 5(4) with
error control, gradient descent, for any ``field`` with ``value_and_gradient(y) -> (value,
gradient)``, following y' = -gradient. The core integrates its own fields; these run Python
callables, user polynomials and the intrinsic flows (mirrors cpp/flow).
"""
from __future__ import annotations

import math

import numpy as np

from ._flowbackend import FieldError


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


class LiftedLoss:
    """l = f o phi with f a function of z: grad l = J^T grad f(z), a vector-Jacobian product
    (geometry.lift_vjp; the d x D Jacobian is never formed)."""

    def __init__(self, model, objective, geometry) -> None:
        self.model, self.objective, self.geometry = model, objective, geometry

    def value_and_gradient(self, theta):
        value, gradient = self.objective(self.geometry.lift(self.model, theta))
        return value, self.geometry.lift_vjp(self.model, theta, gradient)
