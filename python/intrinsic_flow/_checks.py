"""All input validation, shared by the core backend and the NumPy reference."""
from __future__ import annotations

import collections.abc
import math
import numbers
from typing import Sequence

import numpy as np



def _fmt_bytes(n_bytes: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n_bytes < 1024 or unit == "TiB":
            return f"{n_bytes:.1f} {unit}" if unit != "B" else f"{int(n_bytes)} B"
        n_bytes /= 1024
    return f"{n_bytes:.1f} TiB"  # pragma: no cover


def check_size(n_items: float, what: str, itemsize: int = 8) -> None:
    """Refuse before allocating when ``n_items`` values of ``itemsize`` bytes exceed config.max_bytes."""
    try:
        n_bytes = float(n_items) * itemsize
    except OverflowError:  # an integer count beyond the float range
        n_bytes = math.inf
    if n_bytes > config.max_bytes:
        if isinstance(n_items, int):
            digits = str(n_items)
            count = digits if len(digits) <= 16 else f"about 1e{len(digits) - 1}"
        else:
            count = f"{float(n_items):.3g}"
        raise ValueError(
            f"{what} would need {_fmt_bytes(n_bytes)} ({count} values), more than "
            f"intrinsic_flow.config.max_bytes = {_fmt_bytes(config.max_bytes)}; use a smaller model "
            "or batch, or raise config.max_bytes"
        )


def max_bytes(value) -> int:
    """A memory budget in bytes: a positive integer (a float such as 4e9 is accepted when it is a
    whole number). NaN, infinities, zero, negatives and fractions are refused: any of them would
    turn every size guard off or make every call fail."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise ValueError(f"intrinsic_flow.config.max_bytes must be a positive integer number of bytes, got {value!r}")
    if isinstance(value, numbers.Integral):
        budget = int(value)
    elif math.isfinite(float(value)) and float(value).is_integer():
        budget = int(float(value))
    else:
        raise ValueError(f"intrinsic_flow.config.max_bytes must be a positive integer number of bytes, got {value!r}")
    if budget < 1:
        raise ValueError(f"intrinsic_flow.config.max_bytes must be a positive integer number of bytes, got {value!r}")
    return budget


# -- settings: the Config is validated here, so _checks needs no other module ------------------
class Config:
    """Library-wide settings.

    ``max_bytes``: the largest dense result (or working array) a call may allocate, in bytes
    (default 2 GiB). A call that would need more raises ``ValueError`` naming the size, before
    allocating anything. It must be a positive integer (a whole float such as ``4e9`` is read as
    one); NaN, infinities, zero, negatives and fractions raise ValueError.
    """

    def __init__(self) -> None:
        self._max_bytes: int = 2 * 1024**3

    @property
    def max_bytes(self) -> int:
        return self._max_bytes

    @max_bytes.setter
    def max_bytes(self, value) -> None:
        self._max_bytes = max_bytes(value)

    def __repr__(self) -> str:
        return f"Config(max_bytes={self.max_bytes})"


config = Config()


PYTHON_LIST_ENTRY_BYTES = 36
"""Bytes per entry of a Python list of ints (an 8-byte pointer and a 28-byte int object)."""


def check_graph_size(n_params: int) -> None:
    """Refuse, before building it, a parameter graph (two Python lists of n_params neuron ids)
    beyond config.max_bytes."""
    check_size(2.0 * n_params, "the parameter graph of the model (two lists of n_params neuron ids)",
               itemsize=PYTHON_LIST_ENTRY_BYTES)


def _ordered(value, name: str, what: str):
    """value as a list when it is ordered (list, tuple, range, 1-D array, iterator); sets and
    dicts are refused (their order is not the one the user wrote), and so are strings."""
    if isinstance(value, np.ndarray):
        if value.ndim == 0:
            raise ValueError(f"{name} must be a list or tuple of {what}, got a 0-d array {value!r}")
        return list(value)
    if isinstance(value, (collections.abc.Set, collections.abc.Mapping, collections.abc.ValuesView)):
        raise ValueError(f"{name} must be a list or tuple of {what}, got a {type(value).__name__}, whose order is not "
                         f"the one written: {value!r}")
    if isinstance(value, (str, bytes)) or not isinstance(value, (collections.abc.Sequence, collections.abc.Iterator)):
        raise ValueError(f"{name} must be a list or tuple of {what}, got {value!r}")
    return list(value)


def is_integer(value) -> bool:
    """A Python or NumPy integer (bools are not integers here)."""
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def boolean(value, name: str) -> bool:
    """True or False (Python or NumPy bool)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise ValueError(f"{name} must be True or False, got {value!r}")


def relu_bias(value):
    """The ``bias`` of a ReLUNet: False, True (Python or NumPy bools) or "hidden"."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, str) and value == "hidden":
        return value
    raise ValueError(f"bias must be False, True or 'hidden', got {value!r}")


def positive_real(value, name: str) -> float:
    """A finite number > 0."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not 0 < float(value) < math.inf:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def finite_real(value, name: str) -> float:
    """A finite number."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def positive_int(value, name: str, minimum: int = 1) -> int:
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def widths(value: Sequence[int], name: str = "widths", min_len: int = 2) -> tuple:
    """A tuple of positive integer widths, input first (a list, tuple or 1-D integer array: sets
    and other unordered containers are refused)."""
    value = _ordered(value, name, "positive integers")
    if len(value) < min_len:
        raise ValueError(f"{name} must have at least {min_len} entries (input and output), got {value}")
    for w in value:
        if not is_integer(w) or w < 1:
            raise ValueError(f"{name} must contain positive integers only, got {value}")
    return tuple(int(w) for w in value)


REAL_KINDS = "biuf"
"""NumPy dtype kinds read as real numbers: bool, signed and unsigned integers, floats."""


def as_array(value, name: str) -> np.ndarray:
    """value as a NumPy array of real numbers, without copying an array (no float conversion yet).

    Complex values (their imaginary part would be dropped), strings (they would be parsed),
    datetimes and objects that are not real numbers are refused."""
    try:
        array = value if isinstance(value, np.ndarray) else np.asarray(value)
    except (TypeError, ValueError) as error:
        raise ValueError(f"{name} must be an array of real numbers: {error}") from None
    if array.dtype.kind == "O":
        if not all(isinstance(v, numbers.Real) for v in array.flat):
            bad = next(v for v in array.flat if not isinstance(v, numbers.Real))
            raise ValueError(f"{name} must be an array of real numbers, got an element {bad!r} "
                             f"of type {type(bad).__name__}")
        return array
    if array.dtype.kind not in REAL_KINDS:
        raise ValueError(f"{name} must be an array of real numbers (float, int or bool dtype), got dtype "
                         f"{array.dtype}" + (" (the imaginary part would be lost)" if array.dtype.kind == "c" else ""))
    return array


def finite_array(value, name: str, shape: tuple | None = None) -> np.ndarray:
    """A C-contiguous float64 array (float32, int and non-contiguous input are converted; a copy
    beyond config.max_bytes, such as of a broadcast view, is refused before it is made)."""
    array = as_array(value, name)
    if shape is not None and array.shape != shape:
        raise ValueError(f"{name} has shape {array.shape}, expected {shape}")
    if array.dtype != np.float64 or not array.flags.c_contiguous:
        check_size(array.size, f"a contiguous float64 copy of {name} (shape {array.shape})")
    try:
        array = np.ascontiguousarray(array, dtype=np.float64)
    except (TypeError, ValueError, OverflowError) as error:
        raise ValueError(f"{name} must be an array of real numbers: {error}") from None
    if not np.all(np.isfinite(array)):
        bad = np.argwhere(~np.isfinite(array))[0]
        raise ValueError(f"{name} contains a non-finite value ({array[tuple(bad)]}) at index {tuple(int(i) for i in bad)}")
    return array


def theta(model, value, name: str = "theta") -> np.ndarray:
    """A flat parameter vector of length model.n_params (shape checked before any conversion)."""
    array = as_array(value, name)
    if array.ndim != 1:
        raise ValueError(f"{name} must be a flat vector of length n_params = {model.n_params}, got shape {array.shape}")
    if array.shape != (model.n_params,):
        raise ValueError(f"{name} has shape {array.shape}, expected (n_params,) = ({model.n_params},)")
    return finite_array(array, name)


def thetas(model, value, name: str = "thetas", row_width: float = 0, what: str = "") -> np.ndarray:
    """A batch of parameter vectors, shape (B, n_params) with B >= 1.

    With ``row_width``, a result of B x row_width values (``what``) is refused beyond
    config.max_bytes from the shape alone, before the input is converted or copied."""
    array = as_array(value, name)
    if array.ndim != 2 or array.shape[1] != model.n_params or array.shape[0] < 1:
        raise ValueError(f"{name} must have shape (B, n_params) = (B, {model.n_params}) with B >= 1, got {array.shape}")
    if row_width:
        check_size(float(array.shape[0]) * row_width, what)
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
    edges = tuple(_edge(edge, k) for k, edge in enumerate(_ordered(edges, "edges", "(u, v) integer pairs")))
    if not edges:
        raise ValueError("edges must not be empty")
    bias = tuple(_neuron_id(b, f"bias[{k}]") for k, b in enumerate(_ordered(bias, "bias", "neuron indices")))
    n = 1 + max(max(u, v) for u, v in edges)
    if min(min(u, v) for u, v in edges) < 0:
        raise ValueError(f"edges contain a negative neuron index: {edges}")
    if n_inputs + n_outputs > n:
        raise ValueError(f"n_inputs + n_outputs = {n_inputs + n_outputs} exceeds the {n} neurons named in edges")
    # Every neuron 0..n-1 must be named by an edge or a bias (else it is dangling), so n is bounded
    # by the edges actually given: checked before anything of size n is allocated.
    for b in bias:
        if not n_inputs <= b < n:
            raise ValueError(f"bias lists neuron {b}, but biases go on non-input neurons {n_inputs}..{n - 1}")
    named = {u for edge in edges for u in edge} | set(bias)
    if len(named) < n:
        missing = next(v for v in range(n) if v not in named)
        raise ValueError(f"neuron {missing} is dangling: no edge or bias names it (neurons are 0..n-1 with n = 1 + the "
                         f"largest index in edges = {n}, but edges and bias name only {len(named)} distinct neurons)")
    first_output = n - n_outputs
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


def _neuron_id(value, name: str) -> int:
    if not is_integer(value):
        raise ValueError(f"{name} must be an integer neuron index, got {value!r}")
    return int(value)


def _edge(edge, k: int) -> tuple:
    """Edge k as a pair of integer neuron indices (a float such as 1.7 is refused, never truncated)."""
    if isinstance(edge, (str, bytes)) or not isinstance(edge, (collections.abc.Sequence, np.ndarray)) or len(edge) != 2:
        raise ValueError(f"edges[{k}] must be a (u, v) pair of integer neuron indices, got {edge!r}")
    return _neuron_id(edge[0], f"edges[{k}][0]"), _neuron_id(edge[1], f"edges[{k}][1]")


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
    if not is_integer(value) or value < 0:
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


POLY_MAX_DEGREE = 1000
"""Largest total degree of a monomial of a PolynomialMap. Its terms are stored as lists of their
variables (x_0^2 x_3 is (0, 0, 3)), so the degree is a size; and the exact Lie count's error bound
2 D^2 delta / p grows with it (module docstring of intrinsic_flow.reference.lie)."""


def polynomials(polys, n_vars) -> tuple:
    """Validate a PolynomialMap: returns (n_vars, polys as a tuple of sorted (exponents, coeff) tuples).

    Each polynomial is a dict {exponent tuple: coefficient}; every exponent tuple must have
    length n_vars and non-negative integer entries summing to at most POLY_MAX_DEGREE."""
    n_vars = positive_int(n_vars, "n_vars")
    polys = _ordered(polys, "polys", "dicts {exponent tuple: coefficient}")
    if len(polys) == 0:
        raise ValueError(f"polys must be a non-empty sequence of dicts {{exponent tuple: coefficient}}, got {polys!r}")
    checked = []
    for q, poly in enumerate(polys):
        items = poly.items() if isinstance(poly, dict) else _ordered(poly, f"polys[{q}]", "(exponents, coefficient) pairs")
        terms = {}
        for item in items:
            if isinstance(item, (str, bytes)) or not isinstance(item, (collections.abc.Sequence, np.ndarray)) or len(item) != 2:
                raise ValueError(f"polys[{q}] must be a dict {{exponent tuple: coefficient}}, got the term {item!r}")
            exponents, coefficient = item
            exponents = tuple(_ordered(exponents, f"polys[{q}]: exponents", f"{n_vars} integers"))
            if len(exponents) != n_vars:
                raise ValueError(f"polys[{q}] has an exponent tuple of length {len(exponents)} ({exponents}), "
                                 f"but n_vars = {n_vars}: every polynomial must use the same {n_vars} variables")
            if any(not is_integer(e) or e < 0 for e in exponents):
                raise ValueError(f"polys[{q}]: exponents must be non-negative integers, got {exponents}")
            exponents = tuple(int(e) for e in exponents)
            if sum(exponents) > POLY_MAX_DEGREE:
                raise ValueError(f"polys[{q}] has a monomial of total degree {sum(exponents)}, more than "
                                 f"the supported bound POLY_MAX_DEGREE = {POLY_MAX_DEGREE} (see PolynomialMap)")
            terms[exponents] = terms.get(exponents, 0) + _coefficient(coefficient, f"polys[{q}][{exponents}]")
        checked.append(tuple(sorted((e, c) for e, c in terms.items() if c != 0)))
    return n_vars, tuple(checked)


def resolve_rng(rng) -> np.random.Generator:
    """``rng`` as a NumPy Generator: a Generator as is, an integer seed or None (fresh entropy) through
    ``np.random.default_rng``; anything else is refused by name."""
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or is_integer(rng):
        return np.random.default_rng(rng)
    raise ValueError(f"rng must be a numpy Generator, an integer seed or None, got {rng!r}")
