"""Mean-field particle training and the reduced angle dynamics: the core against JAX and NumPy.

(1) Particle GD on a fixed symmetrised sample: d = 10, m = 2000 neurons, N = 4000 samples, odd cubic
target, learning rate m * 0.01, 100 steps (the loop of the exact-linearity check), by the core
(``intrinsic_flow.symmetries.train``), the NumPy reference and JAX (jax.jit of the whole loop with
lax.scan, float64). (2) The reduced angle dynamics at the authors' size: d = 30, d_H = 5, m = 1024
particles, N_b = 1000 fresh samples per step, 20,000 steps (core, once with the default thread count
and once with one thread; the reference and JAX run 200 steps, scaled to 20,000). Each peer runs in its own process (``--peer NAME`` prints JSON);
the parent prints the ratios measured in this run. JAX is skipped when not installed.

    python bench/bench_symmetries.py
    python bench/bench_symmetries.py --peers core,reference --repeat 1
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _timing import best_time, ratio, run_peer  # noqa: E402

PEERS = ["core", "core-1thread", "reference", "jax"]
D, M, N, GD_STEPS = 10, 2000, 4000, 100
RD, RDH, RM, RNB, R_STEPS = 30, 5, 1024, 1000, 20_000
R_STEPS_SLOW = 200  # reference and JAX run this many reduced steps, scaled to R_STEPS


def particle_problem():
    from intrinsic_flow.reference import symmetries as sym

    rng = np.random.default_rng(0)
    coef = sym.odd_cubic_coef(D, rng)
    X = rng.standard_normal((N // 2, D)) / np.sqrt(D)
    X, y = sym.symmetrize(X, (X**3) @ coef)
    a, B = sym.init_particles(M, D, rng, paired=True)
    return a, B, X, y


def reduced_problem():
    from intrinsic_flow.reference import symmetries as sym

    return sym.reduced_init(RM, RD, RDH, 42)


def run_one(peer: str, repeat: int) -> dict:
    a, B, X, y = particle_problem()
    c0, theta0 = reduced_problem()
    out = {}
    if peer in ("core", "core-1thread", "reference"):
        if peer.startswith("core"):
            import intrinsic_flow as itf
            from intrinsic_flow import symmetries as sym

            if peer == "core-1thread":
                itf.set_num_threads(1)
        else:
            from intrinsic_flow.reference import symmetries as sym
        out["gd"] = best_time(lambda: sym.train(a, B, X=X, y=y, lr=0.01, n_steps=GD_STEPS, save_steps=[GD_STEPS]),
                              repeat)
        steps = R_STEPS if peer.startswith("core") else R_STEPS_SLOW
        start = time.perf_counter()  # compiled code: one run, no warm-up
        sym.reduced_train(c0, theta0, d=RD, d_H=RDH, lr=5e-3, n_steps=steps, n_samples=RNB, save_steps=[steps])
        out["reduced"] = (time.perf_counter() - start) * R_STEPS / steps
        return out
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    @jax.jit
    def gd(a, B, X, y):
        def step(state, _):
            a, B = state
            Z = X @ B.T
            H = jnp.maximum(Z, 0.0)
            R = H @ a / a.shape[0] - y
            ga = H.T @ R / X.shape[0]
            gB = a[:, None] * (((Z > 0) * R[:, None]).T @ X) / X.shape[0]
            return (a - 0.01 * ga, B - 0.01 * gB), None

        return jax.lax.scan(step, (a, B), None, length=GD_STEPS)[0]

    args = [jnp.asarray(v) for v in (a, B, X, y)]
    out["gd"] = best_time(lambda: jax.block_until_ready(gd(*args)), repeat)

    @jax.jit
    def reduced(c, theta, key):
        eps = jnp.sign(c)

        def step(state, k):
            c, theta = state
            g = jax.random.normal(jax.random.fold_in(key, k), (RNB, 2 * RD))
            sh = jnp.sum(g[:, :RDH] ** 2, 1)
            sp = jnp.sum(g[:, RDH:RD] ** 2, 1)
            cos_phi, sin_phi = jnp.sqrt(sh / (sh + sp)), jnp.sqrt(sp / (sh + sp))
            r = g[:, RD] / jnp.sqrt(jnp.sum(g[:, RD:RD + RDH] ** 2, 1))
            s = g[:, RD + RDH] / jnp.sqrt(jnp.sum(g[:, RD + RDH:] ** 2, 1))
            al, be = cos_phi * r, sin_phi * s
            ct, st = jnp.cos(theta), jnp.sin(theta)
            Z = al[:, None] * ct + be[:, None] * st
            P = jnp.maximum(Z, 0.0)
            R = cos_phi - P @ c / c.shape[0]
            G = P.T @ R * RD / RNB
            V = ((Z > 0) * (be[:, None] * ct - al[:, None] * st)).T @ R * RD / RNB
            return (c * (1 + 2 * 5e-3 * eps * G), theta + 5e-3 * eps * V), None

        return jax.lax.scan(step, (c, theta), jnp.arange(R_STEPS_SLOW))[0]

    rargs = (jnp.asarray(c0), jnp.asarray(theta0), jax.random.PRNGKey(0))
    out["reduced"] = best_time(lambda: jax.block_until_ready(reduced(*rargs)), repeat) * R_STEPS / R_STEPS_SLOW
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--peers", default=",".join(PEERS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peer", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("name", nargs="?", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peer:
        print(json.dumps(run_one(args.name, args.repeat)))
        return
    import intrinsic_flow as itf

    info = itf.build_info()
    print(f"core: {info['cpu']} ({info['simd']}), {info['threads']} threads")
    results = {}
    for peer in args.peers.split(","):
        start = time.perf_counter()
        results[peer] = run_peer(__file__, "--repeat", str(args.repeat), peer)
        print(f"  {peer}: done in {time.perf_counter() - start:.0f} s")
    core = results.get("core")
    print(f"\nparticle GD, d = {D}, m = {M}, N = {N}, {GD_STEPS} steps (seconds; ratio = peer / core)")
    for peer, res in results.items():
        if res:
            print(f"  {peer:13s} {res['gd']:9.3f} s" + (f"  {ratio(res['gd'], core['gd'])}" if core else ""))
    print(f"\nreduced dynamics O3, d = {RD}, d_H = {RDH}, m = {RM}, N_b = {RNB}, {R_STEPS} steps "
          f"(reference and JAX: {R_STEPS_SLOW} steps scaled)")
    for peer, res in results.items():
        if res:
            print(f"  {peer:13s} {res['reduced']:9.1f} s" + (f"  {ratio(res['reduced'], core['reduced'])}" if core else ""))


if __name__ == "__main__":
    main()
