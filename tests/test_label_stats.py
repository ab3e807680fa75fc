"""Tests for skrbm._label_stats: label directions and first/second-order statistics."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from skrbm._label_stats import DEFAULT_MAX_BYTES, LabelStatistics, label_directions


# ----------------------------------------------------------------------------- helpers
def _brute_stats(X, U, w=None):
    """Direct, loop-based weighted statistics (independent of the implementation)."""
    X = np.asarray(X, dtype=np.float64)
    n, N = X.shape
    w = np.ones(n) if w is None else np.asarray(w, dtype=np.float64)
    p = w / w.sum()
    vm = sum(p[s] * X[s] for s in range(n))
    um = sum(p[s] * U[s] for s in range(n))
    T = U.shape[1]
    q = np.zeros((N, T))
    Q = np.zeros((T, N, N))
    for s in range(n):
        dv, du = X[s] - vm, U[s] - um
        q += p[s] * np.outer(dv, du)
        for t in range(T):
            Q[t] += p[s] * du[t] * np.outer(dv, dv)
    return vm, um, q, Q


@pytest.fixture
def data():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(40, 6))
    y = rng.randint(0, 3, size=40)
    w = rng.uniform(0.5, 2.0, size=40)
    return X, y, w


# ------------------------------------------------------------------- label_directions
def test_binary_labels_indicator_of_second_class():
    U, info = label_directions(["no", "yes", "yes", "no"])
    assert_array_equal(U, [[0.0], [1.0], [1.0], [0.0]])
    assert_array_equal(info["classes_"], ["no", "yes"])
    assert info["names"] == ["y == yes"]
    assert info["kind"] == "binary"


def test_multiclass_labels_drop_first_class():
    y = np.array([2, 0, 1, 2, 1])
    U, info = label_directions(y)
    assert U.shape == (5, 2)
    assert_array_equal(U[:, 0], y == 1)
    assert_array_equal(U[:, 1], y == 2)
    assert_array_equal(info["classes_"], [0, 1, 2])
    assert info["kind"] == "multiclass"


def test_multi_attribute_labels_indicator_of_larger_value():
    y = np.array([[0, 5], [1, 5], [1, 7], [0, 7]])
    U, info = label_directions(y)
    assert_array_equal(U, [[0, 0], [1, 0], [1, 1], [0, 1]])
    assert info["kind"] == "multi-attribute"
    assert_array_equal(info["classes_"][1], [5, 7])
    assert info["names"] == ["y[:, 0] == 1", "y[:, 1] == 7"]


def test_column_vector_is_one_dimensional():
    U1, _ = label_directions(np.array([0, 1, 2, 1]))
    U2, _ = label_directions(np.array([[0], [1], [2], [1]]))
    assert_array_equal(U1, U2)


@pytest.mark.parametrize(
    "labels, match",
    [
        ([0.0, np.nan, 1.0], "NaN"),
        ([0.0, np.inf, 1.0], "infinity"),
        (np.array(["a", None, "b"], dtype=object), "missing"),
        ([1 + 1j, 0j, 1j], "Complex"),
        ([3, 3, 3], "single class"),
        ([0.5, 1.5, 0.25], "continuous"),
        (np.array([[0, 1], [1, 1], [2, 1]]), "column 0 takes 3"),
        (np.array([[0, 1], [1, 1], [1, 1]]), "column 1 takes 1"),
        (np.zeros((2, 2, 2)), "1-D"),
        ([], "empty"),
    ],
)
def test_label_errors(labels, match):
    with pytest.raises(ValueError, match=match):
        label_directions(labels)


def test_sample_weight_length_and_zero_weight_class():
    with pytest.raises(ValueError, match="expected \\(3,\\)"):
        label_directions([0, 1, 1], sample_weight=[1.0, 2.0])
    with pytest.raises(ValueError, match="weights are zero"):
        label_directions([0, 1, 1], sample_weight=[0.0, 0.0, 0.0])
    # a class carried only by zero-weight samples does not count
    U, info = label_directions([0, 1, 2, 2], sample_weight=[1.0, 0.0, 1.0, 1.0])
    assert_array_equal(info["classes_"], [0, 2])
    assert_array_equal(U[:, 0], [0, 0, 1, 1])
    with pytest.raises(ValueError, match="single class"):
        label_directions([0, 1, 1], sample_weight=[0.0, 1.0, 2.0])


# -------------------------------------------------------------------- LabelStatistics
@pytest.mark.parametrize("q_form", ["explicit", "implicit"])
def test_statistics_match_brute_force(data, q_form):
    X, y, w = data
    U, _ = label_directions(y)
    vm, um, q, Q = _brute_stats(X, U, w)
    st = LabelStatistics(X, U, w, q_form=q_form)
    assert st.q_form_ == q_form
    assert_allclose(st.v_mean_, vm, rtol=1e-12, atol=1e-14)
    assert_allclose(st.u_mean_, um, rtol=1e-12, atol=1e-14)
    assert_allclose(st.q_, q, rtol=1e-11, atol=1e-14)
    W = np.random.RandomState(1).normal(size=(6, 3))
    assert_allclose(st.Q_matmul(W), Q @ W, rtol=1e-11, atol=1e-13)
    assert_allclose(st.quadratic_form(W), W.T[None] @ Q @ W, rtol=1e-11, atol=1e-13)
    assert_allclose(st.Q_dense(), Q, rtol=1e-11, atol=1e-14)
    assert_allclose(st.covariance(), np.cov(X.T, aweights=w, bias=True), rtol=1e-12)


def test_integer_weights_equal_repetition(data):
    X, y, _ = data
    reps = np.random.RandomState(2).randint(0, 4, size=len(y))
    U, _ = label_directions(y, sample_weight=reps)
    a = LabelStatistics(X, U, reps)
    U2, _ = label_directions(np.repeat(y, reps))
    b = LabelStatistics(np.repeat(X, reps, axis=0), U2)
    assert_allclose(a.q_, b.q_, rtol=1e-12, atol=1e-15)
    assert_allclose(a.Q_dense(), b.Q_dense(), rtol=1e-12, atol=1e-15)


def test_q_form_auto_choice_and_budget():
    rng = np.random.RandomState(0)
    U = rng.randint(0, 2, size=(200, 1)).astype(float)
    # many samples, few features: the dense Q is small and cheaper
    assert LabelStatistics(rng.normal(size=(200, 10)), U).q_form_ == "explicit"
    # few samples, many features: N^2 > n (2N + T), implicit is cheaper
    U20 = U[:20]
    st = LabelStatistics(rng.normal(size=(20, 300)), U20)
    assert st.q_form_ == "implicit"
    assert st._Q is None
    # over the memory budget: auto is implicit and Q_dense refuses unless forced
    st = LabelStatistics(rng.normal(size=(200, 10)), U, max_bytes=100)
    assert st.q_form_ == "implicit"
    with pytest.raises(ValueError, match="max_bytes=100"):
        st.Q_dense()
    assert st.Q_dense(force=True).shape == (1, 10, 10)
    assert DEFAULT_MAX_BYTES == 256 * 2**20
    # explicit is honoured when asked
    assert LabelStatistics(rng.normal(size=(20, 300)), U20, q_form="explicit").q_form_ == (
        "explicit"
    )


def test_float32_preserved():
    rng = np.random.RandomState(0)
    X = rng.normal(size=(50, 5)).astype(np.float32)
    U = rng.randint(0, 2, size=(50, 2)).astype(float)
    for q_form in ("explicit", "implicit"):
        st = LabelStatistics(X, U, q_form=q_form)
        W = rng.normal(size=(5, 2)).astype(np.float32)
        for arr in (st.v_mean_, st.q_, st.Q_matmul(W), st.quadratic_form(W), st.Q_dense()):
            assert arr.dtype == np.float32
        ref = LabelStatistics(X.astype(np.float64), U, q_form=q_form)
        assert_allclose(st.Q_matmul(W), ref.Q_matmul(W.astype(np.float64)), rtol=1e-4, atol=1e-5)


def test_raw_third_moment_agrees_on_first_order_subspace(data):
    # method.md: on weights with q^T W = 0 the raw form <u v v> - <u><v v> gives the same
    # quadratic form as the centred Q.
    X, y, _ = data
    X = X + 3.0  # non-zero mean, so the two forms differ in general
    U, _ = label_directions(y)
    st = LabelStatistics(X, U)
    W = np.random.RandomState(3).normal(size=(6, 4))
    Qo, _ = np.linalg.qr(st.q_)
    W_perp = W - Qo @ (Qo.T @ W)
    raw = np.einsum("nt,ni,nj->tij", U, X, X) / len(X) - np.einsum(
        "t,ij->tij", U.mean(0), X.T @ X / len(X)
    )
    assert_allclose(W_perp.T[None] @ raw @ W_perp, st.quadratic_form(W_perp), atol=1e-10)
    assert not np.allclose(W.T[None] @ raw @ W, st.quadratic_form(W), atol=1e-3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(q_form="dense"), "q_form"),
        (dict(max_bytes=-1), "max_bytes"),
        (dict(sample_weight=np.zeros(10)), "weights are zero"),
        (dict(sample_weight=np.ones(3)), "expected \\(10,\\)"),
    ],
)
def test_statistics_errors(kwargs, match):
    X = np.random.RandomState(0).normal(size=(10, 3))
    U = np.arange(10)[:, None] % 2
    with pytest.raises(ValueError, match=match):
        LabelStatistics(X, U, **kwargs)


def test_statistics_shape_errors():
    X = np.zeros((10, 3))
    with pytest.raises(ValueError, match="n_samples = 10"):
        LabelStatistics(X, np.zeros((9, 1)))
    with pytest.raises(ValueError, match="2-D"):
        LabelStatistics(np.zeros(10), np.zeros((10, 1)))
    st = LabelStatistics(X, np.arange(10)[:, None] % 2)
    with pytest.raises(ValueError, match="n_features = 3"):
        st.Q_matmul(np.zeros((4, 2)))
    X[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        LabelStatistics(X, np.zeros((10, 1)))
