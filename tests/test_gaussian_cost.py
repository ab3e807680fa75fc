"""Tests for skrbm._gaussian_cost (method notes, section 4)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import minimize

from skrbm._gaussian_cost import (
    GaussianErasureCost,
    _cost_from_moments,
    _g,
    _g_plus,
    gaussian_erasure_cost,
)


def whitened(rng, n, k, constrain=()):
    """n x k matrix with population mean 0 and covariance I, orthogonal to ``constrain``."""
    Z = rng.normal(size=(n, k))
    basis = np.column_stack([np.ones(n), *constrain])
    Z -= basis @ np.linalg.lstsq(basis, Z, rcond=None)[0]
    Q, _ = np.linalg.qr(Z)
    return Q * np.sqrt(n)


def correlation_data(rng, n=400, N=6, label_coord=0):
    """Data whose correlation matrix has known eigenvectors, label tied to one of them.

    Returns X (already standardised: unit variances), y, and the eigenvectors (columns,
    by decreasing eigenvalue) of the correlation matrix.
    """
    A = rng.normal(size=(N, N)) @ np.diag([3.0, 2.0, 1.5, 1.0, 0.7, 0.5][:N])
    S = A @ A.T
    d = np.sqrt(np.diag(S))
    Cor = S / np.outer(d, d)
    lam, R = np.linalg.eigh(Cor)
    lam, R = lam[::-1], R[:, ::-1]
    z = rng.normal(size=n)
    y = (z > 0).astype(int)
    u = y - y.mean()
    z_lab = (z - z.mean()) / z.std()
    others = whitened(rng, n, N - 1, constrain=(z_lab, u))
    Z = np.insert(others, label_coord, z_lab, axis=1)
    X = Z @ np.diag(np.sqrt(lam)) @ R.T
    return X, y, R, lam


def test_g_functions():
    assert_allclose(_g([1.0, 2.0, 0.5]), [0.0, 1 - np.log(2), -0.5 + np.log(2)])
    assert _g(0.0) == np.inf
    assert_allclose(_g_plus([0.5, 1.0, 3.0]), [0.0, 0.0, 2 - np.log(3)])


@pytest.mark.parametrize("n_classes", [2, 3, 4])
def test_interlacing_and_bounds(n_classes):
    rng = np.random.RandomState(n_classes)
    y = rng.randint(0, n_classes, size=300)
    X = rng.normal(size=(300, 7)) @ rng.normal(size=(7, 7)) + rng.normal(size=(n_classes, 7))[y]
    for M in (1, 3, 7):
        res = gaussian_erasure_cost(X, y, M)
        r = n_classes - 1
        assert isinstance(res, GaussianErasureCost)
        assert res.n_directions == r and res.mu_.shape == (7 - r,)
        lam, mu = res.lambda_, res.mu_
        assert np.all(lam[r:] <= mu + 1e-12) and np.all(mu <= lam[: 7 - r] + 1e-12)
        assert res.lower_bound == 0.0 <= res.cost <= res.upper_bound + 1e-14
        assert_allclose(lam.sum(), 7.0)  # correlation matrix: trace N


def test_cost_vanishes_when_q_orthogonal_to_top_eigenvectors():
    rng = np.random.RandomState(0)
    X, y, R, lam = correlation_data(rng, label_coord=5)  # label on the last eigenvector
    res = gaussian_erasure_cost(X, y, 3)
    assert_allclose(res.lambda_, lam, rtol=1e-10)
    assert_allclose(res.mu_, lam[:5], rtol=1e-10)
    assert abs(res.cost) < 1e-12
    assert res.upper_bound > 0.1  # the bound is not trivially 0: the test can fail


def test_cost_reaches_upper_bound_when_q_along_top_eigenvector():
    rng = np.random.RandomState(1)
    X, y, R, lam = correlation_data(rng, label_coord=0)
    res = gaussian_erasure_cost(X, y, 2)
    assert_allclose(res.mu_, lam[1:], rtol=1e-10)
    assert res.cost > 0.1
    assert_allclose(res.cost, res.upper_bound, rtol=1e-10)
    half = 0.5 * np.sum(_g_plus(lam[:2]) - _g_plus(lam[1:3]))
    assert_allclose(res.cost, half, rtol=1e-10)


def test_moments_form_two_directions():
    rng = np.random.RandomState(2)
    A = rng.normal(size=(6, 6))
    C = A @ A.T / 3
    lam, V = np.linalg.eigh(C)
    lam, V = lam[::-1], V[:, ::-1]
    top = _cost_from_moments(C, V[:, :2] @ rng.normal(size=(2, 2)), 3)
    assert top.n_directions == 2
    assert_allclose(top.cost, top.upper_bound, rtol=1e-10)
    bottom = _cost_from_moments(C, V[:, 4:], 3)
    assert abs(bottom.cost) < 1e-12


# ------------------------------------------------------------- independent check
def _neg_loglik(w, B, C, m):
    """-(mean log-likelihood) + const of the Gaussian RBM with precision I - W W^T."""
    N = C.shape[0]
    W = B @ w.reshape(B.shape[1], m)
    A = np.eye(N) - W @ W.T
    try:
        L = np.linalg.cholesky(A)
    except np.linalg.LinAlgError:
        return 1e10, np.zeros_like(w)
    f = 0.5 * (np.sum(A * C) - 2 * np.log(np.diag(L)).sum())
    G = np.linalg.solve(A, W) - C @ W
    return f, (B.T @ G).ravel()


def _fit(B, C, m, seeds=3):
    best = np.inf
    for s in range(seeds):
        w0 = 0.1 * np.random.RandomState(s).normal(size=B.shape[1] * m)
        res = minimize(
            _neg_loglik,
            w0,
            args=(B, C, m),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 10000, "gtol": 1e-12, "ftol": 1e-15},
        )
        best = min(best, res.fun)
    return best


def test_formula_agrees_with_direct_likelihood_maximisation():
    # N = 8, M = 3, r = 1: fit the Gaussian RBM by L-BFGS with and without the
    # constraint (W = B w, B a basis of ker q^T), and with one released unit.
    rng = np.random.RandomState(7)
    n, N, M = 1000, 8, 3
    F = rng.normal(size=(n, 3))
    X = F @ (2 * rng.normal(size=(3, N))) + rng.normal(size=(n, N))
    y = (X @ rng.normal(size=N) + 3 * rng.normal(size=n) > 0).astype(int)
    res = gaussian_erasure_cost(X, y, M)
    assert res.lambda_[M - 1] > 1  # so the gap is 1/2 sum_{k>M} g(lambda_k)
    assert_allclose(res.gap, 0.5 * np.sum(_g(res.lambda_[M:])), rtol=1e-12)

    # independent moments: numpy's corrcoef and a direct covariance with the label
    C = np.corrcoef(X.T)
    Xs = (X - X.mean(0)) / X.std(0)
    q = Xs.T @ (y - y.mean()) / n
    full = 0.5 * (N + np.linalg.slogdet(C)[1])
    free = _fit(np.eye(N), C, M)
    B = np.linalg.svd(q[:, None], full_matrices=True)[0][:, 1:]
    constrained = _fit(B, C, M)
    print(
        f"gap: fit {free - full:.8f} formula {res.gap:.8f}; "
        f"cost: fit {constrained - free:.8f} formula {res.cost:.8f}"
    )
    assert res.cost > 0.05  # a non-trivial example
    assert abs((free - full) - res.gap) < 1e-4
    assert abs((constrained - free) - res.cost) < 1e-4

    # one released unit (r = 1): M - 1 constrained units plus one free unit lose nothing
    def nll_released(w):
        Wc = B @ w[: (N - 1) * (M - 1)].reshape(N - 1, M - 1)
        Wf = w[(N - 1) * (M - 1) :].reshape(N, 1)
        W = np.hstack([Wc, Wf])
        A = np.eye(N) - W @ W.T
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            return 1e10, np.zeros_like(w)
        f = 0.5 * (np.sum(A * C) - 2 * np.log(np.diag(L)).sum())
        G = np.linalg.solve(A, W) - C @ W
        return f, np.concatenate([(B.T @ G[:, : M - 1]).ravel(), G[:, M - 1 :].ravel()])

    best = np.inf
    for s in range(3):
        w0 = 0.1 * np.random.RandomState(s).normal(size=(N - 1) * (M - 1) + N)
        fit = minimize(
            nll_released,
            w0,
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": 10000, "gtol": 1e-12, "ftol": 1e-15},
        )
        best = min(best, fit.fun)
    print(f"released-unit cost: {best - free:.2e}")
    assert abs(best - free) < 1e-6


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_components=0), "n_components must be in"),
        (dict(n_components=9), "n_components must be in"),
        (dict(n_components=2.0), "must be an int"),
    ],
)
def test_errors(kwargs, match):
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 8))
    y = rng.randint(0, 2, size=30)
    with pytest.raises(ValueError, match=match):
        gaussian_erasure_cost(X, y, **kwargs)


def test_constant_feature_and_single_class_errors():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(30, 4))
    y = rng.randint(0, 2, size=30)
    X[:, 2] = 1.5
    with pytest.raises(ValueError, match="constant feature"):
        gaussian_erasure_cost(X, y, 2)
    with pytest.raises(ValueError, match="single class"):
        gaussian_erasure_cost(rng.normal(size=(30, 4)), np.ones(30), 2)
