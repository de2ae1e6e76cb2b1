"""The law of parsimony in deep linear networks: exact structure, compressed network, closed forms,
matrix completion and progressive separation, on both backends; bad input."""
from __future__ import annotations

import math

import numpy as np
import pytest

from intrinsic_flow import parsimony
from intrinsic_flow.reference import parsimony as reference

BACKENDS = [pytest.param(parsimony, id="core"), pytest.param(reference, id="reference")]


# -- the invariant subspace, exact ------------------------------------------------------------------
@pytest.fixture(scope="module")
def law_run():
    # d = 30, r = 3, L = 3, eps = 1, eta = 0.002 on the sum loss, 3000 steps
    return parsimony.factorization(30, 3, 3, 1.0, 0.002, 3000, reduction="sum", save_every=500)


def test_middle_singular_values_follow_the_scalar_recursion(law_run):
    eta, L, rho = 0.002, 3, 1.0
    for _ in range(3000):
        rho = rho - eta * rho ** (2 * L - 1)
    values = law_run.singular_values[-1, 0]
    middle = values[np.abs(values - rho) < 1e-9]
    assert len(middle) == 24  # exactly d - 2r values sit at rho
    assert np.ptp(middle) < 1e-12
    assert np.max(np.abs(middle - rho)) < 1e-12
    assert abs(law_run.rho_predicted[-1] - rho) < 1e-15
    assert law_run.middle_spread.max() < 1e-12
    # the recursion moved rho well away from eps: the test is not vacuous
    assert rho < 0.9


def test_complement_block_is_rho_over_eps_times_the_start(law_run):
    assert law_run.complement_residual.max() < 1e-10
    assert law_run.loss[-1] < law_run.loss[0]
    assert np.all(np.diff(law_run.loss) <= 0)


def test_invariant_basis_is_orthonormal_and_holds_the_initial_gradient_directions(law_run):
    basis = law_run.invariant_basis
    assert basis.shape == (30, 6)
    assert np.allclose(basis.T @ basis, np.eye(6), atol=1e-12)
    w1, w2, w3 = law_run.factors(0)
    # balanced start: grad_{W_1} l(0) = W_1(0) - G0 with G0 = (W_3 W_2)^T Phi of rank r
    g0 = (w3 @ w2).T @ law_run.target
    assert np.allclose((w3 @ w2).T @ (w3 @ w2 @ w1 - law_run.target), w1 - g0, atol=1e-12)
    assert np.linalg.matrix_rank(g0) == 3
    projector = basis @ basis.T
    assert np.linalg.norm(g0 - g0 @ projector) < 1e-12 * np.linalg.norm(g0)
    assert np.linalg.norm(w1.T @ g0 - projector @ w1.T @ g0) < 1e-12 * np.linalg.norm(g0)


def test_only_2r_singular_values_move_and_the_middle_subspace_stays(law_run):
    values = law_run.singular_values[-1, 0]
    assert values[0] > values[3] + 0.1 and values[-1] < values[26] - 1e-3
    assert np.max(law_run.angles_right[:, :, 3:27]) < 1e-6
    assert np.max(law_run.angles_left[:, :, 3:27]) < 1e-6


def test_summary_and_figure(law_run):
    pytest.importorskip("matplotlib")
    assert "rho" in law_run.summary()
    figure = law_run.figure()
    assert len(figure.axes) >= 9


@pytest.mark.parametrize("init", ["gaussian", "uniform"])
def test_other_initialisations_have_the_orthogonal_norm(init):
    run = parsimony.factorization(10, 1, 3, 0.5, 0.01, 0, init=init, seed=3)
    for w in run.factors(0):
        assert np.linalg.norm(w) == pytest.approx(0.5 * math.sqrt(10), rel=0.5)


def test_momentum_keeps_the_law_and_follows_the_heavy_ball_recursion():
    run = parsimony.factorization(16, 2, 3, 1.0, 0.002, 400, reduction="sum", momentum=0.9, save_every=100)
    rho, velocity = 1.0, 0.0
    for _ in range(400):
        velocity = rho ** 5 + 0.9 * velocity
        rho -= 0.002 * velocity
    assert abs(run.rho[-1] - rho) < 1e-12
    assert run.middle_spread.max() < 1e-12
    assert run.complement_residual.max() < 1e-10


def test_mean_reduction_is_the_sum_loss_at_a_scaled_rate():
    mean = parsimony.factorization(12, 2, 3, 1.0, 1.0, 50, save_every=50)
    total = parsimony.factorization(12, 2, 3, 1.0, 1.0 / 144, 50, save_every=50, reduction="sum")
    assert np.allclose(mean.states, total.states, rtol=0, atol=1e-13)
    assert np.allclose(mean.loss * 144, total.loss, rtol=1e-12)


# -- compressed network -----------------------------------------------------------------------------
def test_compressed_network_is_exact_with_the_complement_term():
    result = parsimony.compress(30, 3, 3, 1.0, 0.002, 300, reduction="sum", save_every=10)
    assert result.max_gap < 1e-10
    assert result.n_params_compressed == 3 * 36


def test_compressed_network_without_the_complement_differs_by_rho_to_the_L():
    d, r, L, eps, eta, n = 30, 3, 3, 1e-3, 0.005, 300
    result = parsimony.compress(d, r, L, eps, eta, n, complement=False, save_every=20, reduction="sum")
    rho = eps
    rhos = [rho]
    for _ in range(n):
        rho -= eta * rho ** (2 * L - 1)
        rhos.append(rho)
    expected = max(rhos[k] ** L for k in result.steps) * math.sqrt(d - 2 * r)
    # ‖(ρ/ε)^L W_{L:1}(0)P⊥‖ = ρ^L √(d − 2r) (W(0)/ε^L orthogonal) up to the 1e-10 exactness above
    assert result.max_gap == pytest.approx(expected, rel=1e-4)
    exact = parsimony.compress(d, r, L, eps, eta, n, complement=True, save_every=20, reduction="sum")
    assert exact.max_gap < 1e-13
    assert result.seconds_original > 0 and result.seconds_compressed > 0


# -- gradient flow ----------------------------------------------------------------------------------
def test_rho_flow_closed_form():
    assert parsimony.rho_flow(6.0, 1.0, 3) == pytest.approx(25 ** -0.25, rel=1e-15)
    t = np.linspace(0.0, 3.0, 7)
    # rho' = -rho^(2L-1) by central differences
    h = 1e-5
    derivative = (parsimony.rho_flow(t + h, 0.7, 4) - parsimony.rho_flow(t + 2 * h, 0.7, 4)) / -h
    assert np.allclose(derivative, -parsimony.rho_flow(t + 1.5 * h, 0.7, 4) ** 7, rtol=1e-6)


def test_rk4_flow_follows_the_closed_form_and_keeps_the_balance():
    dt, n = 0.01, 600  # t = 6
    run = parsimony.factorization(12, 2, 3, 1.0, dt, n, method="rk4", reduction="sum", save_every=100)
    assert run.rho_predicted[-1] == pytest.approx(25 ** -0.25, rel=1e-14)
    assert abs(run.rho[-1] - run.rho_predicted[-1]) < 1e-8
    assert run.middle_spread.max() < 1e-12
    # the balance defects drift by the integrator error only: O(dt^4), so halving dt divides it by ~16
    finer = parsimony.factorization(12, 2, 3, 1.0, dt / 2, 2 * n, method="rk4", reduction="sum", save_every=200)
    assert run.balance_defect.max() < 1e-5
    assert finer.balance_defect.max() < run.balance_defect.max() / 8
    # gradient descent with the same rate drifts from the balance by O(eta^2) per step
    gd = parsimony.factorization(12, 2, 3, 1.0, dt, n, reduction="sum", save_every=100)
    assert gd.balance_defect.max() > 100 * run.balance_defect.max()


# -- backends agree -----------------------------------------------------------------------------------
@pytest.mark.parametrize("method", ["gd", "rk4"])
def test_core_and_reference_factorisations_agree(method):
    kwargs = dict(reduction="sum", save_every=20, method=method, seed=5)
    core = parsimony.factorization(14, 2, 3, 1.0, 0.01, 100, **kwargs)
    ref = reference.factorization(14, 2, 3, 1.0, 0.01, 100, **kwargs)
    assert np.max(np.abs(core.states - ref.states)) < 1e-12
    assert np.allclose(core.loss, ref.loss, rtol=1e-12, atol=0)


def test_core_and_reference_training_loops_agree_with_momentum_masks_relu_and_frozen_layers():
    rng = np.random.default_rng(1)
    factors = [0.5 * rng.standard_normal((6, 4)), 0.5 * rng.standard_normal((5, 6)), 0.5 * rng.standard_normal((3, 5))]
    inputs, target = rng.standard_normal((4, 7)), rng.standard_normal((3, 7))
    mask = (rng.random((3, 7)) < 0.6).astype(float)
    for activation in ("linear", "relu"):
        kwargs = dict(inputs=inputs, mask=mask, momentum=0.5, learning_rates=[0.05, 0.0, 0.1],
                      save_every=7, activation=activation, reduction="sum")
        core = parsimony.train(factors, target, 1.0, 60, **kwargs)
        ref = reference.train(factors, target, 1.0, 60, **kwargs)
        assert np.max(np.abs(core[0] - ref[0])) < 1e-12
        assert list(core[1]) == list(ref[1])
        assert np.allclose(core[2], ref[2], rtol=1e-12, atol=1e-15)
        assert np.array_equal(core[0][-1][24:54], factors[1].ravel())  # the frozen layer


def test_early_stop_at_tol_and_saved_steps():
    factors = [0.5 * np.eye(3), 0.5 * np.eye(3)]
    states, steps, losses, info = parsimony.train(factors, np.eye(3), 0.2, 10_000, tol=1e-8, save_every=0,
                                                  reduction="sum")
    assert info["converged"] and losses[-1] <= 1e-8 < losses[-2]
    assert list(steps) == [0, info["steps_done"]] and len(losses) == info["steps_done"] + 1


# -- matrix completion ---------------------------------------------------------------------------------
def test_completion_backends_agree_and_recover():
    kwargs = dict(tol=1e-12, seed=2, reduction="sum")
    core = parsimony.matrix_completion(10, 1, 0.6, 3, 10, 0.1, 0.05, 3000, **kwargs)
    ref = reference.matrix_completion(10, 1, 0.6, 3, 10, 0.1, 0.05, 3000, **kwargs)
    assert core.recovery_error < 1e-3 * core.loss[0]
    assert core.n_steps == ref.n_steps
    assert np.max(np.abs(core.end_to_end - ref.end_to_end)) < 1e-12
    assert core.mask.sum() == int(0.6 * 100)


def _rank_r_basis(w1, g0, r):
    """The authors' construction, written independently: the orthogonal complement of
    span(W_1ᵀ U_⊥) ∩ span(V_⊥), with U_⊥, V_⊥ the singular vectors of G₀ beyond the top r."""
    d = w1.shape[0]
    u, _, vt = np.linalg.svd(g0)
    a, b = w1.T @ u[:, r:] / np.linalg.norm(w1[:, 0]), vt[r:].T
    null = np.linalg.svd(np.hstack([a, -b]))[2].T[:d - r, d:]  # coefficients of the intersection in a
    inside = np.linalg.svd(a @ null)[0][:, :d - 2 * r]
    return np.eye(d) - inside @ inside.T  # projector on the 2r-dimensional basis


def _first_gradient(factors, target, mask):
    w1, w2, w3 = factors
    return (w3 @ w2).T @ (mask * (w3 @ w2 @ w1 - target)) / target.size


def _column_capture(basis, matrix, r):
    """Mean squared cosine of the principal angles between the top-r column space of ``matrix`` and
    span(basis): ‖Q_bᵀ Q_r‖_F² / r."""
    q_b = np.linalg.qr(basis)[0]
    q_r = np.linalg.svd(matrix)[0][:, :r]
    return np.linalg.norm(q_b.T @ q_r) ** 2 / r


COMPLETION = dict(d=30, r=2, observed=0.5, depth=3, width=30, eps=1e-3, lr=18.0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compressed_completion_basis_is_the_rank_r_construction_and_holds_the_target(seed):
    run = parsimony.matrix_completion(**COMPLETION, max_steps=0, seed=seed, compressed=True)
    d, r, eps = 30, 2, 1e-3
    v, u = run.invariant_basis, run.left_basis
    assert np.allclose(v.T @ v, np.eye(2 * r), atol=1e-12) and np.allclose(u.T @ u, np.eye(2 * r), atol=1e-9)
    # rebuild W(0) from the same seed stream and check V against the authors' construction
    from intrinsic_flow._parsimony import initial_factors
    w = initial_factors((d,) * 4, eps, "orthogonal", np.random.default_rng([seed, 1]))
    g0 = _first_gradient(w, run.target, run.mask)
    assert np.linalg.norm(v @ v.T - _rank_r_basis(w[0], g0, r)) < 1e-10
    assert np.allclose(u, w[2] @ w[1] @ w[0] @ v / eps ** 3, atol=1e-12)
    # span(U) holds most of col(Φ) and span(V) most of row(Φ); the top-2r right singular vectors of
    # [G₀; G₀ᵀW_1] (without the rank-r truncation) would not
    assert _column_capture(u, run.target, r) >= 0.8
    assert _column_capture(v, run.target.T, r) >= 0.8
    untruncated = np.linalg.svd(np.vstack([g0, g0.T @ w[0]]))[2][:2 * r].T
    assert _column_capture(w[2] @ w[1] @ w[0] @ untruncated / eps ** 3, run.target, r) < 0.5


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_compressed_completion_follows_the_original_to_the_same_error(seed):
    original = parsimony.matrix_completion(**COMPLETION, max_steps=60_000, tol=1e-16, seed=seed)
    moving = parsimony.matrix_completion(**COMPLETION, max_steps=60_000, tol=1e-16, seed=seed, compressed=True,
                                         gamma=0.01)
    frozen = parsimony.matrix_completion(**COMPLETION, max_steps=20_000, tol=1e-16, seed=seed, compressed=True,
                                         gamma=0.0)
    assert original.converged and moving.converged
    assert original.recovery_error < 1e-13 and moving.recovery_error < 1e-13
    assert 0.5 < moving.recovery_error / original.recovery_error < 2.0
    assert frozen.recovery_error > 1e-3  # U, V fixed: the law is not exact for completion, the run stalls


def test_rank_estimate_gives_a_wider_basis():
    run = parsimony.matrix_completion(**COMPLETION, max_steps=0, compressed=True, rank_estimate=4)
    assert run.invariant_basis.shape == (30, 8) and run.left_basis.shape == (30, 8)
    with pytest.raises(ValueError, match="2 rank_estimate <= d"):
        parsimony.matrix_completion(**COMPLETION, max_steps=0, compressed=True, rank_estimate=16)


def test_completion_problem_is_the_authors_data():
    target, mask = parsimony.completion_problem(40, 3, 0.25, seed=4)
    assert np.linalg.matrix_rank(target) == 3 and mask.sum() == 400 and set(np.unique(mask)) == {0.0, 1.0}
    gaussian = np.random.default_rng(4).standard_normal((40, 40))
    u, s, vt = np.linalg.svd(gaussian)
    assert np.allclose(target, (u[:, :3] * s[:3]) @ vt[:3], atol=1e-12)
    again, mask_again = parsimony.completion_problem(40, 3, 0.25, seed=4)
    assert np.array_equal(target, again) and np.array_equal(mask, mask_again)
    run = parsimony.matrix_completion(40, 3, 0.25, 3, 10, 1e-3, 1.0, 0, seed=4)
    assert np.array_equal(run.target, target) and np.array_equal(run.mask, mask)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stopping_rule_tested_every_k_steps(backend):
    factors = [0.5 * np.eye(3), 0.5 * np.eye(3)]
    target = np.diag([1.0, 2.0, 3.0])
    _, _, every, info_every = backend.train(factors, target, 0.05, 10_000, tol=1e-8, reduction="sum", save_every=0)
    states, steps, losses, info = backend.train(factors, target, 0.05, 10_000, tol=1e-8, reduction="sum",
                                                save_every=7, check_every=100)
    first = info_every["steps_done"]
    assert first % 100 != 0  # otherwise the test would not separate the two rules
    assert info["converged"] and info["steps_done"] == 100 * math.ceil(first / 100)
    assert len(losses) == info["steps_done"] + 1 and losses[-1] <= 1e-8
    assert np.allclose(losses[:first + 1], every, rtol=0, atol=0)  # the same descent up to the first stop
    plain = backend.train(factors, target, 0.05, info["steps_done"], reduction="sum", save_every=7)
    assert np.array_equal(states[-1], plain[0][-1]) and list(steps) == list(plain[1])
    with pytest.raises(ValueError, match="momentum"):
        backend.train(factors, target, 0.05, 10, tol=1e-8, momentum=0.5, check_every=10)


# -- separation ------------------------------------------------------------------------------------------
def test_separation_at_layer_zero_is_exact():
    K, n = 5, 10
    rng = np.random.default_rng(0)
    q = np.linalg.qr(rng.standard_normal((K * n, K * n)))[0]
    labels = np.repeat(np.arange(K), n)
    assert parsimony.separation([q], labels)[0] == pytest.approx(K * (n - 1) / (K - 1), rel=1e-12)
    assert K * (n - 1) / (K - 1) == 11.25


@pytest.mark.parametrize("backend", BACKENDS)
def test_progressive_separation_linear_is_log_linear(backend):
    run = backend.progressive_separation(4, 5, 4, 0.5, 1.0, max_steps=20_000, tol=1e-6)
    assert run.D[0] == pytest.approx(4 * 4 / 3, rel=1e-12)
    assert np.all(np.diff(np.log(run.D)) < 0)
    assert run.r_squared > 0.99
    assert run.converged


def test_progressive_separation_relu_decreases():
    run = parsimony.progressive_separation(4, 5, 4, 0.5, 1.0, activation="relu", max_steps=20_000, tol=1e-6)
    assert run.D[-1] < run.D[0]


# -- bad input --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kwargs, match", [
    (dict(d=6, r=3), "d must be > 2r"),
    (dict(depth=1), "depth must be an integer >= 2"),
    (dict(lr=0.0), "lr must be a finite number > 0"),
    (dict(lr=-1.0), "lr must be a finite number > 0"),
    (dict(eps=float("nan")), "eps must be a finite number > 0"),
    (dict(init="xavier"), "init must be one of"),
    (dict(method="euler"), "method must be one of"),
    (dict(momentum=1.0), "momentum must be in"),
])
def test_factorization_refuses_bad_input(backend, kwargs, match):
    args = dict(d=10, r=2, depth=3, eps=1.0, lr=0.01, n_steps=5)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        backend.factorization(**args)


def test_non_finite_target_and_empty_mask_are_refused():
    target = np.ones((10, 10))
    target[2, 3] = np.inf
    with pytest.raises(ValueError, match="target contains a non-finite value"):
        parsimony.factorization(10, 2, 3, 1.0, 0.01, 5, target=target)
    with pytest.raises(ValueError, match="mask has no observed entry"):
        parsimony.train([np.eye(2), np.eye(2)], np.eye(2), 0.1, 1, mask=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="leaves no observed entry"):
        parsimony.matrix_completion(10, 2, 0.001, 3, 10, 1e-3, 1.0, 10)
    with pytest.raises(ValueError, match="observed must be a fraction"):
        parsimony.matrix_completion(10, 2, 1.5, 3, 10, 1e-3, 1.0, 10)


def test_divergence_is_reported():
    with pytest.raises(ValueError, match="training diverged"):
        parsimony.factorization(10, 2, 3, 1.0, 1e6, 200)


def test_oversized_saves_are_refused_before_allocating(monkeypatch):
    import intrinsic_flow

    monkeypatch.setattr(intrinsic_flow.config, "max_bytes", 10_000)
    with pytest.raises(ValueError, match="max_bytes"):
        parsimony.factorization(20, 2, 3, 1.0, 0.01, 100)


def test_separation_refuses_one_class():
    with pytest.raises(ValueError, match="at least two classes"):
        parsimony.separation([np.eye(3)], [0, 0, 0])


def test_large_products_are_bit_identical_whatever_the_thread_count():
    from intrinsic_flow import _core

    # d = 260: each product of the loop (260^3 multiply-adds) is above the size split across threads
    rng = np.random.default_rng(0)
    factors = [np.eye(260) + 0.01 * rng.standard_normal((260, 260)) for _ in range(2)]
    target = rng.standard_normal((260, 260))

    def run():
        return parsimony.train(factors, target, 1e-4, 1, reduction="sum", save_every=0)[0]

    one, two = _core.with_threads(1, run), _core.with_threads(2, run)
    assert np.array_equal(one, two)


@pytest.mark.parametrize("backend", [parsimony, reference], ids=["core", "reference"])
@pytest.mark.parametrize("r", [1, 2, 3])
def test_factorization_with_one_middle_value(backend, r):
    """d = 2r + 1: the middle block is one singular value; rho is that one (not the largest), the law
    holds exactly (the complement residual is at round-off)."""
    run = backend.factorization(2 * r + 1, r, 3, 1.0, 0.002, 300, reduction="sum", seed=0)
    expected = rho_recursion_closed(1.0, 3, 0.002, run.steps)
    assert np.max(np.abs(run.rho - expected)) < 1e-12
    assert run.complement_residual.max() < 1e-10
    assert run.rho[-1] < run.singular_values[-1, 0, 0]


def rho_recursion_closed(eps, depth, rate, steps):
    """rho_{t+1} = rho_t - rate rho_t^(2L-1), computed here independently, at the given steps."""
    rho = [eps]
    for _ in range(int(steps[-1])):
        rho.append(rho[-1] - rate * rho[-1] ** (2 * depth - 1))
    return np.asarray(rho)[np.asarray(steps, dtype=int)]


@pytest.mark.parametrize("backend", [parsimony, reference], ids=["core", "reference"])
def test_unbounded_requests_are_refused_before_allocating(backend):
    factors = [0.5 * np.eye(3), 0.5 * np.eye(3)]
    with pytest.raises(ValueError, match="n_steps"):
        backend.train(factors, np.eye(3), 0.1, 10**12, method="rk4", save_every=0)
    with pytest.raises(ValueError, match="max_bytes"):
        backend.train(factors, np.eye(3), 0.1, 10**12, save_every=0)
    with pytest.raises(ValueError, match="at least one row"):
        backend.train([np.zeros((0, 3)), np.zeros((3, 0))], np.zeros((3, 3)), 0.1, 1)


@pytest.mark.parametrize("backend", [parsimony, reference], ids=["core", "reference"])
def test_fuzz_findings(backend):
    """What the fuzz of this module found: a deep rho_flow overflowed, eps^L out of range raised
    OverflowError, a save period beyond 64 bits reached the core."""
    depth = 10**30
    assert np.allclose(backend.rho_flow([0.0, 1.0], 0.5, depth), 0.5)  # (1/p) log of a huge sum: eps
    with pytest.raises(ValueError, match="eps"):
        backend.compress(3, 1, 2, 1e308, 0.01, 2, complement=True, reduction="sum")
    states, steps, _, _ = backend.train([0.5 * np.eye(3)] * 2, np.eye(3), 0.05, 4, save_every=10**30,
                                        reduction="sum")
    assert steps.tolist() == [0, 4]
