"""All input validation, shared by the core backend and the NumPy reference."""
from __future__ import annotations

import numbers
from typing import Sequence

import numpy as np

from ._config import config


def _fmt_bytes(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"  # pragma: no cover


def check_size(n_items: float, what: str, itemsize: int = 8) -> None:
    """Refuse before allocating when ``n_items`` values of ``itemsize`` bytes exceed config.max_bytes."""
    n_bytes = float(n_items) * itemsize
    if n_bytes > config.max_bytes:
        raise ValueError(
            f"{what} would need {_fmt_bytes(n_bytes)} ({int(n_items)} values), more than "
            f"intrinsic_flow.config.max_bytes = {_fmt_bytes(config.max_bytes)}; use a smaller model "
            "or batch, or raise config.max_bytes"
        )


def positive_int(value, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def widths(value: Sequence[int], name: str = "widths", min_len: int = 2) -> tuple:
    """A tuple of positive integer widths, input first."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__len__"):
        raise ValueError(f"{name} must be a sequence of positive integers, got {value!r}")
    if len(value) < min_len:
        raise ValueError(f"{name} must have at least {min_len} entries (input and output), got {list(value)}")
    for w in value:
        if isinstance(w, bool) or not isinstance(w, numbers.Integral) or w < 1:
            raise ValueError(f"{name} must contain positive integers only, got {list(value)}")
    return tuple(int(w) for w in value)


def finite_array(value, name: str, shape: tuple | None = None) -> np.ndarray:
    """A C-contiguous float64 array (float32, int and non-contiguous input are converted)."""
    try:
        array = np.ascontiguousarray(value, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of real numbers: {error}") from None
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} contains a non-finite value ({array[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
    return array


def theta(model, value, name: str = "theta") -> np.ndarray:
    """A flat parameter vector of length model.n_params."""
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat vector of length n_params = {model.n_params}, got shape {array.shape}")
    if array.shape != (model.n_params,):
        raise ValueError(f"{name} has shape {array.shape}, expected (n_params,) = ({model.n_params},)")
    return finite_array(array, name)


def thetas(model, value, name: str = "thetas") -> np.ndarray:
    """A batch of parameter vectors, shape (B, n_params) with B >= 1."""
    array = np.asarray(value) if not isinstance(value, np.ndarray) else value
    if array.ndim != 2 or array.shape[1] != model.n_params or array.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, n_params) = (B, {model.n_params}) with B >= 1, got {array.shape}")
    return finite_array(array, name)


def output_buffer(out, shape: tuple, layout: str, source: np.ndarray) -> np.ndarray:
    """A caller's output buffer: a float64, C-contiguous, writeable ndarray of exactly ``shape``
    (described as ``layout``) that shares no memory with the input ``source``."""
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray of shape {layout} = {shape}, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out has shape {out.shape}, expected {layout} = {shape}")
    if out.dtype != np.float64:
        raise ValueError(f"out has dtype {out.dtype}, expected float64")
    if not out.flags.c_contiguous:
        raise ValueError("out must be C-contiguous, got a strided or Fortran-order array")
    if not out.flags.writeable:
        raise ValueError("out is read-only; pass a writeable array")
    if np.may_share_memory(out, source):
        raise ValueError("out overlaps the input array; pass a separate buffer")
    return out


def rtol(value) -> float | None:
    if value is None:
        return None
    if not isinstance(value, numbers.Real) or not (0 < float(value) < 1):
        raise ValueError(f"rtol must be a number in (0, 1) or None, got {value!r}")
    return float(value)


def dag(n_inputs, n_outputs, edges, bias) -> tuple:
    """Validate a DAG description; returns (n_neurons, edges, bias) as tuples.

    Neurons are 0..n-1 with n = 1 + the largest index in edges; 0..n_inputs-1 are inputs and the
    last n_outputs are outputs. Raises ValueError for a cycle, a duplicate edge, an edge into an
    input or out of an output, or a dangling neuron (one that no path from an input or a bias to
    an output goes through).
    """
    n_inputs = positive_int(n_inputs, "n_inputs")
    n_outputs = positive_int(n_outputs, "n_outputs")
    try:
        edges = tuple((int(u), int(v)) for u, v in edges)
    except (TypeError, ValueError):
        raise ValueError(f"edges must be a sequence of (u, v) integer pairs, got {edges!r}") from None
    if not edges:
        raise ValueError("edges must not be empty")
    n = 1 + max(max(u, v) for u, v in edges)
    if min(min(u, v) for u, v in edges) < 0:
        raise ValueError(f"edges contain a negative neuron index: {edges}")
    if n_inputs + n_outputs > n:
        raise ValueError(f"n_inputs + n_outputs = {n_inputs + n_outputs} exceeds the {n} neurons named in edges")
    bias = tuple(int(b) for b in bias)
    first_output = n - n_outputs
    for b in bias:
        if not n_inputs <= b < n:
            raise ValueError(f"bias lists neuron {b}, but biases go on non-input neurons {n_inputs}..{n - 1}")
    if len(set(bias)) != len(bias):
        raise ValueError(f"bias lists a neuron twice: {bias}")
    if len(set(edges)) != len(edges):
        raise ValueError(f"edges contain a duplicate edge: {edges}")
    outgoing = {v: [] for v in range(n)}
    has_input = set(bias)
    for u, v in edges:
        if u == v:
            raise ValueError(f"edge ({u}, {v}) is a self-loop: the graph must be acyclic")
        if v < n_inputs:
            raise ValueError(f"edge ({u}, {v}) enters input neuron {v}")
        if u >= first_output:
            raise ValueError(f"edge ({u}, {v}) leaves output neuron {u}")
        outgoing[u].append(v)
        has_input.add(v)
    _check_acyclic(n, outgoing)
    for v in range(n):
        if v < first_output and not outgoing[v]:
            raise ValueError(f"neuron {v} is dangling: it has no outgoing edge")
        if v >= n_inputs and v not in has_input:
            raise ValueError(f"neuron {v} is dangling: it has no incoming edge and no bias")
    return n, edges, bias


def _check_acyclic(n: int, outgoing: dict) -> None:
    state = [0] * n  # 0 new, 1 on the stack, 2 done
    for root in range(n):
        if state[root]:
            continue
        stack = [(root, iter(outgoing[root]))]
        state[root] = 1
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                state[node] = 2
                stack.pop()
            elif state[child] == 1:
                raise ValueError(f"edges contain a cycle through neuron {child}")
            elif state[child] == 0:
                state[child] = 1
                stack.append((child, iter(outgoing[child])))


def nonnegative_int(value, name: str) -> int:
    """An integer >= 0 (a degree, a count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _coefficient(value, where: str):
    from fractions import Fraction

    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{where}: coefficient must be a real number (int, Fraction or float), got {value!r}")
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, float) and not np.isfinite(value):
        raise ValueError(f"{where}: coefficient must be finite, got {value!r}")
    value = Fraction(value)
    return int(value) if value.denominator == 1 else value


def polynomials(polys, n_vars) -> tuple:
    """Validate a PolynomialMap: returns (n_vars, polys as a tuple of sorted (exponents, coeff) tuples).

    Each polynomial is a dict {exponent tuple: coefficient}; every exponent tuple must have
    length n_vars and non-negative integer entries."""
    n_vars = positive_int(n_vars, "n_vars")
    if isinstance(polys, dict) or not hasattr(polys, "__len__") or len(polys) == 0:
        raise ValueError(f"polys must be a non-empty sequence of dicts {{exponent tuple: coefficient}}, got {polys!r}")
    checked = []
    for q, poly in enumerate(polys):
        items = poly.items() if isinstance(poly, dict) else poly
        terms = {}
        for exponents, coefficient in items:
            try:
                exponents = tuple(exponents)
            except TypeError:
                raise ValueError(f"polys[{q}]: exponents must be a tuple of {n_vars} integers, got {exponents!r}") from None
            if len(exponents) != n_vars:
                raise ValueError(f"polys[{q}] has an exponent tuple of length {len(exponents)} ({exponents}), "
                                 f"but n_vars = {n_vars}: every polynomial must use the same {n_vars} variables")
            if any(isinstance(e, bool) or not isinstance(e, numbers.Integral) or e < 0 for e in exponents):
                raise ValueError(f"polys[{q}]: exponents must be non-negative integers, got {exponents}")
            exponents = tuple(int(e) for e in exponents)
            terms[exponents] = terms.get(exponents, 0) + _coefficient(coefficient, f"polys[{q}][{exponents}]")
        checked.append(tuple(sorted((e, c) for e, c in terms.items() if c != 0)))
    return n_vars, tuple(checked)
