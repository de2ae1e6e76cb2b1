"""What each kind of model supports: one table, read wherever a capability is needed.

A model declares its ``kind`` ("path", "linear", "poly", "node"); the functions that work only
for some kinds ask ``require(model, capability, what)``, which raises a ValueError naming the
function, the capability missing and the models that have it. A new kind of model is one row
here (and its lifting class in each backend's table of liftings).
"""
from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class KindSupport:
    """The capabilities of one kind of model (True: supported)."""

    models: tuple  # the public classes of this kind, for messages
    path_lifting: bool  # phi_p = prod of parameters along paths: exact ranks, balancing, path tables
    core_kernel: bool  # the core has a kernel for its geometry (False: the shared NumPy kernel)
    lie_trace: bool  # lie_trace, count_conservation_laws, known_laws_complete
    matrix_chain: bool  # phi = W_L ... W_1: gradients by backpropagation without a Jacobian
    regression: bool  # Regression losses (a network with data inputs)
    relu: bool  # ReLU activations: He gain 2 in the inits, activation masks in backpropagation


KINDS = {
    "path": KindSupport(("ReLUNet", "DAGReLUNet"), path_lifting=True, core_kernel=True, lie_trace=True,
                        matrix_chain=False, regression=True, relu=True),
    # edges carrying shared parameters or fixed weights: the core's path kernels run on the graph of
    # edges, composed in NumPy with theta -> edge weights (no one-edge-per-parameter graph)
    "shared": KindSupport(("SharedReLUNet",), path_lifting=False, core_kernel=False, lie_trace=True,
                          matrix_chain=False, regression=False, relu=True),
    "linear": KindSupport(("LinearNet",), path_lifting=False, core_kernel=True, lie_trace=True,
                          matrix_chain=True, regression=True, relu=False),
    "poly": KindSupport(("PolynomialMap",), path_lifting=False, core_kernel=False, lie_trace=True,
                        matrix_chain=False, regression=False, relu=False),
    "node": KindSupport(("LinearNeuralODE",), path_lifting=False, core_kernel=True, lie_trace=False,
                        matrix_chain=True, regression=True, relu=False),
}

CAPABILITIES = tuple(f.name for f in fields(KindSupport) if f.name != "models")

# How a message names the models with a capability.
_LABELS = {"path_lifting": "a path-lifting model ({})"}


def support(model) -> KindSupport:
    """The row of model's kind; ValueError for an object that is not a model of the package."""
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise ValueError(f"expected a model of intrinsic_flow (ReLUNet, DAGReLUNet, SharedReLUNet, LinearNet, PolynomialMap or "
                         f"LinearNeuralODE), got {model!r}")
    return KINDS[kind]


def supports(model, capability: str) -> bool:
    return getattr(support(model), capability)


def models_with(capability: str) -> str:
    """'A, B or C': the public classes whose kind has the capability, in table order."""
    names = [name for row in KINDS.values() if getattr(row, capability) for name in row.models]
    listed = ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]
    return _LABELS.get(capability, "a {}").format(", ".join(names) if capability in _LABELS else listed)


def require(model, capability: str, what: str) -> None:
    """ValueError naming ``what``, the missing ``capability`` and the models that have it."""
    if capability not in CAPABILITIES:  # pragma: no cover - a typo in the package
        raise KeyError(capability)
    kind = getattr(model, "kind", None)
    if kind not in KINDS:
        raise ValueError(f"{what} needs {models_with(capability)}, got {model!r}")
    if not getattr(KINDS[kind], capability):
        raise ValueError(f"{what} needs {models_with(capability)}, got {type(model).__name__} "
                         f"(its kind {kind!r} has no {capability!r} capability)")
