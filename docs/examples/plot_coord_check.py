"""
Coordinate check: muP against an integrable parameterisation
============================================================

Mean absolute pre-activations of each layer against width, at initialisation (step 0) and after
one and two SGD steps, for a network with 3 hidden layers. Under muP every hidden layer stays of
order one at every width; under the integrable parameterisation (IP) with centred initial weights
the hidden layers after the first and the output shrink like powers of the width
(mean :math:`|f| \sim m^{-3/2}`), which is why deep IPs do not train (Hajjar, Chizat, Giraud, arXiv 2110.15596).
"""
import matplotlib.pyplot as plt
import numpy as np

from intrinsic_flow.parameterizations import coord_check

widths = [64, 128, 256, 512, 1024]
fig, axes = plt.subplots(2, 3, figsize=(10, 6), sharex=True)
for row, scheme in zip(axes, ("mup", "ip")):
    check = coord_check(scheme, widths, n_hidden=3, n_steps=2, n_seeds=3, batch=16)
    means = check.means("abs_h")  # mean over seeds, indexed by (layer, step), one column per width
    for ax, step in zip(row, (0, 1, 2)):
        for layer in (1, 2, 3, 4):
            label = "output" if layer == 4 else f"h{layer}"
            ax.loglog(widths, np.asarray(means.loc[(layer, step)]), "o-", ms=3, label=label)
        ax.set_title(f"{scheme}, step {step}", fontsize=9)
    row[0].set_ylabel("mean |h|")
    print(scheme, "slopes in m at step 0:", check.slopes("abs_h").xs(0, level="step").round(2).to_dict())
for ax in axes[1]:
    ax.set_xlabel("width m")
axes[0][2].legend(fontsize=7)
fig.tight_layout()
