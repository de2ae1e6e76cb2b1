"""PyTorch models in: translation, path norms and ranks of convolutional networks.

Prints, measured in this run:
  1. a small ResNet-like CNN (input 3x32x32, about 2.2e5 parameters, three residual stages):
     from_torch's translation time, then ``path_norm`` for q = 1 and 2 (and with its gradient)
     against the explicit forward pass in PyTorch on |theta|^q (float64: every weight replaced by
     |w|^q, ReLU by the identity, the input by ones; the sum of the outputs is ||phi||_q^q), with
     the relative difference of the two values;
  2. the rank of d phi for a CNN with more than 1e4 parameters (method="exact": from theta's zero
     pattern and the sharing, without listing paths), its number of paths, and the memory a dense
     Jacobian (torch.func.jacrev or jax.jacrev of phi) would need: it cannot be formed.

Run: python bench/bench_torch.py   (needs torch: pip install ".[torch]")
"""
from __future__ import annotations

import copy
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(__file__))
from _timing import best_time, ratio  # noqa: E402


IDENTITY = [False]  # True: the explicit path-norm pass (ReLU -> identity); read when traced or run


def _act(t):
    import torch

    return t if IDENTITY[0] else torch.relu(t)


def resnet_like():
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.c1 = nn.Conv2d(c, c, 3, padding=1)
            self.c2 = nn.Conv2d(c, c, 3, padding=1)

        def forward(self, x):
            return _act(self.c2(_act(self.c1(x))) + x)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 16, 3, stride=2, padding=1)  # 16 x 16
            self.block1 = Block(16)
            self.down1 = nn.Conv2d(16, 32, 3, stride=2, padding=1)  # 8 x 8
            self.block2 = Block(32)
            self.down2 = nn.Conv2d(32, 96, 3, stride=2, padding=1)  # 4 x 4
            self.block3 = Block(96)
            self.pool = nn.AdaptiveAvgPool2d(1)
            self.head = nn.Linear(96, 10)

        def forward(self, x):
            x = self.block1(_act(self.stem(x)))
            x = self.block2(_act(self.down1(x)))
            x = self.block3(_act(self.down2(x)))
            return self.head(torch.flatten(self.pool(x), 1))

    torch.manual_seed(0)
    return Net().double().eval()


def torch_path_norm(net, q: float) -> float:
    """||phi||_q by one explicit forward pass in PyTorch on |theta|^q (ReLU -> identity, ones in)."""
    import torch

    with torch.no_grad():
        abs_net = copy.deepcopy(net)
        for p in abs_net.parameters():
            p.copy_(p.abs() ** q)
        # the average pooling's fixed weights 1/16 enter the paths as (1/16)^q: rescale the sum
        pool_size = 16
        IDENTITY[0] = True
        try:
            out = abs_net(torch.ones(1, 3, 32, 32, dtype=torch.float64)) - abs_net.head.bias
        finally:
            IDENTITY[0] = False
        out = out * pool_size ** (1 - q) + abs_net.head.bias
        return float(out.sum()) ** (1.0 / q)


def small_cnn():
    import torch
    from torch import nn

    torch.manual_seed(1)
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 16, 3, stride=2, padding=1),
                         nn.ReLU(), nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
                         nn.Linear(32 * 4 * 4, 10)).double()


def main() -> None:
    import torch

    import intrinsic_flow as itf
    from intrinsic_flow.torch import _build, _translate, from_torch

    torch.set_num_threads(2)
    print(f"threads: intrinsic_flow {itf.build_info()['threads']}, torch {torch.get_num_threads()}")

    net = resnet_like()
    start = time.perf_counter()
    fields, theta, groups = _translate(net, (3, 32, 32), False)  # from_torch = _translate + _build
    translate = time.perf_counter() - start
    start = time.perf_counter()
    model = _build(fields, groups)
    build = time.perf_counter() - start
    print(f"\n1. ResNet-like CNN, input 3x32x32: D = {model.n_params} parameters, {model.n_edges} edges, "
          f"{model.n_neurons} neurons, {len(model.channels)} channels, "
          f"{float(model.n_lifted):.2e} paths")
    print(f"   from_torch: trace, edges and channels {translate:6.2f} s; SharedReLUNet (validation, law signs) "
          f"{build:6.2f} s")
    for _ in range(5):  # PyTorch's first convolutions of a shape set up their kernels: not timed
        torch_path_norm(net, 1)
    for q in (1, 2):
        ours = best_time(lambda: itf.path_norm(model, theta, q), repeat=5)
        ours_grad = best_time(lambda: itf.path_norm(model, theta, q, return_grad=True))
        theirs = best_time(lambda: torch_path_norm(net, q), repeat=5)
        value, reference = itf.path_norm(model, theta, q), torch_path_norm(net, q)
        print(f"   q = {q}: path_norm {ours * 1e3:8.1f} ms (with gradient {ours_grad * 1e3:8.1f} ms), "
              f"torch forward on |theta|^q {theirs * 1e3:8.1f} ms; torch/ours {ratio(theirs, ours)}; "
              f"||phi||_q = {value:.6e}, relative difference {abs(value - reference) / reference:.1e}")

    cnn = small_cnn()
    model, theta = from_torch(cnn, (1, 16, 16))
    start = time.perf_counter()
    rank = itf.rank_lift(model, theta, method="exact")
    elapsed = time.perf_counter() - start
    paths = model.n_lifted
    print(f"\n2. CNN 1x16x16 -> conv16 -> conv16/2 -> conv32/2 -> linear 10: D = {model.n_params} parameters, "
          f"{model.n_edges} edges, {len(model.channels)} channels")
    print(f"   rank d phi = {rank} (D - rank = {model.n_params - rank}; known laws {len(model.channels)}) in "
          f"{elapsed:.3f} s without listing paths")
    print(f"   paths d = {paths} ({float(paths):.2e}): a dense Jacobian (torch.func.jacrev / jax.jacrev of phi) "
          f"would hold d x D = {float(paths) * model.n_params:.2e} float64 entries "
          f"({float(paths) * model.n_params * 8 / 2**30:.1e} GiB): it cannot be formed")


if __name__ == "__main__":
    main()
