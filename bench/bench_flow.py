"""Gradient-flow speed: the core against the NumPy reference, diffrax and torchdiffeq.

Three problems: (1) a ReLU net 5 -> 16 -> 2 with hidden biases (D = 128) on 64 samples, mean squared
error, 2000 RK4 steps to T = 5; (2) LinearNet [10, 10, 10, 10] (D = 300) on a LiftedQuadratic,
2000 RK4 steps to T = 1; (3) "relu_lifted": ReLUNet [8, 32, 32, 4] (D = 1408, d = 32768 paths) on
a LiftedQuadratic, 20 RK4 steps to T = 0.01 (core and reference only): the right side
-J^T (w^2 (z - target)) is a vector-Jacobian product on the paths, never the d x D Jacobian. Each peer runs in its own process (``--peer NAME`` runs one and prints
JSON); the parent prints the ratios measured in this run. diffrax uses Tsit5 with constant steps
under jax.jit (it has no classic RK4), torchdiffeq its "rk4" (Kutta's 3/8 rule). Peers that are
not installed are skipped.

    python bench/bench_flow.py            # all peers
    python bench/bench_flow.py --repeat 5
    python bench/bench_flow.py --peers core,reference
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np

PEERS = ["core", "reference", "diffrax", "torchdiffeq"]
N_STEPS = 2000
LIFTED_STEPS = 20


def problems():
    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((64, 5)), rng.standard_normal((64, 2))
    target = rng.standard_normal(100)
    return {
        "relu": {"widths": [5, 16, 2], "X": X, "Y": Y, "t_end": 5.0, "n_steps": N_STEPS},
        "linear": {"widths": [10, 10, 10, 10], "target": target, "t_end": 1.0, "n_steps": N_STEPS},
        "relu_lifted": {"widths": [8, 32, 32, 4], "target": rng.standard_normal(8 * 32 * 32 * 4), "t_end": 0.01,
                        "n_steps": LIFTED_STEPS},
    }


def _models():
    import intrinsic_flow as itf

    return {"relu": itf.ReLUNet([5, 16, 2], bias="hidden"), "linear": itf.LinearNet([10, 10, 10, 10]),
            "relu_lifted": itf.ReLUNet([8, 32, 32, 4])}


def initial_thetas():
    models = _models()
    return {name: model.init(1) for name, model in models.items()}


def best_of(run, repeat):
    result = run()  # warm-up (and compilation for jit peers)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        times.append(time.perf_counter() - start)
    return min(times), result


# -- peers ------------------------------------------------------------------------------------
def run_intrinsic(backend_name, repeat):
    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref
    from intrinsic_flow.losses import LiftedQuadratic, Regression

    backend = itf if backend_name == "core" else ref
    data, models, thetas = problems(), _models(), initial_thetas()
    losses = {"relu": Regression(data["relu"]["X"], data["relu"]["Y"]), "linear": LiftedQuadratic(data["linear"]["target"]),
              "relu_lifted": LiftedQuadratic(data["relu_lifted"]["target"])}
    out = {}
    for name in ("relu", "linear", "relu_lifted"):
        t_end, n_steps = data[name]["t_end"], data[name]["n_steps"]

        def run():
            return backend.gradient_flow(models[name], thetas[name], losses[name], t_end, n_steps=n_steps,
                                         save_at=[t_end])

        seconds, traj = best_of(run, repeat if backend_name == "core" else 1)
        drift = backend.gradient_flow(models[name], thetas[name], losses[name], t_end, n_steps=n_steps,
                                      save_at=[0.0, t_end]).max_drift
        out[name] = {"seconds": seconds, "theta": traj.theta[-1].tolist(), "drift": drift}
    return out


def run_diffrax(repeat):
    import jax
    import jax.numpy as jnp

    jax.config.update("jax_enable_x64", True)
    import diffrax

    data, thetas = problems(), initial_thetas()
    X, Y = jnp.asarray(data["relu"]["X"]), jnp.asarray(data["relu"]["Y"])
    target = jnp.asarray(data["linear"]["target"])

    def relu_loss(theta):
        W1 = theta[:80].reshape(16, 5)
        b1 = theta[80:96]
        W2 = theta[96:128].reshape(2, 16)
        out = jnp.maximum(X @ W1.T + b1, 0.0) @ W2.T
        return 0.5 * jnp.sum((out - Y) ** 2) / X.shape[0]

    def linear_loss(theta):
        W = [theta[100 * k:100 * (k + 1)].reshape(10, 10) for k in range(3)]
        z = (W[2] @ W[1] @ W[0]).ravel()
        return 0.5 * jnp.sum((z - target) ** 2)

    out = {}
    for name, loss in (("relu", relu_loss), ("linear", linear_loss)):
        t_end = data[name]["t_end"]
        grad = jax.grad(loss)
        term = diffrax.ODETerm(lambda t, y, args: -grad(y))

        @jax.jit
        def solve(y0):
            return diffrax.diffeqsolve(term, diffrax.Tsit5(), t0=0.0, t1=t_end, dt0=t_end / N_STEPS, y0=y0,
                                       max_steps=N_STEPS + 10).ys[-1]

        y0 = jnp.asarray(thetas[name])
        seconds, final = best_of(lambda: solve(y0).block_until_ready(), repeat)
        out[name] = {"seconds": seconds, "theta": np.asarray(final).tolist()}
    return out


def run_torchdiffeq(repeat):
    import torch
    from torchdiffeq import odeint

    torch.set_default_dtype(torch.float64)
    data, thetas = problems(), initial_thetas()
    X, Y = torch.tensor(data["relu"]["X"]), torch.tensor(data["relu"]["Y"])
    target = torch.tensor(data["linear"]["target"])

    def relu_loss(theta):
        W1, b1, W2 = theta[:80].reshape(16, 5), theta[80:96], theta[96:128].reshape(2, 16)
        out = torch.relu(X @ W1.T + b1) @ W2.T
        return 0.5 * torch.sum((out - Y) ** 2) / X.shape[0]

    def linear_loss(theta):
        W = [theta[100 * k:100 * (k + 1)].reshape(10, 10) for k in range(3)]
        return 0.5 * torch.sum(((W[2] @ W[1] @ W[0]).reshape(-1) - target) ** 2)

    out = {}
    for name, loss in (("relu", relu_loss), ("linear", linear_loss)):
        t_end = data[name]["t_end"]

        def field(t, y):
            with torch.enable_grad():
                y = y.detach().requires_grad_(True)
                return -torch.autograd.grad(loss(y), y)[0]

        y0 = torch.tensor(thetas[name])
        times = torch.tensor([0.0, t_end])

        def run():
            with torch.no_grad():
                return odeint(field, y0, times, method="rk4", options={"step_size": t_end / N_STEPS})[-1]

        seconds, final = best_of(run, max(1, repeat // 2))
        out[name] = {"seconds": seconds, "theta": final.numpy().tolist()}
    return out


def run_peer(peer, repeat):
    if peer in ("core", "reference"):
        return run_intrinsic(peer, repeat)
    return {"diffrax": run_diffrax, "torchdiffeq": run_torchdiffeq}[peer](repeat)


# -- parent ------------------------------------------------------------------------------------
def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--peer", choices=PEERS, help="run one peer in this process and print JSON")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers to run (default: all)")
    parser.add_argument("--cpu", choices=["auto", "baseline", "avx2", "avx512", "native"],
                        help="core module to use (sets INTRINSIC_FLOW_CPU for every peer process)")
    args = parser.parse_args(argv)
    if args.cpu:
        os.environ["INTRINSIC_FLOW_CPU"] = args.cpu
    if args.peer:
        print(json.dumps(run_peer(args.peer, args.repeat)))
        return 0
    results = {}
    for peer in [p for p in PEERS if p in args.peers.split(",")]:
        proc = subprocess.run([sys.executable, __file__, "--peer", peer, "--repeat", str(args.repeat)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip().splitlines() or ["?"])[-1]
            print(f"{peer:12s} skipped: {last}")
            continue
        results[peer] = json.loads(proc.stdout.strip().splitlines()[-1])
    core = results["core"]
    import intrinsic_flow as itf

    print(f"\nRK4 ({N_STEPS} steps; relu_lifted {LIFTED_STEPS}); best of {args.repeat} (reference: 1 run); "
          f"each peer in its own process; core module {itf.build_info()['cpu']}")
    print(f"{'problem':12s} {'peer':12s} {'seconds':>10s} {'core speed-up':>14s} {'max |theta - core|':>20s}")
    for name in ("relu", "linear", "relu_lifted"):
        for peer, result in results.items():
            if name not in result:
                continue
            r = result[name]
            gap = np.max(np.abs(np.asarray(r["theta"]) - np.asarray(core[name]["theta"])))
            print(f"{name:12s} {peer:12s} {r['seconds']:10.4f} {r['seconds'] / core[name]['seconds']:13.1f}x {gap:20.2e}")
        print(f"{name:12s} drift of h along the core flow: {core[name]['drift']:.1e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
