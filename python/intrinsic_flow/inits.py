"""Initialisation schemes: ``model.init(rng, scheme=...)`` draws a theta of shape (n_params,).

Schemes (``SCHEMES``): ``gaussian`` (He-scaled), ``uniform``, ``orthogonal`` (layered models),
``balanced`` (every known law h = 0), ``relaxed_balanced`` (LinearNet, conserved matrices
λ_l I, docs/theory/intrinsic.md), ``sparse`` (gaussian with weights zeroed with probability p: non-generic
points) and ``dead_neuron`` (gaussian with the incoming weights of one hidden neuron zeroed).
``parse_scheme("relaxed_balanced:0.5")`` reads the command-line form.
"""
from __future__ import annotations

import functools
import numbers

import numpy as np

from . import _checks
from ._graph import balance, checked_balanced
from ._kinds import supports


@functools.lru_cache(maxsize=64)
def _fan_in_of(model) -> np.ndarray:
    """Fan-in of the neuron each parameter enters (biases count as an input); cached, read only."""
    if model.kind == "shared":  # a shared parameter: the largest fan-in of the neurons its edges enter
        structure = model.structure
        per_neuron = np.bincount(structure.dst, minlength=model.n_neurons).astype(float)
        fan_in = np.zeros(model.n_params)
        on = ~structure.fixed
        np.maximum.at(fan_in, structure.param[on], per_neuron[structure.dst[on]])
    elif model.kind == "linear":
        fan_in = np.concatenate([np.full(model.widths[l] * model.widths[l - 1], model.widths[l - 1])
                                 for l in range(1, len(model.widths))])
    else:
        graph = model.graph
        per_neuron = np.zeros(graph.n_neurons)
        for t in graph.param_dst:
            per_neuron[t] += 1
        fan_in = per_neuron[np.asarray(graph.param_dst, dtype=int)]
    fan_in.flags.writeable = False
    return fan_in


def gaussian(model, rng: np.random.Generator) -> np.ndarray:
    """He-scaled Gaussian: theta_e ~ N(0, 2 / fan_in) (variance 1 / fan_in for linear nets)."""
    gain = 2.0 if supports(model, "relu") else 1.0
    return rng.standard_normal(model.n_params) * np.sqrt(gain / _fan_in_of(model))


def uniform(model, rng: np.random.Generator) -> np.ndarray:
    """Uniform on [-a, a] with the variance of ``gaussian``."""
    gain = 2.0 if supports(model, "relu") else 1.0
    bound = np.sqrt(3.0 * gain / _fan_in_of(model))
    return rng.uniform(-1.0, 1.0, model.n_params) * bound


def _random_orthogonal(rng: np.random.Generator, n: int) -> np.ndarray:
    """A Haar-distributed n x n orthogonal matrix (QR of a Gaussian matrix, signs fixed)."""
    q, r = np.linalg.qr(rng.standard_normal((n, n)))
    return q * np.sign(np.where(np.diag(r) == 0.0, 1.0, np.diag(r)))


def _layered(model, scheme: str):
    if not hasattr(model, "widths"):
        raise ValueError(f"init scheme {scheme!r} needs a layered model (ReLUNet or LinearNet), got {type(model).__name__}")


def orthogonal(model, rng: np.random.Generator) -> np.ndarray:
    """Each W_l a random semi-orthogonal (d_l, d_{l-1}) matrix (orthonormal rows or columns),
    times sqrt(2) for ReLU nets; ReLU biases as in ``gaussian``. Layered models only."""
    _layered(model, "orthogonal")
    gain = np.sqrt(2.0) if supports(model, "relu") else 1.0
    theta = gaussian(model, rng)  # biases keep their Gaussian draw
    offset = 0
    for l in range(1, len(model.widths)):
        rows, cols = model.widths[l], model.widths[l - 1]
        square = _random_orthogonal(rng, max(rows, cols))
        theta[offset:offset + rows * cols] = gain * square[:rows, :cols].ravel()
        offset += rows * cols
        if supports(model, "relu") and model.has_bias(l):
            offset += rows
    return theta


def _relaxed_singular_values(widths, lambdas, rng: np.random.Generator) -> list:
    """Squared singular values a[l][i] (l = 0..L-1, i < min(d_{l+1}, d_l)) such that, for every
    hidden layer l and direction i < d_l, a[l][i] - a[l-1][i] = λ_l, with a = 0 beyond the rank.

    Directions i of the chain are independent: along one, consecutive linked layers form a
    segment; a layer whose rank does not reach i pins the value 0, otherwise the segment's
    offset is free and drawn above its smallest feasible value (a generic point).
    """
    L = len(widths) - 1
    rank = [min(widths[l + 1], widths[l]) for l in range(L)]
    values = [np.zeros(r) for r in rank]
    for i in range(max(widths)):
        layer = 0
        while layer < L:
            segment = [layer]  # layers linked through hidden layers of width > i
            while segment[-1] + 1 < L and widths[segment[-1] + 1] > i:
                segment.append(segment[-1] + 1)
            layer = segment[-1] + 1
            offsets = np.concatenate([[0.0], np.cumsum([lambdas[k] for k in segment[:-1]])])  # a_k = t + offsets
            pinned = [k for k, l in enumerate(segment) if i >= rank[l]]
            if pinned:
                t = -offsets[pinned[0]]
                for k in pinned[1:]:
                    if not np.isclose(offsets[k] + t, 0.0, rtol=0.0, atol=1e-14):
                        l0, l1 = segment[pinned[0]], segment[k]
                        terms = " + ".join(f"lambda_{j}" for j in range(l0 + 1, l1 + 1))
                        raise ValueError(
                            f"relaxed_balanced: lambdas {list(lambdas)} cannot be realised for widths {list(widths)}: "
                            f"direction {i} is outside the range of W_{l0 + 1} and of W_{l1 + 1}, so the conserved "
                            f"matrices force {terms} = 0 there, got {offsets[k] - offsets[pinned[0]]:g}")
            else:
                t = -offsets.min() + rng.exponential(1.0)
            squared = t + offsets
            for k, l in enumerate(segment):
                if i >= rank[l]:
                    continue
                if squared[k] < 0:
                    raise ValueError(
                        f"relaxed_balanced: lambdas {list(lambdas)} cannot be realised for widths {list(widths)}: "
                        f"W_{l + 1} would need a negative squared singular value ({squared[k]:g}) in direction {i}, "
                        f"because a layer it is chained to has rank <= {i} (its singular value there is 0)")
                values[l][i] = squared[k]
    return values


def _lambdas_of(model, lambdas) -> list:
    from . import _checks

    n_hidden_layers = len(model.widths) - 2
    if isinstance(lambdas, numbers.Real) and not isinstance(lambdas, bool):
        return [_checks.finite_real(lambdas, "lambdas")] * n_hidden_layers
    values = _checks.as_array(lambdas, "lambdas")  # refuses strings and complex numbers
    if values.shape != (n_hidden_layers,) or not np.all(np.isfinite(values.astype(np.float64))):
        raise ValueError(f"lambdas must be a number or {n_hidden_layers} finite numbers (one per hidden layer "
                         f"of widths {list(model.widths)}), got {lambdas!r}")
    return [float(x) for x in values]


def relaxed_balanced(model, rng: np.random.Generator, lambdas=0.0) -> np.ndarray:
    """LinearNet with W_{l+1}^T W_{l+1} - W_l W_l^T = λ_l I for every hidden layer (docs/theory/intrinsic.md).

    Exact construction from an SVD chain: W_l = U_l Σ_l U_{l-1}^T with random orthogonal U_l, so
    both Gram matrices are diagonal in the basis U_l and the condition reads on singular values.
    ``lambdas``: one number (every hidden layer) or one per hidden layer. Raises ValueError saying
    which direction makes λ impossible for the shape (e.g. λ > 0 with a hidden layer wider than
    the output side can carry).
    """
    if model.kind != "linear":
        raise ValueError(f"relaxed_balanced is defined for LinearNet only, got {type(model).__name__}")
    widths = model.widths
    squared = _relaxed_singular_values(widths, _lambdas_of(model, lambdas), rng)
    bases = [_random_orthogonal(rng, w) for w in widths]
    layers = []
    for l in range(len(widths) - 1):
        sigma = np.zeros((widths[l + 1], widths[l]))
        sigma[np.arange(squared[l].size), np.arange(squared[l].size)] = np.sqrt(squared[l])
        layers.append(bases[l + 1] @ sigma @ bases[l].T)
    return model.flatten(layers)


def balanced(model, rng: np.random.Generator) -> np.ndarray:
    """Every known law zero: relaxed_balanced with λ = 0 for LinearNet; for ReLU models a gaussian
    draw moved to its balanced neuron rescaling (|incoming|^2 = |outgoing|^2 at each hidden neuron)."""
    if model.kind == "linear":
        return relaxed_balanced(model, rng, 0.0)
    if model.kind == "shared":
        raise ValueError("init scheme 'balanced' needs a model with one parameter per edge (ReLUNet, DAGReLUNet or "
                         "LinearNet); for SharedReLUNet use 'gaussian', 'uniform', 'sparse' or 'dead_neuron'")
    theta = gaussian(model, rng)
    return checked_balanced(model, balance(model.graph, theta), theta)


def sparse(model, rng: np.random.Generator, p: float = 0.5) -> np.ndarray:
    """Gaussian draw with each parameter zeroed independently with probability p (non-generic points)."""
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0.0 <= p <= 1.0:
        raise ValueError(f"sparse: p must be a probability in [0, 1], got {p!r}")
    theta = gaussian(model, rng)
    theta[rng.random(model.n_params) < p] = 0.0
    return theta


def incoming_params(model) -> list:
    """For each hidden neuron (layer by layer), the indices of its incoming weights and bias."""
    if model.kind == "linear":
        groups, offset = [], 0
        for l in range(1, len(model.widths) - 1):
            rows, cols = model.widths[l], model.widths[l - 1]
            groups.extend(list(range(offset + j * cols, offset + (j + 1) * cols)) for j in range(rows))
            offset += rows * cols
        return groups
    if model.kind == "shared":  # the parameters entering each channel
        return [list(np.flatnonzero(signs > 0)) for signs in model.structure.law_signs]
    dst = np.asarray(model.graph.param_dst)
    return [list(np.flatnonzero(dst == v)) for v in model.graph.hidden]


def dead_neuron(model, rng: np.random.Generator) -> np.ndarray:
    """Gaussian draw with the incoming weights (and bias) of one random hidden neuron set to 0."""
    groups = incoming_params(model)
    if not groups:
        raise ValueError(f"dead_neuron needs a hidden neuron; {model} has none")
    theta = gaussian(model, rng)
    theta[groups[rng.integers(len(groups))]] = 0.0
    return theta


SCHEMES = {"gaussian": gaussian, "uniform": uniform, "orthogonal": orthogonal, "balanced": balanced,
           "relaxed_balanced": relaxed_balanced, "sparse": sparse, "dead_neuron": dead_neuron}

# The option a "name:value" spec sets (parse_scheme).
_SPEC_OPTION = {"relaxed_balanced": "lambdas", "sparse": "p"}


def initialize(model, rng: np.random.Generator, scheme: str = "gaussian", **options) -> np.ndarray:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; accepted: {sorted(SCHEMES)}")
    _checks.check_size(model.n_params, "theta (n_params values)")  # before any scheme allocates
    try:
        return SCHEMES[scheme](model, rng, **options)
    except TypeError as error:
        raise ValueError(f"init scheme {scheme!r} got unexpected options {sorted(options)}: {error}") from None


def parse_scheme(spec) -> tuple:
    """``"sparse:0.5"`` -> ("sparse", {"p": 0.5}); ``"relaxed_balanced:0.5,-0.2"`` ->
    ("relaxed_balanced", {"lambdas": [0.5, -0.2]}); ``("sparse", {"p": 0.3})`` is returned as is.
    Raises ValueError for an unknown name or a malformed value."""
    if isinstance(spec, tuple) and len(spec) == 2 and isinstance(spec[1], dict):
        name, options = spec
    elif isinstance(spec, str):
        name, _, value = spec.partition(":")
        options = {}
        if value:
            if name not in _SPEC_OPTION:
                raise ValueError(f"init {spec!r}: scheme {name!r} takes no ':value' "
                                 f"(only {sorted(_SPEC_OPTION)} do)")
            try:
                numbers_ = [float(x) for x in value.split(",")]
            except ValueError:
                raise ValueError(f"init {spec!r}: expected numbers after ':', such as sparse:0.5") from None
            options = {_SPEC_OPTION[name]: numbers_[0] if len(numbers_) == 1 else numbers_}
    else:
        raise ValueError(f"init must be a scheme name such as 'gaussian' or 'sparse:0.5', or a (name, options) "
                         f"pair, got {spec!r}")
    if name not in SCHEMES:
        raise ValueError(f"unknown init scheme {name!r}; accepted: {sorted(SCHEMES)}")
    return name, dict(options)


def format_scheme(name: str, options: dict) -> str:
    """Inverse of parse_scheme for display: ("sparse", {"p": 0.5}) -> "sparse:0.5"."""
    if not options:
        return name
    values = [v for value in options.values() for v in np.atleast_1d(value)]
    return f"{name}:" + ",".join(f"{float(v):g}" for v in values)
