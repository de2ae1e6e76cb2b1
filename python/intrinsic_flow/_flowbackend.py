"""The public flow API, written once for both backends (like _backend.Backend for geometry).

A backend provides ``geometry`` (its module of geometry functions), ``field_of(model, loss)``
(an object with ``value_and_gradient(theta) -> (l, grad l)``) and ``integrate(field, theta0, plan)``
returning ``(times, states, values, info)``. Intrinsic flows integrate z' = -K(z, h0) grad f(z)
with the NumPy integrators of reference/flows.py in both backends (K comes from
``_intrinsic.intrinsic_metric`` with the backend's metric).
"""
from __future__ import annotations

import math
import numbers
from dataclasses import dataclass

import numpy as np

from . import _checks, _intrinsic
from ._typing import Array, ArrayLike, Model
from .results import FlowComparison, FlowError, Trajectory, relative_gaps as _relative_gaps  # noqa: F401
from .losses import Loss, lifted_objective

METHODS = ("rk4", "rk45")
DEFAULT_N_STEPS = 1000
DEFAULT_RTOL = 1e-8
MAX_STEPS = 1_000_000


@dataclass(frozen=True)
class Plan:
    """What to integrate: ``method``, the time grid (rk4: every step; rk45: the stops), what to save."""

    method: str
    times: np.ndarray
    save: np.ndarray
    save_all_steps: bool = False
    rtol: float = DEFAULT_RTOL
    max_steps: int = MAX_STEPS


def check_saved_states(what: str, n_times: int, state_size: int, knob: str) -> None:
    """Refuse before integrating when n_times saved states of state_size float64 each (t, theta, z,
    h, loss: T x (D + d + N_known + 1)) exceed config.max_bytes; ``knob`` names the option to lower."""
    _checks.check_size(float(n_times) * state_size,
                       f"{what}: {n_times} saved states of {state_size} values (t, theta, z, h and loss; {knob})")


def plan(t_end, method="rk4", n_steps=None, rtol=None, save_at=None, state_size=1, what="the flow") -> Plan:
    """Validate the integration options and build the grid (identical for both backends).

    ``state_size`` float64 values are saved per saved time (D + d + N_known + 1 for theta flows):
    a request whose saved states exceed config.max_bytes is refused here, before any grid or state
    is allocated (``check_saved_states``)."""
    if isinstance(t_end, bool) or not isinstance(t_end, numbers.Real) or not math.isfinite(t_end) or t_end <= 0:
        raise ValueError(f"t_end must be a finite number > 0, got {t_end!r}")
    t_end = float(t_end)
    if method not in METHODS:
        raise ValueError(f"method must be one of {list(METHODS)}, got {method!r}")
    saves = None
    if save_at is not None:
        saves = _checks.finite_array(save_at, "save_at")
        if saves.ndim != 1 or saves.size < 1 or np.any(np.diff(saves) <= 0) or saves[0] < 0 or saves[-1] > t_end:
            raise ValueError(f"save_at must be a non-empty increasing vector of times in [0, t_end = {t_end}], got {saves}")
    if method == "rk4":
        if rtol is not None:
            raise ValueError(f"rtol applies to method='rk45' only; got rtol={rtol!r} with method='rk4'")
        n_steps = DEFAULT_N_STEPS if n_steps is None else _checks.positive_int(n_steps, "n_steps")
        # the saved states and the grid, before either exists
        if saves is None:
            check_saved_states(what, n_steps + 1, state_size, f"n_steps = {n_steps}: lower it or pass save_at")
        else:
            check_saved_states(what, saves.size, state_size, "lower the number of save_at times")
        # per grid time: the time, its save flag and the lists of both handed to the integrator
        _checks.check_size(6 * (n_steps + 1), f"{what}: the grid of n_steps + 1 = {n_steps + 1} times (lower n_steps)")
        times = np.linspace(0.0, t_end, n_steps + 1)
        if saves is None:
            return Plan("rk4", times, np.ones(times.size, dtype=bool))
        return Plan("rk4", *_merge(times, saves))
    if n_steps is not None:
        raise ValueError(f"n_steps applies to method='rk4' only; got n_steps={n_steps!r} with method='rk45'")
    rtol = DEFAULT_RTOL if rtol is None else _checks.rtol(rtol)
    if saves is not None:
        check_saved_states(what, saves.size, state_size, "lower the number of save_at times")
    if saves is None:
        return Plan("rk45", np.array([0.0, t_end]), np.array([True, True]), True, rtol)
    return Plan("rk45", *_merge(np.array([0.0, t_end]), saves), False, rtol)


def _merge(grid: np.ndarray, saves: np.ndarray):
    """(times, save mask): the grid with every save time put in, in increasing order, O(n log n).

    Every save time is kept, however close to another one. An interior grid point within 1e-9 of a
    grid step of a save time is dropped (the save time takes its place instead of leaving a step
    of almost zero length); the two ends of the grid always stay."""
    tol = 1e-9 * (grid[-1] / max(grid.size - 1, 1))
    interior = grid[1:-1]
    if interior.size:
        after = np.searchsorted(saves, interior)  # saves[after - 1] < point <= saves[after]
        below = saves[np.maximum(after - 1, 0)]
        above = saves[np.minimum(after, saves.size - 1)]
        near = np.minimum(np.abs(interior - below), np.abs(interior - above)) <= tol
        interior = interior[~near]
    times = np.union1d(np.concatenate([grid[:1], interior, grid[-1:]]), saves)
    save = np.zeros(times.size, dtype=bool)
    save[np.searchsorted(times, saves)] = True  # every save time is in times exactly
    return times, save


def _theta_state_size(model) -> int:
    """float64 values kept per saved time of a theta flow: t, theta (D), z (d), h (N_known), loss."""
    return model.n_params + model.n_lifted + model.n_known_laws + 2


def max_drift(h: np.ndarray, theta0: np.ndarray) -> float:
    if h.size == 0:
        return 0.0
    scale = max(float(np.max(np.abs(h[0]))), float(np.max(np.abs(theta0))) ** 2, np.finfo(float).tiny)
    return float(np.max(np.abs(h - h[0]))) / scale


class FlowBackend:
    def __init__(self, geometry, field_of, integrate, integrate_numpy) -> None:
        self._geometry = geometry
        self._field_of = field_of
        self._integrate = integrate
        self._integrate_numpy = integrate_numpy

    # -- theta flows -----------------------------------------------------------------------
    def _trajectory(self, model, raw, theta0, what: str, t_end: float) -> Trajectory:
        times, states, values, info = raw
        states = np.asarray(states).reshape(len(times), model.n_params)
        geometry = self._geometry
        if len(times):
            z = geometry.lift_batch(model, states)
            h = geometry.conserved_batch(model, states) if model.n_known_laws else np.zeros((len(times), 0))
        else:
            z, h = np.zeros((0, model.n_lifted)), np.zeros((0, model.n_known_laws))
        trajectory = Trajectory(np.asarray(times), states, z, h, np.asarray(values), max_drift(h, theta0), dict(info))
        if not info["completed"]:
            raise FlowError(f"{what} stopped at t = {info['time_reached']:.6g} (t_end = {t_end:g}): {info['reason']}; "
                            "the trajectory up to there is in error.trajectory", trajectory, info["time_reached"])
        return trajectory

    def gradient_flow(self, model: Model, theta0: ArrayLike, loss: Loss, t_end: float, *, method: str = "rk4",
                      n_steps: int | None = None, rtol: float | None = None,
                      save_at: ArrayLike | None = None) -> Trajectory:
        r"""Integrate the gradient flow of the loss in theta.

        Integrates, from ``theta0`` to ``t_end``,

        .. math::

            \dot\theta = -\nabla \ell(\theta), \qquad \ell = f \circ \phi, \qquad \theta(0) = \theta_0,

        (``loss`` is :math:`f`, ``model`` is :math:`\phi`) and records theta,
        :math:`z = \phi(\theta)`, the known laws :math:`h(\theta)` and the loss at the saved times.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta0 : array_like of shape (D,)
            Start of the flow, D = ``model.n_params``.
        loss : LiftedQuadratic, Regression or callable
            The loss. The right side runs in the backend for LiftedQuadratic (-J^T grad f(z)) and
            Regression (backpropagation); a callable f(z) -> (value, gradient of shape (d,)) goes
            through Python at every evaluation (slow path).
        t_end : float
            Final time, finite and > 0.
        method : {"rk4", "rk45"}, default "rk4"
            "rk4": classic Runge-Kutta (tableau 1/6, 1/3, 1/3, 1/6) with ``n_steps`` equal steps.
            "rk45": Dormand-Prince 5(4) with error control at relative tolerance ``rtol`` (the
            absolute tolerance is rtol too).
        n_steps : int, optional
            Number of equal steps of "rk4" (default 1000); method "rk4" only.
        rtol : float, optional
            Relative (and absolute) tolerance of "rk45" (default 1e-8); method "rk45" only.
        save_at : array_like of shape (T,), optional
            Increasing times in [0, t_end] to save (default: every step).

        Returns
        -------
        Trajectory
            ``t`` (T,), ``theta`` (T, D), ``z`` (T, d), ``h`` (T, N_known), ``loss`` (T,), the
            relative drift ``max_drift`` of the laws and the integrator statistics ``info``.

        Raises
        ------
        FlowError
            (a ValueError carrying the trajectory so far) when the loss or its gradient stops
            being finite or has a wrong shape.
        ValueError
            When t_end is not a finite number > 0, ``method`` is unknown, ``n_steps`` is given with
            "rk45" or ``rtol`` with "rk4", ``save_at`` is not an increasing vector of times in
            [0, t_end], theta0 or the loss does not fit the model, or the saved states would exceed
            ``config.max_bytes``.

        See Also
        --------
        gradient_descent, intrinsic_flow, compare_flows

        Notes
        -----
        The flows and their integrators: ``docs/theory/flows.md``.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> from intrinsic_flow.losses import LiftedQuadratic
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> loss = LiftedQuadratic(np.zeros(net.n_lifted))
        >>> flow = itf.gradient_flow(net, net.init(0), loss, 0.5, n_steps=50)
        >>> flow.t.shape, flow.theta.shape, flow.z.shape, flow.h.shape
        ((51,), (51, 9), (51, 6), (51, 3))
        >>> bool(flow.loss[-1] < flow.loss[0]), bool(flow.max_drift < 1e-8)
        (True, True)
        """
        theta0 = _checks.theta(model, theta0, "theta0")
        flow_plan = plan(t_end, method, n_steps, rtol, save_at, _theta_state_size(model), "gradient_flow")
        field = self._field_of(model, loss)
        return self._trajectory(model, self._integrate(field, theta0, flow_plan), theta0, "gradient_flow", float(t_end))

    def gradient_descent(self, model: Model, theta0: ArrayLike, loss: Loss, lr: float, n_steps: int) -> Trajectory:
        r"""Run gradient descent on the loss in theta.

        .. math::

            \theta_{k+1} = \theta_k - \eta\, \nabla \ell(\theta_k), \quad k < \mathtt{n\_steps},
            \qquad \ell = f \circ \phi,

        from :math:`\theta_0` = ``theta0``, with :math:`\eta` = ``lr``; the time t is the step
        index, 0..n_steps.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet, LinearNeuralODE or PolynomialMap
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta0 : array_like of shape (D,)
            Start, D = ``model.n_params``.
        loss : LiftedQuadratic, Regression or callable
            The loss, as for ``gradient_flow``.
        lr : float
            Learning rate, finite and > 0.
        n_steps : int
            Number of steps, >= 1.

        Returns
        -------
        Trajectory
            Every iterate: ``t`` (n_steps + 1,) = 0, 1, ..., n_steps, ``theta`` (n_steps + 1, D),
            ``z`` (n_steps + 1, d), ``h`` (n_steps + 1, N_known), ``loss`` (n_steps + 1,).

        Raises
        ------
        FlowError
            When the loss or its gradient stops being finite or has a wrong shape (the iterates so
            far are in ``error.trajectory``).
        ValueError
            When lr is not a finite number > 0, n_steps is not a positive integer, theta0 or the
            loss does not fit the model, or the saved iterates would exceed ``config.max_bytes``.

        See Also
        --------
        gradient_flow

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> from intrinsic_flow.losses import Regression
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> rng = np.random.default_rng(0)
        >>> data = Regression(rng.standard_normal((8, 2)), rng.standard_normal((8, 1)))
        >>> gd = itf.gradient_descent(net, net.init(0), data, 1e-2, 10)
        >>> gd.t[:3], gd.theta.shape
        (array([0., 1., 2.]), (11, 9))
        """
        theta0 = _checks.theta(model, theta0, "theta0")
        if isinstance(lr, bool) or not isinstance(lr, numbers.Real) or not math.isfinite(lr) or lr <= 0:
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        n_steps = _checks.positive_int(n_steps, "n_steps")
        check_saved_states("gradient_descent", n_steps + 1, _theta_state_size(model), f"n_steps = {n_steps}: lower it")
        field = self._field_of(model, loss)
        raw = self._integrate(field, theta0, ("gd", float(lr), n_steps))
        return self._trajectory(model, raw, theta0, "gradient_descent", float(n_steps))

    # -- intrinsic flows -------------------------------------------------------------------
    def intrinsic_metric(self, model: Model, z: ArrayLike, h: ArrayLike, *, route: str = "auto") -> Array:
        return _intrinsic.intrinsic_metric(model, z, h, self._geometry, route)

    def intrinsic_flow(self, model: Model, z0: ArrayLike, h0: ArrayLike, loss: Loss, t_end: float, *,
                       method: str = "rk4", n_steps: int | None = None, rtol: float | None = None,
                       save_at: ArrayLike | None = None) -> Trajectory:
        r"""Integrate the intrinsic flow in z with the laws fixed at h0.

        .. math::

            \dot z = -K(z, h_0)\, \nabla f(z), \qquad z(0) = z_0,

        where K is the intrinsic metric (``intrinsic_metric``): when :math:`z_0 = \phi(\theta_0)` and
        :math:`h_0 = h(\theta_0)`, :math:`z(t) = \phi(\theta(t))` along the gradient flow of theta,
        without ever seeing theta.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet or LinearNeuralODE
            A model with an intrinsic metric; d = ``model.n_lifted``.
        z0 : array_like of shape (d,)
            Start in z, d = ``model.n_lifted``.
        h0 : array_like of shape (N_known,)
            Values of the known laws, N_known = ``model.n_known_laws``.
        loss : LiftedQuadratic, Regression or callable
            Must be a function of z: LiftedQuadratic, Regression on a linear model, or a callable
            f(z) -> (value, gradient of shape (d,)).
        t_end : float
            Final time, finite and > 0.
        method, n_steps, rtol, save_at
            Same integrators and options as ``gradient_flow``.

        Returns
        -------
        Trajectory
            ``t`` (T,), ``z`` (T, d), ``h`` (T, N_known) (h0 at every time), ``loss`` (T,);
            ``theta`` is None and ``max_drift`` 0.

        Raises
        ------
        FlowError
            As ``gradient_flow`` does.
        ValueError
            Where no K exists (see ``intrinsic_metric``): a model kind without an intrinsic metric
            (e.g. PolynomialMap) or an (z, h) where its conditions fail; a loss that is not a
            function of z (Regression on a ReLU network); the integration options as for
            ``gradient_flow``.

        See Also
        --------
        intrinsic_metric, gradient_flow, compare_flows

        Notes
        -----
        Both backends integrate it with the NumPy integrators. The theory:
        ``docs/theory/intrinsic.md`` and ``docs/theory/flows.md``.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> from intrinsic_flow.losses import LiftedQuadratic
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> theta0 = net.init(0)
        >>> z0, h0 = itf.lift(net, theta0), itf.conserved(net, theta0)
        >>> loss = LiftedQuadratic(np.zeros(net.n_lifted))
        >>> flow = itf.intrinsic_flow(net, z0, h0, loss, 0.5, n_steps=50)
        >>> flow.z.shape, flow.theta is None
        ((51, 6), True)
        >>> theta_flow = itf.gradient_flow(net, theta0, loss, 0.5, n_steps=50)
        >>> bool(np.abs(flow.z[-1] - theta_flow.z[-1]).max() < 1e-8)
        True
        """
        _intrinsic.check_supported(model)
        z0 = _checks.finite_array(z0, "z0", (model.n_lifted,))
        h0 = _checks.finite_array(h0, "h0", (model.n_known_laws,))
        flow_plan = plan(t_end, method, n_steps, rtol, save_at, model.n_lifted + model.n_known_laws + 2,
                         "intrinsic_flow")
        objective = lifted_objective(model, loss)
        metric_of = _intrinsic.metric_function(model, h0, self._geometry)
        metric_of(z0)  # raises the documented ValueError before integrating when no K exists

        class IntrinsicField:
            def value_and_gradient(self, z):
                value, gradient = _call_objective(objective, z, model.n_lifted)
                return value, metric_of(z) @ gradient

        times, states, values, info = self._integrate_numpy(IntrinsicField(), z0, flow_plan)
        states = np.asarray(states).reshape(len(times), model.n_lifted)
        trajectory = Trajectory(np.asarray(times), None, states, np.tile(h0, (len(times), 1)), np.asarray(values), 0.0,
                                dict(info))
        if not info["completed"]:
            raise FlowError(f"intrinsic_flow stopped at t = {info['time_reached']:.6g} (t_end = {float(t_end):g}): "
                            f"{info['reason']}; the trajectory up to there is in error.trajectory", trajectory,
                            info["time_reached"])
        return trajectory

    def compare_flows(self, model: Model, theta0: ArrayLike, loss: Loss, t_end: float, *, method: str = "rk4",
                      n_steps: int | None = None, rtol: float | None = None,
                      save_at: ArrayLike | None = None) -> FlowComparison:
        r"""Run the theta-flow and the intrinsic flow from the same start and compare them in z.

        Runs gradient_flow from theta0 and intrinsic_flow from :math:`(\phi(\theta_0), h(\theta_0))`
        with the same integrator and saved times;

        .. math::

            \mathtt{max\_relative\_gap} = \max_t
            \frac{\|z_\theta(t) - z_{\text{intrinsic}}(t)\|}{\|z_\theta(t)\|}.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet, LinearNet or LinearNeuralODE
            The model; D = ``model.n_params``, d = ``model.n_lifted``.
        theta0 : array_like of shape (D,)
            Start in theta, D = ``model.n_params``.
        loss : LiftedQuadratic, Regression or callable
            A function of z, as for ``intrinsic_flow``.
        t_end : float
            Final time, finite and > 0.
        method, n_steps, rtol, save_at
            As for ``gradient_flow``; with "rk45" and no ``save_at``, the intrinsic flow is saved
            at the times of the theta-flow.

        Returns
        -------
        FlowComparison
            ``max_relative_gap`` (float), ``theta_flow`` and ``intrinsic_flow`` (Trajectory, T
            saved times each); ``gaps`` (T,) the relative gap at each saved time.

        Raises
        ------
        FlowError
            When either flow stops early (as ``gradient_flow``).
        ValueError
            As ``gradient_flow`` and ``intrinsic_flow`` (model without intrinsic metric, loss not
            a function of z, invalid options).

        See Also
        --------
        gradient_flow, intrinsic_flow

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> from intrinsic_flow.losses import LiftedQuadratic
        >>> net = itf.ReLUNet([2, 3, 1])
        >>> loss = LiftedQuadratic(np.zeros(net.n_lifted))
        >>> both = itf.compare_flows(net, net.init(0), loss, 0.5, n_steps=50)
        >>> both.gaps.shape, bool(both.max_relative_gap < 1e-8)
        ((51,), True)
        """
        theta0 = _checks.theta(model, theta0, "theta0")
        _intrinsic.check_supported(model)
        lifted_objective(model, loss)
        theta_flow = self.gradient_flow(model, theta0, loss, t_end, method=method, n_steps=n_steps, rtol=rtol,
                                        save_at=save_at)
        if method == "rk45" and save_at is None:
            save_at = theta_flow.t  # compare at the same times
        z0 = self._geometry.lift(model, theta0)
        h0 = self._geometry.conserved(model, theta0)
        intrinsic = self.intrinsic_flow(model, z0, h0, loss, t_end, method=method, n_steps=n_steps, rtol=rtol,
                                        save_at=save_at)
        gaps = _relative_gaps(theta_flow.z, intrinsic.z)
        return FlowComparison(float(np.max(gaps)), theta_flow, intrinsic)

    intrinsic_metric.__doc__ = _intrinsic.intrinsic_metric.__doc__


class FieldError(Exception):
    """Raised by a right side whose output is unusable (wrong shape); the integrator stops there."""


def _call_objective(objective, z, d: int):
    result = objective(z)
    try:
        value, gradient = result
    except (TypeError, ValueError):
        raise FieldError(f"the loss must return (value, gradient), got {type(result).__name__}") from None
    gradient = np.asarray(gradient, dtype=np.float64)
    if gradient.shape != (d,):
        raise FieldError(f"the loss gradient has shape {gradient.shape}, expected ({d},)")
    return float(value), gradient


class CallableField:
    """l = f o phi for a Python callable f(z) -> (value, grad): grad l = J^T grad f(z) by the vector-Jacobian product (J is never formed)."""

    def __init__(self, model, objective, geometry) -> None:
        self.model, self.objective, self.geometry = model, objective, geometry

    def value_and_gradient(self, theta):
        z = self.geometry.lift(self.model, theta)
        value, gradient = _call_objective(self.objective, z, self.model.n_lifted)
        return value, self.geometry.lift_vjp(self.model, theta, gradient)

