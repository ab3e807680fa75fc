"""Tests of skrbm._constraints (first- and second-order label constraints on W)."""

import tracemalloc

import numpy as np
import pytest
import scipy.sparse

from skrbm._constraints import (
    DataQMatmul,
    ExactSecondOrderStepper,
    ExplicitQMatmul,
    FirstOrderProjector,
    SecondOrderConstraint,
    label_covariance,
    max_isotropic_dim_estimate,
)

# ---------------------------------------------------------------------------------------
# problem builders
# ---------------------------------------------------------------------------------------


def random_sym(rng, N, T):
    """Random symmetric indefinite matrices, shape (T, N, N)."""
    G = rng.standard_normal((T, N, N))
    return (G + G.transpose(0, 2, 1)) / 2


def categorical_labels(rng, n, T):
    """``T`` one-hot indicator columns of a categorical label with ``T + 1`` classes."""
    y = rng.integers(0, T + 1, size=n)
    return (y[:, None] == np.arange(T)[None]).astype(float)


def data_problem(rng, n, N, T, p=0.3):
    X = (rng.random((n, N)) < p).astype(float)
    U = categorical_labels(rng, n, T)
    return X, U


def make_problem(kind, T, rng, N=40, n_q=2):
    """(constraint, first-order projector, dense Q) for an explicit or data-defined Q."""
    if kind == "explicit":
        Q = random_sym(rng, N, T)
        q = rng.standard_normal((N, n_q))
        fo = FirstOrderProjector(q)
        con = SecondOrderConstraint(Q, fo)
        return con, fo, Q
    X, U = data_problem(rng, 400, N, T)
    qm = DataQMatmul(X, U)
    fo = FirstOrderProjector(qm.first_order_directions())
    con = SecondOrderConstraint(qm, fo)
    return con, fo, qm.dense()


def A_matrices(Q, fo, W):
    """Dense reference ``A_t = P Q^t W``."""
    A = np.matmul(Q, W)
    return np.stack([fo.project(a) for a in A])


def linearised_residual(Q, fo, W, X):
    """max_t ||A_t^T X + X^T A_t||_max relative to ||A_t||_F ||X||_F."""
    out = 0.0
    for A in A_matrices(Q, fo, W):
        M = A.T @ X + X.T @ A
        out = max(out, np.max(np.abs(M)) / (np.linalg.norm(A) * np.linalg.norm(X)))
    return out


def feasible_W(con, rng, N, m):
    return con.project_initial(rng.standard_normal((N, m)))


# ---------------------------------------------------------------------------------------
# first order
# ---------------------------------------------------------------------------------------


def test_first_order_project_residual_idempotent_orthogonal():
    rng = np.random.default_rng(0)
    N, T, m = 50, 3, 7
    q = rng.standard_normal((N, T))
    fo = FirstOrderProjector(q)
    assert fo.rank_ == 3 and fo.null_dim == N - 3
    W = rng.standard_normal((N, m)) * 5
    PW = fo.project(W)
    abs_res, rel_res = fo.residual(PW)
    assert rel_res < 1e-12
    assert np.max(np.abs(q.T @ PW)) < 1e-12 * np.linalg.norm(q) * np.linalg.norm(W)
    # before projection the residual is O(1)
    assert fo.residual(W)[1] > 1e-2
    # idempotent
    np.testing.assert_allclose(fo.project(PW), PW, atol=1e-13 * np.abs(W).max())
    # orthogonal: <G - PG, PH> = 0
    G, H = rng.standard_normal((2, N, m))
    inner = np.sum((G - fo.project(G)) * fo.project(H))
    assert abs(inner) < 1e-12 * np.linalg.norm(G) * np.linalg.norm(H)
    # same as the textbook formula W - q (q^+ W)
    np.testing.assert_allclose(PW, W - q @ (np.linalg.pinv(q) @ W), atol=1e-12)
    np.testing.assert_allclose(fo.pinv_, np.linalg.pinv(q), atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_first_order_project_layouts_and_outputs(dtype):
    """In place, into another array, from Fortran-ordered or strided input, with no
    columns: always the textbook ``W - q (q^+ W)`` in W's dtype, input untouched unless
    it is the output."""
    rng = np.random.default_rng(3)
    N, m = 40, 6
    q = rng.standard_normal((N, 2))
    fo = FirstOrderProjector(q)
    W = rng.standard_normal((N, 2 * m)).astype(dtype)
    ref = W.astype(np.float64) - q @ (np.linalg.pinv(q) @ W.astype(np.float64))
    tol = 1e-12 if dtype == np.float64 else 1e-5
    for src in (W, np.asfortranarray(W)):
        keep = src.copy()
        got = fo.project(src)
        assert got.dtype == dtype and not np.shares_memory(got, src)
        np.testing.assert_allclose(got, ref, atol=tol * np.abs(W).max())
        np.testing.assert_array_equal(src, keep)
    strided = W[:, ::2]
    np.testing.assert_allclose(fo.project(strided), ref[:, ::2], atol=tol * np.abs(W).max())
    out = np.empty_like(W)
    assert fo.project(W, out=out) is out
    np.testing.assert_allclose(out, ref, atol=tol * np.abs(W).max())
    for inplace in (W.copy(), np.asfortranarray(W)):
        assert fo.project(inplace, out=inplace) is inplace
        np.testing.assert_allclose(inplace, ref, atol=tol * np.abs(W).max())
    assert fo.project(np.zeros((N, 0), dtype=dtype)).shape == (N, 0)


def test_first_order_rank_deficient_and_zero_directions():
    rng = np.random.default_rng(1)
    N, m = 30, 4
    q1, q2 = rng.standard_normal((2, N))
    q = np.stack([q1, q2, q1 - 2 * q2, np.zeros(N), 1e-18 * q1], axis=1)
    fo = FirstOrderProjector(q)
    assert fo.rank_ == 2
    assert fo.null_dim == N - 2
    assert fo.basis_.shape == (N, 2)
    W = rng.standard_normal((N, m))
    PW = fo.project(W)
    assert fo.residual(PW)[1] < 1e-12
    assert np.max(np.abs(q.T @ PW)) < 1e-12 * np.abs(W).max() * np.linalg.norm(q)
    # rank deficiency does not remove more than the span of q
    np.testing.assert_allclose(PW, W - q[:, :2] @ np.linalg.lstsq(q[:, :2], W, rcond=None)[0],
                               atol=1e-12)


def test_first_order_inplace_float32_and_trivial():
    rng = np.random.default_rng(2)
    N, m = 20, 5
    q = rng.standard_normal((N, 2))
    fo = FirstOrderProjector(q)
    W = rng.standard_normal((N, m))
    expected = fo.project(W)
    out = fo.project(W, out=W)
    assert out is W
    np.testing.assert_allclose(W, expected, atol=1e-14)

    W32 = rng.standard_normal((N, m)).astype(np.float32)
    P32 = fo.project(W32)
    assert P32.dtype == np.float32
    assert fo.residual(P32)[1] < 1e-6

    fo0 = FirstOrderProjector(np.zeros((N, 1)))
    assert fo0.rank_ == 0 and fo0.null_dim == N
    np.testing.assert_array_equal(fo0.project(W), W)

    with pytest.raises(ValueError, match="rows"):
        fo.project(rng.standard_normal((N + 1, m)))


def test_label_covariance_matches_weighted_covariance():
    rng = np.random.default_rng(3)
    n, N, T = 200, 12, 3
    X, U = data_problem(rng, n, N, T)
    w = rng.random(n)
    q = label_covariance(X, U, sample_weight=w)
    wn = w / w.sum()
    expected = (X * wn[:, None]).T @ U - np.outer(wn @ X, wn @ U)
    np.testing.assert_allclose(q, expected, atol=1e-13)


# ---------------------------------------------------------------------------------------
# Q builders
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("sparse", [False, True])
def test_data_qmatmul_matches_dense_formula(sparse):
    rng = np.random.default_rng(4)
    n, N, T, m = 150, 15, 2, 4
    X, U = data_problem(rng, n, N, T)
    w = rng.random(n)
    wn = w / w.sum()
    Xc = X - wn @ X
    Uc = U - wn @ U
    Q = np.stack([Xc.T @ (wn[:, None] * Uc[:, [t]] * Xc) for t in range(T)])
    qm = DataQMatmul(scipy.sparse.csr_matrix(X) if sparse else X, U, sample_weight=w,
                     batch_size=17)
    W = rng.standard_normal((N, m))
    np.testing.assert_allclose(qm(W), Q @ W, atol=1e-12)
    np.testing.assert_allclose(qm.dense(), Q, atol=1e-12)
    W32 = W.astype(np.float32)
    assert qm(W32).dtype == np.float32
    np.testing.assert_allclose(ExplicitQMatmul(Q)(W), Q @ W, atol=1e-12)


# ---------------------------------------------------------------------------------------
# second order: tangent projection
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["explicit", "data"])
@pytest.mark.parametrize("T", [1, 3])
def test_tangent_project_is_orthogonal_projection(kind, T):
    rng = np.random.default_rng(10 + T)
    N, m = 40, 6
    con, fo, Q = make_problem(kind, T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    assert con.residual(W)[1] < 1e-10
    G, H0 = rng.standard_normal((2, N, m))
    X = con.tangent_project(W, G)
    H = con.tangent_project(W, H0)
    scale = np.linalg.norm(G)
    # first-order subspace and linearised second-order constraints
    assert fo.residual(X)[1] < 1e-12
    assert linearised_residual(Q, fo, W, X) < 1e-10
    # idempotent
    assert np.linalg.norm(con.tangent_project(W, X) - X) < 1e-10 * scale
    # residual orthogonal to the tangent space, and self-adjoint
    assert abs(np.sum((G - X) * H)) < 1e-10 * scale * np.linalg.norm(H0)
    assert abs(np.sum(X * H0) - np.sum(G * H)) < 1e-10 * scale * np.linalg.norm(H0)
    # it removes something (the normal space is not trivial)
    assert np.linalg.norm(G - X) > 1e-3 * scale
    # in-place output
    G2 = G.copy()
    assert con.tangent_project(W, G2, out=G2) is G2
    np.testing.assert_allclose(G2, X, atol=1e-10 * np.abs(X).max())


def test_tangent_project_gram_and_stack_paths_agree():
    rng = np.random.default_rng(20)
    N, m, T = 40, 6, 3
    Q = random_sym(rng, N, T)
    fo = FirstOrderProjector(rng.standard_normal((N, 2)))
    con_g = SecondOrderConstraint(Q, fo, gram=True)
    con_s = SecondOrderConstraint(Q, fo, gram=False)
    W = feasible_W(con_g, rng, N, m)
    G = rng.standard_normal((N, m))
    Xg = con_g.tangent_project(W, G)
    Xs = con_s.tangent_project(W, G)
    np.testing.assert_allclose(Xg, Xs, atol=1e-10 * np.abs(G).max())


@pytest.mark.parametrize("T", [1, 3])
def test_tangent_project_rank_deficient_A(T):
    """Zero and duplicated hidden units make A^T A singular (pseudo-inverse path)."""
    rng = np.random.default_rng(30 + T)
    N, m = 40, 6
    con, fo, Q = make_problem("explicit", T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    W[:, 0] = 0.0
    W[:, 1] = W[:, 2]
    assert con.residual(W)[1] < 1e-10
    G = rng.standard_normal((N, m))
    X = con.tangent_project(W, G)
    assert np.all(np.isfinite(X))
    assert linearised_residual(Q, fo, W, X) < 1e-10
    assert np.linalg.norm(con.tangent_project(W, X) - X) < 1e-10 * np.linalg.norm(G)
    H = con.tangent_project(W, rng.standard_normal((N, m)))
    assert abs(np.sum((G - X) * H)) < 1e-10 * np.linalg.norm(G) * np.linalg.norm(H)


def test_tangent_project_non_surjective_differential():
    """T m (m+1)/2 > n m: the coupled system (*) is singular but consistent."""
    rng = np.random.default_rng(40)
    N, m, T = 20, 12, 3
    Q = random_sym(rng, N, T)
    fo = FirstOrderProjector(rng.standard_normal((N, 2)))
    con = SecondOrderConstraint(Q, fo)
    G = rng.standard_normal((N, m))
    # generic W off the set: the differential is injective, the tangent space is {0}
    W = fo.project(rng.standard_normal((N, m)))
    assert np.linalg.norm(con.tangent_project(W, G)) < 1e-9 * np.linalg.norm(G)
    # on the set with dependent columns (12 units spanning a 4-dim isotropic subspace):
    # L is singular, the tangent space is not trivial
    W = feasible_W(con, rng, N, 4) @ rng.standard_normal((4, m))
    assert con.residual(W)[1] < 1e-10
    X = con.tangent_project(W, G)
    assert np.linalg.norm(X) > 1e-2 * np.linalg.norm(G)
    assert linearised_residual(Q, fo, W, X) < 1e-10
    assert np.linalg.norm(con.tangent_project(W, X) - X) < 1e-10 * np.linalg.norm(G)
    H = con.tangent_project(W, rng.standard_normal((N, m)))
    assert abs(np.sum((G - X) * H)) < 1e-10 * np.linalg.norm(G) * np.linalg.norm(H)


def test_callable_returning_2d_and_no_first_order():
    rng = np.random.default_rng(41)
    N, m = 30, 5
    Q = random_sym(rng, N, 1)[0]
    con = SecondOrderConstraint(lambda W: Q @ W, None)
    W = feasible_W(con, rng, N, m)
    assert con.residual(W)[1] < 1e-10
    X = con.tangent_project(W, rng.standard_normal((N, m)))
    M = (Q @ W).T @ X
    assert np.max(np.abs(M + M.T)) < 1e-10 * np.linalg.norm(Q @ W) * np.linalg.norm(X)


# ---------------------------------------------------------------------------------------
# second order: retraction
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["explicit", "data"])
@pytest.mark.parametrize("T", [1, 3])
def test_retract_converges_quadratically(kind, T):
    rng = np.random.default_rng(50 + T)
    N, m = 40, 6
    con, fo, Q = make_problem(kind, T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    W1 = W + 1e-2 * np.abs(W).mean() * rng.standard_normal((N, m))
    W2, rel = con.retract(W1, tol=1e-15)
    res = con.last_info_["residuals"]
    assert res[0] > 1e-5  # the perturbation was felt
    assert rel <= 1e-10
    assert con.residual(W2)[1] <= 1e-10
    assert fo.residual(W2)[1] < 1e-12
    # quadratic: r_{k+1} <= C r_k^2 while above the rounding floor
    steps = [(a, b) for a, b in zip(res[:-1], res[1:]) if a > 1e-9]
    assert len(steps) >= 2
    for a, b in steps:
        assert b <= 1e3 * a * a, res
    # the retraction moves W by O(perturbation)
    assert np.linalg.norm(W2 - W1) < 10 * np.linalg.norm(W1 - W)


@pytest.mark.parametrize("T", [1, 3])
def test_step_keeps_both_constraints(T):
    rng = np.random.default_rng(60 + T)
    N, m = 40, 6
    con, fo, Q = make_problem("explicit", T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    for _ in range(3):
        G = rng.standard_normal((N, m))
        X = con.tangent_project(W, G)
        W_step = W + 1e-2 * np.linalg.norm(W) / np.linalg.norm(X) * X
        # the tangent step violates the second order constraint only at second order
        assert con.residual(W_step)[1] < 1e-3
        W_new, rel = con.retract(W_step)
        assert rel <= 1e-10
        assert con.last_info_["converged"]
        assert fo.residual(W_new)[1] < 1e-12
        # retraction of a tangent step is a second-order correction
        assert np.linalg.norm(W_new - W_step) < 1e-2 * np.linalg.norm(W_step - W)
        W = W_new
    # in-place retraction
    W_step = W + 1e-3 * con.tangent_project(W, rng.standard_normal((N, m)))
    out, _ = con.retract(W_step, out=W_step)
    assert out is W_step and con.residual(W_step)[1] <= 1e-10


def _dense_rel_residual(Q, W):
    """``max_t max |W^T Q^t W| / (||W||_2^2 max_t ||Q^t||_2)`` from the dense matrices."""
    R = np.abs(np.matmul(np.matmul(W.T[None], Q), W)).max()
    return R / (np.linalg.norm(W, 2) ** 2 * max(np.linalg.norm(q, 2) for q in Q))


@pytest.mark.parametrize("kind", ["explicit", "data"])
@pytest.mark.parametrize("T", [1, 3])
def test_stepper_moves_stay_on_the_set(kind, T):
    """The training-loop stepper: every move, large or small, ends on the set (checked with
    the dense Q), inside null(q^T), and its tangent projection is the reference one."""
    rng = np.random.default_rng(80 + T)
    N, m = 40, 6
    con, fo, Q = make_problem(kind, T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    st = ExactSecondOrderStepper(con)
    for k, size in enumerate([1e-3, 3e-2, 1e-1, 1e-4, 5e-2]):
        G = fo.project(rng.standard_normal((N, m)))
        offset = st.system_offset
        Xs = st.tangent(W, G)
        Xr = con.tangent_project(W, G)
        # exact for the first move (system built at W); afterwards the kept system is
        # that of the last Newton iterate, at relative distance ``offset`` from W; with
        # several directions the coupled solve stops at relative residual TANGENT_RTOL
        solve = 10 * st.TANGENT_RTOL if T > 1 else 0.0
        assert np.linalg.norm(Xs - Xr) <= (1e-10 + solve + 10 * offset) * np.linalg.norm(G)
        assert offset < 1e-1
        # an optimizer-like move: not tangent (elementwise rescaled), first-order projected
        move = fo.project(size * np.linalg.norm(W) / np.linalg.norm(Xs) * Xs
                          * rng.uniform(0.5, 1.5, size=(N, m)))
        W_new = W + move
        rel = st.step(W_new)
        assert st.last_info_["converged"], st.last_info_
        assert rel <= 1e-10
        assert _dense_rel_residual(Q, W_new) <= 1e-10
        assert fo.residual(W_new)[1] < 1e-12
        # the result is a small correction of the move, not a jump elsewhere
        assert np.linalg.norm(W_new - W - move) <= 0.5 * np.linalg.norm(move)
        W = W_new


def test_stepper_rebuilds_its_cache_when_weights_change_outside():
    rng = np.random.default_rng(90)
    N, m, T = 40, 6, 2
    con, fo, Q = make_problem("explicit", T, rng, N=N)
    W = feasible_W(con, rng, N, m)
    st = ExactSecondOrderStepper(con)
    st.TANGENT_RTOL = 0.0  # solve to the constraint's own tolerance: exact comparison
    G = fo.project(rng.standard_normal((N, m)))
    st.tangent(W, G)
    # another feasible point (e.g. a restored backup): the cache must not describe the old W
    W2 = feasible_W(con, np.random.default_rng(91), N, m)
    np.testing.assert_allclose(st.tangent(W2, G), con.tangent_project(W2, G),
                               rtol=1e-10, atol=1e-12)
    assert np.array_equal(st.W, W2)
    # a step from the new point lands on the set
    W3 = W2 + 1e-2 * fo.project(rng.standard_normal((N, m)))
    st.step(W3)
    assert _dense_rel_residual(Q, W3) <= 1e-10


def test_stepper_cache_is_not_pickled():
    import pickle

    rng = np.random.default_rng(92)
    con, fo, Q = make_problem("explicit", 1, rng, N=30)
    W = feasible_W(con, rng, 30, 4)
    st = ExactSecondOrderStepper(con)
    st.tangent(W, fo.project(rng.standard_normal((30, 4))))
    assert st.A is not None
    st2 = pickle.loads(pickle.dumps(st))
    assert st2.W is None and st2.A is None and st2.system is None
    assert st.A is not None  # the original keeps its cache
    W1 = W + 1e-2 * fo.project(rng.standard_normal((30, 4)))
    st2.step(W1)
    assert _dense_rel_residual(Q, W1) <= 1e-10


def test_residual_definition():
    rng = np.random.default_rng(70)
    N, m, T = 25, 4, 2
    Q = random_sym(rng, N, T)
    con = SecondOrderConstraint(Q, None)
    W = rng.standard_normal((N, m))
    a, r = con.residual(W)
    R = np.einsum("im,tij,jn->tmn", W, Q, W)
    assert a == pytest.approx(np.max(np.abs(R)), rel=1e-12)
    qnorm = max(np.max(np.abs(np.linalg.eigvalsh(Qt))) for Qt in Q)
    assert con.Q_norm == pytest.approx(qnorm, rel=1e-2)
    assert r == pytest.approx(a / (np.linalg.norm(W, 2) ** 2 * con.Q_norm), rel=1e-10)


# ---------------------------------------------------------------------------------------
# penalty version
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["explicit", "data"])
def test_penalty_grad_finite_differences(kind):
    rng = np.random.default_rng(80)
    N, m, T = 20, 4, 2
    con, fo, Q = make_problem(kind, T, rng, N=N)
    con.mode = "penalty"
    con.penalty = 0.7
    W = rng.standard_normal((N, m))
    g = con.penalty_grad(W)
    R = np.einsum("im,tij,jn->tmn", W, Q, W)
    assert con.penalty_value(W) == pytest.approx(0.35 * np.sum(R**2), rel=1e-10)
    np.testing.assert_allclose(g, 1.4 * np.einsum("tij,jm,tmn->in", Q, W, R), rtol=1e-10,
                               atol=1e-12 * np.abs(g).max())
    h = 1e-5
    for _ in range(3):
        D = rng.standard_normal((N, m))
        fd = (con.penalty_value(W + h * D) - con.penalty_value(W - h * D)) / (2 * h)
        assert fd == pytest.approx(np.sum(g * D), rel=1e-6)
    # descent on the penalty (gradient of a loss to be subtracted) decreases it
    assert con.penalty_value(W - 1e-4 * g / np.abs(g).max()) < con.penalty_value(W)


# ---------------------------------------------------------------------------------------
# dtype
# ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("T", [1, 3])
def test_float32_in_float32_out(T):
    rng = np.random.default_rng(90 + T)
    N, m = 40, 6
    con, fo, Q = make_problem("data", T, rng, N=N)
    W = rng.standard_normal((N, m)).astype(np.float32)
    W0 = con.project_initial(W)
    assert W0.dtype == np.float32
    assert con.residual(W0)[1] < 1e-4
    G = rng.standard_normal((N, m)).astype(np.float32)
    X = con.tangent_project(W0, G)
    assert X.dtype == np.float32
    assert linearised_residual(Q, fo, W0.astype(float), X.astype(float)) < 1e-4
    W1, rel = con.retract(W0 + np.float32(1e-2) * X)
    assert W1.dtype == np.float32
    assert rel < 1e-4
    assert con.penalty_grad(W0).dtype == np.float32
    assert fo.project(W0).dtype == np.float32


# ---------------------------------------------------------------------------------------
# feasibility
# ---------------------------------------------------------------------------------------


def inertia_Q(rng, n_pos, n_neg, n_zero):
    N = n_pos + n_neg + n_zero
    O = np.linalg.qr(rng.standard_normal((N, N)))[0]
    lam = np.concatenate([rng.uniform(0.5, 2, n_pos), -rng.uniform(0.5, 2, n_neg),
                          np.zeros(n_zero)])
    return (O * lam) @ O.T


def test_max_isotropic_dim_and_infeasible_m_raises():
    rng = np.random.default_rng(100)
    Q = inertia_Q(rng, 10, 6, 4)
    con = SecondOrderConstraint(Q, None)
    bound, det = max_isotropic_dim_estimate(Q, return_details=True)
    assert bound == 10
    assert det["inertia"] == [(10, 6, 4)]
    W = con.project_initial(rng.standard_normal((20, 10)))
    assert con.residual(W)[1] < 1e-10
    assert np.linalg.matrix_rank(W) == 10
    with pytest.raises(ValueError, match=r"m=11 .*first-order subspace .* dimension n=20"):
        con.project_initial(rng.standard_normal((20, 11)))


def test_infeasible_with_first_order_and_several_directions():
    rng = np.random.default_rng(101)
    N, T = 30, 3
    Q = random_sym(rng, N, T)
    fo = FirstOrderProjector(rng.standard_normal((N, 2)))
    con = SecondOrderConstraint(Q, fo)
    bound, det = max_isotropic_dim_estimate(con, return_details=True)
    assert det["n"] == 28 and det["T"] == 3
    assert bound == det["counting_bound"] == (2 * 28 - 3) // 5
    W = con.project_initial(rng.standard_normal((N, bound - 1)))
    assert con.residual(W)[1] < 1e-10
    assert fo.residual(W)[1] < 1e-12
    with pytest.raises(ValueError, match=r"n=28"):
        con.project_initial(rng.standard_normal((N, bound + 3)))


def test_isotropic_estimate_data_route_matches_dense():
    rng = np.random.default_rng(102)
    n, N, T = 25, 40, 2  # fewer samples than features: big common kernel
    X, U = data_problem(rng, n, N, T)
    qm = DataQMatmul(X, U)
    fo = FirstOrderProjector(qm.first_order_directions())
    b_data, d_data = max_isotropic_dim_estimate(qm, fo, return_details=True)
    b_dense, d_dense = max_isotropic_dim_estimate(ExplicitQMatmul(qm.dense()), fo,
                                                  return_details=True)
    assert b_data == b_dense
    assert d_data["inertia"] == d_dense["inertia"]
    assert d_data["common_kernel_dim"] == d_dense["common_kernel_dim"]
    assert d_data["common_kernel_dim"] >= N - fo.rank_ - n
    # and a callable needs N
    with pytest.raises(ValueError, match="n_features"):
        max_isotropic_dim_estimate(lambda W: qm(W))


# ---------------------------------------------------------------------------------------
# memory: implicit Q with large N never forms N x N
# ---------------------------------------------------------------------------------------


def test_large_N_implicit_no_N_by_N():
    rng = np.random.default_rng(110)
    n, N, T, m = 300, 4000, 2, 64
    X, U = data_problem(rng, n, N, T, p=0.1)
    qm = DataQMatmul(X, U)
    fo = FirstOrderProjector(qm.first_order_directions())
    con = SecondOrderConstraint(qm, fo)
    W = rng.standard_normal((N, m))
    G = rng.standard_normal((N, m))
    tracemalloc.start()
    try:
        W0 = con.project_initial(W)
        X_t = con.tangent_project(W0, G)
        W1, rel = con.retract(W0 + 1e-2 * X_t)
        abs1, rel1 = con.residual(W1)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rel <= 1e-10 and rel1 <= 1e-10
    assert fo.residual(W1)[1] < 1e-12
    # one float64 N x N matrix would be 128 MB
    assert peak < N * N * 8 / 4, peak
