"""Tests for skrbm._erasure.LabelErasure."""

import warnings

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.linalg import null_space
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler
from sklearn.utils.estimator_checks import (
    check_global_output_transform_pandas,
    check_param_validation,
    check_set_output_transform,
    check_set_output_transform_pandas,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    parametrize_with_checks,
)

from skrbm._erasure import (
    LabelErasure,
    _best_isotropic_single,
    _null_space,
    _second_order_greedy,
)
from skrbm._label_stats import label_directions

INSTANCES = [
    LabelErasure(),
    LabelErasure(order=2),
    LabelErasure(order=0),
    LabelErasure(order=2, n_components=2),
]


@pytest.fixture(autouse=True)
def _no_dimension_warnings():
    # the common checks often leave no direction; the warning is tested separately
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*kept no direction.*")
        warnings.filterwarnings("ignore", message="n_components=.* is more than")
        yield


@parametrize_with_checks(INSTANCES)
def test_sklearn_compatible(estimator, check):
    check(estimator)


@pytest.mark.parametrize("estimator", INSTANCES, ids=repr)
@pytest.mark.parametrize(
    "check",
    [
        check_param_validation,
        check_set_output_transform,
        check_set_output_transform_pandas,
        check_global_output_transform_pandas,
        check_transformer_get_feature_names_out,
        check_transformer_get_feature_names_out_pandas,
    ],
)
def test_extra_sklearn_checks(estimator, check):
    pytest.importorskip("pandas")
    check(type(estimator).__name__, estimator)


# ----------------------------------------------------------------------------- helpers
def label_moments(Z, y, sample_weight=None):
    """Correlations <u_c z_k> and normalised third moments <u_c z_k z_l> (t, k, l)."""
    U, _ = label_directions(y, sample_weight=sample_weight)
    w = np.ones(len(Z)) if sample_weight is None else np.asarray(sample_weight, float)
    w = w / w.sum()
    Uc, Zc = U - w @ U, Z - w @ Z
    su, sz = np.sqrt(w @ Uc**2), np.sqrt(w @ Zc**2)
    first = np.einsum("n,nt,nk->tk", w, Uc, Zc) / np.outer(su, sz)
    second = np.einsum("n,nt,nk,nl->tkl", w, Uc, Zc, Zc)
    scale = np.sqrt(np.einsum("n,nt,nk,nl->tkl", w, Uc**2, Zc**2, Zc**2))
    return first, second / scale


def make_data(n=300, N=8, n_classes=2, seed=0, attributes=False):
    rng = np.random.RandomState(seed)
    if attributes:
        y = rng.randint(0, 2, size=(n, 2))
        shift = y @ rng.normal(size=(2, N)) + (y[:, :1] * y[:, 1:]) * rng.normal(size=N)
    else:
        y = rng.randint(0, n_classes, size=n)
        shift = rng.normal(size=(n_classes, N))[y]
    scale = 1.0 + 0.5 * (y if y.ndim == 1 else y[:, 0])[:, None] * rng.uniform(-1, 1, size=N)
    X = rng.normal(size=(n, N)) @ rng.normal(size=(N, N)) * scale + 2.0 * shift
    return X, y


# ---------------------------------------------------------------- defining equations
@pytest.mark.parametrize(
    "kind", ["binary", "three-classes", "attributes", "weighted-binary", "weighted-3"]
)
@pytest.mark.parametrize("order", [1, 2])
def test_defining_equations(kind, order):
    attributes = kind == "attributes"
    n_classes = 3 if kind.endswith("3") or kind == "three-classes" else 2
    X, y = make_data(N=9, n_classes=n_classes, attributes=attributes, seed=order)
    sw = None
    if kind.startswith("weighted"):
        sw = np.random.RandomState(5).uniform(0, 3, size=len(X))
    est = LabelErasure(order=order).fit(X, y, sample_weight=sw)
    Z = est.transform(X)
    T = 2 if (attributes or n_classes == 3) else 1
    assert est.label_directions_.shape == (T, 9)
    assert Z.shape == (len(X), est.n_components_)
    first, second = label_moments(Z, y, sw)
    assert np.abs(first).max() < 1e-10
    if order == 1:
        assert est.n_components_ == 9 - T
        # the data do carry second-order label information: the check can fail
        assert np.abs(second).max() > 1e-2
    else:
        assert np.abs(second).max() < 1e-10
        assert 1 <= est.n_components_ <= (9 - T + 1) // 2 + 1
    # orthonormal components, decreasing variances that match the outputs
    assert_allclose(est.components_ @ est.components_.T, np.eye(est.n_components_), atol=1e-12)
    w = np.ones(len(X)) if sw is None else sw
    var = np.average((Z - np.average(Z, axis=0, weights=w)) ** 2, axis=0, weights=w)
    assert_allclose(est.explained_variance_, var, rtol=1e-10)
    assert np.all(np.diff(est.explained_variance_) <= 1e-12)


def test_order0_is_pca():
    X, y = make_data()
    est = LabelErasure(order=0).fit(X, y)
    pca = PCA().fit(X)
    assert est.n_components_ == X.shape[1]
    assert_allclose(est.explained_variance_, pca.explained_variance_ * (len(X) - 1) / len(X))
    assert_allclose(np.abs(est.components_ @ pca.components_.T), np.eye(X.shape[1]), atol=1e-8)
    assert_allclose(est.explained_variance_ratio_.sum(), 1.0)


def test_order1_keeps_maximal_variance():
    # independent computation: eigenvalues of B^T C B with B = null(q^T)
    X, y = make_data(n_classes=3)
    est = LabelErasure(order=1).fit(X, y)
    U, _ = label_directions(y)
    C = np.cov(X.T, bias=True)
    q = np.array([[np.cov(X[:, i], U[:, t], bias=True)[0, 1] for t in range(2)] for i in range(8)])
    B = null_space(q.T)
    mu = np.sort(np.linalg.eigvalsh(B.T @ C @ B))[::-1]
    assert_allclose(est.explained_variance_, mu, rtol=1e-9)
    assert_allclose(est.label_directions_, q.T, rtol=1e-10, atol=1e-12)
    # n_components keeps the leading directions
    est3 = LabelErasure(order=1, n_components=3).fit(X, y)
    assert_allclose(est3.components_, est.components_[:3], atol=1e-10)


def test_second_order_step_is_globally_optimal():
    # one form: compare with a multistart constrained optimiser
    rng = np.random.RandomState(0)
    for trial in range(3):
        m = 5
        A = rng.normal(size=(m, m))
        C = A @ A.T
        Q = rng.normal(size=(m, m))
        Q = Q + Q.T
        x, _ = _best_isotropic_single(C, Q, 1e-12)
        assert abs(x @ Q @ x) < 1e-12 * np.abs(Q).max()
        assert abs(np.linalg.norm(x) - 1) < 1e-12
        best = -np.inf
        for s in range(15):
            res = minimize(
                lambda v: -(v @ C @ v),
                rng.normal(size=m),
                constraints=[
                    {"type": "eq", "fun": lambda v: v @ v - 1},
                    {"type": "eq", "fun": lambda v: v @ Q @ v},
                ],
                method="SLSQP",
                options={"ftol": 1e-12, "maxiter": 500},
            )
            if res.success and abs(res.x @ Q @ res.x) < 1e-8 and abs(res.x @ res.x - 1) < 1e-8:
                best = max(best, -res.fun)
        assert x @ C @ x >= best - 1e-7 * abs(best)


def test_second_order_subspace_is_maximal():
    # after the greedy loop no direction is left that could extend the isotropic subspace
    rng = np.random.RandomState(1)
    m = 12
    c = np.sort(rng.uniform(0.5, 5.0, size=m))[::-1]
    Q = rng.normal(size=(m, m))
    Q = (Q + Q.T)[None]
    Y = _second_order_greedy(c, Q, m, 1e-12)
    k = Y.shape[0]
    assert_allclose(Y @ Y.T, np.eye(k), atol=1e-12)
    assert np.abs(Y @ Q[0] @ Y.T).max() < 1e-11
    L = _null_space(np.vstack([Y, Y @ Q[0]]))
    if L.shape[1]:
        sig = np.linalg.eigvalsh(L.T @ Q[0] @ L)
        assert sig.min() > 0 or sig.max() < 0  # definite: no isotropic vector left
    assert k >= 3


def test_zero_variance_directions_are_dropped():
    X, y = make_data(N=6)
    X = np.c_[X, np.full(len(X), 3.0), X[:, :2] @ [1.0, -2.0], np.zeros(len(X))]
    for order in (0, 1, 2):
        est = LabelErasure(order=order).fit(X, y)
        assert est.explained_variance_.min() > 1e-3 * est.explained_variance_.max()
        assert est.n_components_ <= 6 - (order > 0)


def test_digits_standard_scaler_does_not_revive_erased_label():
    # LEACE + StandardScaler + LogisticRegression recovers 0.835 on this task through
    # floating-point residue on constant pixels; erased directions must be dropped here.
    digits = load_digits()
    X = (digits.data / 16 > 0.5).astype(float)
    y = (digits.target >= 5).astype(int)
    chance = max(y.mean(), 1 - y.mean())
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    pipe = make_pipeline(
        LabelErasure(order=1), StandardScaler(), LogisticRegression(max_iter=2000)
    )
    acc = cross_val_score(pipe, X, y, cv=cv).mean()
    base = cross_val_score(
        make_pipeline(LabelErasure(order=0), StandardScaler(), LogisticRegression(max_iter=2000)),
        X,
        y,
        cv=cv,
    ).mean()
    print(f"digits>=5 linear probe: order0 {base:.4f}, order1 {acc:.4f}, chance {chance:.4f}")
    assert base > 0.8
    assert abs(acc - chance) <= 0.02
    est = LabelErasure(order=1).fit(X, y)
    lam_max = np.linalg.eigvalsh(np.cov(X.T, bias=True)).max()
    assert est.explained_variance_.min() > 1e-8 * lam_max
    assert est.n_components_ < X.shape[1] - 1  # constant pixels are gone


def test_digits_quadratic_probe():
    digits = load_digits()
    X = (digits.data / 16 > 0.5).astype(float)
    y = (digits.target >= 5).astype(int)
    chance = max(y.mean(), 1 - y.mean())
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    acc = {}
    for order in (1, 2):
        pipe = make_pipeline(
            LabelErasure(order=order),
            PolynomialFeatures(2),
            StandardScaler(),
            LogisticRegression(max_iter=300),
        )
        acc[order] = cross_val_score(pipe, X, y, cv=cv).mean()
    n_out = LabelErasure(order=2).fit(X, y).n_components_
    print(
        f"digits>=5 quadratic probe: order1 {acc[1]:.4f}, order2 {acc[2]:.4f}, "
        f"chance {chance:.4f}, order-2 outputs {n_out}"
    )
    assert acc[1] - chance > 0.2  # the quadratic probe does find the label after order 1
    assert acc[2] - chance <= 0.6 * (acc[1] - chance)
    assert n_out >= 8


def test_pipeline_and_grid_search():
    X, y = make_data(n=240, N=6)
    pipe = Pipeline([("erasure", LabelErasure()), ("clf", LogisticRegression())])
    gs = GridSearchCV(pipe, {"erasure__order": [0, 1, 2]}, cv=3).fit(X, y)
    scores = gs.cv_results_["mean_test_score"]
    assert gs.best_params_ == {"erasure__order": 0}
    assert scores[0] > 0.9
    assert scores[1] < 0.75 and scores[2] < 0.75


def test_n_components_more_than_available_warns():
    X, y = make_data(N=5, n_classes=3)
    with pytest.warns(UserWarning, match="n_components=5 is more than the 3 direction"):
        est = LabelErasure(order=1, n_components=5).fit(X, y)
    assert est.n_components_ == 3


def test_nothing_left_gives_zero_columns():
    y = np.repeat([0, 1, 2], 10)
    X = np.eye(3)[y]  # the features are the label: nothing survives erasure
    with pytest.warns(UserWarning, match="kept no direction"):
        est = LabelErasure(order=1).fit(X, y)
    assert est.transform(X).shape == (30, 0)
    assert est.get_feature_names_out().shape == (0,)


def test_single_class_raises():
    X = np.random.RandomState(0).normal(size=(10, 3))
    with pytest.raises(ValueError, match="only one class"):
        LabelErasure().fit(X, np.ones(10))
    with pytest.raises(ValueError, match="only one class"):
        LabelErasure().fit(X, np.arange(10) % 2, sample_weight=np.arange(10) % 2)


def test_float32_preserved_and_close():
    X, y = make_data(N=7)
    for order in (0, 1, 2):
        e64 = LabelErasure(order=order).fit(X, y)
        e32 = LabelErasure(order=order).fit(X.astype(np.float32), y)
        Z32 = e32.transform(X.astype(np.float32))
        assert Z32.dtype == np.float32 and e32.components_.dtype == np.float32
        assert e32.n_components_ == e64.n_components_
        assert_allclose(Z32, e64.transform(X), rtol=1e-3, atol=1e-3 * np.abs(Z32).max())


@pytest.mark.parametrize("n_classes", [2, 3])
def test_sample_weight_equivalence_order2(n_classes):
    X, y = make_data(n=60, N=7, n_classes=n_classes, seed=3)
    sw = np.random.RandomState(0).randint(0, 4, size=len(X))
    a = LabelErasure(order=2).fit(X, y, sample_weight=sw)
    b = LabelErasure(order=2).fit(np.repeat(X, sw, axis=0), np.repeat(y, sw))
    assert a.n_components_ == b.n_components_ >= 1
    assert_allclose(a.transform(X), b.transform(X), rtol=1e-7, atol=1e-9)


def test_string_and_attribute_labels():
    X, y = make_data(N=6)
    names = np.array(["cat", "dog"])[y]
    a = LabelErasure(order=2).fit(X, y)
    b = LabelErasure(order=2).fit(X, names)
    assert_allclose(a.transform(X), b.transform(X))
    assert list(b.classes_) == ["cat", "dog"]
    assert b.direction_names_ == ["y == dog"]
    Xa, ya = make_data(N=8, attributes=True)
    est = LabelErasure(order=1).fit(Xa, ya)
    assert len(est.classes_) == 2 and est.n_components_ == 6
