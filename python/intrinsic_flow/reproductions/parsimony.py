"""Reproduction of Yaras, Wang, Hu, Zhu, Balzano, Qu, *The law of parsimony in gradient descent for
learning deep linear networks* (arXiv 2306.01154): experiments X1–X8 as report sections.

Every run uses ``intrinsic_flow.parsimony`` with the authors' settings (learning rates of the mean
loss) except where a caption says how it was scaled down for a 2-core CPU. The mathematics is in
docs/theory/parsimony.md.
"""
from __future__ import annotations

import numpy as np

from .. import parsimony
from ..report import Section, _figure, _legend, table

TITLE = "parsimony: Yaras et al., the law of parsimony in deep linear networks (arXiv 2306.01154)"


def _heatmaps(run, title):
    """σ_i(t) and the angles of v_i(t), u_i(t) for W_1: the three panels of the paper's figure."""
    figure, axes = _figure(3, height=3.0)
    extent = [0.5, run.singular_values.shape[2] + 0.5, run.steps[-1], run.steps[0]]
    panels = [(run.singular_values[:, 0], "$\\sigma_i(W_1)$", "viridis"),
              (np.degrees(run.angles_right[:, 0]), "angle $v_i(t), v_i$ (deg)", "magma"),
              (np.degrees(run.angles_left[:, 0]), "angle $u_i(t), u_i$ (deg)", "magma")]
    for ax, (data, label, cmap) in zip(axes, panels):
        image = ax.imshow(data, aspect="auto", cmap=cmap, extent=extent, interpolation="nearest")
        figure.colorbar(image, ax=ax, shrink=0.85)
        ax.grid(False)
        ax.set_title(f"{title}: {label}", fontsize=9)
        ax.set_xlabel("index i")
        ax.set_ylabel("iteration")
    return figure


def x1_law(quick: bool) -> Section:
    """X1: d = 30, rank-3 target, L = 3, eps = 1, eta = 1 (mean loss), 50 iterations."""
    run = parsimony.factorization(30, 3, 3, 1.0, 1.0, 50, seed=0)
    exact = parsimony.factorization(30, 3, 3, 1.0, 0.002, 300 if quick else 3000, reduction="sum", save_every=100)
    rows = [["X1 run (eta = 1, mean loss, 50 steps)", f"{run.middle_spread.max():.1e}",
             f"{np.max(np.abs(run.rho - run.rho_predicted)):.1e}", f"{run.complement_residual.max():.1e}"],
            [f"eta = 0.002 (sum loss), {int(exact.steps[-1])} steps", f"{exact.middle_spread.max():.1e}",
             f"{np.max(np.abs(exact.rho - exact.rho_predicted)):.1e}", f"{exact.complement_residual.max():.1e}"]]
    text = ("Deep matrix factorisation of the rank-3 truncation of a 30 × 30 Gaussian matrix by W_3 W_2 W_1 "
            "from an orthogonal start of scale ε = 1. The d − 2r = 24 middle singular values of every factor "
            "stay equal to one scalar ρ_t that follows ρ_{t+1} = ρ_t − η s ρ_t^5 exactly, and on the complement "
            "every factor equals (ρ/ε) times its start:\n\n"
            + table(["run", "middle spread", "|ρ − recursion|", "complement residual"], rows))
    caption = ("The paper's main figure (and its supplement for all layers) shows, over 50 iterations, that only "
               "the top 3 singular values of W_1 rise (to about 1.5) and the bottom 3 fall (to about 0.7), "
               "and that only those 6 singular vectors rotate. Ours, same settings (d = 30, L = 3, ε = 1, "
               "η = 1 on the mean loss, 50 steps, not scaled down): the same pattern; the middle 24 values are "
               "flat and their subspace does not turn (angles to rounding). Angles are measured from the first "
               "iteration, since at t = 0 the spectrum is degenerate.")
    return Section("X1. The law of parsimony (deep matrix factorisation)", text,
                   [(caption, _heatmaps(run, "W_1")),
                    ("The paper's supplementary figure shows the same panels for all three layers, with 2r = 6 "
                     "moving values and vectors in each. Ours (same run, not scaled down): the same in every "
                     "layer.", run.figure())])


def x2_nonwhitened(quick: bool) -> Section:
    """X2: X ~ N(0,1)^{30×300}/15, Y ~ N(0,1)^{3×300}, L = 3, width 30, eps = 1, 50 iterations."""
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((30, 300)) / 15
    outputs = rng.standard_normal((3, 300))
    run = parsimony.factorization(30, 3, 3, 1.0, 1.0, 50, inputs=inputs, target=outputs)
    values = run.singular_values[:, 0]
    middle = values[:, 3:27]
    figure, axes = _figure(2, height=3.0)
    for i in range(30):
        axes[0].plot(run.steps, values[:, i], lw=0.8, color="C0" if 3 <= i < 27 else "C3")
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("$\\sigma_i(W_1)$")
    axes[1].semilogy(run.steps, np.ptp(middle, axis=1) + 1e-18, label="spread of the middle 24")
    axes[1].semilogy(run.steps, values[:, 0] - values[:, 3] + 1e-18, label="$\\sigma_1 - \\sigma_4$")
    axes[1].set_xlabel("iteration")
    _legend(axes[1])
    text = ("Non-whitened data: X has 300 Gaussian columns scaled by 1/15, Y is 3 × 300 Gaussian, the last "
            "layer is 3 × 30. The law is exact only for XXᵀ = I; here the middle singular values of W_1 spread "
            f"to {np.ptp(middle[-1]):.2e} after 50 iterations, while the top 3 moved by "
            f"{values[-1, 0] - values[0, 0]:.3f}.")
    caption = ("The paper's non-whitened figure shows the same picture as the main one, approximately: 2r "
               "singular values move, the others stay nearly flat. Ours (same settings, not scaled down): the "
               "top and bottom values (red) separate while the middle ones (blue) stay in a narrow band, whose "
               "width (right) stays well below the motion of the top values.")
    return Section("X2. Non-whitened data", text, [(caption, figure)])


def x3_momentum(quick: bool) -> Section:
    """X3: as X1 with momentum 0.9."""
    run = parsimony.factorization(30, 3, 3, 1.0, 1.0, 50, seed=0, momentum=0.9)
    text = ("Gradient descent with momentum 0.9 (v ← ∇l + 0.9 v) from the X1 start. On the complement the "
            "factors follow the scalar heavy-ball recursion; the middle spread stays at "
            f"{run.middle_spread.max():.1e}, |ρ − recursion| = {np.max(np.abs(run.rho - run.rho_predicted)):.1e}, "
            f"complement residual {run.complement_residual.max():.1e}.")
    caption = ("The paper's momentum figure shows that with momentum 0.9 only 2r singular values and vectors "
               "move, as without it. Ours (same settings as X1 with momentum 0.9, not scaled down): the same, "
               "with the middle block exactly flat.")
    return Section("X3. Momentum", text, [(caption, _heatmaps(run, "W_1, momentum 0.9"))])


def x4_depth_width(quick: bool) -> Section:
    """X4: deep matrix completion, depth 2 vs 3 over widths (d = 100, r = 10, 30% observed, eps = 1e-3)."""
    d, r, max_steps, rates = 100, 10, 60_000, {2: 100.0, 3: 300.0}
    widths, trials = ((20, 100), 1) if quick else ((10, 20, 40, 60, 80, 100), 2)
    errors = {depth: np.zeros((trials, len(widths))) for depth in (2, 3)}
    steps = {depth: np.zeros((trials, len(widths))) for depth in (2, 3)}
    for depth in (2, 3):
        for trial in range(trials):
            for k, width in enumerate(widths):
                run = parsimony.matrix_completion(d, r, 0.3, depth, width, 1e-3, rates[depth], max_steps, tol=1e-10,
                                                  seed=trial)
                errors[depth][trial, k] = run.recovery_error
                steps[depth][trial, k] = run.n_steps
    figure, axes = _figure(2, height=3.0)
    for depth, marker in ((2, "o"), (3, "s")):
        axes[0].plot(widths, errors[depth].mean(axis=0), marker=marker, label=f"L = {depth}")
        axes[1].plot(widths, steps[depth].mean(axis=0), marker=marker, label=f"L = {depth}")
    axes[0].set_yscale("symlog", linthresh=1e-8)
    axes[0].set_xlabel("width")
    axes[0].set_ylabel("recovery error (mean loss on 1 − Ω)")
    axes[1].set_xlabel("width")
    axes[1].set_ylabel("iterations to training loss 1e-10")
    for ax in axes:
        _legend(ax)
    rows = [[w, f"{errors[2][:, k].mean():.2e}", f"{errors[3][:, k].mean():.2e}", f"{steps[3][:, k].mean():.0f}"]
            for k, w in enumerate(widths)]
    text = (f"Deep matrix completion of a rank-{r} {d} × {d} matrix from 30% of its entries, ε = 1e-3, "
            f"{trials} trial(s), stopping at a training loss of 1e-10 or {max_steps} iterations "
            f"(η = {rates[2]:g} for L = 2, {rates[3]:g} for L = 3, mean loss).\n\n"
            + table(["width", "error L = 2", "error L = 3", "iterations L = 3"], rows))
    scaled = ("same d = 100 but widths 20 and 100 only, one trial" if quick else
              "scaled down to widths 10–100 in 6 steps and 2 trials (the paper: 10 widths, 5 trials)")
    caption = ("The paper's depth figure (d = 100, r = 10) shows the L = 2 recovery error growing from about 0 "
               "(width 10) to about 1.1e-3 (width 100) while L = 3 stays about 0 at every width, and the L = 3 "
               "iteration count falling from about 42,000 to 11,000 as the width grows. Ours, " + scaled + ": "
               "depth 3 recovers (error about 1e-8) at every width with an iteration count that falls as the "
               "width grows, and the depth-2 error grows with the width from width 20 on"
               + ("" if quick else "; at width 10 = r our depth-2 run is still far from converged after "
                  "60,000 iterations, unlike the paper's") + ".")
    return Section("X4. Depth and width in deep matrix completion", text, [(caption, figure)])


def _projection(trajectories, components=(7, 8, 9)):
    """Projection of end-to-end trajectories (n, d, d) on principal components of the first one."""
    flat = [t.reshape(len(t), -1) for t in trajectories]
    centre = flat[0].mean(axis=0)
    basis = np.linalg.svd(flat[0] - centre, full_matrices=False)[2]
    k = [c for c in components if c < basis.shape[0]] or [0, 1]
    return [(f - centre) @ basis[k].T for f in flat], k


def x5_compressed_factorisation(quick: bool) -> Section:
    """X5: the compressed network against the original, deep matrix factorisation."""
    d, r, n_steps = (60, 5, 40_000) if quick else (200, 5, 40_000)
    eps = 1e-3
    rng = np.random.default_rng(0)
    target = rng.standard_normal((d, r)) @ rng.standard_normal((r, d)) / r
    # the paper's eta = 1e3 on the mean loss at d = 1000 is 1e-3 on the sum loss; a smaller d has a
    # smaller target, and we take half the stability limit 2 / (L sigma_1^{4/3}) of the sum loss
    sigma = np.linalg.norm(target, 2)
    eta = 1.0 / (3 * sigma ** (4 / 3)) * d * d
    every = n_steps // 100
    exact = parsimony.compress(d, r, 3, eps, eta, n_steps, complement=True, save_every=every, target=target)
    figure, axes = _figure(2, height=3.0)
    axes[0].semilogy(exact.steps, exact.loss_original[exact.steps] + 1e-30, label="original")
    axes[0].semilogy(exact.steps, exact.loss_compressed[exact.steps] + 1e-30, "--", label="compressed")
    axes[0].set_xlabel("iteration")
    axes[0].set_ylabel("training loss")
    _legend(axes[0])
    axes[1].semilogy(exact.steps, exact.gaps + 1e-18, label="with the complement term")
    axes[1].semilogy(exact.steps, exact.gaps_without_complement + 1e-18, label="without (the authors' network)")
    axes[1].set_xlabel("iteration")
    axes[1].set_ylabel("$\\|W^{orig}_{L:1} - W^{comp}_{L:1}\\|_F$")
    _legend(axes[1])
    text = (f"d = {d}, r = {r}, L = 3, ε = 1e-3, η = {eta:.3g} (mean loss), {n_steps} iterations, target A B / r "
            "with Gaussian A, B (the authors' data). The compressed "
            f"network trains {exact.n_params_compressed} parameters instead of {exact.n_params_original}. "
            f"With the complement term (ρ/ε)^L W_{{L:1}}(0)P⊥ the two end-to-end trajectories agree to "
            f"{exact.max_gap:.1e} at every saved step; without it they differ by at most "
            f"{exact.gaps_without_complement.max():.1e} "
            f"(≈ ε^L √(d − 2r)). Training loss {exact.loss_original[0]:.3g} → {exact.loss_original[-1]:.2e}. "
            f"Wall time: original {exact.seconds_original:.3g} s, compressed "
            f"{exact.seconds_compressed:.3g} s ({exact.speedup:.1f}×).")
    caption = ("The paper's figure (d = 1000, r = 10, on a GPU) shows that the original and compressed "
               "trajectories coincide when projected on principal components 8–10, and that the compressed "
               f"network reaches a loss of 1e-20 about 10× faster (≈45 s vs 4.5 s). Ours, scaled down to d = {d}, "
               f"r = {r} on a CPU: the trajectories agree to rounding with the complement term and to ε^L "
               f"without it; the compressed run is {exact.speedup:.0f}× faster.")
    return Section("X5. Compressed network, matrix factorisation", text, [(caption, figure)])


def _completion_setting(quick: bool) -> tuple:
    """(d, r, observed fraction, eta of the mean loss, gamma, max iterations) of X6 and X7, in both
    modes. The paper's eta = 5e3 on the mean loss at d = 1000 is 5e-3 on the sum loss; the smaller
    target of d = 30 allows 0.02 on the sum loss. With these rates gamma = 0.03 (the paper: 0.01) lets
    U and V follow; at d = 100 (20% observed, eta = 0.02 on the sum loss, gamma 0.01 or 0.03) the
    compressed network did not reach the original's error within 40,000 iterations, so both modes
    stay at d = 30."""
    return 30, 2, 0.5, 0.02 * 30 ** 2, 0.03, 60_000


def x6_compressed_completion(quick: bool) -> Section:
    """X6: the compressed network for deep matrix completion, with a discrepant rate γ > 0 and γ = 0."""
    d, r, observed, eta, gamma, n_steps = _completion_setting(quick)
    eps = 1e-3
    args = (d, r, observed, 3, d, eps, eta, n_steps)
    every = n_steps // 50
    original = parsimony.matrix_completion(*args, tol=1e-22, curve_every=every)
    moving = parsimony.matrix_completion(*args, tol=1e-22, compressed=True, gamma=gamma, curve_every=every)
    frozen = parsimony.matrix_completion(*args, tol=1e-22, compressed=True, gamma=0.0, curve_every=every)
    figure, axes = _figure(1, height=3.2)
    ax = axes[0]
    for run, label in ((original, "original"), (moving, f"compressed, γ = {gamma:g}"), (frozen, "compressed, γ = 0")):
        ax.semilogy(run.curve_steps, run.recovery_curve + 1e-30, label=f"{label} ({run.seconds:.2g} s)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("recovery error")
    _legend(ax)
    text = (f"d = {d}, r = {r}, {observed:.0%} observed, L = 3, ε = 1e-3, η = {eta:g} (mean loss), up to {n_steps} "
            f"iterations. Final recovery errors: original {original.recovery_error:.2e} ({original.seconds:.3g} s), "
            f"compressed with γ = {gamma:g} {moving.recovery_error:.2e} ({moving.seconds:.3g} s), with γ = 0 "
            f"{frozen.recovery_error:.2e}.")
    caption = ("The paper's figure (d = 1000, r = 5, 20% observed, GPU) shows the original network and the "
               "compressed one with discrepant rate γ = 0.01 both reaching a recovery error of about 1e-12 near "
               "20,000 iterations, while γ = 0 plateaus near 4e-4; original ≈43 s vs ≈6 s. Ours, scaled down to "
               f"d = {d}, r = {r}, 50% observed, γ = {gamma:g} (in both modes: at d = 100 our compressed run did "
               "not match the original within 40,000 iterations): the original and the compressed network with "
               "γ > 0 both reach rounding level, γ = 0 stalls (the law is not exact for completion, so U and V "
               "must move), and the compressed run is faster.")
    return Section("X6. Compressed network, matrix completion", text, [(caption, figure)])


def x7_narrow(quick: bool) -> Section:
    """X7: the compressed network against a narrow network of width 2r̂."""
    d, r, observed, eta, gamma, n_steps = _completion_setting(quick)
    ranks = (2, 4) if quick else (2, 3, 4, 5, 6)
    rows, narrow_steps, comp_steps = [], [], []
    for rank in ranks:
        narrow = parsimony.matrix_completion(d, r, observed, 3, 2 * rank, 1e-3, eta, n_steps, tol=1e-10)
        # the compressed network is built from the full-width start with its own rank estimate r̂
        comp = _compressed_with_rank(d, r, observed, rank, eta, gamma, n_steps)
        narrow_steps.append(narrow.n_steps)
        comp_steps.append(comp.n_steps)
        rows.append([rank, narrow.n_steps, f"{narrow.seconds:.3g}", comp.n_steps, f"{comp.seconds:.3g}",
                     f"{narrow.recovery_error:.1e}", f"{comp.recovery_error:.1e}"])
    figure, axes = _figure(1, height=3.0)
    axes[0].plot(ranks, narrow_steps, "o-", label="narrow, width 2r̂")
    axes[0].plot(ranks, comp_steps, "s-", label=f"compressed (γ = {gamma:g})")
    axes[0].set_xlabel("rank estimate r̂")
    axes[0].set_ylabel("iterations to loss 1e-10")
    _legend(axes[0])
    text = (f"Matrix completion, d = {d}, r = {r}, {observed:.0%} observed, L = 3, ε = 1e-3, η = {eta:g} "
            "(mean loss): "
            "a narrow network of width 2r̂ from an orthogonal start against the compressed network of rank "
            "estimate r̂ built from the full-width start.\n\n"
            + table(["r̂", "narrow iterations", "narrow s", "compressed iterations", "compressed s",
                     "narrow error", "compressed error"], rows))
    caption = ("The paper's figure (d = 1000, r = 5, 5 trials) shows the narrow network needing 62,000 → 45,000 "
               "iterations (10–12.5 s) as r̂ grows while the compressed one needs about 19,500 at every r̂ "
               f"(4.7–6.8 s). Ours, scaled down to d = {d} (the X6 setting, γ = {gamma:g}), one trial, r̂ in "
               f"{list(ranks)}: " + ("the compressed network needs fewer iterations than the narrow one, as in "
               "the paper." if max(comp_steps) < min(narrow_steps) else "at this small size the narrow network "
               "is not slower than the compressed one, unlike the paper's d = 1000 runs; both reach the same "
               "error (see the table)."))
    return Section("X7. Compressed network against a narrow network", text, [(caption, figure)])


def _compressed_with_rank(d, r, observed, rank, eta, gamma, n_steps):
    """The compressed completion network with a rank estimate: the 2r̂-dimensional invariant basis."""
    return parsimony.matrix_completion(d, r, observed, 3, d, 1e-3, eta, n_steps, tol=1e-10, compressed=True,
                                       gamma=gamma, rank_estimate=rank)


def x8_separation(quick: bool) -> Section:
    """X8: progressive separation, K = 5 classes of 10 orthonormal inputs, linear and ReLU."""
    depths = {"linear": (6, 8, 10), "relu": (6,) if quick else (6, 8, 10)}
    max_steps = 20_000 if quick else 500_000
    figure, axes = _figure(2, height=3.0)
    rows = []
    for activation, ax in zip(("linear", "relu"), axes):
        for depth in depths[activation]:
            run = parsimony.progressive_separation(5, 10, depth, 0.5, 1.0, activation=activation,
                                                   max_steps=max_steps, tol=1e-6)
            ax.semilogy(np.arange(depth), run.D, "o-", label=f"L = {depth}")
            rows.append([activation, depth, f"{run.D[0]:.4g}", f"{run.D[-1]:.2e}",
                         f"{np.exp(run.slope):.3f}", f"{run.r_squared:.4f}", run.n_steps])
        ax.set_title(activation)
        ax.set_xlabel("layer l")
        ax.set_ylabel("$D_l = tr\\Sigma_W / tr\\Sigma_B$")
        _legend(ax)
    text = ("K = 5 classes of 10 orthonormal inputs (N = d = 50), one-hot targets, width 50, ε = 0.5, η = 1 "
            "(mean loss), trained to a loss of 1e-6. D_0 = K(n − 1)/(K − 1) = 11.25 exactly.\n\n"
            + table(["network", "L", "D_0", "D_{L−1}", "factor per layer", "R² of log-linear fit", "iterations"],
                    rows))
    caption = ("The paper's figure shows D_l falling geometrically with depth, from 11.25 to about 1.5e-3 at "
               "l = 5 (L = 6), 1e-4 (L = 8) and 5e-6 (L = 10), a factor of 0.17–0.20 per layer, and the ReLU "
               "network behaving similarly but less exactly log-linearly. Ours, same settings"
               + (" (ReLU with L = 6 only, at most 20,000 iterations)" if quick else "")
               + ": D_0 = 11.25 and a log-linear decrease "
               "with about the same factor per layer for the linear network (see the table), less regular for "
               "ReLU.")
    return Section("X8. Progressive separation", text, [(caption, figure)])


SECTIONS = [x1_law, x2_nonwhitened, x3_momentum, x4_depth_width, x5_compressed_factorisation,
            x6_compressed_completion, x7_narrow, x8_separation]
