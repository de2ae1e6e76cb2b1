"""Reproduction of Hajjar, Chizat, Giraud, *Training integrable parameterizations of deep neural
networks in the infinite-width limit* (arXiv 2110.15596): its experiments as report sections.

The paper's networks (7 weight matrices of width 1024, MNIST and CIFAR-10, 600-1200 steps at batch
512) are scaled down to what runs on a 2-core CPU in minutes: scikit-learn's 8x8 digits stand in
for MNIST, widths are at most 512 for training (4096 for one-step checks), and ``--quick`` shrinks
everything further so that the whole paper runs in under a minute. The mathematics is in
docs/theory/parameterizations.md.
"""
from __future__ import annotations

import math

import numpy as np

from .. import parameterizations as abc
from ..report import Section, _figure, _legend, table

TITLE = "Integrable parameterizations (Hajjar, Chizat, Giraud, arXiv 2110.15596)"


def _mixture():
    from ..datasets import gaussian_mixture

    return gaussian_mixture(n_samples=64, dim=10, seed=1)


def _digits():
    from ..datasets import load_digits

    return load_digits()


def _fmt(value: float) -> str:
    return f"{value:+.2f}" if np.isfinite(value) else "n/a"


def outputs_at_initialisation(quick: bool) -> Section:
    """E4: mean |f| at initialisation against width, IP with L = 1, 2, 3 and muP."""
    widths = [32, 64, 128, 256, 512] if quick else [32, 64, 128, 256, 512, 1024, 1400]
    n_seeds = 20 if quick else 100
    figure, (ax,) = _figure(1)
    rows, measured = [], []
    for scheme, L in (("ip", 1), ("ip", 2), ("ip", 3), ("mup", 3)):
        check = abc.coord_check(scheme, widths, n_hidden=L, n_steps=0, n_seeds=n_seeds, data=_mixture(), batch=8)
        slope = float(check.slopes("abs_f").loc[(L + 1, 0)])
        means = check.means("abs_f").loc[(L + 1, 0)]
        expected = -L / 2 if scheme == "ip" else -0.5
        label = f"{'IP' if scheme == 'ip' else 'muP'}, L = {L}"
        ax.loglog(widths, means.to_numpy(), "o-", ms=3, label=f"{label} (slope {slope:.2f})")
        rows.append((label, _fmt(expected), _fmt(slope)))
        measured.append(f"{label}: {slope:.2f} (theory {expected:.1f})")
    ax.set_xlabel("width m")
    ax.set_ylabel("mean |f(x)| at initialisation")
    _legend(ax)
    caption = ("Mean |f| at initialisation against width, ReLU, zero-mean i.i.d. weights. The paper's figure "
               "(the authors' ip_outputs / muP_outputs plots, L = 3, m from 25 to 1400, 100 trials) shows |f| "
               "falling like m^(-3/2) for IP and m^(-1/2) for muP. Ours, fitted slopes: " + "; ".join(measured)
               + f". Scaled down: {n_seeds} seeds, 8 inputs of a Gaussian mixture, widths {widths[0]}-{widths[-1]}.")
    markdown = ("In an integrable parameterisation each hidden pre-activation is an average over the previous "
                "layer, so with zero-mean weights it is O(m^(-1/2)) and the output O(m^(-L/2)) (ReLU is "
                "positively homogeneous). muP keeps hidden layers O(1) and shrinks only the output, m^(-1/2).\n\n"
                + table(["network", "predicted slope", "fitted slope"], rows))
    return Section("E4: outputs at initialisation against width", markdown, [(caption, figure)])


def first_step_stationarity(quick: bool) -> Section:
    """Mean |f(1) - f(0)| after one SGD step of IP with mean-field learning rates, for L = 1..4."""
    widths = [128, 256, 512, 1024] if quick else [128, 256, 512, 1024, 2048]
    n_seeds = 2 if quick else 5
    figure, (ax,) = _figure(1)
    rows = []
    for L in (1, 2, 3, 4):
        check = abc.coord_check("ip", widths, n_hidden=L, n_steps=1, n_seeds=n_seeds, data=_mixture(), batch=16)
        means = check.means("abs_df").loc[(L + 1, 1)].to_numpy()
        slope = float(check.slopes("abs_df").loc[(L + 1, 1)])
        ax.loglog(widths, means, "o-", ms=3, label=f"{L + 1} weight matrices (slope {slope:.2f})")
        rows.append((str(L + 1), f"{means[0]:.2e}", f"{means[-1]:.2e}", _fmt(slope)))
    ax.set_xlabel("width m")
    ax.set_ylabel("mean |f(1) - f(0)|")
    _legend(ax)
    caption = ("Change of the output after one SGD step of standard IP (mean-field learning rates, ReLU). The "
               "paper states that with more than four layers an IP at zero-mean initialisation starts at a "
               "stationary point of the infinite-width limit. Ours: flat in m with 2 and 3 weight matrices, "
               "decaying with 4 and 5 (fitted slopes in the legend; expected about -1 and -2). "
               f"Scaled down: widths {widths[0]}-{widths[-1]}, {n_seeds} seeds, 16 inputs.")
    markdown = ("Integrable networks with mean-field learning rates move less and less as m grows once there are "
                "4 or more weight matrices: the first update of a deep IP vanishes in the limit.\n\n"
                + table(["weight matrices", f"m = {widths[0]}", f"m = {widths[-1]}", "slope in m"], rows))
    return Section("First-step stationarity of deep IPs", markdown, [(caption, figure)])


def features_mup_ntk(quick: bool) -> Section:
    """|dh^l| after one step: flat in m for muP, vanishing for NTK (L = 3)."""
    widths = [128, 256, 512, 1024] if quick else [256, 512, 1024, 2048, 4096]
    n_seeds = 2 if quick else 3
    figure, axes = _figure(2)
    rows = []
    for ax, scheme in zip(axes, ("mup", "ntk")):
        check = abc.coord_check(scheme, widths, n_hidden=3, n_steps=1, n_seeds=n_seeds, data=_mixture(), batch=16)
        slopes = check.slopes("abs_dh")
        for layer in (1, 2, 3):
            means = check.means("abs_dh").loc[(layer, 1)].to_numpy()
            ax.loglog(widths, means, "o-", ms=3, label=f"h{layer} (slope {slopes.loc[(layer, 1)]:.2f})")
            rows.append((scheme, f"h{layer}", f"{means[0]:.3g}", f"{means[-1]:.3g}", _fmt(slopes.loc[(layer, 1)])))
        ax.set_title({"mup": "muP", "ntk": "NTK"}[scheme], fontsize=10)
        ax.set_xlabel("width m")
        _legend(ax)
    axes[0].set_ylabel("mean |h(1) - h(0)|")
    caption = ("Change of the hidden pre-activations after one SGD step (L = 3, ReLU). In the paper's analysis muP "
               "learns features at every width while NTK's hidden layers freeze as m grows (its updates fall "
               "about like m^(-1/2)). Ours agree: muP's curves are flat and NTK's fall (slopes in the legends). "
               f"Scaled down: widths {widths[0]}-{widths[-1]}, {n_seeds} seeds.")
    markdown = table(["scheme", "layer", f"m = {widths[0]}", f"m = {widths[-1]}", "slope in m"], rows)
    return Section("muP learns features at every width, NTK does not", markdown, [(caption, figure)])


def _train_curves(scheme, data, n_hidden, width, activation, lr, n_steps, batch, init_mean=0.0):
    # test accuracy at the last step only: evaluating the whole test set is as costly as several steps
    return abc.train(scheme, data, n_hidden=n_hidden, width=width, activation=activation, lr=lr, n_steps=n_steps,
                     batch=batch, seed=0, init_mean=init_mean, eval_every=n_steps)


def standard_ip_fails(quick: bool) -> Section:
    """E1: standard IP (base learning rate 1e-3) does not train at depth."""
    width, n_steps = (128, 60) if quick else (512, 300)
    data = _digits()
    figure, (ax,) = _figure(1)
    rows = []
    for L in (2, 3, 4, 5):
        history = _train_curves("ip", data, L, width, "relu", 1e-3, n_steps, 128)
        ax.plot(history["step"], history["loss"], label=f"L = {L}")
        rows.append((str(L), f"{history['loss'].iloc[0]:.3f}", f"{history['loss'].iloc[-1]:.3f}",
                     f"{history['test_accuracy'].iloc[-1]:.3f}"))
    ax.axhline(math.log(10), color="gray", ls="--", lw=0.8, label="ln 10 (chance)")
    ax.set_xlabel("SGD step")
    ax.set_ylabel("training loss")
    _legend(ax)
    caption = ("Training loss of standard IP (mean-field learning rates, base rate 1e-3, ReLU). The paper's "
               "figure (MNIST, L = 2..5, widths 128-1400, 10 epochs) shows the loss of deep IPs stuck near "
               "ln 10. Ours (digits, width " + str(width) + f", {n_steps} steps, batch 128): final losses "
               + ", ".join(f"L = {r[0]}: {r[2]}" for r in rows) + ".")
    markdown = table(["hidden layers", "first loss", "last loss", "test accuracy"], rows)
    return Section("E1: standard IP does not train at depth", markdown, [(caption, figure)])


def training_comparison(quick: bool) -> Section:
    """E2 scaled down: IP-LLR, muP, IP, non-centred IP and IP-LLR with unscaled biases, 7 weight
    matrices, on digits."""
    width, n_steps = (128, 60) if quick else (512, 300)
    activations = ["relu", "gelu", "elu", "tanh"]
    runs = [("ipllr", "IP-LLR", 0.0), ("mup", "muP", 0.0), ("ip", "IP", 0.0), ("ip", "IP non-centred", 1.0),
            ("ipllr_bias", "IP-LLR bias", 0.0)]
    data = _digits()
    figure, axes = _figure(len(runs), height=3.0)
    rows = []
    for ax, (scheme, label, mean) in zip(axes, runs):
        for activation in activations:
            history = _train_curves(scheme, data, 6, width, activation, 0.01, n_steps, 128, mean)
            ax.plot(history["step"], history["loss"], label=activation)
            rows.append((label, activation, f"{history['loss'].iloc[-1]:.3f}", f"{history['test_accuracy'].iloc[-1]:.3f}",
                         f"{history['abs_f'].iloc[-1]:.3g}"))
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("SGD step")
        ax.set_ylim(0.0, 3.5)
        _legend(ax)
    axes[0].set_ylabel("training loss")
    caption = ("Training loss per activation, 7 weight matrices, base learning rate 0.01. The paper's figure "
               "(MNIST and grayscale CIFAR-10, width 1024, batch 512, 600-1200 steps, 5 trials) shows IP-LLR and "
               "muP training while standard IP stays at chance, with large differences between activations; "
               "for IP-LLR with biases that do not scale with m, a saved state of the authors' results notebook "
               "(grayscale CIFAR-10) shows chance accuracy for every activation. "
               f"Ours: digits, width {width}, batch 128, {n_steps} steps, one trial; final test accuracy by "
               "scheme (over the four activations): "
               + "; ".join(f"{label} {min(float(r[3]) for r in rows if r[0] == label):.2f}-"
                           f"{max(float(r[3]) for r in rows if r[0] == label):.2f}" for _, label, _ in runs)
               + " (chance 0.10).")
    markdown = table(["scheme", "activation", "last loss", "test accuracy", "mean |f|"], rows)
    return Section("E2: training with 7 weight matrices (scaled down)", markdown, [(caption, figure)])


def update_ranks(quick: bool) -> Section:
    """E3: stable rank of W^l(t) - W^l(0) after steps 1 and 2, IP-LLR against muP."""
    width = 128 if quick else 512
    data = _digits()
    figure, axes = _figure(2)
    rows = []
    for ax, (scheme, label) in zip(axes, (("ipllr", "IP-LLR"), ("mup", "muP"))):
        model = abc.abc_network(scheme, 64, width, 10, 6, seed=30)
        x, y = data.x_train[:128], data.y_train[:128]
        if scheme == "ipllr":
            abc.calibrate_base_lrs(model, x, y, data.x_train[128:256])
        initial = model.network.weights
        for step in (1, 2):
            model.step(data.x_train[128 * (step - 1):128 * step], data.y_train[128 * (step - 1):128 * step], 0.01)
            ranks = [abc.stable_rank(w - w0) for w, w0 in zip(model.network.weights, initial)]
            ax.plot(range(1, 8), ranks, "o-", label=f"after step {step}")
            rows.append((label, str(step)) + tuple(f"{r:.2f}" for r in ranks))
        ax.set_title(label, fontsize=10)
        ax.set_xlabel("weight matrix l")
        _legend(ax)
    axes[0].set_ylabel("stable rank of W(t) - W(0)")
    caption = ("Stable rank |dW|_F^2 / |dW|_2^2 of the weight updates. The authors measured it for IP-LLR and "
               "muP (L = 6, m = 1024, batch 512) after steps 1 and 2: one step of SGD on a batch moves each "
               "matrix by a sum of batch-many rank-one terms dominated by a few directions. Ours: stable ranks "
               f"stay small (table) for both schemes. Scaled down: digits, width {width}, batch 128.")
    markdown = table(["scheme", "step"] + [f"W{l}" for l in range(1, 8)], rows)
    return Section("E3: ranks of the first updates", markdown, [(caption, figure)])


SECTIONS = [outputs_at_initialisation, standard_ip_fails, first_step_stationarity, features_mup_ntk,
            training_comparison, update_ranks]
