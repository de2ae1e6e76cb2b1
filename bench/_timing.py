"""Timing helpers shared by the bench scripts: best of several runs after a warm-up, and peers
run in their own process (one framework's threads never slow another's)."""
from __future__ import annotations

import json
import subprocess
import sys
import time


def best_time(function, repeat: int = 3) -> float:
    function()  # warm-up (compilation, caches)
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function()
        times.append(time.perf_counter() - start)
    return min(times)


def run_peer(script: str, *args: str, timeout: float = 900) -> dict | None:
    """Runs ``python script --peer ...`` and returns the JSON it prints, or None if unavailable."""
    done = subprocess.run([sys.executable, script, "--peer", *args], capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        print(f"  (peer {' '.join(args)} unavailable: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def ratio(slow: float, fast: float) -> str:
    return f"{slow / fast:8.1f}x"
