"""High-throughput scans of the intrinsic-dynamics criteria over random initialisations.

``scan(models, n_samples, init=..., seed=...)`` evaluates ``criteria`` at n_samples points per
(model, init) pair and returns a ``ScanResult`` with one row per (model, init, sample).

Determinism. Sample s of model m and init i is drawn from its own generator,
``default_rng(SeedSequence(seed, spawn_key=(m, i, s)))``, and evaluated independently in the core,
so every row is the same whatever the thread count, the chunking or the executor (local or Dask).

Files. ``ScanResult.save(path)`` writes the finished rows and the scan's description (models,
inits, n_samples, seed, checks, format version) with a SHA-256 checksum of both: NPZ (always
available) or Parquet (with pyarrow). ``scan(..., checkpoint=path)`` writes each finished chunk to
``<path>.parts/`` at once and merges everything into ``path`` when the scan ends or is
interrupted; when ``path`` (or its parts) already holds a partial run of the same scan, only the
missing rows are evaluated. So an interrupted scan, even a killed one, resumes without losing
finished rows. Every file is verified when read: a truncated, overwritten or edited file raises
ValueError naming it (remove it and its rows are evaluated again).

Memory. A scan's table takes rows x columns x 8 bytes (rows = models x inits x n_samples, at
most 13 columns). Up to ``intrinsic_flow.config.max_bytes`` the rows are kept in memory. Beyond,
``scan`` refuses up front unless given a checkpoint path; it then streams: each chunk is written
to ``<path>.parts/`` and dropped, so only O(chunk_size) rows are ever in memory, the parts are
left as they are (no merged file: merging would need every row at once) and the ScanResult
returned, like ``ScanResult.load`` of such a scan, reads its rows from the parts when asked:
``summary()``, ``len()`` and ``chunks()`` work chunk by chunk, while ``rows``, ``to_pandas()``
and ``save()`` raise ValueError naming the size and the knob.
"""
from __future__ import annotations

import collections
import contextlib
import hashlib
import itertools
import json
import logging
import math
import os
import pathlib
import re
import shutil
import sys
from typing import Sequence

import numpy as np

from . import _checks
from ._extras import install_hint
from ._callable_module import make_callable
from ._typing import Model
from ._config import config
from .criteria import criteria_rows
from .inits import format_scheme, parse_scheme
from .models import DAGReLUNet, LinearNet, ReLUNet
from ._criteria import check_inclusion_tol
from .results import FLOAT_FIELDS, INT_FIELDS

FORMAT_VERSION = 2  # version 2: a SHA-256 checksum of the header and rows in every file
CHECKS = ("recoverable", "kernel_inclusion")
INDEX_COLUMNS = ("model", "init", "sample")
EXECUTORS = ("local", "dask")
MAX_ROWS = 2**62  # row indices (model, init, sample) -> int64 must not overflow


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
                   inclusion: bool, inclusion_tol: float, n_threads: int | None = None) -> dict:
    """Rows start..stop-1 of (model, init) as a dict of column arrays (the core's loops on
    n_threads threads; None: the process-wide setting of the process that runs the chunk)."""
    thetas = draw_thetas(model, init, seed, model_index, init_index, start, stop)
    table = criteria_rows(model, thetas, inclusion, n_threads)
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


# -- which rows a scan holds: runs of row indices ----------------------------------------------
def row_index(spec: dict, rows: dict) -> np.ndarray:
    """Position of each row in (model, init, sample) order: (model * n_inits + init) * n_samples + sample."""
    n_inits, n_samples = len(spec["inits"]), int(spec["n_samples"])
    model, init, sample = (np.asarray(rows[c], dtype=np.int64) for c in INDEX_COLUMNS)
    return (model * n_inits + init) * n_samples + sample


def _runs(index: np.ndarray) -> tuple:
    """The maximal runs of consecutive values of a sorted, duplicate-free index: (starts, stops)."""
    if index.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    breaks = np.flatnonzero(np.diff(index) != 1) + 1
    return index[np.r_[0, breaks]], index[np.r_[breaks - 1, index.size - 1]] + 1


def _union(starts: np.ndarray, stops: np.ndarray) -> tuple:
    """The union of intervals [start, stop) as sorted disjoint runs."""
    if starts.size == 0:
        return starts, stops
    order = np.argsort(starts, kind="stable")
    starts, reach = starts[order], np.maximum.accumulate(stops[order])
    new = np.r_[True, starts[1:] > reach[:-1]]
    ends = np.r_[np.flatnonzero(new)[1:] - 1, starts.size - 1]
    return starts[new], reach[ends]


def _missing_chunks(spec: dict, chunk_size: int, starts: np.ndarray, stops: np.ndarray):
    """(model, init, start, stop) for every range of missing samples, cut at multiples of
    chunk_size; ``starts``/``stops`` are the sorted disjoint runs of the finished rows. A generator:
    the list of chunks of a long scan is never built."""
    n_inits, n_samples = len(spec["inits"]), int(spec["n_samples"])
    run = 0
    for block in range(len(spec["models"]) * n_inits):
        base, position = block * n_samples, 0
        while position < n_samples:
            while run < starts.size and stops[run] <= base + position:
                run += 1
            if run < starts.size and starts[run] <= base + position:  # finished: skip to the run's end
                position = min(int(stops[run]) - base, n_samples)
                continue
            end = n_samples if run == starts.size else min(n_samples, int(starts[run]) - base)
            while position < end:
                stop = min(end, (position // chunk_size + 1) * chunk_size)
                yield block // n_inits, block % n_inits, position, stop
                position = stop


# -- files -------------------------------------------------------------------------------------
def parts_dir(path: pathlib.Path) -> pathlib.Path:
    """Where a checkpointed scan keeps one small file per finished chunk until it is merged."""
    return path.with_name(path.name + ".parts")


_PART_NAME = re.compile(r"m(\d+)-i(\d+)-s(\d+)\.npz")


def _part_name(rows: dict) -> str:
    return f"m{rows['model'][0]}-i{rows['init'][0]}-s{rows['sample'][0]}.npz"


def _scan_files(path: pathlib.Path) -> list:
    """The files of the scan saved at path: the merged file (when present), then the parts in
    (model, init, sample) order."""
    def order(part):
        match = _PART_NAME.fullmatch(part.name)
        return (0, *map(int, match.groups()), "") if match else (1, 0, 0, 0, part.name)

    return ([path] if path.exists() else []) + sorted(parts_dir(path).glob("*.npz"), key=order)


def _format_of(path: pathlib.Path, purpose: str = "") -> str:
    """'npz' or 'parquet' by the suffix; for purpose 'reading' or 'writing' a .parquet file, a
    ValueError saying so when pyarrow is missing."""
    if path.suffix == ".npz":
        return "npz"
    if path.suffix == ".parquet":
        if purpose:
            try:
                import pyarrow  # noqa: F401
            except ImportError:
                remedy = "or save the scan as .npz" if purpose == "reading" else "or use .npz"
                raise ValueError(f"{purpose} .parquet needs pyarrow: {install_hint('scan')}; {remedy}") from None
        return "parquet"
    raise ValueError(f"scan files end in .npz or .parquet, got {str(path)!r}")


def _checksum(header: str, rows: dict, columns) -> str:
    """SHA-256 of the header and of each column's name, dtype, length and bytes, in column order."""
    digest = hashlib.sha256(header.encode())
    for column in columns:
        values = np.ascontiguousarray(rows[column], dtype=column_dtype(column))
        digest.update(f"\0{column}:{values.dtype.str}:{values.size}\0".encode())
        digest.update(values.data)
    return digest.hexdigest()


def _write_scan_file(path: pathlib.Path, spec: dict, rows: dict) -> None:
    """Write rows and spec to a .npz or .parquet file, atomically (a temporary file, then a rename),
    so an interruption never leaves a half-written file; the directory is created if missing."""
    fmt = _format_of(path, "writing")
    columns = columns_for(spec["checks"])
    rows = {c: np.asarray(rows[c], dtype=column_dtype(c)) for c in columns}
    header = json.dumps({**spec, "version": FORMAT_VERSION})
    checksum = _checksum(header, rows, columns)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".partial")
    try:
        if fmt == "npz":
            with open(temporary, "wb") as handle:
                np.savez(handle, header=np.array(header), checksum=np.array(checksum), **rows)
        else:
            import pyarrow as pa
            import pyarrow.parquet as pq

            table = pa.table(rows).replace_schema_metadata(
                {b"intrinsic_flow_scan": header.encode(), b"intrinsic_flow_checksum": checksum.encode()})
            pq.write_table(table, temporary)
    except BaseException as error:
        temporary.unlink(missing_ok=True)
        # Ctrl-C inside np.savez makes zipfile's cleanup raise a ValueError that hides the
        # KeyboardInterrupt: an interruption must still read as one.
        if _caused_by_interrupt(error):
            raise KeyboardInterrupt() from None
        raise
    os.replace(temporary, path)


def _caused_by_interrupt(error: BaseException) -> bool:
    """Whether ``error`` is a KeyboardInterrupt or was raised while handling one."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return True
        seen.add(id(error))
        error = error.__context__
    return False


def _read_raw(path: pathlib.Path) -> tuple:
    """(header, checksum, rows) as stored in one .npz or .parquet scan file."""
    if _format_of(path, "reading") == "npz":
        # numpy leaks its own handle when the archive is damaged: open the file here
        with open(path, "rb") as handle, np.load(handle, allow_pickle=False) as data:
            if "header" not in data.files or "checksum" not in data.files:
                raise ValueError("no header or no checksum")
            return str(data["header"]), str(data["checksum"]), \
                {k: data[k] for k in data.files if k not in ("header", "checksum")}
    import pyarrow.parquet as pq

    table = pq.read_table(path)
    metadata = table.schema.metadata or {}
    if b"intrinsic_flow_scan" not in metadata:
        raise ValueError("no intrinsic_flow_scan metadata")
    return (metadata[b"intrinsic_flow_scan"].decode(), metadata.get(b"intrinsic_flow_checksum", b"").decode(),
            {name: table.column(name).to_numpy() for name in table.column_names})


def _read_scan_file(path: pathlib.Path) -> tuple:
    """(spec, rows) of one scan file, verified: ValueError naming the file when it cannot be
    parsed (truncated, overwritten, foreign), has another format version, lacks columns or does
    not match its checksum (rows or description edited)."""
    remedy = "remove it and its rows will be evaluated again"
    _format_of(path, "reading")  # a missing pyarrow is not a damaged file
    try:
        header, stored, rows = _read_raw(path)
        spec = json.loads(header)
        if not isinstance(spec, dict):
            raise ValueError("the header is not a scan description")
    except Exception as error:  # whatever fails while parsing, the file is damaged or foreign
        detail = str(error) if type(error) is ValueError else f"{type(error).__name__}: {error}"
        raise ValueError(f"scan file {str(path)!r} is damaged or not a scan file ({detail}); {remedy}") from None
    version = spec.pop("version", None)
    if version != FORMAT_VERSION:
        raise ValueError(f"scan file {str(path)!r} has format version {version!r}; this intrinsic-flow "
                         f"reads version {FORMAT_VERSION} only")
    columns = columns_for(spec.get("checks", ()))
    missing = [c for c in columns if c not in rows]
    shapes = {np.shape(rows[c]) for c in columns if c in rows}
    if missing or len(shapes) != 1 or len(shapes.pop()) != 1:
        raise ValueError(f"scan file {str(path)!r} is damaged: "
                         + (f"it lacks columns {missing}" if missing else "its columns differ in shape") + f"; {remedy}")
    if _checksum(header, rows, columns) != stored:
        raise ValueError(f"scan file {str(path)!r} is damaged: its rows or description do not match the "
                         f"checksum stored with them; {remedy}")
    return spec, {c: rows[c] for c in columns}


def _read_matching(path: pathlib.Path, spec: dict, reference: pathlib.Path) -> dict:
    """The rows of a file that must belong to the scan described by spec (read from reference)."""
    file_spec, rows = _read_scan_file(path)
    if file_spec != spec:
        raise ValueError(f"{str(path)!r} belongs to a different scan than {str(reference)!r}")
    return rows


def _survey(spec: dict, files: list, first_rows: dict) -> tuple:
    """Read (and so verify) every file once, keeping O(chunk) rows in memory: (kept files, runs
    of the rows they hold). A part whose rows the merged file (first) already holds is left out
    (a kill between the merge and the removal of the parts leaves both); other overlaps mean
    files from elsewhere and are refused."""
    kept, starts, stops, owners = [], [], [], []
    merged = (np.zeros(0, dtype=np.int64),) * 2
    for k, path in enumerate(files):
        rows = first_rows if k == 0 else _read_matching(path, spec, files[0])
        file_starts, file_stops = _runs(np.unique(row_index(spec, rows)))
        if k == 0:
            merged = (file_starts, file_stops)
        else:
            j = np.searchsorted(merged[0], file_starts, side="right") - 1
            if np.all((j >= 0) & (merged[1][np.maximum(j, 0)] >= file_stops)):
                continue
        kept.append(path)
        starts.append(file_starts)
        stops.append(file_stops)
        owners.append(np.full(file_starts.size, len(kept) - 1))
    starts, stops, owners = (np.concatenate(a) for a in (starts, stops, owners))
    order = np.argsort(starts, kind="stable")
    starts, stops, owners = starts[order], stops[order], owners[order]
    overlap = np.flatnonzero(starts[1:] < stops[:-1])
    if overlap.size:
        first, second = kept[owners[overlap[0]]], kept[owners[overlap[0] + 1]]
        raise ValueError(f"scan files {str(first)!r} and {str(second)!r} hold some of the same rows; remove one")
    return kept, starts, stops


def table_bytes(n_rows: int, checks) -> int:
    """Bytes of a scan table: rows x columns x 8 (bool columns counted as 8)."""
    return n_rows * len(columns_for(checks)) * 8


def result_bytes(spec: dict) -> int:
    """Bytes of the complete table of the scan described by spec."""
    return table_bytes(len(spec["models"]) * len(spec["inits"]) * int(spec["n_samples"]), spec["checks"])


def _fits_in_memory(spec: dict) -> bool:
    return result_bytes(spec) <= config.max_bytes


# -- the result --------------------------------------------------------------------------------
class ScanResult:
    """One row per (model, init, sample); rows of an unfinished scan are missing (``complete``).

    ``rows``: dict column -> array over the finished rows, ordered by (model, init, sample).
    Columns: model, init, sample (indices into ``models``, ``inits`` and 0..n_samples-1),
    rank_lift, rank_conserved, rank_joint, kernel_dim, recoverable, gap_lift, gap_conserved,
    gap_joint and, when kernel inclusion was checked, inclusion_residual, kernel_inclusion.

    A scan larger than ``config.max_bytes`` is ``on_disk``: ``files`` lists the scan files that
    hold its rows, ``chunks()`` reads them one at a time and ``rows`` raises ValueError (module
    docstring). Built by ``scan`` and ``load``; ``ScanResult(spec, rows)`` holds rows in memory.

    Attributes
    ----------
    models : list of models
    inits : list of (name, options)
    n_samples, seed : int
    checks : tuple of str
    columns : tuple of str
        The columns of ``rows``.
    files : tuple of paths or None
        The scan files of a scan ``on_disk``, else None.

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 5, progress=False)
    >>> result.n_rows, len(result), result.on_disk, result.rows["rank_lift"].shape
    (5, 5, False, (5,))
    """

    def __init__(self, spec: dict, rows: dict | None = None, *, files=None, runs=None) -> None:
        self.spec = spec
        self.models = [model_from_spec(m) for m in spec["models"]]
        self.inits = [parse_scheme((name, options)) for name, options in spec["inits"]]
        self.n_samples = int(spec["n_samples"])
        self.seed = int(spec["seed"])
        self.checks = tuple(spec["checks"])
        self.columns = columns_for(self.checks)
        self.files = None if files is None else tuple(files)
        if self.files is not None:
            self._rows, self._finished_runs = None, runs
            return
        missing = [c for c in self.columns if c not in rows]
        if missing:
            raise ValueError(f"scan table lacks columns {missing}")
        # ordered by (model, init, sample); a row present twice (a chunk saved in two files) kept once
        index, first = np.unique(row_index(spec, rows), return_index=True)
        self._rows = {c: np.asarray(rows[c])[first] for c in self.columns}
        self._finished_runs = _runs(index)

    @property
    def on_disk(self) -> bool:
        """True when the rows stay in ``files`` (a scan larger than config.max_bytes)."""
        return self.files is not None

    @property
    def rows(self) -> dict:
        """dict column -> ndarray of shape (len(self),): the finished rows in (model, init, sample)
        order. ValueError for a scan ``on_disk`` (read it with ``chunks()``)."""
        if self.on_disk:
            raise ValueError(
                f"the {self.n_rows} rows of this scan need {_checks._fmt_bytes(result_bytes(self.spec))}, more than "
                f"intrinsic_flow.config.max_bytes = {_checks._fmt_bytes(config.max_bytes)}, so they stay in "
                f"{len(self.files)} files beside {str(self.files[0])!r}: read them with chunks(), or raise "
                "config.max_bytes and load the scan again")
        return self._rows

    def chunks(self):
        """The finished rows, a dict column -> array at a time: all at once for a scan in memory,
        one file at a time (each verified) for a scan on disk.

        Yields
        ------
        dict
            column -> ndarray of shape (n,), n the rows of that chunk.

        Raises
        ------
        ValueError
            When a file on disk is damaged or holds another scan.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 5, progress=False)
        >>> sum(chunk["sample"].size for chunk in result.chunks())
        5
        """
        if not self.on_disk:
            yield self._rows
            return
        for path in self.files:
            yield _read_matching(path, self.spec, self.files[0])

    @property
    def n_rows(self) -> int:
        """Rows of the complete scan: models x inits x n_samples."""
        return len(self.models) * len(self.inits) * self.n_samples

    def __len__(self) -> int:
        starts, stops = self._finished_runs
        return int((stops - starts).sum())

    @property
    def complete(self) -> bool:
        """Whether every row is finished: len(self) == n_rows."""
        return len(self) == self.n_rows

    def finished(self) -> np.ndarray:
        """Boolean mask (n_rows,) of the finished rows in (model, init, sample) order.

        Returns
        -------
        ndarray of bool, shape (n_rows,)
            Row (m, i, s) is at m * len(inits) * n_samples + i * n_samples + s.

        Raises
        ------
        ValueError
            When the mask would exceed ``config.max_bytes``.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 5, progress=False)
        >>> result.finished().shape, bool(result.finished().all())
        ((5,), True)
        """
        _checks.check_size(self.n_rows, "the mask of finished rows", itemsize=1)
        mask = np.zeros(self.n_rows, dtype=bool)
        for start, stop in zip(*self._finished_runs):
            mask[start:stop] = True
        return mask

    def __repr__(self) -> str:
        where = f", on disk in {len(self.files)} files" if self.on_disk else ""
        return (f"ScanResult({len(self)}/{self.n_rows} rows, models={[model_name(m) for m in self.models]}, "
                f"inits={[format_scheme(*i) for i in self.inits]}, seed={self.seed}{where})")

    # -- summaries -----------------------------------------------------------------------------
    def summary(self) -> "ScanSummary":
        """Per (model, init): samples, fraction recoverable, fraction with kernel inclusion, and the
        histograms of rank dphi, rank [dphi; dh] and dim(ker dphi ∩ ker dh). Read chunk by chunk.

        Returns
        -------
        ScanSummary
            ``groups``: one dict per (model, init) with keys model, init, samples, n_params,
            recoverable, kernel_inclusion (when checked; fractions, NaN without samples) and the
            histograms rank_lift, rank_joint, kernel_dim ({value: count}); str() is a table.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 5, progress=False)
        >>> group = result.summary().groups[0]
        >>> group["samples"], group["recoverable"], group["rank_lift"]
        (5, 1.0, {6: 5})
        """
        n_groups, n_inits = len(self.models) * len(self.inits), len(self.inits)
        fractions = [c for c in ("recoverable", "kernel_inclusion") if c in self.columns]
        histograms = ("rank_lift", "rank_joint", "kernel_dim")
        counts = np.zeros(n_groups, dtype=np.int64)
        sums = {c: np.zeros(n_groups, dtype=np.int64) for c in fractions}
        values = {c: [collections.Counter() for _ in range(n_groups)] for c in histograms}
        for rows in self.chunks():
            group = rows["model"].astype(np.int64) * n_inits + rows["init"]
            counts += np.bincount(group, minlength=n_groups)
            for c in fractions:
                sums[c] += np.bincount(group[rows[c]], minlength=n_groups)
            for c in histograms:
                pairs, times = np.unique(np.stack([group, rows[c]]), axis=1, return_counts=True)
                for (g, value), count in zip(pairs.T.tolist(), times.tolist()):
                    values[c][g][value] += count
        groups = []
        for g in range(n_groups):
            model, (name, options) = self.models[g // n_inits], self.inits[g % n_inits]
            group = {"model": model_name(model), "init": format_scheme(name, options), "samples": int(counts[g]),
                     "n_params": model.n_params}
            for c in fractions:
                group[c] = float(sums[c][g] / counts[g]) if counts[g] else float("nan")
            for c in histograms:
                group[c] = dict(sorted(values[c][g].items()))
            groups.append(group)
        return ScanSummary(groups, complete=self.complete)

    def to_pandas(self):
        """The finished rows as a pandas DataFrame (model and init as display names).

        Returns
        -------
        pandas.DataFrame
            len(self) rows, one column per entry of ``columns``.

        Raises
        ------
        ImportError
            Without pandas.
        ValueError
            For a scan ``on_disk`` (as ``rows``).
        """
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - depends on the environment
            raise ImportError(f"to_pandas needs pandas: {install_hint('scan')}") from None
        rows = self.rows
        frame = pd.DataFrame({c: rows[c] for c in self.columns})
        frame["model"] = pd.Categorical.from_codes(rows["model"], [model_name(m) for m in self.models])
        frame["init"] = pd.Categorical.from_codes(rows["init"], [format_scheme(*i) for i in self.inits])
        return frame

    # -- files ---------------------------------------------------------------------------------
    def save(self, path) -> None:
        """Write the finished rows and the scan description with their SHA-256 checksum: ``.npz`` or
        ``.parquet`` (pyarrow). The file is replaced atomically, so an interruption never leaves a
        half-written file; a missing directory is created.

        Parameters
        ----------
        path : str or path
            Ends in ``.npz`` or ``.parquet``.

        Raises
        ------
        ValueError
            For another suffix, ``.parquet`` without pyarrow, or a scan ``on_disk`` (as ``rows``).

        See Also
        --------
        load
        """
        _write_scan_file(pathlib.Path(path), self.spec, self.rows)

    @classmethod
    def load(cls, path) -> "ScanResult":
        """Read a file written by ``save`` (and, for a checkpoint of an unfinished scan, the chunks
        saved beside it in ``<path>.parts/``). ValueError naming the file for another format
        version or a damaged file (checksum). A scan larger than config.max_bytes is returned on
        disk (``on_disk``), after every file has been read once.

        Parameters
        ----------
        path : str or path
            A ``.npz`` or ``.parquet`` scan file.

        Returns
        -------
        ScanResult

        Raises
        ------
        FileNotFoundError
            When neither the file nor its parts exist.
        ValueError
            When the file has another suffix or format version, is damaged, or is a ``.parquet`` file
            and pyarrow is missing.

        Examples
        --------
        >>> import os, tempfile
        >>> import intrinsic_flow as itf
        >>> from intrinsic_flow.scan import ScanResult
        >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 5, progress=False)
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     result.save(os.path.join(folder, "scan.npz"))
        ...     again = ScanResult.load(os.path.join(folder, "scan.npz"))
        >>> len(again), bool((again.rows["rank_joint"] == result.rows["rank_joint"]).all())
        (5, True)
        """
        path = pathlib.Path(path)
        _format_of(path)  # the suffix; pyarrow only when a .parquet file is read
        files = _scan_files(path)
        if not files:
            raise FileNotFoundError(f"scan file {str(path)!r} does not exist (nor its parts in "
                                    f"{str(parts_dir(path))!r})")
        spec, first = _read_scan_file(files[0])
        return cls._from_files(spec, files, first)

    @classmethod
    def _from_files(cls, spec: dict, files: list, first: dict) -> "ScanResult":
        if not _fits_in_memory(spec):
            kept, starts, stops = _survey(spec, files, first)
            return cls(spec, files=kept, runs=(starts, stops))
        tables = [first] + [_read_matching(f, spec, files[0]) for f in files[1:]]
        return cls(spec, {c: np.concatenate([t[c] for t in tables]) for c in columns_for(spec["checks"])})


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


def _check_timeout(timeout) -> float:
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float, np.integer, np.floating)) \
            or not math.isfinite(timeout) or timeout <= 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
    return float(timeout)


def _dask_client(address, timeout: float):
    """(client, what to close afterwards): a LocalCluster of 2 in-process workers when address is None."""
    try:
        from dask.distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"executor='dask' needs dask.distributed: {install_hint('dask')}") from None
    if address is None:
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=False, dashboard_address=None)
        client = Client(cluster)
        return client, [client, cluster]
    if isinstance(address, Client):
        return address, []
    if not isinstance(address, str):
        raise ValueError(f"address must be a scheduler address such as 'tcp://host:8786', a dask Client or None, "
                         f"got {address!r}")
    try:
        client = Client(address, timeout=timeout)
    except (OSError, TimeoutError) as error:  # asyncio's TimeoutError is not an OSError before Python 3.11
        raise ConnectionError(f"no Dask scheduler answered at {address!r} within timeout = {timeout:g} s "
                              f"({type(error).__name__}: {error})") from None
    return client, [client]


def _run(arguments, executor: str, address, timeout: float):
    """Yields the rows of each chunk as it finishes; ``arguments`` is an iterator over chunks."""
    if executor == "local":
        for args in arguments:
            yield evaluate_chunk(*args)
        return
    following = next(arguments, None)
    if following is None:  # nothing left to evaluate: no cluster needed
        return
    client, owned = _dask_client(address, timeout)
    try:
        from dask.distributed import as_completed

        def submit(args):
            return client.submit(evaluate_chunk, *args, pure=False)

        # a bounded window of chunks in flight, so that the rows held at once stay O(chunk_size)
        # whatever the number of chunks
        window = 2 * max(sum(client.nthreads().values()), 1) + 2
        pending = as_completed([submit(args) for args in itertools.chain([following], itertools.islice(arguments, window - 1))])
        for future in pending:
            rows = future.result()
            following = next(arguments, None)
            if following is not None:
                pending.add(submit(following))
            yield rows
    finally:
        # finished, interrupted (Ctrl-C) or failed: closing cancels tasks and comms, which distributed
        # reports in warnings and tracebacks that say nothing about the scan
        with _quiet_logs():
            for resource in owned:
                resource.close()


@contextlib.contextmanager
def _quiet_logs():
    """No log records below CRITICAL while inside (distributed logs from several loggers and threads)."""
    previous = logging.root.manager.disable
    logging.disable(logging.ERROR)
    try:
        yield
    finally:
        logging.disable(previous)


def scan(models: Model | Sequence[Model], n_samples: int, *, init: object = "gaussian", seed: int = 0,
         checks: Sequence[str] = CHECKS, progress: bool = True, executor: str = "local", address: str | None = None,
         timeout: float = 10.0, chunk_size: int = 1000, checkpoint: str | os.PathLike[str] | None = None,
         inclusion_tol: float | None = None, n_threads: int | None = None) -> ScanResult:
    """Evaluate the criteria at n_samples random points of each (model, init) pair.

    Row (m, i, s) is ``criteria(models[m], theta)`` at theta = ``models[m].init(rng, *inits[i])``,
    with rng = ``default_rng(SeedSequence(seed, spawn_key=(m, i, s)))``: every row is the same
    whatever the thread count, the chunking or the executor.

    Parameters
    ----------
    models : ReLUNet, LinearNet or DAGReLUNet, or a list of them
        The models.
    n_samples : int
        Samples per (model, init) pair, >= 1.
    init : str, (name, options) or a list of them, default "gaussian"
        Initialisation schemes (``"gaussian"``, ``"sparse:0.5"``, ``"relaxed_balanced:0.5"`` or
        ``(name, options)``).
    seed : int, default 0
        Non-negative seed of the whole scan.
    checks : sequence of str, default ("recoverable", "kernel_inclusion")
        A subset of ("recoverable", "kernel_inclusion"); ranks are always reported.
    progress : bool, default True
        A tqdm bar on a terminal only.
    executor : {"local", "dask"}, default "local"
        "local" (the core, parallel over samples) or "dask" (chunks sent to the cluster at
        ``address``, a LocalCluster of 2 workers when None); rows are identical either way.
    address : str, optional
        The Dask scheduler (executor "dask" only).
    timeout : float, default 10.0
        Seconds to wait for the Dask scheduler.
    chunk_size : int, default 1000
        Samples per unit of work.
    checkpoint : str or path, optional
        A .npz/.parquet path; finished chunks are saved at once (module docstring) and an existing
        partial run of the same scan is resumed.
    inclusion_tol : float, optional
        Threshold of kernel_inclusion (default ``INCLUSION_TOL`` = 1e-8).
    n_threads : int, optional
        Threads of the core's loops for each chunk (None: the process-wide ``set_num_threads``).

    Returns
    -------
    ScanResult
        One row per (model, init, sample): models x inits x n_samples rows.

    Raises
    ------
    ValueError
        When a model is not a ReLUNet, LinearNet or DAGReLUNet, an option is invalid (n_samples,
        chunk_size, seed, executor, timeout, init, checks, inclusion_tol, n_threads), the
        checkpoint holds a different scan or a damaged file, or the table exceeds
        ``config.max_bytes`` without a checkpoint (see Notes).
    ConnectionError
        With executor "dask", when no scheduler answers within ``timeout`` seconds.

    See Also
    --------
    criteria_batch, ScanResult

    Notes
    -----
    Memory: the table takes models x inits x n_samples rows x (at most 13) columns x 8 bytes.
    Above ``intrinsic_flow.config.max_bytes`` a scan without checkpoint is refused (ValueError,
    before any work) and a scan with one streams its rows to ``<checkpoint>.parts/``, holding
    O(chunk_size) rows, and returns a ScanResult ``on_disk``.

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> result = itf.scan(itf.ReLUNet([2, 3, 1]), 20, init=["gaussian", "sparse:0.3"], progress=False)
    >>> len(result), result.complete
    (40, True)
    >>> int(result.rows["rank_joint"][:20].min())  # Gaussian samples: all recoverable (D = 9)
    9
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
    timeout = _check_timeout(timeout)
    inits = [parse_scheme(spec) for spec in _as_list(init)]
    checks = _checks_of(checks)
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    if n_threads is not None:
        n_threads = _checks.positive_int(n_threads, "n_threads")
    spec = {"models": [model_spec(m) for m in models], "inits": [list(i) for i in inits], "n_samples": n_samples,
            "seed": int(seed), "checks": list(checks), "inclusion_tol": inclusion_tol}
    spec = json.loads(json.dumps(spec))  # the form it takes in a file, so that specs compare equal
    in_memory = _check_memory(spec, models, chunk_size, checkpoint)
    for model in models:  # fail early (unrealisable lambdas, unknown options) and refuse oversized work
        for name, options in inits:
            model.init(0, name, **options)
        criteria_rows(model, model.init(0)[None, :], "kernel_inclusion" in checks)

    done, kept, starts, stops = [], [], np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if checkpoint is not None:
        checkpoint = pathlib.Path(checkpoint)
        _format_of(checkpoint, "writing")
        checkpoint.parent.mkdir(parents=True, exist_ok=True)  # an unwritable path fails now, before any work
        files = _scan_files(checkpoint)
        if files:
            previous_spec, first = _read_scan_file(files[0])
            if previous_spec != spec:
                differ = sorted(k for k in spec if previous_spec.get(k) != spec[k])
                raise ValueError(f"checkpoint {str(checkpoint)!r} holds a different scan (differs in {differ}); "
                                 "remove it or choose another path")
            previous = ScanResult._from_files(spec, files, first)
            if in_memory:
                done = [previous.rows]
            else:
                kept = list(previous.files)
            starts, stops = previous._finished_runs

    arguments = ((models[m], inits[i], int(seed), m, i, start, stop, "kernel_inclusion" in checks, inclusion_tol,
                  n_threads)
                 for m, i, start, stop in _missing_chunks(spec, chunk_size, starts, stops))
    bar = _progress_bar(len(models) * len(inits) * n_samples, int((stops - starts).sum()), progress)
    new_parts, new_starts, new_stops = [], [], []
    try:
        for rows in _run(arguments, executor, address, timeout):
            if in_memory:
                done.append(rows)
            if bar is not None:
                bar.update(rows["sample"].size)
            if checkpoint is not None:  # one small file per finished chunk: a hard kill loses none
                new_parts.append(parts_dir(checkpoint) / _part_name(rows))
                _write_scan_file(new_parts[-1], spec, rows)
                index = row_index(spec, {c: rows[c][[0, -1]] for c in INDEX_COLUMNS})
                new_starts.append(index[0])
                new_stops.append(index[1] + 1)
    finally:
        if bar is not None:
            bar.close()
        if checkpoint is not None and in_memory:  # merge, then drop the parts (the merge is atomic)
            _merge(done, spec).save(checkpoint)
            shutil.rmtree(parts_dir(checkpoint), ignore_errors=True)
    if in_memory:
        return _merge(done, spec)
    runs = _union(np.r_[starts, np.array(new_starts, dtype=np.int64)], np.r_[stops, np.array(new_stops, dtype=np.int64)])
    holding = set(kept + new_parts)
    return ScanResult(spec, files=[f for f in _scan_files(checkpoint) if f in holding], runs=runs)


def _check_memory(spec: dict, models: list, chunk_size: int, checkpoint) -> bool:
    """Whether the rows fit in memory (config.max_bytes); ValueError, before any work, when they
    do not and there is no checkpoint to stream them to, or when one chunk does not fit."""
    n_rows = len(spec["models"]) * len(spec["inits"]) * spec["n_samples"]
    if n_rows >= MAX_ROWS:
        raise ValueError(f"a scan of {n_rows} rows (models x inits x n_samples = {len(spec['models'])} x "
                         f"{len(spec['inits'])} x {spec['n_samples']}) is beyond the {MAX_ROWS} rows a scan indexes")
    columns = len(columns_for(spec["checks"]))
    # one chunk in memory: its thetas (chunk_size x D), the criteria table and the rows
    chunk_size = min(chunk_size, spec["n_samples"])
    _checks.check_size(chunk_size * (max((m.n_params for m in models), default=0) + 2 * columns),
                       f"one chunk of the scan (chunk_size = {chunk_size} samples)")
    if _fits_in_memory(spec):
        return True
    if checkpoint is None:
        raise ValueError(
            f"a scan of {n_rows} rows (models x inits x n_samples = {len(spec['models'])} x {len(spec['inits'])} x "
            f"{spec['n_samples']}) x {columns} columns needs {_checks._fmt_bytes(result_bytes(spec))} in memory, "
            f"more than intrinsic_flow.config.max_bytes = {_checks._fmt_bytes(config.max_bytes)}; pass "
            "checkpoint=PATH (.npz or .parquet) to stream the rows to disk, lower n_samples, or raise config.max_bytes")
    return False


__all__ = ["scan", "ScanResult", "ScanSummary"]

# `import intrinsic_flow.scan` gives this module; calling it calls scan() (see _callable_module)
make_callable(__name__, scan)
