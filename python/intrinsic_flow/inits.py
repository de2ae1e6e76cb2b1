"""Initialisation schemes: ``model.init(rng, scheme=...)`` draws a theta of shape (n_params,)."""
from __future__ import annotations

import numpy as np


def _fan_in_of(model) -> np.ndarray:
    """Fan-in of the neuron each parameter enters (biases count as an input)."""
    if model.kind == "linear":
        return np.concatenate([np.full(model.widths[l] * model.widths[l - 1], model.widths[l - 1])
                               for l in range(1, len(model.widths))])
    graph = model.graph
    fan_in = np.zeros(graph.n_neurons)
    for t in graph.param_dst:
        fan_in[t] += 1
    return fan_in[np.asarray(graph.param_dst, dtype=int)]


def gaussian(model, rng: np.random.Generator) -> np.ndarray:
    """He-scaled Gaussian: theta_e ~ N(0, 2 / fan_in) (variance 1 / fan_in for linear nets)."""
    gain = 1.0 if model.kind == "linear" else 2.0
    return rng.standard_normal(model.n_params) * np.sqrt(gain / _fan_in_of(model))


def uniform(model, rng: np.random.Generator) -> np.ndarray:
    """Uniform on [-a, a] with the variance of ``gaussian``."""
    gain = 1.0 if model.kind == "linear" else 2.0
    bound = np.sqrt(3.0 * gain / _fan_in_of(model))
    return rng.uniform(-1.0, 1.0, model.n_params) * bound


SCHEMES = {"gaussian": gaussian, "uniform": uniform}


def initialize(model, rng: np.random.Generator, scheme: str = "gaussian", **options) -> np.ndarray:
    if scheme not in SCHEMES:
        raise ValueError(f"unknown init scheme {scheme!r}; accepted: {sorted(SCHEMES)}")
    return SCHEMES[scheme](model, rng, **options)
