"""
Criteria over random points
===========================

``scan`` evaluates the criteria at many random points (one seed per sample, identical rows in
parallel or on a Dask cluster). Gaussian points of a ReLU network are recoverable; sparse points
(weights zeroed with probability 0.3) are not always; linear networks never are when the width is
at least 2, and satisfy kernel inclusion only under relaxed balance.
"""
import matplotlib.pyplot as plt
import numpy as np

import intrinsic_flow as itf

relu = itf.ReLUNet([3, 5, 5, 1])
linear = itf.LinearNet([3, 3, 3])
relu_scan = itf.scan(relu, 300, init=["gaussian", "sparse:0.3"], progress=False)
linear_scan = itf.scan(linear, 300, init=["gaussian", "relaxed_balanced:0.5"], progress=False)
print(relu_scan.summary())

fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3.5))
rows = relu_scan.rows
for index, name in enumerate(["gaussian", "sparse:0.3"]):
    ranks = rows["rank_joint"][rows["init"] == index]
    left.hist(ranks, bins=np.arange(ranks.min() - 0.5, relu.n_params + 1.5), alpha=0.6, label=name)
left.axvline(relu.n_params, color="k", ls="--", lw=1)
left.set_xlabel("rank [dphi; dh]   (D dashed)")
left.set_title("ReLUNet [3, 5, 5, 1]", fontsize=9)
left.legend(fontsize=7)
rows = linear_scan.rows
for index, name in enumerate(["gaussian", "relaxed_balanced:0.5"]):
    residual = rows["inclusion_residual"][rows["init"] == index]
    right.hist(np.log10(np.maximum(residual, 1e-18)), bins=30, alpha=0.6, label=name)
right.axvline(np.log10(itf.INCLUSION_TOL), color="k", ls="--", lw=1)
right.set_xlabel("log10 kernel-inclusion residual   (tolerance dashed)")
right.set_title("LinearNet [3, 3, 3]", fontsize=9)
right.legend(fontsize=7)
fig.tight_layout()
