"""NumPy twin of ``intrinsic_flow.parsimony``: the same public API on NumPy training loops.

The loops mirror cpp/parsimony.cpp operation for operation (forward products H_l = W_l H_{l−1},
backward dl/dH_{l−1} = W_lᵀ dl/dH_l, one learning rate per layer, optax-style momentum
v ← g + μv) and the classic RK4 of reference/flows.py, so that both backends agree to rounding.
"""
from __future__ import annotations

import numpy as np

from .._parsimony import (CompletionResult, CompressionResult, FactorizationResult, Parsimony,  # noqa: F401
                          SeparationResult, completion_problem, rho_flow, separation, unpack)

__all__ = ["factorization", "compress", "rho_flow", "matrix_completion", "completion_problem", "separation",
           "progressive_separation", "train", "FactorizationResult", "CompressionResult", "CompletionResult",
           "SeparationResult",
           "value_and_gradient"]


def value_and_gradient(dims, theta, inputs, targets, mask, scale, relu, needed=None):
    """l = (s/2)‖Ω ⊙ (H_L − Y)‖² and its gradient (D,) by backpropagation; layers with needed[l]
    False get a zero gradient block and cost no product."""
    factors = unpack(theta, dims)
    depth = len(factors)
    needed = [True] * depth if needed is None else needed
    identity = inputs.size == 0
    hidden = [None if identity else inputs]
    for l, w in enumerate(factors):
        h = w.copy() if (l == 0 and identity) else w @ hidden[-1]
        if relu and l < depth - 1:
            h = np.maximum(h, 0.0)
        hidden.append(h)
    residual = hidden[-1] - targets
    if mask.size:
        residual = residual * mask
    value = 0.5 * scale * np.sum(residual * residual)
    back = scale * residual
    gradient = np.zeros_like(theta)
    grads = unpack(gradient, dims)
    lowest = next((l for l in range(depth) if needed[l]), depth)
    for l in range(depth - 1, lowest - 1, -1):
        if needed[l]:
            grads[l][...] = back if (l == 0 and identity) else back @ hidden[l].T
        if l > lowest:
            back = factors[l].T @ back
            if relu:
                back = back * (hidden[l] > 0.0)
    return value, gradient


def _saved(step, save_every):
    return step % save_every == 0 if save_every > 0 else step == 0


def descent(dims, theta0, inputs, targets, mask, scale, relu, learning_rates, momentum, n_steps, save_every, tol):
    sizes = [a * b for a, b in zip(dims[:-1], dims[1:])]
    rates = np.repeat(np.asarray(learning_rates, dtype=float), sizes)
    needed = [rate != 0.0 for rate in learning_rates]
    theta = np.array(theta0, dtype=float)
    velocity = np.zeros_like(theta)
    states, steps, losses = [], [], []
    finite, converged, step = True, False, 0
    while True:
        # a diverging run overflows: the loop sees it (finite = False) and the front end raises
        with np.errstate(over="ignore", invalid="ignore"):
            value, gradient = value_and_gradient(dims, theta, inputs, targets, mask, scale, relu, needed)
        losses.append(value)
        if not (np.isfinite(value) and np.all(np.isfinite(gradient))):
            finite = False
            break
        if tol > 0.0 and value <= tol:
            converged = True
            break
        if step == n_steps:
            break
        if _saved(step, save_every):
            states.append(theta.copy())
            steps.append(step)
        with np.errstate(over="ignore", invalid="ignore"):  # an overflow shows in the next loss
            if momentum != 0.0:
                velocity = gradient + momentum * velocity
                theta = theta - rates * velocity
            else:
                theta = theta - rates * gradient
        step += 1
    if not steps or steps[-1] != step:
        states.append(theta.copy())
        steps.append(step)
    info = {"steps_done": step, "converged": converged, "finite": finite}
    return np.array(states), steps, losses, info


def rk4(dims, theta0, inputs, targets, mask, scale, relu, dt, n_steps, save_every):
    def velocity(theta):
        with np.errstate(over="ignore", invalid="ignore"):  # divergence is detected by the loop
            value, gradient = value_and_gradient(dims, theta, inputs, targets, mask, scale, relu)
        return value, -gradient

    theta = np.array(theta0, dtype=float)
    states, steps, losses = [], [], []
    finite, step = True, 0
    while True:
        value, k1 = velocity(theta)
        if not (np.isfinite(value) and np.all(np.isfinite(k1))):
            finite = False
            break
        if _saved(step, save_every) or step == n_steps:
            states.append(theta.copy())
            steps.append(step)
            losses.append(value)
        if step == n_steps:
            break
        # classic RK4, b = (1/6, 1/3, 1/3, 1/6), accumulated in the order of the core's stepper
        _, k2 = velocity(theta + (dt * 0.5) * k1)
        _, k3 = velocity(theta + (dt * 0.5) * k2)
        _, k4 = velocity(theta + dt * k3)
        theta = theta + (dt / 6.0) * k1 + (dt / 3.0) * k2 + (dt / 3.0) * k3 + (dt / 6.0) * k4
        step += 1
    info = {"steps_done": step, "converged": False, "finite": finite}
    return np.array(states), steps, losses, info


class _NumpyKernels:
    descent = staticmethod(descent)
    rk4 = staticmethod(rk4)


_api = Parsimony(_NumpyKernels())
factorization = _api.factorization
compress = _api.compress
matrix_completion = _api.matrix_completion
progressive_separation = _api.progressive_separation
train = _api.train
