"""Path-norms ||phi(theta)||_q, written once over a backend's path sums (docs/theory/lifting.md).

One forward and one backward sweep of the graph on a_e = |w_e|^q (w: the edge weights) give
S = sum_p prod_{e in p} a_e = ||phi(theta)||_q^q and dS/da_e = start(e) backward(dst e); no path
is listed. The kernels are the path sums of the core (cpp/path_sums.hpp) or of the reference.

These plain sums leave the float64 range as soon as |w_e|^q or a partial product does (a neuron
rescaled by 1e160, which leaves phi unchanged, or q = 800 with |w| < 1). Each result of the plain
sweep is therefore checked (every |w_e|^q of a nonzero weight and every sum a normal number, no
sum of nonzero terms exactly 0); when a check fails the same sums are taken in log space,
(1/q) log of each sum by a log-sum-exp over each neuron's terms, so that the norm and its
gradient are those of phi whatever the scale of theta and the order q.
"""
from __future__ import annotations

import math
import numbers
from typing import Any, Callable

import numpy as np

from . import _checks
from ._graph import in_out_params, topological_order

TINY = np.finfo(np.float64).tiny  # the smallest normal number: below it, products lose digits
LOWEST_SUM = 1e-280  # a nonzero sum below this may have lost its dominant terms to underflow
LOG_LARGEST = math.log(np.finfo(np.float64).max)
SMALLEST_PLAIN_ORDER = 0.01  # below, S^(1/q) amplifies rounding by 1/q: the log-space sums instead


def _order(q) -> float:
    if isinstance(q, bool) or not isinstance(q, numbers.Real):
        raise ValueError(f"q must be a positive real number or inf (1 for the l1 path-norm, 2 for l2, ...), got {q!r}")
    try:
        value = float(q)
    except OverflowError:  # an integer beyond float64: the norm is the largest path to float64 accuracy
        value = math.inf
    if np.isnan(value) or value <= 0:
        raise ValueError(f"q must be a positive real number or inf (1 for the l1 path-norm, 2 for l2, ...), got {q!r}")
    return value


def abs_power(w: np.ndarray, q: float) -> np.ndarray:
    """|w|^q, without the general power for q = 1 and 2 (overflow and underflow left to the checks)."""
    with np.errstate(over="ignore", under="ignore"):
        if q == 1:
            return np.abs(w)
        if q == 2:
            return w * w
        return np.abs(w) ** q


def log_sum_exp(values: np.ndarray, q: float) -> float:
    """(1/q) log sum_k exp(q values_k), by the largest value (-inf for none or all -inf)."""
    top = float(np.max(values)) if values.size else -math.inf
    if math.isinf(top):
        return top
    return top + math.log(float(np.sum(np.exp(q * (values - top))))) / q


class _Graph:
    """The edge graph the sums run on: the backend's kernel (``forward_sums``, ``path_sums``,
    ``log_path_sums``), the weights w on its edges, their sources and targets (-1: a bias), the
    first output, and ``contract`` (per-edge values to theta; None: one parameter per edge)."""

    def __init__(self, model, lifting, theta) -> None:
        if model.kind == "shared":
            s = model.structure
            self.kernel, self.w, self.contract = lifting.edge, s.kernel_weights(theta), s.contract
            self._src, self._dst = s.kernel_src, s.kernel_dst
            self.first_output = s.kernel_n_neurons - model.n_outputs
            self.fixed = s.kernel_fixed  # edges of fixed weight: no entry of the gradient
        else:
            g = model.graph
            self.kernel, self.w, self.contract = lifting, theta, None
            self._src, self._dst = g.param_src, g.param_dst  # tuples: arrays on first need
            self.first_output = g.first_output
            self.fixed = np.zeros(0, dtype=np.int64)

    @property
    def src(self) -> np.ndarray:
        self._src = np.asarray(self._src, dtype=np.int64)
        return self._src

    @property
    def dst(self) -> np.ndarray:
        self._dst = np.asarray(self._dst, dtype=np.int64)
        return self._dst

    def start(self, forward: np.ndarray, bias_value: float) -> np.ndarray:
        """forward at the source of each edge, ``bias_value`` at a bias."""
        values = forward[np.maximum(self.src, 0)]
        values[self.src < 0] = bias_value
        return values


def _sums_exact(graph: _Graph, a: np.ndarray, sums: np.ndarray, forward: bool) -> bool:
    """Whether plain sums (forward, or backward) on a = |w|^q lost nothing to the float64 range:
    all finite (an overflow reaches every sum after it), every |w_e|^q of a nonzero weight normal,
    every nonzero sum above LOWEST_SUM (then a term lost to underflow is below its sum's last
    digit), and no sum 0 while one of its terms has two nonzero factors (all of them underflowed)."""
    if not np.all(np.isfinite(sums)):
        return False
    if a.size and a.min() < TINY and np.any((a < TINY) & (graph.w != 0)):  # the second pass only with zeros
        return False
    if np.any((sums != 0) & (sums < LOWEST_SUM)):
        return False
    if np.all(sums != 0):
        return True
    if forward:
        receiver, sender = graph.dst, graph.start(sums, 1.0)
    else:
        inner = graph.src >= 0
        receiver, sender = np.where(inner, graph.src, 0), np.where(inner, sums[graph.dst], 0.0)
    return not np.any((sums[receiver] == 0) & (a != 0) & (sender != 0))


def _plain_gradient(graph: _Graph, q: float, a, forward, backward, norm: float, total: float):
    """d||phi||_q / dw_e = start(e) backward(dst e) q |w_e|^(q-1) sign(w_e) S^(1/q - 1) / q per edge
    (0 at w_e = 0, and everywhere when the norm is 0)."""
    w = graph.w
    if q == 1:
        slope = np.sign(w)
    elif q == 2:
        slope = 2.0 * w
    else:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            slope = np.where(w != 0, q * a / np.where(w != 0, w, 1.0), 0.0)
    if total == 0:
        return np.zeros(w.size)
    scale = norm / total / q  # S^(1/q - 1) / q (q S itself may overflow)
    if not TINY <= scale < math.inf:
        return None  # the log-space gradient
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        per_edge = graph.start(forward, 1.0) * backward[graph.dst] * slope * scale
    per_edge[graph.fixed] = 0.0
    return per_edge


def _log_norm(graph: _Graph, q: float, grad: bool):
    """(log ||phi||_q, log forward sums, log backward sums or None), in log space."""
    with np.errstate(divide="ignore"):
        log_w = np.log(np.abs(graph.w))
    with np.errstate(under="ignore", over="ignore"):  # an overflow is a sum beyond float64: +inf, refused after
        forward, backward = graph.kernel.log_path_sums(log_w, q, grad)
    forward = np.asarray(forward)
    return log_sum_exp(forward[graph.first_output:], q), log_w, forward, backward


def _log_gradient(graph: _Graph, q: float, log_norm: float, log_w, forward, backward) -> np.ndarray:
    """d||phi||_q / dw_e = ||phi||_q r_e / w_e with r_e = start(e) |w_e|^q backward(dst e) / S, the
    share of S on the paths through e, in logs: sign(w_e) exp(log N - log|w_e| + q (log start(e) +
    log|w_e| + log backward(dst e) - log N)), the last bracket <= 0."""
    w = graph.w
    if log_norm == -math.inf:
        return np.zeros(w.size)
    backward = np.asarray(backward)[graph.dst]
    start = graph.start(forward, 0.0)
    on_paths = (w != 0) & (start > -np.inf) & (backward > -np.inf)  # else a zero factor: no share of S
    on_paths[graph.fixed] = False  # a fixed weight has no entry in the gradient
    with np.errstate(invalid="ignore", over="ignore"):
        exponent = log_norm - log_w + q * (start + log_w + backward - log_norm)
        per_edge = np.where(on_paths, np.sign(w) * np.exp(np.where(on_paths, exponent, -np.inf)), 0.0)
    if not np.all(np.isfinite(per_edge)):
        e = int(np.flatnonzero(~np.isfinite(per_edge))[0])
        raise ValueError(f"the gradient of the path-norm is beyond the float64 range at the edge weight w = "
                         f"{w[e]!r} (its entry is about exp({exponent[e]:.1f})); rescale theta")
    return per_edge


def _beyond_range(log_norm: float, q: float) -> ValueError:
    return ValueError(f"the path-norm ||phi(theta)||_q (q = {q!r}) is exp({log_norm:.6g}), beyond the float64 range; "
                      "theta (or, for q < 1, the number of paths) is too large for its value to be represented")


def q_norm(graph: _Graph, q: float, grad: bool):
    """(||phi||_q, per-edge gradient or None): the plain sweeps where they are exact, else (for the
    norm, or for the gradient alone) the log-space ones."""
    if q < SMALLEST_PLAIN_ORDER:  # S^(1/q) would multiply the rounding of S by 1/q
        return _in_logs(graph, q, grad, None)
    a = abs_power(graph.w, q)
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):  # out of range: checked below
        if grad:
            forward, backward = (np.asarray(x) for x in graph.kernel.path_sums(a))
        else:
            forward, backward = np.asarray(graph.kernel.forward_sums(a)), None
    norm = None
    if _sums_exact(graph, a, forward, True):
        total = float(np.sum(forward[graph.first_output:]))
        with np.errstate(over="ignore", under="ignore"):
            norm = float(np.float64(total) ** (1.0 / q))  # inf when beyond the range (then in logs)
        # beyond the range, or below the normal numbers (the gradient N / w_e may still be in range)
        norm = norm if math.isfinite(norm) and (norm >= TINY or total == 0) else None
    if not grad and norm is not None:
        return norm, None
    if norm is not None and _sums_exact(graph, a, backward, False):
        per_edge = _plain_gradient(graph, q, a, forward, backward, norm, total)
        if per_edge is not None and np.all(np.isfinite(per_edge)):
            return norm, per_edge
    return _in_logs(graph, q, grad, norm)


def _in_logs(graph: _Graph, q: float, grad: bool, norm):
    """(||phi||_q, per-edge gradient or None) by the log-space sums (``norm``: the value of the
    plain sums when they gave it)."""
    log_norm, log_w, log_forward, log_backward = _log_norm(graph, q, grad)
    if not log_norm <= LOG_LARGEST:
        raise _beyond_range(log_norm, q)
    if norm is None:
        norm = math.exp(log_norm)
    if not grad:
        return norm, None
    return norm, _log_gradient(graph, q, math.log(norm) if norm > 0 else log_norm, log_w, log_forward, log_backward)


def _largest_path(graph, w: np.ndarray) -> tuple:
    """(max_p sum_{e in p} log|w_e| (-inf when every path has a zero weight), the edges of one path
    reaching it) by one max-plus sweep in topological order, in logs so that no partial product
    leaves the float64 range; ties to the first edge in parameter order."""
    with np.errstate(divide="ignore"):
        la = np.log(np.abs(w))
    order = topological_order(graph)
    incoming = in_out_params(graph)[0]
    best, via = np.full(graph.n_neurons, -np.inf), np.full(graph.n_neurons, -1)
    src = np.asarray(graph.param_src)
    for v in order:
        if v < graph.n_inputs:
            best[v] = 0.0
            continue
        edges = incoming[v]
        if not edges.size:
            continue
        values = la[edges] + np.where(src[edges] < 0, 0.0, best[np.maximum(src[edges], 0)])
        k = int(np.argmax(values))
        best[v], via[v] = values[k], edges[k]
    outputs = np.arange(graph.first_output, graph.n_neurons)
    v = int(outputs[np.argmax(best[outputs])])
    top, path = float(best[v]), []
    while v >= graph.n_inputs and via[v] >= 0:
        e = int(via[v])
        path.append(e)
        if src[e] < 0:
            break
        v = int(src[e])
    return top, path


class PathNormFrontEnd:
    """``path_norm`` over ``lifting_of(model)``: the backend's object with ``path_sums``."""

    def __init__(self, lifting_of: Callable[[Any], Any]) -> None:
        self._lifting_of = lifting_of

    def path_norm(self, model, theta, q: float = 1, return_grad: bool = False):
        r"""The path-norm ||phi(theta)||_q = (sum_p |phi_p(theta)|^q)^(1/q), without listing paths.

        .. math::

            \|\phi(\theta)\|_q = \Bigl(\sum_p |\phi_p(\theta)|^q\Bigr)^{1/q}
            = S^{1/q}, \qquad S = \sum_p \prod_{e \in p} |w_e|^q .

        :math:`\phi` is the path-lifting (one entry per path from an input or a bias to an output,
        the product of the weights along it; biases included as in :func:`lift`). One forward pass
        of the network on the weights :math:`|w_e|^q` with all inputs (and the bias source) equal
        to 1 and every neuron summing its incoming values gives :math:`S` at the outputs; max
        neurons of a ``SharedReLUNet`` count as unit sums (every path through them). The gradient
        follows from one backward pass, with :math:`F, B` the forward and backward sums
        (:math:`F = 1` at a bias source), summed over the edges of each shared parameter:

        .. math::

            \frac{\partial S}{\partial w_e} &= F(\mathrm{src}\, e)\, B(\mathrm{dst}\, e)\,
            q\, |w_e|^{q-1} \operatorname{sign}(w_e),

            \partial \|\phi\|_q &= \tfrac{1}{q}\, S^{1/q - 1}\, \partial S.

        Where :math:`|w_e|^q` or a sum leaves the float64
        range (a neuron rescaled by 1e160, q = 800 with small weights) the sweeps run in log space
        (a log-sum-exp at each neuron): the result is invariant under the rescaling symmetries and
        lies in :math:`[\max_p |\phi_p|,\ d^{1/q} \max_p |\phi_p|]` whatever the scale of theta
        and q.

        Parameters
        ----------
        model : ReLUNet, DAGReLUNet or SharedReLUNet
            A path-lifting model; D = ``model.n_params``.
        theta : array_like of shape (D,)
            The parameters, finite.
        q : float, default 1
            The order, a positive real (q < 1 gives a quasi-norm) or ``np.inf``: max_p |phi_p|,
            by one max-product sweep (its gradient along one maximising path).
        return_grad : bool, default False
            Also return the gradient in theta.

        Returns
        -------
        norm : float
            ||phi(theta)||_q.
        grad : ndarray of shape (D,)
            Only with ``return_grad``: d ||phi(theta)||_q / d theta. At theta_i = 0 the entry
            uses sign(0) = 0 (the derivative for q > 1, a subgradient for q = 1); it is 0 when
            the norm is 0.

        Raises
        ------
        ValueError
            If ``q`` is not a positive real or inf, ``return_grad`` not a bool, ``theta`` not a
            finite vector of length D, the model is not a path-lifting model (``LinearNet``: its
            lifting is the product matrix, whose q-norm is that of :func:`lift`), or the norm (or
            an entry of its gradient) itself is beyond the float64 range.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> net = itf.ReLUNet([2, 3, 1], bias=True)
        >>> theta = net.init(0)
        >>> norm = itf.path_norm(net, theta, q=2)
        >>> bool(np.isclose(norm, np.linalg.norm(itf.lift(net, theta))))
        True
        >>> norm, grad = itf.path_norm(net, theta, q=1, return_grad=True)
        >>> grad.shape
        (13,)
        """
        q = _order(q)
        return_grad = _checks.boolean(return_grad, "return_grad")
        kind = getattr(model, "kind", None)
        if kind not in ("path", "shared"):
            raise ValueError(f"path_norm needs a path-lifting model (ReLUNet, DAGReLUNet or SharedReLUNet), got "
                             f"{model!r:.120}; a LinearNet's lifting is the product matrix W_L ... W_1: take "
                             "np.linalg.norm(lift(model, theta).ravel(), q) for its q-norm")
        theta = _checks.theta(model, theta)
        if q == np.inf:
            return self._largest(model, theta, return_grad)
        graph = _Graph(model, self._lifting_of(model), theta)
        # the gradient (one more pass over the edges, and the contraction to theta) only on request
        norm, per_edge = q_norm(graph, q, return_grad)
        if not return_grad:
            return float(norm)
        with np.errstate(over="ignore"):
            grad = np.asarray(per_edge if graph.contract is None else graph.contract(per_edge), dtype=np.float64)
        if not np.all(np.isfinite(grad)):  # the edges of one parameter may sum beyond float64
            i = int(np.flatnonzero(~np.isfinite(grad))[0])
            raise ValueError(f"the gradient of the path-norm is beyond the float64 range at theta[{i}] = {theta[i]!r}; "
                             "rescale theta")
        return float(norm), grad

    @staticmethod
    def _largest(model, theta, return_grad: bool):
        """q = inf: max_p |phi_p| and, with return_grad, the gradient of |phi_p| along one maximising
        path (sign(w_e) times the product of the other |w_g|, summed over a parameter's edges)."""
        if model.kind == "shared":
            graph, w = model.edge_graph, model.structure.kernel_weights(theta)
            contract = model.structure.contract
        else:
            graph, w, contract = model.graph, theta, None
        log_top, path = _largest_path(graph, w)
        if log_top > LOG_LARGEST:
            raise _beyond_range(log_top, math.inf)
        top = math.exp(log_top)
        if not return_grad:
            return top
        per_edge = np.zeros(w.size)
        with np.errstate(divide="ignore"):
            la = np.log(np.abs(w))
        fixed = set(model.structure.kernel_fixed.tolist()) if model.kind == "shared" else set()
        for e in path:  # sign(w_e) prod_{g != e} |w_g| = sign(w_e) exp(log_top - log|w_e|)
            if w[e] != 0 and e not in fixed:  # a fixed weight has no entry in the gradient
                per_edge[e] += np.sign(w[e]) * math.exp(min(log_top - la[e], LOG_LARGEST + 1.0))
        if not np.all(np.isfinite(per_edge)):
            raise ValueError("the gradient of the path-norm (q = inf) is beyond the float64 range; rescale theta")
        return top, (per_edge if contract is None else contract(per_edge))
