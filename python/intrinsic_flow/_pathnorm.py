"""Path-norms ||phi(theta)||_q, written once over a backend's path sums (docs/theory/lifting.md).

One forward and one backward sweep of the graph on a_e = |w_e|^q (w: the edge weights) give
S = sum_p prod_{e in p} a_e = ||phi(theta)||_q^q and dS/da_e = start(e) backward(dst e); no path
is listed. The kernels are the path sums of the core (cpp/path_sums.hpp) or of the reference.
"""
from __future__ import annotations

import numbers
from typing import Any, Callable

import numpy as np

from . import _checks
from ._graph import in_out_params, topological_order
from ._shared import abs_power, path_norm_from_sums


def _order(q) -> float:
    if isinstance(q, bool) or not isinstance(q, numbers.Real) or np.isnan(float(q)) or float(q) <= 0:
        raise ValueError(f"q must be a positive real number or inf (1 for the l1 path-norm, 2 for l2, ...), got {q!r}")
    return float(q)


def _largest_path(graph, w: np.ndarray) -> tuple:
    """(max_p prod_{e in p} |w_e|, the edges of one path reaching it) by one sweep in topological
    order (max-product instead of sum-product), ties to the first edge in parameter order."""
    a = np.abs(w)
    order = topological_order(graph)
    incoming = in_out_params(graph)[0]
    best, via = np.zeros(graph.n_neurons), np.full(graph.n_neurons, -1)
    src = np.asarray(graph.param_src)
    for v in order:
        if v < graph.n_inputs:
            best[v] = 1.0
            continue
        edges = incoming[v]
        values = a[edges] * np.where(src[edges] < 0, 1.0, best[np.maximum(src[edges], 0)])
        k = int(np.argmax(values)) if edges.size else -1
        best[v], via[v] = (values[k], edges[k]) if edges.size else (0.0, -1)
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
        """The path-norm ||phi(theta)||_q = (sum_p |phi_p(theta)|^q)^(1/q), without listing paths.

        phi is the path-lifting (one entry per path from an input or a bias to an output, the
        product of the weights along it; biases included as in :func:`lift`). One forward pass of
        the network on the weights |w_e|^q with all inputs (and the bias source) equal to 1 and
        every neuron summing its incoming values gives S = ||phi||_q^q at the outputs; max neurons
        of a ``SharedReLUNet`` count as unit sums (every path through them). The gradient follows
        from one backward pass: dS/dw_e = F(src e) B(dst e) q |w_e|^(q-1) sign(w_e), with F, B the
        forward and backward sums (F = 1 at a bias source), summed over the edges of each shared
        parameter, and d||phi||_q = S^(1/q - 1) dS / q.

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
            finite vector of length D, or the model is not a path-lifting model (``LinearNet``: its
            lifting is the product matrix, whose q-norm is that of :func:`lift`).

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
        lifting = self._lifting_of(model)
        # the gradient (one more pass over the edges, and the contraction to theta) only on request
        if kind == "shared":
            total, grad_s = lifting.path_sums(theta, q, return_grad)
        else:
            g = model.graph
            if not return_grad:
                forward = np.asarray(lifting.forward_sums(abs_power(theta, q)))
                return float(np.sum(forward[g.first_output:]) ** (1.0 / q))
            forward, backward = (np.asarray(x) for x in lifting.path_sums(abs_power(theta, q)))
            total, grad_s = path_norm_from_sums(np.asarray(g.param_src), np.asarray(g.param_dst), theta, q, forward,
                                                backward, g.first_output, None, return_grad)
        norm = total ** (1.0 / q)
        if not return_grad:
            return float(norm)
        scale = norm / (q * total) if total > 0 else 0.0  # S^(1/q - 1) / q
        return float(norm), np.asarray(grad_s, dtype=np.float64) * scale

    @staticmethod
    def _largest(model, theta, return_grad: bool):
        """q = inf: max_p |phi_p| and, with return_grad, the gradient of |phi_p| along one maximising
        path (sign(w_e) times the product of the other |w_g|, summed over a parameter's edges)."""
        if model.kind == "shared":
            graph, w = model.edge_graph, model.structure.kernel_weights(theta)
            contract = model.structure.contract
        else:
            graph, w, contract = model.graph, theta, None
        top, path = _largest_path(graph, w)
        if not return_grad:
            return top
        per_edge = np.zeros(w.size)
        a = np.abs(w)
        for k, e in enumerate(path):
            per_edge[e] += np.sign(w[e]) * np.prod(a[path[:k] + path[k + 1:]])
        return top, (per_edge if contract is None else contract(per_edge))
