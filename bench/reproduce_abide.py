"""Reproduce the 100-network experiment of *Abide by the law* (Marcotte, Gribonval, Peyré, arXiv:2307.00144; docs/theory/laws.md).

The authors' notebook (sibyllema/Conservation_laws, ``main.ipynb``) draws with NumPy's legacy
seed 0, for each of 50 linear networks: depth = randint(2, 5), then depth + 1 widths
randint(2, 6); and, restarting from seed 0, for each of 50 ReLU networks: depth = randint(2, 5),
depth + 1 widths randint(2, 10), then biases on the hidden neurons when random() < 0.5. Its widths
are listed output first; ours input first, so they are reversed. It asserts
D - dim Lie(W_phi)(x) = the known count for each network, which took 41 s per linear network
and 136 s per ReLU network on 64 cores (2 h 27 min in all).

Usage: python bench/reproduce_abide.py [--reference] [--threads N]
Prints one line per network and the total time; exits 1 if any count differs from the known one.
"""
from __future__ import annotations

import argparse
import sys
import time

import numpy as np


def architectures() -> list:
    """The 100 models of the notebook, in its order: 50 LinearNet then 50 ReLUNet."""
    from intrinsic_flow import LinearNet, ReLUNet

    models = []
    rng = np.random.RandomState(0)  # the legacy stream of np.random.seed(0)
    for _ in range(50):
        depth = rng.randint(2, 5)
        dims = [int(rng.randint(2, 6)) for _ in range(depth + 1)]
        models.append(LinearNet(dims[::-1]))
    rng = np.random.RandomState(0)
    for _ in range(50):
        depth = rng.randint(2, 5)
        dims = [int(rng.randint(2, 10)) for _ in range(depth + 1)]
        bias = "hidden" if rng.random_sample() < 0.5 else False
        models.append(ReLUNet(dims[::-1], bias=bias))
    return models


def known_count(backend, model, seed: int = 0) -> int:
    """The known count as the notebook takes it: sum of hidden widths for ReLU networks, the rank of
    the known laws' Jacobian at a random point for linear networks (numerical, as in the notebook)."""
    if model.kind == "path":
        return model.n_hidden
    theta = model.init(seed)
    return backend.numerical_rank(backend.conserved_jacobian(model, theta)) if model.n_known_laws else 0


def run(backend, models=None, verbose: bool = True) -> tuple:
    """Returns (rows, seconds): one row (model, D, dim Lie, N, known count, seconds) per model."""
    rows, start = [], time.perf_counter()
    for model in architectures() if models is None else models:
        tic = time.perf_counter()
        trace = backend.lie_trace(model)
        seconds = time.perf_counter() - tic
        row = (model, model.n_params, trace.dim, trace.n_laws, known_count(backend, model), seconds)
        rows.append(row)
        if verbose:
            name = f"{type(model).__name__}({list(model.widths)}" + (f", bias={model.bias!r})" if model.kind == "path" else ")")
            flag = "ok" if row[3] == row[4] else "MISMATCH"
            print(f"{name:<42} D={row[1]:<4} dim Lie={row[2]:<4} N={row[3]:<4} known={row[4]:<4} "
                  f"{seconds * 1e3:8.1f} ms  {flag}")
    return rows, time.perf_counter() - start


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reference", action="store_true", help="use the NumPy reference instead of the core")
    parser.add_argument("--threads", type=int, default=None, help="core threads (default: all)")
    args = parser.parse_args(argv)
    import intrinsic_flow

    if args.threads:
        intrinsic_flow.set_num_threads(args.threads)
    backend = intrinsic_flow.reference if args.reference else intrinsic_flow
    rows, seconds = run(backend)
    n_ok = sum(row[3] == row[4] for row in rows)
    linear = sum(row[5] for row in rows[:50])
    relu = sum(row[5] for row in rows[50:])
    print(f"\n{'reference' if args.reference else 'core'} ({intrinsic_flow.build_info()['threads']} threads): "
          f"{n_ok}/{len(rows)} counts equal the known ones; total {seconds:.2f} s "
          f"(linear {linear:.2f} s, ReLU {relu:.2f} s; published: 2 h 27 min on 64 cores)")
    return 0 if n_ok == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
