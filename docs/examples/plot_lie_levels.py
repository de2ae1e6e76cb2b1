"""
Lie-algebra dimension by bracket level
======================================

``lie_trace`` iterates W_{k+1} = W_k + [W_0, W_k] in exact arithmetic modulo 2^61 - 1 and
records dim W_k at each level. ReLU networks stop at level 0 (the Frobenius property); linear
networks gain dimension through brackets. The number of conservation laws is D minus the last
level.
"""
import matplotlib.pyplot as plt

import intrinsic_flow as itf

models = {
    "Linear [2,3,2]": itf.LinearNet([2, 3, 2]),
    "Linear [3,3,3]": itf.LinearNet([3, 3, 3]),
    "Linear [4,4,4]": itf.LinearNet([4, 4, 4]),
    "Linear [3,3,3,3]": itf.LinearNet([3, 3, 3, 3]),
    "ReLU [3,4,2]": itf.ReLUNet([3, 4, 2]),
    "ReLU [2,3,3,1] hidden bias": itf.ReLUNet([2, 3, 3, 1], bias="hidden"),
}

fig, ax = plt.subplots(figsize=(6, 3.5))
for name, model in models.items():
    trace = itf.lie_trace(model)
    print(f"{name:28s} D = {trace.n_params:3d}  levels {trace.dims_by_depth}  laws {trace.n_laws}")
    ax.plot(range(len(trace.dims_by_depth)), [d / trace.n_params for d in trace.dims_by_depth], "o-", label=name)
ax.set_xlabel("bracket level k")
ax.set_ylabel("dim W_k / D")
ax.set_xticks(range(4))
ax.legend(fontsize=7)
fig.tight_layout()
