"""Symmetries of wide two-layer ReLU networks: the particle trainer, its diagnostics, the closed
forms of the odd-target dynamics and alpha, the reduced angle dynamics, and the two backends."""
from __future__ import annotations

import math

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import _core, symmetries as core
from intrinsic_flow.reference import symmetries as ref

BACKENDS = [core, ref]


def odd_problem(d, m, half, seed=0):
    """Paired particles and the symmetrised sample of the O1 cubic target, x ~ N(0, I/d)."""
    rng = np.random.default_rng(seed)
    coef = core.odd_cubic_coef(d, rng)
    X = rng.standard_normal((half, d)) / math.sqrt(d)
    X2, y2 = core.symmetrize(X, core.target_values(X, "cubic", coef))
    a, B = core.init_particles(m, d, rng, paired=True)
    return a, B, X2, y2, coef


# -- the model of the library -------------------------------------------------------------------
def test_mean_field_model_is_the_relu_net_and_its_laws_are_the_balances():
    d, m = 4, 6
    model = core.mean_field_model(d, m)
    assert model == itf.ReLUNet([d, m, 1], bias=False)
    a, B = core.init_particles(m, d, 3)
    a = a * np.linspace(0.5, 2.0, m)
    theta = core.to_theta(a, B)
    a2, B2 = core.from_theta(theta, d)
    assert np.array_equal(a2, a) and np.array_equal(B2, B)
    # the library's laws are |b_j|^2 - a_j^2 (incoming minus outgoing), one per neuron
    np.testing.assert_allclose(itf.conserved(model, theta), np.sum(B**2, axis=1) - a**2, atol=1e-14)
    # the Lie-algebra count: exactly one law per neuron, and the known laws are complete
    assert itf.count_conservation_laws(model) == m
    assert itf.known_laws_complete(model)
    # the 1/m output factor: predict is the network's output divided by m
    X = np.random.default_rng(1).standard_normal((5, d))
    np.testing.assert_allclose(core.predict(a, B, X) * m, np.maximum(X @ B.T, 0) @ a, rtol=1e-14)


# -- acceptance 1: exact linearity and pair symmetry ---------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_exact_linearity_and_pair_symmetry_with_paired_init(backend):
    d = 10
    a, B, X, y, _ = odd_problem(d, 200, 200)
    run = backend.train(a, B, X=X, y=y, lr=0.01, n_steps=300, save_every=100)
    assert run.pair_error.max() <= 1e-12
    assert run.linearity_error.max() <= 1e-12
    # the loss decreases towards the best linear loss on the sample, never below it
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    best = 0.5 * np.mean((X @ w_ls - y) ** 2)
    assert np.all(np.diff(run.loss) < 0) and run.loss[-1] >= best - 1e-12
    np.testing.assert_allclose(run.loss, [0.5 * np.mean((X @ w - y) ** 2) for w in run.w], rtol=1e-10)


@pytest.mark.slow
def test_exact_linearity_full_size():
    d = 10
    a, B, X, y, _ = odd_problem(d, 2000, 2000)
    run = core.train(a, B, X=X, y=y, lr=0.01, n_steps=3000, save_every=1000)
    assert run.pair_error.max() <= 1e-12 and run.linearity_error.max() <= 1e-12
    w_ls = np.linalg.lstsq(X, y, rcond=None)[0]
    assert np.linalg.norm(run.w[-1] - w_ls) / np.linalg.norm(w_ls) < 1e-2
    best = 0.5 * np.mean((X @ w_ls - y) ** 2)
    assert abs(run.loss[-1] - best) < 1e-4 * best


def test_authors_init_is_not_linear():
    a, B = core.init_particles(100, 5, 0)
    X, y = core.symmetrize(np.random.default_rng(0).standard_normal((50, 5)), np.ones(50))
    run = core.train(a, B, X=X, y=y, lr=0.01, n_steps=0, save_steps=[0])
    assert run.linearity_error[0] > 1e-3 and run.pair_error[0] > 1e-3


# -- acceptance 2: odd-target constants ------------------------------------------------------------
@pytest.mark.parametrize("d", [1, 7, 60])
def test_odd_target_constants(d):
    c = core.odd_target_constants(d)
    coef = core.odd_cubic_coef(d, d)
    # x ~ N(0, I/d): E x_k^6 = 15/d^3, E x_k^4 = 3/d^2, odd moments vanish
    assert 0.5 * np.sum(coef**2) * 15 / d**3 == pytest.approx(1.0, rel=1e-13)
    w_star = (3 / d**2) * coef / c.v_rho
    assert np.linalg.norm(w_star) == pytest.approx(math.sqrt(6 * d / 5), rel=1e-13)
    assert c.w_star_norm == pytest.approx(math.sqrt(6 * d / 5), rel=1e-15)
    X_f = (3 / d**2) * coef
    assert 0.5 * (2 * c.initial_loss - X_f @ X_f / c.v_rho) == pytest.approx(c.best_linear_loss, abs=1e-13)
    assert c.best_linear_loss == pytest.approx(0.4, abs=1e-14)
    # V = E a0^2 + E (b0 . e)^2 at the authors' initialisation (b uniform on the sphere)
    assert c.V == pytest.approx(1 + 1 / d, rel=1e-15)
    assert c.kappa == pytest.approx(c.v_rho / 4 * math.sqrt(c.V**2 + 16 * c.w_star_norm**2), rel=1e-14)


# -- acceptance 3: the Riccati closed form against RK4 ------------------------------------------
def test_odd_target_ode_closed_form_against_rk4():
    d = 60
    c = core.odd_target_constants(d)
    rhs = lambda lam: c.A - c.B * math.sinh(lam)  # noqa: E731
    h, lam, t = 1e-3, 0.0, 0.0
    checkpoints = {10_000: None, 20_000: None, 50_000: None, 100_000: None}
    for k in range(1, 100_001):
        k1 = rhs(lam)
        k2 = rhs(lam + h / 2 * k1)
        k3 = rhs(lam + h / 2 * k2)
        k4 = rhs(lam + h * k3)
        lam += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        if k in checkpoints:
            checkpoints[k] = c.V / 4 * math.sinh(lam)
    times = np.array([10.0, 20.0, 50.0, 100.0])
    closed = core.odd_target_ode(times, d)
    np.testing.assert_allclose(closed, list(checkpoints.values()), rtol=0, atol=1e-10)
    assert core.odd_target_ode(20.0, d) == pytest.approx(closed[1], abs=1e-15)
    # s < ||w*|| and s increases; the bound holds; the decay rate of ||w*|| - s is kappa
    grid = np.linspace(0, 100, 1001)
    s = core.odd_target_ode(grid, d)
    assert np.all(np.diff(s) > 0) and np.all(s < c.w_star_norm)
    assert np.all(c.w_star_norm - s <= core.odd_target_bound(grid, d) * (1 + 1e-12))
    gap = c.w_star_norm - core.odd_target_ode(np.array([150.0, 190.0]), d)
    assert -np.log(gap[1] / gap[0]) / 40.0 == pytest.approx(c.kappa, rel=1e-5)
    np.testing.assert_allclose(core.odd_target_loss(grid, d), 0.4 + 0.5 * c.v_rho * (c.w_star_norm - s) ** 2,
                               rtol=1e-14)


def test_finite_width_follows_the_ode():
    """Online SGD at width 512 (batch 512, lr m * 1e-2) stays near the infinite-width curve."""
    d, m, steps = 20, 512, 300
    coef = core.odd_cubic_coef(d, 0)
    a, B = core.init_particles(m, d, 1)
    run = core.train(a, B, method="sgd", inputs="gaussian", input_scale=1 / math.sqrt(d), target="cubic",
                     coef=coef, batch=512, lr=0.01, n_steps=steps, save_every=100, seed=5)
    w_star = 3 * coef / d
    s = run.w @ w_star / np.linalg.norm(w_star)
    np.testing.assert_allclose(s, core.odd_target_ode(run.times, d), atol=0.15)


# -- acceptance 4: balances --------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_balances_constant_along_rk4(backend):
    d = 5
    a, B = backend.init_particles(60, d, 2)
    X = np.random.default_rng(3).standard_normal((80, d))
    y = np.abs(X[:, 0]) + np.sin(X[:, 1])  # any target
    drifts = []
    for h in (0.02, 0.01):
        run = backend.train(a, B, X=X, y=y, method="rk4", lr=h, n_steps=round(2 / h), save_every=round(0.5 / h))
        assert np.max(np.abs(run.balance[0])) <= 1e-15  # |a| = |b| = 1 at the authors' initialisation
        assert run.loss[-1] < run.loss[0]
        drifts.append(np.max(np.abs(run.balance - run.balance[0])))
        descent = backend.train(a, B, X=X, y=y, method="gd", lr=h, n_steps=round(2 / h), save_every=round(2 / h))
        # the flow conserves the balances: the RK4 drift is integrator error, far below the GD drift
        assert drifts[-1] < 1e-2 * np.max(np.abs(descent.balance[-1] - descent.balance[0]))
    # and it vanishes with the step (first order here: the ReLU kinks make the field non-smooth)
    assert drifts[1] < 0.6 * drifts[0]


# -- acceptance 5 and 6: alpha, the initial angle law, the radial target ---------------------------
def test_alpha_values():
    assert core.alpha(1) == pytest.approx(2.0, rel=1e-15)
    assert core.alpha(2) == pytest.approx(math.pi, rel=1e-15)
    assert core.alpha(3) == pytest.approx(4.0, rel=1e-15)
    assert core.alpha(4) == pytest.approx(3 * math.pi / 2, rel=1e-15)
    # alpha E[relu(u_1)] = 1 for u uniform on S^{k-1}: E|u_1| = Gamma(k/2) / (sqrt(pi) Gamma((k+1)/2))
    for k in (2, 5, 30):
        mean_abs = math.exp(math.lgamma(k / 2) - math.lgamma((k + 1) / 2)) / math.sqrt(math.pi)
        assert core.alpha(k) * mean_abs / 2 == pytest.approx(1.0, rel=1e-13)


def test_initial_angle_law():
    d, d_H, m = 30, 5, 200_000
    _, theta = core.reduced_init(m, d, d_H, 0)
    cos2 = np.cos(theta) ** 2
    assert abs(cos2.mean() - d_H / d) < 4 * cos2.std() / math.sqrt(m)
    _, B = core.init_particles(20_000, d, 1)
    cos2 = np.cos(core.angles_to_subspace(B, d_H)) ** 2
    assert abs(cos2.mean() - d_H / d) < 4 * cos2.std() / math.sqrt(20_000)
    # the Monte Carlo samples: cos^2 phi ~ Beta(d_H/2, d_perp/2), E r^2 = 1/d_H, E s^2 = 1/d_perp
    S = core.reduced_samples(d, d_H, n_samples=50_000, seed=3)
    for values, mean in ((S[:, 0] ** 2, d_H / d), (S[:, 2] ** 2, 1 / d_H), (S[:, 3] ** 2, 1 / (d - d_H)),
                         (S[:, 4] ** 2, 1 / d_H), (S[:, 5] ** 2, 1 / (d - d_H)), (S[:, 2] * S[:, 4], 0.0)):
        assert abs(values.mean() - mean) < 4 * values.std() / math.sqrt(values.size)


def _radial_run(m, steps, batch=1024, seed=0):
    d, d_H = 10, 2
    a, B = core.init_particles(m, d, seed)
    X_eval = core.draw_inputs(4000, d, seed=99, inputs="sphere")
    return core.train(a, B, method="sgd", inputs="sphere", target="radial", d_H=d_H, batch=batch, lr=0.02,
                      n_steps=steps, save_every=steps // 10, seed=seed, H=d_H, X_eval=X_eval,
                      y_eval=core.target_values(X_eval, "radial", d_H=d_H))


def test_radial_target_quick():
    """Half the width and batch of the acceptance run: the loss falls and the tau+ mass lands near alpha."""
    run = _radial_run(256, 5000, batch=512)
    # infinite-width initial loss: 1/2 E ||x_H||^2 = d_H / (2d)
    assert run.eval_loss[0] == pytest.approx(0.1, rel=0.2)
    assert run.eval_loss[-1] < 2e-3 and np.all(np.diff(run.eval_loss) < 0)
    # the tau+ mass moves from about 1/2 to alpha(2) = pi; the tau+ mean angle to H decreases
    assert run.tau_plus[0] == pytest.approx(0.5, abs=0.1)
    assert abs(run.tau_plus[-1] - core.alpha(2)) < 0.1 * core.alpha(2)
    assert abs(run.tau_plus[-1] - run.tau_minus[-1] - core.alpha(2)) < 0.05 * core.alpha(2)
    plus = run.mass > 0
    mean_angle = (run.angle * run.mass * plus).sum(axis=1) / (run.mass * plus).sum(axis=1)
    assert np.all(np.diff(mean_angle) < 0)


@pytest.mark.slow
def test_radial_target_full_size():
    run = _radial_run(512, 20_000)
    assert run.eval_loss[run.steps == 6000][0] < 1e-3
    assert abs(run.tau_plus[-1] - core.alpha(2)) < 0.1 * core.alpha(2)
    assert abs(run.tau_plus[-1] - run.tau_minus[-1] - core.alpha(2)) < 0.02 * core.alpha(2)


# -- the reduced dynamics ----------------------------------------------------------------------
def test_reduced_dynamics_moves_mass_towards_H():
    d, d_H = 30, 5
    c, theta = core.reduced_init(256, d, d_H, 0)
    run = core.reduced_train(c, theta, d=d, d_H=d_H, lr=5e-3, n_steps=1500, n_samples=500, save_every=500)
    assert run.tau_plus[0] == pytest.approx(np.mean(c > 0))
    assert run.tau_plus[-1] > run.tau_plus[0] + 1.0
    assert run.w2_plus[-1] < run.w2_plus[0]
    assert run.loss[-1] < run.loss[0]
    edges, plus, minus = run.histogram(-1, bins=10)
    assert plus.sum() == pytest.approx(run.tau_plus[-1]) and minus.sum() == pytest.approx(run.tau_minus[-1])


def test_reduced_features_represent_the_radial_target_with_alpha_delta_0():
    """alpha delta_0 (all the mass aligned with H) gives f~(phi) = cos phi = ||x_H|| exactly, for any d, d_H."""
    phi = np.linspace(0.0, np.pi / 2, 9)
    for d, d_H in ((30, 5), (10, 2), (5, 1), (40, 35), (4, 3)):
        f = core.alpha(d_H) * core.reduced_features([0.0], phi, d, d_H)[0]
        np.testing.assert_allclose(f, np.cos(phi), rtol=0, atol=1e-12)
    # a neuron orthogonal to H sees sin phi E[s_+], s ~ gamma_{d_perp}: 1 / alpha(d_perp) sin phi
    f = core.reduced_features([np.pi / 2], phi, 30, 5)[0]
    np.testing.assert_allclose(f, np.sin(phi) / core.alpha(25), rtol=0, atol=1e-12)


def test_reduced_features_against_monte_carlo_on_spheres():
    """E relu(b . x) over uniform directions of H and H-perp, with independent draws of r and s."""
    d, d_H, n = 30, 5, 1_000_000
    rng = np.random.default_rng(0)

    def coordinate(k):  # first coordinate of a uniform point of S^{k-1}
        g = rng.standard_normal((n, k))
        return g[:, 0] / np.linalg.norm(g, axis=1)

    r, s = coordinate(d_H), coordinate(d - d_H)
    pairs = [(0.3, 0.7), (1.2, 1.4), (1.5, 0.2), (0.78, 0.78), (2.0, 0.5)]
    features = core.reduced_features([t for t, _ in pairs], [p for _, p in pairs], d, d_H)
    for k, (theta, phi) in enumerate(pairs):
        values = np.maximum(np.cos(theta) * np.cos(phi) * r + np.sin(theta) * np.sin(phi) * s, 0.0)
        folded = abs(np.cos(theta)) * np.cos(phi) * r + abs(np.sin(theta)) * np.sin(phi) * s
        assert abs(features[k, k] - values.mean()) < 4 * values.std() / math.sqrt(n)
        assert abs(features[k, k] - np.maximum(folded, 0).mean()) < 4 * values.std() / math.sqrt(n)


def test_reduced_features_converge_in_the_nodes_and_are_shared_by_the_backends():
    theta = np.linspace(0.0, np.pi / 2, 41)
    phi = np.linspace(0.0, np.pi / 2, 37)
    for d, d_H in ((30, 5), (40, 38), (10, 2), (3, 1)):
        fine = core.reduced_features(theta, phi, d, d_H, n_nodes=400)
        assert np.abs(core.reduced_features(theta, phi, d, d_H) - fine).max() < 1e-6
        assert np.all(fine >= 0)
    assert ref.reduced_features is core.reduced_features  # a front-end function, no kernel
    with pytest.raises(ValueError):
        core.reduced_features([0.1], [0.2], 5, 5)
    with pytest.raises(ValueError):
        core.reduced_features([[0.1]], [0.2], 10, 2)
    with pytest.raises(ValueError):
        core.reduced_features([0.1], [0.2], 10, 2, n_nodes=0)


@pytest.mark.slow
def test_reduced_o3_full_size():
    d, d_H = 30, 5
    c, theta = core.reduced_init(1024, d, d_H, 42)
    run = core.reduced_train(c, theta, d=d, d_H=d_H, lr=5e-3, n_steps=20_000, n_samples=1000, save_every=1000)
    # the mass of tau+ reaches alpha(5) = 16/3 (slightly above it, as in the authors' run)
    assert abs(run.tau_plus[-1] - core.alpha(d_H)) < 0.1 * core.alpha(d_H)
    assert run.tau_minus[-1] < 0.5
    assert run.first_step_above_alpha() is not None


# -- the two backends and the thread count ------------------------------------------------------
def test_core_and_reference_agree():
    d = 6
    a, B, X, y, coef = odd_problem(d, 40, 60)
    a = a * np.linspace(0.5, 1.5, a.size)
    for method in ("gd", "rk4"):
        one = core.train(a, B, X=X, y=y, method=method, lr=0.05, n_steps=40, save_every=20)
        two = ref.train(a, B, X=X, y=y, method=method, lr=0.05, n_steps=40, save_every=20)
        np.testing.assert_allclose(one.B, two.B, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.a, two.a, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.loss, two.loss, rtol=1e-12)
    for inputs, target in (("gaussian", "cubic"), ("sphere", "radial"), ("gaussian", "linear")):
        kw = dict(method="sgd", inputs=inputs, target=target, coef=coef, d_H=2, batch=300, lr=0.05, n_steps=30,
                  save_every=10, seed=2**63 + 5, H=2)
        one, two = core.train(a, B, **kw), ref.train(a, B, **kw)
        np.testing.assert_allclose(one.B, two.B, rtol=0, atol=1e-12)
        np.testing.assert_allclose(one.tau_plus, two.tau_plus, rtol=1e-12)
    np.testing.assert_allclose(core.draw_inputs(50, 7, seed=3, start=10**12), ref.draw_inputs(50, 7, seed=3, start=10**12),
                               rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(core.reduced_samples(12, 3, step=4, n_samples=100, seed=1),
                               ref.reduced_samples(12, 3, step=4, n_samples=100, seed=1), rtol=1e-13, atol=1e-15)
    c, theta = core.reduced_init(50, 12, 3, 1)
    one = core.reduced_train(c, theta, d=12, d_H=3, n_steps=30, n_samples=300, seed=4, save_every=10)
    two = ref.reduced_train(c, theta, d=12, d_H=3, n_steps=30, n_samples=300, seed=4, save_every=10)
    np.testing.assert_allclose(one.c, two.c, rtol=1e-12)
    np.testing.assert_allclose(one.theta, two.theta, rtol=0, atol=1e-12)
    np.testing.assert_allclose(core.predict(a, B, X), ref.predict(a, B, X), rtol=1e-13, atol=1e-15)


def test_bit_identical_for_any_thread_count():
    # big enough for the core to split the work (it stays serial on tiny problems)
    a, B = core.init_particles(600, 5, 0)
    kw = dict(method="sgd", inputs="sphere", target="radial", d_H=2, batch=2000, lr=0.05, n_steps=3, save_every=3)
    runs = [_core.with_threads(n, lambda: core.train(a, B, **kw)) for n in (1, 2, 3)]
    assert all(np.array_equal(r.B, runs[0].B) and np.array_equal(r.loss, runs[0].loss) for r in runs)
    c, theta = core.reduced_init(2000, 10, 2, 0)
    reduced = [_core.with_threads(n, lambda: core.reduced_train(c, theta, d=10, d_H=2, n_steps=3, n_samples=700))
               for n in (1, 2)]
    assert np.array_equal(reduced[0].c, reduced[1].c) and np.array_equal(reduced[0].theta, reduced[1].theta)


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
def test_bad_input(backend):
    a, B = backend.init_particles(4, 3, 0)
    X, y = np.ones((5, 3)), np.ones(5)
    with pytest.raises(ValueError, match="method must be one of"):
        backend.train(a, B, X=X, y=y, lr=0.1, n_steps=1, method="adam")
    with pytest.raises(ValueError, match=r"B must have shape \(m, d\) = \(4, d\)"):
        backend.train(a, B[:3], X=X, y=y, lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="non-finite"):
        backend.train(a, B, X=np.full((5, 3), np.nan), y=y, lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="real numbers"):
        backend.train(a.astype(complex), B, X=X, y=y, lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="lr must be a finite number > 0"):
        backend.train(a, B, X=X, y=y, lr=-1.0, n_steps=1)
    with pytest.raises(ValueError, match="needs the sample X and y"):
        backend.train(a, B, lr=0.1, n_steps=1)
    with pytest.raises(ValueError, match="batch is required"):
        backend.train(a, B, method="sgd", lr=0.1, n_steps=1, target="radial", d_H=1)
    with pytest.raises(ValueError, match="coef"):
        backend.train(a, B, method="sgd", lr=0.1, n_steps=1, batch=4, target="cubic")
    with pytest.raises(ValueError, match="d_H must be an integer in"):
        backend.train(a, B, method="sgd", lr=0.1, n_steps=1, batch=4, target="radial", d_H=7)
    with pytest.raises(ValueError, match="seed must be an integer"):
        backend.train(a, B, method="sgd", lr=0.1, n_steps=1, batch=4, target="radial", d_H=1, seed=-1)
    with pytest.raises(ValueError, match="save_steps must be strictly increasing"):
        backend.train(a, B, X=X, y=y, lr=0.1, n_steps=3, save_steps=[0, 5])
    with pytest.raises(ValueError, match="m must be even"):
        backend.init_particles(3, 2, paired=True)
    with pytest.raises(ValueError, match="d_H must satisfy"):
        backend.reduced_init(10, 5, 5)
    with pytest.raises(ValueError, match="t must be >= 0"):
        backend.odd_target_ode(-1.0, 5)
    with pytest.raises(ValueError, match="d_H must be an integer >= 1"):
        backend.alpha(0)
    with pytest.raises(ValueError, match="c0 must have no zero"):
        backend.reduced_train(np.zeros(3), np.zeros(3), d=4, d_H=1, n_steps=1)
    with pytest.raises(ValueError, match="H must be an integer d_H or a matrix"):
        backend.train(a, B, X=X, y=y, lr=0.1, n_steps=1, H=np.ones((2, 5)))


def test_oversize_refused_before_allocating():
    a, B = core.init_particles(10, 3, 0)
    saved = itf.config.max_bytes
    itf.config.max_bytes = 10_000
    try:
        with pytest.raises(ValueError, match="max_bytes"):
            core.train(a, B, method="sgd", target="radial", d_H=1, batch=10**6, lr=0.1, n_steps=1)
        with pytest.raises(ValueError, match="max_bytes"):
            core.draw_inputs(10**6, 3)
    finally:
        itf.config.max_bytes = saved


def test_symmetric_batches_keep_the_network_linear():
    d = 8
    coef = core.odd_cubic_coef(d, 1)
    a, B = core.init_particles(64, d, 2, paired=True)
    X_eval = core.draw_inputs(200, d, seed=9, scale=1 / math.sqrt(d))
    kw = dict(method="sgd", input_scale=1 / math.sqrt(d), target="cubic", coef=coef, batch=128, lr=0.02,
              n_steps=200, save_every=100, seed=4, X_eval=X_eval, y_eval=core.target_values(X_eval, "cubic", coef))
    run = core.train(a, B, symmetric_batch=True, **kw)
    assert run.pair_error.max() <= 1e-12 and run.linearity_error.max() <= 1e-12
    assert run.eval_loss[-1] < run.eval_loss[0]
    np.testing.assert_allclose(ref.train(a, B, symmetric_batch=True, **kw).B, run.B, rtol=0, atol=1e-12)
    # plain batches break the pair symmetry at the level of the sampling noise
    assert core.train(a, B, **kw).pair_error[-1] > 1e-6
    with pytest.raises(ValueError, match="batch must be even"):
        core.train(a, B, symmetric_batch=True, **{**kw, "batch": 127})


# -- no sharp edges (issue 19) -------------------------------------------------------------------
def test_alpha_accurate_for_large_d_H():
    import mpmath
    mpmath.mp.dps = 40
    for k in (7, 101, 1000, 12_345, 10**6):
        exact = 2 * mpmath.sqrt(mpmath.pi) * mpmath.gamma(mpmath.mpf(k + 1) / 2) / mpmath.gamma(mpmath.mpf(k) / 2)
        assert core.alpha(k) == pytest.approx(float(exact), rel=1e-13)
    # large-d asymptotics alpha = sqrt(2 pi d) (1 - 1/(4d) + 1/(32 d^2) + O(d^-3)), computed here independently
    for k in (10**9, 10**15, 10**40, 10**400):
        d = float(k) if k < 10**300 else None
        if d is not None:
            expected = math.sqrt(2 * math.pi * d) * (1 - 1 / (4 * d) + 1 / (32 * d * d))
            assert core.alpha(k) == pytest.approx(expected, rel=1e-14)
        else:  # sqrt(2 pi) 10^200
            assert core.alpha(k) == pytest.approx(math.sqrt(2 * math.pi) * 1e200, rel=1e-14)
    with pytest.raises(ValueError, match="d_H"):
        core.alpha(10**700)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("t", [True, np.bool_(False), [0.5, True], np.array([True]), 1j, float("nan"), "1.0"])
def test_odd_target_times_refuse_non_numbers(backend, t):
    for f in (backend.odd_target_ode, backend.odd_target_bound, backend.odd_target_loss):
        with pytest.raises(ValueError, match="t "):
            f(t, 5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_odd_target_huge_d_refused_or_computed(backend):
    for f in (backend.odd_target_constants, lambda d: backend.odd_target_loss(1.0, d)):
        with pytest.raises(ValueError, match="d "):
            f(10**400)
    with pytest.raises(ValueError, match="max_bytes"):
        backend.odd_cubic_coef(10**20)


@pytest.mark.parametrize("backend", BACKENDS)
def test_divergence_raises_like_parsimony(backend):
    a, B = backend.init_particles(4, 3, 0)
    X, y = np.ones((5, 3)) * 100, np.ones(5) * 1e3
    for method in ("gd", "rk4"):
        with pytest.raises(ValueError, match=r"training diverged \(non-finite loss or weights\) at step \d+.*lower lr"):
            backend.train(a, B, X=X, y=-y, lr=1e300, n_steps=20, method=method)
    with pytest.raises(ValueError, match=r"training diverged .* at step \d+.*lower lr"):
        backend.train(a, B, method="sgd", target="radial", d_H=1, batch=8, input_scale=100.0, lr=1e300, n_steps=20)
    with pytest.raises(ValueError, match=r"training diverged .* at step \d+.*lower lr"):
        backend.reduced_train(np.ones(4), np.full(4, 0.3), d=5, d_H=1, lr=1e6, n_steps=30, n_samples=10)


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_checked_before_allocating(backend):
    a, B = backend.init_particles(10, 3, 0)
    X, y = np.ones((5, 3)), np.ones(5)
    saved = itf.config.max_bytes
    itf.config.max_bytes = 64 * 2**20
    try:
        # the list of saved steps is not built before the check (10^12 saves)
        with pytest.raises(ValueError, match="max_bytes"):
            backend.train(a, B, X=X, y=y, lr=1e-9, n_steps=10**12, save_every=1)
        with pytest.raises(ValueError, match="max_bytes"):
            backend.reduced_train(np.ones(4), np.ones(4), d=5, d_H=1, lr=1e-9, n_steps=10**12, n_samples=1, save_every=1)
        # the SGD batch buffers (3e7 x 3 inputs: 690 MB)
        with pytest.raises(ValueError, match="max_bytes"):
            backend.train(a, B, method="sgd", target="radial", d_H=1, batch=3 * 10**7, lr=0.1, n_steps=1)
        # six columns of samples, not four: 2.5e6 samples are 120 MB
        with pytest.raises(ValueError, match="max_bytes"):
            backend.reduced_samples(5, 1, n_samples=2_500_000)
        with pytest.raises(ValueError, match="max_bytes"):
            backend.tau_histogram([0.1], [1.0], bins=10**7)
        # the diagnostics: m = 2000, d = 1000, 3 saves of 16 MB each and the angles to H
        a2, B2 = backend.init_particles(2000, 1000, 0)
        with pytest.raises(ValueError, match="max_bytes"):
            backend.train(a2, B2, X=np.ones((2, 1000)), y=np.ones(2), lr=0.1, n_steps=2, save_every=1, H=500)
    finally:
        itf.config.max_bytes = saved


@pytest.mark.parametrize("backend", BACKENDS)
def test_out_of_range_integers_are_value_errors(backend):
    a, B = backend.init_particles(4, 3, 0)
    X, y = np.ones((5, 3)), np.ones(5)
    with pytest.raises(ValueError, match="d "):
        backend.reduced_samples(2**40, 1, n_samples=1)
    with pytest.raises(ValueError, match="step"):
        backend.reduced_samples(5, 1, step=2**64, n_samples=1)
    with pytest.raises(ValueError, match="start"):
        backend.draw_inputs(2, 2, start=2**64 - 1)
    with pytest.raises(ValueError, match="n_steps"):
        backend.train(a, B, X=X, y=y, lr=0.1, n_steps=2**70, save_steps=[0])
    with pytest.raises(ValueError, match="n_samples"):
        backend.reduced_train(np.ones(4), np.zeros(4), d=5, d_H=1, lr=1e-3, n_steps=1, n_samples=2**63)
    with pytest.raises(ValueError, match="d "):
        backend.reduced_train(np.ones(4), np.zeros(4), d=2**40, d_H=1, lr=1e-3, n_steps=1, n_samples=2)
    with pytest.raises(ValueError, match="REDUCED_MAX_WORK"):
        backend.reduced_features([0.1], [0.1], 10**9, 1)


@pytest.mark.parametrize("backend", BACKENDS)
def test_absurd_work_refused_naming_the_knob(backend):
    with pytest.raises(ValueError, match="MAX_WORK"):
        backend.reduced_train(np.ones(3), np.ones(3), d=6, d_H=2, n_steps=2, n_samples=2**62)
    with pytest.raises(ValueError, match="H must be"):  # found by the fuzz: AttributeError before
        backend.angles_to_subspace(np.ones((2, 3)), None)
