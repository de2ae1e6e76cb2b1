"""The linear neural ODE in plain NumPy (mirrors cpp/neural_ode): the linear chain of the
U_k = I + A_k / K read through the affine map theta -> u, so dphi/dtheta = (dphi/du) / K."""
from __future__ import annotations

import numpy as np

from ..models import LinearNet
from .linear import LinearLifting


class NeuralODELifting:
    def __init__(self, model) -> None:
        self.model = model
        self.chain = LinearLifting(LinearNet(model.widths))
        self.n_params = model.n_params
        self.n_lifted = model.n_lifted
        self._identity = np.tile(np.eye(model.n).ravel(), model.n_steps)

    def _factors(self, theta):
        return self._identity + np.asarray(theta) / self.model.n_steps

    def lift(self, theta):
        return self.chain.lift(self._factors(theta))

    def jacobian(self, theta):
        return self.chain.jacobian(self._factors(theta)) / self.model.n_steps

    def vjp(self, theta, w):
        return self.chain.vjp(self._factors(theta), w) / self.model.n_steps

    def jvp(self, theta, v):
        return self.chain.jvp(self._factors(theta), v) / self.model.n_steps

    def jacobian_derivative(self, theta, direction):
        K = self.model.n_steps
        return self.chain.jacobian_derivative(self._factors(theta), np.asarray(direction) / K) / K

    def conserved(self, theta):
        return self.chain.conserved(self._factors(theta))

    def conserved_jacobian(self, theta):
        return self.chain.conserved_jacobian(self._factors(theta)) / self.model.n_steps

