"""The linear neural ODE x' = A(s) x on [0, 1] with A piecewise constant on n_steps pieces.

theta = (A_1, ..., A_K), each n x n ravelled; step k applies U_k = I + A_k / K and
z = phi(theta) = (U_K ... U_1).ravel() (docs/theory/intrinsic.md).

Known laws (the discrete analogue of H(s) = A' + A'^T + A^T A - A A^T): for k = 1..K-1 the upper
triangles (row by row) of H_k = U_{k+1}^T U_{k+1} - U_k U_k^T, exactly the laws of the linear
chain U_K ... U_1. They are conserved by the gradient flow in theta, since the flow of the U_k is
the linear-chain flow slowed down by 1/K^2. A smooth A gives H_k = H(s_k) / K^2 + O(1/K^3).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _checks
from ._typing import Array
from .models import _Model


@dataclass(frozen=True)
class LinearNeuralODE(_Model):
    r"""Linear neural ODE x' = A(s) x, A piecewise constant on ``n_steps`` pieces of [0, 1]; x in R^n.

    :math:`\theta = (A_1, \dots, A_K)` with K = ``n_steps``, each n x n ravelled; step k applies
    :math:`U_k`, and the lifting is the end-to-end map (``docs/theory/intrinsic.md``):

    .. math::

        \dot x &= A(s)\, x, \qquad U_k = I + \frac{A_k}{K},

        z &= \phi(\theta) = \operatorname{vec}(U_K \cdots U_1).

    Known laws: for k = 1..K-1 the upper triangles (row by row) of
    :math:`H_k = U_{k+1}^\top U_{k+1} - U_k U_k^\top`, those of the linear chain
    :math:`U_K \cdots U_1`.

    Parameters
    ----------
    n : int
        Dimension of x, >= 1.
    n_steps : int
        K, the number of pieces, >= 1.

    Attributes
    ----------
    n_params : int
        D = K n^2.
    n_lifted : int
        d = n^2.
    n_known_laws : int
        (K - 1) n (n + 1) / 2.
    n_hidden : int
        (K - 1) n.
    widths : tuple of int
        Widths of the equivalent linear chain U_K ... U_1: (n,) * (K + 1).

    Raises
    ------
    ValueError
        If ``n`` or ``n_steps`` is not a positive integer.

    Examples
    --------
    >>> import intrinsic_flow as itf
    >>> ode = itf.LinearNeuralODE(2, 8)
    >>> ode.n_params, ode.n_lifted, ode.n_known_laws
    (32, 4, 21)
    """

    n: int
    n_steps: int
    kind = "node"

    def __post_init__(self) -> None:
        object.__setattr__(self, "n", _checks.positive_int(self.n, "n"))
        object.__setattr__(self, "n_steps", _checks.positive_int(self.n_steps, "n_steps"))

    @property
    def n_params(self) -> int:
        return self.n_steps * self.n * self.n

    @property
    def n_lifted(self) -> int:
        return self.n * self.n

    @property
    def n_hidden(self) -> int:
        return (self.n_steps - 1) * self.n

    @property
    def n_known_laws(self) -> int:
        return (self.n_steps - 1) * self.n * (self.n + 1) // 2

    @property
    def widths(self) -> tuple:
        """Widths of the equivalent linear chain U_K ... U_1."""
        return (self.n,) * (self.n_steps + 1)

    def unflatten(self, theta) -> list:
        """[A_1, ..., A_K], each (n, n), views of theta.

        Parameters
        ----------
        theta : array_like of shape (n_params,)

        Returns
        -------
        list of ndarray of shape (n, n)

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length ``n_params`` or has a non-finite entry.

        Examples
        --------
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> A = ode.unflatten(ode.init(0))
        >>> len(A), A[0].shape
        (8, (2, 2))
        """
        theta = _checks.theta(self, theta)
        return list(theta.reshape(self.n_steps, self.n, self.n))

    def flatten(self, matrices) -> np.ndarray:
        """Inverse of ``unflatten``: theta from [A_1, ..., A_K].

        Parameters
        ----------
        matrices : list of array_like of shape (n, n)
            K matrices.

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            If there are not K matrices, a shape is not (n, n), or an entry is not finite.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> theta = ode.init(0)
        >>> np.array_equal(ode.flatten(ode.unflatten(theta)), theta)
        True
        """
        if len(matrices) != self.n_steps:
            raise ValueError(f"expected {self.n_steps} matrices A_k, got {len(matrices)}")
        return np.concatenate([_checks.finite_array(a, f"A_{k}", (self.n, self.n)).ravel()
                               for k, a in enumerate(matrices, start=1)])

    def factors(self, theta) -> list:
        """[U_1, ..., U_K] with U_k = I + A_k / K.

        Parameters
        ----------
        theta : array_like of shape (n_params,)

        Returns
        -------
        list of ndarray of shape (n, n)

        Raises
        ------
        ValueError
            If ``theta`` is not a flat vector of length ``n_params`` or has a non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> theta = ode.init(0)
        >>> Z = np.linalg.multi_dot(ode.factors(theta)[::-1])
        >>> bool(np.allclose(itf.lift(ode, theta), Z.ravel()))
        True
        """
        return [np.eye(self.n) + a / self.n_steps for a in self.unflatten(theta)]

    def from_factors(self, factors) -> np.ndarray:
        """theta with U_k = factors[k-1]: A_k = K (U_k - I).

        Parameters
        ----------
        factors : list of array_like of shape (n, n)
            [U_1, ..., U_K].

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            As ``flatten``.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> theta = ode.init(0)
        >>> bool(np.allclose(ode.from_factors(ode.factors(theta)), theta))
        True
        """
        return self.flatten([self.n_steps * (np.asarray(u) - np.eye(self.n)) for u in factors])

    def forward(self, theta, X) -> np.ndarray:
        """x(1) for each row of X (m, n): X Z^T with Z = U_K ... U_1.

        Parameters
        ----------
        theta : array_like of shape (n_params,)
        X : array_like of shape (m, n)
            Initial states x(0), one per row.

        Returns
        -------
        ndarray of shape (m, n)

        Raises
        ------
        ValueError
            If ``X`` is not of shape (m, n), ``theta`` not of length ``n_params``, or either has a
            non-finite entry.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> ode.forward(ode.init(0), np.ones((5, 2))).shape
        (5, 2)
        """
        X = _checks.finite_array(X, "X")
        if X.ndim != 2 or X.shape[1] != self.n:
            raise ValueError(f"X must have shape (m, {self.n}), got {X.shape}")
        out = X
        for u in self.factors(theta):
            out = out @ u.T
        return out

    def init(self, rng: np.random.Generator | int | None = None, scheme: str = "gaussian", **options: object) -> Array:
        """theta for ``scheme``: "gaussian" or "relaxed_balanced".

        "gaussian": A_k entries N(0, 1/n) (standard deviation ``std``, default 1/sqrt(n)).
        "relaxed_balanced" with ``lam`` (and optional ``spread``, default 1): H_k = (lam / K^2) I
        exactly for every k, built as U_1 = I + S/K (S symmetric Gaussian times spread),
        U_{k+1} = exp(Omega/K) (U_k U_k^T + lam/K^2 I)^{1/2} with one skew Gaussian Omega;
        U_{k+1}^T U_{k+1} - U_k U_k^T = lam/K^2 I holds by construction.

        Parameters
        ----------
        rng : numpy.random.Generator, int or None, default None
            A numpy Generator or an integer seed.
        scheme : {"gaussian", "relaxed_balanced"}, default "gaussian"
        **options
            ``std`` (gaussian, > 0); ``lam`` (relaxed_balanced, required, finite) and ``spread``
            (relaxed_balanced, > 0).

        Returns
        -------
        theta : ndarray of shape (n_params,)

        Raises
        ------
        ValueError
            For an unknown scheme or option, a missing ``lam``, an invalid option value, or a
            ``lam`` that makes U_k U_k^T + lam/K^2 I singular.

        Examples
        --------
        >>> import numpy as np
        >>> import intrinsic_flow as itf
        >>> ode = itf.LinearNeuralODE(2, 8)
        >>> theta = ode.init(0, "relaxed_balanced", lam=0.5)
        >>> h = itf.conserved(ode, theta)           # the upper triangles of H_k = (0.5 / 64) I
        >>> np.round(h[:3] * 64, 6)
        array([0.5, 0. , 0.5])
        """
        rng = _checks.resolve_rng(rng)
        _checks.check_size(self.n_params, "theta (n_params values)")  # before any scheme allocates
        if scheme == "gaussian":
            unknown = set(options) - {"std"}
            if unknown:
                raise ValueError(f"unknown options for scheme 'gaussian': {sorted(unknown)}")
            std = _checks.positive_real(options["std"], "std") if "std" in options else 1.0 / np.sqrt(self.n)
            return rng.standard_normal(self.n_params) * std
        if scheme == "relaxed_balanced":
            unknown = set(options) - {"lam", "spread"}
            if unknown or "lam" not in options:
                raise ValueError("scheme 'relaxed_balanced' takes lam= (required) and spread= (optional)")
            lam = _checks.finite_real(options["lam"], "lam")
            spread = _checks.positive_real(options.get("spread", 1.0), "spread")
            return self.from_factors(relaxed_balanced_chain(self.n, self.n_steps, lam / self.n_steps ** 2, rng,
                                                            spread / self.n_steps))
        raise ValueError(f"unknown init scheme {scheme!r} for LinearNeuralODE; accepted: ['gaussian', 'relaxed_balanced']")


def relaxed_balanced_chain(n: int, n_layers: int, lambdas, rng, scale: float = 1.0) -> list:
    """Square factors [U_1, ..., U_L] (n x n) with U_{k+1}^T U_{k+1} - U_k U_k^T = lambdas[k] I.

    ``lambdas``: a number (the same for every k) or L-1 numbers. U_1 = I + scale S with S a symmetric
    Gaussian; U_{k+1} = R_k (U_k U_k^T + lambda_k I)^{1/2} with R_k = exp(scale Omega) for a skew
    Gaussian Omega (the matrix exponential through the eigendecomposition of the skew matrix).
    """
    lambdas = np.broadcast_to(np.asarray(lambdas, dtype=np.float64), (max(n_layers - 1, 0),))
    sym = rng.standard_normal((n, n))
    factors = [np.eye(n) + scale * (sym + sym.T) / 2]
    skew = rng.standard_normal((n, n))
    skew = (skew - skew.T) / 2
    values, vectors = np.linalg.eig(scale * skew)
    rotation = np.real(vectors @ np.diag(np.exp(values)) @ np.linalg.inv(vectors))
    for lam in lambdas:
        previous = factors[-1]
        target = previous @ previous.T + lam * np.eye(n)
        w, q = np.linalg.eigh(target)
        if w.min() <= 0:
            raise ValueError(f"lambda = {lam} makes U_k U_k^T + lambda I singular; use a larger lambda")
        factors.append(rotation @ (q * np.sqrt(w)) @ q.T)
    return factors
