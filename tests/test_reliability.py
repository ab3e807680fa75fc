"""Reliability: property-based robustness, numerical stability and skops persistence.

The property tests draw random shapes, dtypes, unit types, labels, sample weights and
hyperparameters (valid and deliberately invalid) and check that every public method either
succeeds with finite outputs of the right shape and dtype, or refuses with a ValueError or
TypeError whose message says what is wrong.  Nothing else may escape (UserWarnings are
allowed).
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from skrbm import ConstrainedRBM, DisentangledRBM, DivergenceError, LabelErasure

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None, derandomize=True, database=None,
                             suppress_health_check=[HealthCheck.too_slow,
                                                    HealthCheck.data_too_large])

_UNIT = ["bernoulli", "spin", "gaussian", "relu", "drelu", "potts"]
_DTYPES = [np.float32, np.float64, np.int64, np.bool_]


# --------------------------------------------------------------------------------------
# data generation
# --------------------------------------------------------------------------------------
def _valid_data(kind, n, p, rng, q=3):
    if kind == "bernoulli":
        if rng.random() < 0.3:  # probabilities are accepted too
            return rng.random((n, p))
        return (rng.random((n, p)) < 0.4).astype(float)
    if kind == "spin":
        return np.where(rng.random((n, p)) < 0.5, -1.0, 1.0)
    if kind == "gaussian":
        return rng.normal(size=(n, p)) * rng.choice([0.1, 1.0, 10.0])
    if kind == "relu":
        return np.abs(rng.normal(size=(n, p)))
    if kind == "drelu":
        return rng.normal(size=(n, p))
    if kind == "potts":
        return rng.integers(0, q, (n, p)).astype(float)
    raise AssertionError(kind)


_BAD_VALUE = {"bernoulli": 2.0, "spin": 0.0, "relu": -1.0, "potts": 1.5,
              "gaussian": np.nan, "drelu": np.inf, "auto": np.nan}


_DATA_FAULTS = ["value", "nan", "inf", "1d", "empty"]
_PARAM_FAULTS = ["learning_rate", "batch_size", "order", "hidden", "potts_q", "n_released"]
_TARGET_FAULTS = ["no_y", "short_y", "3d_y"]
_WEIGHT_FAULTS = ["sw_zeros", "sw_neg", "sw_nan", "sw_short"]
FAULTS = ["none"] + _DATA_FAULTS + _PARAM_FAULTS + _TARGET_FAULTS + _WEIGHT_FAULTS

# outcome of every example: (fault, "ok" | exception type name); printed by tests/... -s
OUTCOMES = []


@st.composite
def rbm_cases(draw, faults=True):
    """(estimator kind, params, X, y, sample_weight, fault) with at most one fault."""
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    fault = draw(st.sampled_from(["none"] * 12 + FAULTS[1:])) if faults else "none"
    n = draw(st.integers(1, 40))
    p = draw(st.integers(1, 8))
    dtype = draw(st.sampled_from(_DTYPES))
    visible = draw(st.sampled_from(["auto"] + _UNIT + ["potts_q"]))
    data_kind = visible
    q = draw(st.integers(2, 4))
    if visible == "auto":
        data_kind = draw(st.sampled_from(["bernoulli", "spin", "gaussian"]))
    if visible == "potts_q":
        data_kind = "potts"
        visible = ("potts", q + draw(st.integers(0, 1)))
        if fault == "potts_q":
            visible = ("potts", draw(st.sampled_from([1, "x", 2.5])))
    X = _valid_data(data_kind, n, p, rng, q=q)
    if fault == "value":
        key = visible if isinstance(visible, str) else "potts"
        X[rng.integers(n), rng.integers(p)] = _BAD_VALUE[key]
    elif fault == "nan":
        X[rng.integers(n), rng.integers(p)] = np.nan
    elif fault == "inf":
        X[rng.integers(n), rng.integers(p)] = -np.inf
    if not np.isfinite(X).all():
        dtype = draw(st.sampled_from([np.float32, np.float64]))  # NaN cannot be cast to int
    X = X.astype(dtype)
    if fault == "1d":
        X = X[:, 0]
    elif fault == "empty":
        X = X[:0]

    est_kind = draw(st.sampled_from(["constrained"] * 3 + ["disentangled"]))
    if est_kind == "constrained":
        hidden = draw(st.sampled_from(
            _UNIT + [[("spin", 1), ("gaussian", None)], [("bernoulli", 1), ("relu", None)],
                     [("drelu", 1), ("bernoulli", None)]]))
        order = draw(st.sampled_from([0, 0, 1, 2]))
    else:
        hidden = draw(st.sampled_from(["bernoulli", "spin", "gaussian", "relu", "drelu"]))
        order = draw(st.sampled_from([1, 2]))
    if fault == "hidden":
        hidden = draw(st.sampled_from([[("spin", 0)], [("nope", 1)], [("gaussian", 99)],
                                       "nope", [("spin", None), ("relu", None)], 3]))
    if fault == "order":
        order = draw(st.sampled_from([3, -1, 1.5]))
    n_classes = draw(st.integers(1, 3))
    if draw(st.integers(0, 3)) == 0:
        y = rng.integers(0, 2, (n, 2))  # several binary attributes
    else:
        y = rng.integers(0, n_classes, n)
        if draw(st.booleans()):
            y = np.array(["a", "b", "c"])[y]
    if fault == "no_y":
        y = None
    elif fault == "short_y":
        y = y[:-1]
    elif fault == "3d_y":
        y = np.zeros((n, 2, 2))
    sw = draw(st.sampled_from([None, None, "pos", "some_zero"]))
    sw = {None: None, "pos": rng.random(n) + 0.1,
          "some_zero": np.where(np.arange(n) % 2 == 0, 1.0, 0.0)}[sw]
    if fault == "sw_zeros":
        sw = np.zeros(n)
    elif fault == "sw_neg":
        sw = np.r_[-1.0, np.ones(n - 1)]
    elif fault == "sw_nan":
        sw = np.r_[np.nan, np.ones(n - 1)]
    elif fault == "sw_short":
        sw = np.ones(n + 1)
    params = dict(
        n_components=draw(st.integers(1, 6)), visible=visible, hidden=hidden, order=order,
        learning_rate=draw(st.sampled_from([1e-3, 1e-2, 0.1])),
        batch_size=draw(st.sampled_from([1, 3, 16, 64])),
        n_iter=draw(st.integers(0, 3)),
        n_gibbs_steps=draw(st.sampled_from([1, 2])),
        optimizer=draw(st.sampled_from(["adam", "sgd"])),
        center=draw(st.booleans()),
        random_state=seed % 1000,
    )
    if fault == "learning_rate":
        params["learning_rate"] = draw(st.sampled_from([0.0, -1.0, np.nan, "fast"]))
    if fault == "batch_size":
        params["batch_size"] = draw(st.sampled_from([0, -3, 2.5]))
    if order == 2:
        params["second_order"] = draw(st.sampled_from(["exact", "penalty"]))
    if est_kind == "disentangled":
        params["n_released"] = draw(st.integers(1, 2))
        params["released_hidden"] = draw(st.sampled_from([None, "spin", "gaussian"]))
        if fault == "n_released":
            params["n_released"] = draw(st.sampled_from([0, 7, 100]))
    return est_kind, params, X, y, sw, fault


def _expected_dtype(X):
    return np.float32 if X.dtype == np.float32 else np.float64


def _check_error(exc, case):
    # ValueError/TypeError for refused input; DivergenceError when the drawn learning rate
    # really makes training diverge (e.g. gaussian-gaussian models, which are normalisable
    # only while the weights stay below the precisions): it must name what diverged and
    # suggest a smaller learning rate.
    assert isinstance(exc, (ValueError, TypeError, DivergenceError)), (
        f"{type(exc).__name__}: {exc} for case {case!r}")
    msg = str(exc)
    assert len(msg) >= 15, f"uninformative message {msg!r} for case {case!r}"
    if isinstance(exc, DivergenceError):
        assert "iteration" in msg and "learning_rate" in msg, (msg, case)


def _run_estimator(est, X, y, sw, case):
    """Fit and use ``est``; return True on success, False on a clear refusal."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            est.fit(X, y, sample_weight=sw)
        except Exception as exc:  # noqa: BLE001 - classified below
            _check_error(exc, case)
            return type(exc).__name__ + ": " + str(exc)[:100]
        # a successful fit: every method must work on the training data
        n, p = X.shape
        dt = _expected_dtype(X)
        assert np.isfinite(est.components_).all(), case
        H = est.transform(X)
        # hidden Potts units report one column per (unit, state): components_ has the rows
        width = est.n_components * (est.hidden_layer_.size // est.n_components)
        assert H.shape == (n, width) == (n, est.components_.shape[0]), (H.shape, case)
        assert H.dtype == dt, (H.dtype, case)
        assert np.isfinite(H).all(), case
        Xr = est.inverse_transform(H)
        assert Xr.shape == (n, p) and np.isfinite(Xr).all(), case
        s = est.score_samples(X)
        assert s.shape == (n,) and np.isfinite(s).all(), (s, case)
        S = est.sample(3, n_steps=3, random_state=0)
        assert S.shape == (3, p) and np.isfinite(S).all(), case
        assert S.dtype == dt, (S.dtype, case)
        est.visible_layer_.validate(S)  # samples lie in the visible domain
        F = est.free_energy(X)
        assert F.shape == (n,) and np.isfinite(F).all(), case
    return True


def _check_case(case):
    est_kind, params, X, y, sw, fault = case
    cls = ConstrainedRBM if est_kind == "constrained" else DisentangledRBM
    est = cls(**params)
    ok = _run_estimator(est, X, y, sw, case)
    OUTCOMES.append((fault, ok))
    return ok


# derandomized generation favours simple examples: 150 examples (~5 s) reach every fault
@settings(PROPERTY_SETTINGS, max_examples=150)
@given(rbm_cases())
def test_rbm_fit_and_use_succeed_or_refuse_clearly(case):
    _check_case(case)


@PROPERTY_SETTINGS
@given(rbm_cases(faults=False))
def test_rbm_valid_inputs_succeed_or_refuse_clearly(case):
    """Without injected faults, the only refusals are about the labels or n_released."""
    ok = _check_case(case)
    if ok is not True:
        assert any(k in ok for k in ("single class", "distinct value", "released")), ok


@st.composite
def erasure_cases(draw):
    seed = draw(st.integers(0, 2**31 - 1))
    rng = np.random.default_rng(seed)
    n = draw(st.integers(1, 40))
    p = draw(st.integers(1, 8))
    dtype = draw(st.sampled_from(_DTYPES))
    X = _valid_data(draw(st.sampled_from(["bernoulli", "gaussian", "spin"])), n, p, rng)
    if draw(st.integers(0, 5)) == 0:
        X[rng.integers(n), rng.integers(p)] = np.nan
        dtype = np.float64
    X = X.astype(dtype)
    n_classes = draw(st.integers(1, 3))
    y = rng.integers(0, n_classes, n)
    if draw(st.booleans()):
        y = rng.integers(0, 2, (n, 2))
    sw = draw(st.sampled_from([None, "pos", "zero", "neg"]))
    sw = {None: None, "pos": rng.random(n) + 0.1, "zero": np.zeros(n),
          "neg": np.r_[-1.0, np.ones(n - 1)]}[sw]
    params = dict(order=draw(st.sampled_from([1, 2, 0, 3])),
                  n_components=draw(st.sampled_from([None, 1, 3, 0])))
    return params, X, y, sw


@PROPERTY_SETTINGS
@given(erasure_cases())
def test_label_erasure_succeeds_or_refuses_clearly(case):
    params, X, y, sw = case
    est = LabelErasure(**params)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        try:
            est.fit(X, y, sample_weight=sw)
        except Exception as exc:  # noqa: BLE001
            _check_error(exc, case)
            return
        Z = est.transform(X)
        assert Z.shape[0] == X.shape[0] and np.isfinite(Z).all(), case
        assert Z.dtype == _expected_dtype(X), (Z.dtype, case)


# --------------------------------------------------------------------------------------
# stability
# --------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def binary_digits():
    d = load_digits()
    return (d.data / 16 > 0.5).astype(np.float64), d.target


def test_long_fit_on_digits_stays_finite_and_improves(binary_digits):
    X, _ = binary_digits
    one = ConstrainedRBM(16, n_iter=1, random_state=0).fit(X)
    long = ConstrainedRBM(16, n_iter=100, random_state=0).fit(X)
    for est in (one, long):
        assert np.isfinite(est.components_).all()
        assert np.isfinite(est.intercept_visible_).all()
        assert np.isfinite(est.intercept_hidden_).all()
        assert np.isfinite(est.score_samples(X)).all()
    assert long.n_iter_ == 100
    assert long.score(X) > one.score(X) + 1.0


def _extreme_datasets():
    rng = np.random.default_rng(0)
    B = (rng.random((30, 6)) < 0.4).astype(float)
    zero_col = B.copy()
    zero_col[:, [0, 3]] = 0.0
    const_col = B.copy()
    const_col[:, 1] = 1.0
    dup = np.repeat(B[:3], 10, axis=0)
    all_zero = np.zeros((10, 4))
    all_one = np.ones((10, 4))
    G = rng.normal(size=(30, 5))
    G[:, 2] = 3.0  # constant gaussian column (zero variance)
    return {"zero_columns": zero_col, "constant_column": const_col, "duplicated_rows": dup,
            "all_zero": all_zero, "all_one": all_one, "constant_gaussian_column": G,
            "single_row": B[:1]}


@pytest.mark.parametrize("name", sorted(_extreme_datasets()))
@pytest.mark.parametrize("hidden", ["bernoulli", "gaussian", "drelu"])
def test_extreme_but_valid_data_fits_without_nan(name, hidden):
    X = _extreme_datasets()[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = ConstrainedRBM(3, hidden=hidden, n_iter=5, learning_rate=0.05, batch_size=8,
                             random_state=0).fit(X)
    assert np.isfinite(est.components_).all()
    assert np.isfinite(est.transform(X)).all()
    assert np.isfinite(est.score_samples(X)).all()
    assert np.isfinite(est.sample(4, n_steps=5, random_state=0)).all()


@pytest.mark.parametrize("order", [1, 2])
@pytest.mark.parametrize("cls", [ConstrainedRBM, DisentangledRBM])
def test_one_sample_per_class_fits_without_nan(order, cls):
    rng = np.random.default_rng(0)
    X = (rng.random((3, 6)) < 0.5).astype(float)
    y = np.array([0, 1, 2])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = cls(3, order=order, n_iter=5, learning_rate=0.05, random_state=0).fit(X, y)
    assert np.isfinite(est.components_).all()
    assert np.isfinite(est.transform(X)).all()
    assert np.isfinite(est.score_samples(X)).all()


def test_extreme_data_with_labels_order1_constant_and_duplicated():
    rng = np.random.default_rng(1)
    X = (rng.random((20, 5)) < 0.5).astype(float)
    X[:, 0] = 1.0
    X[:, 1] = 0.0
    X = np.vstack([X, X])
    y = np.r_[np.zeros(20), np.ones(20)]  # each row appears in both classes
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = ConstrainedRBM(3, order=1, n_iter=5, learning_rate=0.05,
                             random_state=0).fit(X, y)
    assert np.isfinite(est.components_).all()
    assert np.isfinite(est.score_samples(X)).all()


# --------------------------------------------------------------------------------------
# skops persistence
# --------------------------------------------------------------------------------------
def _skops_roundtrip(est, X):
    sio = pytest.importorskip("skops.io", reason="skops is not installed")
    data = sio.dumps(est)
    untrusted = sio.get_untrusted_types(data=data)
    # only skrbm's own classes and numpy.dtype need trusting (arrays and the numpy
    # Generator of the trainer are trusted by skops by default)
    for t in untrusted:
        assert t.startswith("skrbm.") or t == "numpy.dtype", untrusted
    loaded = sio.loads(data, trusted=untrusted)
    np.testing.assert_array_equal(loaded.transform(X), est.transform(X))
    np.testing.assert_array_equal(loaded.score_samples(X), est.score_samples(X))
    np.testing.assert_array_equal(loaded.sample(5, n_steps=10, random_state=0),
                                  est.sample(5, n_steps=10, random_state=0))
    return loaded, untrusted


@pytest.mark.parametrize("order", [0, 1])
def test_skops_roundtrip(order, binary_digits):
    pytest.importorskip("skops.io", reason="skops is not installed")
    X, y = binary_digits
    X, y = X[:200], (y[:200] % 2)
    est = ConstrainedRBM(6, order=order, n_iter=2, learning_rate=0.01,
                         random_state=0).fit(X, y)
    loaded, untrusted = _skops_roundtrip(est, X)
    expected = {"numpy.dtype", "skrbm._estimators.ConstrainedRBM", "skrbm._layers.Bernoulli",
                "skrbm._rbm.RBM", "skrbm._training.PCDTrainer"}
    if order:
        expected |= {"skrbm._constrained.WeightConstraint", "skrbm._constrained._Group",
                     "skrbm._constraints.FirstOrderProjector"}
    assert set(untrusted) == expected
    # training continues identically after loading
    est.partial_fit(X, y)
    loaded.partial_fit(X, y)
    np.testing.assert_array_equal(est.components_, loaded.components_)


# --------------------------------------------------------------------------------------
# overflow at the edges (found by the property tests; see the reliability report)
# --------------------------------------------------------------------------------------
def test_float64_input_overflowing_a_float32_model_is_refused():
    rng = np.random.default_rng(0)
    est = ConstrainedRBM(3, hidden="gaussian", n_iter=1,
                         random_state=0).fit(rng.normal(size=(30, 5)).astype(np.float32))
    with pytest.raises(ValueError, match="too large for this model's dtype float32"):
        est.transform(np.full((2, 5), 1e300))
    with pytest.raises(ValueError, match="too large for this model's dtype float32"):
        est.inverse_transform(np.full((2, 3), 1e300))
    with pytest.raises(ValueError, match="too large"):
        est.partial_fit(np.full((2, 5), 1e300))
    assert est.transform(np.ones((2, 5))).dtype == np.float32  # ordinary float64 input


def test_values_beyond_the_dtype_arithmetic_are_refused_not_nan():
    """|x| > finfo.max**0.25 would overflow the energies (x**2 terms): refused, never NaN."""
    rng = np.random.default_rng(0)
    est = ConstrainedRBM(3, visible="gaussian", n_iter=1,
                         random_state=0).fit(rng.normal(size=(30, 5)))
    before = est.components_.copy()
    for method in (est.score_samples, est.transform, est.free_energy, est.partial_fit):
        with pytest.raises(ValueError, match="too large for this model's dtype float64"):
            method(np.full((2, 5), 1e300))
    np.testing.assert_array_equal(est.components_, before)  # the failed partial_fit
    with pytest.raises(ValueError, match="too large for this model's dtype float64"):
        ConstrainedRBM(3, visible="gaussian", n_iter=1).fit(np.full((4, 5), 1e100))
    # large but representable values give finite (very negative) scores
    s = est.score_samples(np.full((2, 5), 1e30))
    assert np.isfinite(s).all() and (s < -1e50).all()


def test_runaway_training_is_reported():
    """Finite but runaway weights (SGD at lr=1 on a drelu/gaussian model, which stops
    being normalisable) are a divergence: refused with what diverged, state restored."""
    X = np.random.default_rng(2).normal(size=(30, 4)) * 10
    est = ConstrainedRBM(3, visible="drelu", hidden="gaussian", optimizer="sgd",
                         learning_rate=1.0, n_iter=3, batch_size=8, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(DivergenceError, match="non-normalisable.*iteration 1.*learning_rate"):
            est.fit(X)
    assert not hasattr(est, "rbm_")  # nothing half-fitted is left behind


@pytest.mark.parametrize("order,second_order", [(2, "exact"), (2, "penalty")])
def test_skops_roundtrip_second_order_and_mixed_layers(order, second_order):
    pytest.importorskip("skops.io", reason="skops is not installed")
    rng = np.random.default_rng(0)
    X = rng.integers(0, 3, (80, 6)).astype(np.float32)
    y = rng.integers(0, 2, 80)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        est = ConstrainedRBM(4, visible="potts", hidden=[("spin", 1), ("gaussian", None)],
                             order=order, second_order=second_order, n_iter=2,
                             random_state=0).fit(X, y)
    _, untrusted = _skops_roundtrip(est, X)
    # the second-order constraint keeps a bound method (LabelStatistics.Q_matmul)
    assert "skrbm._label_stats.LabelStatistics.Q_matmul" in untrusted


def test_skops_roundtrip_disentangled():
    pytest.importorskip("skops.io", reason="skops is not installed")
    rng = np.random.default_rng(0)
    X = (rng.random((60, 6)) < 0.4).astype(float)
    y = rng.integers(0, 2, 60)
    est = DisentangledRBM(4, order=1, n_iter=2, random_state=0).fit(X, y)
    _skops_roundtrip(est, X)
