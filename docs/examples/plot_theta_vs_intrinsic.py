"""
Theta-flow against intrinsic flow
=================================

``compare_flows`` integrates the gradient flow in theta and the intrinsic flow
z' = -K(z, h0) grad f(z) from the same start. For a ReLU network (recoverable from (z, h)) and for
a relaxed-balanced two-layer linear network the two trajectories of z agree to the integration
error.
"""
import matplotlib.pyplot as plt
import numpy as np

import intrinsic_flow as itf
from intrinsic_flow.losses import LiftedQuadratic

cases = {
    "ReLU [3,4,2], hidden bias": (itf.ReLUNet([3, 4, 2], bias="hidden"), {}),
    "Linear [3,3,3], relaxed balance 0.5": (itf.LinearNet([3, 3, 3]), {"scheme": "relaxed_balanced", "lambdas": 0.5}),
}

fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, (name, (model, init)) in zip(axes, cases.items()):
    theta0 = model.init(0, **init)
    loss = LiftedQuadratic(np.linspace(-1, 1, model.n_lifted))
    result = itf.compare_flows(model, theta0, loss, 1.0, n_steps=200)
    t = result.theta_flow.t
    for k in range(min(4, model.n_lifted)):
        ax.plot(t, result.theta_flow.z[:, k], "-", color=f"C{k}")
        ax.plot(result.intrinsic_flow.t[::10], result.intrinsic_flow.z[::10, k], "o", color=f"C{k}", ms=3)
    ax.set_title(f"{name}\nmax relative gap {result.max_relative_gap:.1e}", fontsize=8)
    ax.set_xlabel("t")
    print(f"{name}: max relative gap {result.max_relative_gap:.2e}")
axes[0].set_ylabel("z_k(t): theta-flow (lines), intrinsic flow (dots)")
fig.tight_layout()
