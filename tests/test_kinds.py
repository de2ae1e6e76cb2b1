"""The table of what each kind of model supports (intrinsic_flow._kinds) matches what the public
functions do, and a missing capability is a ValueError naming the function and the capability."""
from __future__ import annotations

import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref
from intrinsic_flow import _kinds
from intrinsic_flow.losses import Regression

MODELS = {"path": itf.ReLUNet([2, 2, 2]), "linear": itf.LinearNet([2, 2, 2]),
          "poly": itf.PolynomialMap([{(1, 1): 1}], 2), "node": itf.LinearNeuralODE(2, 3),
          "shared": itf.SharedReLUNet.from_dag(itf.ReLUNet([2, 2, 2]))}

# capability -> a call that needs it
CALLS = {
    "path_lifting": lambda backend, model: backend.balanced_representative(model, np.ones(model.n_params)),
    "lie_trace": lambda backend, model: backend.lie_trace(model),
    "regression": lambda backend, model: backend.gradient_flow(model, np.ones(model.n_params),
                                                               Regression(np.ones((3, 2)), np.ones((3, 2))), 0.1,
                                                               n_steps=2),
}


def test_every_model_class_has_a_row():
    assert set(MODELS) == set(_kinds.KINDS)
    for kind, model in MODELS.items():
        assert model.kind == kind and type(model).__name__ in _kinds.KINDS[kind].models


@pytest.mark.parametrize("backend", [itf, ref], ids=["core", "reference"])
@pytest.mark.parametrize("kind", sorted(MODELS))
@pytest.mark.parametrize("capability", sorted(CALLS))
def test_the_table_says_what_works(backend, kind, capability):
    model, call = MODELS[kind], CALLS[capability]
    if getattr(_kinds.KINDS[kind], capability):
        call(backend, model)
    else:
        with pytest.raises(ValueError, match=type(model).__name__):
            call(backend, model)


def test_a_missing_capability_names_the_function_and_who_has_it():
    with pytest.raises(ValueError, match=r"balanced_representative needs a path-lifting model \(ReLUNet, DAGReLUNet\), "
                                         r"got LinearNet \(its kind 'linear' has no 'path_lifting' capability\)"):
        itf.balanced_representative(MODELS["linear"], np.ones(8))
    with pytest.raises(ValueError, match=r"lie_trace needs a ReLUNet, DAGReLUNet, SharedReLUNet, LinearNet or PolynomialMap, "
                                         "got LinearNeuralODE"):
        itf.lie_trace(MODELS["node"])
    with pytest.raises(ValueError, match="expected a model of intrinsic_flow"):
        _kinds.support(object())
