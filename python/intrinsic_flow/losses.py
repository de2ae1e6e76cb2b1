"""Losses for flows, shared by both backends.

A loss is one of:

- ``LiftedQuadratic(target, weights=None)``: f(z) = 1/2 ||w * (z - target)||^2, a function of z;
- ``Regression(X, Y)``: the mean squared error l(theta) = 1/(2n) sum_i ||g_theta(x_i) - y_i||^2 of
  the network on data X (n, d_in), Y (n, d_out). For linear models (LinearNet, LinearNeuralODE)
  it is a function of z: f(Z) = 1/(2n) ||X Z^T - Y||_F^2 with Z = z.reshape(d_out, d_in); for ReLU
  networks it depends on the activation pattern, so only theta-flows accept it;
- any Python callable ``f(z) -> (value, gradient)`` with gradient of shape (d,): the slow path
  (one call into Python per right-side evaluation, integrated by the NumPy integrators).

Calling a ``LiftedQuadratic`` (or a ``Regression`` on a linear model) on z gives ``(f(z), grad f(z))``.
"""
from __future__ import annotations

from typing import Callable, Tuple, Union

import numpy as np

from . import _checks
from ._kinds import supports
from ._typing import Array, ArrayLike

__all__ = ["LiftedQuadratic", "Regression"]


class LiftedQuadratic:
    r"""f(z) = 1/2 sum_p w_p^2 (z_p - target_p)^2; target (d,), weights (d,) or None (all ones).

    A loss of the lifted variable :math:`z = \phi(\theta)`:

    .. math::

        f(z) = \frac12 \sum_p w_p^2 (z_p - t_p)^2, \qquad \nabla f(z) = w^2 \odot (z - t),

    (:math:`t` the target), and the flows compute the gradient in theta as
    :math:`J^\top \nabla f(z)` (:math:`J = \partial\phi(\theta)`) in the core.

    Parameters
    ----------
    target : array_like of shape (d,)
        The target in z, d = ``model.n_lifted`` of the model it is used with.
    weights : array_like of shape (d,), optional
        The weights w (default: all ones).

    Attributes
    ----------
    target : ndarray of shape (d,)
    weights : ndarray of shape (d,) or None
    weights_squared : ndarray of shape (d,)
        w^2 (ones without weights).

    Raises
    ------
    ValueError
        When target is not a finite flat vector, or weights is not finite or not of the shape of
        target; a flow refuses it when d differs from ``model.n_lifted``.

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow.losses import LiftedQuadratic
    >>> f = LiftedQuadratic(np.array([1.0, 2.0]), weights=np.array([1.0, 2.0]))
    >>> value, gradient = f(np.zeros(2))  # 1/2 (1 * 1 + 4 * 4), w^2 * (z - target)
    >>> value, gradient
    (8.5, array([-1., -8.]))
    """

    def __init__(self, target, weights=None) -> None:
        self.target = _checks.finite_array(target, "target")
        if self.target.ndim != 1:
            raise ValueError(f"target must be a flat vector of length n_lifted, got shape {self.target.shape}")
        self.weights = None if weights is None else _checks.finite_array(weights, "weights", self.target.shape)

    @property
    def weights_squared(self) -> np.ndarray:
        """The squared weights w^2, shape (d,) (ones without weights)."""
        return np.ones_like(self.target) if self.weights is None else self.weights ** 2

    def check(self, model) -> None:
        """ValueError unless the target has length ``model.n_lifted``."""
        if self.target.shape != (model.n_lifted,):
            raise ValueError(f"LiftedQuadratic target has length {self.target.size}, expected n_lifted = {model.n_lifted} "
                             f"for {model}")

    def __call__(self, z):
        residual = np.asarray(z, dtype=np.float64) - self.target
        gradient = self.weights_squared * residual
        return 0.5 * float(residual @ gradient), gradient

    def __repr__(self) -> str:
        return f"LiftedQuadratic(d={self.target.size}, weighted={self.weights is not None})"


class Regression:
    r"""Mean squared error 1/(2n) sum_i ||g_theta(x_i) - y_i||^2 on X (n, d_in), Y (n, d_out).

    .. math::

        \ell(\theta) = \frac{1}{2n} \sum_{i=1}^n \|g_\theta(x_i) - y_i\|^2,

    :math:`g_\theta` the network's function. For linear models (LinearNet, LinearNeuralODE) the
    loss is a function of z,

    .. math::

        f(Z) = \frac{1}{2n} \|X Z^\top - Y\|_F^2,

    with Z = ``z.reshape(d_out, d_in)``, and calling it on z gives (f(z), grad f(z)); for ReLU networks it depends on the activation
    pattern, so only theta-flows (``gradient_flow``, ``gradient_descent``) accept it.

    Parameters
    ----------
    X : array_like of shape (n, d_in)
        Inputs, one per row (n >= 1).
    Y : array_like of shape (n, d_out)
        Targets, one per row.

    Attributes
    ----------
    X : ndarray of shape (n, d_in)
    Y : ndarray of shape (n, d_out)

    Raises
    ------
    ValueError
        When X or Y is not finite, not 2-D, or they do not have the same number (>= 1) of rows; a
        flow refuses it for a model without data inputs (PolynomialMap, DAGReLUNet) or whose
        input and output sizes differ from d_in, d_out.

    Examples
    --------
    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> from intrinsic_flow.losses import Regression
    >>> data = Regression(np.eye(2), np.ones((2, 1)))
    >>> data(np.array([1.0, 1.0]))  # Z = [[1, 1]] fits the data exactly
    (0.0, array([0., 0.]))
    >>> net = itf.LinearNet([2, 3, 1])
    >>> gd = itf.gradient_descent(net, net.init(0), data, 0.1, 5)
    >>> gd.theta.shape
    (6, 9)
    """

    def __init__(self, X, Y) -> None:
        self.X = _checks.finite_array(X, "X")
        self.Y = _checks.finite_array(Y, "Y")
        if self.X.ndim != 2 or self.Y.ndim != 2 or self.X.shape[0] != self.Y.shape[0] or self.X.shape[0] < 1:
            raise ValueError(f"X and Y must be 2-D with the same number (>= 1) of rows, got {self.X.shape} and {self.Y.shape}")

    @staticmethod
    def is_lifted(model) -> bool:
        """Whether the loss is a function of z for this model (linear models)."""
        return supports(model, "matrix_chain")

    def check(self, model) -> None:
        """ValueError unless ``model`` is a network with data inputs whose widths fit X and Y."""
        from .models import ReLUNet

        if not supports(model, "regression"):
            raise ValueError(f"Regression needs a network with data inputs (ReLUNet, LinearNet or LinearNeuralODE), got "
                             f"{type(model).__name__}; a PolynomialMap takes a LiftedQuadratic or a callable "
                             "f(z) -> (value, gradient)")
        if model.kind == "path" and not isinstance(model, ReLUNet):
            raise ValueError(f"Regression supports ReLUNet, LinearNet and LinearNeuralODE, got {type(model).__name__}; "
                             "pass a callable f(z) -> (value, gradient) instead")
        d_in, d_out = _io_sizes(model)
        if self.X.shape[1] != d_in or self.Y.shape[1] != d_out:
            raise ValueError(f"Regression data have shapes X {self.X.shape}, Y {self.Y.shape}; {model} needs "
                             f"(n, {d_in}) and (n, {d_out})")

    def __call__(self, z):
        """f(Z) and grad f(Z) for a linear model, Z = z.reshape(d_out, d_in)."""
        Z = np.asarray(z, dtype=np.float64).reshape(self.Y.shape[1], self.X.shape[1])
        residual = self.X @ Z.T - self.Y
        n = self.X.shape[0]
        return 0.5 * float(np.sum(residual ** 2)) / n, (residual.T @ self.X / n).ravel()

    def __repr__(self) -> str:
        return f"Regression(n={self.X.shape[0]}, d_in={self.X.shape[1]}, d_out={self.Y.shape[1]})"


def _io_sizes(model) -> tuple:
    if model.kind == "node":
        return model.n, model.n
    return model.widths[0], model.widths[-1]


Loss = Union["LiftedQuadratic", "Regression", Callable[[Array], Tuple[float, ArrayLike]]]
"""What the flows accept: a LiftedQuadratic, a Regression, or f(z) -> (value, gradient of shape (d,))."""


def lifted_objective(model, loss):
    """The function f(z) -> (value, grad) of a loss on model, or a ValueError if there is none."""
    if isinstance(loss, LiftedQuadratic):
        loss.check(model)
        return loss
    if isinstance(loss, Regression):
        loss.check(model)
        if not loss.is_lifted(model):
            raise ValueError(f"Regression on a ReLU network ({type(model).__name__}) is not a function of z alone (it "
                             "depends on the activation pattern); intrinsic flows need a LiftedQuadratic or a callable f(z)")
        return loss
    if callable(loss):
        return loss
    raise ValueError(f"loss must be a LiftedQuadratic, a Regression or a callable f(z) -> (value, gradient), got {loss!r}")
