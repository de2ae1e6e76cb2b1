"""High-throughput scans of the intrinsic-dynamics criteria over random initialisations.

``scan(models, n_samples, init=..., seed=...)`` evaluates ``criteria`` at n_samples points per
(model, init) pair and returns a ``ScanResult`` with one row per (model, init, sample).

Determinism. Sample s of model m and init i is drawn from its own generator,
``default_rng(SeedSequence(seed, spawn_key=(m, i, s)))``, and evaluated independently in the core,
so every row is the same whatever the thread count, the chunking or the executor (local or Dask).

Files. ``ScanResult.save(path)`` writes the finished rows and the scan's description (models,
inits, n_samples, seed, checks, format version): NPZ (always available) or Parquet (with
pyarrow). ``scan(..., checkpoint=path)`` writes each finished chunk to ``<path>.parts/`` at once
and merges everything into ``path`` when the scan ends or is interrupted; when ``path`` (or its
parts) already holds a partial run of the same scan, only the missing rows are evaluated. So an
interrupted scan, even a killed one, resumes without losing finished rows.
"""
from __future__ import annotations

import collections
import json
import os
import pathlib
import shutil
import sys

import numpy as np

from . import _checks
from .criteria import criteria_rows
from .inits import format_scheme, parse_scheme
from .models import DAGReLUNet, LinearNet, ReLUNet
from .reference.criteria import FLOAT_FIELDS, INT_FIELDS, check_inclusion_tol

FORMAT_VERSION = 1
CHECKS = ("recoverable", "kernel_inclusion")
INDEX_COLUMNS = ("model", "init", "sample")
EXECUTORS = ("local", "dask")


# -- describing a scan -------------------------------------------------------------------------
def model_spec(model) -> dict:
    """A JSON-able description of a model (inverse: model_from_spec)."""
    if isinstance(model, ReLUNet):
        return {"type": "ReLUNet", "widths": list(model.widths), "bias": model.bias}
    if isinstance(model, LinearNet):
        return {"type": "LinearNet", "widths": list(model.widths)}
    if isinstance(model, DAGReLUNet):
        return {"type": "DAGReLUNet", "n_inputs": model.n_inputs, "n_outputs": model.n_outputs,
                "edges": [list(e) for e in model.edges], "bias": list(model.bias)}
    raise ValueError(f"scan supports ReLUNet, LinearNet and DAGReLUNet models, got {type(model).__name__}")


def model_from_spec(spec: dict):
    kind = spec.get("type")
    if kind == "ReLUNet":
        return ReLUNet(spec["widths"], spec["bias"])
    if kind == "LinearNet":
        return LinearNet(spec["widths"])
    if kind == "DAGReLUNet":
        return DAGReLUNet(spec["n_inputs"], spec["n_outputs"], [tuple(e) for e in spec["edges"]], spec["bias"])
    raise ValueError(f"unknown model type {kind!r} in a scan description")


def model_name(model) -> str:
    """Short display name: ReLUNet[3,5,5,1,bias=True], LinearNet[3,3,3], DAGReLUNet[E edges]."""
    if isinstance(model, DAGReLUNet):
        return f"DAGReLUNet[{model.n_neurons} neurons,{len(model.edges)} edges,{len(model.bias)} biases]"
    widths = ",".join(str(w) for w in model.widths)
    bias = f",bias={model.bias}" if getattr(model, "bias", False) else ""
    return f"{type(model).__name__}[{widths}{bias}]"


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) and not _is_init_pair(value) else [value]


def _is_init_pair(value) -> bool:
    return isinstance(value, tuple) and len(value) == 2 and isinstance(value[0], str) and isinstance(value[1], dict)


def _checks_of(checks) -> tuple:
    checks = (checks,) if isinstance(checks, str) else tuple(checks)
    for check in checks:
        if check not in CHECKS:
            raise ValueError(f"unknown check {check!r}; accepted: {list(CHECKS)}")
    return tuple(c for c in CHECKS if c in checks)


def columns_for(checks) -> tuple:
    """Columns of a scan table for the given checks."""
    columns = INDEX_COLUMNS + INT_FIELDS + ("recoverable",) + FLOAT_FIELDS[:3]
    if "kernel_inclusion" in checks:
        columns += ("inclusion_residual", "kernel_inclusion")
    return columns


# -- evaluating one chunk (runs locally or on a Dask worker) -----------------------------------
def sample_rng(seed: int, model_index: int, init_index: int, sample: int) -> np.random.Generator:
    """The generator of one sample: independent of every other sample, of chunking and of threads."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(model_index, init_index, sample)))


def draw_thetas(model, init: tuple, seed: int, model_index: int, init_index: int, start: int, stop: int) -> np.ndarray:
    """Samples start..stop-1 of (model, init): (stop - start, D)."""
    name, options = init
    return np.stack([model.init(sample_rng(seed, model_index, init_index, s), name, **options)
                     for s in range(start, stop)])


def evaluate_chunk(model, init: tuple, seed: int, model_index: int, init_index: int, start: int, stop: int,
                   inclusion: bool, inclusion_tol: float) -> dict:
    """Rows start..stop-1 of (model, init) as a dict of column arrays."""
    thetas = draw_thetas(model, init, seed, model_index, init_index, start, stop)
    table = criteria_rows(model, thetas, inclusion)
    count = stop - start
    rows = {"model": np.full(count, model_index, dtype=np.int64), "init": np.full(count, init_index, dtype=np.int64),
            "sample": np.arange(start, stop, dtype=np.int64)}
    for k, name in enumerate(INT_FIELDS):
        rows[name] = table[:, k].astype(np.int64)
    rows["recoverable"] = rows["rank_joint"] == model.n_params
    for k, name in enumerate(FLOAT_FIELDS):
        rows[name] = table[:, len(INT_FIELDS) + k]
    if inclusion:
        rows["kernel_inclusion"] = rows["inclusion_residual"] <= inclusion_tol
    else:
        del rows["inclusion_residual"]
    return rows


# -- the result --------------------------------------------------------------------------------
class ScanResult:
    """One row per (model, init, sample); rows of an unfinished scan are missing (``complete``).

    ``rows``: dict column -> array over the finished rows, ordered by (model, init, sample).
    Columns: model, init, sample (indices into ``models``, ``inits`` and 0..n_samples-1),
    rank_lift, rank_conserved, rank_joint, kernel_dim, recoverable, gap_lift, gap_conserved,
    gap_joint and, when kernel inclusion was checked, inclusion_residual, kernel_inclusion.
    """

    def __init__(self, spec: dict, rows: dict) -> None:
        self.spec = spec
        self.models = [model_from_spec(m) for m in spec["models"]]
        self.inits = [parse_scheme((name, options)) for name, options in spec["inits"]]
        self.n_samples = int(spec["n_samples"])
        self.seed = int(spec["seed"])
        self.checks = tuple(spec["checks"])
        self.columns = columns_for(self.checks)
        missing = [c for c in self.columns if c not in rows]
        if missing:
            raise ValueError(f"scan table lacks columns {missing}")
        # ordered by (model, init, sample); a row present twice (a chunk saved in two files) kept once
        _, first = np.unique(self._row_index(rows), return_index=True)
        self.rows = {c: np.asarray(rows[c])[first] for c in self.columns}

    @property
    def n_rows(self) -> int:
        """Rows of the complete scan: models x inits x n_samples."""
        return len(self.models) * len(self.inits) * self.n_samples

    def __len__(self) -> int:
        return int(self.rows["sample"].size)

    @property
    def complete(self) -> bool:
        return len(self) == self.n_rows

    def _row_index(self, rows: dict) -> np.ndarray:
        n_inits = len(self.spec["inits"])
        return (np.asarray(rows["model"]) * n_inits + np.asarray(rows["init"])) * int(self.spec["n_samples"]) + \
            np.asarray(rows["sample"])

    def finished(self) -> np.ndarray:
        """Boolean mask (n_rows,) of the finished rows in (model, init, sample) order."""
        mask = np.zeros(self.n_rows, dtype=bool)
        mask[self._row_index(self.rows)] = True
        return mask

    def __repr__(self) -> str:
        return (f"ScanResult({len(self)}/{self.n_rows} rows, models={[model_name(m) for m in self.models]}, "
                f"inits={[format_scheme(*i) for i in self.inits]}, seed={self.seed})")

    # -- summaries -----------------------------------------------------------------------------
    def summary(self) -> "ScanSummary":
        """Per (model, init): samples, fraction recoverable, fraction with kernel inclusion, and the
        histograms of rank dphi, rank [dphi; dh] and dim(ker dphi ∩ ker dh)."""
        groups = []
        for m, model in enumerate(self.models):
            for i, init in enumerate(self.inits):
                mask = (self.rows["model"] == m) & (self.rows["init"] == i)
                count = int(mask.sum())
                group = {"model": model_name(model), "init": format_scheme(*init), "samples": count,
                         "n_params": model.n_params}
                group["recoverable"] = float(self.rows["recoverable"][mask].mean()) if count else float("nan")
                if "kernel_inclusion" in self.rows:
                    group["kernel_inclusion"] = float(self.rows["kernel_inclusion"][mask].mean()) if count else float("nan")
                for name in ("rank_lift", "rank_joint", "kernel_dim"):
                    group[name] = dict(sorted(collections.Counter(self.rows[name][mask].tolist()).items()))
                groups.append(group)
        return ScanSummary(groups, complete=self.complete)

    def to_pandas(self):
        """The finished rows as a pandas DataFrame (model and init as display names)."""
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError("to_pandas needs pandas: pip install 'intrinsic-flow[scan]'") from None
        frame = pd.DataFrame({c: self.rows[c] for c in self.columns})
        frame["model"] = pd.Categorical.from_codes(self.rows["model"], [model_name(m) for m in self.models])
        frame["init"] = pd.Categorical.from_codes(self.rows["init"], [format_scheme(*i) for i in self.inits])
        return frame

    # -- files ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the finished rows and the scan description: ``.npz`` or ``.parquet`` (pyarrow).
        The file is replaced atomically, so an interruption never leaves a half-written file."""
        path = pathlib.Path(path)
        fmt = _format_of(path)
        temporary = path.with_name(path.name + ".partial")
        header = json.dumps({**self.spec, "version": FORMAT_VERSION})
        if fmt == "npz":
            with open(temporary, "wb") as handle:
                np.savez(handle, header=np.array(header), **self.rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table({c: self.rows[c] for c in self.columns})
            table = table.replace_schema_metadata({b"intrinsic_flow_scan": header.encode()})
            pq.write_table(table, temporary)
        os.replace(temporary, path)

    @classmethod
    def load(cls, path) -> "ScanResult":
        """Read a file written by ``save`` (and, for a checkpoint of an unfinished scan, the chunks
        saved beside it in ``<path>.parts/``); ValueError for another format version."""
        path = pathlib.Path(path)
        _format_of(path)
        files = ([path] if path.exists() else []) + sorted(parts_dir(path).glob("*.npz"))
        if not files:
            raise ValueError(f"scan file {str(path)!r} does not exist")
        specs, tables = zip(*(_read_scan_file(f) for f in files))
        for f, spec in zip(files[1:], specs[1:]):
            if spec != specs[0]:
                raise ValueError(f"{str(f)!r} belongs to a different scan than {str(files[0])!r}")
        return cls(specs[0], {c: np.concatenate([t[c] for t in tables]) for c in tables[0]})


def parts_dir(path: pathlib.Path) -> pathlib.Path:
    """Where a checkpointed scan keeps one small file per finished chunk until it is merged."""
    return path.with_name(path.name + ".parts")


def _read_scan_file(path: pathlib.Path) -> tuple:
    """(spec, rows) of one .npz or .parquet scan file."""
    if _format_of(path) == "npz":
        with np.load(path, allow_pickle=False) as data:
            if "header" not in data:
                raise ValueError(f"{str(path)!r} is not a scan file (no header)")
            header = str(data["header"])
            rows = {k: data[k] for k in data.files if k != "header"}
    else:
        import pyarrow.parquet as pq

        table = pq.read_table(path)
        metadata = table.schema.metadata or {}
        if b"intrinsic_flow_scan" not in metadata:
            raise ValueError(f"{str(path)!r} is not a scan file (no intrinsic_flow_scan metadata)")
        header = metadata[b"intrinsic_flow_scan"].decode()
        rows = {name: table.column(name).to_numpy() for name in table.column_names}
    spec = json.loads(header)
    version = spec.pop("version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"scan file {str(path)!r} has format version {version!r}; this intrinsic-flow "
                         f"reads version {FORMAT_VERSION} only")
    return spec, rows


def _format_of(path: pathlib.Path) -> str:
    if path.suffix == ".npz":
        return "npz"
    if path.suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            raise ValueError("writing .parquet needs pyarrow (pip install 'intrinsic-flow[scan]'); use .npz") from None
        return "parquet"
    raise ValueError(f"scan files end in .npz or .parquet, got {str(path)!r}")


class ScanSummary:
    """Fractions and rank histograms per (model, init); ``groups`` is a list of dicts, str() a table."""

    def __init__(self, groups: list, complete: bool = True) -> None:
        self.groups = groups
        self.complete = complete

    def __str__(self) -> str:
        def percent(value):
            return "  -" if value != value else f"{100 * value:6.2f}%"

        def histogram(counts):
            return "  ".join(f"{value}: {count}" for value, count in counts.items()) or "-"

        lines = [] if self.complete else ["(partial scan: some rows are missing)"]
        for g in self.groups:
            lines.append(f"{g['model']}  init {g['init']}  ({g['samples']} samples, D = {g['n_params']})")
            lines.append(f"  recoverable           {percent(g['recoverable'])}")
            if "kernel_inclusion" in g:
                lines.append(f"  kernel inclusion      {percent(g['kernel_inclusion'])}")
            lines.append(f"  rank dphi             {histogram(g['rank_lift'])}")
            lines.append(f"  rank [dphi; dh]       {histogram(g['rank_joint'])}")
            lines.append(f"  dim ker dphi ∩ ker dh {histogram(g['kernel_dim'])}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)


# -- running a scan ----------------------------------------------------------------------------
def _chunks(spec: dict, chunk_size: int, finished: np.ndarray) -> list:
    """(model index, init index, start, stop) for every chunk with a missing row."""
    n_inits, n = len(spec["inits"]), spec["n_samples"]
    work = []
    for m in range(len(spec["models"])):
        for i in range(n_inits):
            base = (m * n_inits + i) * n
            for start in range(0, n, chunk_size):
                stop = min(start + chunk_size, n)
                if not finished[base + start: base + stop].all():
                    work.append((m, i, start, stop))
    return work


def column_dtype(column: str):
    if column in FLOAT_FIELDS:
        return np.float64
    return np.bool_ if column in ("recoverable", "kernel_inclusion") else np.int64


def _merge(done: list, spec: dict) -> ScanResult:
    columns = columns_for(spec["checks"])
    rows = {c: np.concatenate([np.zeros(0, dtype=column_dtype(c))] + [part[c] for part in done]).astype(column_dtype(c))
            for c in columns}
    return ScanResult(spec, rows)


def _progress_bar(total: int, initial: int, enabled: bool):
    if not (enabled and sys.stderr.isatty()):
        return None
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="sample", desc="scan")


def _dask_client(address):
    """(client, what to close afterwards): a LocalCluster of 2 in-process workers when address is None."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError("executor='dask' needs dask.distributed: pip install 'intrinsic-flow[dask]'") from None
    if address is None:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(cluster)
        return client, [client, cluster]
    if isinstance(address, Client):
        return address, []
    if not isinstance(address, str):
        raise ValueError(f"address must be a scheduler address such as 'tcp://host:8786', a dask Client or None, "
                         f"got {address!r}")
    client = Client(address)
    return client, [client]


def scan(models, n_samples, *, init="gaussian", seed=0, checks=CHECKS, progress=True, executor="local",
         address=None, chunk_size=1000, checkpoint=None, inclusion_tol=None) -> ScanResult:
    """Evaluate the criteria at n_samples random points of each (model, init) pair.

    models: a model or a list of models. init: a scheme spec or a list of them (``"gaussian"``,
    ``"sparse:0.5"``, ``"relaxed_balanced:0.5"`` or ``(name, options)``). checks: a subset of
    ("recoverable", "kernel_inclusion"); ranks are always reported. executor: "local" (the core,
    parallel over samples) or "dask" (chunks sent to the cluster at ``address``, a LocalCluster of
    2 workers when None); rows are identical either way. chunk_size: samples per unit of work.
    checkpoint: a .npz/.parquet path; finished chunks are saved at once (module docstring) and an
    existing partial run of the same scan is resumed. progress: a tqdm bar on a
    terminal only. Returns a ScanResult (one row per (model, init, sample)).
    """
    models = _as_list(models)
    for model in models:
        model_spec(model)
    n_samples = _checks.positive_int(n_samples, "n_samples")
    chunk_size = _checks.positive_int(chunk_size, "chunk_size")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    if executor not in EXECUTORS:
        raise ValueError(f"executor must be one of {list(EXECUTORS)}, got {executor!r}")
    inits = [parse_scheme(spec) for spec in _as_list(init)]
    checks = _checks_of(checks)
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    for model in models:  # fail early (unrealisable lambdas, unknown options) and refuse oversized work
        for name, options in inits:
            model.init(0, name, **options)
        criteria_rows(model, model.init(0)[None, :], "kernel_inclusion" in checks)
    spec = {"models": [model_spec(m) for m in models], "inits": [list(i) for i in inits], "n_samples": n_samples,
            "seed": int(seed), "checks": list(checks), "inclusion_tol": inclusion_tol}
    spec = json.loads(json.dumps(spec))  # the form it takes in a file, so that specs compare equal

    previous = _merge([], spec)
    if checkpoint is not None:
        checkpoint = pathlib.Path(checkpoint)
        _format_of(checkpoint)
    if checkpoint is not None and (checkpoint.exists() or any(parts_dir(checkpoint).glob("*.npz"))):
        previous = ScanResult.load(checkpoint)
        if previous.spec != spec:
            differ = sorted(k for k in spec if previous.spec.get(k) != spec[k])
            raise ValueError(f"checkpoint {str(checkpoint)!r} holds a different scan (differs in {differ}); "
                             "remove it or choose another path")
    work = _chunks(spec, chunk_size, previous.finished())
    # a chunk with a missing row is evaluated whole: drop its saved rows so that none appears twice
    redo = np.zeros(previous.n_rows, dtype=bool)
    for m, i, start, stop in work:
        base = (m * len(inits) + i) * n_samples
        redo[base + start: base + stop] = True
    keep = ~redo[previous._row_index(previous.rows)]
    done = [{c: v[keep] for c, v in previous.rows.items()}]

    arguments = [(models[m], inits[i], int(seed), m, i, start, stop, "kernel_inclusion" in checks, inclusion_tol)
                 for m, i, start, stop in work]
    bar = _progress_bar(previous.n_rows, int(keep.sum()), progress)
    try:
        for rows in _run(arguments, executor, address):
            done.append(rows)
            if bar is not None:
                bar.update(rows["sample"].size)
            if checkpoint is not None:  # one small file per finished chunk: a hard kill loses none
                parts = parts_dir(checkpoint)
                parts.mkdir(exist_ok=True)
                ScanResult(spec, rows).save(parts / f"m{rows['model'][0]}-i{rows['init'][0]}-s{rows['sample'][0]}.npz")
    finally:
        if bar is not None:
            bar.close()
        if checkpoint is not None:  # merge, then drop the parts (the merged file is written atomically)
            _merge(done, spec).save(checkpoint)
            shutil.rmtree(parts_dir(checkpoint), ignore_errors=True)
    return _merge(done, spec)


def _run(arguments: list, executor: str, address):
    """Yields the rows of each chunk as it finishes."""
    if not arguments:
        return
    if executor == "local":
        for args in arguments:
            yield evaluate_chunk(*args)
        return
    client, owned = _dask_client(address)
    try:
        from dask.distributed import as_completed

        futures = [client.submit(evaluate_chunk, *args, pure=False) for args in arguments]
        for future in as_completed(futures):
            yield future.result()
    finally:
        for resource in owned:
            resource.close()


__all__ = ["scan", "ScanResult", "ScanSummary"]
