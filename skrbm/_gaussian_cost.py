"""Likelihood cost of first-order label constraints in the Gaussian setting.

Closed form for a Gaussian RBM (unit-precision Gaussian visible units on
standardised data, unit-variance Gaussian hidden units) whose hidden units are
all constrained at first order; see the method notes, section 4.
"""

from dataclasses import dataclass

import numpy as np

from ._label_stats import LabelStatistics, label_directions

__all__ = ["GaussianErasureCost", "gaussian_erasure_cost"]


def _g(x):
    """g(x) = x - 1 - ln x (inf at x = 0)."""
    x = np.asarray(x, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(x > 0, x - 1.0 - np.log(np.where(x > 0, x, 1.0)), np.inf)


def _g_plus(x):
    """g+(x) = g(x) if x > 1 else 0."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x > 1.0, x - 1.0 - np.log(np.maximum(x, 1.0)), 0.0)


@dataclass(frozen=True)
class GaussianErasureCost:
    """Result of :func:`gaussian_erasure_cost` (log-likelihoods are per sample, in nats).

    Attributes
    ----------
    lambda_ : ndarray of shape (n_features,)
        Eigenvalues of the correlation matrix ``C`` of the data, descending.
    mu_ : ndarray of shape (n_features - n_directions,)
        Eigenvalues of ``B^T C B`` (``B`` an orthonormal basis of the null space
        of ``q^T``), descending: the spectrum left to the constrained units.
    cost : float
        Log-likelihood lost by constraining all ``n_components`` hidden units at
        first order: ``1/2 sum_{k<=M} [g+(lambda_k) - g+(mu_k)]``.
    lower_bound : float
        ``0``: the cost when ``q`` is orthogonal to the top eigenvectors.
    upper_bound : float
        ``1/2 sum_{k<=M} [g+(lambda_k) - g+(lambda_{k+r})]`` (Cauchy interlacing
        ``lambda_{k+r} <= mu_k <= lambda_k``); reached when ``q`` spans top
        eigenvectors.
    gap : float
        Log-likelihood by which the best unconstrained M-unit Gaussian RBM falls
        short of the full Gaussian fit: ``1/2 sum_k g(lambda_k) - 1/2 sum_{k<=M}
        g+(lambda_k)``, which is ``1/2 sum_{k>M} g(lambda_k)`` when ``lambda_M > 1``
        (``inf`` if ``C`` is singular).
    n_components : int
        Number of hidden units ``M``.
    n_directions : int
        Rank ``r`` of ``q`` (independent label directions).

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm import gaussian_erasure_cost
    >>> rng = np.random.default_rng(0)
    >>> X, y = rng.normal(size=(200, 5)), rng.integers(0, 2, 200)
    >>> res = gaussian_erasure_cost(X, y, n_components=2)
    >>> res.n_directions, bool(res.lower_bound <= res.cost <= res.upper_bound)
    (1, True)
    """

    lambda_: np.ndarray
    mu_: np.ndarray
    cost: float
    lower_bound: float
    upper_bound: float
    gap: float
    n_components: int
    n_directions: int


def _cost_from_moments(C, q, n_components):
    """The result for a correlation matrix ``C`` (N, N) and statistics ``q`` (N, T)."""
    C = 0.5 * (C + C.T)
    N = C.shape[0]
    lam = np.linalg.eigvalsh(C)[::-1]
    q = np.asarray(q, dtype=np.float64).reshape(N, -1)
    Uq, s, _ = np.linalg.svd(q, full_matrices=True)
    r = int(np.sum(s > max(q.shape) * np.finfo(float).eps * s[0])) if s.size and s[0] > 0 else 0
    B = Uq[:, r:]
    mu = np.linalg.eigvalsh(B.T @ C @ B)[::-1]
    M = int(n_components)
    gp_lam = _g_plus(lam)
    gp_mu = _g_plus(np.concatenate([mu, np.zeros(r)]))
    gp_shift = _g_plus(np.concatenate([lam[r:], np.zeros(r)]))
    cost = 0.5 * float(np.sum(gp_lam[:M] - gp_mu[:M]))
    upper = 0.5 * float(np.sum(gp_lam[:M] - gp_shift[:M]))
    gap = 0.5 * float(np.sum(_g(lam))) - 0.5 * float(np.sum(gp_lam[:M]))
    return GaussianErasureCost(
        lambda_=lam,
        mu_=mu,
        cost=max(cost, 0.0),
        lower_bound=0.0,
        upper_bound=upper,
        gap=gap,
        n_components=M,
        n_directions=r,
    )


def gaussian_erasure_cost(X, y, n_components, *, sample_weight=None):
    """Likelihood cost of erasing label information from a Gaussian RBM.

    The data are standardised (weighted population mean and standard deviation),
    so their covariance is the correlation matrix ``C`` with eigenvalues
    ``lambda_1 >= ... >= lambda_N``; ``q`` holds the covariances of the
    standardised features with the label directions of ``y``. For a Gaussian RBM
    with ``M = n_components`` unit-variance Gaussian hidden units and
    unit-precision Gaussian visible units (marginal precision ``I - W W^T``) the
    maximum log-likelihood per sample is available in closed form, and so is
    its loss when all ``M`` hidden units obey ``q^T W = 0``.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data; every feature must vary.
    y : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Labels, as for :func:`skrbm._label_stats.label_directions`.
    n_components : int
        Number of hidden units ``M`` (``1 <= M <= n_features``).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.

    Returns
    -------
    result : GaussianErasureCost
        ``lambda_``, ``mu_``, ``cost``, ``lower_bound``, ``upper_bound``, ``gap``.

    Notes
    -----
    With ``g(x) = x - 1 - ln x`` and ``g+(x) = g(x)`` for ``x > 1`` else ``0``, a
    hidden unit can only raise the model variance along its weight vector, so the
    best unconstrained fit captures ``1/2 g+(lambda_k)`` for each of the top ``M``
    eigen-directions. Under the constraint the weights live in ``ker q^T``,
    whose covariance spectrum is ``mu``, so the cost is
    ``1/2 sum_{k<=M} [g+(lambda_k) - g+(mu_k)] >= 0``; by Cauchy interlacing
    (``lambda_{k+r} <= mu_k <= lambda_k``) it lies between ``0`` and
    ``upper_bound``. With at least ``r`` unconstrained ("released") hidden units
    the cost is exactly ``0``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._gaussian_cost import gaussian_erasure_cost
    >>> rng = np.random.RandomState(0)
    >>> y = rng.randint(0, 2, size=500)
    >>> X = rng.normal(size=(500, 5)) @ rng.normal(size=(5, 5)) + y[:, None]
    >>> res = gaussian_erasure_cost(X, y, n_components=2)
    >>> bool(res.lower_bound <= res.cost <= res.upper_bound)
    True
    >>> res.mu_.shape
    (4,)
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2:
        raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
    n, N = X.shape
    if not np.isfinite(X).all():
        raise ValueError("X contains NaN or infinity.")
    y_arr = np.asarray(y)
    if y_arr.shape[0] != n:
        raise ValueError(f"X has {n} samples but y has {y_arr.shape[0]}.")
    if isinstance(n_components, bool) or not isinstance(n_components, (int, np.integer)):
        raise ValueError(f"n_components must be an int; got {n_components!r}.")
    if not 1 <= n_components <= N:
        raise ValueError(
            f"n_components must be in [1, n_features = {N}]; got {n_components}."
        )
    U, _ = label_directions(y_arr, sample_weight=sample_weight)
    stats = LabelStatistics(X, U, sample_weight, q_form="implicit")
    std = np.sqrt(stats.weights_ @ stats.X_centered_**2)
    const = np.flatnonzero(std <= 1e-12 * max(std.max(), 1e-300))
    if const.size:
        raise ValueError(
            f"X has {const.size} constant feature(s) (e.g. column {const[0]}); a Gaussian "
            "model of standardised data needs every feature to vary. Drop them first "
            "(e.g. sklearn.feature_selection.VarianceThreshold)."
        )
    Xs = stats.X_centered_ / std
    C = Xs.T @ (stats.weights_[:, None] * Xs)
    q = stats.q_ / std[:, None]
    return _cost_from_moments(C, q, n_components)
