"""
Law drift along flows and gradient descent
==========================================

The known laws are exact invariants of the gradient flow: RK4 conserves them up to its own
error, which falls like h^4 with the step. A gradient-descent step changes them by an exact
O(eta^2) amount, so over the horizon t = 1 (1/eta steps) the drift falls like eta.
"""
import matplotlib.pyplot as plt
import numpy as np

import intrinsic_flow as itf
from intrinsic_flow.losses import LiftedQuadratic

model = itf.ReLUNet([3, 4, 2], bias="hidden")
theta0 = model.init(0)
loss = LiftedQuadratic(np.linspace(-1, 1, model.n_lifted))
h0 = itf.conserved(model, theta0)

etas = [1e-1, 3e-2, 1e-2, 3e-3, 1e-3]
gd_drift, step_drift = [], []
for eta in etas:
    run = itf.gradient_descent(model, theta0, loss, eta, int(round(1 / eta)))
    gd_drift.append(np.abs(run.h[-1] - h0).max())
    step_drift.append(np.abs(run.h[1] - h0).max())

steps = [10, 20, 40, 80, 160]
rk4_drift = [itf.gradient_flow(model, theta0, loss, 1.0, n_steps=n).max_drift for n in steps]

fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
left.loglog(etas, gd_drift, "o-", label="GD drift at t = 1")
left.loglog(etas, step_drift, "s-", label="one GD step")
left.loglog(etas, np.array(etas) * gd_drift[-1] / etas[-1], "k:", label="slope 1")
left.loglog(etas, np.array(etas) ** 2 * step_drift[-1] / etas[-1] ** 2, "k--", label="slope 2")
left.set_xlabel("learning rate eta")
left.set_ylabel("max |h - h0|")
left.legend(fontsize=7)
right.loglog([1 / n for n in steps], rk4_drift, "o-", label="RK4, t = 1")
right.set_xlabel("step h")
right.set_ylabel("max relative drift of h")
right.legend(fontsize=7)
fig.tight_layout()
for eta, a, b in zip(etas, gd_drift, step_drift):
    print(f"eta {eta:.0e}: drift at t = 1 {a:.2e}, after one step {b:.2e}")
