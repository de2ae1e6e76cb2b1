"""Types of the public signatures: what a model offers every function, and array aliases."""
from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["Model", "ArrayLike", "Array", "IntArray"]

Array = NDArray[np.float64]
IntArray = NDArray[np.int64]


class Model(Protocol):
    """Any model of the package (ReLUNet, DAGReLUNet, LinearNet, PolynomialMap, LinearNeuralODE):
    a parameter count D = ``n_params``, a lifted size d = ``n_lifted`` and its ``kind``."""

    @property
    def kind(self) -> str: ...

    @property
    def n_params(self) -> int: ...

    @property
    def n_lifted(self) -> int: ...
