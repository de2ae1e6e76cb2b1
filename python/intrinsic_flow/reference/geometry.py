"""Geometry of phi in plain NumPy (mirrors cpp/geometry): what is derived from a model's lifting
once for all models, and the public functions (same names and results as intrinsic_flow)."""
from __future__ import annotations

import functools

import numpy as np

from .._backend import Backend
from .lifting import PathLifting, unit_geometric_scale
from .linear import LinearLifting
from ..polynomial import PolynomialLifting
from .neural_ode import NeuralODELifting


class Derived:
    """Metric, its derivative, Gram ranks and batches, from lift/jacobian/conserved/gram.

    Listed after a model's own lifting class, so its defaults (``gram`` = J^T J, ``rank_point``
    = theta, as in cpp/geometry.hpp) apply only where the model has nothing better.
    """

    def gram(self, theta):
        jac = self.jacobian(theta)
        return jac.T @ jac

    def rank_point(self, theta):
        return theta

    def metric(self, theta):
        jac = self.jacobian(theta)
        return jac @ jac.T

    def metric_derivative(self, theta, direction):
        jac, djac = self.jacobian(theta), self.jacobian_derivative(theta, direction)
        half = djac @ jac.T
        return half + half.T

    def joint_gram(self, theta):
        laws_jac = self.conserved_jacobian(theta)
        return self.gram(theta) + laws_jac.T @ laws_jac

    def scaled_joint_gram(self, theta):
        """J^T J / ||J||_F^2 + Jh^T Jh / ||Jh||_F^2 (a zero block kept): the rank of [J; Jh] without
        the relative scale of the blocks, which moves with theta -> s theta (cpp/geometry.hpp)."""
        laws_jac = self.conserved_jacobian(theta)
        return unit_trace(self.gram(theta)) + unit_trace(laws_jac.T @ laws_jac)

    def rank_lift(self, theta, rtol):
        """Rank of J from the eigenvalues of the Gram matrix at the rank point of theta (-1 when
        that matrix is not finite, as in the core)."""
        return _gram_rank(self.gram, self.rank_point(theta), rtol)

    def rank_joint(self, theta, rtol):
        return _gram_rank(self.scaled_joint_gram, self.rank_point(theta), rtol)

    def _each(self, thetas, method, *args):
        return np.stack([np.ravel(method(theta, *args)) for theta in thetas])

    def jacobian_batch_into(self, thetas, out):
        for row, theta in zip(out, thetas):
            row[:] = self.jacobian(theta).ravel()

    def vjp_batch(self, thetas, ws):
        return np.stack([self.vjp(theta, w) for theta, w in zip(thetas, ws)])

    def jvp_batch(self, thetas, vs):
        return np.stack([self.jvp(theta, v) for theta, v in zip(thetas, vs)])

    def lift_batch(self, thetas):
        return self._each(thetas, self.lift)

    def jacobian_batch(self, thetas):
        return self._each(thetas, self.jacobian)

    def metric_batch(self, thetas):
        return self._each(thetas, self.metric)

    def conserved_batch(self, thetas):
        return self._each(thetas, self.conserved)

    def conserved_jacobian_batch(self, thetas):
        return self._each(thetas, self.conserved_jacobian)

    def gram_batch(self, thetas):
        return self._each(thetas, self.gram)

    def rank_lift_batch(self, thetas, rtol):
        return np.array([self.rank_lift(theta, rtol)[0] for theta in thetas])

    def exact_rank_batch(self, thetas):
        return np.array([self.exact_rank(theta) for theta in thetas])

    def rank_joint_batch(self, thetas, rtol):
        return np.array([self.rank_joint(theta, rtol)[0] for theta in thetas])


def unit_trace(gram: np.ndarray) -> np.ndarray:
    """A Gram block scaled to unit trace (= ||J||_F^2), unchanged when zero."""
    trace = np.trace(gram)
    return gram / trace if trace > 0 else gram


def _gram_rank(gram_of, point, rtol):
    with np.errstate(over="ignore", invalid="ignore"):
        gram = gram_of(point)
    if not np.all(np.isfinite(gram)):
        return -1, np.zeros(0)
    eigenvalues = np.linalg.eigvalsh(gram)[::-1]
    return _count(eigenvalues, rtol), eigenvalues


def _count(eigenvalues_desc, rtol) -> int:
    largest = eigenvalues_desc[0] if eigenvalues_desc.size else 0.0
    return int(np.sum(eigenvalues_desc > rtol * largest)) if largest > 0 else 0


class ReferencePathLifting(PathLifting, Derived):
    pass


class ReferenceLinearLifting(LinearLifting, Derived):
    def rank_point(self, theta):
        """phi is homogeneous: ranks are taken at theta over the geometric mean of its |entries|."""
        return unit_geometric_scale(theta)


class ReferencePolynomialLifting(PolynomialLifting, Derived):
    """User polynomials: products with J on the table of terms (each term c m(theta), its
    monomial m a product of factors with repeats), O(terms x degree), J never formed."""

    def _others(self, theta):
        """(terms, degree): c times the product of the other factors of the term at each position."""
        factors = np.append(theta, 1.0)[self.table.monomials]  # the -1 padding reads the appended 1
        ones = np.ones((factors.shape[0], 1))
        prefix = np.cumprod(np.hstack([ones, factors[:, :-1]]), axis=1)
        suffix = np.cumprod(np.hstack([ones, factors[:, :0:-1]]), axis=1)[:, ::-1]
        return prefix * suffix * self.coeff[:, None]

    def vjp(self, theta, w):
        """(J^T w)_e = sum_terms w_poly(term) d(term)/d theta_e (product rule over the factors)."""
        columns = np.where(self.table.monomials < 0, self.n_params, self.table.monomials)
        contributions = np.asarray(w)[self.poly][:, None] * self._others(theta)
        return np.bincount(columns.ravel(), contributions.ravel(), minlength=self.n_params + 1)[:-1]

    def jvp(self, theta, v):
        """(J v)_q = sum over the terms of polynomial q of sum_k v_(factor k) (other factors)."""
        moves = np.append(v, 0.0)[self.table.monomials]
        out = np.zeros(self.n_lifted)
        np.add.at(out, self.poly, np.sum(self._others(theta) * moves, axis=1))
        return out


class ReferenceNeuralODELifting(NeuralODELifting, Derived):
    pass


LIFTINGS = {
    "path": lambda model: ReferencePathLifting(model.graph),
    "linear": ReferenceLinearLifting,
    "poly": ReferencePolynomialLifting,
    "node": ReferenceNeuralODELifting,
}


@functools.lru_cache(maxsize=64)
def _cached(model):
    if model.kind not in LIFTINGS:
        raise ValueError(f"the reference backend has no geometry for {type(model).__name__}")
    return LIFTINGS[model.kind](model)


def lifting_of(model, paths: bool = False):
    return _cached(model)


_backend = Backend(lifting_of)
globals().update(_backend.exports())
__all__ = sorted(_backend.exports())
