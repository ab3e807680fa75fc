"""Samplers and partition-function estimators of ``skrbm._sampling`` against exact values.

* Gibbs chains and parallel tempering: total-variation distance between the empirical
  distribution of 2e5 samples and the exact one (enumeration) on tiny models; for continuous
  visible units the marginal of a discrete hidden layer plus the first and second moments of
  v (exact by enumerating the hidden states).
* AIS / RAIS: against exact log Z for every pair of unit types where it is computable, and
  on a digits model with 20 binary hidden units (slow).
* Bitwise reproducibility across n_jobs; float32 models; parallel tempering crossing the
  barrier of a Curie-Weiss model where plain Gibbs does not.
"""

import numpy as np
import pytest
from scipy.special import logsumexp

from skrbm._layers import Gaussian, Mixed, Spin, make_layer
from skrbm._rbm import RBM
from skrbm._sampling import (
    LogZEstimate,
    ais_betas,
    ais_log_partition,
    base_from_data,
    log_likelihood,
    log_partition,
    parallel_tempering,
    rais_log_partition,
    run_chains,
)

N_TV = 200_000  # samples for the total-variation tests
TV_MAX = 0.01


def _layer(name, n, rng):
    lay = make_layer(name, n, q=3) if isinstance(name, str) else name
    for p, v in lay.params.items():
        if p.split(".")[-1].startswith("gamma"):
            v[:] = rng.uniform(1.5, 3.0, v.shape) * rng.choice([-1, 1], v.shape)
        else:
            v[:] = rng.normal(0, 0.5, v.shape)
    return lay


def _rbm(vname, hname, seed, N=5, M=3, scale=0.5):
    rng = np.random.default_rng(seed)
    vis = _layer(vname, N, rng)
    hid = _layer(hname, M, rng)
    return RBM(vis, hid, rng.normal(0, scale, (vis.size, hid.size)))


def _gibbs_samples(rbm, n=N_TV, n_chains=20_000, burn=100, thin=2):
    """n samples from n_chains chains: burn-in, then one sample every ``thin`` sweeps."""
    v = run_chains(rbm, n_chains, burn, random_state=0, block=4096)
    out = [v]
    for t in range(n // n_chains - 1):
        v = run_chains(rbm, n_chains, thin, v0=v, random_state=t + 1, block=4096)
        out.append(v)
    return np.concatenate(out)


def _mixed_hidden():
    return Mixed([Spin(1), Gaussian(2)])


def _exact_probs(layer, logf):
    """States of a discrete layer and their exact probabilities from -free energies."""
    return np.exp(logf - logsumexp(logf))


def _tv(states, p, samples):
    index = {s.tobytes(): k for k, s in enumerate(states.astype(np.float64))}
    codes = np.array([index[s.tobytes()] for s in samples.astype(np.float64)])
    emp = np.bincount(codes, minlength=len(states)) / len(codes)
    return 0.5 * np.abs(emp - p).sum()


def _tv_visible(rbm, v):
    S = rbm.visible.states()
    return _tv(S, _exact_probs(rbm.visible, -rbm.free_energy(S)), v)


def _tv_hidden(rbm, v, seed=123):
    """TV of the hidden marginal: h ~ P(h | v) for each sample v (exact given v ~ P(v))."""
    h = rbm.sample_h(v, np.random.default_rng(seed))
    S = rbm.hidden.states()
    return _tv(S, _exact_probs(rbm.hidden, -rbm.free_energy_h(S)), h)


def _moment_zscores(rbm, v):
    """Largest |z| of the empirical first and second moments of v against exact values."""
    S = rbm.hidden.states()
    p = _exact_probs(rbm.hidden, -rbm.free_energy_h(S))
    I = S @ rbm.W.T
    m, var = rbm.visible.mean(I), rbm.visible.var(I)
    mean = p @ m
    second = np.einsum("s,si,sj->ij", p, m, m) + np.diag(p @ var)
    n = len(v)
    z1 = (v.mean(0) - mean) / (v.std(0) / np.sqrt(n))
    vv = np.einsum("ni,nj->nij", v, v)
    z2 = (vv.mean(0) - second) / (vv.std(0) / np.sqrt(n))
    return float(np.abs(z1).max()), float(np.abs(z2).max())


# ------------------------------------------------------------------ Gibbs chains

DISCRETE_PAIRS = [
    ("bernoulli", "bernoulli"),
    ("spin", "gaussian"),
    ("potts", "relu"),
    ("bernoulli", "drelu"),
    ("spin", "mixed"),
]


def _pair(vname, hname, seed, **kw):
    return _rbm(vname, _mixed_hidden() if hname == "mixed" else hname, seed,
                N=3 if vname == "potts" else 5, **kw)


@pytest.mark.parametrize("vname,hname", DISCRETE_PAIRS)
def test_run_chains_total_variation(vname, hname):
    rbm = _pair(vname, hname, seed=1, scale=0.7)
    v = _gibbs_samples(rbm)
    assert v.shape == (N_TV, rbm.visible.size)
    assert _tv_visible(rbm, v) < TV_MAX


@pytest.mark.parametrize("vname", ["gaussian", "relu", "drelu"])
def test_run_chains_continuous_visible(vname):
    rbm = _rbm(vname, "bernoulli", seed=2, N=4, M=4, scale=1.0)
    v = _gibbs_samples(rbm, burn=30)
    assert _tv_hidden(rbm, v) < TV_MAX
    z1, z2 = _moment_zscores(rbm, v)
    assert z1 < 5 and z2 < 5


def test_run_chains_v0_and_reproducibility():
    rbm = _rbm("spin", "bernoulli", seed=3)
    a = run_chains(rbm, 200, 5, random_state=7, n_jobs=1)
    b = run_chains(rbm, 200, 5, random_state=7, n_jobs=2)
    assert a.dtype == rbm.dtype and np.array_equal(a, b)
    assert not np.array_equal(a, run_chains(rbm, 200, 5, random_state=8))
    v0 = np.ones((1, 5))
    assert np.array_equal(run_chains(rbm, 10, 0, v0=v0), np.ones((10, 5)))
    with pytest.raises(ValueError, match="v0 has 3 rows"):
        run_chains(rbm, 10, 1, v0=np.ones((3, 5)))
    with pytest.raises(ValueError, match="n_steps"):
        run_chains(rbm, 10, -1)


def test_run_chains_potts_user_representation():
    rbm = _rbm("potts", "bernoulli", seed=4, N=3)
    v0 = np.array([[0, 1, 2]])  # categories, encoded internally
    v = run_chains(rbm, 4, 0, v0=v0)
    assert v.shape == (4, 9)
    assert np.array_equal(rbm.visible.decode(v), np.repeat(v0, 4, axis=0))


# ------------------------------------------------------------------ parallel tempering

@pytest.mark.parametrize("vname,hname", [("bernoulli", "bernoulli"), ("spin", "mixed"),
                                         ("potts", "gaussian")])
def test_parallel_tempering_total_variation(vname, hname):
    rbm = _pair(vname, hname, seed=5, scale=1.0)
    res = parallel_tempering(rbm, N_TV, n_temperatures=4, n_steps=20, n_chains=20_000,
                             random_state=0, block=4096)
    assert res.samples.shape == (N_TV, rbm.visible.size)
    assert res.acceptance_rates.shape == (3,)
    assert np.all((res.acceptance_rates > 0) & (res.acceptance_rates <= 1))
    assert _tv_visible(rbm, res.samples) < TV_MAX


def test_parallel_tempering_continuous_visible_and_partial_ladder():
    rbm = _rbm("relu", "bernoulli", seed=6, N=4, M=4, scale=1.0)
    res = parallel_tempering(rbm, N_TV, betas=[0.5, 0.75, 1.0], n_steps=20,
                             n_chains=20_000, random_state=0, block=4096)
    assert _tv_hidden(rbm, res.samples) < TV_MAX
    z1, z2 = _moment_zscores(rbm, res.samples)
    # samples of one ladder are correlated over its 10 recorded steps: wider tolerance
    assert z1 < 10 and z2 < 10


def _curie_weiss(N=21, J=3.0):
    """F(v) = -J N m^2 / 2 (+ const): two modes m ~ +-0.99, barrier ~ 16 nats."""
    return RBM(Spin(N), Gaussian(1), np.full((N, 1), np.sqrt(J / N)))


def test_parallel_tempering_crosses_curie_weiss_barrier():
    rbm = _curie_weiss()
    v0 = np.ones((1, 21))  # every chain starts in the m = +1 mode
    K, steps = 8, 100
    res = parallel_tempering(rbm, 256, n_temperatures=K, n_steps=steps, v0=v0,
                             random_state=0)
    frac_pt = float((res.samples.sum(1) > 0).mean())
    gibbs = run_chains(rbm, 256, K * steps, v0=v0, random_state=0)  # same number of sweeps
    frac_gibbs = float((gibbs.sum(1) > 0).mean())
    assert 0.3 <= frac_pt <= 0.7
    assert frac_gibbs > 0.95
    assert np.all(res.acceptance_rates > 0.05)


def test_parallel_tempering_reproducible_and_validation():
    rbm = _rbm("bernoulli", "relu", seed=7)
    a = parallel_tempering(rbm, 150, n_temperatures=3, n_steps=3, n_chains=70,
                           random_state=1, n_jobs=1)
    b = parallel_tempering(rbm, 150, n_temperatures=3, n_steps=3, n_chains=70,
                           random_state=1, n_jobs=2)
    assert a.samples.shape == (150, 5)
    assert np.array_equal(a.samples, b.samples)
    assert np.array_equal(a.acceptance_rates, b.acceptance_rates)
    with pytest.raises(ValueError, match="betas"):
        parallel_tempering(rbm, 10, betas=[0.0, 0.5])
    with pytest.raises(ValueError, match="betas"):
        parallel_tempering(rbm, 10, betas=[0.0, 0.7, 0.5, 1.0])


# ------------------------------------------------------------------ AIS / RAIS

AIS_CASES = [
    ("bernoulli", "bernoulli"),
    ("bernoulli", "relu"),
    ("spin", "drelu"),
    ("spin", "mixed"),
    ("potts", "gaussian"),
    ("gaussian", "bernoulli"),
    ("relu", "spin"),
    ("drelu", "bernoulli"),
    ("gaussian", "gaussian"),
]


@pytest.mark.parametrize("vname,hname", AIS_CASES)
def test_ais_and_rais_match_exact_log_partition(vname, hname):
    rbm = _pair(vname, hname, seed=8)
    exact = rbm.log_partition_exact()
    ais = ais_log_partition(rbm, n_chains=128, n_betas=300, random_state=0)
    X = run_chains(rbm, 128, 50, random_state=1)
    rais = rais_log_partition(rbm, X, n_chains=128, n_betas=300, n_burn=0, random_state=0)
    for est in (ais, rais):
        assert est.log_weights.shape == (128,) and est.log_weights.dtype == np.float64
        assert np.isfinite(est.stderr) and est.stderr >= 0
        assert abs(est.value - exact) < max(5 * est.stderr, 0.03), (est, exact)
    assert ais.bound <= ais.value + 1e-12
    assert rais.bound >= rais.value - 1e-12


@pytest.mark.parametrize("vname", ["bernoulli", "potts", "gaussian", "drelu"])
def test_ais_with_data_base(vname):
    rbm = _pair(vname, "bernoulli", seed=9)
    X = run_chains(rbm, 500, 50, random_state=2)
    base = base_from_data(rbm, X)
    assert base is not rbm.visible and type(base) is type(rbm.visible)
    est = ais_log_partition(rbm, n_chains=128, n_betas=300, base=base, random_state=0)
    assert abs(est.value - rbm.log_partition_exact()) < max(5 * est.stderr, 0.03)


def test_ais_float32_and_reproducible():
    rbm = _rbm("bernoulli", "spin", seed=10).astype(np.float32)
    exact = rbm.copy().astype(np.float64).log_partition_exact()
    a = ais_log_partition(rbm, n_chains=100, n_betas=300, random_state=3, n_jobs=1)
    b = ais_log_partition(rbm, n_chains=100, n_betas=300, random_state=3, n_jobs=2)
    assert np.array_equal(a.log_weights, b.log_weights) and a.value == b.value
    assert a.log_weights.dtype == np.float64
    assert abs(a.value - exact) < max(5 * a.stderr, 0.03)
    X = run_chains(rbm, 100, 30, random_state=0)
    assert X.dtype == np.float32
    r = rais_log_partition(rbm, X, n_chains=100, n_betas=300, random_state=3)
    assert abs(r.value - exact) < max(5 * r.stderr, 0.03)
    pt = parallel_tempering(rbm, 50, n_temperatures=3, n_steps=5, random_state=0)
    assert pt.samples.dtype == np.float32


def test_thread_backend_gives_identical_results():
    from joblib import parallel_backend

    rbm = _rbm("gaussian", _mixed_hidden(), seed=13, scale=0.3)
    ref = ais_log_partition(rbm, n_chains=256, n_betas=50, random_state=0)
    ref_pt = parallel_tempering(rbm, 256, n_temperatures=3, n_steps=5, random_state=0)
    with parallel_backend("threading", n_jobs=2):
        thr = ais_log_partition(rbm, n_chains=256, n_betas=50, random_state=0, n_jobs=2)
        thr_pt = parallel_tempering(rbm, 256, n_temperatures=3, n_steps=5, random_state=0,
                                    n_jobs=2)
    assert np.array_equal(ref.log_weights, thr.log_weights)
    assert np.array_equal(ref_pt.samples, thr_pt.samples)


def test_ais_schedule_and_validation():
    b = ais_betas(100)
    assert b[0] == 0 and b[-1] == 1 and np.all(np.diff(b) > 0)
    # sigmoid schedule: smaller steps at both ends than in the middle
    assert np.diff(b)[0] < np.diff(b)[49] and np.diff(b)[-1] < np.diff(b)[49]
    assert np.allclose(ais_betas(5, "linear"), np.linspace(0, 1, 5))
    rbm = _rbm("bernoulli", "bernoulli", seed=11)
    with pytest.raises(ValueError, match="schedule"):
        ais_betas(10, "cubic")
    with pytest.raises(ValueError, match="betas"):
        ais_log_partition(rbm, betas=[0.0, 0.5])
    with pytest.raises(ValueError, match="same type"):
        ais_log_partition(rbm, base=Spin(5))
    with pytest.raises(ValueError, match="columns"):
        rais_log_partition(rbm, np.zeros((4, 7)))
    est = ais_log_partition(rbm, n_chains=10, betas=[0.0, 0.5, 1.0], random_state=0)
    assert est.log_weights.shape == (10,)


def test_log_partition_dispatch_and_log_likelihood():
    rbm = _rbm("spin", "bernoulli", seed=12)
    exact = rbm.log_partition_exact()
    e = log_partition(rbm)
    assert isinstance(e, LogZEstimate) and e.method == "exact" and e.stderr == 0
    assert e.value == exact and float(e) == exact
    a = log_partition(rbm, "ais", n_chains=64, n_betas=200, random_state=0)
    assert a.method == "ais" and abs(a.value - exact) < max(5 * a.stderr, 0.03)
    # "auto" falls back to AIS when no layer can be enumerated, and says so
    with pytest.warns(UserWarning, match="AIS") as rec:
        a2 = log_partition(rbm, max_states=4, n_chains=64, n_betas=200, random_state=0)
    assert a2.method == "ais" and a2.value == a.value
    assert rec[0].filename == __file__  # points at the caller, not at skrbm
    # sampling options are ignored when "auto" resolves to the exact value
    assert log_partition(rbm, n_chains=64).method == "exact"
    with pytest.raises(TypeError, match="no sampling options"):
        log_partition(rbm, "exact", n_chains=64)
    with pytest.raises(ValueError, match="needs data"):
        log_partition(rbm, "rais")
    with pytest.raises(ValueError, match="method"):
        log_partition(rbm, "bridge")
    V = run_chains(rbm, 20, 10, random_state=0)
    ll = log_likelihood(rbm, V)
    assert np.allclose(ll.values, -rbm.free_energy(V) - exact) and ll.stderr == 0
    llr = log_likelihood(rbm, V, "rais", n_chains=64, n_betas=200, random_state=0)
    assert llr.log_partition.method == "rais" and llr.stderr > 0
    assert np.allclose(llr.values, -rbm.free_energy(V) - llr.log_partition.value)


def test_auto_fallback_to_ais_warns():
    import warnings

    rbm = _rbm("spin", "bernoulli", seed=12)  # 2**5 visible and 2**3 hidden states
    opts = dict(n_chains=16, n_betas=50, random_state=0)
    msg = r"max_states=4 \(2\*\*2\).*spin\(5\) has 32 states.*bernoulli\(3\) has 8"
    with pytest.warns(UserWarning, match=msg) as rec:
        est = log_partition(rbm, max_states=4, **opts)
    assert len(rec) == 1 and est.method == "ais"
    text = str(rec[0].message)
    assert "annealed importance sampling" in text and "method='ais'" in text
    # the same through log_likelihood, again pointing at the caller
    V = run_chains(rbm, 4, 2, random_state=0)
    with pytest.warns(UserWarning, match="Falling back to annealed") as rec:
        ll = log_likelihood(rbm, V, max_states=4, **opts)
    assert len(rec) == 1 and rec[0].filename == __file__
    assert ll.log_partition.method == "ais" and ll.log_partition.value == est.value
    # explicit AIS, and "auto" when exact is feasible, stay silent
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert log_partition(rbm, "ais", max_states=4, **opts).value == est.value
        assert log_partition(rbm).method == "exact"
        assert log_likelihood(rbm, V, "ais", **opts).log_partition.value == est.value
    # a continuous visible layer with too many hidden states: inf visible states
    big = _rbm("gaussian", "bernoulli", seed=1, N=3, M=5)
    with pytest.warns(UserWarning, match="gaussian\\(3\\) has inf states"):
        log_partition(big, max_states=16, **opts)


# ------------------------------------------------------------------ digits

def _digits_rbm(n_hidden, n_iter):
    from sklearn.datasets import load_digits

    from skrbm import ConstrainedRBM

    X = (load_digits().data / 16 > 0.5).astype(np.float64)
    m = ConstrainedRBM(n_hidden, learning_rate=0.01, n_iter=n_iter, random_state=0).fit(X)
    return m.rbm_, X


def test_ais_rais_digits_small():
    rbm, X = _digits_rbm(10, 5)
    exact = rbm.log_partition_exact()
    ais = ais_log_partition(rbm, n_chains=128, n_betas=500, random_state=0)
    rais = rais_log_partition(rbm, X, n_chains=128, n_betas=500, random_state=0)
    assert abs(ais.value - exact) < 0.1 and abs(rais.value - exact) < 0.1
    assert ais.bound <= exact <= rais.bound


@pytest.fixture(scope="module")
def digits20():
    rbm, X = _digits_rbm(20, 20)
    return rbm, X, rbm.log_partition_exact()  # 2**20 hidden states


@pytest.mark.slow
def test_ais_digits_default_accuracy(digits20):
    rbm, X, exact = digits20
    ais = ais_log_partition(rbm, random_state=0)  # documented defaults
    assert abs(ais.value - exact) <= 0.1
    assert ais.stderr < 0.05
    data = ais_log_partition(rbm, base=base_from_data(rbm, X), random_state=0)
    assert abs(data.value - exact) <= 0.1


@pytest.mark.slow
def test_ais_rais_bracket_digits(digits20):
    """The mean-log-weight bounds bracket log Z in (at least) 9 of 10 seeds.

    The logmeanexp values are both within ~2 stderr of log Z; their Jensen bias
    (~var(log w) / 2n) is far below their noise, so they do not order reliably.
    """
    rbm, X, exact = digits20
    ok, errors = 0, []
    for seed in range(10):
        ais = ais_log_partition(rbm, n_betas=1000, random_state=seed)
        rais = rais_log_partition(rbm, X, n_betas=1000, random_state=seed)
        ok += ais.bound <= exact <= rais.bound
        errors += [ais.value - exact, rais.value - exact]
    assert ok >= 9
    assert np.max(np.abs(errors)) < 0.15
