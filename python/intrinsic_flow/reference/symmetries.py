"""Symmetries of wide two-layer ReLU networks in plain NumPy (mirrors cpp/symmetries.cpp).

The same public API as ``intrinsic_flow.symmetries`` (front end in ``intrinsic_flow._symmetries``),
with the particle loops, the seeded generator (splitmix64 per sample index, Box-Muller normals) and
the reduced angle dynamics written with NumPy arrays.
"""
from __future__ import annotations

import numpy as np

from .._symmetries import (OddTargetConstants, ParticleTrajectory, ReducedTrajectory, SymmetriesBackend, alpha,
                           angles_to_subspace, from_theta, init_particles, linear_surrogate, mean_field_model,
                           odd_cubic_coef, odd_target_bound, odd_target_constants, odd_target_loss, odd_target_ode,
                           pair_symmetry_error, reduced_features, reduced_init, symmetrize, tau_histogram, to_theta)

__all__ = ["mean_field_model", "to_theta", "from_theta", "init_particles", "symmetrize", "odd_cubic_coef",
           "draw_inputs", "target_values", "predict", "train", "ParticleTrajectory", "pair_symmetry_error",
           "linear_surrogate", "angles_to_subspace", "tau_histogram", "odd_target_constants",
           "OddTargetConstants", "odd_target_ode", "odd_target_bound", "odd_target_loss", "alpha", "reduced_init",
           "reduced_samples", "reduced_train", "reduced_features", "ReducedTrajectory"]

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


def _mix(z: np.ndarray) -> np.ndarray:
    """splitmix64 on uint64 arrays (wrapping arithmetic)."""
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


def _normals(seed: int, indices: np.ndarray, n: int) -> np.ndarray:
    """(len(indices), n) standard normals: the streams (seed, index) of the core."""
    key = _mix(_mix(np.array([seed], dtype=np.uint64)) + indices.astype(np.uint64))
    pairs = (n + 1) // 2
    k = np.arange(pairs, dtype=np.uint64)
    w1 = _mix(key[:, None] + (np.uint64(2) * k) * _GOLDEN)
    w2 = _mix(key[:, None] + (np.uint64(2) * k + np.uint64(1)) * _GOLDEN)
    u1 = ((w1 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    u2 = ((w2 >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    radius = np.sqrt(-2.0 * np.log(u1))
    out = np.empty((indices.size, 2 * pairs))
    out[:, 0::2] = radius * np.cos(2.0 * np.pi * u2)
    out[:, 1::2] = radius * np.sin(2.0 * np.pi * u2)
    return out[:, :n]


class _NumpyKernels:
    # values (8 bytes) the NumPy loops allocate, for the size checks of the front end
    @staticmethod
    def predict_items(m, d, N):
        return 2 * N * m + N

    @staticmethod
    def train_items(m, d, n, S, online):
        return 2 * S * (m * (d + 1) + 1) + 3 * n * m + (2 * n * (d + 1) if online else 0) + 8 * m * d + 8 * m

    @staticmethod
    def samples_items(n):
        return 40 * n

    @staticmethod
    def reduced_items(m, n, S):
        return 2 * S * (2 * m + 1) + 4 * n * m + 40 * n + 8 * m

    @staticmethod
    def draw_inputs(kind, scale, d, seed, start, count):
        g = _normals(seed, np.arange(start, start + count, dtype=np.uint64), d)
        if kind == 1:
            return g * (scale / np.sqrt(np.sum(g * g, axis=1)))[:, None]
        return g * scale

    @staticmethod
    def target(kind, coef, d_H, X):
        if kind == 0:
            return (X**3) @ coef
        if kind == 1:
            return np.sqrt(np.sum(X[:, :d_H] ** 2, axis=1))
        return X @ coef

    @staticmethod
    def predict(a, B, X):
        return np.maximum(X @ B.T, 0.0) @ a / a.size

    @classmethod
    def _velocity(cls, a, B, X, y):
        m, n = a.size, X.shape[0]
        Z = X @ B.T
        H = np.maximum(Z, 0.0)
        R = H @ a / m - y
        va = -(H.T @ R) / n
        vB = -a[:, None] * (((Z > 0) * R[:, None]).T @ X) / n
        return 0.5 * np.mean(R * R), va, vB

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # a diverging run is reported by the front end
    def train(cls, a0, B0, X, y, method, lr, n_steps, save_steps, input_kind, input_scale, target_kind, coef,
              d_H, batch, seed, symmetric):
        a, B = a0.copy(), B0.copy()
        A_out, B_out, loss_out = [], [], []
        saves = set(save_steps)
        for step in range(n_steps + 1):
            if step == n_steps and step not in saves:
                break
            if method == 2 and symmetric:
                half = cls.draw_inputs(input_kind, input_scale, B.shape[1], seed, step * (batch // 2), batch // 2)
                X = np.concatenate([half, -half])
                y = cls.target(target_kind, coef, d_H, X)
            elif method == 2:
                X = cls.draw_inputs(input_kind, input_scale, B.shape[1], seed, step * batch, batch)
                y = cls.target(target_kind, coef, d_H, X)
            loss, va, vB = cls._velocity(a, B, X, y)
            if step in saves:
                A_out.append(a.copy())
                B_out.append(B.ravel().copy())
                loss_out.append(loss)
            if step == n_steps:
                break
            if method != 1:
                a, B = a + lr * va, B + lr * vB
                continue
            acc_a, acc_B = va.copy(), vB.copy()
            for weight, w in ((0.5, 2.0), (0.5, 2.0), (1.0, 1.0)):
                _, va, vB = cls._velocity(a + weight * lr * va, B + weight * lr * vB, X, y)
                acc_a, acc_B = acc_a + w * va, acc_B + w * vB
            a, B = a + (lr / 6.0) * acc_a, B + (lr / 6.0) * acc_B
        return np.array(A_out), np.array(B_out), np.array(loss_out)

    @staticmethod
    def reduced_samples(d, d_H, seed, step, n):
        """The core's recipe: four Box-Muller normals, then chi-squares of even order as
        -2 log of products of uniforms (logged every 8 factors)."""
        key = _mix(_mix(np.array([seed], dtype=np.uint64)) + np.arange(step * n, step * n + n, dtype=np.uint64))

        def uniforms(first, count):
            k = np.arange(first, first + count, dtype=np.uint64)
            w = _mix(key[:, None] + k * _GOLDEN)
            return ((w >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53

        u = uniforms(0, 8)
        radius = np.sqrt(-2.0 * np.log(u[:, [0, 2, 4, 6]]))
        normals = np.empty((n, 8))
        normals[:, 0::2] = radius * np.cos(2.0 * np.pi * u[:, [1, 3, 5, 7]])
        normals[:, 1::2] = radius * np.sin(2.0 * np.pi * u[:, [1, 3, 5, 7]])
        word = 8

        def chi2(dof, odd):
            nonlocal word
            j = dof // 2
            value = np.zeros(n)
            if j:
                acc = np.zeros(n)
                for start in range(0, j, 8):  # 8 uniforms at a time: (n, 8) arrays, not (n, j)
                    v = uniforms(word + start, min(j, start + 8) - start)
                    prod = np.ones(n)
                    for i in range(v.shape[1]):
                        prod = prod * v[:, i]
                    acc = acc + np.log(prod)
                value = -2.0 * acc
            word += j
            return value + odd**2 if dof % 2 else value

        X = chi2(d_H, normals[:, 4])
        Y = chi2(d - d_H, normals[:, 5])
        RH = chi2(d_H - 1, normals[:, 4])
        RP = chi2(d - d_H - 1, normals[:, 5])
        RH2 = chi2(d_H - 1, normals[:, 6])
        RP2 = chi2(d - d_H - 1, normals[:, 7])
        g = normals
        return np.stack([np.sqrt(X / (X + Y)), np.sqrt(Y / (X + Y)), g[:, 0] / np.sqrt(g[:, 0]**2 + RH),
                         g[:, 1] / np.sqrt(g[:, 1]**2 + RP), g[:, 2] / np.sqrt(g[:, 2]**2 + RH2),
                         g[:, 3] / np.sqrt(g[:, 3]**2 + RP2)], axis=1)

    @classmethod
    @np.errstate(over="ignore", invalid="ignore")  # a diverging run is reported by the front end
    def reduced_train(cls, c0, theta0, d, d_H, lr, n_steps, n_samples, seed, save_steps):
        c, theta = c0.copy(), theta0.copy()
        eps = np.where(c0 >= 0, 1.0, -1.0)
        m = c.size
        saves = set(save_steps)
        C, T, L = [], [], []
        for step in range(n_steps + 1):
            if step == n_steps and step not in saves:
                break
            S = cls.reduced_samples(d, d_H, seed, step, n_samples)
            alpha_, beta_ = S[:, 0] * S[:, 2], S[:, 1] * S[:, 3]
            ct, st = np.cos(theta), np.sin(theta)
            # the predictor with the independent (r', s')
            F = np.maximum((S[:, 0] * S[:, 4])[:, None] * ct + (S[:, 1] * S[:, 5])[:, None] * st, 0.0)
            Z = alpha_[:, None] * ct + beta_[:, None] * st
            Psi = np.maximum(Z, 0.0)
            R = S[:, 0] - F @ c / m
            G = Psi.T @ R
            V = ((Z > 0) * (beta_[:, None] * ct - alpha_[:, None] * st)).T @ R
            if step in saves:
                C.append(c.copy())
                T.append(theta.copy())
                L.append(0.5 * np.mean(R * (S[:, 0] - Psi @ c / m)))
            if step == n_steps:
                break
            scale = d / n_samples
            c = c * (1.0 + 2.0 * lr * scale * eps * G)
            theta = theta + lr * scale * eps * V
        return np.array(C), np.array(T), np.array(L)


_backend = SymmetriesBackend(_NumpyKernels())
predict = _backend.predict
draw_inputs = _backend.draw_inputs
target_values = _backend.target_values
train = _backend.train
reduced_samples = _backend.reduced_samples
reduced_train = _backend.reduced_train
