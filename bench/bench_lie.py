"""Lie-algebra trace counts: the C++ core against the NumPy reference, measured in one run.

For each model, the best of several runs of ``lie_trace`` (exact mode) in each backend, and
their ratio. Each backend runs in its own process (``--backend`` is the worker mode).

With ``--abide``, also the 100-network experiment of bench/reproduce_abide.py in each backend
(each in its own process), the published SageMath time being 2 h 27 min on 64 cores.

Usage: python bench/bench_lie.py [--repeat 3] [--threads N] [--abide]
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time

CASES = {
    "LinearNet([4, 4, 4])": "LinearNet([4, 4, 4])",
    "LinearNet([3, 4, 4, 3])": "LinearNet([3, 4, 4, 3])",
    "LinearNet([4, 5, 5, 4, 2])": "LinearNet([4, 5, 5, 4, 2])",
    "LinearNet([5, 5, 5, 5, 5])": "LinearNet([5, 5, 5, 5, 5])",
    "ReLUNet([4, 8, 8, 3])": "ReLUNet([4, 8, 8, 3])",
    "ReLUNet([5, 6, 9, 9, 6])": "ReLUNet([5, 6, 9, 9, 6])",
    "ReLUNet([9, 9, 9, 9], 'hidden')": "ReLUNet([9, 9, 9, 9], bias='hidden')",
    "PolynomialMap of LinearNet([2, 3, 3]) (no bound)": "as_map(LinearNet([2, 3, 3]))",
}


def as_map(model):
    from intrinsic_flow import PolynomialMap

    return PolynomialMap.from_model(model)


def worker(backend_name: str, repeat: int, threads) -> dict:
    import intrinsic_flow
    from intrinsic_flow import LinearNet, ReLUNet

    names = {"LinearNet": LinearNet, "ReLUNet": ReLUNet, "as_map": as_map}

    if threads:
        intrinsic_flow.set_num_threads(threads)
    backend = intrinsic_flow.reference if backend_name == "reference" else intrinsic_flow
    timings = {}
    for name, expression in CASES.items():
        model = eval(expression, names)
        backend.lie_trace(model)  # warm-up: polynomial tables are cached per model
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            trace = backend.lie_trace(model)
            best = min(best, time.perf_counter() - start)
        timings[name] = (best, trace.n_laws)
    return timings


def abide_worker(backend_name: str, threads) -> dict:
    import importlib.util
    import pathlib

    import intrinsic_flow

    if threads:
        intrinsic_flow.set_num_threads(threads)
    spec = importlib.util.spec_from_file_location("reproduce_abide", pathlib.Path(__file__).with_name("reproduce_abide.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    backend = intrinsic_flow.reference if backend_name == "reference" else intrinsic_flow
    rows, seconds = module.run(backend, verbose=False)
    return {"seconds": seconds, "agree": sum(row[3] == row[4] for row in rows)}


def run_worker(backend: str, args, *extra) -> dict:
    command = [sys.executable, __file__, "--backend", backend, "--repeat", str(args.repeat), *extra]
    if args.threads:
        command += ["--threads", str(args.threads)]
    return json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--abide", action="store_true", help="also time the 100-network experiment")
    parser.add_argument("--backend", choices=["core", "reference"], help=argparse.SUPPRESS)
    parser.add_argument("--abide-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.backend:
        work = abide_worker(args.backend, args.threads) if args.abide_worker else worker(args.backend, args.repeat, args.threads)
        print(json.dumps(work))
        return 0
    results = {backend: run_worker(backend, args) for backend in ("core", "reference")}
    print(f"{'model':<50} {'N':>4} {'core ms':>10} {'reference ms':>13} {'ratio':>8}")
    for name in CASES:
        (core, laws), (reference, laws_ref) = results["core"][name], results["reference"][name]
        assert laws == laws_ref, name
        print(f"{name:<50} {laws:>4} {core * 1e3:>10.2f} {reference * 1e3:>13.1f} {reference / core:>7.0f}x")
    if args.abide:
        abide = {backend: run_worker(backend, args, "--abide-worker") for backend in ("core", "reference")}
        core, reference = abide["core"]["seconds"], abide["reference"]["seconds"]
        print(f"\n100-network experiment (Abide by the law): core {core:.2f} s ({abide['core']['agree']}/100 agree), "
              f"reference {reference:.1f} s, ratio {reference / core:.0f}x; published SageMath: 8820 s on 64 cores")
    return 0


if __name__ == "__main__":
    sys.exit(main())
