"""
Relaxed balance is necessary
============================

For a two-layer linear network, kernel inclusion ker dphi ∩ ker dh ⊆ ker dM holds exactly when
the conserved matrix S = W2^T W2 - W1 W1^T is a multiple of the identity. Moving a
relaxed-balanced point by eps in a random direction makes S leave lam I by O(eps), and the
kernel-inclusion residual grows in proportion.
"""
import matplotlib.pyplot as plt
import numpy as np

import intrinsic_flow as itf

net = itf.LinearNet([3, 3, 3])
rng = np.random.default_rng(1)
theta = net.init(0, "relaxed_balanced", lambdas=0.5)
direction = rng.standard_normal(net.n_params)
direction /= np.linalg.norm(direction)


def distance_to_identity(point):
    W1, W2 = net.unflatten(point)
    S = W2.T @ W2 - W1 @ W1.T
    return np.linalg.norm(S - np.trace(S) / S.shape[0] * np.eye(S.shape[0]))


epsilons = np.logspace(-8, -1, 8)
distances, residuals = [], []
for eps in epsilons:
    point = theta + eps * direction
    distances.append(distance_to_identity(point))
    residuals.append(itf.criteria(net, point).inclusion_residual)
    print(f"eps {eps:.0e}: |S - lam I| = {distances[-1]:.2e}, residual = {residuals[-1]:.2e}")

fig, ax = plt.subplots(figsize=(5, 3.5))
ax.loglog(distances, residuals, "o-")
ax.axhline(itf.INCLUSION_TOL, color="gray", ls="--", lw=1, label="tolerance")
ax.set_xlabel("distance of S to the multiples of I")
ax.set_ylabel("kernel-inclusion residual")
ax.legend()
fig.tight_layout()
