"""abc-parameterised networks in plain NumPy (mirrors cpp/parameterizations).

Same functions and results (to 1e-12) as ``intrinsic_flow.parameterizations``; the public logic
is written once in ``intrinsic_flow._parameterizations`` and runs here on :class:`AbcNetwork`, a
NumPy twin of the core network. The mathematics is in docs/theory/parameterizations.md.

Conventions (L hidden layers, L + 1 weight matrices W_0 .. W_L, scales s_l = m^{-a_l}):
``h_1 = s_0 (W_0 x + beta_0)``, ``x_l = sigma(h_l)``, ``h_{l+1} = s_l W_l x_l (+ beta_l)``,
``f = s_L W_L x_L (+ beta_L)`` (the unscaled biases beta_1 .. beta_L are optional); batches are rows. The loss is averaged over the batch.
"""
from __future__ import annotations

import numpy as np

from .._parameterizations import (ACTIVATIONS, LOSSES, SCHEMES, AbcModel, abc_exponents, activate, bias_lr_exponents,
                                  bind_api, derivative, stable_rank)


class AbcNetwork:
    """The NumPy twin of the core's ``AbcNetwork``: same constructor, methods and results."""

    def __init__(self, weights, bias0, scales, activation: str, loss: str, biases=()) -> None:
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation = '{activation}' is not known; accepted: {', '.join(ACTIVATIONS)}")
        if loss not in LOSSES:
            raise ValueError(f"loss = '{loss}' is not known; accepted: {', '.join(LOSSES)}")
        self._weights = [np.array(w, dtype=np.float64) for w in weights]
        self._bias0 = np.array(bias0, dtype=np.float64)
        self._biases = [np.array(b, dtype=np.float64) for b in biases]
        if self._biases and (len(self._biases) != len(self._weights) - 1
                             or any(b.shape != (w.shape[0],) for b, w in zip(self._biases, self._weights[1:]))):
            raise ValueError(f"biases must be none or one vector per later layer ({len(self._weights) - 1}) of its "
                             f"output size, got shapes {[b.shape for b in self._biases]}")
        self._scales = [float(s) for s in scales]
        self._activation = activation
        self._loss_name = loss
        self._last_output = np.zeros((0, self._weights[-1].shape[0]))

    @property
    def n_matrices(self) -> int:
        return len(self._weights)

    @property
    def weights(self) -> list:
        return [w.copy() for w in self._weights]

    @property
    def bias0(self) -> np.ndarray:
        return self._bias0.copy()

    @property
    def biases(self) -> list:
        """beta_1 .. beta_L (unscaled biases of the later layers), empty if none."""
        return [b.copy() for b in self._biases]

    def _forward(self, x: np.ndarray) -> tuple:
        pre, post = [], [x]
        last = len(self._weights) - 1
        for index, (w, s) in enumerate(zip(self._weights, self._scales)):
            z = post[-1] @ w.T
            if index == 0:
                z = z + self._bias0
            z = z * s
            if index > 0 and self._biases:
                z = z + self._biases[index - 1]
            if index == last:
                self._last_output = z
                return pre, post, z
            pre.append(z)
            post.append(activate(self._activation, z))
        raise AssertionError("unreachable")  # pragma: no cover

    @property
    def last_output(self) -> np.ndarray:
        """f (batch, n_out) of the last forward pass (that of the last sgd_step: before its update)."""
        return self._last_output.copy()

    def forward(self, x) -> tuple:
        """(hidden pre-activations h_1..h_L, each (B, m); output f (B, n_out))."""
        pre, _, out = self._forward(np.asarray(x, dtype=np.float64))
        return pre, out

    def _loss(self, out: np.ndarray, targets: np.ndarray) -> tuple:
        batch = out.shape[0]
        if self._loss_name == "mse":
            diff = out - targets
            return 0.5 * float(np.sum(diff * diff, axis=1).sum()) / batch, diff / batch
        top = out.max(axis=1, keepdims=True)
        log_norm = top + np.log(np.exp(out - top).sum(axis=1, keepdims=True))
        value = -float(np.sum(targets * (out - log_norm), axis=1).sum()) / batch
        grad = np.exp(out - log_norm) * targets.sum(axis=1, keepdims=True) - targets
        return value, grad / batch

    def _backward(self, x, targets):
        pre, post, out = self._forward(x)
        value, error = self._loss(out, targets)
        grads = [None] * len(self._weights)
        grad_bias = None
        grad_biases = [None] * len(self._biases)
        for index in range(len(self._weights) - 1, -1, -1):
            s = self._scales[index]
            grads[index] = s * (error.T @ post[index])
            if index > 0 and self._biases:
                grad_biases[index - 1] = error.sum(axis=0)
            if index == 0:
                grad_bias = s * error.sum(axis=0)
            else:
                error = (s * (error @ self._weights[index])) * derivative(self._activation, pre[index - 1])
        return value, grads, grad_bias, grad_biases

    def _check(self, x, targets) -> tuple:
        x = np.asarray(x, dtype=np.float64)
        targets = np.asarray(targets, dtype=np.float64)
        n_out = self._weights[-1].shape[0]
        if targets.shape != (x.shape[0], n_out):
            raise ValueError(f"targets have shape {targets.shape}, expected (batch, n_out) = ({x.shape[0]}, {n_out})")
        return x, targets

    def loss_and_gradients(self, x, targets) -> tuple:
        """(loss, [dloss/dW_l], dloss/dbeta_0, [dloss/dbeta_l for l = 1..L] or [])."""
        x, targets = self._check(x, targets)
        return self._backward(x, targets)

    def sgd_step(self, x, targets, lrs, bias_lrs=()) -> float:
        """W_l <- W_l - lrs[l] dloss/dW_l, beta_l <- beta_l - bias_lrs[l] dloss/dbeta_l (bias_lrs empty:
        lrs); returns the loss before the step."""
        x, targets = self._check(x, targets)
        if len(lrs) != len(self._weights):
            raise ValueError(f"lrs has {len(lrs)} entries, expected one per weight matrix ({len(self._weights)})")
        if len(bias_lrs) not in (0, len(self._weights)):
            raise ValueError(f"bias_lrs has {len(bias_lrs)} entries, expected none or one per layer ({len(self._weights)})")
        bias_lrs = list(bias_lrs) if len(bias_lrs) else list(lrs)
        value, grads, grad_bias, grad_biases = self._backward(x, targets)
        for w, g, rate in zip(self._weights, grads, lrs):
            w -= rate * g
        self._bias0 -= bias_lrs[0] * grad_bias
        for b, g, rate in zip(self._biases, grad_biases, bias_lrs[1:]):
            b -= rate * g
        return value


_api = bind_api(AbcNetwork, __name__)
abc_network = _api["abc_network"]
calibrate_base_lrs = _api["calibrate_base_lrs"]
coord_check = _api["coord_check"]
train = _api["train"]

__all__ = ["ACTIVATIONS", "SCHEMES", "AbcModel", "AbcNetwork", "abc_exponents", "abc_network", "bias_lr_exponents",
           "calibrate_base_lrs", "coord_check", "stable_rank", "train"]
