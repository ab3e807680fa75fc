"""Unit types ("layers") against independent truths.

* cgf' = mean and cgf'' = var against central finite differences over inputs up to |I| = 50;
* cgf, mean, var of ReLU / dReLU against numerical integration of exp(-U(x) + I x);
* cgf, mean, var, mode of discrete layers against exhaustive enumeration of their states;
* samplers: mean and variance within 4 standard errors over 1e5 draws, far tails included,
  plus Kolmogorov-Smirnov tests of the truncated-normal samplers;
* parameter gradients of the cgf and of the energy against finite differences;
* no overflow / NaN / warnings for |I| up to 1e3;
* data encoding, validation messages, initialisation from data, float32, ``make_layer``.

Every parameter set is random and non-trivial, with some raw precisions ``gamma`` negative
(they enter as ``abs(gamma)``).
"""

import warnings
from contextlib import contextmanager

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from scipy import integrate, stats
from scipy.special import logsumexp

from skrbm._layers import (
    UNIT_TYPES,
    Bernoulli,
    DReLU,
    Gaussian,
    Mixed,
    Potts,
    ReLU,
    Spin,
    make_layer,
)

EPS = np.finfo(np.float64).eps

# --------------------------------------------------------------------------------------
# Fixtures / helpers
# --------------------------------------------------------------------------------------

FACTORIES = {
    "bernoulli": lambda: Bernoulli(3),
    "spin": lambda: Spin(3),
    "potts": lambda: Potts(2, q=3),
    "gaussian": lambda: Gaussian(3),
    "relu": lambda: ReLU(3),
    "drelu": lambda: DReLU(3),
    "mixed": lambda: Mixed([Spin(2), Gaussian(3)]),
    "mixed_all": lambda: Mixed([Bernoulli(1), Potts(1, q=3), ReLU(2), DReLU(1)]),
}
ALL = list(FACTORIES)
DISCRETE = ["bernoulli", "spin", "potts"]


def _is_gamma(name):
    return name.split(".")[-1].startswith("gamma")


def randomize(layer, seed=0):
    """Non-trivial parameters; the first precision of each array is negative."""
    rng = np.random.default_rng(seed)
    for name, arr in layer.params.items():
        if _is_gamma(name):
            arr[:] = rng.uniform(0.5, 2.5, arr.shape) * rng.choice([-1.0, 1.0], arr.shape)
            arr[0] = -abs(arr[0])
        else:
            arr[:] = rng.normal(0.0, 1.0, arr.shape)
    return layer


def make(name, seed=0):
    return randomize(FACTORIES[name](), seed)


def input_grid(size, values=(-50.0, -20.0, -5.0, -1.0, -0.3, 0.0, 0.3, 1.0, 5.0, 20.0, 50.0),
               seed=1):
    """Rows where one column sweeps ``values`` while the others stay moderate."""
    rng = np.random.default_rng(seed)
    rows = []
    for j in range(size):
        base = rng.uniform(-1.0, 1.0, (len(values), size))
        base[:, j] = values
        rows.append(base)
    return np.vstack(rows)


def fd1(f, I, j, h):
    """Five-point central first derivative of the per-sample f with respect to I[:, j]."""
    def at(t):
        J = I.copy()
        J[:, j] += t
        return f(J)
    return (-at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)) / (12 * h)


def fd2(f, I, j, h):
    """Five-point central second derivative of the per-sample f with respect to I[:, j]."""
    def at(t):
        J = I.copy()
        J[:, j] += t
        return f(J)
    return (-at(2 * h) + 16 * at(h) - 30 * at(0.0) + 16 * at(-h) - at(-2 * h)) / (12 * h * h)


def assert_close(actual, desired, *, rtol, atol, err_msg=""):
    """Like assert_allclose, with an elementwise (array) absolute tolerance."""
    actual, desired = np.broadcast_arrays(actual, desired)
    err = np.abs(actual - desired)
    tol = atol + rtol * np.abs(desired)
    bad = ~(err <= tol)
    if bad.any():
        k = np.flatnonzero(bad.ravel())
        raise AssertionError(
            f"{err_msg}: {len(k)} of {actual.size} mismatched; worst: actual "
            f"{actual.ravel()[k[:5]]}, desired {desired.ravel()[k[:5]]}, "
            f"tol {np.broadcast_to(tol, actual.shape).ravel()[k[:5]]}")


@contextmanager
def strict_numerics():
    """Overflow, division by zero, invalid operations and any warning become errors.

    Underflow to zero is benign and ignored (as numpy does by default, so it never warns).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
            yield


def assert_one_hot(x, n_sites, q):
    x3 = x.reshape(x.shape[0], n_sites, q)
    assert set(np.unique(x3)) <= {0.0, 1.0}
    assert_array_equal(x3.sum(axis=2), 1.0)


# --------------------------------------------------------------------------------------
# cgf' = mean, cgf'' = var (finite differences in the input)
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_mean_is_cgf_derivative(name):
    lay = make(name)
    I = input_grid(lay.size)
    mean = lay.mean(I)
    assert mean.shape == I.shape
    h = 1e-3
    for j in range(lay.size):
        fd = fd1(lay.cgf, I, j, h)
        # rounding of the five-point rule: ~1.5 eps |cgf| / h
        atol = 100 * EPS * (np.abs(lay.cgf(I)) + 1.0) / h
        assert_close(mean[:, j], fd, rtol=1e-6, atol=atol, err_msg=f"{name} column {j}")


@pytest.mark.parametrize("name", ALL)
def test_var_is_cgf_second_derivative(name):
    lay = make(name)
    I = input_grid(lay.size)
    var = lay.var(I)
    assert var.shape == I.shape
    assert np.all(var >= 0)
    h = 1e-2
    cgf_abs = np.abs(lay.cgf(I)) + 1.0
    mean_abs = np.abs(lay.mean(I))
    for j in range(lay.size):
        # directly as the second difference of the cgf ...
        fd = fd2(lay.cgf, I, j, h)
        atol = 100 * EPS * cgf_abs / h ** 2
        assert_close(var[:, j], fd, rtol=1e-6, atol=atol, err_msg=f"{name} column {j}")
        # ... and, more tightly, as the derivative of the mean
        fdm = fd1(lambda J: lay.mean(J)[:, j], I, j, 1e-3)
        atol = 100 * EPS * (mean_abs[:, j] + 1.0) / 1e-3
        assert_close(var[:, j], fdm, rtol=1e-7, atol=atol, err_msg=f"{name} column {j}")


def test_potts_derivatives_are_per_state():
    """d cgf / d I_{i,a} = P(state a at site i), and the full Hessian per site is
    diag(p) - p p^T (var() holds its diagonal)."""
    lay = make("potts")
    I = input_grid(lay.size, values=(-50.0, -3.0, 0.0, 2.0, 50.0))
    p = lay.mean(I).reshape(len(I), lay.n_units, lay.q)
    assert_allclose(p.sum(axis=2), 1.0, rtol=1e-14)
    th = lay.params["theta"].reshape(lay.n_units, lay.q)
    x = th + I.reshape(len(I), lay.n_units, lay.q)
    assert_allclose(p, np.exp(x - logsumexp(x, axis=2, keepdims=True)), rtol=1e-12, atol=1e-300)
    # off-diagonal Hessian entries: d mean_b / d I_a = -p_a p_b (same site), 0 across sites
    for a in range(lay.size):
        fd = fd1(lay.mean, I, a, 1e-4)
        site, sa = divmod(a, lay.q)
        expect = np.zeros_like(fd)
        cols = slice(site * lay.q, (site + 1) * lay.q)
        pm = p[:, site, :]
        expect[:, cols] = -pm[:, [sa]] * pm
        expect[:, a] += pm[:, sa]
        assert_allclose(fd, expect, rtol=1e-6, atol=1e-9)


# --------------------------------------------------------------------------------------
# ReLU / dReLU against numerical integration of their densities
# --------------------------------------------------------------------------------------


def _half_line(a, g, sign=1.0):
    """log Z, E[x], E[x^2] for density exp(-g x^2/2 + a x) on sign*x >= 0, by quad.

    For sign = -1 the integral runs over x <= 0 (the moments are those of x itself).
    """
    # work with y = sign * x >= 0: exp(-g y^2/2 + (sign a) y)
    b = sign * a
    if b > 0:
        c = b * b / (2 * g)  # max of the exponent
        mode = b / g
        lo, hi = max(0.0, mode - 40 / np.sqrt(g)), mode + 40 / np.sqrt(g)
        pts = [mode] if lo < mode < hi else None
    else:
        c = 0.0
        lo, hi = 0.0, 60.0 / max(-b, np.sqrt(g))
        pts = None

    def moment(k):
        val, _ = integrate.quad(lambda y: y ** k * np.exp(-g * y * y / 2 + b * y - c), lo, hi,
                                points=pts, epsabs=0, epsrel=1e-13, limit=500)
        return val

    z0, z1, z2 = moment(0), moment(1), moment(2)
    return c + np.log(z0), sign * z1 / z0, z2 / z0


RELU_INPUTS = [-1000.0, -300.0, -50.0, -20.0, -5.0, -1.0, 0.0, 0.7, 3.0, 20.0, 50.0]


def test_relu_against_quadrature():
    lay = make("relu", seed=3)
    g = np.abs(lay.params["gamma"])
    th = lay.params["theta"]
    I = np.array([[v] * lay.size for v in RELU_INPUTS])
    cgf_u = np.array([[_half_line(th[j] + v, g[j]) for j in range(lay.size)]
                      for v in RELU_INPUTS])  # (n, size, 3)
    logZ, m1, m2 = cgf_u[..., 0], cgf_u[..., 1], cgf_u[..., 2]
    assert_allclose(lay.cgf(I), logZ.sum(axis=1), rtol=1e-11, atol=1e-11)
    assert_allclose(lay.mean(I), m1, rtol=1e-9)
    assert_allclose(lay.var(I), m2 - m1 ** 2, rtol=1e-7)
    # far tail, x = -(theta+I)/sqrt(g) = 1000/sqrt(g): asymptotic series of the moments
    x = -(th + I[0]) / np.sqrt(g)
    assert_allclose(lay.mean(I[:1])[0], (1 / x - 2 / x ** 3) / np.sqrt(g), rtol=1e-9)
    assert_allclose(lay.var(I[:1])[0], (1 / x ** 2 - 6 / x ** 4) / g, rtol=1e-9)


def test_relu_far_tail_moments_accurate():
    """Mean and variance stay accurate far beyond |I| = 1e3 (no cancellation)."""
    lay = ReLU(1)
    lay.params["gamma"][:] = 2.0
    for a in [-1e4, -1e6]:
        I = np.array([[a]])
        # x = -a / sqrt(g): log Z = -log x - 1/x^2 + ..., so (series in 1/x^2)
        # mean = (1/x - 2/x^3 + 10/x^5) / sqrt(g), var = (1/x^2 - 6/x^4 + 50/x^6) / g
        x = -a / np.sqrt(2.0)
        assert_allclose(lay.mean(I)[0, 0], (1 / x - 2 / x ** 3) / np.sqrt(2.0), rtol=1e-12)
        assert_allclose(lay.var(I)[0, 0], (1 / x ** 2 - 6 / x ** 4) / 2.0, rtol=1e-12)


def test_drelu_against_quadrature():
    lay = make("drelu", seed=4)
    lay.params["theta_p"][0], lay.params["theta_n"][0] = -20.0, 20.0  # two far half-tails
    gp, gn = np.abs(lay.params["gamma_p"]), np.abs(lay.params["gamma_n"])
    tp, tn = lay.params["theta_p"], lay.params["theta_n"]
    values = [-300.0, -50.0, -20.0, -3.0, -0.5, 0.0, 0.5, 3.0, 20.0, 50.0, 300.0]
    I = np.array([[v] * lay.size for v in values])
    logZ = np.empty(I.shape)
    m1 = np.empty(I.shape)
    m2 = np.empty(I.shape)
    for r, v in enumerate(values):
        for j in range(lay.size):
            lp, mp, sp = _half_line(tp[j] + v, gp[j], 1.0)
            ln, mn, sn = _half_line(tn[j] + v, gn[j], -1.0)
            L = np.logaddexp(lp, ln)
            wp, wn = np.exp(lp - L), np.exp(ln - L)
            logZ[r, j], m1[r, j], m2[r, j] = L, wp * mp + wn * mn, wp * sp + wn * sn
    assert_allclose(lay.cgf(I), logZ.sum(axis=1), rtol=1e-11, atol=1e-11)
    assert_allclose(lay.mean(I), m1, rtol=1e-8, atol=1e-12)
    assert_allclose(lay.var(I), m2 - m1 ** 2, rtol=1e-6)


def test_drelu_reduces_to_gaussian_and_relu():
    """Equal sides -> Gaussian; a negative side with huge precision -> ReLU."""
    g = make("gaussian", seed=5)
    d = DReLU(3)
    for s in "pn":
        d.params["theta_" + s][:] = g.params["theta"]
        d.params["gamma_" + s][:] = g.params["gamma"]
    I = input_grid(3, values=(-20.0, -1.0, 0.0, 2.0, 20.0))
    assert_allclose(d.cgf(I), g.cgf(I), rtol=1e-12)
    assert_allclose(d.mean(I), g.mean(I), rtol=1e-10, atol=1e-12)
    assert_allclose(d.var(I), g.var(I), rtol=1e-9)
    r = make("relu", seed=5)
    d.params["theta_p"][:] = r.params["theta"]
    d.params["gamma_p"][:] = r.params["gamma"]
    d.params["theta_n"][:] = 0.0
    d.params["gamma_n"][:] = 1e16
    I = input_grid(3, values=(-20.0, -1.0, 0.0, 2.0, 20.0))
    # the negative side contributes log sqrt(pi / (2e16)) ~ -18: compare distributions
    assert_allclose(d.mean(I), r.mean(I), rtol=1e-6, atol=1e-7)
    assert_allclose(d.var(I), r.var(I), rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------------------------------
# Discrete layers against exhaustive enumeration
# --------------------------------------------------------------------------------------

ENUM = {
    "bernoulli": lambda: Bernoulli(3),
    "spin": lambda: Spin(3),
    "potts": lambda: Potts(2, q=3),
    "mixed_discrete": lambda: Mixed([Spin(2), Bernoulli(1), Potts(2, q=3)]),
}


@pytest.mark.parametrize("name", list(ENUM))
def test_states_enumeration(name):
    lay = randomize(ENUM[name](), seed=6)
    S = lay.states()
    assert S.shape == (lay.n_states, lay.size)
    assert len(np.unique(S, axis=0)) == len(S)
    expected = {"bernoulli": 8, "spin": 8, "potts": 9, "mixed_discrete": 4 * 2 * 9}[name]
    assert len(S) == expected == lay.n_states
    # every state is in the layer's domain: decode -> validate -> encode round trip
    X = lay.decode(S)
    lay.validate(X)
    assert_array_equal(lay.encode(X), S)


@pytest.mark.parametrize("name", list(ENUM))
def test_discrete_against_enumeration(name):
    lay = randomize(ENUM[name](), seed=7)
    S = lay.states()
    rng = np.random.default_rng(8)
    I = np.vstack([rng.normal(0, 2, (5, lay.size)), np.full((1, lay.size), 30.0),
                   np.full((1, lay.size), -30.0)])
    logw = -lay.energy(S)[None, :] + I @ S.T  # (n, n_states)
    logZ = logsumexp(logw, axis=1)
    P = np.exp(logw - logZ[:, None])
    mean = P @ S
    assert_allclose(lay.cgf(I), logZ, rtol=1e-12, atol=1e-12)
    assert_allclose(lay.mean(I), mean, rtol=1e-10, atol=1e-12)
    assert_allclose(lay.var(I), P @ S ** 2 - mean ** 2, rtol=1e-8, atol=1e-12)
    # mode: a state of maximal -U(s) + I s
    M = lay.mode(I)
    best = logw.max(axis=1)
    got = -lay.energy(M) + np.einsum("ij,ij->i", I, M)
    assert_allclose(got, best, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------------------
# Continuous modes
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["gaussian", "relu", "drelu"])
def test_continuous_mode_maximises_density(name):
    lay = make(name, seed=9)
    I = input_grid(lay.size, values=(-20.0, -2.0, -0.5, 0.0, 0.5, 2.0, 20.0))
    M = lay.mode(I)
    if name == "relu":
        assert np.all(M >= 0)

    def logdens(X):
        return -lay.energy(X) + np.einsum("ij,ij->i", I, X)

    f0 = logdens(M)
    grid = np.linspace(-1, 1, 401)
    for j in range(lay.size):
        for t in grid:
            X = M.copy()
            X[:, j] += t * (1 + np.abs(M[:, j]))
            if name == "relu":
                X[:, j] = np.maximum(X[:, j], 0.0)
            assert np.all(logdens(X) <= f0 + 1e-9 * (1 + np.abs(f0)))
    if name == "drelu":  # also against the other side's candidate
        assert np.all(logdens(-M) <= f0 + 1e-9 * (1 + np.abs(f0)))


# --------------------------------------------------------------------------------------
# Sampling
# --------------------------------------------------------------------------------------

N_DRAWS = 100_000


def _sample_inputs(name, lay):
    """Several input rows per type, far tails included, as (rows, size)."""
    rng = np.random.default_rng(10)
    rows = [np.zeros(lay.size), rng.normal(0, 1.5, lay.size), rng.normal(0, 4, lay.size)]
    if name == "relu":
        th = lay.params["theta"]
        for target in (-20.0, -5.0, 2.0, 20.0):
            rows.append(target - th)  # theta + I = target
    if name == "drelu":
        rows += [np.full(lay.size, 25.0), np.full(lay.size, -25.0)]
    return np.array(rows)


def _drelu_tails():
    """A dReLU whose unit 0 has both half-normals deep in their tails at I = 0."""
    lay = make("drelu", seed=11)
    lay.params["theta_p"][0], lay.params["theta_n"][0] = -20.0, 20.0
    lay.params["theta_p"][1], lay.params["theta_n"][1] = 3.0, -3.0  # bimodal
    return lay


@pytest.mark.parametrize("given_mean", [False, True], ids=["sample", "sample_given_mean"])
@pytest.mark.parametrize("name", ALL)
def test_sample_moments(name, given_mean):
    """Draws have the conditional mean and variance (to 4 standard errors); the same for
    ``sample_given_mean``, the training path that reuses an already computed mean."""
    lay = _drelu_tails() if name == "drelu" else make(name, seed=12)
    rng = np.random.default_rng(13)
    for row in _sample_inputs(name, lay):
        I = np.broadcast_to(row, (N_DRAWS, lay.size)).copy()
        with strict_numerics():
            x = (lay.sample_given_mean(I, lay.mean(I), rng) if given_mean
                 else lay.sample(I, rng))
        assert x.shape == I.shape and x.dtype == np.float64
        mean, var = lay.mean(row[None])[0], lay.var(row[None])[0]
        xm = x.mean(axis=0)
        xv = x.var(axis=0)
        m4 = ((x - xm) ** 4).mean(axis=0)
        se_mean = np.sqrt(var / N_DRAWS)
        se_var = np.sqrt(np.maximum(m4 - xv ** 2, 0) / N_DRAWS)
        ctx = f"{name} input {row}"
        assert np.all(np.abs(xm - mean) <= 4 * se_mean + 1e-12), (ctx, xm, mean)
        assert np.all(np.abs(xv - var) <= 4 * se_var + 1e-12), (ctx, xv, var)
        # values in the domain
        D = lay.decode(x)
        lay.validate(D)
        if name in ("relu",):
            assert np.all(x >= 0)


def test_relu_sample_distribution_ks():
    """The whole truncated-normal law, not just two moments, including the far tail."""
    lay = ReLU(1)
    lay.params["gamma"][:] = -1.7
    lay.params["theta"][:] = 0.3
    g = 1.7
    rng = np.random.default_rng(14)
    for a in (-1000.0, -20.0, -1.0, 0.0, 2.0, 30.0):
        I = np.full((20_000, 1), a - 0.3)
        x = lay.sample(I, rng)[:, 0]
        mu, sd = a / g, 1 / np.sqrt(g)
        ref = stats.truncnorm(-mu / sd, np.inf, loc=mu, scale=sd)
        if a < -50:  # scipy's truncnorm is inaccurate this far out: exponential limit
            x = x * -a  # ~ Exp(1) up to O(1/a^2)
            ref = stats.expon()
        assert stats.kstest(x, ref.cdf).pvalue > 1e-3, a


def test_drelu_sample_distribution_ks():
    lay = _drelu_tails()
    rng = np.random.default_rng(15)
    gp, gn = np.abs(lay.params["gamma_p"]), np.abs(lay.params["gamma_n"])
    tp, tn = lay.params["theta_p"], lay.params["theta_n"]
    n = 20_000
    x = lay.sample(np.zeros((n, 3)), rng)
    for j in range(3):
        lp, _, _ = _half_line(tp[j], gp[j], 1.0)
        ln, _, _ = _half_line(tn[j], gn[j], -1.0)
        wp = np.exp(lp - np.logaddexp(lp, ln))
        mup, sdp = tp[j] / gp[j], 1 / np.sqrt(gp[j])
        mun, sdn = tn[j] / gn[j], 1 / np.sqrt(gn[j])
        pos = stats.truncnorm(-mup / sdp, np.inf, loc=mup, scale=sdp)
        neg = stats.truncnorm(-np.inf, -mun / sdn, loc=mun, scale=sdn)

        def cdf(t, pos=pos, neg=neg, wp=wp):
            return np.where(t < 0, (1 - wp) * neg.cdf(t), (1 - wp) + wp * pos.cdf(t))

        assert stats.kstest(x[:, j], cdf).pvalue > 1e-3, j


@pytest.mark.parametrize("name", ["bernoulli", "spin", "potts"])
def test_discrete_samples_in_domain(name):
    lay = make(name)
    rng = np.random.default_rng(16)
    x = lay.sample(rng.normal(0, 3, (500, lay.size)), rng)
    if name == "bernoulli":
        assert set(np.unique(x)) <= {0.0, 1.0}
    elif name == "spin":
        assert set(np.unique(x)) <= {-1.0, 1.0}
    else:
        assert_one_hot(x, lay.n_units, lay.q)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", ["bernoulli", "spin"])
def test_binary_draws_beyond_float32_range(name, dtype):
    """float64 probabilities are evaluated in float32 for speed: inputs beyond float32's
    range still give the exact limits, without overflow warnings, in the input's dtype."""
    lay = make(name)
    lay.params["theta"][:] = 0.0
    lay = lay.astype(dtype) if hasattr(lay, "astype") else lay
    big = 1e300 if dtype == np.float64 else 1e30
    I = np.tile(np.array([[-big], [big], [-100.0], [100.0]], dtype=dtype), (1, lay.size))
    with strict_numerics():
        x = lay.sample(I, np.random.default_rng(0))
    low = 0.0 if name == "bernoulli" else -1.0
    assert x.dtype == dtype
    assert_array_equal(x, np.array([[low], [1.0], [low], [1.0]]) * np.ones(lay.size))


def test_sampling_is_reproducible():
    for name in ALL:
        lay = make(name)
        I = np.random.default_rng(0).normal(0, 2, (50, lay.size))
        a = lay.sample(I, np.random.default_rng(3))
        b = lay.sample(I, np.random.default_rng(3))
        assert_array_equal(a, b)


# --------------------------------------------------------------------------------------
# Extreme inputs
# --------------------------------------------------------------------------------------

EXTREME = (-1000.0, -300.0, -50.0, -1.0, 0.0, 1.0, 50.0, 300.0, 1000.0)


@pytest.mark.parametrize("name", ALL)
def test_no_overflow_extreme_inputs(name):
    lay = make(name)
    rng = np.random.default_rng(17)
    I = np.vstack([input_grid(lay.size, values=EXTREME),
                   np.array([[v] * lay.size for v in EXTREME]),
                   np.array([[v * (-1) ** k for k in range(lay.size)] for v in EXTREME])])
    w = rng.random(len(I))
    w /= w.sum()
    with strict_numerics():
        out = {
            "cgf": lay.cgf(I),
            "mean": lay.mean(I),
            "var": lay.var(I),
            "mode": lay.mode(I),
        }
        x = lay.sample(I, rng)
        out["sample"] = x
        out["energy_sample"] = lay.energy(x)
        out["energy_mode"] = lay.energy(out["mode"])
        for k, v in lay.cgf_grad(I, w).items():
            out["cgf_grad " + k] = v
        for k, v in lay.energy_grad(x, w).items():
            out["energy_grad " + k] = v
    for k, v in out.items():
        assert np.all(np.isfinite(v)), (name, k)
    assert np.all(out["var"] >= 0)
    # samples stay near their conditional means (in units of the conditional sd)
    sd = np.sqrt(out["var"])
    assert np.all(np.abs(x - out["mean"]) <= 10 * sd + 1e-12 + 1e-9 * np.abs(out["mean"]))


def test_extreme_inputs_limits():
    """Saturation values at |I| = 1e3 are the right ones, not just finite."""
    I = np.array([[-1000.0], [1000.0]])
    b = Bernoulli(1)
    assert_allclose(b.cgf(I), [0.0, 1000.0])
    assert_array_equal(b.mean(I)[:, 0], [0.0, 1.0])
    s = Spin(1)
    assert_allclose(s.cgf(I), [1000.0, 1000.0])
    assert_array_equal(s.mean(I)[:, 0], [-1.0, 1.0])
    r = ReLU(1)
    assert_allclose(r.mean(I)[:, 0], [1e-3 * (1 - 2e-6), 1000.0], rtol=1e-9)
    assert_allclose(r.cgf(I), [-np.log(1000.0) - 1e-6, 5e5 + 0.5 * np.log(2 * np.pi)],
                    rtol=1e-12)
    d = DReLU(1)
    assert_allclose(d.mean(I)[:, 0], [-1000.0, 1000.0], rtol=1e-12)
    assert_allclose(d.var(I)[:, 0], [1.0, 1.0], rtol=1e-9)


# --------------------------------------------------------------------------------------
# Parameter gradients
# --------------------------------------------------------------------------------------


def _param_fd(lay, f, h):
    """Five-point finite differences of the scalar f() with respect to every parameter."""
    out = {}
    for name, arr in lay.params.items():
        g = np.empty_like(arr)
        for k in range(arr.size):
            v0 = arr[k]
            vals = []
            for t in (2 * h, h, -h, -2 * h):
                arr[k] = v0 + t
                vals.append(f())
            arr[k] = v0
            g[k] = (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)
        out[name] = g
    return out


@pytest.mark.parametrize("name", ALL)
def test_cgf_grad_finite_differences(name):
    lay = make(name, seed=18)
    rng = np.random.default_rng(19)
    I = np.vstack([rng.normal(0, 2, (30, lay.size)),
                   input_grid(lay.size, values=(-20.0, -5.0, 5.0, 20.0))])
    w = rng.random(len(I))
    w /= w.sum()
    grad = lay.cgf_grad(I, w)
    assert set(grad) == set(lay.params)
    fd = _param_fd(lay, lambda: w @ lay.cgf(I), 1e-4)
    scale = np.abs(w @ lay.cgf(I)) + 1.0
    for k in grad:
        assert grad[k].shape == lay.params[k].shape
        assert_allclose(grad[k], fd[k], rtol=1e-6, atol=1e-9 * scale, err_msg=f"{name} {k}")
    # unweighted = uniform weights
    g_none = lay.cgf_grad(I)
    g_unif = lay.cgf_grad(I, np.full(len(I), 1 / len(I)))
    for k in g_none:
        assert_allclose(g_none[k], g_unif[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ALL)
def test_energy_grad_finite_differences(name):
    lay = make(name, seed=20)
    rng = np.random.default_rng(21)
    x = lay.sample(rng.normal(0, 2, (40, lay.size)), rng)
    w = rng.random(len(x))
    w /= w.sum()
    grad = lay.energy_grad(x, w)
    assert set(grad) == set(lay.params)
    fd = _param_fd(lay, lambda: w @ lay.energy(x), 1e-4)
    for k in grad:
        assert grad[k].shape == lay.params[k].shape
        assert_allclose(grad[k], fd[k], rtol=1e-6, atol=1e-9, err_msg=f"{name} {k}")
    g_none = lay.energy_grad(x)
    g_unif = lay.energy_grad(x, np.full(len(x), 1 / len(x)))
    for k in g_none:
        assert_allclose(g_none[k], g_unif[k], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["gaussian", "relu", "drelu"])
def test_gradients_carry_sign_of_gamma(name):
    """The model depends on |gamma| only: flipping the sign flips the gamma gradient."""
    lay = make(name, seed=22)
    I = np.random.default_rng(23).normal(0, 2, (20, lay.size))
    flipped = lay.copy()
    for k in flipped.params:
        if _is_gamma(k):
            flipped.params[k] *= -1
    assert_allclose(flipped.cgf(I), lay.cgf(I), rtol=1e-14)
    g1, g2 = lay.cgf_grad(I), flipped.cgf_grad(I)
    for k in g1:
        assert_allclose(g2[k], -g1[k] if _is_gamma(k) else g1[k], rtol=1e-14)


# --------------------------------------------------------------------------------------
# Field shifts, copies
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_shift_field_is_an_input_shift(name):
    lay = make(name, seed=24)
    rng = np.random.default_rng(25)
    I = rng.normal(0, 2, (10, lay.size))
    delta = rng.normal(0, 1, lay.size)
    shifted = lay.copy()
    shifted.shift_field(delta)
    assert_allclose(shifted.cgf(I), lay.cgf(I + delta), rtol=1e-12)
    assert_allclose(shifted.mean(I), lay.mean(I + delta), rtol=1e-12, atol=1e-15)
    # the copy is independent of the original
    for k in lay.params:
        assert not np.shares_memory(lay.params[k], shifted.params[k])
    assert_allclose(make(name, seed=24).cgf(I), lay.cgf(I), rtol=0)


def test_potts_zero_sum_shift():
    lay = make("potts")
    assert_allclose(lay.zero_sum_shift(),
                    lay.params["theta"].reshape(lay.n_units, lay.q).mean(axis=1))


# --------------------------------------------------------------------------------------
# Initialisation from data
# --------------------------------------------------------------------------------------


def _weights(n, rng):
    w = rng.random(n)
    return w / w.sum()


def test_init_bernoulli():
    rng = np.random.default_rng(26)
    x = (rng.random((400, 4)) < [0.1, 0.5, 0.8, 0.0]).astype(float)
    lay = Bernoulli(4)
    lay.init_from_data(x)
    p = x.mean(axis=0)
    assert_allclose(lay.params["theta"][:3], np.log(p[:3] / (1 - p[:3])), rtol=1e-12)
    assert_allclose(lay.params["theta"][3], np.log(1e-6 / (1 - 1e-6)), rtol=1e-9)  # clamped
    assert_allclose(lay.mean(np.zeros((1, 4)))[0, :3], p[:3], rtol=1e-12)
    w = _weights(len(x), rng)
    lay.init_from_data(x, w)
    pw = np.average(x, axis=0, weights=w)
    assert_allclose(lay.params["theta"][:3], np.log(pw[:3] / (1 - pw[:3])), rtol=1e-12)


def test_init_spin():
    rng = np.random.default_rng(27)
    x = np.where(rng.random((400, 3)) < [0.2, 0.5, 0.9], 1.0, -1.0)
    lay = Spin(3)
    lay.init_from_data(x)
    assert_allclose(lay.params["theta"], np.arctanh(x.mean(axis=0)), rtol=1e-12, atol=1e-15)
    assert_allclose(lay.mean(np.zeros((1, 3)))[0], x.mean(axis=0), rtol=1e-12, atol=1e-15)
    w = _weights(len(x), rng)
    lay.init_from_data(x, w)
    assert_allclose(lay.params["theta"], np.arctanh(np.average(x, axis=0, weights=w)),
                    rtol=1e-12)
    lay.init_from_data(np.ones((5, 3)))  # all +1: clamped, finite
    assert np.all(np.isfinite(lay.params["theta"])) and np.all(lay.params["theta"] > 5)


@pytest.mark.parametrize("cls", [Gaussian, ReLU])
def test_init_gaussian_like(cls):
    rng = np.random.default_rng(28)
    x = np.abs(rng.normal([0.5, 2.0, 5.0], [0.3, 1.0, 2.0], (500, 3)))
    lay = cls(3)
    lay.init_from_data(x)
    m, v = x.mean(axis=0), x.var(axis=0)
    assert_allclose(lay.params["gamma"], 1 / (v + 1e-6), rtol=1e-12)
    assert_allclose(lay.params["theta"], m / (v + 1e-6), rtol=1e-12)
    if cls is Gaussian:  # moment matching
        assert_allclose(lay.mean(np.zeros((1, 3)))[0], m, rtol=1e-12)
        assert_allclose(lay.var(np.zeros((1, 3)))[0], v + 1e-6, rtol=1e-12)
    w = _weights(len(x), rng)
    lay.init_from_data(x, w)
    mw = np.average(x, axis=0, weights=w)
    vw = np.average((x - mw) ** 2, axis=0, weights=w)
    assert_allclose(lay.params["gamma"], 1 / (vw + 1e-6), rtol=1e-12)
    assert_allclose(lay.params["theta"], mw / (vw + 1e-6), rtol=1e-12)


def test_init_drelu():
    rng = np.random.default_rng(29)
    x = rng.normal([0.5, -2.0], [0.3, 1.0], (500, 2))
    lay = DReLU(2)
    lay.init_from_data(x)
    m, v = x.mean(axis=0), x.var(axis=0)
    for s in "pn":  # both sides as the moment-matched Gaussian
        assert_allclose(lay.params["gamma_" + s], 1 / (v + 1e-6), rtol=1e-12)
        assert_allclose(lay.params["theta_" + s], m / (v + 1e-6), rtol=1e-12)
    assert_allclose(lay.mean(np.zeros((1, 2)))[0], m, rtol=1e-9)


def test_init_potts():
    rng = np.random.default_rng(30)
    q = 4
    codes = np.stack([rng.choice(q, 600, p=[0.1, 0.2, 0.3, 0.4]),
                      rng.choice(q, 600, p=[0.5, 0.5, 0.0, 0.0])], axis=1)
    lay = Potts(2, q=q)
    x = lay.encode(codes)
    lay.init_from_data(x)
    f = x.mean(axis=0).reshape(2, q)
    theta = lay.params["theta"].reshape(2, q)
    assert_allclose(theta.sum(axis=1), 0.0, atol=1e-12)  # zero-sum gauge
    t = np.log(f + 1e-6)
    assert_allclose(theta, t - t.mean(axis=1, keepdims=True), rtol=1e-12)
    assert_allclose(lay.mean(np.zeros((1, 2 * q)))[0], f.ravel(), rtol=1e-4, atol=1e-6)
    w = _weights(len(x), rng)
    lay.init_from_data(x, w)
    fw = np.log(np.average(x, axis=0, weights=w).reshape(2, q) + 1e-6)
    assert_allclose(lay.params["theta"].reshape(2, q), fw - fw.mean(axis=1, keepdims=True),
                    rtol=1e-12)


@pytest.mark.parametrize("name", ALL)
def test_init_weights_equal_repetition(name):
    """Integer weights give the same parameters as repeating the rows."""
    lay = make(name, seed=31)
    rng = np.random.default_rng(32)
    x = lay.sample(rng.normal(0, 1, (30, lay.size)), rng)
    counts = rng.integers(1, 4, len(x))
    a, b = lay.copy(), lay.copy()
    a.init_from_data(x, counts / counts.sum())
    b.init_from_data(np.repeat(x, counts, axis=0))
    for k in a.params:
        assert_allclose(a.params[k], b.params[k], rtol=1e-9, atol=1e-12, err_msg=k)
        assert np.all(np.isfinite(a.params[k]))


def test_init_mixed_dispatches_to_groups():
    rng = np.random.default_rng(33)
    lay = Mixed([Spin(2), Gaussian(3)])
    x = np.hstack([np.where(rng.random((300, 2)) < 0.7, 1.0, -1.0),
                   rng.normal(1.0, 2.0, (300, 3))])
    lay.init_from_data(x)
    s, g = Spin(2), Gaussian(3)
    s.init_from_data(x[:, :2])
    g.init_from_data(x[:, 2:])
    assert_allclose(lay.params["0.theta"], s.params["theta"])
    assert_allclose(lay.params["1.theta"], g.params["theta"])
    assert_allclose(lay.params["1.gamma"], g.params["gamma"])


# --------------------------------------------------------------------------------------
# Encoding and validation
# --------------------------------------------------------------------------------------


def test_potts_encode_decode_round_trip():
    rng = np.random.default_rng(34)
    lay = Potts(4, q=5)
    X = rng.integers(0, 5, (50, 4)).astype(float)
    x = lay.encode(X)
    assert x.shape == (50, 20)
    assert_one_hot(x, 4, 5)
    assert_array_equal(x.reshape(50, 4, 5).argmax(axis=2), X)
    # column i*q + a is state a of site i
    assert_array_equal(x[np.arange(50), 5 * 2 + X[:, 2].astype(int)], 1.0)
    assert_array_equal(lay.decode(x), X)
    # mixed layer with a Potts group
    mix = Mixed([Spin(1), Potts(2, q=3), Bernoulli(1)])
    Xm = np.column_stack([rng.choice([-1.0, 1.0], 20), rng.integers(0, 3, (20, 2)),
                          rng.integers(0, 2, 20)]).astype(float)
    mix.validate(Xm)
    xm = mix.encode(Xm)
    assert xm.shape == (20, mix.size) == (20, 1 + 6 + 1)
    assert_array_equal(mix.decode(xm), Xm)


@pytest.mark.parametrize(
    "layer, X, col, value",
    [
        (Bernoulli(3), [[0, 1, 0.5], [0, 1.5, 1]], 1, "1.5"),
        (Bernoulli(3), [[0, 1, -0.2]], 2, "-0.2"),
        (Bernoulli(2), [[0, np.nan]], 1, "nan"),
        (Spin(3), [[1, -1, 0]], 2, "0.0"),
        (Spin(2), [[1, 0.5]], 1, "0.5"),
        (Potts(3, q=3), [[0, 1.5, 2]], 1, "1.5"),
        (Potts(3, q=3), [[0, 1, 3]], 2, "3.0"),
        (Potts(2, q=3), [[-1, 1]], 0, "-1.0"),
        (ReLU(3), [[0, 2.0, -0.5]], 2, "-0.5"),
        (Mixed([Spin(2), Bernoulli(3)]), [[1, -1, 0, 1, 2.5]], 4, "2.5"),
        (Mixed([Spin(2), Potts(2, q=3)]), [[1, 1, 0, 7]], 3, "7.0"),
        (Mixed([Spin(2), Potts(2, q=3)]), [[1, 3, 0, 1]], 1, "3.0"),
    ],
)
def test_validate_messages(layer, X, col, value):
    X = np.array(X, dtype=float)
    with pytest.raises(ValueError) as exc:
        layer.validate(X, where="X_train")
    msg = str(exc.value)
    assert f"column {col}," in msg, msg
    assert value in msg, msg
    assert "X_train" in msg
    expected_type = (layer.groups[-1][0] if isinstance(layer, Mixed) and col >= 2
                     else layer.groups[0][0]).name
    assert expected_type in msg, msg


@pytest.mark.parametrize(
    "layer, X",
    [
        (Bernoulli(3), [[0, 1, 0.25]]),
        (Spin(2), [[1, -1]]),
        (Potts(2, q=3), [[0, 2]]),
        (ReLU(2), [[0, 3.5]]),
        (Gaussian(2), [[-1e3, 1e3]]),
        (DReLU(2), [[-2.0, 3.0]]),
        (Mixed([Spin(1), Potts(1, q=4), Gaussian(1)]), [[-1, 3, -7.0]]),
    ],
)
def test_validate_accepts_domain(layer, X):
    layer.validate(np.array(X, dtype=float))


# --------------------------------------------------------------------------------------
# float32
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ALL)
def test_float32_preserved(name):
    lay = make(name).astype(np.float32)
    for v in lay.params.values():
        assert v.dtype == np.float32
    rng = np.random.default_rng(35)
    I = np.vstack([rng.normal(0, 2, (20, lay.size)),
                   np.full((1, lay.size), -40.0), np.full((1, lay.size), 40.0)])
    I = I.astype(np.float32)
    with strict_numerics():
        out = {"mean": lay.mean(I), "var": lay.var(I), "mode": lay.mode(I),
               "sample": lay.sample(I, rng), "cgf": lay.cgf(I)}
        out["energy"] = lay.energy(out["sample"])
        out.update({"cgf_grad " + k: v for k, v in lay.cgf_grad(I).items()})
    for k, v in out.items():
        assert v.dtype == np.float32, (k, v.dtype)
        assert np.all(np.isfinite(v)), k
    # and the values agree with float64
    ref = make(name)
    I64 = I.astype(np.float64)
    assert_allclose(out["mean"], ref.mean(I64), rtol=1e-4, atol=1e-5)
    assert_allclose(out["var"], ref.var(I64), rtol=1e-3, atol=1e-5)
    assert_allclose(out["cgf"], ref.cgf(I64), rtol=1e-5, atol=1e-4)
    if not lay.continuous:
        assert lay.states().dtype == np.float32


# --------------------------------------------------------------------------------------
# make_layer and layer bookkeeping
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(UNIT_TYPES))
def test_make_layer_names(name):
    lay = make_layer(name, 4, q=3)
    assert type(lay) is UNIT_TYPES[name]
    assert lay.name == name
    assert lay.n_units == 4
    assert lay.size == (12 if name == "potts" else 4)
    for v in lay.params.values():
        assert v.shape == (lay.size,) and v.dtype == np.float64
    # default parameters: zero fields, unit precisions
    for k, v in lay.params.items():
        assert_array_equal(v, 1.0 if _is_gamma(k) else 0.0)
    assert make_layer(name, 2, dtype=np.float32, q=3).dtype == np.float32


def test_make_layer_potts_q():
    assert make_layer("potts", 3, q=5).q == 5
    assert make_layer("potts", 3).q == 2
    with pytest.raises(ValueError, match="q >= 2"):
        make_layer("potts", 3, q=1)
    with pytest.raises(ValueError, match="q >= 2"):
        Potts(3, q=2.5)


def test_make_layer_mixed():
    lay = make_layer([("spin", 1), ("gaussian", 4)], 5)
    assert isinstance(lay, Mixed)
    assert [type(g[0]) for g in lay.groups] == [Spin, Gaussian]
    assert [(g[1], g[2]) for g in lay.groups] == [(0, 1), (1, 5)]
    assert lay.n_units == lay.size == 5
    assert lay.param_names == ("0.theta", "1.theta", "1.gamma")
    assert set(lay.params) == set(lay.param_names)
    assert lay.continuous and lay.n_states == float("inf")
    assert lay.describe() == "[spin(1), gaussian(4)]"
    # n_units may be omitted
    assert make_layer([("spin", 1), ("relu", 2)]).n_units == 3
    # Potts groups get q; discrete mixtures are enumerable
    m = make_layer([("potts", 2), ("bernoulli", 1)], 3, q=3)
    assert m.size == 7 and not m.continuous and m.n_states == 18
    # a single group is just that layer
    single = make_layer([("relu", 3)], 3)
    assert type(single) is ReLU and single.n_units == 3
    # Mixed params are views on the group parameters
    lay.params["1.gamma"][:] = 2.0
    assert_array_equal(lay.layers[1].params["gamma"], 2.0)


def test_make_layer_errors():
    with pytest.raises(ValueError, match=r"Unknown hidden unit type 'gauss'.*accepted"):
        make_layer("gauss", 3)
    with pytest.raises(ValueError, match=r"Unknown visible unit type 'foo'"):
        make_layer("foo", 3, where="visible")
    with pytest.raises(ValueError, match=r"Unknown hidden unit type 'sping'"):
        make_layer([("sping", 1), ("gaussian", 2)], 3)
    for bad in (["spin", 1], ("spin", 0), ("spin", 1.5), (1, "spin"), ("spin",),
                ("spin", 1, 2)):
        with pytest.raises(ValueError, match=r"\(type, n_units\) pair"):
            make_layer([bad, ("gaussian", 2)], 3)
    with pytest.raises(ValueError, match=r"3 units in all but n_components=5; they must add up"):
        make_layer([("spin", 1), ("gaussian", 2)], 5)


def test_layer_bookkeeping():
    assert Bernoulli(3).n_states == 8
    assert Potts(3, q=4).n_states == 64
    assert Spin(2).describe() == "spin(2)"
    assert Potts(2, q=3).describe() == "potts(2, q=3)"
    assert "Mixed" in repr(Mixed([Spin(1), Gaussian(1)]))
    g = Gaussian(2)
    assert g.continuous and g.n_states == float("inf")
    m = Mixed([Spin(1), Gaussian(2)])
    c = m.copy()
    c.params["1.theta"][:] = 5.0
    assert_array_equal(m.params["1.theta"], 0.0)
    m.astype(np.float32)
    assert all(v.dtype == np.float32 for v in m.params.values())


def test_make_layer_remaining_units_group():
    """A group with n_units=None takes the units the other groups leave."""
    lay = make_layer([("spin", 1), ("gaussian", None)], 5)
    assert isinstance(lay, Mixed)
    assert [(type(g[0]), g[0].n_units) for g in lay.groups] == [(Spin, 1), (Gaussian, 4)]
    only = make_layer([("spin", 1), ("gaussian", None)], 1)  # nothing left: group dropped
    assert type(only) is Spin and only.n_units == 1
    for spec, n in [([("spin", None), ("gaussian", None)], 5),  # two open groups
                    ([("spin", 3), ("gaussian", None)], 2),  # fixed groups too large
                    ([("spin", 1), ("gaussian", None)], None)]:  # nothing to fill
        with pytest.raises(ValueError):
            make_layer(spec, n)
