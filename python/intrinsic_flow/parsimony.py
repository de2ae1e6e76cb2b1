"""The law of parsimony in deep linear networks (Yaras et al., arXiv 2306.01154), on the C++ core.

Deep linear networks W_L ⋯ W_1 trained by gradient descent (with optional momentum) or by RK4 on
the gradient flow, with the C++ loops of ``_core`` (GIL released, no allocation per step): deep
matrix factorisation and its invariant subspace (``factorization``), the closed form of the
complement scale (``rho_flow``), the compressed network (``compress``), deep matrix completion
(``matrix_completion``) and progressive separation (``separation``, ``progressive_separation``).
Learning rates refer to the mean loss by default (``reduction="mean"``, the authors' convention),
to the sum loss with ``reduction="sum"``. ``intrinsic_flow.reference.parsimony`` has the same API
on NumPy loops. Mathematics: docs/theory/parsimony.md.
"""
from __future__ import annotations

from . import _core
from ._parsimony import (CompletionResult, CompressionResult, FactorizationResult, Parsimony,  # noqa: F401
                         SeparationResult, completion_problem, rho_flow, separation)

__all__ = ["factorization", "compress", "rho_flow", "matrix_completion", "completion_problem", "separation",
           "progressive_separation", "train", "FactorizationResult", "CompressionResult", "CompletionResult",
           "SeparationResult"]


class _CoreKernels:
    """The training loops of the C++ core (cpp/parsimony.cpp)."""

    descent = staticmethod(_core.deep_linear_descent)
    rk4 = staticmethod(_core.deep_linear_rk4)


_api = Parsimony(_CoreKernels())
# the public functions: bound methods of the one Parsimony front end (docstrings in _parsimony)
factorization = _api.factorization
compress = _api.compress
matrix_completion = _api.matrix_completion
progressive_separation = _api.progressive_separation
train = _api.train
