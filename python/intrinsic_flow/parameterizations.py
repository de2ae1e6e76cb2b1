"""abc-parameterisations of deep fully connected networks on the C++ core (cpp/parameterizations).

Integrable parameterisations (IP), IP-LLR, muP, NTK and the standard parameterisation as in
Hajjar, Chizat, Giraud, *Training integrable parameterizations of deep neural networks in the
infinite-width limit* (arXiv 2110.15596): their exponent table (:func:`abc_exponents`), networks
(:func:`abc_network`), coordinate checks against width (:func:`coord_check`) and training
(:func:`train`). The core runs forward, backward and SGD (Eigen products in fixed blocks over
OpenMP threads, so results do not depend on the thread count; the GIL is released). Same
functions and results (to 1e-12) as ``intrinsic_flow.reference.parameterizations``. The
mathematics is in docs/theory/parameterizations.md.
"""
from __future__ import annotations

from . import _core
from ._parameterizations import (ACTIVATIONS, SCHEMES, AbcModel, abc_exponents, bias_lr_exponents, bind_api,
                                 stable_rank)

AbcNetwork = _core.AbcNetwork

_api = bind_api(AbcNetwork, __name__)
abc_network = _api["abc_network"]
calibrate_base_lrs = _api["calibrate_base_lrs"]
coord_check = _api["coord_check"]
train = _api["train"]

__all__ = ["ACTIVATIONS", "SCHEMES", "AbcModel", "AbcNetwork", "abc_exponents", "abc_network", "bias_lr_exponents",
           "calibrate_base_lrs", "coord_check", "stable_rank", "train"]
