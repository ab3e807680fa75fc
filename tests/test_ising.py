"""Tests of the Ising data sets: exact results, Monte Carlo samplers, observables."""

import doctest
import itertools

import numpy as np
import pytest

from skrbm.datasets import ising_exact, ising_observables, make_ising
from skrbm.datasets import _ising
from skrbm.datasets._ising import ISING_TC

TC = ISING_TC
SAMPLERS = ["swendsen_wang", "wolff", "metropolis"]


# --------------------------------------------------------------------------------------------
# brute force
# --------------------------------------------------------------------------------------------


def _all_states(L):
    """Every configuration of the L x L lattice, shape (2**N, L, L), entries +-1."""
    N = L * L
    codes = np.arange(2**N, dtype=np.int64)[:, None]
    bits = (codes >> np.arange(N)) & 1
    return (2 * bits - 1).astype(np.int8).reshape(-1, L, L)


def brute_force(L, temperature):
    """Exact u, c, f, <|m|>, <m^2> by enumerating all 2**(L*L) states (L <= 4)."""
    S = _all_states(L).astype(np.int64)
    N = L * L
    E = -(S * (np.roll(S, -1, axis=1) + np.roll(S, -1, axis=2))).sum(axis=(1, 2))
    M = S.sum(axis=(1, 2))
    beta = 1.0 / temperature
    # collect the density of states on (E, |M|) to keep the sums short and exact
    w = np.exp(-beta * (E - E.min()).astype(np.float64))
    Z = w.sum()
    Ef = E.astype(np.float64)
    u = (w * Ef).sum() / Z
    u2 = (w * Ef**2).sum() / Z
    return {
        "u": u / N,
        "c": beta**2 * (u2 - u**2) / N,
        "f": -temperature * (np.log(Z) - beta * E.min()) / N,
        "abs_m": (w * np.abs(M)).sum() / Z / N,
        "m2": (w * M.astype(np.float64) ** 2).sum() / Z / N**2,
    }


def _energy_per_spin(X, L):
    S = X.reshape(-1, L, L)
    return -(S * (np.roll(S, -1, axis=1) + np.roll(S, -1, axis=2))).sum(axis=(1, 2)) / (L * L)


# --------------------------------------------------------------------------------------------
# ising_exact
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("L", [2, 3, 4])
@pytest.mark.parametrize("temperature", [0.4, 1.0, 1.8, 2.0, TC, 2.5, 3.3, 6.0, 50.0])
def test_exact_matches_brute_force(L, temperature):
    res = ising_exact(L, temperature)
    ref = brute_force(L, temperature)
    assert abs(res.u - ref["u"]) < 1e-10
    assert abs(res.c - ref["c"]) < 1e-10
    assert abs(res.f - ref["f"]) < 1e-10


# method.md section 6
TABLE = {
    2.0: {16: (-1.745531, 0.725509), 32: (-1.745565, 0.724874), 64: (-1.745565, 0.724871)},
    2.2: {16: (-1.550106, 1.290536), 32: (-1.546586, 1.401074), 64: (-1.546479, 1.414893)},
    TC: {16: (-1.453065, 1.498705), 32: (-1.433658, 1.846768), 64: (-1.423938, 2.192211)},
    2.5: {16: (-1.131318, 1.064977), 32: (-1.107292, 0.885813), 64: (-1.106083, 0.861855)},
    3.0: {16: (-0.817689, 0.404333), 32: (-0.817310, 0.401382), 64: (-0.817310, 0.401380)},
}


@pytest.mark.parametrize("L", [16, 32, 64])
def test_exact_matches_method_table(L):
    temps = list(TABLE)
    res = ising_exact(L, temps)  # array input
    for i, T in enumerate(temps):
        u_ref, c_ref = TABLE[T][L]
        assert abs(res.u[i] - u_ref) < 5e-7, (L, T)
        assert abs(res.c[i] - c_ref) < 5e-7, (L, T)


def test_exact_shapes_and_scalars():
    res = ising_exact(8, 2.0)
    assert isinstance(res.u, float) and isinstance(res.c, float) and isinstance(res.f, float)
    assert "m" not in res
    T = np.array([[1.5, 2.0, 2.5], [3.0, 3.5, 4.0]])
    res = ising_exact(8, T)
    assert res.u.shape == res.c.shape == res.f.shape == T.shape
    for idx in np.ndindex(T.shape):
        single = ising_exact(8, float(T[idx]))
        assert res.u[idx] == pytest.approx(single.u, abs=1e-14)
        assert res.c[idx] == pytest.approx(single.c, abs=1e-14)
    inf = ising_exact(None, T)
    assert inf.m.shape == T.shape


def test_exact_limits():
    # ground state below T = 0.025, high-temperature series u ~ -2 tanh(beta) far above Tc
    for L in [4, 16, None]:
        res = ising_exact(L, [0.01, 0.03, 0.2])
        np.testing.assert_allclose(res.u, -2.0, atol=1e-12)
        np.testing.assert_allclose(res.c, 0.0, atol=1e-12)
        assert np.all(res.c >= 0)
        hot = ising_exact(L, 200.0)
        assert hot.u == pytest.approx(-2 * np.tanh(1 / 200.0), rel=1e-3)
    assert ising_exact(None, 0.5).m == pytest.approx(1.0, abs=1e-6)
    assert ising_exact(None, [TC, 2.5, 10.0]).m.tolist() == [0.0, 0.0, 0.0]


def test_onsager_at_tc():
    res = ising_exact(None, TC)
    assert res.u == pytest.approx(-np.sqrt(2.0), abs=1e-14)
    assert np.isinf(res.c)
    assert res.m == 0.0
    assert TC == pytest.approx(2.269185314213022, abs=1e-15)


@pytest.mark.parametrize("temperature", [1.0, 1.5, 2.0, 2.2, 2.35, 2.5, 3.0, 5.0])
def test_onsager_heat_capacity_is_derivative_of_energy(temperature):
    h = 1e-5
    res = ising_exact(None, [temperature - h, temperature, temperature + h])
    c_fd = (res.u[2] - res.u[0]) / (2 * h)
    assert res.c[1] == pytest.approx(c_fd, rel=1e-7)


@pytest.mark.parametrize("temperature", [1.5, 2.0, 2.5, 3.0])
def test_onsager_energy_is_derivative_of_free_energy(temperature):
    # u = d(beta f) / d beta
    h = 1e-5
    betas = 1.0 / temperature + np.array([-h, 0.0, h])
    res = ising_exact(None, 1.0 / betas)
    u_fd = (betas[2] * res.f[2] - betas[0] * res.f[0]) / (2 * h)
    assert res.u[1] == pytest.approx(u_fd, abs=1e-8)


def test_onsager_magnetisation_and_infinite_size_limit():
    # Yang's magnetisation at T = 2: (1 - sinh(1)^-4)^(1/8)
    assert ising_exact(None, 2.0).m == pytest.approx((1 - np.sinh(1.0) ** -4) ** 0.125, abs=1e-15)
    # far from Tc the torus converges exponentially fast to Onsager's lattice
    T = [1.5, 2.0, 3.0, 4.0]
    big, inf = ising_exact(256, T), ising_exact(None, T)
    np.testing.assert_allclose(big.u, inf.u, atol=1e-12)
    np.testing.assert_allclose(big.c, inf.c, atol=1e-10)
    # above Tc f agrees too; below, the two ordered phases add -T ln 2 / N to the torus
    np.testing.assert_allclose(big.f[2:], inf.f[2:], atol=1e-12)
    np.testing.assert_allclose(big.f[:2], inf.f[:2] - np.array(T[:2]) * np.log(2) / 256**2,
                               atol=1e-12)


@pytest.mark.parametrize(
    "L, temperature, match",
    [
        (1, 2.0, "L .*integer >= 2"),
        (2.5, 2.0, "L .*integer >= 2"),
        (True, 2.0, "L .*integer >= 2"),
        ("8", 2.0, "L .*integer >= 2"),
        (8, 0.0, "temperature must be finite and > 0"),
        (8, -1.0, "temperature must be finite and > 0"),
        (8, [2.0, np.inf], "temperature must be finite and > 0"),
        (8, [2.0, np.nan], "temperature must be finite and > 0"),
        (8, [], "temperature must be finite and > 0"),
        (8, "hot", "temperature must be"),
    ],
)
def test_exact_bad_arguments(L, temperature, match):
    with pytest.raises(ValueError, match=match):
        ising_exact(L, temperature)


# --------------------------------------------------------------------------------------------
# make_ising
# --------------------------------------------------------------------------------------------


def _assert_within(obs, exact, key, n_se):
    diff = obs[key] - exact
    assert abs(diff) < n_se * obs[key + "_se"], (
        f"{key}: {obs[key]:.5f} +- {obs[key + '_se']:.5f} vs exact {exact:.5f}"
    )


@pytest.mark.parametrize("temperature", [2.0, TC, 3.0])
def test_swendsen_wang_small_lattice_matches_kaufman(temperature):
    L = 8
    X, _ = make_ising(L, temperature, 2000, random_state=0)
    obs = ising_observables(X, temperature)
    exact = ising_exact(L, temperature)
    _assert_within(obs, exact.u, "u", 3)
    _assert_within(obs, exact.c, "c", 3)


@pytest.mark.parametrize("sampler", SAMPLERS)
@pytest.mark.parametrize("L, temperature", [(4, 2.5), (3, 2.0)])
def test_samplers_match_enumeration(sampler, L, temperature):
    X, _ = make_ising(L, temperature, 3000, sampler=sampler, random_state=1)
    obs = ising_observables(X, temperature)
    ref = brute_force(L, temperature)
    for key in ["u", "c", "abs_m", "m2"]:
        _assert_within(obs, ref[key], key, 4)


def test_samplers_agree_with_each_other():
    L, T = 6, 2.4
    results = {
        s: ising_observables(make_ising(L, T, 2000, sampler=s, random_state=2)[0], T)
        for s in SAMPLERS
    }
    for a, b in itertools.combinations(SAMPLERS, 2):
        for key in ["u", "c", "abs_m", "chi", "binder"]:
            ra, rb = results[a], results[b]
            se = np.hypot(ra[key + "_se"], rb[key + "_se"])
            assert abs(ra[key] - rb[key]) < 4 * se, (a, b, key, ra[key], rb[key], se)


@pytest.mark.parametrize("n_samples", [1, 2, 7, 100, 101])
@pytest.mark.parametrize("L, temperature", [(2, 50.0), (3, 3.0), (4, 2.0)])
def test_labels_exactly_balanced(n_samples, L, temperature):
    X, y = make_ising(L, temperature, n_samples, n_chains=5, random_state=3)
    assert X.shape == (n_samples, L * L) and X.dtype == np.float64
    assert y.shape == (n_samples,) and y.dtype.kind == "i"
    assert set(np.unique(X)) <= {-1.0, 1.0}
    assert set(np.unique(y)) <= {-1, 1}
    assert (y == 1).sum() == n_samples // 2
    assert (y == -1).sum() == n_samples - n_samples // 2
    m = X.sum(axis=1)
    assert np.all(np.sign(m[m != 0]) == y[m != 0])


def test_zero_magnetisation_gets_random_labels():
    # L = 2 at high temperature: m = 0 in 3/8 of the samples
    X, y = make_ising(2, 100.0, 2000, random_state=4)
    zero = X.sum(axis=1) == 0
    assert 600 < zero.sum() < 900
    assert (y == 1).sum() == 1000
    # both labels occur among m = 0 samples, in roughly equal numbers
    frac = (y[zero] == 1).mean()
    assert 0.4 < frac < 0.6


def test_global_flip_does_not_bias_magnetisation():
    # the distribution of |m| and e is unchanged, and m is symmetric
    X, y = make_ising(4, 2.5, 4000, random_state=5)
    ref = brute_force(4, 2.5)
    m = X.mean(axis=1)
    assert abs(m.mean()) < 0.01  # exactly balanced labels
    assert abs(np.abs(m).mean() - ref["abs_m"]) < 0.02


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_reproducible(sampler):
    kw = dict(sampler=sampler, burn_in=20, n_sweeps=2)
    a = make_ising(6, 2.3, 50, random_state=0, **kw)
    b = make_ising(6, 2.3, 50, random_state=0, **kw)
    c = make_ising(6, 2.3, 50, random_state=1, **kw)
    d = make_ising(6, 2.3, 50, random_state=np.random.RandomState(0), **kw)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    np.testing.assert_array_equal(a[0], d[0])
    assert not np.array_equal(a[0], c[0])


def test_chains_and_sweeps_are_used():
    # rows grouped by chain: with burn_in=0, n_sweeps=1 at low T from ordered starts the
    # first sample of every chain is nearly ordered
    X, _ = make_ising(8, 1.0, 40, n_chains=4, n_sweeps=1, burn_in=0, random_state=0)
    assert np.all(np.abs(X.mean(axis=1)) > 0.9)
    # more chains than samples is capped, not an error
    X, y = make_ising(4, 2.0, 3, n_chains=50, random_state=0)
    assert X.shape == (3, 16)


@pytest.mark.parametrize("L", [2, 3, 4, 5, 7, 8])
def test_metropolis_colour_classes_are_independent_sets(L):
    classes = _ising._colour_classes(L)
    seen = np.concatenate(classes)
    assert np.array_equal(np.sort(seen), np.arange(L * L))
    for sites in classes:
        i, j = np.divmod(sites, L)
        occupied = np.zeros((L, L), dtype=bool)
        occupied[i, j] = True
        for di, dj in [(1, 0), (0, 1)]:
            nb = occupied[(i + di) % L, (j + dj) % L]
            assert not nb.any()
    assert len(classes) == (2 if L % 2 == 0 else 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(L=1), r"L \(the linear lattice size\) must be an integer >= 2, got 1"),
        (dict(L=4.0), "L .* must be an integer >= 2"),
        (dict(temperature=0), r"temperature must be a finite real number > 0 .*got 0"),
        (dict(temperature=-2.0), "temperature must be a finite real number > 0"),
        (dict(temperature=np.inf), "temperature must be a finite real number > 0"),
        (dict(temperature="2"), "temperature must be a finite real number > 0"),
        (dict(n_samples=0), "n_samples must be an integer >= 1, got 0"),
        (dict(n_samples=10.0), "n_samples must be an integer >= 1"),
        (dict(sampler="gibbs"), r"sampler must be one of \['swendsen_wang', 'wolff', "),
        (dict(n_sweeps=0), "n_sweeps must be an integer >= 1 or None, got 0"),
        (dict(n_chains=0), "n_chains must be an integer >= 1 or None, got 0"),
        (dict(burn_in=-1), "burn_in must be an integer >= 0 or None, got -1"),
        (dict(random_state="seed"), "cannot be used to seed"),
    ],
)
def test_make_ising_bad_arguments(kwargs, match):
    args = dict(L=4, temperature=2.0, n_samples=10)
    args.update(kwargs)
    L, T, n = args.pop("L"), args.pop("temperature"), args.pop("n_samples")
    with pytest.raises(ValueError, match=match):
        make_ising(L, T, n, **args)


# --------------------------------------------------------------------------------------------
# ising_observables
# --------------------------------------------------------------------------------------------


def test_observables_against_direct_formulas():
    rng = np.random.default_rng(0)
    L, n, T = 3, 40, 2.5
    X = rng.choice([-1.0, 1.0], size=(n, L * L))
    obs = ising_observables(X, T, n_blocks=n)
    m = X.mean(axis=1)
    e = _energy_per_spin(X, L)
    N = L * L
    assert obs.abs_m == pytest.approx(np.abs(m).mean())
    assert obs.m2 == pytest.approx((m**2).mean())
    assert obs.u == pytest.approx(e.mean())
    assert obs.c == pytest.approx(N * e.var() / T**2)
    assert obs.chi == pytest.approx(N * ((m**2).mean() - np.abs(m).mean() ** 2) / T)
    assert obs.binder == pytest.approx(1 - (m**4).mean() / (3 * (m**2).mean() ** 2))
    # delete-one jackknife of a mean is the usual standard error of the mean
    assert obs.u_se == pytest.approx(e.std(ddof=1) / np.sqrt(n))
    assert obs.abs_m_se == pytest.approx(np.abs(m).std(ddof=1) / np.sqrt(n))
    assert (obs.L, obs.n_samples, obs.n_blocks, obs.temperature) == (L, n, n, T)
    # energy convention: the ordered state has u = -2, a checkerboard u = +2
    ordered = np.ones((2, 16))
    checker = np.indices((4, 4)).sum(axis=0) % 2 * 2.0 - 1
    both = np.vstack([ordered, checker.reshape(1, 16)])
    assert _energy_per_spin(both, 4).tolist() == [-2.0, -2.0, 2.0]
    assert ising_observables(ordered, 1.0).u == -2.0


def test_observables_blocking_sees_correlation():
    # duplicated rows: blocks that hold both copies give a sqrt(2) larger error than the
    # delete-one jackknife, which treats the copies as independent
    rng = np.random.default_rng(1)
    X = np.repeat(rng.choice([-1.0, 1.0], size=(400, 16)), 2, axis=0)
    naive = ising_observables(X, 3.0, n_blocks=800)
    blocked = ising_observables(X, 3.0, n_blocks=400)
    assert blocked.u_se == pytest.approx(np.sqrt(2) * naive.u_se, rel=0.05)


@pytest.mark.parametrize(
    "X, kwargs, match",
    [
        (np.ones((5, 15)), {}, "15 columns, which is not L\\*L"),
        (np.ones((5, 16)), dict(L=3), "L\\*L = 9 columns for L=3, got 16"),
        (np.ones(16), {}, "2-d array"),
        (np.ones((1, 16)), {}, "at least 2 samples"),
        (np.zeros((5, 16)), {}, "only spins -1 and \\+1"),
        (np.ones((5, 16)), dict(temperature=0.0), "temperature must be a finite real"),
        (np.ones((5, 16)), dict(n_blocks=1), "n_blocks must be an integer >= 2"),
    ],
)
def test_observables_bad_arguments(X, kwargs, match):
    T = kwargs.pop("temperature", 2.0)
    with pytest.raises(ValueError, match=match):
        ising_observables(X, T, **kwargs)


def test_docstring_examples():
    result = doctest.testmod(_ising, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


# --------------------------------------------------------------------------------------------
# slow: the sizes of the experiments
# --------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize("temperature", [2.0, TC, 3.0])
def test_swendsen_wang_L16_matches_kaufman(temperature):
    L = 16
    X, _ = make_ising(L, temperature, 6000, random_state=10)
    obs = ising_observables(X, temperature)
    exact = ising_exact(L, temperature)
    _assert_within(obs, exact.u, "u", 3)
    _assert_within(obs, exact.c, "c", 3)


@pytest.mark.slow
@pytest.mark.parametrize(
    "sampler, temperature",
    [("wolff", 2.0), ("wolff", TC), ("wolff", 3.0), ("metropolis", 2.0), ("metropolis", 3.0)],
)
def test_other_samplers_L16_match_kaufman(sampler, temperature):
    L = 16
    X, _ = make_ising(L, temperature, 4000, sampler=sampler, random_state=11)
    obs = ising_observables(X, temperature)
    exact = ising_exact(L, temperature)
    _assert_within(obs, exact.u, "u", 3)
    _assert_within(obs, exact.c, "c", 3)


@pytest.mark.slow
def test_L32_magnetisation_at_tc():
    X, y = make_ising(32, TC, 3000, random_state=12)
    obs = ising_observables(X, TC)
    assert abs(obs.abs_m - 0.659) < 0.02, (obs.abs_m, obs.abs_m_se)
    exact = ising_exact(32, TC)
    _assert_within(obs, exact.u, "u", 3)
    _assert_within(obs, exact.c, "c", 3)
