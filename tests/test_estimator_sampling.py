"""Likelihood estimators and samplers through the estimator API, and Dask execution."""

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skrbm import ConstrainedRBM


@pytest.fixture(scope="module")
def digits_model():
    X = (load_digits().data / 16 > 0.5).astype(float)
    return ConstrainedRBM(10, learning_rate=0.01, n_iter=5, random_state=0).fit(X), X


def test_log_partition_methods_agree(digits_model):
    rbm, X = digits_model
    exact, se = rbm.log_partition("exact", return_stderr=True)
    assert se == 0.0
    assert rbm.log_partition() == exact  # auto = exact when feasible
    ais, ais_se = rbm.log_partition("ais", n_chains=64, n_betas=2000, random_state=0,
                                    return_stderr=True)
    rais, rais_se = rbm.log_partition("rais", X=X[:64], n_chains=64, n_betas=2000,
                                      random_state=0, return_stderr=True)
    assert abs(ais - exact) < 0.1 and ais_se > 0
    assert abs(rais - exact) < 0.1 and rais_se > 0


def test_log_likelihood_with_stderr(digits_model):
    rbm, X = digits_model
    ll, se = rbm.log_likelihood(X[:20], method="ais", n_chains=32, n_betas=500,
                                random_state=0, return_stderr=True)
    exact = rbm.log_likelihood(X[:20], method="exact")
    assert ll.shape == (20,) and se > 0
    np.testing.assert_allclose(ll, exact, atol=0.3)
    # the same shift for every sample: only log Z is estimated
    assert np.ptp(ll - exact) < 1e-9


def test_auto_log_partition_warns_when_it_falls_back_to_ais(digits_model):
    import warnings

    _, X = digits_model
    # 64 binary visible and 24 binary hidden units: neither layer can be enumerated
    big = ConstrainedRBM(24, learning_rate=0.01, n_iter=1, random_state=0).fit(X[:100])
    opts = dict(n_chains=8, n_betas=20, random_state=0)
    with pytest.warns(UserWarning, match=r"bernoulli\(24\) has 1\.68e\+07.*Falling back") as rec:
        auto = big.log_partition(**opts)
    assert len(rec) == 1 and rec[0].filename == __file__
    with pytest.warns(UserWarning, match="method='ais' to silence") as rec:
        ll = big.log_likelihood(X[:5], **opts)
    assert len(rec) == 1 and rec[0].filename == __file__
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert big.log_partition("ais", **opts) == auto
        np.testing.assert_allclose(big.log_likelihood(X[:5], "ais", **opts), ll)


def test_parallel_tempering_through_estimator(digits_model):
    rbm, _ = digits_model
    s, info = rbm.sample(30, method="pt", n_temperatures=4, n_steps=20, random_state=0,
                         return_info=True)
    assert s.shape == (30, 64) and set(np.unique(s)) <= {0.0, 1.0}
    assert len(info["acceptance_rates"]) == 3
    assert np.all((info["acceptance_rates"] >= 0) & (info["acceptance_rates"] <= 1))
    with pytest.raises(ValueError, match="method"):
        rbm.sample(3, method="hmc")


def test_dask_cluster_gives_local_results():
    distributed = pytest.importorskip(
        "distributed", reason="dask.distributed is not installed (pip install 'skrbm[distributed]')")
    import joblib

    d = load_digits()
    keep = d.target < 2
    X = (d.data[keep] / 16 > 0.5).astype(float)
    y = d.target[keep]
    pipe = Pipeline([("rbm", ConstrainedRBM(6, learning_rate=0.01, n_iter=3, random_state=0)),
                     ("clf", LogisticRegression(max_iter=500))])
    grid = {"rbm__order": [0, 1, 2]}
    local = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    rbm = ConstrainedRBM(8, learning_rate=0.01, n_iter=2, random_state=0, n_jobs=2).fit(X)
    ais_local = rbm.log_partition("ais", n_chains=128, n_betas=300, random_state=0)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster):
        with joblib.parallel_backend("dask"):
            remote = GridSearchCV(pipe, grid, cv=3, n_jobs=-1).fit(X, y)
            ais_remote = rbm.log_partition("ais", n_chains=128, n_betas=300, random_state=0)
    np.testing.assert_allclose(remote.cv_results_["mean_test_score"],
                               local.cv_results_["mean_test_score"])
    assert ais_remote == ais_local
