"""Criteria evaluations per second: the core vs the NumPy reference vs JAX, each in its own process.

    python bench/bench_scan.py [--samples 4000] [--repeats 3]

Models: ReLUNet [3,5,5,1] and LinearNet [3,3,3], Gaussian theta (the same draws for every peer).
- core: ``criteria_rows`` (ranks, gaps, kernel and inclusion residual; OpenMP over samples);
- core ranks: the same without the kernel-inclusion residual (the work JAX does, plus balancing
  and gaps), as in ``scan(..., checks=("recoverable",))``;
- scan: ``scan(...)`` end to end (per-sample seeded draws in Python, then the core);
- reference: ``intrinsic_flow.reference.criteria`` one theta at a time (on a subset);
- jax: ``jit(vmap(...))`` of jacfwd of phi and h and ``jnp.linalg.matrix_rank`` of J, Jh and
  [J; Jh] (ranks only: no balancing, no gaps, no kernel-inclusion residual, so it does less work).
Best of --repeats after a warm-up; the ratios printed are measured in this run.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

MODELS = {"relu": ("ReLUNet", [3, 5, 5, 1]), "linear": ("LinearNet", [3, 3, 3])}


def make_model(name):
    import intrinsic_flow as itf

    kind, widths = MODELS[name]
    return getattr(itf, kind)(widths)


def thetas_for(model, n):
    rng = np.random.default_rng(0)
    return np.stack([model.init(rng) for _ in range(n)])


def best_rate(run, n, repeats):
    run()  # warm-up (compilation, caches)
    best = min(_timed(run) for _ in range(repeats))
    return n / best


def _timed(run):
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def peer_core(model, thetas, repeats):
    from intrinsic_flow.criteria import criteria_rows

    return best_rate(lambda: criteria_rows(model, thetas), len(thetas), repeats)


def peer_core_ranks(model, thetas, repeats):
    from intrinsic_flow.criteria import criteria_rows

    return best_rate(lambda: criteria_rows(model, thetas, inclusion=False), len(thetas), repeats)


def peer_scan(model, thetas, repeats):
    import intrinsic_flow as itf

    return best_rate(lambda: itf.scan(model, len(thetas), progress=False), len(thetas), repeats)


def peer_reference(model, thetas, repeats):
    import intrinsic_flow.reference as ref

    subset = thetas[:200]
    return best_rate(lambda: [ref.criteria(model, t) for t in subset], len(subset), repeats)


def peer_jax(model, thetas, repeats):
    import jax

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp

    shapes = [(model.widths[l], model.widths[l - 1]) for l in range(1, len(model.widths))]
    offsets = np.cumsum([0] + [a * b for a, b in shapes])

    def layers(theta):
        return [theta[offsets[k]:offsets[k + 1]].reshape(shape) for k, shape in enumerate(shapes)]

    if model.kind == "path":  # bias-free layered path-lifting: z[i0, i1, ..., iL] = prod W_l[i_l, i_{l-1}]
        def phi(theta):
            W = layers(theta)
            z = W[0].T  # (i0, i1)
            for weight in W[1:]:
                z = z[..., None] * weight.T.reshape((1,) * (z.ndim - 1) + weight.T.shape)
            return z.ravel()

        def laws(theta):
            W = layers(theta)
            return jnp.concatenate([jnp.sum(W[l] ** 2, axis=1) - jnp.sum(W[l + 1] ** 2, axis=0) for l in range(len(W) - 1)])
    else:
        def phi(theta):
            W = layers(theta)
            product = W[0]
            for weight in W[1:]:
                product = weight @ product
            return product.ravel()

        def laws(theta):
            W = layers(theta)
            upper = [np.triu_indices(W[l].shape[0]) for l in range(len(W) - 1)]
            return jnp.concatenate([(W[l + 1].T @ W[l + 1] - W[l] @ W[l].T)[upper[l]] for l in range(len(W) - 1)])

    def ranks(theta):
        jac, laws_jac = jax.jacfwd(phi)(theta), jax.jacfwd(laws)(theta)
        return (jnp.linalg.matrix_rank(jac), jnp.linalg.matrix_rank(laws_jac),
                jnp.linalg.matrix_rank(jnp.vstack([jac, laws_jac])))

    batched = jax.jit(jax.vmap(ranks))
    data = jnp.asarray(thetas)
    return best_rate(lambda: jax.block_until_ready(batched(data)), len(thetas), repeats)


PEERS = {"core": peer_core, "core_ranks": peer_core_ranks, "scan": peer_scan, "reference": peer_reference, "jax": peer_jax}


def run_peer(peer, model_name, samples, repeats):
    model = make_model(model_name)
    return PEERS[peer](model, thetas_for(model, samples), repeats)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cpu", choices=["auto", "baseline", "avx2", "avx512", "native"],
                        help="core module to use (sets INTRINSIC_FLOW_CPU for every peer process)")
    parser.add_argument("--peer", choices=sorted(PEERS), help=argparse.SUPPRESS)
    parser.add_argument("--model", choices=sorted(MODELS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cpu:
        os.environ["INTRINSIC_FLOW_CPU"] = args.cpu
    if args.peer:  # child process: one peer, one model
        print(json.dumps({"rate": run_peer(args.peer, args.model, args.samples, args.repeats)}))
        return

    import intrinsic_flow as itf

    info = itf.build_info()
    print(f"criteria evaluations per second, {info['threads']} threads, core module {info['cpu']}, {args.samples} samples")
    print(f"{'model':22s} {'core':>10s} {'core ranks':>10s} {'scan':>10s} {'reference':>10s} {'jax ranks':>10s} "
          f"{'core/ref':>9s} {'ranks: core/jax':>16s}")
    for name in MODELS:
        rates = {}
        for peer in PEERS:
            child = subprocess.run([sys.executable, __file__, "--peer", peer, "--model", name, "--samples",
                                    str(args.samples), "--repeats", str(args.repeats)],
                                   capture_output=True, text=True, env=os.environ.copy())
            if child.returncode != 0:
                last = (child.stderr.strip().splitlines() or ["?"])[-1]
                print(f"  ({peer} failed: {last})")
                rates[peer] = float("nan")
            else:
                rates[peer] = json.loads(child.stdout.strip().splitlines()[-1])["rate"]
        kind, widths = MODELS[name]
        print(f"{kind + str(widths):22s} {rates['core']:10.0f} {rates['core_ranks']:10.0f} {rates['scan']:10.0f} "
              f"{rates['reference']:10.0f} {rates['jax']:10.0f} {rates['core'] / rates['reference']:8.1f}x "
              f"{rates['core_ranks'] / rates['jax']:15.1f}x")


if __name__ == "__main__":
    main()
