"""Speed of the geometry of phi: the core against the NumPy reference, JAX and PyTorch.

Prints ratios measured in this run (higher = the core is faster):
  1. lift_jacobian_batch + rank on ReLUNet [4,16,16,1], batch 256 (1 and 2 threads), against a
     fresh allocation and fill of an array of the same size (the memory-bandwidth floor), and
     into a reused buffer (out=);
  2. lift_gram + rank on ReLUNet [8,64,64,64,1] (D = 8768): Gram matrix, then the rank
     from the zero pattern (method="exact"); the O(D^3) numerical Gram rank on [8,16,16,16,1];
  3. the same Jacobian batch and ranks with jax (jit(vmap(jacfwd)) + jnp.linalg.matrix_rank)
     and torch (vmap(jacrev) + torch.linalg.matrix_rank), each in its own process.

Run: python bench/bench_geometry.py   (peers need `pip install ".[bench]"`)
"""
from __future__ import annotations

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, ratio, run_peer  # noqa: E402

WIDTHS, BATCH = [4, 16, 16, 1], 256


def thetas_for(widths, batch, seed=0):
    import intrinsic_flow as itf

    net = itf.ReLUNet(widths)
    rng = np.random.default_rng(seed)
    return net, np.stack([net.init(rng) for _ in range(batch)])


def ours():
    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref

    net, thetas = thetas_for(WIDTHS, BATCH)
    print(f"1. ReLUNet {WIDTHS}: D = {net.n_params}, d = {net.n_lifted}, batch {BATCH}")

    def jac_and_rank(backend, method="gram"):
        return lambda: (backend.lift_jacobian_batch(net, thetas), backend.rank_lift_batch(net, thetas, method=method))

    times = {}
    for threads in (1, 2):
        itf.set_num_threads(threads)
        times[f"jac{threads}"] = best_time(lambda: itf.lift_jacobian_batch(net, thetas))
        times[f"core{threads}"] = best_time(jac_and_rank(itf))
        times[f"exact{threads}"] = best_time(jac_and_rank(itf, "exact"))
    shape = (BATCH, net.n_lifted, net.n_params)
    times["fill"] = best_time(lambda: np.full(shape, 1.0))
    buffer = np.empty(shape)
    times["jac_out"] = best_time(lambda: itf.lift_jacobian_batch(net, thetas, out=buffer))
    times["ref_jac"] = best_time(lambda: ref.lift_jacobian_batch(net, thetas), repeat=1)
    times["ref"] = best_time(jac_and_rank(ref), repeat=1)
    times["ref_exact"] = best_time(jac_and_rank(ref, "exact"), repeat=1)
    print(f"   Jacobian batch only        core 1 thread {times['jac1']:.3f}s  2 threads {times['jac2']:.3f}s  "
          f"reference {times['ref_jac']:.3f}s  -> core/ref {ratio(times['ref_jac'], times['jac2'])}")
    print(f"   fresh allocation + fill of the same {np.prod(shape) * 8 / 2 ** 20:.0f} MiB {times['fill']:.3f}s  -> "
          f"Jacobian batch (2 threads) / fill {times['jac2'] / times['fill']:.2f}; into a reused buffer "
          f"(out=) {times['jac_out']:.3f}s, / fill {times['jac_out'] / times['fill']:.2f}")
    print(f"   Jacobian + Gram rank       core 1 thread {times['core1']:.3f}s  2 threads {times['core2']:.3f}s  "
          f"reference {times['ref']:.3f}s  -> core/ref {ratio(times['ref'], times['core2'])}, "
          f"2 threads / 1 thread {ratio(times['core1'], times['core2'])}")
    print(f"   Jacobian + exact rank      core 2 threads {times['exact2']:.3f}s  reference {times['ref_exact']:.3f}s"
          f"  -> core/ref {ratio(times['ref_exact'], times['exact2'])}")

    itf.set_num_threads(2)
    big = itf.ReLUNet([8, 64, 64, 64, 1])
    theta = big.init(0)
    print(f"2. ReLUNet [8,64,64,64,1]: D = {big.n_params}, d = {big.n_lifted}")
    t_gram = {}
    for threads in (1, 2):
        itf.set_num_threads(threads)
        t_gram[threads] = best_time(lambda: itf.lift_gram(big, theta), repeat=2)
    t_gram_ref = best_time(lambda: ref.lift_gram(big, theta), repeat=1)
    t_exact = best_time(lambda: itf.rank_lift(big, theta, method="exact"))
    print(f"   lift_gram                  core 1 thread {t_gram[1]:.3f}s  2 threads {t_gram[2]:.3f}s  "
          f"reference {t_gram_ref:.3f}s  -> core/ref {ratio(t_gram_ref, t_gram[2])}, "
          f"2 threads / 1 thread {ratio(t_gram[1], t_gram[2])}")
    print(f"   exact rank {itf.rank_lift(big, theta, method='exact')} (= D - hidden) in {t_exact * 1e3:.2f} ms")
    mid = itf.ReLUNet([8, 16, 16, 16, 1])
    theta = mid.init(0)
    t_core = best_time(lambda: itf.rank_lift(mid, theta), repeat=2)
    t_ref = best_time(lambda: ref.rank_lift(mid, theta), repeat=2)
    print(f"   Gram rank on [8,16,16,16,1] (D = {mid.n_params}): core {t_core:.3f}s  reference {t_ref:.3f}s"
          f"  -> core/ref {ratio(t_ref, t_core)}")
    return times["core2"], times["jac2"]


def peer(name: str) -> None:
    """Jacobian batch and ranks in one framework; prints {"jac": s, "jac_rank": s, "ranks": [...]}."""
    net, thetas = thetas_for(WIDTHS, BATCH)
    layers = [(WIDTHS[l], WIDTHS[l - 1]) for l in range(1, len(WIDTHS))]
    sizes = [r * c for r, c in layers]

    if name == "jax":
        import jax
        import jax.numpy as jnp

        jax.config.update("jax_enable_x64", True)

        def phi(theta):
            mats, offset = [], 0
            for (r, c), size in zip(layers, sizes):
                mats.append(theta[offset:offset + size].reshape(r, c))
                offset += size
            return jnp.einsum("ba,cb,dc->abcd", *mats).ravel()  # z[i0, i1, i2, i3]

        jac = jax.jit(jax.vmap(jax.jacfwd(phi)))
        rank = jax.jit(jax.vmap(jnp.linalg.matrix_rank))
        x = jnp.asarray(thetas)
        t_jac = best_time(lambda: jac(x).block_until_ready())
        t_all = best_time(lambda: rank(jac(x)).block_until_ready(), repeat=2)
        ranks = np.asarray(rank(jac(x)))
    else:
        import torch

        torch.set_default_dtype(torch.float64)

        def phi(theta):
            mats, offset = [], 0
            for (r, c), size in zip(layers, sizes):
                mats.append(theta[offset:offset + size].reshape(r, c))
                offset += size
            return torch.einsum("ba,cb,dc->abcd", *mats).ravel()

        jac = torch.func.vmap(torch.func.jacrev(phi))
        x = torch.as_tensor(thetas)
        t_jac = best_time(lambda: jac(x))
        t_all = best_time(lambda: torch.linalg.matrix_rank(jac(x)), repeat=2)
        ranks = torch.linalg.matrix_rank(jac(x)).numpy()
    print(json.dumps({"jac": t_jac, "jac_rank": t_all, "ranks": sorted(set(int(r) for r in ranks))}))


def main() -> None:
    core_total, core_jac = ours()
    print("3. Peers on the same batch (each in its own process, float64):")
    for name, label in (("jax", "jax jit(vmap(jacfwd)) + matrix_rank"), ("torch", "torch vmap(jacrev) + matrix_rank")):
        result = run_peer(__file__, name)
        if result:
            print(f"   {label:40s} Jacobian {result['jac']:.3f}s (core {ratio(result['jac'], core_jac)} faster), "
                  f"with rank {result['jac_rank']:.3f}s (core {ratio(result['jac_rank'], core_total)} faster); "
                  f"ranks found {result['ranks']}")


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "--peer":
        peer(sys.argv[2])
    else:
        main()
