"""Every public function x every model kind, in both backends, each call out of process.

A cell (model kind, function) passes when the interpreter survives it and either both backends
return the same result (floats to 1e-12 relative to the largest entry of their array, integers
and booleans exactly, the rounding-level gaps behind ranks as said at NOISE_TOL) or both raise
the same ValueError/TypeError with a message that names what is unsupported (the model's type).
Cells run in one subprocess per model kind, each cell printing one JSON line; when a subprocess
dies (a signal), the cells it did not report are rerun one per subprocess, so the crashing cell
is named. Warnings are errors in the subprocesses, as in the test suite.

Run directly, ``python tests/test_public_table.py KIND [CELL ...]`` prints the JSON lines.
"""
from __future__ import annotations

import concurrent.futures
import functools
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

# Cells known to fail, each with its reason: every entry runs as an xfail(strict) in a subprocess of
# its own, so that a crash stays contained. Empty: every cell answers.
EXPECTED_TO_FAIL: dict = {}

MODELS = {
    "ReLUNet": "itf.ReLUNet([2, 3, 1])",
    "ReLUNet-bias": "itf.ReLUNet([2, 3, 2], bias=True)",
    "DAGReLUNet": "itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (2, 4), (3, 4), (1, 4)], bias=[3])",
    "LinearNet": "itf.LinearNet([2, 2, 3])",
    "LinearNeuralODE": "itf.LinearNeuralODE(2, 2)",
    "PolynomialMap": "itf.PolynomialMap([{(1, 1, 0): 1, (0, 0, 2): -1}, {(0, 1, 1): 2}], 3)",
    # a 1-D convolution (kernel 2, one channel, shared bias) and a dense output
    "SharedReLUNet": "itf.SharedReLUNet(3, 1, 6, (0, 1, 1, 2, -1, -1, 3, 4), (3, 3, 4, 4, 3, 4, 5, 5), "
                     "(0, 1, 0, 1, 2, 2, 3, 4), (0.0,) * 8, 5, ('identity',) * 3 + ('relu', 'relu', 'identity'), "
                     "((3, 4),))",
    # the same followed by max pooling (fixed unit edges into a max neuron): path-norms only
    "SharedReLUNet-max": "itf.SharedReLUNet(3, 1, 7, (0, 1, 1, 2, -1, -1, 3, 4, 5), (3, 3, 4, 4, 3, 4, 5, 5, 6), "
                         "(0, 1, 0, 1, 2, 2, -1, -1, 3), (0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0), 4, "
                         "('identity',) * 3 + ('relu', 'relu', 'max', 'identity'))",
}

FLOW = {"t_end": 0.1, "n_steps": 8}


# -- the cells (run in the subprocess) ----------------------------------------------------------
def _io_sizes(model) -> tuple:
    """Input and output sizes for Regression data (a DAG or a polynomial map gets some: refused)."""
    if hasattr(model, "widths"):
        return model.widths[0], model.widths[-1]
    return (model.n_inputs, model.n_outputs) if hasattr(model, "n_inputs") else (1, 1)


def _losses(itf, model) -> dict:
    rng = np.random.default_rng(7)
    d_in, d_out = _io_sizes(model)
    return {"LiftedQuadratic": itf.losses.LiftedQuadratic(np.linspace(-0.5, 0.5, model.n_lifted)),
            "Regression": itf.losses.Regression(rng.standard_normal((5, d_in)), rng.standard_normal((5, d_out)))}


GAPS = ("gap_lift", "gap_conserved", "gap_joint")


def _without_noise(columns: dict) -> dict:
    """A gap is sqrt(kept / dropped) with dropped at rounding level: compared as 1 / gap^2."""
    return {k: ([{"noise": float(g)} for g in 1.0 / v ** 2] if k in GAPS else v) for k, v in columns.items()
            if k not in ("model", "init", "sample")}


def _scan_core(itf, model):
    return _without_noise(itf.scan(model, 2, progress=False).rows)


def _scan_reference(ref, model):
    """The reference has no scan: the criteria of the reference at the points the scan draws, after
    the scan's own check of the model."""
    import importlib

    scan = importlib.import_module("intrinsic_flow.scan")  # the module (the package binds the function)
    scan.model_spec(model)
    thetas = scan.draw_thetas(model, ("gaussian", {}), 0, 0, 0, 0, 2)
    rows = [ref.criteria(model, theta) for theta in thetas]
    columns = {name: np.array([getattr(row, name) for row in rows]) for name in scan.INT_FIELDS}
    columns["recoverable"] = np.array([row.recoverable for row in rows])
    for name in scan.FLOAT_FIELDS:
        columns[name] = np.array([getattr(row, name) for row in rows])
    columns["kernel_inclusion"] = np.array([row.kernel_inclusion for row in rows])
    return _without_noise(columns)


def cells(itf, model) -> dict:
    """name -> function(backend) for one model."""
    theta = model.init(0)
    # intrinsic flows of linear models need relaxed balance (H = lam I); ReLU nets and maps take any point
    balanced = {"linear": lambda: model.init(0, "relaxed_balanced", lambdas=0.5),
                "node": lambda: model.init(0, "relaxed_balanced", lam=0.5)}.get(model.kind, lambda: theta)()
    thetas = np.stack([model.init(seed) for seed in (1, 2, 3)])
    direction = np.random.default_rng(5).standard_normal(model.n_params)
    table = {}
    for name in ("lift", "lift_jacobian", "metric", "conserved", "conserved_jacobian", "lift_gram", "joint_gram",
                 "rank_info", "rank_lift", "rank_joint", "criteria", "balanced_representative"):
        table[name] = functools.partial(lambda b, name: getattr(b, name)(model, theta), name=name)
    table["metric_derivative"] = lambda b: b.metric_derivative(model, theta, direction)
    for name in ("lift", "lift_jacobian", "metric", "conserved", "conserved_jacobian", "lift_gram", "rank_lift",
                 "rank_joint", "criteria"):
        table[name + "_batch"] = functools.partial(lambda b, name: getattr(b, name + "_batch")(model, thetas), name=name)
    for name in ("rank_lift", "rank_lift_batch"):  # the exact rank from the zero pattern (path models)
        argument = thetas if name.endswith("_batch") else theta
        table[name + "[exact]"] = functools.partial(lambda b, name, argument: getattr(b, name)(model, argument,
                                                                                            method="exact"),
                                                    name=name, argument=argument)
    # dphi^T w and dphi v without J
    rng = np.random.default_rng(6)
    weights, weight_rows = rng.standard_normal(model.n_lifted), rng.standard_normal((len(thetas), model.n_lifted))
    moves = rng.standard_normal((len(thetas), model.n_params))
    table["lift_vjp"] = lambda b: b.lift_vjp(model, theta, weights)
    table["lift_jvp"] = lambda b: b.lift_jvp(model, theta, direction)
    table["lift_vjp_batch"] = lambda b: b.lift_vjp_batch(model, thetas, weight_rows)
    table["lift_jvp_batch"] = lambda b: b.lift_jvp_batch(model, thetas, moves)
    table["path_norm"] = lambda b: [b.path_norm(model, theta, q) for q in (1, 2, 3.5, np.inf)]
    table["path_norm[grad]"] = lambda b: b.path_norm(model, theta, 2, return_grad=True)
    table["lie_trace"] = lambda b: b.lie_trace(model)
    table["lie_trace[float]"] = lambda b: b.lie_trace(model, theta, exact=False)
    table["count_conservation_laws"] = lambda b: b.count_conservation_laws(model)
    table["known_laws_complete"] = lambda b: b.known_laws_complete(model)
    table["polynomial_laws"] = lambda b: b.polynomial_laws(model, 2)
    table["scan"] = lambda b: _scan_core(b, model) if b is itf else _scan_reference(b, model)
    table["intrinsic_metric"] = lambda b: b.intrinsic_metric(model, b.lift(model, balanced), b.conserved(model, balanced))
    losses = _losses(itf, model)
    losses["callable"] = losses["LiftedQuadratic"].__call__  # a Python f(z) -> (value, gradient): the slow path
    for loss_name, loss in losses.items():
        table[f"gradient_flow[{loss_name}]"] = functools.partial(
            lambda b, loss: b.gradient_flow(model, theta, loss, FLOW["t_end"], n_steps=FLOW["n_steps"]), loss=loss)
        table[f"gradient_descent[{loss_name}]"] = functools.partial(
            lambda b, loss: b.gradient_descent(model, theta, loss, 0.05, 4), loss=loss)
        table[f"intrinsic_flow[{loss_name}]"] = functools.partial(
            lambda b, loss: b.intrinsic_flow(model, b.lift(model, balanced), b.conserved(model, balanced), loss,
                                             FLOW["t_end"], n_steps=FLOW["n_steps"]), loss=loss)
        table[f"compare_flows[{loss_name}]"] = functools.partial(
            lambda b, loss: b.compare_flows(model, balanced, loss, FLOW["t_end"], n_steps=FLOW["n_steps"]), loss=loss)
    return table


def canonical(value):
    """A JSON-able form of a result: arrays tagged with their shape; noise-dominated quantities
    (the singular values and gaps behind a rank) replaced by their squares, which both backends
    know to working precision relative to the largest one."""
    import dataclasses

    if isinstance(value, np.ndarray) or isinstance(value, np.generic):
        array = np.asarray(value)
        if array.dtype.kind in "biu":
            return {"ints": array.astype(np.int64).ravel().tolist(), "shape": list(array.shape)}
        return {"floats": array.astype(np.float64).ravel().tolist(), "shape": list(array.shape)}
    if type(value).__name__ == "RankInfo":
        return {"rank": value.rank, "squared_singular_values": canonical(np.asarray(value.singular_values) ** 2)}
    if type(value).__name__ == "Criteria":
        fields = {k: canonical(v) for k, v in value.as_dict().items()}
        for gap in GAPS:  # sqrt(kept / dropped): dropped is rounding noise
            fields[gap] = {"noise": 1.0 / getattr(value, gap) ** 2}
        return fields
    if type(value).__name__ == "PolynomialLaws":
        return {"laws": [sorted([list(e), int(c)] for e, c in law.items()) for law in value],
                "degree": value.degree, "n_independent": value.n_independent}
    if dataclasses.is_dataclass(value):
        return {f.name: canonical(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict) and set(value) == {"noise"}:
        return value
    if isinstance(value, dict):
        return {str(k): canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    if isinstance(value, float):
        return {"scalar": value}
    return value


def run_cell(function) -> dict:
    try:
        return {"result": canonical(function())}
    except BaseException as error:  # noqa: BLE001 - every outcome is reported
        return {"error": type(error).__name__, "message": str(error)[:2000]}


def main(kind: str, names: list) -> None:
    import warnings

    warnings.simplefilter("error")  # as the test suite: a warning is a failure
    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref

    model = eval(MODELS[kind], {"itf": itf})  # noqa: S307 - the table's own expressions
    table = cells(itf, model)
    for name in names or list(table):
        record = {"kind": kind, "cell": name, "core": run_cell(lambda: table[name](itf)),
                  "reference": run_cell(lambda: table[name](ref))}
        print(json.dumps(record), flush=True)


# -- the test (parent process) -------------------------------------------------------------------
CELL_NAMES = None


def _cell_names() -> list:
    global CELL_NAMES
    if CELL_NAMES is None:
        import intrinsic_flow as itf

        CELL_NAMES = list(cells(itf, itf.ReLUNet([1, 1])))
    return CELL_NAMES


def _run(kind: str, names: list) -> tuple:
    """(records by cell, return code) of one subprocess."""
    env = dict(os.environ, PYTHONFAULTHANDLER="1")
    done = subprocess.run([sys.executable, __file__, kind, *names], capture_output=True, text=True, timeout=600, env=env)
    records = {}
    for line in done.stdout.splitlines():
        if line.startswith("{"):
            record = json.loads(line)
            records[record["cell"]] = record
    return records, done.returncode, done.stderr[-3000:]


def _run_isolating_crashes(kind: str, names: list) -> dict:
    records, code, stderr = _run(kind, names)
    if code != 0:
        for name in names:
            if name not in records:  # rerun alone: a crash is then pinned on its cell
                alone, code_alone, stderr_alone = _run(kind, [name])
                records[name] = alone.get(name, {"kind": kind, "cell": name, "died": code_alone, "stderr": stderr_alone})
    return records


@functools.lru_cache(maxsize=None)
def _table() -> dict:
    """Every cell: one subprocess per model kind, and one per cell expected to fail (so that its
    crash is contained), run concurrently."""
    names = _cell_names()
    jobs = [(kind, [n for n in names if (kind, n) not in EXPECTED_TO_FAIL]) for kind in MODELS]
    jobs += [(kind, [name]) for kind, name in EXPECTED_TO_FAIL]
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(os.cpu_count() or 1, 2)) as pool:
        futures = [(kind, pool.submit(_run_isolating_crashes, kind, job)) for kind, job in jobs]
        return {(kind, name): record for kind, future in futures for name, record in future.result().items()}


def _close(core, reference, path: str) -> None:
    if isinstance(core, dict) and "floats" in core:
        assert isinstance(reference, dict) and core["shape"] == reference.get("shape"), f"{path}: shapes differ"
        a, b = np.array(core["floats"], dtype=float), np.array(reference["floats"], dtype=float)
        assert np.array_equal(np.isnan(a), np.isnan(b)), f"{path}: NaN in one backend only"
        assert np.array_equal(np.isinf(a), np.isinf(b)) and np.array_equal(a[np.isinf(a)], b[np.isinf(b)]), \
            f"{path}: infinities differ"
        finite = np.isfinite(a)
        scale = max(np.max(np.abs(b[finite]), initial=0.0), 1e-300)
        gap = np.max(np.abs(a[finite] - b[finite]), initial=0.0)
        assert gap <= 1e-12 * scale, f"{path}: backends differ by {gap:.3e} (scale {scale:.3e})"
    elif isinstance(core, dict) and "noise" in core:  # dropped / kept eigenvalue: eps times a condition number
        assert abs(core["noise"] - reference["noise"]) <= NOISE_TOL, f"{path}: {core} != {reference}"
    elif isinstance(core, dict) and "scalar" in core:
        a, b = core["scalar"], reference["scalar"]
        if math.isnan(a) or math.isinf(a):
            assert (math.isnan(a) and math.isnan(b)) or a == b, f"{path}: {a} != {b}"
        else:
            assert abs(a - b) <= 1e-12 * max(abs(a), abs(b), 1.0), f"{path}: {a} != {b}"
    elif isinstance(core, dict):
        assert isinstance(reference, dict) and sorted(core) == sorted(reference), f"{path}: fields differ"
        for key in core:
            _close(core[key], reference[key], f"{path}.{key}")
    elif isinstance(core, list):
        assert isinstance(reference, list) and len(core) == len(reference), f"{path}: lengths differ"
        for k, (a, b) in enumerate(zip(core, reference)):
            _close(a, b, f"{path}[{k}]")
    else:
        assert core == reference, f"{path}: {core!r} != {reference!r}"


NOISE_TOL = 1e-9
"""A gap behind a rank is sqrt(kept / dropped) with the dropped eigenvalue at rounding level
(eps times the largest); 1 / gap^2 is compared to NOISE_TOL absolute (eps times a condition
number up to 1e7), every other float to 1e-12 relative."""

UNSUPPORTED_NAMES = {  # what a refusal must name, beyond the model's type
    "LinearNeuralODE": ("LinearNeuralODE",), "PolynomialMap": ("PolynomialMap",), "DAGReLUNet": ("DAGReLUNet",),
    "LinearNet": ("LinearNet",), "ReLUNet": ("ReLUNet",), "ReLUNet-bias": ("ReLUNet",),
    "SharedReLUNet": ("SharedReLUNet",), "SharedReLUNet-max": ("SharedReLUNet",),
}


def check_record(kind: str, name: str, record: dict) -> None:
    assert "died" not in record, (f"{kind} x {name}: the interpreter died (return code {record['died']}):\n"
                                  f"{record['stderr']}")
    core, reference = record["core"], record["reference"]
    if "error" in core or "error" in reference:
        assert "error" in core and "error" in reference, (
            f"{kind} x {name}: one backend raised, the other answered: core {core.get('error', 'answered')} "
            f"{core.get('message', '')!r}, reference {reference.get('error', 'answered')} {reference.get('message', '')!r}")
        assert core["error"] == reference["error"], f"{kind} x {name}: {core} vs {reference}"
        for side in (core, reference):
            assert side["error"] in ("ValueError", "TypeError", "FlowError"), f"{kind} x {name}: {side}"
            assert any(word in side["message"] for word in UNSUPPORTED_NAMES[kind]), \
                f"{kind} x {name}: the message does not name the unsupported model: {side['message']!r}"
        return
    _close(core["result"], reference["result"], f"{kind} x {name}")


def _params():
    names = _cell_names()
    for kind in MODELS:
        for name in names:
            marks = ()
            if (kind, name) in EXPECTED_TO_FAIL:
                marks = pytest.mark.xfail(reason=EXPECTED_TO_FAIL[(kind, name)], strict=True)
            yield pytest.param(kind, name, marks=marks, id=f"{kind}-{name}")


@pytest.mark.parametrize("kind,name", list(_params()))
def test_cell(kind, name):
    check_record(kind, name, _table()[(kind, name)])


def test_the_table_covers_every_public_function_of_a_model():
    import inspect

    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref

    covered = {name.split("[")[0] for name in _cell_names()}
    for backend in (itf, ref):
        public = {name for name in backend.__all__
                  if callable(getattr(backend, name)) and not isinstance(getattr(backend, name), type)
                  and list(inspect.signature(getattr(backend, name)).parameters)[:1] in (["model"], ["models"])}
        assert public <= covered, f"add a cell to the table for {sorted(public - covered)} ({backend.__name__})"


def test_expected_failures_are_cells_of_the_table():
    names = _cell_names()
    assert all(kind in MODELS and name in names for kind, name in EXPECTED_TO_FAIL)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2:])
