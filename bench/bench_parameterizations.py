"""abc-network SGD speed: the core against PyTorch (CPU, float64, same thread count) and the
NumPy reference, with the GEMM rate of this machine for scale.

The network: 7 weight matrices (6 hidden layers) of width m in 256 .. 4096, input 64, 10 outputs,
muP exponents, ReLU, cross-entropy, batch 128. Timed: one SGD step (forward, backward, update;
best of several after a warm-up) at every width, and a run of ``--steps`` steps (default 200) on
a fixed sequence of batches at widths up to ``--run-max-width``. An SGD step costs about
6 B P flops (P = number of weights): forward, back-propagated errors and weight gradients, each
one product per matrix. The fraction printed is (flops / time) / (rate of one large float64
matmul, numpy 2048 x 2048 x 2048). Each implementation runs in its own process
(``--peer NAME`` prints JSON); the parent prints the ratios of this run.

    python bench/bench_parameterizations.py
    python bench/bench_parameterizations.py --widths 256,1024 --steps 50
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, ratio, run_peer  # noqa: E402

PEERS = ["core", "reference", "torch"]
D_IN, N_OUT, N_HIDDEN, BATCH = 64, 10, 6, 128


def _problem(width: int, n_batches: int):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_batches, BATCH, D_IN))
    y = rng.integers(0, N_OUT, size=(n_batches, BATCH))
    return x, y


def _flops(width: int) -> float:
    params = D_IN * width + (N_HIDDEN - 1) * width * width + N_OUT * width
    return 6.0 * BATCH * params


def _ours(backend_name: str, width: int, steps: int, repeat: int, threads: int) -> dict:
    import intrinsic_flow

    intrinsic_flow.set_num_threads(threads)
    if backend_name == "core":
        import intrinsic_flow.parameterizations as backend
    else:
        import intrinsic_flow.reference.parameterizations as backend
    model = backend.abc_network("mup", D_IN, width, N_OUT, N_HIDDEN, seed=0, batch=BATCH)
    x, y = _problem(width, max(steps, 1))
    step = best_time(lambda: model.step(x[0], y[0], 0.01), repeat)
    run = None
    if steps:
        start = time.perf_counter()
        for k in range(steps):
            model.step(x[k], y[k], 0.01)
        run = time.perf_counter() - start
    return {"step": step, "run": run}


def _torch(width: int, steps: int, repeat: int, threads: int) -> dict:
    import torch

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    m = float(width)
    sizes = [D_IN] + [width] * N_HIDDEN + [N_OUT]
    a = [-0.5] + [0.0] * (N_HIDDEN - 1) + [0.5]  # muP
    weights = [(torch.randn(sizes[k + 1], sizes[k], dtype=torch.float64) * m ** -0.5).requires_grad_()
               for k in range(N_HIDDEN + 1)]
    bias = torch.zeros(width, dtype=torch.float64, requires_grad=True)
    scales = [m ** (-e) for e in a]
    x_all, y_all = _problem(width, max(steps, 1))
    xs = torch.from_numpy(x_all)
    ys = torch.from_numpy(y_all)

    def sgd_step(k: int) -> None:
        h = scales[0] * (xs[k] @ weights[0].T + bias)
        for w, s in zip(weights[1:], scales[1:]):
            h = s * (torch.relu(h) @ w.T)
        loss = torch.nn.functional.cross_entropy(h, ys[k])
        grads = torch.autograd.grad(loss, weights + [bias])
        with torch.no_grad():
            for p, g in zip(weights + [bias], grads):
                p.sub_(0.01 * g)

    step = best_time(lambda: sgd_step(0), repeat)
    run = None
    if steps:
        start = time.perf_counter()
        for k in range(steps):
            sgd_step(k)
        run = time.perf_counter() - start
    return {"step": step, "run": run}


def _gemm_rate(threads: int) -> float:
    """flop/s of one large float64 matmul (numpy's BLAS)."""
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((2048, 2048)), rng.standard_normal((2048, 2048))
    return 2.0 * 2048**3 / best_time(lambda: a @ b, 3)


def peer(name: str, width: int, steps: int, repeat: int, threads: int) -> None:
    if name == "torch":
        result = _torch(width, steps, repeat, threads)
    elif name == "gemm":
        result = {"rate": _gemm_rate(threads)}
    else:
        result = _ours(name, width, steps, repeat, threads)
    print(json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", help=argparse.SUPPRESS)
    parser.add_argument("--width", type=int, default=256, help=argparse.SUPPRESS)
    parser.add_argument("--widths", default="256,512,1024,2048,4096")
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--run-max-width", type=int, default=1024, help="widest network timed over --steps steps")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--peers", default=",".join(PEERS))
    args = parser.parse_args()
    if args.peer:
        peer(args.peer, args.width, args.steps, args.repeat, args.threads)
        return
    script = os.path.abspath(__file__)
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):  # numpy's BLAS in the peers
        os.environ[variable] = str(args.threads)
    gemm = run_peer(script, "gemm", "--threads", str(args.threads))
    rate = gemm["rate"] if gemm else float("nan")
    print(f"GEMM rate (numpy 2048^3 float64 matmul, {args.threads} threads): {rate / 1e9:.1f} GFLOP/s")
    peers = args.peers.split(",")
    print(f"7 weight matrices, batch {BATCH}, float64, {args.threads} threads; step = one SGD step (best of "
          f"{args.repeat}); run = {args.steps} steps; 'of GEMM' = step flop rate / GEMM rate")
    header = "width " + "".join(f"| {p:>9s} step  of GEMM  {args.steps}-run " for p in peers) + "| torch/core step  run | ref/core step"
    print(header)
    for width in (int(w) for w in args.widths.split(",")):
        steps = args.steps if width <= args.run_max_width else 0
        results = {p: run_peer(script, p, "--width", str(width), "--steps", str(steps), "--repeat", str(args.repeat),
                               "--threads", str(args.threads)) for p in peers}
        line = f"{width:5d} "
        for p in peers:
            r = results[p]
            if r is None:
                line += f"| {'n/a':>9s} {'':22s}"
                continue
            run = f"{r['run']:8.2f}s" if r["run"] is not None else f"{'-':>9s}"
            line += f"| {r['step'] * 1e3:9.2f}ms {_flops(width) / r['step'] / rate:6.0%} {run} "
        core, torch_r, reference = results.get("core"), results.get("torch"), results.get("reference")
        if core and torch_r:
            run_ratio = ratio(torch_r["run"], core["run"]) if core["run"] else "     -"
            line += f"| {ratio(torch_r['step'], core['step'])} {run_ratio} "
        if core and reference:
            line += f"| {ratio(reference['step'], core['step'])}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
