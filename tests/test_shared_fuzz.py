"""A seeded fuzz of the shared-parameter surface: random small SharedReLUNet graphs (shared and
fixed edges, neurons fed by a bias alone, max neurons, corrupted fields) at extreme scales and
orders q in (0, 1000], and from_torch of random small Sequentials against torch's own forward.

Each case must give a correct answer, checked against values computed here from the model's
fields alone (the paths listed by a depth-first search, the network evaluated neuron by
neuron, path norms by a log-sum-exp over the listed paths), with both backends agreeing, or a
ValueError / TypeError (a MemoryError only naming the budget). The tests run a few seconds of
cases; ``python tests/test_shared_fuzz.py [n_cases] [seed]`` runs many more by hand.
"""
from __future__ import annotations

import math
import re
import sys

import numpy as np
import pytest

import intrinsic_flow as itf
import intrinsic_flow.reference as ref

from fuzzing import refused as _refused

ACCEPTED = (ValueError, TypeError)
# what SharedReLUNet refuses in valid fields: an output no path reaches, default channels whose
# rescaling is not a symmetry; and from_torch: a parameter on no edge (a kernel entry that sees padding alone)
GRAPH_LIMITS = "is on no path from an input or a bias|rescales differently|so rescaling it is not a symmetry"
TORCH_LIMITS = "carries no edge|is on no path from an input or a bias"
LOG_LARGEST = math.log(np.finfo(np.float64).max)


def refused(error: BaseException) -> bool:
    return _refused(error, ACCEPTED)


# -- random graphs ------------------------------------------------------------------------------
def random_fields(rng):
    """The fields of a random SharedReLUNet (valid, or with one field corrupted) and whether they
    were corrupted on purpose."""
    n_in, n_hidden, n_out = int(rng.integers(1, 4)), int(rng.integers(0, 6)), int(rng.integers(1, 4))
    n = n_in + n_hidden + n_out
    first_output = n - n_out
    activation = ["identity"] * n_in + list(rng.choice(["relu", "identity", "max"], n_hidden, p=[0.6, 0.25, 0.15])) \
        + ["identity"] * n_out
    pairs = [(u, v) for v in range(n_in, n) for u in range(min(v, first_output)) if rng.random() < 0.45]
    for v in range(n_in, n):  # a bias on some neurons (never into a max neuron); some fed by it alone
        if activation[v] != "max" and rng.random() < 0.4:
            pairs.append((-1, v))
    if not pairs:
        pairs = [(0, first_output)]
    rng.shuffle(pairs)
    E = len(pairs)
    src = np.array([p[0] for p in pairs])
    dst = np.array([p[1] for p in pairs])
    # parameters: a random sharing pattern over the edges, some edges fixed
    fixed = rng.random(E) < 0.2
    n_params = int(rng.integers(1, max(int(np.sum(~fixed)), 1) + 1)) if np.any(~fixed) else 0
    param = np.full(E, -1)
    if n_params:
        free = np.flatnonzero(~fixed)
        param[free] = rng.integers(0, n_params, free.size)
        param[free[:n_params]] = rng.permutation(n_params)[: free[:n_params].size]
        n_params = int(param.max()) + 1 if np.any(param >= 0) else 0
        used = np.unique(param[param >= 0])
        relabel = np.full(max(n_params, 1), -1)
        relabel[used] = np.arange(used.size)
        param = np.where(param >= 0, relabel[np.maximum(param, 0)], -1)
        n_params = int(used.size)
    weight = np.where(param < 0, rng.choice([1.0, 0.5, -2.0, 1e-3]), 0.0)
    fields = dict(n_inputs=n_in, n_outputs=n_out, n_neurons=n, edge_src=src, edge_dst=dst, edge_param=param,
                  edge_weight=weight, n_params=n_params, activation=activation,
                  channels=None if rng.random() < 0.3 else ())
    corrupted = rng.random() < 0.15
    if corrupted:
        kind = rng.integers(0, 9)
        if kind == 0:
            fields["edge_src"] = np.where(src < 0, np.uint64(2 ** 64 - 1), src.astype(np.uint64))  # -1 as uint64
        elif kind == 1:
            fields["edge_dst"] = dst.astype(float) + 0.5
        elif kind == 2:
            fields["edge_weight"] = np.where(rng.random(E) < 0.5, np.nan, weight)
        elif kind == 3:
            fields["n_params"] = n_params + int(rng.choice([1, 10 ** 9, 10 ** 30]))
        elif kind == 4:
            fields["edge_param"] = list(param[:-1])
        elif kind == 5:
            fields["activation"] = activation[:-1] + ["tanh"]
        elif kind == 6:
            fields["n_neurons"] = n + int(rng.choice([-1, 10 ** 12]))
        elif kind == 7:
            fields["edge_src"] = [True] * E
            if rng.random() < 0.5:
                fields["edge_src"], fields["edge_weight"] = src, weight.astype(bool)
        else:
            fields["n_inputs"] = np.float64(n_in)
    return fields, corrupted


def random_theta(rng, model):
    """theta of every kind of scale: normal, tiny, huge, a few zeros, some entries rescaled by up
    to 1e+-160, or a channel rescaled by 1e+-160 (phi unchanged)."""
    D = model.n_params
    theta = rng.standard_normal(D) * float(rng.choice([1.0, 1e-3, 30.0]))
    kind = rng.integers(0, 4)
    if kind == 1 and D:
        theta[rng.random(D) < 0.3] = 0.0
    elif kind == 2 and D:
        theta *= 10.0 ** rng.integers(-160, 161, D) * (rng.random(D) < 0.3) + (rng.random(D) >= 0.3)
    elif kind == 3 and model.n_known_laws:
        c = int(rng.integers(model.n_known_laws))
        s = model.structure
        scale = 10.0 ** float(rng.choice([-160, -120, 120, 160]))
        theta = theta * np.where(s.law_enter == c, scale, 1.0) / np.where(s.law_leave == c, scale, 1.0)
    return theta


# -- values from the fields alone ----------------------------------------------------------------
def listed_paths(model):
    """Paths (lists of edge indices) from an input or a bias to an output, by depth-first search on
    the model's edges."""
    src, dst = np.asarray(model.edge_src), np.asarray(model.edge_dst)
    outgoing = {}
    for e in range(src.size):
        outgoing.setdefault(int(src[e]), []).append(e)
    first_output = model.n_neurons - model.n_outputs
    found = []
    stack = [(v, []) for v in range(model.n_inputs)] + [(int(dst[e]), [e]) for e in outgoing.get(-1, [])]
    while stack:
        v, path = stack.pop()
        if v >= first_output:
            found.append(path)
            continue
        for e in outgoing.get(v, []):
            stack.append((int(dst[e]), path + [e]))
    return found


def edge_weights(model, theta):
    param, weight = np.asarray(model.edge_param), np.asarray(model.edge_weight)
    padded = np.append(np.asarray(theta, dtype=np.float64), 0.0)  # index D: a fixed edge
    return np.where(param >= 0, padded[np.where(param >= 0, param, padded.size - 1)], weight)


def forward_by_neuron(model, theta, X):
    """The network evaluated neuron by neuron in index order (a neuron: activation of the sum, or
    the max, of w_e x its sources; a bias reads 1)."""
    w = edge_weights(model, theta)
    values = np.zeros((X.shape[0], model.n_neurons))
    values[:, : model.n_inputs] = X
    src, dst = np.asarray(model.edge_src), np.asarray(model.edge_dst)
    for v in range(model.n_inputs, model.n_neurons):
        into = np.flatnonzero(dst == v)
        if not into.size:
            continue
        terms = np.stack([w[e] * (values[:, src[e]] if src[e] >= 0 else np.ones(X.shape[0])) for e in into], axis=1)
        kind = model.activation[v]
        values[:, v] = terms.max(axis=1) if kind == "max" else terms.sum(axis=1)
        if kind == "relu":
            values[:, v] = np.maximum(values[:, v], 0.0)
    return values[:, model.n_neurons - model.n_outputs:]


def path_norm_from_paths(model, theta, q):
    """(log ||phi||_q, d||phi||_q/dtheta or None when it is beyond float64) from the listed paths,
    in logs; q = inf: the largest path."""
    w = edge_weights(model, theta)
    with np.errstate(divide="ignore"):
        log_w = np.log(np.abs(w))
    found = listed_paths(model)
    logs = np.array([np.sum(log_w[p]) for p in found])
    top = logs.max()
    if top == -np.inf:
        return -np.inf, np.zeros(model.n_params)
    if q == np.inf:
        return top, None
    with np.errstate(over="ignore"):
        log_norm = top + math.log(float(np.sum(np.exp(q * (logs - top))))) / q
    if not log_norm <= LOG_LARGEST:
        return log_norm, None
    grad = np.zeros(model.n_params)
    param = np.asarray(model.edge_param)
    with np.errstate(over="ignore"):
        for path, log_phi in zip(found, logs):
            for e in path:
                if param[e] >= 0 and w[e] != 0:
                    grad[param[e]] += np.sign(w[e]) * np.exp(log_norm + q * (log_phi - log_norm) - log_w[e])
    return log_norm, (grad if np.all(np.isfinite(grad)) else None)


def check_ranks(model, theta, found, w):
    """rank J: the exact rank (both backends) against the rank of J from the listed paths where
    its singular values have a clear gap, and the Gram ranks there too."""
    param = np.asarray(model.edge_param)
    jac = np.zeros((len(found), model.n_params))
    with np.errstate(all="ignore"):
        for row, path in enumerate(found):
            for k, e in enumerate(path):
                if param[e] >= 0:
                    jac[row, param[e]] += np.prod(w[path[:k] + path[k + 1:]])
    if not np.all(np.isfinite(jac)) or model.n_params == 0:
        return
    sv = np.linalg.svd(jac, compute_uv=False) if jac.size else np.zeros(0)
    top = sv[0] if sv.size else 0.0
    rank = int(np.sum(sv > 1e-8 * top)) if top > 0 else 0
    clear = top == 0 or ((rank == sv.size or sv[rank] < 1e-12 * top) and (rank == 0 or sv[rank - 1] > 1e-6 * top))
    exact = [backend.rank_lift(model, theta, method="exact") for backend in (itf, ref)]
    assert exact[0] == exact[1], (model, theta, exact)
    moderate = np.all((theta == 0) | ((np.abs(theta) > 0.01) & (np.abs(theta) < 100)))  # J well scaled
    if clear and moderate:
        assert exact[0] == rank, (model, theta, exact, rank, sv)
        assert [backend.rank_lift(model, theta) for backend in (itf, ref)] == [rank, rank], (model, theta, sv)


def close(a, b, rtol):
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(float(np.max(np.abs(b), initial=0.0)), float(np.max(np.abs(a), initial=0.0)))
    return a.shape == b.shape and bool(np.all(np.abs(a - b) <= rtol * np.maximum(np.abs(b), 1e-12 * scale)))


def check_path_norm(model, theta, q, w, log):
    """path_norm with its gradient: both backends agree to 1e-12 and match the listed paths, or
    both refuse a norm (or gradient) beyond float64."""
    log_norm, grad = path_norm_from_paths(model, theta, q)
    answers = []
    for backend in (itf, ref):
        try:
            answers.append(backend.path_norm(model, theta, q, return_grad=True))
        except BaseException as error:  # noqa: BLE001
            assert refused(error), f"path_norm raised {type(error).__name__}: {error}"
            assert log_norm > LOG_LARGEST - 1e-9 or grad is None, (model, theta, q, error)
            answers.append(None)
            log["beyond"] += 1
    assert (answers[0] is None) == (answers[1] is None), (model, theta, q)
    if answers[0] is None:
        return
    (core_norm, core_grad), (ref_norm, ref_grad) = answers
    assert close(core_norm, ref_norm, 1e-12), (model, theta, q, core_norm, ref_norm)
    assert close(core_grad, ref_grad, 1e-12), (model, theta, q, core_grad, ref_grad)
    # against the listed paths: the order q multiplies the rounding of the logs in each path's share
    log_scale = max(1.0, float(np.max(np.abs(np.log(np.abs(w[w != 0]))), initial=1.0)))
    norm_rtol = 1e-11 * max(1.0, log_scale / 10.0)
    share_rtol = 1e-11 * max(1.0, (q if q != np.inf else 1.0) * log_scale / 10.0)
    expected = math.exp(log_norm) if log_norm > -np.inf else 0.0
    assert close(core_norm, expected, norm_rtol), (model, theta, q, core_norm, expected)
    if q != np.inf and grad is not None:
        assert close(core_grad, grad, share_rtol), (model, theta, q, core_grad, grad)
    log["answered"] += 1


def check_graph_case(rng, log):
    fields, corrupted = random_fields(rng)
    try:
        model = itf.SharedReLUNet(**fields)
    except BaseException as error:  # noqa: BLE001 - the fuzz judges every exception
        assert refused(error), f"constructor raised {type(error).__name__}: {error} on {fields}"
        # valid fields are refused only for what the model cannot hold
        assert corrupted or re.search(GRAPH_LIMITS, str(error)), f"refused: {error} on {fields}"
        log["refused"] += 1
        return
    # a corruption may be harmless (a NaN on a parameter edge is ignored): then the model is checked as any other
    theta = random_theta(rng, model)
    X = rng.standard_normal((3, model.n_inputs))
    with np.errstate(all="ignore"):
        expected_out = forward_by_neuron(model, theta, X)
    if np.all(np.isfinite(expected_out)):
        out = model.forward(theta, X)
        assert close(out, expected_out, 1e-12), (fields, theta, out, expected_out)
    found = listed_paths(model)
    assert model.n_lifted == len(found)
    w = edge_weights(model, theta)
    if not model.has_max:
        with np.errstate(all="ignore"):
            phi = np.array([np.prod(w[p]) for p in found])
        for backend in (itf, ref):
            with np.errstate(over="ignore", under="ignore"):  # a product beyond float64 is +-inf, as phi here
                lifted = backend.lift(model, theta)
            if np.all(np.isfinite(phi)):
                assert close(np.sort(lifted), np.sort(phi), 1e-12), (fields, theta)
            else:
                assert np.sum(np.isinf(lifted)) == np.sum(np.isinf(phi)), (fields, theta)
    if not model.has_max and model.n_params <= 40 and len(found) <= 400:
        check_ranks(model, theta, found, w)
    orders = [float(rng.choice([np.exp(rng.uniform(np.log(1e-3), np.log(1000.0))), 1.0, 2.0, np.inf,
                                float(rng.choice([1e-300, 1e-320]))], p=[0.6, 0.1, 0.1, 0.1, 0.1])) for _ in range(3)]
    for q in orders:
        check_path_norm(model, theta, q, w, log)
    log["answered"] += 1


# -- random PyTorch modules ---------------------------------------------------------------------
def random_module(rng, torch):
    """A random small Sequential of convolutions, pooling, ReLU and Linear layers, and its input shape."""
    nn = torch.nn
    kind = rng.integers(0, 3)  # flat, 1-D, 2-D
    layers = []
    if kind == 0:
        shape = (int(rng.integers(1, 6)),)
        width = shape[0]
    else:
        nd = int(kind)
        channels = int(rng.integers(1, 4))
        spatial = tuple(int(rng.integers(1, 9 if nd == 1 else 6)) for _ in range(nd))
        shape = (channels,) + spatial
        for _ in range(int(rng.integers(1, 4))):
            choice = rng.integers(0, 4)
            if choice <= 1:
                groups = int(rng.choice([g for g in (1, 2, 3) if channels % g == 0]))
                out = groups * int(rng.integers(1, 3))
                kernel = int(rng.integers(1, 4))
                padding = str(rng.choice(["same", "valid"])) if rng.random() < 0.3 else int(rng.integers(0, 5))
                stride = 1 if padding == "same" else int(rng.integers(1, 4))
                conv = (nn.Conv1d if nd == 1 else nn.Conv2d)(channels, out, kernel, stride=stride,
                                                             padding=padding if isinstance(padding, str) else int(padding),
                                                             dilation=int(rng.integers(1, 3)), groups=groups,
                                                             bias=bool(rng.random() < 0.7))
                layers.append(conv)
                channels = out
            elif choice == 2:
                layers.append(nn.ReLU())
            else:
                kernel = int(rng.integers(1, 4))
                pool = rng.choice(["max", "avg", "adaptive"])
                if pool == "adaptive":
                    layers.append((nn.AdaptiveAvgPool1d if nd == 1 else nn.AdaptiveAvgPool2d)(int(rng.integers(1, 4))))
                else:
                    cls = {("max", 1): nn.MaxPool1d, ("max", 2): nn.MaxPool2d, ("avg", 1): nn.AvgPool1d,
                           ("avg", 2): nn.AvgPool2d}[(pool, nd)]
                    layers.append(cls(kernel, stride=int(rng.integers(1, 3)), padding=int(rng.integers(0, kernel // 2 + 1))))
        layers.append(nn.Flatten())
        width = None
    if rng.random() < 0.8:
        layers.append(nn.LazyLinear(int(rng.integers(1, 4)), bias=bool(rng.random() < 0.7)))
    if rng.random() < 0.3 and layers and isinstance(layers[-1], nn.LazyLinear):
        layers[-1:] = [layers[-1], nn.ReLU(), nn.LazyLinear(int(rng.integers(1, 3)))]
    net = nn.Sequential(*layers) if len(layers) != 1 or rng.random() < 0.5 else layers[0]
    del width
    return net, shape


def check_torch_case(rng, log, torch):
    from intrinsic_flow.torch import from_torch, validate

    net, shape = random_module(rng, torch)
    X = torch.from_numpy(rng.standard_normal((4,) + shape))
    try:
        with torch.no_grad():
            net = net.double()
            net(X)  # materialises lazy layers; an architecture torch refuses is no case
            for p in net.parameters():
                p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
            expected = net(X).reshape(4, -1).numpy()
    except (RuntimeError, ValueError):
        log["invalid for torch"] += 1
        return
    net.eval()
    try:
        model, theta = from_torch(net, shape)
    except BaseException as error:  # noqa: BLE001
        assert refused(error), f"from_torch raised {type(error).__name__}: {error} on {net}"
        assert re.search(TORCH_LIMITS, str(error)), f"from_torch refused: {error} on {net}"
        assert not validate(net, shape).ok, f"validate ok but from_torch refused: {error} on {net}"
        log["refused"] += 1
        return
    assert validate(net, shape).ok, net
    out = model.forward(theta, X.numpy())
    scale = max(1.0, float(np.max(np.abs(expected), initial=0.0)))
    assert np.allclose(out, expected, rtol=1e-10, atol=1e-12 * scale), (net, shape, out, expected)
    q = float(rng.choice([1.0, 2.0, np.exp(rng.uniform(np.log(0.3), np.log(1000.0)))]))
    a = itf.path_norm(model, theta, q, return_grad=True)
    b = ref.path_norm(model, theta, q, return_grad=True)
    assert close(a[0], b[0], 1e-12) and close(a[1], b[1], 1e-12), (net, q)
    log["answered"] += 1


def run(n_cases: int, seed: int = 0, torch_cases: bool = True) -> dict:
    """n_cases random graphs (and as many random modules with torch installed), from ``seed``."""
    from collections import Counter

    log = Counter()
    for case in range(n_cases):  # case i draws from the generator seeded by (seed, i): reproducible alone
        try:
            check_graph_case(np.random.default_rng([seed, case]), log)
        except BaseException as error:
            raise AssertionError(f"graph case (seed {seed}, case {case}): {type(error).__name__}: {error}") from error
    if torch_cases:
        try:
            import torch
        except ImportError:  # pragma: no cover
            return dict(log)
        torch_log = Counter()
        for case in range(n_cases):
            try:
                check_torch_case(np.random.default_rng([seed, case, 1]), torch_log, torch)
            except BaseException as error:
                raise AssertionError(f"torch case (seed {seed}, case {case}): {type(error).__name__}: {error}") from error
        log.update({f"torch {k}": v for k, v in torch_log.items()})
    return dict(log)


@pytest.mark.parametrize("seed", [0, 1])
def test_random_graphs_answer_correctly_or_refuse(seed):
    log = run(60, seed, torch_cases=False)
    assert log.get("answered", 0) > 20


@pytest.mark.filterwarnings("ignore:Lazy modules are a new feature")
def test_random_torch_modules_translate_correctly_or_refuse():
    torch = pytest.importorskip("torch")
    from collections import Counter

    log = Counter()
    for case in range(15):
        check_torch_case(np.random.default_rng([7, case, 1]), log, torch)
    assert log["answered"] > 5


if __name__ == "__main__":
    import time
    import warnings

    warnings.filterwarnings("ignore")
    n, seed = (int(sys.argv[1]) if len(sys.argv) > 1 else 1000), (int(sys.argv[2]) if len(sys.argv) > 2 else 0)
    start = time.process_time()
    print(run(n, seed), f"{time.process_time() - start:.1f} CPU s")
