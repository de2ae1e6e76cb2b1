"""Speed of shared parameters (SharedReLUNet) and path-norms.

Prints, measured in this run:
  1. a 2-D CNN (input 3x16x16, two 3x3 convolutions 3 -> 16 -> 32 with ReLU, 2x2 average pooling,
     a dense layer to 10 outputs; > 10^4 parameters, ~2 10^8 paths): the exact rank of dphi
     without listing paths (core and reference), its expected value D - #channels, the exact
     count of conservation laws, and the time to build the model;
  2. path_norm (q = 1 and 2, with its gradient) on the same CNN: core vs the NumPy reference, and
     against one forward pass of the network (SharedReLUNet.forward, a NumPy sweep) on 1 input;
  3. the cost of sharing on today's models: lift_gram / lift_jacobian / rank of a ReLUNet against
     the same network as SharedReLUNet.from_dag (identity sharing), both on the core.

Run: python bench/bench_shared.py
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, ratio  # noqa: E402


def cnn2d(channels=(3, 16, 32), size=16, kernel=3, pool=2, outputs=10):
    """Edges of a 2-D CNN built with NumPy index arithmetic (valid convolutions, stride 1)."""
    import intrinsic_flow as itf

    src, dst, param, weight, activation, groups = [], [], [], [], [], []
    n_params = 0
    shape = (channels[0], size, size)
    layer = np.arange(np.prod(shape)).reshape(shape)
    activation += ["identity"] * layer.size
    n = layer.size
    for c_in, c_out in zip(channels[:-1], channels[1:]):
        h = layer.shape[1] - kernel + 1
        out = n + np.arange(c_out * h * h).reshape(c_out, h, h)
        n += out.size
        activation += ["relu"] * out.size
        o, y, x, c, dy, dx = np.meshgrid(np.arange(c_out), np.arange(h), np.arange(h), np.arange(c_in),
                                         np.arange(kernel), np.arange(kernel), indexing="ij")
        src.append(layer[c, y + dy, x + dx].ravel())
        dst.append(out[o, y, x].ravel())
        param.append((n_params + ((o * c_in + c) * kernel + dy) * kernel + dx).ravel())
        n_params += c_out * c_in * kernel * kernel
        src.append(np.full(out.size, -1))  # biases
        dst.append(out.ravel())
        param.append(n_params + np.repeat(np.arange(c_out), h * h))
        n_params += c_out
        weight += [np.zeros(out.size * c_in * kernel * kernel), np.zeros(out.size)]
        groups += [list(out[k].ravel()) for k in range(c_out)]
        layer = out
    c_last, h = layer.shape[0], layer.shape[1] // pool
    pooled = n + np.arange(c_last * h * h).reshape(c_last, h, h)
    n += pooled.size
    activation += ["identity"] * pooled.size
    o, y, x, dy, dx = np.meshgrid(np.arange(c_last), np.arange(h), np.arange(h), np.arange(pool), np.arange(pool),
                                  indexing="ij")
    src.append(layer[o, y * pool + dy, x * pool + dx].ravel())
    dst.append(pooled[o, y, x].ravel())
    param.append(np.full(o.size, -1))
    weight.append(np.full(o.size, 1.0 / pool ** 2))
    for k in range(c_last):  # average pooling keeps the channel (its fixed edges lie inside it)
        groups[len(groups) - c_last + k] += list(pooled[k].ravel())
    outs = n + np.arange(outputs)
    n += outputs
    activation += ["identity"] * outputs
    j, i = np.meshgrid(np.arange(outputs), np.arange(pooled.size), indexing="ij")
    src.append(pooled.ravel()[i].ravel())
    dst.append(outs[j].ravel())
    param.append(n_params + np.arange(j.size))
    n_params += j.size
    weight.append(np.zeros(j.size))
    cat = np.concatenate
    return itf.SharedReLUNet(shape[0] * size * size, outputs, n, cat(src), cat(dst), cat(param), cat(weight),
                             n_params, activation, [tuple(g) for g in groups], shape)


def main():
    import intrinsic_flow as itf
    import intrinsic_flow.reference as ref

    start = time.perf_counter()
    model = cnn2d()
    built = time.perf_counter() - start
    theta = model.init(0)
    print(f"1. 2-D CNN: D = {model.n_params}, {model.n_edges} edges, {model.n_neurons} neurons, "
          f"{model.n_known_laws} channels, {model.n_lifted:.3e} paths (built in {built:.2f} s)")
    t_core = best_time(lambda: itf.rank_lift(model, theta, method="exact"))
    t_ref = best_time(lambda: ref.rank_lift(model, theta, method="exact"))
    rank = itf.rank_lift(model, theta, method="exact")
    print(f"   exact rank {rank} (D - #channels = {model.n_params - model.n_known_laws}): core {t_core:.3f} s, "
          f"reference {t_ref:.3f} s")
    t_laws = best_time(lambda: itf.count_conservation_laws(model), repeat=1)
    print(f"   count_conservation_laws {itf.count_conservation_laws(model)} (= #channels, level 0 from the structure): "
          f"{t_laws:.3f} s")
    print(f"   a dense Jacobian would hold {model.n_lifted * model.n_params:.2e} entries "
          f"({8 * model.n_lifted * model.n_params / 2**40:.0f} TiB): not formed")

    X = np.ones((1,) + tuple(model.input_shape))
    t_forward = best_time(lambda: model.forward(theta, X))
    print(f"2. path_norm on the CNN (one forward pass of the network on 1 input: {1e3 * t_forward:.2f} ms)")
    for q in (1, 2):
        t_core = best_time(lambda: itf.path_norm(model, theta, q, return_grad=True))
        t_ref = best_time(lambda: ref.path_norm(model, theta, q, return_grad=True))
        value = itf.path_norm(model, theta, q)
        gap = abs(value - ref.path_norm(model, theta, q)) / value
        print(f"   q = {q}: {value:.6g}, core {1e3 * t_core:.2f} ms (value and gradient), reference "
              f"{1e3 * t_ref:.2f} ms {ratio(t_ref, t_core)}; vs the forward pass {t_core / t_forward:.2f}x; "
              f"relative gap {gap:.1e}")

    net = itf.ReLUNet([8, 32, 32, 1], bias="hidden")
    shared = itf.SharedReLUNet.from_dag(net)
    theta = net.init(0)
    print(f"3. identity sharing on ReLUNet {list(net.widths)} (D = {net.n_params}), core: shared / ReLUNet time")
    for name, call in (("lift_gram", lambda m: itf.lift_gram(m, theta)),
                       ("lift_jacobian", lambda m: itf.lift_jacobian(m, theta)),
                       ("rank_lift", lambda m: itf.rank_lift(m, theta)),
                       ("rank_lift exact", lambda m: itf.rank_lift(m, theta, method="exact")),
                       ("path_norm", lambda m: itf.path_norm(m, theta, 2))):
        t_net, t_shared = best_time(lambda: call(net)), best_time(lambda: call(shared))
        print(f"   {name:16s} ReLUNet {1e3 * t_net:8.2f} ms, SharedReLUNet {1e3 * t_shared:8.2f} ms "
              f"{t_shared / t_net:6.2f}x")


if __name__ == "__main__":
    main()
