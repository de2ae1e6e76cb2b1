"""The intrinsic metric K(z, h): M(theta) expressed through z = phi(theta) and the laws h(theta).

One function per family (docs/theory/intrinsic.md), in NumPy; both backends call
them, the general ReLU route with the backend's own metric. ``metric_function(model, h, geometry)``
validates h once and returns z -> K(z, h) (d, d).
"""
from __future__ import annotations

import numpy as np

from . import _checks
from ._rank import numerical_rank

ROUTES = ("auto", "closed", "recovery")
RECOVERY_STEP_TOL = 1e-15  # on every log-scale of a Newton step of the recovery (see _Recovery._rescale)
RECOVERY_MAX_ITERATIONS = 200


def intrinsic_metric(model, z, h, geometry, route: str = "auto") -> np.ndarray:
    r"""The intrinsic metric K(z, h), shape (d, d), with M(theta) = K(phi(theta), h(theta)).

    :math:`M(\theta) = J J^\top` is the metric of the lifted flow, :math:`J = \partial\phi(\theta)`
    (d, D): along a gradient flow of theta, :math:`z = \phi(\theta)` moves by
    :math:`\dot z = -M(\theta) \nabla f(z)`. K expresses M through z and the values h of the known
    laws alone,

    .. math::

        M(\theta) = K(\phi(\theta), h(\theta)), \qquad \dot z = -K(z, h_0)\, \nabla f(z),

    so that the second equation is a flow in z (``intrinsic_flow``). Per model family:

    - ReLU path-lifting (ReLUNet, DAGReLUNet), off the set of zero weights: route "recovery"
      recovers :math:`\theta^2` from (z, h) (see ``recover_squares``) and returns
      :math:`\operatorname{diag}(\operatorname{sign} z)\, M(\sqrt{\theta^2})\,
      \operatorname{diag}(\operatorname{sign} z)`; route "closed" uses the closed forms of
      two-layer nets (§3.4) and of the scalar depth-3 chain ReLUNet([1, 1, 1, 1]) (§3.5); "auto"
      takes the closed form where one exists.
    - LinearNet with two layers under relaxed balance :math:`W_2^\top W_2 - W_1 W_1^\top = \lambda I`:
      :math:`A_\lambda, B_\lambda` of §4.3 with projectors and the validity rule (ValueError naming
      the violated rank condition).
    - LinearNet with square layers and :math:`H_l = \lambda_l I`: the formula of §4.5 (Arora et al.
      at :math:`\lambda = 0`).
    - LinearNeuralODE: the :math:`K \to \infty` limit, the logarithmic-mean form of §5 (independent
      of :math:`\lambda`), divided by K = n_steps (the Euclidean metric on the :math:`A_k` is K
      times the :math:`L^2` metric on :math:`A(s)`).

    The sections (§) are those of [MPG25]; ``docs/theory/intrinsic.md`` states each formula.

    Parameters
    ----------
    model : ReLUNet, DAGReLUNet, LinearNet or LinearNeuralODE
        The model (a LinearNet with two layers under relaxed balance, or with square layers);
        d = ``model.n_lifted``.
    z : array_like of shape (d,)
        The point in z, d = ``model.n_lifted``.
    h : array_like of shape (N_known,)
        Values of the known laws, N_known = ``model.n_known_laws``.
    route : {"auto", "closed", "recovery"}, default "auto"
        For ReLU path-lifting models: closed form, recovery of theta^2, or the closed form where
        one exists. Other models accept "auto" and "closed".

    Returns
    -------
    ndarray of shape (d, d)
        K(z, h), symmetric positive semi-definite.

    Raises
    ------
    ValueError
        When no intrinsic metric exists for the model kind (e.g. PolynomialMap); ``route`` is
        unknown, "closed" has no closed form for this model, or "recovery" is asked of a model
        that is not a ReLU path-lifting; z or h has a wrong shape or is not finite; a rank
        condition of the linear formulas fails (the message names it); K is not finite in float64
        at this (z, h) (the weights it stands for leave the float64 range).

    See Also
    --------
    intrinsic_flow, metric

    Notes
    -----
    The formulas and the section numbers above: ``docs/theory/intrinsic.md``.

    Examples
    --------
    >>> import numpy as np
    >>> import intrinsic_flow as itf
    >>> net = itf.ReLUNet([2, 3, 1])
    >>> theta = net.init(0)
    >>> z, h = itf.lift(net, theta), itf.conserved(net, theta)
    >>> K = itf.intrinsic_metric(net, z, h)
    >>> K.shape, bool(np.allclose(K, itf.metric(net, theta)))
    ((6, 6), True)
    >>> bool(np.allclose(itf.intrinsic_metric(net, z, h, route="recovery"), K))
    True
    """
    return metric_function(model, h, geometry, route)(z)


SUPPORTED_KINDS = ("path", "linear", "node")


def check_supported(model) -> None:
    """ValueError naming the model kind when no intrinsic metric exists for it (e.g. PolynomialMap)."""
    if getattr(model, "kind", None) not in SUPPORTED_KINDS:
        raise ValueError(f"no intrinsic metric for {type(model).__name__} (model kind {getattr(model, 'kind', None)!r}): "
                         "K(z, h) is implemented for ReLUNet and DAGReLUNet (path-lifting), LinearNet (two layers "
                         "under relaxed balance, or square layers) and LinearNeuralODE")


def metric_function(model, h, geometry, route: str = "auto"):
    check_supported(model)
    if route not in ROUTES:
        raise ValueError(f"route must be one of {list(ROUTES)}, got {route!r}")
    h = _checks.finite_array(h, "h", (model.n_known_laws,))
    if model.kind == "path":
        closed = _relu_closed_form(model, h)
        if route == "closed" and closed is None:
            raise ValueError(f"no closed form for {model}: closed forms exist for two-layer ReLUNet and ReLUNet([1, 1, 1, 1])")
        builder = closed if (closed is not None and route != "recovery") else _relu_recovery(model, h, geometry)
    else:
        if route == "recovery":
            raise ValueError("route 'recovery' applies to ReLU path-lifting models only")
        builder = {"linear": _linear, "node": _neural_ode}[model.kind](model, h)
    d = model.n_lifted

    def evaluate(z):
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            K = builder(_checks.finite_array(z, "z", (d,)))
        if not np.all(np.isfinite(K)):
            raise ValueError(f"the intrinsic metric K(z, h) of {type(model).__name__} is not finite in float64 at this "
                             f"(z, h) (largest |z| {np.max(np.abs(z)):.3g}, largest |h| "
                             f"{np.max(np.abs(h), initial=0.0):.3g}): the weights it stands for leave the float64 range")
        return K

    return evaluate


# -- ReLU ------------------------------------------------------------------------------------------
def _relu_closed_form(model, h):
    from .models import ReLUNet

    if not isinstance(model, ReLUNet):
        return None
    if model.n_layers == 2:
        return _two_layer_relu(model, h)
    if model.widths == (1, 1, 1, 1) and model.bias is False:
        return _scalar_chain(h)
    return None


def _two_layer_relu(model, h):
    """Block diagonal over hidden neurons j: K_j[G] = (Z_j Z_j^T / |v_j|^2) G + G (Z_j^T Z_j / |u_j|^2),
    |u_j|^2, |v_j|^2 = (±c_j + sqrt(c_j^2 + 4 |Z_j|_F^2)) / 2, c_j = |u_j|^2 - |v_j|^2 = -h_j (§3.4)."""
    d_in, width, d_out = model.widths
    bias_in, bias_out = model.has_bias(1), model.has_bias(2)
    blocks = []  # per hidden neuron: index matrix (d_out, d_in [+1]) of Z_j in z
    bias_base = d_in * width * d_out
    for j in range(width):
        cols = [[(i * width + j) * d_out + o for o in range(d_out)] for i in range(d_in)]
        if bias_in:
            cols.append([bias_base + j * d_out + o for o in range(d_out)])
        blocks.append(np.array(cols).T)
    output_bias = np.arange(model.n_lifted - d_out, model.n_lifted) if bias_out else np.zeros(0, dtype=int)

    def build(z):
        K = np.zeros((z.size, z.size))
        K[output_bias, output_bias] = 1.0  # an output bias is its own path: dz/db = 1
        for j, index in enumerate(blocks):
            Zj = z[index]
            frob2 = float(np.sum(Zj ** 2))
            if frob2 == 0.0:
                raise ValueError(f"hidden neuron {j} has Z_j = 0: the directions of its weights are lost and K is "
                                 "not a function of z there (docs/theory/intrinsic.md)")
            u2, v2 = two_layer_squares(-h[j], frob2)
            A, B = Zj @ Zj.T / v2, Zj.T @ Zj / u2
            flat = index.ravel()
            K[np.ix_(flat, flat)] = np.kron(A, np.eye(B.shape[0])) + np.kron(np.eye(A.shape[0]), B)
        return K

    return build


def two_layer_squares(c: float, frob2: float) -> tuple:
    """(|u|^2, |v|^2) from c = |u|^2 - |v|^2 and |u|^2 |v|^2 = frob2 > 0 (§3.4), without cancellation:
    the root on the side of the sign of c is (|c| + sqrt(c^2 + 4 frob2)) / 2, the other one
    2 frob2 / (|c| + sqrt(c^2 + 4 frob2)) (their product is frob2); hypot keeps c^2 from overflowing."""
    root = abs(c) + 2.0 * float(np.hypot(c / 2.0, np.sqrt(frob2)))  # |c| + sqrt(c^2 + 4 frob2)
    large, small = root / 2.0, 2.0 * frob2 / root
    return (large, small) if c >= 0 else (small, large)


def _scalar_chain(h):
    """z = a b c, h = (a^2 - b^2, b^2 - c^2); M = b^2 c^2 + a^2 c^2 + a^2 b^2 (§3.5), from the three
    squares of ``chain_squares``."""
    h1, h2 = float(h[0]), float(h[1])

    def build(z):
        a2, b2, c2 = chain_squares(float(z[0]), h1, h2)
        return np.array([[b2 * c2 + a2 * c2 + a2 * b2]])

    return build


def chain_squares(z: float, h1: float, h2: float) -> tuple:
    """(a^2, b^2, c^2) with a^2 - b^2 = h1, b^2 - c^2 = h2 and a^2 b^2 c^2 = z^2.

    Solved for the smallest square x, the others being x plus nonnegative differences of h (no
    cancellation, unlike b^2 + h1 when b^2 >> a^2): x (x + alpha) (x + beta) = z^2 with alpha,
    beta >= 0, increasing in x >= 0, so its root is unique (Newton from the right, monotone)."""
    # (a^2, b^2, c^2) minus the smallest of them, written for each candidate; the smallest is the
    # one whose offsets are all >= 0 (the minimum of the three from a^2 is taken to pick it)
    candidates = [np.array([0.0, -h1, -h1 - h2]), np.array([h1, 0.0, -h2]), np.array([h1 + h2, h2, 0.0])]
    smallest = int(np.argmin(candidates[0]))
    offsets = np.maximum(candidates[smallest], 0.0)
    others = np.delete(offsets, smallest)
    x = float(_invert_increasing(np.concatenate([[0.0], -others]), np.array([z * z]), +1.0)[0])
    return tuple(x + offsets)


def recover_squares(model, z, h, geometry) -> np.ndarray:
    """theta_e^2 (D,) with |phi(theta)| = |z| and h(theta) = h, for a path-lifting off zero weights.

    log theta^2 solves the linear system A log theta^2 = log z^2 (A the 0/1 path-parameter
    incidence), up to the neuron rescalings (ker A). The rescaling rho (log factor per hidden
    neuron) then solves h(rho) = h: h(rho) is the gradient of the strictly convex
    F(rho) = 1/2 sum_e theta_e^2 exp(2 (rho_dst - rho_src)), so the solution is unique and Newton
    on F(rho) - h.rho finds it. Branch: theta = +sqrt(theta^2); M sees only theta^2 and the signs of z.
    """
    return _Recovery(model, geometry).squares(_checks.finite_array(z, "z", (model.n_lifted,)),
                                              _checks.finite_array(h, "h", (model.n_known_laws,)))


class _Recovery:
    """What recovery needs from the model alone: the pseudo-inverse of the incidence A and, per
    parameter, the hidden neurons it enters (+1) and leaves (-1)."""

    def __init__(self, model, geometry) -> None:
        incidence = geometry.lift_jacobian(model, np.ones(model.n_params))
        self.incidence, self.pinv = incidence, np.linalg.pinv(incidence)
        graph = model.graph
        position = {v: k for k, v in enumerate(graph.hidden)}
        src = np.array([position.get(v, -1) if v >= 0 else -1 for v in graph.param_src])
        dst = np.array([position.get(v, -1) for v in graph.param_dst])
        self.signs = np.zeros((model.n_params, len(position)))
        rows = np.arange(model.n_params)
        self.signs[rows[dst >= 0], dst[dst >= 0]] += 1.0
        self.signs[rows[src >= 0], src[src >= 0]] -= 1.0
        self._start = np.zeros(self.signs.shape[1])  # warm start: the last solution (the root is unique)
        self.inflow, self.outflow = np.maximum(self.signs, 0).T, np.maximum(-self.signs, 0).T
        self.groups = [(np.flatnonzero(self.signs[:, j] > 0), np.flatnonzero(self.signs[:, j] < 0))
                       for j in range(self.signs.shape[1])]

    def squares(self, z, h):
        if np.any(z == 0):
            raise ValueError(f"z has {int(np.sum(z == 0))} zero entries: recovery needs every path nonzero "
                             "(the ReLU intrinsic metric holds off the set of zero weights)")
        target = np.log(z ** 2)
        log_squares = self.pinv @ target
        residual = float(np.max(np.abs(self.incidence @ log_squares - target)))
        # Off the image of phi (e.g. at Runge-Kutta stages, O(h^2) away) the least-squares solution
        # extends K smoothly; only a z far from any path-lifting is refused.
        if residual > 1e-3 * max(1.0, float(np.max(np.abs(target)))):
            raise ValueError(f"z is not the path-lifting of any theta without zero entries (log residual {residual:.2e})")
        return self._rescale(log_squares, h)

    def _rescale(self, log_base, h):
        """The squares exp(log_base + 2 S rho) (D,) whose laws are h, S = ``signs``: rho minimises the
        strictly convex F(rho) = 1/2 sum_e exp(log_base_e + 2 (S rho)_e) - h.rho.

        First Gauss-Seidel sweeps, in log space, until none moves a log-scale by more than 1/2: each
        minimises F exactly in each rho_j in turn (neuron j then satisfies its own law with in_j out_j
        fixed, ``two_layer_squares``), which brings any rescaling, even by 1e100, within reach. Then
        Newton steps, with an Armijo search on F while a step moves a square by more than e. Stops on the
        Newton step itself, per neuron and relative: when no log-scale moves by more than
        RECOVERY_STEP_TOL (each square moves by a relative 2 RECOVERY_STEP_TOL), or when a step no
        longer halves (the rounding floor of h). A tolerance on the gradient would not do: a neuron
        whose laws are dominated by large neighbours has a tiny gradient far from its root."""
        signs = self.signs
        rho = self._start.copy()

        def objective(r):
            logs = log_base + 2 * signs @ r
            squares = np.exp(logs)
            return 0.5 * squares.sum() - h @ r, logs

        previous = np.inf
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            logs = log_base + 2 * signs @ rho
            for _ in range(RECOVERY_MAX_ITERATIONS):  # coarse: no sweep moves a log-scale by more than 1/2
                logs, largest = self._sweep(logs, rho, h)
                if largest <= 0.5:
                    break
            value, logs = objective(rho)
            for _ in range(RECOVERY_MAX_ITERATIONS):
                squares = np.exp(logs)
                gradient = self.inflow @ squares - self.outflow @ squares - h
                if not np.all(np.isfinite(gradient)) or not np.any(gradient):
                    break
                try:
                    step = np.linalg.solve(2 * (signs * squares[:, None]).T @ signs, -gradient)
                except np.linalg.LinAlgError:
                    raise ValueError("the recovery of the weights from (z, h) is singular in float64 (squared weights "
                                     f"from {np.min(squares):.3g} to {np.max(squares):.3g}): no K at this (z, h)") from None
                length = float(np.max(np.abs(step)))
                if not np.isfinite(length) or (length < 1e-3 and length > 0.5 * previous):
                    break  # quadratic convergence has stopped: the rounding floor of h
                t = 1.0
                if length > 0.5:  # an Armijo search on F (a square would move by more than e)
                    slope = float(gradient @ step)
                    while t >= 1e-12:
                        new_value, _ = objective(rho + t * step)
                        if np.isfinite(new_value) and new_value <= value + 1e-4 * t * slope:
                            break
                        t /= 2
                rho = rho + t * step
                value, logs = objective(rho)
                if t == 1.0 and length <= RECOVERY_STEP_TOL:
                    break
                previous = length if t == 1.0 else np.inf
            squares = np.exp(logs)
        if np.all(np.isfinite(rho)):
            self._start = rho
        return squares

    def _sweep(self, logs, rho, h):
        """One Gauss-Seidel sweep over the hidden neurons in log space (rho updated in place):
        neuron j gets in_j - out_j = h_j with in_j out_j unchanged. Returns the new log-squares and
        the largest move of a log-scale."""
        logs = logs.copy()
        largest = 0.0
        for j, (incoming, outgoing) in enumerate(self.groups):
            log_in, log_out = _log_sum_exp(logs[incoming]), _log_sum_exp(logs[outgoing])
            if not (np.isfinite(log_in) and np.isfinite(log_out)):
                continue
            product = float(np.exp(log_in + log_out))  # in_j out_j, unchanged by rho_j
            new_in = two_layer_squares(float(h[j]), product)[0] if 0 < product < np.inf else np.nan
            if not new_in > 0:
                continue
            move = 0.5 * (np.log(new_in) - log_in)
            rho[j] += move
            logs[incoming] += 2 * move
            logs[outgoing] -= 2 * move
            largest = max(largest, abs(move))
        return logs, largest


def _log_sum_exp(values):
    top = np.max(values, initial=-np.inf)
    return top if not np.isfinite(top) else top + np.log(np.sum(np.exp(values - top)))


def _relu_recovery(model, h, geometry):
    recovery = _Recovery(model, geometry)

    def build(z):
        theta = np.sqrt(recovery.squares(z, h))
        if not np.all(np.isfinite(theta)) or np.any(theta == 0):
            raise ValueError(f"the weights recovered from (z, h) leave the float64 range (largest |z| "
                             f"{np.max(np.abs(z)):.3g}, largest |h| {np.max(np.abs(h), initial=0.0):.3g}): no finite K")
        sign = np.sign(z)
        return sign[:, None] * geometry.metric(model, theta) * sign[None, :]

    return build


# -- linear networks ------------------------------------------------------------------------------
def _conserved_matrices(widths, h):
    """H_l (n_l, n_l) from the upper triangles in h, l = 1..L-1."""
    matrices, offset = [], 0
    for n in widths[1:-1]:
        count = n * (n + 1) // 2
        H = np.zeros((n, n))
        H[np.triu_indices(n)] = h[offset:offset + count]
        matrices.append(H + np.triu(H, 1).T)
        offset += count
    return matrices


def _multiple_of_identity(H, name: str) -> float:
    lam = float(np.mean(np.diag(H)))
    distance = float(np.max(np.abs(H - lam * np.eye(H.shape[0]))))
    if distance > 1e-8 * max(1.0, float(np.max(np.abs(H)))):
        raise ValueError(f"{name} = {np.array2string(H, precision=3)} is not a multiple of the identity (distance "
                         f"{distance:.2e}): the intrinsic metric needs relaxed balance H = lam I (docs/theory/intrinsic.md)")
    return lam


def _eig_psd(S):
    values, vectors = np.linalg.eigh(S)
    return np.clip(values, 0.0, None), vectors


def _linear(model, h):
    widths = model.widths
    if len(widths) == 2:
        return lambda z: np.eye(z.size)  # z = W: M = I
    Hs = _conserved_matrices(widths, h)
    if len(widths) == 3:
        return _two_layer_linear(widths, _multiple_of_identity(Hs[0], "W2^T W2 - W1 W1^T"))
    if len(set(widths)) != 1:
        raise ValueError(f"intrinsic_metric for a LinearNet of depth >= 3 needs square layers (docs/theory/intrinsic.md), "
                         f"got widths {list(widths)}")
    lambdas = [_multiple_of_identity(H, f"H_{l}") for l, H in enumerate(Hs, start=1)]
    return _deep_square(widths[0], lambdas)


def _two_layer_linear(widths, lam):
    """K[G] = A_lam(Z) G + G B_lam(Z), Z = W2 W1 (n, m), width r (§4.3):
    A = Pi_Z [lam/2 + (Z Z^T + lam^2/4)^(1/2)], B = Pi_{Z^T} [-lam/2 + (Z^T Z + lam^2/4)^(1/2)],
    projectors dropped on the side of the larger root when that side has size r."""
    m, r, n = widths

    def side(S, shift, size, use_projector):
        values, vectors = _eig_psd(S)
        spectrum = shift + np.sqrt(values + shift * shift)
        if use_projector:
            tol = 1e-12 * max(1.0, float(values.max(initial=0.0)))
            spectrum = np.where(values > tol, spectrum, 0.0)
        return (vectors * spectrum) @ vectors.T

    def build(z):
        Z = z.reshape(n, m)
        rank = numerical_rank(Z) if np.any(Z) else 0
        if lam > 0 and n > r and rank < r:
            raise ValueError(f"no function of Z gives M: lam = {lam:.3g} > 0 with n = {n} > r = {r} and rank Z = {rank} "
                             f"< r; the rule of the intrinsic metric (docs/theory/intrinsic.md) needs n = r or rank Z = r")
        if lam < 0 and m > r and rank < r:
            raise ValueError(f"no function of Z gives M: lam = {lam:.3g} < 0 with m = {m} > r = {r} and rank Z = {rank} "
                             f"< r; the rule of the intrinsic metric (docs/theory/intrinsic.md) needs m = r or rank Z = r")
        A = side(Z @ Z.T, lam / 2, n, not (lam > 0 and n == r))
        B = side(Z.T @ Z, -lam / 2, m, not (lam < 0 and m == r))
        return np.kron(A, np.eye(m)) + np.kron(np.eye(n), B)

    return build


def _invert_increasing(poly_roots, values, sign):
    """For each w in values, the a >= max(sign * roots) with p(a) = prod_k (a - sign * root_k) = w.

    p is increasing and convex there (a product of positive increasing affine factors), so Newton
    started at a0 = max + w^(1/L), where p(a0) >= w, decreases monotonically to the root."""
    shifts = sign * np.asarray(poly_roots)
    a = shifts.max() + np.power(values, 1.0 / len(shifts))
    for _ in range(200):
        factors = a[:, None] - shifts[None, :]
        p = np.prod(factors, axis=1)
        slope = np.array([np.sum([np.prod(np.delete(row, k)) for k in range(row.size)]) for row in factors])
        step = np.where(slope > 0, (p - values) / np.where(slope > 0, slope, 1.0), 0.0)
        step = np.maximum(step, 0.0)  # monotone from the right; rounding must not overshoot
        a = a - step
        if np.all(step <= 1e-16 * np.maximum(np.abs(a), 1.0)):
            break
    return a


def _deep_square(n, lambdas):
    """K[G] = sum_j P_j G Q_j with P_j = prod_{k>j} (A - s_k), A = p^{-1}(W W^T), p(a) = prod_k (a - s_k),
    Q_j = prod_{k<j} (B + t_k), B = q^{-1}(W^T W), q(b) = prod_k (b + t_k);
    s_k = lam_k + ... + lam_{L-1}, t_k = lam_1 + ... + lam_{k-1} (§4.5)."""
    L = len(lambdas) + 1
    lam = np.asarray(lambdas)
    s = np.array([lam[k:].sum() for k in range(L)])      # s_1..s_L (s_L = 0)
    t = np.array([lam[:k].sum() for k in range(L)])      # t_1..t_L (t_1 = 0)

    def build(z):
        W = z.reshape(n, n)
        wa, qa = _eig_psd(W @ W.T)
        wb, qb = _eig_psd(W.T @ W)
        a = _invert_increasing(s, wa, +1.0)
        b = _invert_increasing(t, wb, -1.0)
        K = np.zeros((n * n, n * n))
        for j in range(1, L + 1):
            p_j = np.prod([a - s[k - 1] for k in range(j + 1, L + 1)], axis=0) if j < L else np.ones(n)
            q_j = np.prod([b + t[k - 1] for k in range(1, j)], axis=0) if j > 1 else np.ones(n)
            K += np.kron((qa * p_j) @ qa.T, (qb * q_j) @ qb.T)
        return K

    return build


def logarithmic_mean(a, b):
    """(a - b) / (log a - log b), = a on the diagonal a = b; a, b > 0 (broadcast)."""
    a, b = np.broadcast_arrays(np.asarray(a, dtype=float), np.asarray(b, dtype=float))
    x = a / b - 1.0
    small = np.abs(x) < 1e-8
    safe = np.where(small, 1.0, x)
    return np.where(small, b * (1 + x / 2 - x * x / 12), b * safe / np.log1p(safe))


def _neural_ode(model, h):
    """K[G] = (1/K) int_0^1 (Z Z^T)^(1-s) G (Z^T Z)^s ds = (1/K) Q_a [(Q_a^T G Q_b) o Lambda] Q_b^T with
    Lambda_ij the logarithmic mean of a_i and b_j (§5), K = n_steps. The integral is the L^2 flow of
    A(s); the Euclidean metric on theta = (A_1, ..., A_K) is K times the L^2 one
    (sum_k |A_k|^2 ~ K int |A|^2), hence the 1/K. The continuum limit: the model with n_steps pieces
    follows it up to O(1/n_steps). Each H_k must be a multiple of I (relaxed balance)."""
    n = model.n
    for k, H in enumerate(_conserved_matrices(model.widths, h), start=1):
        _multiple_of_identity(H, f"H_{k}")

    def build(z):
        Z = z.reshape(n, n)
        wa, qa = np.linalg.eigh(Z @ Z.T)
        wb, qb = np.linalg.eigh(Z.T @ Z)
        if min(wa.min(), wb.min()) <= 0:
            raise ValueError("Z = U_K ... U_1 is singular; the flow map of a neural ODE is invertible")
        weights = logarithmic_mean(wa[:, None], wb[None, :]).ravel() / model.n_steps
        basis = np.kron(qa, qb)
        return (basis * weights) @ basis.T

    return build
