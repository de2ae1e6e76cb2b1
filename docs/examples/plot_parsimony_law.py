"""
The law of parsimony in a deep linear network
=============================================

Gradient descent on a depth-3 factorisation of a rank-3, 30 x 30 target from an orthogonal start
(the setting of Yaras et al., arXiv 2306.01154). Left: the singular values of W_1 over the run;
only 2r = 6 of them move, the other 24 stay equal to one scalar rho_t. Right: that scalar against
its recursion rho_{t+1} = rho_t - eta rho_t^5, and the residual of the complement block
W_l(t) B_l - (rho/eps) W_l(0) B_l, at rounding level throughout.
"""
import matplotlib.pyplot as plt
import numpy as np

from intrinsic_flow import parsimony

run = parsimony.factorization(30, 3, 3, 1.0, 0.002, 3000, reduction="sum", save_every=30)

fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
for i in range(30):
    moving = i < 3 or i >= 27
    left.plot(run.steps, run.singular_values[:, 0, i], color="C3" if moving else "C0", lw=0.8)
left.set_xlabel("step")
left.set_ylabel("singular values of W_1")
right.semilogy(run.steps, np.abs(run.rho - run.rho_predicted) + 1e-18, label="|rho - recursion|")
right.semilogy(run.steps, run.middle_spread + 1e-18, label="spread of the middle 24")
right.semilogy(run.steps, run.complement_residual + 1e-18, label="complement residual")
right.set_xlabel("step")
right.legend(fontsize=7)
fig.tight_layout()
print(run.summary())
