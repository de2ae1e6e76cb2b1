"""A seeded fuzz of intrinsic_flow.parameterizations: random, often bad, arguments to
abc_exponents, bias_lr_exponents, abc_network, AbcModel.forward/step/gradients/learning_rates,
calibrate_base_lrs, coord_check, train and stable_rank, on both backends.

Every call must end with an answer or a ValueError / TypeError (a MemoryError only when it names
config.max_bytes), and the two backends must do the same: both answer, with values equal to
1e-12 (non-finite where the other is), or both refuse with the same error type and message. The
test runs a few seconds of cases; ``python tests/test_parameterizations_fuzz.py [n_cases] [seed]``
runs many more by hand.
"""
from __future__ import annotations

import math
import sys
import time

import numpy as np
import pytest

import intrinsic_flow
import intrinsic_flow.parameterizations as core
import intrinsic_flow.reference.parameterizations as ref

from fuzzing import pick, refused

pytest.importorskip("pandas")

BUDGET = 64 * 2**20  # small, so that sizes near it are cheap




# -- random arguments ---------------------------------------------------------------------------


BAD_INTS = [0, -1, 2.0, "3", True, np.bool_(False), None, 10**12, 10**30, 1.5, np.nan, [2]]
BAD_REALS = [np.nan, -1.0, 0.0, math.inf, "0.1", True, np.bool_(True), None, 1 + 0j, 1e308, 1e-320, [0.1]]
BAD_NAMES = ["", "Relu", None, 3, b"relu", ("relu",)]


X_SCALE = [1.0]  # the size of the last random batch: roundoff in the products grows with it


def random_x(rng, batch, d):
    X_SCALE[0] = max(X_SCALE[0], 10.0 ** int(rng.integers(-3, 4)))
    x = rng.standard_normal((batch, d)) * X_SCALE[0]
    if rng.random() < 0.3:
        kind = int(rng.integers(9))
        x = [np.where(rng.random(x.shape) < 0.5, np.nan, x), x.astype(complex), x[:, :max(d - 1, 0)], x[0],
             np.zeros((0, d)), "x", None, x.astype(np.float32).T.copy().T, x.tolist()][kind]
    return x


def random_labels(rng, batch, n_out):
    y = rng.integers(0, n_out, batch)
    if rng.random() < 0.3:
        kind = int(rng.integers(7))
        y = [np.where(np.arange(batch) == 0, n_out, y), np.where(np.arange(batch) == 0, -1, y), y.astype(float),
             y.astype(bool), y[:-1], None, y.astype(np.uint8)][kind]
    return y


def random_call(rng):
    """(name, function of a backend) for one random call; the function returns plain values.
    X_SCALE[0] is then the largest scale of its random batches (at least 1)."""
    X_SCALE[0] = 1.0
    kind = int(rng.integers(7))
    scheme = pick(rng, str(rng.choice(core.SCHEMES)), BAD_NAMES, 0.1)
    n_hidden = pick(rng, int(rng.integers(1, 5)), BAD_INTS, 0.15)
    if kind == 0:
        warmup = pick(rng, bool(rng.random() < 0.5), [1, "yes", None], 0.1)
        return "abc_exponents", lambda B: B.abc_exponents(scheme, n_hidden, warmup=warmup)
    if kind == 1:
        warmup = pick(rng, np.bool_(rng.random() < 0.5), [0, None], 0.1)
        return "bias_lr_exponents", lambda B: B.bias_lr_exponents(n_hidden, warmup=warmup)
    if kind == 2:
        shape = tuple(int(k) for k in rng.integers(1, 6, 2))
        matrix = rng.standard_normal(shape) * 10.0 ** rng.integers(-300, 300)
        matrix = pick(rng, matrix, [np.zeros(shape), np.full(shape, np.nan), np.ones(3), np.zeros((0, 2)), "m",
                                    matrix.astype(complex), [[1, 2], [3]]], 0.3)
        return "stable_rank", lambda B: B.stable_rank(matrix)
    d, n_out = int(rng.integers(1, 5)), int(rng.integers(1, 4))
    width = pick(rng, int(rng.integers(1, 24)), BAD_INTS, 0.1)
    activation = pick(rng, str(rng.choice(core.ACTIVATIONS)), BAD_NAMES, 0.05)
    loss = pick(rng, str(rng.choice(["cross_entropy", "mse"])), BAD_NAMES, 0.05)
    seed = pick(rng, int(rng.integers(0, 1000)), [-1, 2.0, None, 2**70], 0.05)
    init_mean = pick(rng, float(rng.choice([0.0, 1.0])), BAD_REALS, 0.05)
    lr = pick(rng, float(10.0 ** rng.uniform(-3, 0)), BAD_REALS, 0.15)
    batch = int(rng.integers(1, 9))
    x, y = random_x(rng, batch, d), random_labels(rng, batch, n_out)
    if kind == 3:
        method = str(rng.choice(["forward", "step", "gradients", "learning_rates", "bias_learning_rates"]))
        n_steps = int(rng.integers(0, 3))

        def model_call(B):
            model = B.abc_network(scheme, d, width, n_out, n_hidden, activation=activation, loss=loss, seed=seed,
                                  init_mean=init_mean)
            good_x, good_y = np.ones((2, d)), np.arange(2) % n_out
            for _ in range(n_steps):
                model.step(good_x, good_y, 0.01)
            if method == "forward":
                return model.forward(x)
            if method == "step":
                return model.step(x, y, lr), model.network.weights
            if method == "gradients":
                return model.gradients(x, y)
            return getattr(model, method)(lr)
        return f"AbcModel.{method}", model_call
    if kind == 4:
        rule = pick(rng, str(rng.choice(["authors", "unit"])), BAD_NAMES, 0.1)
        cap = pick(rng, 500.0, BAD_REALS, 0.1)
        x1 = random_x(rng, int(rng.integers(1, 6)), d)
        not_a_model = pick(rng, None, ["model", 3], 0.05)

        def calibrate(B):
            model = B.abc_network(scheme, d, width, n_out, n_hidden, activation=activation, seed=seed)
            return B.calibrate_base_lrs(model if not_a_model is None else not_a_model, x, y, x1, lr=lr, rule=rule,
                                        cap=cap)
        return "calibrate_base_lrs", calibrate
    data = (rng.standard_normal((12, d)), rng.integers(0, n_out, 12))
    data = pick(rng, data, [(data[0], data[1] + 10**7), (data[0], -data[1] - 1), (data[0],), {}, "data",
                            (data[0][:, :0], data[1]), (data[0] * np.nan, data[1])], 0.2)
    n_steps = pick(rng, int(rng.integers(0, 3)), BAD_INTS, 0.15)
    if kind == 5:
        widths = pick(rng, [int(w) for w in rng.integers(1, 16, int(rng.integers(1, 3)))],
                      [[], [0], {8}, 8, ["8"], [10**9]], 0.1)
        n_seeds = pick(rng, int(rng.integers(1, 3)), BAD_INTS, 0.15)
        calibrate = pick(rng, bool(rng.random() < 0.3), [1, None], 0.05)
        return "coord_check", lambda B: B.coord_check(scheme, widths, n_hidden=n_hidden, activation=activation,
                                                      n_steps=n_steps, n_seeds=n_seeds, data=data, lr=lr,
                                                      batch=batch, loss=loss, init_mean=init_mean,
                                                      calibrate=calibrate).to_numpy()
    lr_factors = pick(rng, None, [[1.0] * 9, [np.nan, 1.0], "ab", [-1.0, 1.0]], 0.1)
    eval_every = pick(rng, int(rng.integers(1, 3)), BAD_INTS, 0.1)
    return "train", lambda B: B.train(scheme, data, n_hidden=n_hidden, width=width, activation=activation, lr=lr,
                                      n_steps=n_steps, batch=batch, seed=seed, loss=loss, init_mean=init_mean,
                                      lr_factors=lr_factors, eval_every=eval_every).to_numpy()


# -- comparing the outcomes ---------------------------------------------------------------------
def flatten(value) -> list:
    if isinstance(value, (list, tuple)):
        return [v for item in value for v in flatten(item)]
    return [np.asarray(value, dtype=np.float64)]


def same_values(a, b, x_scale: float = 1.0) -> bool:
    """Equal shapes, non-finite values at the same places, and the rest equal to 1e-12 of each array's largest
    entry, times the scale of the inputs (products of inputs of size 100 cancel to 1e-11)."""
    fa, fb = flatten(a), flatten(b)
    if len(fa) != len(fb):
        return False
    for u, v in zip(fa, fb):
        # a run that overflowed (lr = 1e308) is non-finite on both, but inf or NaN depends on the
        # order of the operations: only where the values are finite is compared
        finite = np.isfinite(u)
        if u.shape != v.shape or not np.array_equal(finite, np.isfinite(v)):
            return False
        scale = max(1.0, float(np.max(np.abs(u[finite]), initial=0.0)))  # relative to the array's size
        ok = ~finite | (np.abs(u - v) <= 1e-12 * x_scale * scale)
        if not np.all(ok):
            return False
    return True


def outcome(function, backend):
    try:
        return "answer", function(backend)
    except Exception as error:  # noqa: BLE001 - every error is judged below
        return "error", error


def run(n_cases: int, seed: int, seconds: float = math.inf) -> list:
    """The failures of n_cases random calls (or as many as fit in ``seconds``)."""
    rng = np.random.default_rng(seed)
    saved = intrinsic_flow.config.max_bytes
    intrinsic_flow.config.max_bytes = BUDGET
    failures, start = [], time.process_time()
    try:
        for case in range(n_cases):
            if time.process_time() - start > seconds:
                break
            name, function = random_call(rng)
            (kind_c, c), (kind_r, r) = outcome(function, core), outcome(function, ref)
            for kind, value in ((kind_c, c), (kind_r, r)):
                if kind == "error" and not refused(value):
                    failures.append((case, name, f"{type(value).__name__}: {value}"))
            if kind_c != kind_r:
                failures.append((case, name, f"backends differ: core {kind_c} {c!r:.200}, reference {kind_r} {r!r:.200}"))
            elif kind_c == "error" and (type(c) is not type(r) or str(c) != str(r)):
                failures.append((case, name, f"errors differ: core {type(c).__name__}: {c}; "
                                             f"reference {type(r).__name__}: {r}"))
            elif kind_c == "answer" and not same_values(c, r, X_SCALE[0]):
                failures.append((case, name, "values differ beyond 1e-12"))
    finally:
        intrinsic_flow.config.max_bytes = saved
    return failures


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_fuzz_parameterizations():
    failures = run(10**6, seed=19, seconds=4.0)
    assert not failures, "\n".join(f"case {case} {name}: {what}" for case, name, what in failures[:10])


if __name__ == "__main__":
    import warnings

    warnings.simplefilter("ignore", RuntimeWarning)
    n, s = (int(sys.argv[1]) if len(sys.argv) > 1 else 2000), (int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    found = run(n, s)
    for case, name, what in found:
        print(f"case {case} {name}: {what}")
    print(f"{len(found)} failures in {n} cases")
