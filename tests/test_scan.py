"""Scans of the criteria: what the scans must show first, invariances second, bad input third."""
import json

import numpy as np
import pytest

import intrinsic_flow as itf
from intrinsic_flow import scan as scan_fn
from intrinsic_flow.cli import main
from intrinsic_flow.scan import FORMAT_VERSION, ScanResult

scan_module = __import__("sys").modules["intrinsic_flow.scan"]

DAG = itf.DAGReLUNet(2, 1, [(0, 2), (1, 2), (0, 3), (2, 3), (1, 4), (2, 4), (3, 4)], bias=(2, 3))


def assert_same_rows(a: ScanResult, b: ScanResult):
    assert a.columns == b.columns and len(a) == len(b)
    for column in a.columns:
        np.testing.assert_array_equal(a.rows[column], b.rows[column], err_msg=column)


# -- what the scans must show ------------------------------------------------------------------
def test_relu_gaussian_is_always_recoverable_with_inclusion():
    models = [itf.ReLUNet([3, 5, 5, 1]), itf.ReLUNet([2, 3, 3, 1], bias=True), itf.ReLUNet([3, 4, 2], bias="hidden"), DAG]
    result = scan_fn(models, 150, init="gaussian", seed=1)
    assert result.complete and len(result) == 600
    for group in result.summary().groups:
        assert group["recoverable"] == 1.0 and group["kernel_inclusion"] == 1.0
        assert group["kernel_dim"] == {0: 150}


def test_relu_sparse_failures_show_in_the_summary():
    result = scan_fn(itf.ReLUNet([3, 5, 5, 1], bias=True), 100, init=["gaussian", "sparse:0.5"], seed=2)
    gaussian, sparse = result.summary().groups
    assert gaussian["recoverable"] == 1.0
    assert 0.0 < sparse["recoverable"] < 1.0
    text = str(result.summary())
    assert "init sparse:0.5" in text and f"recoverable           {100 * sparse['recoverable']:6.2f}%" in text


@pytest.mark.parametrize("m,r,n", [(3, 3, 3), (4, 2, 3)])
def test_two_layer_linear_inclusion_needs_relaxed_balance(m, r, n):
    result = scan_fn(itf.LinearNet([m, r, n]), 100, init=["relaxed_balanced:0.5", "balanced", "gaussian"], seed=3)
    relaxed, balanced, gaussian = result.summary().groups
    assert relaxed["kernel_inclusion"] == 1.0 and balanced["kernel_inclusion"] == 1.0
    assert gaussian["kernel_inclusion"] == 0.0
    for group in (relaxed, balanced, gaussian):
        assert group["kernel_dim"] == {r * (r - 1) // 2: 100}  # main_paper §4.4
        assert group["recoverable"] == 0.0


# -- invariances -------------------------------------------------------------------------------
def test_rows_do_not_depend_on_threads_or_chunks():
    models = [itf.ReLUNet([3, 4, 1], bias=True), itf.LinearNet([3, 3, 3])]
    threads = itf.build_info()["threads"]
    try:
        itf.set_num_threads(1)
        serial = scan_fn(models, 90, init=["gaussian", "sparse:0.4"], seed=5, chunk_size=90)
        itf.set_num_threads(3)
        parallel = scan_fn(models, 90, init=["gaussian", "sparse:0.4"], seed=5, chunk_size=7)
    finally:
        itf.set_num_threads(threads)
    assert_same_rows(serial, parallel)


def test_rows_match_the_per_sample_generator():
    model = itf.LinearNet([2, 3, 2])
    result = scan_fn(model, 5, init="sparse:0.3", seed=9)
    theta = model.init(scan_module.sample_rng(9, 0, 0, 3), "sparse", p=0.3)
    c = itf.criteria(model, theta)
    row = {k: v[3] for k, v in result.rows.items()}
    assert (row["rank_lift"], row["rank_joint"], row["kernel_dim"]) == (c.rank_lift, c.rank_joint, c.kernel_dim)
    assert row["inclusion_residual"] == c.inclusion_residual


def test_dask_local_cluster_gives_the_local_rows():
    distributed = pytest.importorskip("dask.distributed")
    models = [itf.ReLUNet([3, 4, 1], bias=True), itf.LinearNet([3, 3, 3])]
    local = scan_fn(models, 60, init=["gaussian", "sparse:0.5"], seed=4, chunk_size=25)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        remote = scan_fn(models, 60, init=["gaussian", "sparse:0.5"], seed=4, chunk_size=16, executor="dask",
                         address=cluster.scheduler_address)
    assert_same_rows(local, remote)


def test_dask_without_address_starts_its_own_cluster():
    pytest.importorskip("dask.distributed")
    local = scan_fn(itf.LinearNet([3, 3, 3]), 12, init="sparse:0.3", seed=8, chunk_size=5)
    assert_same_rows(local, scan_fn(itf.LinearNet([3, 3, 3]), 12, init="sparse:0.3", seed=8, chunk_size=4, executor="dask"))


def test_resume_after_an_interruption(tmp_path, monkeypatch):
    models = [itf.ReLUNet([3, 4, 1]), itf.LinearNet([2, 2, 2])]
    arguments = dict(init=["gaussian", "sparse:0.5"], seed=6, chunk_size=10)
    uninterrupted = scan_fn(models, 45, **arguments)

    checkpoint = tmp_path / "scan.npz"
    original, calls = scan_module.evaluate_chunk, []

    def interrupted_after_five(*args):
        calls.append(args)
        if len(calls) > 5:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(scan_module, "evaluate_chunk", interrupted_after_five)
    with pytest.raises(KeyboardInterrupt):
        scan_fn(models, 45, checkpoint=checkpoint, **arguments)
    partial = ScanResult.load(checkpoint)
    assert not partial.complete and len(partial) == 45  # five chunks: 10 + 10 + 10 + 10 + 5 rows
    monkeypatch.setattr(scan_module, "evaluate_chunk", original)

    resumed = scan_fn(models, 45, checkpoint=checkpoint, **arguments)
    assert resumed.complete
    assert_same_rows(resumed, uninterrupted)
    assert_same_rows(ScanResult.load(checkpoint), uninterrupted)


KILLED_SCAN = """
import sys, time
import intrinsic_flow as itf
scan_module = sys.modules["intrinsic_flow.scan"]
evaluate = scan_module.evaluate_chunk
def slow(*args):  # a slow worker, so that the scan is surely killed mid-way
    time.sleep(0.05)
    return evaluate(*args)
scan_module.evaluate_chunk = slow
itf.scan(itf.LinearNet([3, 3, 3]), 600, init="sparse:0.2", seed=3, chunk_size=5, checkpoint=sys.argv[1])
"""


def test_resume_after_a_hard_kill(tmp_path):
    import os
    import signal
    import subprocess
    import sys
    import time

    checkpoint = tmp_path / "scan.parquet"
    parts = tmp_path / "scan.parquet.parts"
    child = subprocess.Popen([sys.executable, "-c", KILLED_SCAN, str(checkpoint)])
    try:
        deadline = time.monotonic() + 60
        while len(list(parts.glob("*.npz"))) < 3 and time.monotonic() < deadline and child.poll() is None:
            time.sleep(0.01)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
    partial = ScanResult.load(checkpoint)  # the finished chunks, from the parts
    assert 15 <= len(partial) < 600 and not partial.complete
    resumed = scan_fn(itf.LinearNet([3, 3, 3]), 600, init="sparse:0.2", seed=3, chunk_size=5, checkpoint=checkpoint)
    assert_same_rows(resumed, scan_fn(itf.LinearNet([3, 3, 3]), 600, init="sparse:0.2", seed=3))
    assert ScanResult.load(checkpoint).complete and not parts.exists()


@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_save_load_round_trip(tmp_path, suffix):
    result = scan_fn([itf.ReLUNet([2, 3, 1], bias=True), DAG], 20, init=["gaussian", "dead_neuron"], seed=7)
    path = tmp_path / f"scan{suffix}"
    result.save(path)
    loaded = ScanResult.load(path)
    assert_same_rows(loaded, result)
    assert loaded.models == result.models and loaded.inits == result.inits


def test_to_pandas_and_ranks_only_checks():
    pd = pytest.importorskip("pandas")
    result = scan_fn(itf.LinearNet([3, 3, 3]), 10, init="balanced", checks=("recoverable",))
    assert "kernel_inclusion" not in result.columns and "kernel_inclusion" not in str(result.summary())
    frame = result.to_pandas()
    assert isinstance(frame, pd.DataFrame) and frame.shape == (10, len(result.columns))
    assert set(frame["model"]) == {"LinearNet[3,3,3]"} and set(frame["init"]) == {"balanced"}


def test_no_progress_bar_off_a_terminal(capsys):
    scan_fn(itf.LinearNet([2, 2, 2]), 5, progress=True)
    assert capsys.readouterr().err == ""


def test_cli_prints_the_summary_and_saves(tmp_path, capsys):
    out = tmp_path / "scan.npz"
    code = main(["scan", "--model", "linear", "--widths", "3,3,3", "--init", "relaxed_balanced:0.5",
                 "--init", "gaussian", "--samples", "40", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0
    assert "LinearNet[3,3,3]  init relaxed_balanced:0.5  (40 samples, D = 18)" in text
    assert "kernel inclusion      100.00%" in text and "kernel inclusion        0.00%" in text
    assert "dim ker dphi ∩ ker dh 3: 40" in text
    assert len(ScanResult.load(out)) == 80


# -- bad input ---------------------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(init="xavier"), "unknown init scheme 'xavier'"),
    (dict(init="relaxed_balanced:0.5", models=itf.LinearNet([3, 2, 1])), "cannot be realised"),
    (dict(n_samples=0), "n_samples must be an integer >= 1, got 0"),
    (dict(n_samples=-3), "n_samples must be an integer >= 1, got -3"),
    (dict(checks=("frobenius",)), "unknown check 'frobenius'"),
    (dict(executor="ray"), "executor must be one of"),
    (dict(seed=-1), "seed must be a non-negative integer"),
    (dict(models="relu"), "scan supports ReLUNet, LinearNet and DAGReLUNet"),
])
def test_bad_scan_arguments(kwargs, match):
    arguments = dict(models=itf.LinearNet([2, 2, 2]), n_samples=5)
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=match):
        scan_fn(arguments.pop("models"), arguments.pop("n_samples"), **arguments)


def test_incompatible_file_version_is_refused(tmp_path):
    result = scan_fn(itf.LinearNet([2, 2, 2]), 4)
    path = tmp_path / "old.npz"
    result.save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(str(arrays["header"]))
    header["version"] = FORMAT_VERSION + 1
    arrays["header"] = np.array(json.dumps(header))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match=f"format version {FORMAT_VERSION + 1}.*reads version {FORMAT_VERSION}"):
        ScanResult.load(path)


def test_checkpoint_of_another_scan_is_refused(tmp_path):
    path = tmp_path / "scan.npz"
    scan_fn(itf.LinearNet([2, 2, 2]), 4, checkpoint=path)
    with pytest.raises(ValueError, match=r"holds a different scan \(differs in \['seed'\]\)"):
        scan_fn(itf.LinearNet([2, 2, 2]), 4, seed=1, checkpoint=path)


@pytest.mark.parametrize("name", ["scan.csv", "scan"])
def test_unknown_file_format(tmp_path, name):
    result = scan_fn(itf.LinearNet([2, 2, 2]), 2)
    with pytest.raises(ValueError, match="scan files end in .npz or .parquet"):
        result.save(tmp_path / name)
