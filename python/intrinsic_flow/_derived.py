"""What a lifting derives from its own lift, jacobian, conserved and gram: metric, its
derivative, Gram ranks and batches, in NumPy. Shared by the NumPy reference (every model) and
the core side (user polynomials, which the core has no kernel for)."""
from __future__ import annotations

import numpy as np


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
