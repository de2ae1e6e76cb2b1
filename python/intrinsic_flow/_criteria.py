"""The criteria shared by both backends: a Criteria from a row of the core's table, the rank and
gap of a Gram spectrum, and the dense NumPy algorithm (the reference's, and the core side's for
user polynomials, which the core has no kernel for). Definitions: ``intrinsic_flow.reference.criteria``.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from . import _checks, _rank
from ._derived import unit_trace
from ._graph import checked_balanced
from ._kinds import require
from ._typing import Array, ArrayLike, Model
from .results import FLOAT_FIELDS, INCLUSION_TOL, INT_FIELDS, Criteria


def check_inclusion_tol(value) -> float:
    if value is None:
        return INCLUSION_TOL
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 < float(value) < np.inf:
        raise ValueError(f"inclusion_tol must be a positive number, got {value!r}")
    return float(value)


def criteria_from_row(n_params: int, row: np.ndarray, inclusion_tol: float) -> Criteria:
    """A Criteria from one row (rank_lift, rank_conserved, rank_joint, kernel_dim, gaps..., residual)."""
    _rank.checked_ranks(row[: len(INT_FIELDS)])
    ints = {name: int(row[k]) for k, name in enumerate(INT_FIELDS)}
    floats = {name: float(row[len(INT_FIELDS) + k]) for k, name in enumerate(FLOAT_FIELDS)}
    return Criteria(n_params, **ints, **floats, inclusion_tol=inclusion_tol)


# -- balanced representative of a rescaling orbit ----------------------------------------------


def evaluation_point(geometry, model, theta: np.ndarray) -> np.ndarray:
    """Where the criteria are evaluated: the rank point of ``geometry``'s lifting of model."""
    return geometry.lifting_of(model).rank_point(theta)


# -- ranks from Gram eigenvalues ---------------------------------------------------------------
def rank_and_gap(eigenvalues_desc: np.ndarray) -> tuple:
    """(rank, gap) of a Gram matrix from its eigenvalues (decreasing): eigenvalues above
    10 n eps times the largest count; gap = sqrt(kept / |dropped|), inf when nothing is dropped."""
    n = eigenvalues_desc.size
    largest = eigenvalues_desc[0] if n else 0.0
    if not largest > 0.0:
        return 0, np.inf
    rank = int(np.sum(eigenvalues_desc > _rank.default_gram_rtol(n) * largest))
    dropped = abs(eigenvalues_desc[rank]) if rank < n else 0.0
    return rank, (np.inf if dropped == 0.0 else float(np.sqrt(eigenvalues_desc[rank - 1] / dropped)))


def numpy_criteria(geometry, model, theta, *, inclusion_tol=None) -> Criteria:
    """Intrinsic-dynamics criteria at theta (D,) from the dense NumPy matrices of ``geometry`` (a
    module with lift_gram, conserved_jacobian, metric, metric_derivative and lifting_of): Gram
    eigenvalues for the ranks, eigenvectors of the joint Gram matrix for the kernel K, and the
    residual ||theta|| ||dM|_K||_HS / ||M||_F at the rank point. Forms d x d matrices (size-checked
    by geometry)."""
    theta = _checks.theta(model, theta)
    inclusion_tol = check_inclusion_tol(inclusion_tol)
    point = evaluation_point(geometry, model, theta)
    with np.errstate(over="ignore", invalid="ignore"):
        gram = geometry.lift_gram(model, point)
        laws_jac = geometry.conserved_jacobian(model, point)
    if not (np.all(np.isfinite(gram)) and np.all(np.isfinite(laws_jac))):
        raise ValueError(_rank.NOT_REPRESENTABLE)
    rank_lift, gap_lift = rank_and_gap(np.linalg.eigvalsh(gram)[::-1])
    rank_conserved, gap_conserved = rank_and_gap(np.linalg.eigvalsh(laws_jac @ laws_jac.T)[::-1])
    eigenvalues, vectors = np.linalg.eigh(unit_trace(gram) + unit_trace(laws_jac.T @ laws_jac))
    rank_joint, gap_joint = rank_and_gap(eigenvalues[::-1])
    kernel = vectors[:, : model.n_params - rank_joint]  # eigh sorts increasingly: the smallest span K
    residual = 0.0
    if kernel.shape[1]:
        metric = geometry.metric(model, point)
        moves = [np.linalg.norm(geometry.metric_derivative(model, point, v)) ** 2 for v in kernel.T]
        metric_norm, move = np.linalg.norm(metric), np.sqrt(np.sum(moves))
        residual = float(np.linalg.norm(point) * move / metric_norm) if metric_norm > 0 else (np.inf if move > 0 else 0.0)
    return Criteria(model.n_params, rank_lift, rank_conserved, rank_joint, kernel.shape[1],
                    gap_lift, gap_conserved, gap_joint, residual, inclusion_tol)


def numpy_rows(geometry, model, thetas: np.ndarray, inclusion: bool) -> np.ndarray:
    """The criteria table by ``numpy_criteria``: thetas (B, D) -> (B, 8), the columns of the core's
    table (residual NaN without ``inclusion``)."""
    rows = []
    for theta in thetas:
        found = numpy_criteria(geometry, model, theta)
        row = [getattr(found, name) for name in INT_FIELDS + FLOAT_FIELDS]
        rows.append(row[:-1] + [row[-1] if inclusion else np.nan])
    return np.array(rows, dtype=np.float64).reshape(len(thetas), len(INT_FIELDS) + len(FLOAT_FIELDS))


class CriteriaFrontEnd:
    """The public criteria functions, written once over a backend's kernels:
    ``rows(model, thetas, inclusion)`` -> the (B, 8) table (thetas validated and sized here),
    ``balanced(model, theta)`` -> the balanced representative (path-lifting models), and
    ``run(n_threads, call)`` for the calls that may use threads."""

    def __init__(self, rows: Callable[[Any, Array, bool], Array], balanced: Callable[[Any, Array], Array],
                 run: Callable[[int | None, Callable[[], Any]], Any]) -> None:
        self._rows, self._balanced, self._run = rows, balanced, run

    def criteria_rows(self, model: Model, thetas: ArrayLike, inclusion: bool = True,
                      n_threads: int | None = None) -> Array:
        """The raw criteria table: thetas (B, D) -> (B, 8) with columns rank_lift, rank_conserved,
        rank_joint, kernel_dim, gap_lift, gap_conserved, gap_joint, inclusion_residual (NaN when
        ``inclusion`` is False). In the core, parallel over samples (GIL released); a row whose Gram
        matrices are not finite in float64 at the rank point has ranks -1 and NaN floats."""
        thetas = _checks.thetas(model, thetas)
        _checks.check_size(3 * model.n_params ** 2 + model.n_known_laws * model.n_params, "the Gram matrices (D x D)")
        return self._run(n_threads, lambda: self._rows(model, thetas, bool(inclusion)))

    def criteria(self, model: Model, theta: ArrayLike, *, inclusion_tol: float | None = None,
                 n_threads: int | None = None) -> Criteria:
        r"""Intrinsic-dynamics criteria at theta (D,) -> Criteria.

        With :math:`J = \partial\phi(\theta)` (d, D) and :math:`J_h = \partial h(\theta)` (N_known, D):

        .. math::

            \mathtt{rank\_lift} &= \operatorname{rank} J,

            \mathtt{rank\_conserved} &= \operatorname{rank} J_h,

            \mathtt{rank\_joint} &= \operatorname{rank} \begin{bmatrix} J \\ J_h \end{bmatrix},

            \mathtt{kernel\_dim} &= \dim K,

            \mathtt{inclusion\_residual} &=
            \frac{\|\theta\|\, \|\partial M(\theta)|_K\|_{HS}}{\|M(\theta)\|_F},

        with :math:`K = \ker J \cap \ker J_h` and :math:`M = J J^\top`;

        ``recoverable`` is ``rank_joint == D`` (theta is locally determined by
        :math:`(\phi(\theta), h(\theta))`), ``kernel_inclusion`` is residual <= ``inclusion_tol``
        (default 1e-8), and gap_lift, gap_conserved, gap_joint are the singular-value gaps behind
        each rank.
        Evaluated at the rank point of theta (the point of rank_lift and rank_joint; for path-lifting
        models the balanced representative over its geometric mean), so no answer changes when a
        neuron is rescaled or theta is multiplied by a constant.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``.
        theta : array_like of shape (D,)
            The parameters.
        inclusion_tol : float, optional
            Positive threshold of ``kernel_inclusion`` (default ``INCLUSION_TOL`` = 1e-8).
        n_threads : int, optional
            Threads of the core's loops for this call (None: the process-wide ``set_num_threads``).

        Returns
        -------
        Criteria
            The ranks, gaps, residual and the derived booleans ``recoverable`` and
            ``kernel_inclusion``.

        Raises
        ------
        ValueError
            When theta has a wrong shape or is not finite, inclusion_tol is not a positive number,
            n_threads is not a positive integer, the Gram matrices (D x D) or the residual's
            matrices would exceed ``config.max_bytes``, or the matrices are not finite in float64
            at the rank point.

        See Also
        --------
        criteria_batch, balanced_representative, scan

        Notes
        -----
        The definitions: ``docs/theory/criteria.md``.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> found = itf.criteria(net, net.init(0))
        >>> found.rank_lift, found.rank_conserved, found.rank_joint, found.kernel_dim
        (6, 3, 9, 0)
        >>> found.recoverable, found.kernel_inclusion
        (True, True)
        """
        theta = _checks.theta(model, theta)
        inclusion_tol = check_inclusion_tol(inclusion_tol)
        row = self.criteria_rows(model, theta[None, :], n_threads=n_threads)[0]
        return criteria_from_row(model.n_params, row, inclusion_tol)

    def criteria_batch(self, model: Model, thetas: ArrayLike, *, inclusion_tol: float | None = None,
                       n_threads: int | None = None) -> list[Criteria]:
        """criteria over a batch (in parallel in the core): thetas (B, D) -> list of B Criteria.

        Row b is ``criteria(model, thetas[b])``, with the same definitions (see ``criteria``).

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``.
        thetas : array_like of shape (B, D)
            One parameter vector per row.
        inclusion_tol : float, optional
            Positive threshold of ``kernel_inclusion`` (default ``INCLUSION_TOL`` = 1e-8).
        n_threads : int, optional
            Threads of the core's loops for this call (None: the process-wide ``set_num_threads``).

        Returns
        -------
        list of Criteria
            B entries, in the order of the rows.

        Raises
        ------
        ValueError
            When thetas is not a finite (B, D) array, inclusion_tol is not a positive number,
            n_threads is not a positive integer, the matrices would exceed ``config.max_bytes``,
            or the Gram matrices of a row are not finite in float64 at its rank point.

        See Also
        --------
        criteria, scan

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> thetas = np.stack([net.init(seed) for seed in range(4)])
        >>> found = itf.criteria_batch(net, thetas)
        >>> len(found), [c.rank_joint for c in found]
        (4, [9, 9, 9, 9])
        """
        inclusion_tol = check_inclusion_tol(inclusion_tol)
        rows = self.criteria_rows(model, thetas, n_threads=n_threads)
        return [criteria_from_row(model.n_params, row, inclusion_tol) for row in rows]

    def balanced_representative(self, model: Model, theta: ArrayLike) -> Array:
        r"""The rescaling of theta (path-lifting model) with |incoming|^2 = |outgoing|^2 at every
        hidden neuron; theta (D,) -> (D,), phi unchanged.

        Each hidden neuron :math:`\nu`'s incoming weights are multiplied by some
        :math:`\lambda_\nu > 0` and its outgoing ones by :math:`1/\lambda_\nu` (which leaves
        :math:`\phi(\theta)` unchanged), with the :math:`\lambda_\nu` chosen so that every law
        vanishes:

        .. math::

            \|\text{incoming weights of } \nu\|^2 - \|\text{outgoing weights of } \nu\|^2 = 0

        (``_graph.balance``, one algorithm and tolerance in both backends).

        Parameters
        ----------
        model : ReLUNet or DAGReLUNet
            A path-lifting model; D = ``model.n_params``.
        theta : array_like of shape (D,)
            The parameters.

        Returns
        -------
        ndarray of shape (D,)
            The balanced representative of the rescaling orbit of theta.

        Raises
        ------
        ValueError
            When the model is not a path-lifting model, theta has a wrong shape or is not finite,
            or the result does not fit in float64.

        See Also
        --------
        criteria

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta = net.init(0)
        >>> balanced = itf.balanced_representative(net, theta)
        >>> balanced.shape, bool(np.allclose(itf.lift(net, balanced), itf.lift(net, theta)))
        ((9,), True)
        >>> bool(np.abs(itf.conserved(net, balanced)).max() < 1e-12)
        True
        """
        theta = _checks.theta(model, theta)
        require(model, "path_lifting", "balanced_representative")
        return checked_balanced(model, np.asarray(self._balanced(model, theta)), theta)
