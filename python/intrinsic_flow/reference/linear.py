"""Deep linear networks in plain NumPy (mirrors cpp/linear): phi(theta) = (W_L ... W_1).ravel()."""
from __future__ import annotations

import numpy as np


class LinearLifting:
    def __init__(self, model) -> None:
        self.model = model
        self.widths = model.widths
        self.n_params = model.n_params
        self.n_lifted = model.n_lifted

    def _products(self, layers):
        """prefix[k] = W_k..W_1 (prefix[0] = I) and suffix[k] = W_L..W_{k+1} (suffix[L] = I)."""
        L = len(layers)
        prefix = [np.eye(self.widths[0])]
        for weight in layers:
            prefix.append(weight @ prefix[-1])
        suffix = [None] * (L + 1)
        suffix[L] = np.eye(self.widths[-1])
        for k in range(L - 1, -1, -1):
            suffix[k] = suffix[k + 1] @ layers[k]
        return prefix, suffix

    def lift(self, theta):
        prefix, _ = self._products(self.model.unflatten(theta))
        return prefix[-1].ravel()

    @staticmethod
    def _jacobian_from(left, right):
        """J[(i, j), W_l[a, b]] = left[l+1][i, a] right[l][b, j], layer blocks side by side."""
        blocks = [np.einsum("ia,bj->ijab", left[l + 1], right[l]) for l in range(len(left) - 1)]
        return np.concatenate([b.reshape(b.shape[0] * b.shape[1], -1) for b in blocks], axis=1)

    def jacobian(self, theta):
        prefix, suffix = self._products(self.model.unflatten(theta))
        return self._jacobian_from(suffix, prefix)

    def vjp(self, theta, w):
        """J^T w through the products: layer l gets suffix[l+1]^T G prefix[l]^T, G = w as (d_L, d_0)."""
        prefix, suffix = self._products(self.model.unflatten(theta))
        G = np.asarray(w).reshape(self.widths[-1], self.widths[0])
        return np.concatenate([(suffix[l + 1].T @ G @ prefix[l].T).ravel() for l in range(len(prefix) - 1)])

    def jvp(self, theta, v):
        """J v = sum_l suffix[l+1] V_l prefix[l], V_l the layers of v."""
        prefix, suffix = self._products(self.model.unflatten(theta))
        moves = self.model.unflatten(v)
        return sum(suffix[l + 1] @ moves[l] @ prefix[l] for l in range(len(moves))).ravel()

    def jacobian_derivative(self, theta, direction):
        layers, moves = self.model.unflatten(theta), self.model.unflatten(direction)
        prefix, suffix = self._products(layers)
        L = len(layers)
        dprefix = [np.zeros_like(prefix[0])]
        for k in range(1, L + 1):
            dprefix.append(moves[k - 1] @ prefix[k - 1] + layers[k - 1] @ dprefix[k - 1])
        dsuffix = [None] * (L + 1)
        dsuffix[L] = np.zeros_like(suffix[L])
        for k in range(L - 1, -1, -1):
            dsuffix[k] = dsuffix[k + 1] @ layers[k] + suffix[k + 1] @ moves[k]
        return self._jacobian_from(dsuffix, prefix) + self._jacobian_from(suffix, dprefix)

    def conserved(self, theta):
        layers = self.model.unflatten(theta)
        values = []
        for lower, upper in zip(layers[:-1], layers[1:]):
            H = upper.T @ upper - lower @ lower.T
            values.append(H[np.triu_indices(H.shape[0])])
        return np.concatenate(values) if values else np.zeros(0)

    def conserved_jacobian(self, theta):
        layers = self.model.unflatten(theta)
        offsets = np.cumsum([0] + [w.size for w in layers])
        rows = []
        for l, (lower, upper) in enumerate(zip(layers[:-1], layers[1:])):
            n = lower.shape[0]
            for i, j in zip(*np.triu_indices(n)):
                row = np.zeros(self.n_params)
                d_upper = np.zeros_like(upper)  # d(W^T W)[i, j] / dW[a, b] = δ_bi W[a, j] + δ_bj W[a, i]
                d_upper[:, i] += upper[:, j]
                d_upper[:, j] += upper[:, i]
                d_lower = np.zeros_like(lower)  # d(W W^T)[i, j] / dW[a, b] = δ_ai W[j, b] + δ_aj W[i, b]
                d_lower[i, :] += lower[j, :]
                d_lower[j, :] += lower[i, :]
                row[offsets[l + 1]:offsets[l + 2]] = d_upper.ravel()
                row[offsets[l]:offsets[l + 1]] = -d_lower.ravel()
                rows.append(row)
        return np.array(rows).reshape(len(rows), self.n_params)

