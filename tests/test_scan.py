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
        assert group["kernel_dim"] == {r * (r - 1) // 2: 100}  # docs/theory/criteria.md
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


# -- memory: a scan larger than config.max_bytes streams to its checkpoint ----------------------
STREAMED = dict(init=["gaussian", "sparse:0.5"], seed=11, chunk_size=20)
STREAMED_MODELS = [itf.ReLUNet([2, 3, 1], bias=True), itf.LinearNet([2, 2, 2])]  # 2 x 2 x 70 rows, 13 columns


def concatenated_chunks(result: ScanResult) -> dict:
    chunks = list(result.chunks())
    return {c: np.concatenate([chunk[c] for chunk in chunks]) for c in result.columns}


@pytest.mark.parametrize("seed", range(20))
def test_missing_chunks_cover_exactly_the_missing_rows(seed):
    rng = np.random.default_rng(seed)
    n_models, n_inits, n_samples, chunk_size = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 40), rng.integers(1, 9)
    spec = {"models": [None] * n_models, "inits": [None] * n_inits, "n_samples": int(n_samples)}
    finished = rng.random(n_models * n_inits * n_samples) < rng.random()
    starts, stops = scan_module._runs(np.flatnonzero(finished))
    covered = np.zeros_like(finished)
    for m, i, start, stop in scan_module._missing_chunks(spec, int(chunk_size), starts, stops):
        assert 0 <= start < stop <= n_samples and start // chunk_size == (stop - 1) // chunk_size  # one grid cell
        base = (m * n_inits + i) * n_samples
        assert not covered[base + start: base + stop].any()
        covered[base + start: base + stop] = True
    np.testing.assert_array_equal(covered, ~finished)
    union = scan_module._union(np.r_[starts, starts[::-1]], np.r_[stops, stops[::-1]])
    np.testing.assert_array_equal(np.concatenate(union), np.concatenate((starts, stops)))


def test_oversized_scan_is_refused_before_any_work(monkeypatch):
    def no_work(*args):
        raise AssertionError("a chunk was evaluated")

    monkeypatch.setattr(scan_module, "evaluate_chunk", no_work)
    with pytest.raises(ValueError, match=r"a scan of 1000000000 rows \(models x inits x n_samples = 1 x 1 x "
                                         r"1000000000\) x 13 columns needs 96\.9 GiB in memory, more than "
                                         r"intrinsic_flow\.config\.max_bytes = 2\.0 GiB; pass checkpoint=PATH"):
        scan_fn(itf.ReLUNet([2, 3, 1]), 10**9)


def test_the_size_estimate_follows_config_max_bytes(restore_max_bytes):
    restore_max_bytes.max_bytes = 280 * 11 * 8  # exactly the 280 rows x 11 columns of a ranks-only scan
    assert len(scan_fn(STREAMED_MODELS, 70, checks=("recoverable",), **STREAMED)) == 280
    restore_max_bytes.max_bytes -= 1
    with pytest.raises(ValueError, match=r"280 rows .* x 11 columns needs 24\.1 KiB"):
        scan_fn(STREAMED_MODELS, 70, checks=("recoverable",), **STREAMED)


def test_a_chunk_larger_than_max_bytes_is_refused(restore_max_bytes, tmp_path):
    restore_max_bytes.max_bytes = 1000
    with pytest.raises(ValueError, match=r"one chunk of the scan \(chunk_size = 20 samples\)"):
        scan_fn(STREAMED_MODELS, 70, checkpoint=tmp_path / "scan.npz", **STREAMED)


def test_streamed_scan_keeps_its_rows_on_disk(restore_max_bytes, tmp_path):
    in_memory = scan_fn(STREAMED_MODELS, 70, **STREAMED)
    restore_max_bytes.max_bytes = 10_000  # the table takes 29120 bytes, one chunk 2720
    checkpoint = tmp_path / "scan.npz"
    streamed = scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **STREAMED)
    assert streamed.on_disk and streamed.complete and len(streamed) == 280
    assert not checkpoint.exists() and len(streamed.files) == 16  # 4 ranges of 70 samples in chunks of 20
    assert all(f.parent == tmp_path / "scan.npz.parts" for f in streamed.files)
    assert_same_rows(ScanResult(in_memory.spec, concatenated_chunks(streamed)), in_memory)
    assert streamed.summary().groups == in_memory.summary().groups
    np.testing.assert_array_equal(streamed.finished(), np.ones(280, dtype=bool))
    for action in (lambda: streamed.rows, streamed.to_pandas, lambda: streamed.save(tmp_path / "copy.npz")):
        with pytest.raises(ValueError, match=r"the 280 rows of this scan need 28\.4 KiB, more than "
                                             r"intrinsic_flow\.config\.max_bytes = 9\.8 KiB, so they stay in 16 files"):
            action()
    loaded = ScanResult.load(checkpoint)
    assert loaded.on_disk and loaded.files == streamed.files and len(loaded) == 280
    restore_max_bytes.max_bytes = 2**31  # room again: the same files load into memory
    assert_same_rows(ScanResult.load(checkpoint), in_memory)


def test_streamed_scan_holds_one_chunk_whatever_the_number_of_samples(restore_max_bytes, tmp_path):
    import tracemalloc

    restore_max_bytes.max_bytes = 30_000  # one chunk 26.6 KiB, the table of 500 rows 50.8 KiB

    def peak(n_samples):
        tracemalloc.start()
        try:
            scan_fn(itf.LinearNet([2, 2, 2]), n_samples, chunk_size=100, progress=False,
                    checkpoint=tmp_path / f"scan{n_samples}.npz")
            return tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()

    peak(100)  # first call: imports and caches
    small, large = peak(500), peak(3000)
    # in memory the 2500 more rows alone would take 2500 x 13 x 8 = 260 kB
    assert large - small < 60_000, (small, large)


def test_streamed_scan_resumes_after_an_interruption(restore_max_bytes, tmp_path, monkeypatch):
    uninterrupted = scan_fn(STREAMED_MODELS, 70, **STREAMED)
    restore_max_bytes.max_bytes = 10_000
    checkpoint = tmp_path / "scan.parquet"
    original, calls = scan_module.evaluate_chunk, []

    def interrupted_after_six(*args):
        calls.append(args)
        if len(calls) > 6:
            raise KeyboardInterrupt
        return original(*args)

    monkeypatch.setattr(scan_module, "evaluate_chunk", interrupted_after_six)
    with pytest.raises(KeyboardInterrupt):
        scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **STREAMED)
    partial = ScanResult.load(checkpoint)
    assert partial.on_disk and len(partial) == 20 + 20 + 20 + 10 + 20 + 20 and not partial.complete
    monkeypatch.setattr(scan_module, "evaluate_chunk", original)
    resumed = scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **dict(STREAMED, chunk_size=13))
    # the missing 170 rows, cut at multiples of 13: 40-52-65-70 of (0, 1), 0-13-...-65-70 of (1, 0) and (1, 1)
    assert resumed.complete and len(resumed.files) == 6 + 3 + 6 + 6
    assert_same_rows(ScanResult(uninterrupted.spec, concatenated_chunks(resumed)), uninterrupted)


def test_parts_already_merged_are_not_counted_twice(restore_max_bytes, tmp_path):
    # a kill between writing the merged file and removing the parts leaves both
    checkpoint = tmp_path / "scan.npz"
    full = scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **STREAMED)
    parts = tmp_path / "scan.npz.parts"
    parts.mkdir()
    ScanResult(full.spec, {c: v[:20] for c, v in full.rows.items()}).save(parts / "m0-i0-s0.npz")
    assert_same_rows(ScanResult.load(checkpoint), full)
    restore_max_bytes.max_bytes = 10_000
    on_disk = ScanResult.load(checkpoint)
    assert on_disk.on_disk and on_disk.files == (checkpoint,) and len(on_disk) == 280
    assert on_disk.summary().groups == full.summary().groups
    assert scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **STREAMED).files == (checkpoint,)


# -- damaged checkpoints ----------------------------------------------------------------------
def truncate(path):
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def overwrite_with_garbage(path):
    data = bytearray(path.read_bytes())
    data[len(data) // 3: len(data) // 3 + 64] = np.random.default_rng(0).bytes(64)
    path.write_bytes(bytes(data))


def edit_a_number(path):
    """Change one value and write the file again with the old checksum, as an editing tool would."""
    if path.suffix == ".npz":
        with np.load(path) as data:
            arrays = {k: data[k] for k in data.files}
        arrays["rank_joint"][1] -= 1
        np.savez(path, **arrays)
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        column = table.column("gap_lift").to_numpy().copy()
        column[1] *= 1 + 1e-15
        table = table.set_column(table.column_names.index("gap_lift"), "gap_lift", [column])
        pq.write_table(table.replace_schema_metadata(pq.read_table(path).schema.metadata), path)


DAMAGES = {"truncated": truncate, "garbage": overwrite_with_garbage, "edited": edit_a_number}


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
def test_a_damaged_part_is_named(restore_max_bytes, tmp_path, damage, streamed):
    arguments = dict(STREAMED, chunk_size=35)
    expected = scan_fn(STREAMED_MODELS, 70, **arguments)
    checkpoint = tmp_path / "scan.npz"
    restore_max_bytes.max_bytes = 15_000  # streamed (a table of 28.4 KiB, a chunk of 10.7 KiB): the parts stay
    scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **arguments)
    if not streamed:
        restore_max_bytes.max_bytes = 2**31
    part = tmp_path / "scan.npz.parts" / "m1-i0-s35.npz"
    DAMAGES[damage](part)
    message = {"truncated": "is damaged or not a scan file", "garbage": "is damaged or not a scan file",
               "edited": "is damaged: its rows or description do not match the checksum"}[damage]
    for action in (lambda: ScanResult.load(checkpoint), lambda: scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **arguments)):
        with pytest.raises(ValueError, match=f"scan file '{part}' {message}.*remove it and its rows will be evaluated again"):
            action()
    part.unlink()  # as the message says: the rows of that part are evaluated again
    resumed = scan_fn(STREAMED_MODELS, 70, checkpoint=checkpoint, **arguments)
    assert_same_rows(ScanResult(expected.spec, concatenated_chunks(resumed)), expected)


@pytest.mark.parametrize("damage", DAMAGES)
@pytest.mark.parametrize("suffix", [".npz", ".parquet"])
def test_a_damaged_scan_file_is_named(tmp_path, damage, suffix):
    checkpoint = tmp_path / f"scan{suffix}"
    expected = scan_fn(STREAMED_MODELS, 30, checkpoint=checkpoint, **STREAMED)
    assert_same_rows(scan_fn(STREAMED_MODELS, 30, checkpoint=checkpoint, **STREAMED), expected)  # a good one resumes
    DAMAGES[damage](checkpoint)
    with pytest.raises(ValueError, match=f"scan file '{checkpoint}' is damaged"):
        ScanResult.load(checkpoint)


def test_the_checksum_covers_the_description(tmp_path):
    path = tmp_path / "scan.npz"
    scan_fn(itf.LinearNet([2, 2, 2]), 4).save(path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["header"] = np.array(str(arrays["header"]).replace('"seed": 0', '"seed": 1'))
    np.savez(path, **arrays)
    with pytest.raises(ValueError, match="do not match the checksum"):
        ScanResult.load(path)


def test_scan_files_from_elsewhere_are_named(tmp_path):
    path = tmp_path / "scan.npz"
    np.savez(path, rows=np.arange(3))
    with pytest.raises(ValueError, match=f"scan file '{path}' is damaged or not a scan file \\(no header or no checksum\\)"):
        ScanResult.load(path)
    path.write_bytes(b"\x93NUMPY garbage")
    with pytest.raises(ValueError, match=f"scan file '{path}' is damaged or not a scan file"):
        ScanResult.load(path)


def test_checkpoint_into_a_missing_directory(tmp_path):
    checkpoint = tmp_path / "new" / "deeper" / "scan.npz"
    result = scan_fn(itf.LinearNet([2, 2, 2]), 6, checkpoint=checkpoint)
    assert_same_rows(ScanResult.load(checkpoint), result)


def test_unreachable_dask_scheduler_times_out():
    pytest.importorskip("dask.distributed")
    import time

    begin = time.monotonic()
    with pytest.raises(ConnectionError, match=r"no Dask scheduler answered at 'tcp://127\.0\.0\.1:9' within timeout = 0\.5 s"):
        scan_fn(itf.LinearNet([2, 2, 2]), 4, executor="dask", address="tcp://127.0.0.1:9", timeout=0.5)
    assert time.monotonic() - begin < 10


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
    (dict(timeout=0), "timeout must be a positive number of seconds, got 0"),
    (dict(timeout=float("nan")), "timeout must be a positive number of seconds, got nan"),
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


def test_ctrl_c_while_a_file_is_written_reads_as_an_interruption(tmp_path, monkeypatch):
    """Ctrl-C inside np.savez makes zipfile's cleanup raise a ValueError; saving must still raise
    KeyboardInterrupt (the command then exits 130 and keeps its parts) and leave no temporary file."""
    import numpy.lib.format

    result = scan_fn(itf.LinearNet([2, 2, 2]), n_samples=4, seed=0, progress=False)

    def interrupted_write(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt:
            raise ValueError("Can't close the ZIP file while there is an open writing handle on it.")

    monkeypatch.setattr(numpy.lib.format, "write_array", interrupted_write)
    with pytest.raises(KeyboardInterrupt):
        result.save(tmp_path / "scan.npz")
    assert list(tmp_path.iterdir()) == []

    def broken_write(*args, **kwargs):  # any other failure keeps its own type
        raise ValueError("disk trouble")

    monkeypatch.setattr(numpy.lib.format, "write_array", broken_write)
    with pytest.raises(ValueError, match="disk trouble"):
        result.save(tmp_path / "scan.npz")
    assert list(tmp_path.iterdir()) == []
