"""
Singular values around the rank cut
===================================

The rank of the path-lifting Jacobian is read from the singular values of its Gram matrix at the
balanced representative of theta (see the Theory page "Ranks and tolerances"). At a generic point
the gap at the cut spans many orders of magnitude, and rescaling a hidden neuron by 1e8, which
leaves phi unchanged, changes nothing.
"""
import matplotlib.pyplot as plt
import numpy as np

import intrinsic_flow as itf

net = itf.ReLUNet([4, 8, 8, 3])
theta = net.init(0)

# Rescale hidden neuron 0 of the first hidden layer: incoming weights times s, outgoing divided by s.
layers = [(W.copy(), b) for W, b in net.unflatten(theta)]   # (W_l, b_l) per layer, no biases here
s = 1e8
layers[0][0][0, :] *= s
layers[1][0][:, 0] /= s
rescaled = net.flatten(layers)
print("phi unchanged:", np.allclose(itf.lift(net, rescaled), itf.lift(net, theta), rtol=1e-6))

fig, ax = plt.subplots(figsize=(6, 3.5))
for label, point, marker in [("theta", theta, "o"), ("neuron rescaled by 1e8", rescaled, "x")]:
    info = itf.rank_info(net, point)
    sv = info.singular_values / info.singular_values[0]
    ax.semilogy(np.arange(1, sv.size + 1), np.maximum(sv, 1e-18), marker, ms=4, label=f"{label} (rank {info.rank})")
    print(label, "rank", info.rank, "gap", f"{info.gap:.1e}")
ax.axvline(info.rank + 0.5, color="gray", ls="--", lw=1)
ax.set_xlabel("index")
ax.set_ylabel("singular value / largest\n(exact zeros drawn at 1e-18)")
ax.set_title(f"ReLUNet [4, 8, 8, 3]: D = {net.n_params}, rank dphi = D - 16")
ax.legend()
fig.tight_layout()
