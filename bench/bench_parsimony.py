"""Deep linear training loops: the core against the NumPy reference and JAX, and the compressed network.

Workload: gradient descent on the deep matrix factorisation l = 1/2 ||W_3 W_2 W_1 - Phi||_F^2
(L = 3, d x d factors, orthogonal start of scale 1, rank-r target), at d = 30 (the paper's law
figure), d = 100 (its depth/width experiment) and d = 500, with no state saved during the run. The
peers run the same loop in their own process (``--peer NAME`` runs one and prints JSON):

- core: ``intrinsic_flow._core.deep_linear_descent`` (C++ loop, Eigen products, GIL released);
- reference: the NumPy loop of ``intrinsic_flow.reference.parsimony``;
- jax: ``jax.jit`` over ``lax.scan`` of the same step, float64, gradient by ``jax.grad``.

The last line times the compressed network (2r x 2r factors) against the original at d = 500,
r = 5 (``parsimony.compress``, both runs in the core). Ratios are of seconds per step measured in
this run; peers that are not installed are skipped.

    python bench/bench_parsimony.py
    python bench/bench_parsimony.py --repeat 5
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import best_time, run_peer  # noqa: E402

PEERS = ("core", "reference", "jax")
SIZES = {30: 2000, 100: 300, 500: 10}  # d -> steps per timed run
REFERENCE_STEPS = {30: 200, 100: 100, 500: 5}
LR = 1e-4


def problem(d: int, r: int = 3, depth: int = 3):
    from intrinsic_flow._parsimony import initial_factors, low_rank_truncation, pack

    rng = np.random.default_rng(0)
    target = low_rank_truncation(rng.standard_normal((d, d)), r)
    factors = initial_factors((d,) * (depth + 1), 1.0, "orthogonal", rng)
    return target, pack(factors), [d] * (depth + 1)


def peer_numpy(name: str, repeat: int) -> dict:
    if name == "core":
        from intrinsic_flow import _core
        descent = _core.deep_linear_descent
        steps_for = SIZES
    else:
        from intrinsic_flow.reference import parsimony as reference
        descent = reference.descent
        steps_for = REFERENCE_STEPS
    out = {}
    empty = np.zeros((0, 0))
    for d in SIZES:
        target, theta0, dims = problem(d)
        n = steps_for[d]

        def run():
            return descent(dims, theta0, empty, target, empty, 1.0, False, [LR] * 3, 0.0, n, 0, 0.0)

        out[str(d)] = best_time(run, repeat if d < 500 else 1) / n
    if name == "core":
        from intrinsic_flow import parsimony
        parsimony.compress(500, 5, 3, 1.0, LR, 2, reduction="sum", save_every=0)  # warm-up
        result = parsimony.compress(500, 5, 3, 1.0, LR, 20, reduction="sum", save_every=0)
        out["compress"] = [result.seconds_original, result.seconds_compressed]
    return out


def peer_jax(repeat: int) -> dict:
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    out = {}
    for d in SIZES:
        target, theta0, dims = problem(d)
        n = SIZES[d]
        factors = tuple(jnp.asarray(theta0[k * d * d:(k + 1) * d * d].reshape(d, d)) for k in range(3))
        phi = jnp.asarray(target)

        def loss(ws):
            return 0.5 * jnp.sum((ws[2] @ ws[1] @ ws[0] - phi) ** 2)

        value_and_grad = jax.value_and_grad(loss)

        def step(ws, _):
            value, grads = value_and_grad(ws)
            return tuple(w - LR * g for w, g in zip(ws, grads)), value

        @jax.jit
        def train(ws):
            return jax.lax.scan(step, ws, None, length=n)

        def run():
            ws, values = train(factors)
            jax.block_until_ready(values)

        out[str(d)] = best_time(run, repeat if d < 500 else 1) / n
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peer", choices=PEERS, help="run one peer in this process and print JSON")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    if args.peer:
        result = peer_jax(args.repeat) if args.peer == "jax" else peer_numpy(args.peer, args.repeat)
        print(json.dumps(result))
        return 0
    results = {}
    for peer in PEERS:
        result = run_peer(__file__, peer, "--repeat", str(args.repeat))
        if result is not None:
            results[peer] = result
    core = results.get("core")
    print("deep linear GD, L = 3, seconds per step (ratio = peer / core)")
    print(f"{'d':>5s} {'core':>11s} " + " ".join(f"{p:>22s}" for p in PEERS[1:]))
    for d in SIZES:
        cells = []
        for peer in PEERS[1:]:
            if peer in results and core:
                t = results[peer][str(d)]
                cells.append(f"{t:10.3e} ({t / core[str(d)]:7.1f}x)")
            else:
                cells.append(f"{'-':>22s}")
        print(f"{d:5d} {core[str(d)] if core else float('nan'):11.3e} " + " ".join(cells))
    if core:
        original, compressed = core["compress"]
        print(f"compressed (2r = 10) vs original network at d = 500, 20 steps: {original:.3f} s vs "
              f"{compressed:.4f} s ({original / compressed:.1f}x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
