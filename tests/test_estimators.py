"""Behaviour of ConstrainedRBM beyond the common checks."""

import io
import itertools
import pickle
from contextlib import redirect_stdout

import numpy as np
import pytest
from scipy.special import logsumexp
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skrbm import ConstrainedRBM, DivergenceError


@pytest.fixture(scope="module")
def digits01():
    d = load_digits()
    keep = d.target < 2
    return (d.data[keep] / 16 > 0.5).astype(np.float64), d.target[keep]


def _binary(n=60, p=8, seed=0):
    return (np.random.default_rng(seed).random((n, p)) < 0.35).astype(np.float64)


@pytest.mark.parametrize("X,expected", [
    (_binary(), "bernoulli"),
    (2 * _binary() - 1, "spin"),
    (np.random.default_rng(0).normal(size=(30, 4)), "gaussian"),
])
def test_visible_auto_detection(X, expected):
    rbm = ConstrainedRBM(2, n_iter=1, random_state=0).fit(X)
    assert rbm.visible_layer_.name == expected


@pytest.mark.parametrize("visible,X", [
    ("spin", 2 * _binary() - 1),
    ("bernoulli", _binary()),
    ("potts", np.random.default_rng(1).integers(0, 3, (50, 4)).astype(float)),
    (("potts", 4), np.random.default_rng(1).integers(0, 3, (50, 4)).astype(float)),
    ("relu", np.abs(np.random.default_rng(2).normal(size=(40, 3)))),
    ("drelu", np.random.default_rng(3).normal(size=(40, 3))),
])
def test_discrete_visible_conformance(visible, X):
    """What the common checks verify, on data each explicit visible type accepts."""
    est = ConstrainedRBM(3, visible=visible, n_iter=2, batch_size=16, random_state=0)
    a = clone(est).fit(X)
    b = clone(est).fit(X)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))  # idempotent with a seed
    H = a.transform(X)
    assert H.shape == (len(X), 3)
    assert a.n_features_in_ == X.shape[1]
    Xr = a.inverse_transform(H)
    assert Xr.shape == X.shape
    s = a.sample(5, n_steps=3, random_state=0)
    assert s.shape == (5, X.shape[1])
    a.visible_layer_.validate(s)  # samples lie in the visible domain
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(c.transform(X), H)
    np.testing.assert_allclose(c.score_samples(X), a.score_samples(X))
    assert np.isfinite(a.score_samples(X)).all()
    with pytest.raises(ValueError, match="features"):
        a.transform(X[:, :-1])
    assert a.get_feature_names_out().tolist() == ["constrainedrbm0", "constrainedrbm1",
                                                  "constrainedrbm2"]


def test_potts_q_inferred_and_components_layout():
    X = np.random.default_rng(0).integers(0, 3, (40, 5)).astype(float)
    rbm = ConstrainedRBM(2, visible="potts", n_iter=1, random_state=0).fit(X)
    assert rbm.visible_layer_.q == 3
    assert rbm.components_.shape == (2, 15)
    # zero-sum gauge on the weights and fields
    np.testing.assert_allclose(rbm.components_.reshape(2, 5, 3).sum(axis=2), 0, atol=1e-12)
    np.testing.assert_allclose(rbm.intercept_visible_.reshape(5, 3).sum(axis=1), 0,
                               atol=1e-12)


@pytest.mark.parametrize("visible,X,msg", [
    ("bernoulli", np.array([[0.0, 2.0], [1.0, 0.0]]), "outside \\[0, 1\\]"),
    ("spin", np.array([[1.0, 0.0], [1.0, -1.0]]), "only -1 and \\+1"),
    (("potts", 3), np.array([[0.0, 3.0], [1.0, 2.0]]), "0..2"),
    ("potts", np.array([[0.0, 1.5], [1.0, 2.0]]), "integer"),
    ("relu", np.array([[0.0, -1.0], [1.0, 2.0]]), "non-negative"),
])
def test_visible_domain_errors(visible, X, msg):
    with pytest.raises(ValueError, match=msg):
        ConstrainedRBM(2, visible=visible, n_iter=1).fit(X)


def test_exact_loglik_is_normalised():
    X = _binary(40, 5)
    rbm = ConstrainedRBM(3, n_iter=3, learning_rate=0.05, random_state=0).fit(X)
    allv = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    assert logsumexp(rbm.log_likelihood(allv)) == pytest.approx(0.0, abs=1e-10)


def test_score_is_mean_score_samples_and_improves_with_training(digits01):
    X, _ = digits01
    short = ConstrainedRBM(16, n_iter=1, learning_rate=0.01, random_state=0).fit(X)
    long = ConstrainedRBM(16, n_iter=20, learning_rate=0.01, random_state=0).fit(X)
    assert short.score(X) == pytest.approx(np.mean(short.score_samples(X)))
    assert long.score(X) > short.score(X) + 1.0


def test_partial_fit_sequence_equals_fit():
    X = _binary(80, 6)
    est = ConstrainedRBM(3, n_iter=3, batch_size=16, random_state=0)
    full = clone(est).fit(X)
    part = clone(est)
    for _ in range(3):
        part.partial_fit(X)
    assert part.n_iter_ == 3
    np.testing.assert_array_equal(full.components_, part.components_)
    np.testing.assert_array_equal(full.chains_, part.chains_)


def test_warm_start_continues_exactly():
    X = _binary(80, 6)
    full = ConstrainedRBM(3, n_iter=3, batch_size=16, random_state=0).fit(X)
    warm = ConstrainedRBM(3, n_iter=2, batch_size=16, random_state=0, warm_start=True)
    warm.fit(X)
    warm.set_params(n_iter=1).fit(X)
    assert warm.n_iter_ == 3
    np.testing.assert_array_equal(full.components_, warm.components_)
    # without warm_start, fit restarts from scratch
    cold = ConstrainedRBM(3, n_iter=2, batch_size=16, random_state=0).fit(X)
    cold.set_params(n_iter=1).fit(X)
    assert cold.n_iter_ == 1


def test_pickle_then_continue_training_is_identical():
    X = _binary(80, 6)
    a = ConstrainedRBM(3, n_iter=2, batch_size=16, random_state=0).fit(X)
    b = pickle.loads(pickle.dumps(a))
    a.partial_fit(X)
    b.partial_fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)


def test_sample_weight_equals_repetition():
    rng = np.random.default_rng(0)
    X = _binary(30, 6)
    sw = rng.integers(0, 4, len(X))
    rep = np.repeat(X, sw, axis=0)
    perm = rng.permutation(len(X))
    a = ConstrainedRBM(3, n_iter=3, batch_size=8, random_state=0).fit(X[perm],
                                                                     sample_weight=sw[perm])
    b = ConstrainedRBM(3, n_iter=3, batch_size=8, random_state=0).fit(rep)
    np.testing.assert_allclose(a.components_, b.components_, rtol=1e-12, atol=1e-14)


def test_sample_identical_for_any_n_jobs():
    X = _binary(80, 6)
    rbm = ConstrainedRBM(4, n_iter=2, random_state=0).fit(X)
    s1 = rbm.set_params(n_jobs=1).sample(300, n_steps=20, random_state=3)
    s2 = rbm.set_params(n_jobs=2).sample(300, n_steps=20, random_state=3)
    np.testing.assert_array_equal(s1, s2)
    g1 = rbm.set_params(n_jobs=1).gibbs(X, n_steps=5, random_state=1)
    g2 = rbm.set_params(n_jobs=2).gibbs(X, n_steps=5, random_state=1)
    np.testing.assert_array_equal(g1, g2)


def test_same_random_state_same_model():
    X = _binary(80, 6)
    a = ConstrainedRBM(3, n_iter=2, random_state=7).fit(X)
    b = ConstrainedRBM(3, n_iter=2, random_state=7).fit(X)
    c = ConstrainedRBM(3, n_iter=2, random_state=8).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    assert not np.array_equal(a.components_, c.components_)


def test_divergence_is_detected_and_state_kept():
    X = np.random.default_rng(0).normal(size=(200, 5)) * 5
    with pytest.raises(DivergenceError, match="learning_rate") as exc:
        ConstrainedRBM(4, hidden="gaussian", learning_rate=10.0, optimizer="sgd", n_iter=50,
                       random_state=0).fit(X)
    assert "iteration" in str(exc.value)
    # a failed partial_fit leaves the fitted model exactly as it was before that call
    # (earlier, successful calls are kept)

    def state(est):
        return {"components_": est.components_.copy(),
                "intercept_visible_": np.array(est.intercept_visible_, copy=True),
                "intercept_hidden_": np.array(est.intercept_hidden_, copy=True),
                "chains_": est.chains_.copy(),
                "trainer_.chains": est.trainer_.chains.copy(),
                "trainer_.n_updates": est.trainer_.n_updates,
                "n_iter_": est.n_iter_,
                "history_": [dict(h) for h in est.history_]}

    rbm = ConstrainedRBM(4, hidden="gaussian", n_iter=1, random_state=0).fit(X)
    # at this rate a successful call typically precedes the diverging one
    rbm.set_params(learning_rate=0.03, optimizer="sgd")
    for _ in range(50):
        before = state(rbm)
        try:
            rbm.partial_fit(X)
        except DivergenceError:
            break
    else:
        pytest.fail("partial_fit at learning_rate=0.03 did not diverge in 50 calls")
    after = state(rbm)
    assert after.keys() == before.keys()
    for key in before:
        if isinstance(before[key], np.ndarray):
            np.testing.assert_array_equal(after[key], before[key], err_msg=key)
        else:
            assert after[key] == before[key], key
    assert np.isfinite(rbm.components_).all() and rbm.n_iter_ >= 1
    # the restored model trains on normally
    rbm.set_params(learning_rate=1e-3).partial_fit(X)
    assert rbm.n_iter_ == before["n_iter_"] + 1 and np.isfinite(rbm.components_).all()


def test_failed_fit_does_not_change_fitted_state():
    X = _binary(40, 5)
    rbm = ConstrainedRBM(3, n_iter=1, random_state=0).fit(X)
    W = rbm.components_.copy()
    with pytest.raises(ValueError):
        rbm.fit(np.full((10, 5), 3.0), sample_weight=np.ones(9))
    with pytest.raises(ValueError):
        rbm.partial_fit(X[:, :4])
    np.testing.assert_array_equal(rbm.components_, W)


@pytest.mark.parametrize("sw,msg", [
    (np.r_[-1.0, np.ones(9)], "[Nn]egative"),
    (np.zeros(10), "sum|zero"),
    (np.ones(4), "shape|samples"),
    (np.r_[np.nan, np.ones(9)], "NaN|infinity"),
])
def test_sample_weight_errors(sw, msg):
    with pytest.raises(ValueError, match=msg):
        ConstrainedRBM(2, n_iter=1).fit(_binary(10, 4), sample_weight=sw)


def test_verbose_prints_sklearn_style_lines(digits01):
    X, _ = digits01
    buf = io.StringIO()
    with redirect_stdout(buf):
        ConstrainedRBM(4, n_iter=2, verbose=1, random_state=0).fit(X)
    lines = buf.getvalue().strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("[ConstrainedRBM] Iteration 1, pseudo-likelihood = ")
    assert lines[1].endswith("s") and "time = " in lines[1]


def test_mixed_hidden_layer_ising_style():
    X = 2 * _binary(100, 9, seed=4) - 1
    rbm = ConstrainedRBM(5, hidden=[("spin", 1), ("gaussian", None)], n_iter=2,
                         random_state=0).fit(X)
    assert rbm.hidden_layer_.describe() == "[spin(1), gaussian(4)]"
    H = rbm.transform(X)
    assert np.all(np.abs(H[:, 0]) <= 1)
    with pytest.raises(ValueError, match="add up to n_components"):
        ConstrainedRBM(5, hidden=[("spin", 1), ("gaussian", 2)]).fit(X)


def test_pipeline_and_grid_search_over_n_components(digits01):
    X, y = digits01
    pipe = Pipeline([("rbm", ConstrainedRBM(8, learning_rate=0.01, n_iter=5, random_state=0)),
                     ("clf", LogisticRegression(max_iter=1000))])
    search = GridSearchCV(pipe, {"rbm__n_components": [4, 8]}, cv=3).fit(X, y)
    assert search.best_score_ > 0.95
    assert search.predict(X).shape == (len(X),)
    # GridSearchCV on the RBM alone uses score (mean pseudo-likelihood) without a scorer
    gs = GridSearchCV(ConstrainedRBM(learning_rate=0.01, n_iter=3, random_state=0),
                      {"n_components": [2, 8]}, cv=3).fit(X)
    assert gs.best_params_["n_components"] == 8


@pytest.mark.parametrize("hidden", ["gaussian", "relu", "drelu",
                                    [("bernoulli", 1), ("gaussian", None)]])
def test_rescale_hidden_columns_keeps_the_model(hidden):
    from skrbm._training import rescale_hidden_columns

    X = _binary(60, 5)
    rbm = ConstrainedRBM(3, hidden=hidden, n_iter=2, learning_rate=0.05,
                         random_state=0).fit(X).rbm_
    before = rbm.copy()
    rbm.W *= 3.0  # make the columns far from unit norm, then compare P(v) before/after
    before.W *= 3.0
    rescale_hidden_columns(rbm)
    allv = np.array(list(itertools.product([0.0, 1.0], repeat=5)))
    ll_before = -before.free_energy(allv) - before.log_partition_exact()
    ll_after = -rbm.free_energy(allv) - rbm.log_partition_exact()
    np.testing.assert_allclose(ll_after, ll_before, atol=1e-10)
    for lay, a, b in rbm.hidden.groups:
        if lay.continuous:
            np.testing.assert_allclose(np.linalg.norm(rbm.W[:, a:b], axis=0), 1.0)


def test_rescale_hidden_option_gives_unit_columns():
    X = _binary(60, 5)
    rbm = ConstrainedRBM(3, hidden="gaussian", rescale_hidden=True, n_iter=2,
                         random_state=0).fit(X)
    np.testing.assert_allclose(np.linalg.norm(rbm.components_, axis=1), 1.0)


def test_saved_model_carries_version_and_refuses_incompatible():
    import skrbm

    X = _binary(40, 5)
    rbm = ConstrainedRBM(3, n_iter=1, random_state=0).fit(X)
    state = rbm.__getstate__()
    assert state["_skrbm_version"] == skrbm.__version__
    blob = pickle.dumps(rbm)
    np.testing.assert_array_equal(pickle.loads(blob).transform(X), rbm.transform(X))
    state["_skrbm_version"] = "0.0.1"
    new = ConstrainedRBM.__new__(ConstrainedRBM)
    with pytest.raises(ValueError, match="saved with skrbm 0.0.1"):
        new.__setstate__(state)


def test_callback_history_and_early_stop(digits01):
    X, _ = digits01
    seen = []

    def cb(est, it):
        seen.append((it, est.n_iter_, est.components_.copy()))
        return it == 3

    rbm = ConstrainedRBM(4, n_iter=10, callback=cb, random_state=0).fit(X)
    assert [s[0] for s in seen] == [1, 2, 3] and [s[1] for s in seen] == [1, 2, 3]
    assert rbm.n_iter_ == 3 and len(rbm.history_) == 3
    assert not np.array_equal(seen[0][2], seen[2][2])  # the callback sees training progress
    np.testing.assert_array_equal(seen[2][2], rbm.components_)
    assert all(np.isfinite(h["pseudo_likelihood"]) for h in rbm.history_)
    # without verbose/callback the history is still kept (cheaply)
    plain = ConstrainedRBM(4, n_iter=2, random_state=0).fit(X)
    assert [h["iteration"] for h in plain.history_] == [1, 2]
    # partial_fit extends the history
    plain.partial_fit(X)
    assert [h["iteration"] for h in plain.history_] == [1, 2, 3]


def test_verbose_2_reports_phase_times(digits01):
    X, _ = digits01
    buf = io.StringIO()
    with redirect_stdout(buf):
        ConstrainedRBM(4, n_iter=1, verbose=2, random_state=0).fit(X)
    line = buf.getvalue().strip().splitlines()[-1]
    assert line.startswith("[ConstrainedRBM] Iteration 1, pseudo-likelihood = ")
    assert "gibbs+gradient" in line and "update" in line


def test_failing_callback_leaves_previous_state(digits01):
    X, _ = digits01
    rbm = ConstrainedRBM(4, n_iter=2, random_state=0).fit(X)
    W = rbm.components_.copy()

    def boom(est, it):
        raise RuntimeError("stop")

    rbm.set_params(callback=boom)
    with pytest.raises(RuntimeError):
        rbm.fit(X)
    np.testing.assert_array_equal(rbm.components_, W)
    assert rbm.n_iter_ == 2


@pytest.mark.parametrize("make", [
    lambda: ConstrainedRBM(3, n_iter=1, random_state=0),
    lambda: __import__("skrbm").DisentangledRBM(3, order=1, n_iter=1, random_state=0),
    lambda: __import__("skrbm").LabelErasure(),
])
def test_pandas_in_and_out(make):
    pd = pytest.importorskip("pandas")
    X = _binary(60, 5)
    y = (X[:, 0] > 0).astype(int)
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(5)], index=np.arange(60) + 100)
    est = make().set_output(transform="pandas").fit(df, y)
    assert est.feature_names_in_.tolist() == list(df.columns)
    H = est.transform(df)
    assert isinstance(H, pd.DataFrame)
    assert H.columns.tolist() == est.get_feature_names_out().tolist()
    assert H.index.tolist() == df.index.tolist()
