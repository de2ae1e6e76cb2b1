"""The public logic of ``intrinsic_flow.parameterizations``, written once for both backends.

Every function takes the network class of a backend (the core's ``AbcNetwork`` or its NumPy twin
in ``intrinsic_flow.reference.parameterizations``) as its first argument; :func:`bind_api`
returns the public functions with that argument bound. The mathematics is in
docs/theory/parameterizations.md.
"""
from __future__ import annotations

import functools
import inspect
import itertools
import math
import numbers
from dataclasses import dataclass, field

import numpy as np

from . import _checks
from ._extras import install_hint

#: The abc-parameterisations of :func:`abc_exponents`: integrable (``ip``), IP-LLR with and without
#: unscaled biases, maximal update (``mup``), neural tangent (``ntk``) and the standard one.
SCHEMES = ("ip", "ipllr", "ipllr_bias", "mup", "ntk", "standard")
#: The activations sigma of the hidden layers (GELU with the exact erf, ELU with alpha = 1).
ACTIVATIONS = ("relu", "gelu", "elu", "tanh", "sigmoid")
LOSSES = ("cross_entropy", "mse")
# Variance v of the initial weights per activation, as in the authors' code (their default 2 for sigmoid).
INIT_VARIANCE = {"relu": 2.0, "gelu": 4.0, "elu": 1.0, "tanh": 1.0, "sigmoid": 2.0}
MAX_BASE_LR = 500.0
ABC_MAX_WORK = 1e15
"""Largest number of multiply-adds a :func:`coord_check` or :func:`train` call may plan (hours on a
few cores); a call planning more is refused before any work, naming this limit. Raise
``intrinsic_flow._parameterizations.ABC_MAX_WORK`` to run more."""
ROW_BYTES = 400
"""Bytes per row of a coord_check or train table while it is built (a tuple of Python numbers,
then the DataFrame): the rows are counted against ``config.max_bytes``."""
_INV_SQRT2 = 1.0 / math.sqrt(2.0)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)
_erf = np.frompyfunc(math.erf, 1, 1)  # the C library's erf, as the core uses


def activate(kind: str, h: np.ndarray) -> np.ndarray:
    """sigma(h) for the activation named ``kind`` (GELU with the exact erf, ELU with alpha = 1)."""
    if kind == "relu":
        return np.maximum(h, 0.0)
    if kind == "gelu":
        return 0.5 * h * (1.0 + _erf(h * _INV_SQRT2).astype(np.float64))
    if kind == "elu":
        return np.where(h > 0.0, h, np.expm1(np.minimum(h, 0.0)))
    if kind == "tanh":
        return np.tanh(h)
    return 1.0 / (1.0 + np.exp(-h))


def derivative(kind: str, h: np.ndarray) -> np.ndarray:
    """sigma'(h)."""
    if kind == "relu":
        return (h > 0.0).astype(np.float64)
    if kind == "gelu":
        return 0.5 * (1.0 + _erf(h * _INV_SQRT2).astype(np.float64)) + h * _INV_SQRT2PI * np.exp(-0.5 * h * h)
    if kind == "elu":
        return np.where(h > 0.0, 1.0, np.exp(np.minimum(h, 0.0)))
    if kind == "tanh":
        return 1.0 - np.tanh(h) ** 2
    sig = 1.0 / (1.0 + np.exp(-h))
    return sig * (1.0 - sig)


# -- exponents -------------------------------------------------------------------------------------

def _scheme(value) -> str:
    if not isinstance(value, str) or value not in SCHEMES:
        raise ValueError(f"scheme must be one of {', '.join(SCHEMES)}, got {value!r}")
    return value


def _n_hidden(value) -> int:
    return _checks.positive_int(value, "n_hidden")


def abc_exponents(scheme: str, n_hidden: int, *, warmup: bool = False) -> tuple:
    r"""Exponents (a, b, c) of an abc-parameterisation with ``n_hidden`` hidden layers.

    With m the width and L = ``n_hidden``, the network has L + 1 weight matrices W_0 .. W_L,
    initialised as W_l = m^{-b_l} U_l with U_l of a law independent of m, trained by SGD with the
    learning rate of W_l below, and the forward pass

    .. math::

        h_1 &= m^{-a_0} (W_0 x + \beta_0),

        h_{l+1} &= m^{-a_l} W_l \, \sigma(h_l),

        f &= m^{-a_L} W_L \, \sigma(h_L),

        \eta_l &= \eta \, m^{-c_l} \quad \text{(the learning rate of } W_l\text{)}

    (``ipllr_bias`` adds a bias beta_l that does not scale with m to every later layer, including
    f; see :func:`bias_lr_exponents`).

    ========== ====================== ================== ===================================================
    scheme     a                      b                  c
    ========== ====================== ================== ===================================================
    ip         (0, 1, ..., 1)         0                  (-1, -2, ..., -2, -1)  (mean-field)
    ipllr      (0, 1, ..., 1)         0                  warm-up: (-(L+1)/2, -(L+2)/2, ..., -(L+1)/2);
                                                         then as ip
    ipllr_bias (0, 1, ..., 1)         0                  warm-up: (-(L+1)/2, -(L-l+4)/2 for l = 2..L, -1);
                                                         then as ip
    mup        (-1/2, 0, ..., 0, 1/2) 1/2                0
    ntk        (0, 1/2, ..., 1/2)     0                  0
    standard   0                      (0, 1/2, ..., 1/2) 0
    ========== ====================== ================== ===================================================

    Parameters
    ----------
    scheme : {"ip", "ipllr", "ipllr_bias", "mup", "ntk", "standard"}
    n_hidden : int
        L >= 1, the number of hidden layers.
    warmup : bool
        For ``ipllr`` and ``ipllr_bias``, the exponents c of the first (warm-up) step; ignored
        by the other schemes.

    Returns
    -------
    a, b, c : numpy.ndarray
        Each of shape (L + 1,), one entry per weight matrix.

    Raises
    ------
    ValueError
        For an unknown scheme or n_hidden < 1.

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import abc_exponents
    >>> a, b, c = abc_exponents("ipllr", 3, warmup=True)
    >>> a.tolist(), c.tolist()
    ([0.0, 1.0, 1.0, 1.0], [-2.0, -2.5, -2.5, -2.0])
    """
    scheme = _scheme(scheme)
    L = _n_hidden(n_hidden)
    warmup = _checks.boolean(warmup, "warmup")
    n = L + 1
    _checks.check_size(4.0 * n, f"the exponents of {L} hidden layers")  # a, b, c and one temporary

    def ends(first: float, middle: float, last: float) -> np.ndarray:
        v = np.full(n, middle)
        v[0], v[-1] = first, last
        return v

    integrable = ends(0.0, 1.0, 1.0)
    if scheme == "ip" or (scheme in ("ipllr", "ipllr_bias") and not warmup):
        return integrable, np.zeros(n), ends(-1.0, -2.0, -1.0)
    if scheme == "ipllr":
        return integrable, np.zeros(n), ends(-(L + 1) / 2, -(L + 2) / 2, -(L + 1) / 2)
    if scheme == "ipllr_bias":
        c = -(L - np.arange(n) + 3) / 2.0  # entry k = 1..L - 1 (layer l = k + 1): -(L - l + 4)/2
        c[0], c[-1] = -(L + 1) / 2, -1.0
        return integrable, np.zeros(n), c
    if scheme == "mup":
        return ends(-0.5, 0.0, 0.5), np.full(n, 0.5), np.zeros(n)
    if scheme == "ntk":
        return ends(0.0, 0.5, 0.5), np.zeros(n), np.zeros(n)
    return np.zeros(n), ends(0.0, 0.5, 0.5), np.zeros(n)


def bias_lr_exponents(n_hidden: int, *, warmup: bool = False) -> np.ndarray:
    r"""Learning-rate exponents of the biases of ``ipllr_bias`` (biases that do not scale with m).

    One entry per layer with a bias; bias l gets the SGD learning rate eta m^{-e_l}
    (``AbcModel.bias_learning_rates``), with

    .. math::

        e_l &= -\frac{L - l + 2}{2} \ (1 \le l \le L), \quad e_{L+1} = 0 \quad \text{(warm-up)},

        e_l &= -1 \ (1 \le l \le L), \quad e_{L+1} = 0 \quad \text{(afterwards)}.

    Entry 0 of the result (e_1) is the first layer's bias beta_0, entries 1..L - 1 the biases of
    h_2 .. h_L and entry L that of f.

    Parameters
    ----------
    n_hidden : int
        L >= 1.
    warmup : bool
        The warm-up (first step) values or the later ones.

    Returns
    -------
    numpy.ndarray
        Shape (L + 1,).

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import bias_lr_exponents
    >>> bias_lr_exponents(2, warmup=True).tolist()
    [-1.5, -1.0, 0.0]
    """
    L = _n_hidden(n_hidden)
    warmup = _checks.boolean(warmup, "warmup")
    _checks.check_size(2.0 * (L + 1), f"the bias exponents of {L} hidden layers")
    e = -(L - np.arange(1, L + 2) + 2) / 2.0 if warmup else np.full(L + 1, -1.0)
    e[-1] = 0.0
    return e


# -- validation ------------------------------------------------------------------------------------

def _choice(value, name: str, accepted: tuple) -> str:
    if not isinstance(value, str) or value not in accepted:
        raise ValueError(f"{name} must be one of {', '.join(accepted)}, got {value!r}")
    return value


def _seed(value, name: str = "seed") -> int:
    if not _checks.is_integer(value) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return int(value)


def _n_params(d_in: int, width: int, n_out: int, n_hidden: int) -> float:
    return float(width) * d_in + width + (n_hidden - 1) * float(width) * width + float(n_out) * width


def _batch_bytes(width: int, n_out: int, n_hidden: int, batch: int) -> float:
    """Doubles of the work buffers of a batch: pre- and post-activations, their gradients, and the
    one-hot targets, output and output error (batch, n_out)."""
    return 4.0 * (n_hidden + 1) * width * batch + 3.0 * n_out * batch


def _network_bytes(d_in: int, width: int, n_out: int, n_hidden: int, batch: int) -> float:
    """Doubles held by a network and its work buffers (the weights twice: the initial copy is kept)."""
    return 2.0 * _n_params(d_in, width, n_out, n_hidden) + _batch_bytes(width, n_out, n_hidden, batch)


def _check_work(work: float, what: str) -> None:
    """Refuse, before any work, a call that plans more than ABC_MAX_WORK multiply-adds."""
    if work > ABC_MAX_WORK:
        raise ValueError(f"{what} would take about {work:.2g} multiply-adds, more than "
                         f"intrinsic_flow._parameterizations.ABC_MAX_WORK = {ABC_MAX_WORK:.0e}; use fewer steps, "
                         "seeds or smaller widths, or raise ABC_MAX_WORK")


def _check_rows(n_rows: float, what: str) -> None:
    _checks.check_size(n_rows, f"{what} ({n_rows:.3g} rows)", itemsize=ROW_BYTES)


def _lr(value, name: str = "lr") -> float:
    return _checks.positive_real(value, name)


def _rates(base: np.ndarray, width: int, exponents: np.ndarray, what: str, a: np.ndarray | None = None) -> list:
    """base_l m^{-e_l} as Python floats, refused when one overflows (deep IP-LLR at a large width, a
    huge lr), or, given the forward exponents a, when the step factor rate_l m^{-a_l} of the
    weights' update overflows (the backends would then differ in where inf - inf makes NaN)."""
    m = float(width)
    with np.errstate(over="ignore"):
        rates = np.asarray(base, dtype=np.float64) * np.power(m, -np.asarray(exponents, dtype=np.float64))
        factors = rates if a is None else rates * np.power(m, -np.asarray(a, dtype=np.float64))
    if not np.all(np.isfinite(factors)):
        layer = int(np.flatnonzero(~np.isfinite(factors))[0])
        scale = "" if a is None else f" and the layer's scale m^{-a[layer]:g}"
        raise ValueError(f"the {what} learning rates overflow: layer {layer} has base rate {float(base[layer])!r} "
                         f"times m^{-exponents[layer]:g}{scale} with m = {width}, beyond the largest double; use a "
                         "smaller width, fewer hidden layers or a smaller lr")
    return [float(r) for r in rates]


def _inputs(model, x, name: str = "x") -> np.ndarray:
    """x as a C-contiguous float64 array of shape (batch, d_in), batch >= 1, finite; its work
    buffers are counted against config.max_bytes."""
    d_in = model.input_dim
    array = _checks.as_array(x, name)
    if array.ndim != 2 or array.shape[1] != d_in or array.shape[0] < 1:
        raise ValueError(f"{name} must have shape (batch, d_in) = (batch, {d_in}) with batch >= 1, got {array.shape}")
    _checks.check_size(_batch_bytes(model.width, model.n_out, model.n_hidden, array.shape[0]),
                       f"a batch of {array.shape[0]} through an abc network of width {model.width}")
    return _checks.finite_array(array, name)


def _labels(labels, n_out: int, batch: int, name: str = "labels") -> np.ndarray:
    """Integer class labels of shape (batch,) in [0, n_out)."""
    array = _checks.as_array(labels, name) if labels is not None else None
    if array is None or array.dtype.kind not in "iu":
        kind = "None" if array is None else f"dtype {array.dtype}"
        raise ValueError(f"{name} must be integers in [0, n_out) = [0, {n_out}), got {kind}")
    if array.shape != (batch,):
        raise ValueError(f"{name} must have shape (batch,) = ({batch},), got {array.shape}")
    bad = (array < 0) | (array >= n_out)
    if np.any(bad):
        raise ValueError(f"{name} must be in [0, n_out) = [0, {n_out}), got {array[np.flatnonzero(bad)[0]]}")
    return array.astype(np.int64)


# -- data ------------------------------------------------------------------------------------------

def _targets(labels: np.ndarray, n_out: int) -> np.ndarray:
    one_hot = np.zeros((labels.shape[0], n_out))
    one_hot[np.arange(labels.shape[0]), labels] = 1.0
    return one_hot


def _data(data) -> tuple:
    """(x_train, y_train, x_test, y_test, n_classes) from a Dataset or a tuple (x, y[, x_test, y_test])."""
    if data is None:
        from .datasets import gaussian_mixture

        data = gaussian_mixture()
    if hasattr(data, "x_train"):
        parts = (data.x_train, data.y_train, data.x_test, data.y_test)
    elif isinstance(data, (tuple, list)) and len(data) in (2, 4):
        parts = tuple(data) if len(data) == 4 else (data[0], data[1], data[0], data[1])
    else:
        raise ValueError("data must be a Dataset (intrinsic_flow.datasets) or a tuple (x, y) or (x, y, x_test, y_test), "
                         f"got {type(data).__name__}")
    x, x_test = (_checks.finite_array(parts[k], name) for k, name in ((0, "data x"), (2, "data x_test")))
    y, y_test = (np.asarray(parts[k]) for k in (1, 3))
    for arr, lab, name in ((x, y, "data"), (x_test, y_test, "test data")):
        if arr.ndim != 2 or lab.ndim != 1 or lab.shape[0] != arr.shape[0] or arr.shape[0] == 0:
            raise ValueError(f"{name} must be x of shape (n, d) and integer labels y of shape (n,), got "
                             f"{arr.shape} and {lab.shape}")
        if lab.dtype.kind not in "iu" or lab.min() < 0:
            raise ValueError(f"{name} labels must be integers >= 0, got dtype {lab.dtype}")
    if x.shape[1] < 1:
        raise ValueError(f"data x must have at least one feature, got shape {x.shape}")
    if x_test.shape[1] != x.shape[1]:
        raise ValueError(f"test inputs have {x_test.shape[1]} features, training inputs {x.shape[1]}")
    n_classes = int(max(y.max(), y_test.max())) + 1
    return x, y.astype(np.int64), x_test, y_test.astype(np.int64), n_classes


# -- the network -----------------------------------------------------------------------------------

@dataclass
class AbcModel:
    """An abc-parameterised network on one backend, with its scheme and width.

    Built by :func:`abc_network`. ``network`` is the backend's network (its weights move in place
    with :meth:`step`); ``step_count`` counts the SGD steps taken (IP-LLR switches its learning
    rates after the first); ``initial_base_lrs`` holds IP-LLR's calibrated first-step base rates
    of the weights (None: the base rate ``lr`` itself); ``lr_factors`` (None: all 1) multiplies
    the rate of each weight matrix at every step, e.g. (rho, 1, ..., 1) gives the first layer the
    step it would have with inputs of another squared norm. Only ``ipllr_bias`` networks have the
    biases beta_1 .. beta_L (``network.biases``); their rates are :meth:`bias_learning_rates`.
    """

    network: object
    scheme: str
    width: int
    n_hidden: int
    n_out: int
    activation: str
    loss: str
    initial_base_lrs: np.ndarray | None = None
    step_count: int = 0
    lr_factors: np.ndarray | None = None
    d_in: int | None = None

    @property
    def input_dim(self) -> int:
        """d, the number of input features."""
        return self.network.weights[0].shape[1] if self.d_in is None else self.d_in

    @property
    def exponents(self) -> tuple:
        """(a, b, c) of the scheme (c after the warm-up)."""
        return abc_exponents(self.scheme, self.n_hidden)

    def forward(self, x) -> tuple:
        """(hidden pre-activations [h_1 .. h_L], each (B, m); output f (B, n_out)) for inputs x (B, d)."""
        return self.network.forward(_inputs(self, x))

    def learning_rates(self, lr: float, step: int | None = None) -> list:
        """Per-matrix SGD rates ``lr rho_l m^{-c_l}`` at SGD step ``step`` (default: the next one),
        rho = ``lr_factors`` (1 when None).

        IP-LLR uses its warm-up exponents at step 0 (with the calibrated base rates in place of lr
        when there are some) and the mean-field ones afterwards."""
        lr = _lr(lr)
        step = self.step_count if step is None else _checks.nonnegative_int(step, "step")
        warm = self.scheme in ("ipllr", "ipllr_bias") and step == 0
        a, _, c = abc_exponents(self.scheme, self.n_hidden, warmup=warm)
        base = np.full(c.shape, lr)
        if warm and self.initial_base_lrs is not None:
            base = np.asarray(self.initial_base_lrs, dtype=np.float64)
        if self.lr_factors is not None:
            base = base * np.asarray(self.lr_factors, dtype=np.float64)
        return _rates(base, self.width, c, "weights'", a)

    def bias_learning_rates(self, lr: float, step: int | None = None) -> list:
        """Rates ``lr m^{-e_l}`` of the biases beta_0 .. beta_L of ``ipllr_bias`` at SGD step ``step``
        (default: the next one), e from :func:`bias_lr_exponents` (warm-up exponents at step 0).
        The base rate is ``lr`` itself: the calibration of IP-LLR sets the weights' rates only.
        Empty for the other schemes (beta_0 then moves with the first weight matrix's rate)."""
        lr = _lr(lr)
        step = self.step_count if step is None else _checks.nonnegative_int(step, "step")
        if self.scheme != "ipllr_bias":
            return []
        e = bias_lr_exponents(self.n_hidden, warmup=step == 0)
        return _rates(np.full(e.shape, lr), self.width, e, "biases'")

    def step(self, x, labels, lr: float) -> float:
        """One SGD step on the batch (x (B, d), integer labels (B,) in [0, n_out)); returns the loss
        before it. Bad input (NaN, shapes, labels out of range, lr not a finite number > 0) raises
        ValueError before the weights move."""
        rates, bias_rates = self.learning_rates(lr), self.bias_learning_rates(lr)
        x = _inputs(self, x)
        targets = _targets(_labels(labels, self.n_out, x.shape[0]), self.n_out)
        value = self.network.sgd_step(x, targets, rates, bias_rates)
        self.step_count += 1
        return float(value)

    def gradients(self, x, labels) -> tuple:
        """(loss, [dloss/dW_l], dloss/dbeta_0, [dloss/dbeta_l, l = 1..L]) at the current weights (the
        last list is empty without the biases of ``ipllr_bias``)."""
        x = _inputs(self, x)
        return self.network.loss_and_gradients(x, _targets(_labels(labels, self.n_out, x.shape[0]), self.n_out))


def _abc_network(network_class, scheme: str, d_in: int, width: int, n_out: int, n_hidden: int,
                 activation: str = "relu", loss: str = "cross_entropy", seed: int = 0,
                 init_mean: float = 0.0, batch: int = 128) -> AbcModel:
    r"""An abc-parameterised fully connected network, initialised at random.

    .. math::

        W_l &= m^{-b_l} U_l,

        U_0 &\sim \mathcal{N}\!\left(0, \tfrac{v}{d + 1}\right), \quad
        \beta_0 \sim m^{-b_0} \mathcal{N}(0, v),

        U_l &\sim \mathcal{N}(\mu, v) \ (0 < l < L), \quad U_L \sim \mathcal{N}(\mu, 1)

    (the first layer's bias is not divided by d + 1), where v is 2
    (ReLU, sigmoid), 4 (GELU) or 1 (ELU, tanh), all as the authors' code draws them, and mu =
    ``init_mean`` (0: centred; 1: the non-centred variant). Layer l is scaled by m^{-a_l} in the
    forward pass (see :func:`abc_exponents`). For ``ipllr_bias`` the later layers also get biases
    that are added after the scale, ``h_{l+1} = m^{-a_l} W_l x_l + beta_l`` and
    ``f = m^{-a_L} W_L x_L + beta_L``, drawn as the authors' code does: beta_l ~ N(0, v) for the
    hidden layers and beta_L ~ N(0, 1) for the output, times m^{-b_l} (= 1), centred whatever
    ``init_mean``, after all the weights (the other schemes draw exactly as before).

    Parameters
    ----------
    scheme : {"ip", "ipllr", "ipllr_bias", "mup", "ntk", "standard"}
    d_in, width, n_out, n_hidden : int
        Input dimension d, width m, number of outputs, number of hidden layers L.
    activation : {"relu", "gelu", "elu", "tanh", "sigmoid"}
    loss : {"cross_entropy", "mse"}
        Averaged over the batch; MSE is ``0.5 |f - onehot(y)|^2``.
    seed : int
        Seed of ``numpy.random.default_rng`` for the initial weights.
    init_mean : float
        mu above.
    batch : int
        The largest batch planned, for the memory check only.

    Returns
    -------
    AbcModel

    Raises
    ------
    ValueError
        Unknown names, non-positive sizes, or a network beyond ``config.max_bytes``.

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import abc_network
    >>> model = abc_network("mup", d_in=4, width=32, n_out=3, n_hidden=2, seed=0)
    >>> [w.shape for w in model.network.weights]
    [(32, 4), (32, 32), (3, 32)]
    """
    scheme = _scheme(scheme)
    d_in, width, n_out = (_checks.positive_int(v, k) for v, k in ((d_in, "d_in"), (width, "width"), (n_out, "n_out")))
    L = _n_hidden(n_hidden)
    activation = _choice(activation, "activation", ACTIVATIONS)
    loss = _choice(loss, "loss", LOSSES)
    seed = _seed(seed)
    mean = _checks.finite_real(init_mean, "init_mean")
    batch = _checks.positive_int(batch, "batch")
    _checks.check_size(_network_bytes(d_in, width, n_out, L, batch), f"an abc network of width {width} with {L + 1} weight matrices")
    a, b, _ = abc_exponents(scheme, L)
    rng = np.random.default_rng(seed)
    v = INIT_VARIANCE[activation]
    m = float(width)
    # the first layer's weights are normalised by the input dimension, its bias is not (as the authors draw them)
    weights = [rng.standard_normal((width, d_in)) * (math.sqrt(v / (d_in + 1)) * m ** (-b[0]))]
    bias0 = rng.standard_normal(width) * (math.sqrt(v) * m ** (-b[0]))
    for l in range(1, L):
        u = rng.standard_normal((width, width))
        u *= math.sqrt(v)
        u += mean
        u *= m ** (-b[l])
        weights.append(u)
    weights.append((rng.standard_normal((n_out, width)) + mean) * m ** (-b[L]))
    scales = [m ** (-e) for e in a]
    if scheme == "ipllr_bias":
        biases = [rng.standard_normal(width) * (math.sqrt(v) * m ** (-b[l])) for l in range(1, L)]
        biases.append(rng.standard_normal(n_out) * m ** (-b[L]))
        network = network_class(weights, bias0, scales, activation, loss, biases)
    else:
        network = network_class(weights, bias0, scales, activation, loss)
    return AbcModel(network, scheme, width, L, n_out, activation, loss, d_in=d_in)


CALIBRATION_RULES = ("authors", "unit")


def _calibrate_base_lrs(network_class, model: AbcModel, x0, y0, x1, lr: float = 0.01, rule: str = "authors",
                        cap: float = MAX_BASE_LR) -> np.ndarray:
    r"""IP-LLR's calibrated base learning rates of the warm-up step.

    A trial SGD step with base rate 1 and the warm-up exponents (times ``model.lr_factors``) is
    taken on (x0, y0) on a copy of the network. Then, on the batch x1 and layer by layer from the
    input, u_l is the trial update's contribution to the pre-activations of layer l and the base
    rate eta_l of that layer is chosen so that eta_l mean |u_l| hits a target t_l; the calibrated
    update is carried on to the next layer:

    .. math::

        u_l &= m^{-a_l} \, \Delta W_l \, x_l,

        \eta_l &= \min\!\left(\frac{t_l}{\operatorname{mean} |u_l|}, \text{cap}\right),

        x_{l+1} &= \sigma\!\left(m^{-a_l} W_l x_l + \eta_l u_l\right).

    - ``rule="authors"`` (the default), as ``WarmupSwitchLR.calibrate_base_lr`` of the authors'
      code: the first layer keeps the base rate, eta_0 = ``lr``; hidden layers target 1,
      eta_l = min(1 / mean |u_l|, cap); the output targets 0.1, eta_L = min(0.1 / mean |u_L|, cap);
      x_{l+1} is propagated with the uncapped rate, as they do.
    - ``rule="unit"``: every layer, the first and the output included, targets 1,
      eta_l = min(1 / mean |u_l|, cap), and x_{l+1} is propagated with the capped rate.

    The first layer's u_0 includes the update of its bias beta_0. For ``ipllr_bias`` (which the
    authors do not calibrate; :func:`train` does not either unless asked) the trial step moves
    the biases too (rates of :func:`bias_lr_exponents`), the pre-activations include them and only
    the weights' updates are measured. Sets ``model.initial_base_lrs`` and returns it.

    Parameters
    ----------
    model : AbcModel
        An ``ipllr`` or ``ipllr_bias`` network before its first step.
    x0, y0 : array
        The batch of the trial step.
    x1 : array
        The batch on which the updates are measured.
    lr : float
        The base learning rate (kept by the first layer under the authors' rule).
    rule : {"authors", "unit"}
    cap : float
        Largest base rate.

    Returns
    -------
    numpy.ndarray
        Shape (L + 1,).

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import abc_network, calibrate_base_lrs
    >>> import numpy as np
    >>> model = abc_network("ipllr", d_in=3, width=16, n_out=2, n_hidden=2, seed=1)
    >>> x = np.random.default_rng(0).standard_normal((8, 3)); y = np.arange(8) % 2
    >>> base = calibrate_base_lrs(model, x, y, x, lr=0.01)
    >>> base.shape, float(base[0])
    ((3,), 0.01)
    """
    if not isinstance(model, AbcModel):
        raise TypeError(f"model must be an AbcModel (from abc_network), got {type(model).__name__}")
    if model.scheme not in ("ipllr", "ipllr_bias") or model.step_count != 0:
        raise ValueError(f"calibrate_base_lrs needs an ipllr network before its first step, got scheme "
                         f"{model.scheme!r} after {model.step_count} steps")
    lr = _lr(lr)
    rule = _choice(rule, "rule", CALIBRATION_RULES)
    cap = _checks.positive_real(cap, "cap")
    x0 = _inputs(model, x0, "x0")
    targets0 = _targets(_labels(y0, model.n_out, x0.shape[0], "y0"), model.n_out)
    x = _inputs(model, x1, "x1")
    weights0, bias0 = model.network.weights, model.network.bias0
    a = abc_exponents(model.scheme, model.n_hidden)[0]
    scales = [float(model.width) ** (-e) for e in a]
    with_biases = model.scheme == "ipllr_bias"
    biases = model.network.biases if with_biases else []
    trial = (network_class(weights0, bias0, scales, model.activation, model.loss, biases) if with_biases
             else network_class(weights0, bias0, scales, model.activation, model.loss))
    c = abc_exponents(model.scheme, model.n_hidden, warmup=True)[2]
    factors = np.ones(len(c)) if model.lr_factors is None else np.asarray(model.lr_factors, dtype=np.float64)
    trial.sgd_step(x0, targets0, _rates(factors, model.width, c, "trial step's", a),
                   model.bias_learning_rates(1.0, step=0))
    weights1, bias1 = trial.weights, trial.bias0
    last = len(weights0) - 1
    base = []
    for l, (w0, w1, s) in enumerate(zip(weights0, weights1, scales)):
        initial = x @ w0.T
        update = x @ (w1 - w0).T
        if l == 0:
            initial = initial + bias0
            if not with_biases:
                update = update + (bias1 - bias0)
        initial, update = s * initial, s * update
        if l > 0 and with_biases:
            initial = initial + biases[l - 1]
        size = max(float(np.mean(np.abs(update))), 1e-300)
        if rule == "unit":
            rate = propagated = min(1.0 / size, cap)
        elif l == 0:
            rate = propagated = lr
        else:
            propagated = (0.1 if l == last else 1.0) / size
            rate = min(propagated, cap)
        base.append(rate)
        x = activate(model.activation, initial + propagated * update)
    model.initial_base_lrs = np.array(base)
    return model.initial_base_lrs


def _progress(items, what: str, total: int | None = None):
    """``items`` with a tqdm bar when stderr is a terminal."""
    import sys

    from tqdm import tqdm

    return tqdm(items, desc=what, total=total, disable=not sys.stderr.isatty(), leave=False)


# -- coordinate check ------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def _coord_check_class():
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"coord_check and train return pandas DataFrames: {install_hint('parameterizations')}") from None

    class CoordCheck(pd.DataFrame):
        """A coordinate check: one row per (width, layer, step, seed); layer L + 1 is the output.

        Columns ``width, layer, step, seed, abs_h, abs_dh, abs_f, abs_df``: mean |h^l|, mean
        |h^l(t) - h^l(0)| (for the output layer, f), mean |f| and mean |f(t) - f(0)|.
        """

        @property
        def _constructor(self):
            return CoordCheck

        def means(self, column: str = "abs_h"):
            """The mean over seeds of ``column``, indexed by (layer, step), one column per width."""
            return self.groupby(["layer", "step", "width"])[column].mean().unstack("width")

        def slopes(self, column: str = "abs_h"):
            """Least-squares slope of log(mean over seeds of ``column``) against log(width), per
            (layer, step); NaN where a mean is zero (e.g. the updates at step 0)."""
            means = self.means(column)
            log_w = np.log(np.asarray(means.columns, dtype=np.float64))
            values = means.to_numpy()
            slopes = np.full(values.shape[0], np.nan)
            for k, row in enumerate(values):
                if np.all(row > 0) and len(row) > 1:
                    slopes[k] = np.polyfit(log_w, np.log(row), 1)[0]
            return pd.Series(slopes, index=means.index, name=f"slope of {column}")

        def figure(self, column: str = "abs_h"):
            """One panel per step, one line per layer: mean over seeds of ``column`` against
            width, log-log (the plot Microsoft's ``mup`` draws for its coordinate check)."""
            from matplotlib.figure import Figure

            means = self.means(column)
            steps = sorted(set(means.index.get_level_values("step")))
            figure = Figure(figsize=(3.2 * len(steps) + 1.0, 3.0), layout="constrained")
            axes = figure.subplots(1, len(steps), squeeze=False)[0]
            n_layers = int(self["layer"].max())
            for ax, step in zip(axes, steps):
                for (layer, s), row in means.iterrows():
                    if s != step:
                        continue
                    label = "output" if layer == n_layers else f"h{layer}"
                    ax.loglog(np.asarray(means.columns), np.maximum(row.to_numpy(), 1e-300), "o-", ms=3, label=label)
                ax.set_title(f"step {step}", fontsize=9)
                ax.set_xlabel("width m")
                ax.grid(True, which="major", alpha=0.3)
            axes[0].set_ylabel(column)
            axes[-1].legend(fontsize=7)
            return figure

    return CoordCheck


def _widths(value) -> tuple:
    widths = _checks.widths(value, "widths", min_len=1)
    return widths


def _coord_check(network_class, scheme: str, widths, n_hidden: int = 3, activation: str = "relu", n_steps: int = 1,
                 n_seeds: int = 5, data=None, lr: float = 0.1, batch: int = 64, loss: str = "cross_entropy",
                 init_mean: float = 0.0, calibrate: bool = False):
    r"""Coordinate check: sizes of pre-activations and of their updates against width.

    For every width m and seed, a network of the scheme is initialised, ``n_steps`` SGD steps
    (learning rates lr m^{-c_l}, see :func:`abc_exponents`) are taken on one fixed batch (the
    first ``batch`` training samples), and after each step t (t = 0 is the initialisation) the
    batch averages

    .. math::

        \overline{|h^l(t)|}, \quad \overline{|h^l(t) - h^l(0)|}, \quad \overline{|f(t)|}, \quad
        \overline{|f(t) - f(0)|}

    are recorded. Under a scheme that is stable and learns features, the first two stay flat in m
    (muP); under an integrable one at zero-mean initialisation the mean |f(0)| falls like
    :math:`m^{-L/2}`.

    Calls that would hold more than ``config.max_bytes`` (the networks or the table of results)
    or take more than ``ABC_MAX_WORK`` multiply-adds are refused before any work.

    Parameters
    ----------
    scheme : {"ip", "ipllr", "ipllr_bias", "mup", "ntk", "standard"}
    widths : sequence of int
    n_hidden : int
        L, the number of hidden layers (L + 1 weight matrices).
    activation : {"relu", "gelu", "elu", "tanh", "sigmoid"}
    n_steps : int
        Steps after the initialisation (0: the initialisation alone).
    n_seeds : int
        Seeds 0 .. n_seeds - 1 of the initialisation.
    data : Dataset or tuple (x, y), optional
        Default: ``intrinsic_flow.datasets.gaussian_mixture()``.
    lr : float
        Base learning rate eta.
    batch : int
    loss : {"cross_entropy", "mse"}
    init_mean : float
        0 (centred) or the mean of the non-centred initialisation.
    calibrate : bool
        For ipllr and ipllr_bias: calibrate the warm-up base rates on the batch
        (:func:`calibrate_base_lrs` with the authors' rule and base rate ``lr``).

    Returns
    -------
    CoordCheck
        A pandas DataFrame with columns width, layer, step, seed, abs_h, abs_dh, abs_f, abs_df
        (layer L + 1 is the output: its abs_h, abs_dh are those of f), and the methods
        ``means(column)``, ``slopes(column)`` (log-log slope in m per layer and step) and
        ``figure(column)``.

    Raises
    ------
    ValueError
        Bad names or sizes; ImportError without pandas.

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import coord_check
    >>> check = coord_check("mup", [32, 64], n_hidden=2, n_steps=1, n_seeds=2)
    >>> sorted(check.columns)
    ['abs_df', 'abs_dh', 'abs_f', 'abs_h', 'layer', 'seed', 'step', 'width']
    >>> len(check)  # 2 widths x 3 layers x 2 steps x 2 seeds
    24
    """
    frame_class = _coord_check_class()
    scheme = _scheme(scheme)
    widths = _widths(widths)
    L = _n_hidden(n_hidden)
    n_steps = _checks.nonnegative_int(n_steps, "n_steps")
    n_seeds = _checks.positive_int(n_seeds, "n_seeds")
    lr = _lr(lr)
    batch = _checks.positive_int(batch, "batch")
    calibrate = _checks.boolean(calibrate, "calibrate")
    x, y, _, _, n_classes = _data(data)
    x, y = x[:batch], y[:batch]
    for width in widths:  # refuse the largest before drawing anything
        _checks.check_size(_network_bytes(x.shape[1], width, n_classes, L, x.shape[0]),
                           f"an abc network of width {width} with {L + 1} weight matrices")
    _check_rows(float(len(widths)) * n_seeds * (n_steps + 1) * (L + 1), "the coord_check table")
    passes = (n_steps + 1) + 3.0 * n_steps + (4.0 if calibrate else 0.0)  # a step is about three passes
    _check_work(n_seeds * passes * x.shape[0] * sum(_n_params(x.shape[1], w, n_classes, L) for w in widths),
                f"coord_check of {len(widths)} widths x {n_seeds} seeds x {n_steps} steps")
    rows = []
    runs = itertools.product(widths, range(n_seeds))
    for width, seed in _progress(runs, "coord_check", total=len(widths) * n_seeds):
        model = _abc_network(network_class, scheme, x.shape[1], width, n_classes, L, activation, loss, seed,
                             init_mean, x.shape[0])
        if calibrate and scheme in ("ipllr", "ipllr_bias"):
            _calibrate_base_lrs(network_class, model, x, y, x, lr)
        hidden0, out0 = model.forward(x)
        for step in range(n_steps + 1):
            if step > 0:
                model.step(x, y, lr)
            hidden, out = (hidden0, out0) if step == 0 else model.forward(x)
            abs_f, abs_df = float(np.mean(np.abs(out))), float(np.mean(np.abs(out - out0)))
            for layer, (h, h0) in enumerate(zip(list(hidden) + [out], list(hidden0) + [out0]), start=1):
                rows.append((width, layer, step, seed, float(np.mean(np.abs(h))), float(np.mean(np.abs(h - h0))),
                             abs_f, abs_df))
    return frame_class(rows, columns=["width", "layer", "step", "seed", "abs_h", "abs_dh", "abs_f", "abs_df"])


# -- training --------------------------------------------------------------------------------------

def _train(network_class, scheme: str, data=None, n_hidden: int = 6, width: int = 256, activation: str = "relu",
           lr: float = 0.01, n_steps: int = 100, batch: int = 128, seed: int = 0, loss: str = "cross_entropy",
           init_mean: float = 0.0, calibrate: bool | None = None, calibration_rule: str = "authors",
           lr_factors=None, eval_every: int = 10):
    r"""Train an abc-parameterised network with mini-batch SGD.

    Mini-batches of ``batch`` samples are drawn without replacement from a seeded permutation of
    the training set (a new one each epoch). The learning rates of the weights W_l and of the
    biases beta_l of ``ipllr_bias`` are

    .. math::

        \eta_l = \mathrm{lr} \, \rho_l \, m^{-c_l}, \qquad \eta^{\beta}_l = \mathrm{lr} \, m^{-e_l}

    with rho = ``lr_factors`` (1 by default), c from :func:`abc_exponents` and e from
    :func:`bias_lr_exponents`; for ``ipllr`` and ``ipllr_bias`` the first step uses the warm-up
    exponents and, when calibrated, the base rates of :func:`calibrate_base_lrs` in place of lr
    (computed on the first two batches, as the authors do). Calls that would hold more than
    ``config.max_bytes`` or take more than ``ABC_MAX_WORK`` multiply-adds are refused before any
    work; a label of class k makes k + 1 outputs.

    Parameters
    ----------
    scheme : {"ip", "ipllr", "ipllr_bias", "mup", "ntk", "standard"}
    data : Dataset or tuple (x, y[, x_test, y_test]), optional
        Default: ``intrinsic_flow.datasets.gaussian_mixture()``.
    n_hidden, width : int
        L hidden layers of width m.
    activation, loss : str
    lr : float
        Base learning rate eta.
    n_steps, batch, seed : int
    init_mean : float
        Mean of the hidden and output initial weights (0: centred; 1: non-centred).
    calibrate : bool or None
        Whether to calibrate the warm-up base rates. None (default): as the authors' code, which
        calibrates ``ipllr`` and leaves ``ipllr_bias`` at the base rate lr. Ignored by the schemes
        without warm-up.
    calibration_rule : {"authors", "unit"}
        The ``rule`` of :func:`calibrate_base_lrs`; "authors" (default): the first layer keeps lr,
        hidden layers target 1, the output 0.1.
    lr_factors : sequence of float, optional
        rho, one multiplier per weight matrix (L + 1), e.g. (rho_0, 1, ..., 1) to give the first
        layer the step it would have with inputs of another squared norm.
    eval_every : int
        Test accuracy every that many steps and at the last one (NaN elsewhere).

    Returns
    -------
    pandas.DataFrame
        One row per step 1 .. n_steps: ``step``, ``loss`` (training loss of the step's batch before
        the update), ``abs_f`` (mean |f| on that batch), ``test_accuracy`` (after the update).

    Raises
    ------
    ValueError
        Bad names, sizes or data; ImportError without pandas.

    Examples
    --------
    >>> from intrinsic_flow.parameterizations import train
    >>> history = train("mup", n_hidden=2, width=32, lr=0.5, n_steps=20, batch=32, eval_every=20)
    >>> list(history.columns)
    ['step', 'loss', 'abs_f', 'test_accuracy']
    >>> bool(history["loss"].iloc[-5:].mean() < history["loss"].iloc[:5].mean())
    True
    """
    _coord_check_class()  # raises ImportError without pandas
    import pandas as pd

    scheme = _scheme(scheme)
    x, y, x_test, y_test, n_classes = _data(data)
    n_steps = _checks.positive_int(n_steps, "n_steps")
    batch = min(_checks.positive_int(batch, "batch"), x.shape[0])
    lr = _lr(lr)
    eval_every = _checks.positive_int(eval_every, "eval_every")
    width, L = _checks.positive_int(width, "width"), _n_hidden(n_hidden)
    _checks.check_size(_network_bytes(x.shape[1], width, n_classes, L, max(batch, x_test.shape[0])),
                       f"an abc network of width {width} with {L + 1} weight matrices and {n_classes} outputs")
    _check_rows(float(n_steps), "the train history")
    n_evals = n_steps // eval_every + 1
    _check_work(_n_params(x.shape[1], width, n_classes, L) * (3.0 * n_steps * batch + n_evals * x_test.shape[0]),
                f"train of width {width} for {n_steps} steps")
    calibrate = scheme == "ipllr" if calibrate is None else _checks.boolean(calibrate, "calibrate")
    calibration_rule = _choice(calibration_rule, "calibration_rule", CALIBRATION_RULES)
    model = _abc_network(network_class, scheme, x.shape[1], width, n_classes, L, activation, loss, seed,
                         init_mean, max(batch, x_test.shape[0]))
    if lr_factors is not None:
        factors = _checks.finite_array(lr_factors, "lr_factors")
        if factors.shape != (model.n_hidden + 1,) or np.any(factors <= 0):
            raise ValueError(f"lr_factors must be {model.n_hidden + 1} numbers > 0 (one per weight matrix), "
                             f"got {factors.tolist()}")
        model.lr_factors = factors
    rng = np.random.default_rng([_seed(seed), 1])
    order, position = rng.permutation(x.shape[0]), 0

    def next_batch():
        nonlocal order, position
        if position + batch > x.shape[0]:
            order, position = rng.permutation(x.shape[0]), 0
        index = order[position:position + batch]
        position += batch
        return x[index], y[index]

    batches = [next_batch() for _ in range(min(2, n_steps + 1))]
    if calibrate and scheme in ("ipllr", "ipllr_bias"):
        _calibrate_base_lrs(network_class, model, batches[0][0], batches[0][1], batches[-1][0], lr, calibration_rule)
    rows = []
    for step in _progress(range(1, n_steps + 1), f"train {scheme}"):
        xb, yb = batches[step - 1] if step <= len(batches) else next_batch()
        value = model.step(xb, yb, lr)
        out = model.network.last_output  # f on the batch before the update
        accuracy = math.nan
        if step % eval_every == 0 or step == n_steps:
            accuracy = float(np.mean(np.argmax(model.forward(x_test)[1], axis=1) == y_test))
        rows.append((step, value, float(np.mean(np.abs(out))), accuracy))
    return pd.DataFrame(rows, columns=["step", "loss", "abs_f", "test_accuracy"])


def stable_rank(matrix) -> float:
    r"""Stable rank of a matrix (1 for rank one, at most its rank):

    .. math::

        \operatorname{srank}(M) = \frac{\|M\|_F^2}{\|M\|_2^2}.

    It does not change with the scale of M (computed on M / max |M_ij|).

    Parameters
    ----------
    matrix : array of shape (p, q)

    Returns
    -------
    float

    Examples
    --------
    >>> import numpy as np
    >>> from intrinsic_flow.parameterizations import stable_rank
    >>> stable_rank(np.outer([1.0, 2.0], [3.0, 4.0, 5.0]))
    1.0
    """
    array = _checks.as_array(matrix, "matrix")
    if array.ndim != 2 or array.size == 0:
        raise ValueError(f"matrix must be a non-empty 2-d array, got shape {array.shape}")
    _checks.check_size(2.0 * array.size + float(min(array.shape)) ** 2, f"the Gram matrix of a {array.shape} matrix")
    matrix = _checks.finite_array(array, "matrix")
    # the ratio does not change with the scale of M: dividing by max |M| keeps squares within doubles
    top_entry = float(np.max(np.abs(matrix)))
    if top_entry == 0.0:
        return 0.0
    matrix = matrix / top_entry
    # |M|_2^2 is the largest eigenvalue of the smaller Gram matrix (much cheaper than an SVD)
    gram = matrix.T @ matrix if matrix.shape[0] >= matrix.shape[1] else matrix @ matrix.T
    top = float(np.linalg.eigvalsh(gram)[-1])
    return 0.0 if top <= 0.0 else round(float(np.sum(matrix * matrix)) / top, 12)


# -- binding to a backend --------------------------------------------------------------------------

_BOUND = {"abc_network": _abc_network, "calibrate_base_lrs": _calibrate_base_lrs, "coord_check": _coord_check,
          "train": _train}


def _bind(function, network_class, module: str, name: str):
    @functools.wraps(function)
    def bound(*args, **kwargs):
        return function(network_class, *args, **kwargs)

    signature = inspect.signature(function)
    bound.__signature__ = signature.replace(parameters=list(signature.parameters.values())[1:])
    del bound.__wrapped__
    bound.__name__ = bound.__qualname__ = name
    bound.__module__ = module
    return bound


def bind_api(network_class, module: str) -> dict:
    """The public names of the parameterizations module with ``network_class`` as the backend."""
    api = {name: _bind(function, network_class, module, name) for name, function in _BOUND.items()}
    api.update(abc_exponents=abc_exponents, bias_lr_exponents=bias_lr_exponents, stable_rank=stable_rank,
               AbcModel=AbcModel, SCHEMES=SCHEMES, ACTIVATIONS=ACTIVATIONS)
    return api
