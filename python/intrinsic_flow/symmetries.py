"""Symmetries of wide two-layer ReLU networks (Hajjar & Chizat, arXiv 2211.08771), on the C++ core.

Mean-field particle training of f(x) = (1/m) sum_j a_j relu(b_j . x) (GD, RK4, online SGD with
seeded batches), its symmetry diagnostics, the closed form of the odd-target dynamics, alpha(d_H)
and the reduced angle dynamics of a radial target. Same API and results as
``intrinsic_flow.reference.symmetries``; see ``docs/theory/symmetries.md``.

Examples
--------
>>> import numpy as np
>>> from intrinsic_flow import symmetries
>>> a, B = symmetries.init_particles(64, 5, 0, paired=True)
>>> X = np.random.default_rng(0).standard_normal((100, 5))
>>> X2, y2 = symmetries.symmetrize(X, X[:, 0] ** 3)
>>> run = symmetries.train(a, B, X=X2, y=y2, lr=0.05, n_steps=200, save_every=100)
>>> bool(run.linearity_error.max() < 1e-12), bool(run.loss[-1] < run.loss[0])
(True, True)
"""
from __future__ import annotations

from . import _core
from ._symmetries import _chunks
from ._symmetries import (OddTargetConstants, ParticleTrajectory, ReducedTrajectory, SymmetriesBackend, alpha,
                          angles_to_subspace, from_theta, init_particles, linear_surrogate, mean_field_model,
                          odd_cubic_coef, odd_target_bound, odd_target_constants, odd_target_loss, odd_target_ode,
                          pair_symmetry_error, reduced_features, reduced_init, symmetrize, tau_histogram, to_theta)

__all__ = ["mean_field_model", "to_theta", "from_theta", "init_particles", "symmetrize", "odd_cubic_coef",
           "draw_inputs", "target_values", "predict", "train", "ParticleTrajectory", "pair_symmetry_error",
           "linear_surrogate", "angles_to_subspace", "tau_histogram", "odd_target_constants",
           "OddTargetConstants", "odd_target_ode", "odd_target_bound", "odd_target_loss", "alpha", "reduced_init",
           "reduced_samples", "reduced_train", "reduced_features", "ReducedTrajectory"]


class _CoreKernels:
    """The hot loops in the core (cpp/symmetries.cpp), GIL released."""

    predict = staticmethod(_core.sym_predict)
    draw_inputs = staticmethod(_core.sym_draw_inputs)
    target = staticmethod(_core.sym_target)
    train = staticmethod(_core.sym_particle_train)
    reduced_train = staticmethod(_core.sym_reduced_train)
    reduced_samples = staticmethod(_core.sym_reduced_samples)

    # values (8 bytes) each kernel allocates, for the size checks of the front end
    @staticmethod
    def predict_items(m, d, N):
        return _chunks(N) * m + N + m * d

    @staticmethod
    def train_items(m, d, n, S, online):
        chunk = max(128, (n + 31) // 32)
        return (S * (m * (d + 1) + 1) + _chunks(n) * (d + 2) * m + (_chunks(n) * chunk * d if online else 0)
                + 5 * m * d + 6 * m)

    @staticmethod
    def samples_items(n):
        return 6 * n

    @staticmethod
    def reduced_items(m, n, S):
        return S * (2 * m + 1) + 2 * _chunks(n) * m + 8 * m


_backend = SymmetriesBackend(_CoreKernels())
# the public functions: bound methods of the one backend (docstrings in _symmetries)
predict = _backend.predict
draw_inputs = _backend.draw_inputs
target_values = _backend.target_values
train = _backend.train
reduced_samples = _backend.reduced_samples
reduced_train = _backend.reduced_train
