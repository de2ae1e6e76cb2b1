"""
Conservation laws along PyTorch training
========================================

An MLP 64 -> 32 -> 16 -> 10 is trained on scikit-learn's digits (8x8 images) in a plain PyTorch
loop with SGD, SGD with momentum 0.9 and Adam, each at two step sizes eta, while a
``ConservationMonitor`` records its 48 known laws (one per hidden neuron: the squared norm of the
weights and bias entering it minus that of the weights leaving it).

One SGD step moves each law by exactly eta^2 times (squared norm of the gradient entering the
neuron minus that of the gradient leaving it): dividing eta by 10 divides the drift per step by
100. Momentum keeps that order for a fixed momentum coefficient,
with a constant about 1/(1 - beta)^2 larger. Adam rescales each coordinate of the gradient, which
breaks the rescaling symmetry at first order: its drift per step is O(eta), divided by only 10.
"""
import matplotlib.pyplot as plt
import numpy as np
import torch
from sklearn.datasets import load_digits

from intrinsic_flow.torch import ConservationMonitor

digits = load_digits()
X = torch.tensor(digits.data / 16.0, dtype=torch.float64)
y = torch.tensor(digits.target)


def train(optimizer: str, eta: float, steps: int = 100, batch: int = 64):
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 16),
                              torch.nn.ReLU(), torch.nn.Linear(16, 10)).double()
    opt = {"SGD": lambda: torch.optim.SGD(net.parameters(), lr=eta),
           "momentum": lambda: torch.optim.SGD(net.parameters(), lr=eta, momentum=0.9),
           "Adam": lambda: torch.optim.Adam(net.parameters(), lr=eta)}[optimizer]()
    order = torch.randperm(len(X), generator=torch.Generator().manual_seed(1))
    with ConservationMonitor(net, (64,), optimizer=opt) as monitor:
        for step in range(steps):
            idx = order[(step * batch) % len(X):][:batch]
            opt.zero_grad()
            torch.nn.functional.cross_entropy(net(X[idx]), y[idx]).backward()
            opt.step()
    return monitor


fig, axes = plt.subplots(1, 2, figsize=(10, 4))
print(f"{'optimiser':<10}{'eta':>8}{'mean |drift| per step':>24}{'ratio per decade':>18}")
for optimizer, colour in (("SGD", "C0"), ("momentum", "C1"), ("Adam", "C2")):
    per_step = []
    for eta, style in ((1e-2, "-"), (1e-3, "--")):
        monitor = train(optimizer, eta)
        per_step.append(np.abs(monitor.step_drift).max(axis=1).mean())
        monitor.plot(axes[0], label=f"{optimizer}, eta = {eta:g}")
        axes[0].lines[-1].set(color=colour, linestyle=style)
        axes[1].semilogy(np.abs(monitor.step_drift).max(axis=1), color=colour, linestyle=style,
                         label=f"{optimizer}, eta = {eta:g}")
        ratio = f"{per_step[0] / per_step[1]:.0f}" if len(per_step) == 2 else ""
        print(f"{optimizer:<10}{eta:>8g}{per_step[-1]:>24.2e}{ratio:>18}")
axes[0].set_title("drift since the start")
axes[1].set_title("drift per step")
axes[1].set_xlabel("step")
axes[1].set_ylabel(r"$\max_g |h_g(t+1) - h_g(t)|$")
axes[1].legend(fontsize=7)
fig.tight_layout()
plt.show()
