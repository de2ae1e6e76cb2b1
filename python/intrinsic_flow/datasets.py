"""Small classification data sets for the parameterisation experiments.

- :func:`load_digits`: scikit-learn's 8x8 handwritten digits (1797 images shipped inside
  scikit-learn, no download), flattened to 64 features and standardised with the training
  set's mean and standard deviation (as MNIST is normalised), with a seeded train/test split.
- :func:`gaussian_mixture`: a synthetic mixture of Gaussian classes.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from ._extras import install_hint

__all__ = ["Dataset", "gaussian_mixture", "load_digits"]


@dataclass(frozen=True)
class Dataset:
    """Inputs (n, d) and integer labels (n,) of a training and a test set."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    name: str = ""

    @property
    def n_classes(self) -> int:
        """Number of classes: one more than the largest label."""
        return int(max(self.y_train.max(), self.y_test.max())) + 1


def _split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple:
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    order = np.random.default_rng(seed).permutation(x.shape[0])
    n_test = max(1, int(round(test_fraction * x.shape[0])))
    test, train = order[:n_test], order[n_test:]
    return x[train], y[train], x[test], y[test]


def load_digits(test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """scikit-learn's digits, flattened (64 features), standardised, split at random.

    x is divided by 16 (pixel range 0..16), then the training set's mean and standard deviation
    (one number each, over all pixels) are removed from both sets.

    Parameters
    ----------
    test_fraction : float
        Share of the 1797 images kept for testing.
    seed : int
        Seed of the split.

    Returns
    -------
    Dataset

    Raises
    ------
    ImportError
        Without scikit-learn (``pip install "intrinsic-flow[parameterizations]"``, from a source
        checkout ``pip install ".[parameterizations]"``).

    Examples
    --------
    >>> from intrinsic_flow.datasets import load_digits
    >>> data = load_digits()
    >>> data.x_train.shape, data.x_test.shape, data.n_classes
    ((1348, 64), (449, 64), 10)
    """
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(f"load_digits needs scikit-learn: {install_hint('parameterizations')}") from None
    test_fraction = _checks.positive_real(test_fraction, "test_fraction")
    seed = _checks.nonnegative_int(seed, "seed")
    digits = sklearn_digits()
    x = np.asarray(digits.data, dtype=np.float64).reshape(len(digits.data), -1) / 16.0
    x_train, y_train, x_test, y_test = _split(x, np.asarray(digits.target, dtype=np.int64), test_fraction, seed)
    mean, std = x_train.mean(), x_train.std()
    return Dataset((x_train - mean) / std, y_train, (x_test - mean) / std, y_test, "digits")


def gaussian_mixture(n_samples: int = 512, dim: int = 10, n_classes: int = 10, separation: float = 2.0,
                     test_fraction: float = 0.25, seed: int = 0) -> Dataset:
    """A mixture of ``n_classes`` isotropic Gaussians in R^dim.

    Class centres are drawn once as ``separation * N(0, I_dim / dim)`` (distances between them
    about ``separation * sqrt(2)``); sample i has label ``i mod n_classes`` and input
    ``centre + N(0, I_dim / dim)``.

    Parameters
    ----------
    n_samples, dim, n_classes : int
    separation : float
    test_fraction : float
    seed : int

    Returns
    -------
    Dataset

    Examples
    --------
    >>> from intrinsic_flow.datasets import gaussian_mixture
    >>> data = gaussian_mixture(n_samples=100, dim=5, n_classes=4)
    >>> data.x_train.shape, data.n_classes
    ((75, 5), 4)
    """
    n_samples = _checks.positive_int(n_samples, "n_samples", 2)
    dim = _checks.positive_int(dim, "dim")
    n_classes = _checks.positive_int(n_classes, "n_classes", 2)
    separation = _checks.positive_real(separation, "separation")
    test_fraction = _checks.positive_real(test_fraction, "test_fraction")
    seed = _checks.nonnegative_int(seed, "seed")
    _checks.check_size(2.0 * n_samples * dim, f"a Gaussian mixture of {n_samples} samples in dimension {dim}")
    rng = np.random.default_rng(seed)
    centres = separation * rng.standard_normal((n_classes, dim)) / np.sqrt(dim)
    labels = np.arange(n_samples) % n_classes
    x = centres[labels] + rng.standard_normal((n_samples, dim)) / np.sqrt(dim)
    return Dataset(*_split(x, labels.astype(np.int64), test_fraction, seed), name="gaussian mixture")
