"""Hard first- and second-order label constraints on RBM weight matrices.

This module implements the constraints of Fernandez-de-Cossio-Diaz, Cocco and Monasson,
"Disentangling Representations in Restricted Boltzmann Machines without Adversaries",
Phys. Rev. X 13, 021003 (2023), as pure numpy/scipy operations on a weight matrix ``W``
of shape ``(N, m)`` (``N`` visible units, ``m`` constrained hidden units).

* **First order** (:class:`FirstOrderProjector`): ``q^T W = 0`` with ``q`` the ``(N, T)``
  matrix of label/visible covariances. Enforced by the orthogonal projection
  ``W <- W - q (q^+ W)``, applied through an orthonormal basis of ``range(q)``; no
  ``N x N`` matrix is ever formed.
* **Second order** (:class:`SecondOrderConstraint`): ``W^T Q^t W = 0`` for every label
  direction ``t``, with ``Q^t`` the symmetric (generally indefinite) ``N x N`` third-moment
  matrices, supplied implicitly through ``Q_matmul(W) -> (T, N, m)``. Two versions:

  - ``mode="exact"`` (ours): project the step onto the tangent space of the constraint set
    (:meth:`SecondOrderConstraint.tangent_project`) and retract back onto the set after the
    step with Gauss-Newton iterations (:meth:`SecondOrderConstraint.retract`), so the
    constraint holds to ``tol`` after every step;
  - ``mode="penalty"`` (the reference's soft version): add the gradient of
    ``penalty/2 sum_t ||W^T Q^t W||_F^2`` (:meth:`SecondOrderConstraint.penalty_grad`)
    to the loss and project at first order only.

Helpers build ``Q_matmul`` from dense matrices (:class:`ExplicitQMatmul`) or, without ever
forming ``Q``, from centred data (:class:`DataQMatmul`), and estimate how many units can
be constrained at all (:func:`max_isotropic_dim_estimate`).

Notation used throughout
------------------------
``P`` is the orthogonal projector onto ``V = null(q^T)`` (the identity without a
first-order constraint), ``n = dim V`` (``FirstOrderProjector.null_dim``),
``B_t = Q^t W``, ``A_t = P B_t`` and ``R_t = W^T Q^t W``. The constraint set is
``M = {W in V^m : R_t(W) = 0 for all t}``. Its differential at ``W`` restricted to ``V``
is ``J(X)_t = A_t^T X + X^T A_t``, whose adjoint (for the Frobenius inner product) is
``J^*(S) = 2 sum_t A_t S_t`` on tuples of symmetric ``m x m`` matrices. Hence

* tangent space ``T_W M = {X in V^m : A_t^T X + X^T A_t = 0 for all t}``;
* normal space (inside ``V^m``) ``= {sum_t A_t S_t : S_t symmetric}``.

Both the orthogonal tangent projection and the Gauss-Newton (minimum-norm Newton) step of
the retraction reduce to the same symmetric positive semi-definite linear system on
``T`` symmetric ``m x m`` unknowns,

    L(S)_t = sum_s (A_t^T A_s S_s + S_s A_s^T A_t) = b_t,            (*)

with ``b_t = A_t^T X + X^T A_t`` (tangent projection of ``X``) or ``b_t = R_t``
(Newton step), followed by ``X <- X - sum_t A_t S_t``. Both right-hand sides lie in
``range(L) = range(J)`` (for the Newton step because ``J(W) = 2 R``), so the system is
consistent even when ``L`` is singular.

Solving (*)
-----------
* ``T = 1``: (*) is the Lyapunov equation ``C S + S C = b`` with ``C = A^T A``. It is
  solved exactly by diagonalising ``C = V diag(lam) V^T`` once:
  ``S = V [(V^T b V)_{ij} / (lam_i + lam_j)] V^T``, with the pseudo-inverse convention
  ``1/(lam_i + lam_j) -> 0`` when ``lam_i + lam_j`` is numerically zero (rank-deficient
  ``A``: such ``S`` components satisfy ``A S = 0`` and do not change the result).
* ``T > 1``: preconditioned conjugate gradients on (*) (``L`` is symmetric positive
  semi-definite for the inner product ``sum_t <S_t, S'_t>_F``), preconditioned by the
  exact single-direction Lyapunov pseudo-inverses (block Jacobi). The kernel of the
  preconditioner is contained in the kernel of ``L``, so PCG is well posed on the
  consistent singular system. The iteration runs to a relative residual ``cg_tol``
  (1e-12 in float64) and is checked against the true residual at the end. ``L`` is
  applied either through the stacked matrix ``A_all = [A_1 ... A_T]`` (two ``N x Tm``
  GEMMs per iteration) or through its Gram matrix ``A_all^T A_all`` (``Tm x Tm``,
  formed once), whichever is estimated cheaper (``gram="auto"``).

Feasibility
-----------
For one direction, an isotropic subspace of the quadratic form ``PQP`` on ``V`` has
dimension at most ``min(n_+, n_-) + n_0`` (inertia of the restricted form); for generic
indefinite ``Q`` this is about ``n/2`` plus the dimension of its kernel. For ``T``
directions with common kernel of dimension ``k`` a dimension count on the Grassmannian
(``m (n - m)`` degrees of freedom against ``T m (m + 1) / 2`` equations) gives the
generic bound ``m <= k + (2 (n - k) - T) / (T + 2)``; the per-direction bound also
applies. These are upper estimates for ``T > 1`` (structured ``Q``, e.g. from unbalanced
labels, can allow far fewer units). See :func:`max_isotropic_dim_estimate`.

Beyond the bound the method degrades gracefully but expensively: when
``T m (m + 1) / 2 > n m`` the differential is generically injective, the tangent space is
``{0}``, and the coupled system (*) is singular; PCG still converges (the right-hand side
is consistent) but needs hundreds of iterations. Near the bound, PCG iteration counts also
grow (tens far from it, hundreds close to it for ``T = 9``).

Benchmark
---------
:func:`benchmark_constraints` times the operations used in a training step
(``project``, ``tangent_project``, ``retract``) with ``time.perf_counter``.
"""

import time

import numpy as np
import scipy.sparse

__all__ = [
    "FirstOrderProjector",
    "SecondOrderConstraint",
    "ExplicitQMatmul",
    "DataQMatmul",
    "label_covariance",
    "max_isotropic_dim_estimate",
    "generic_isotropic_bound",
    "benchmark_constraints",
]


# ---------------------------------------------------------------------------------------
# small utilities
# ---------------------------------------------------------------------------------------


def _float_dtype(dtype):
    """Return float32 for float32 input, float64 for anything else."""
    dtype = np.dtype(dtype)
    if dtype == np.float32:
        return np.dtype(np.float32)
    return np.dtype(np.float64)


def _as_weights(W, name="W"):
    """Return ``W`` as a 2-D float32/float64 array (no copy when already one)."""
    W = np.asarray(W)
    if W.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array of shape (N, m); got shape {W.shape}.")
    return W.astype(_float_dtype(W.dtype), copy=False)


def _sym(S):
    """Symmetrise a stack of square matrices (last two axes)."""
    return 0.5 * (S + np.swapaxes(S, -1, -2))


def _max_abs(a):
    return float(np.max(np.abs(a))) if a.size else 0.0


def _spectral_norm_sq(W):
    """Squared spectral norm of ``W`` (largest eigenvalue of the ``m x m`` Gram matrix)."""
    if W.size == 0:
        return 0.0
    if W.shape[1] == 1:
        return float(np.dot(W[:, 0], W[:, 0]))
    gram = (W.T @ W).astype(np.float64, copy=False)
    return float(max(np.linalg.eigvalsh(0.5 * (gram + gram.T))[-1], 0.0))


def _eigh(C):
    """Eigendecomposition of a stack of symmetric matrices (LAPACK divide and conquer).

    numpy's, not scipy's: scipy links its own copy of OpenBLAS, whose threads and numpy's
    then contend for the cores whenever calls alternate.  On two cores a 256 x 256 scipy
    eigh right after a numpy product took 25 ms instead of 10 (numpy's: 10).
    """
    lam, V = np.linalg.eigh(np.asarray(C, dtype=np.float64))
    return lam, V


def label_covariance(X, U, sample_weight=None):
    """First-order constraint directions ``q_i^t = <u^t v_i> - <u^t><v_i>``.

    Parameters
    ----------
    X : array-like or sparse matrix of shape (n_samples, N)
        Visible configurations.
    U : array-like of shape (n_samples,) or (n_samples, T)
        Label directions (one column per direction).
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights (uniform when None).

    Returns
    -------
    q : ndarray of shape (N, T)
        Weighted population covariances between each label direction and each visible unit.
    """
    return DataQMatmul(X, U, sample_weight).first_order_directions()


# ---------------------------------------------------------------------------------------
# first order
# ---------------------------------------------------------------------------------------


class FirstOrderProjector:
    """Orthogonal projection onto ``{W : q^T W = 0}``.

    Parameters
    ----------
    q : array-like of shape (N, T) or (N,)
        Constraint directions (label/visible covariances), one column per label direction.
        Rank-deficient ``q`` is handled: directions are combined through a thin SVD and
        numerically-zero singular directions are dropped.
    rcond : float, default=None
        Relative cutoff on the singular values of ``q``: singular values
        ``<= rcond * max(s)`` are treated as zero. Default ``max(N, T) * eps`` with ``eps``
        the machine epsilon of ``q``'s dtype (float32 -> float32 epsilon), the
        ``numpy.linalg.matrix_rank`` convention.

    Attributes
    ----------
    q_ : ndarray of shape (N, T)
        The directions, as float64.
    basis_ : ndarray of shape (N, rank_)
        Orthonormal basis of ``range(q)``; the projection is ``W - basis_ (basis_^T W)``,
        identical to ``W - q (q^+ W)``.
    pinv_ : ndarray of shape (T, N)
        ``q^+`` (Moore-Penrose pseudo-inverse with the cutoff above).
    singular_values_ : ndarray of shape (min(N, T),)
        Singular values of ``q``.
    rank_ : int
        Numerical rank of ``q``.
    n_features_ : int
        ``N``.

    Notes
    -----
    Cost of :meth:`project` is ``4 N rank m`` flops and ``O(N m)`` memory. No ``N x N``
    matrix is formed. Float32 weights are projected with a float32 copy of the basis and
    stay float32.
    """

    def __init__(self, q, *, rcond=None):
        q = np.asarray(q)
        if q.ndim == 1:
            q = q[:, None]
        if q.ndim != 2:
            raise ValueError(f"q must have shape (N, T); got shape {q.shape}.")
        q_dtype = _float_dtype(q.dtype)
        q64 = q.astype(np.float64)
        if not np.all(np.isfinite(q64)):
            raise ValueError("q contains NaN or infinite values.")
        N, T = q64.shape
        self.q_ = q64
        self.n_features_ = N
        self.n_directions_ = T
        if rcond is None:
            rcond = max(N, T, 1) * np.finfo(q_dtype).eps
        self.rcond = rcond
        if N == 0 or T == 0:
            U = np.zeros((N, 0))
            s = np.zeros(0)
            Vt = np.zeros((0, T))
        else:
            U, s, Vt = np.linalg.svd(q64, full_matrices=False)
        smax = s[0] if s.size else 0.0
        rank = int(np.sum(s > rcond * smax)) if smax > 0 else 0
        self.singular_values_ = s
        self.rank_ = rank
        self.basis_ = np.ascontiguousarray(U[:, :rank])
        self.pinv_ = (Vt[:rank].T / s[:rank]) @ U[:, :rank].T
        # keyed by dtype string (not np.dtype) so the state is a plain-keyed dict (skops)
        self._basis_cache = {np.dtype(np.float64).str: self.basis_}

    @property
    def null_dim(self):
        """Dimension ``N - rank_`` of the first-order subspace ``null(q^T)``."""
        return self.n_features_ - self.rank_

    def _basis_for(self, dtype):
        dtype = np.dtype(dtype)
        if dtype.str not in self._basis_cache:
            self._basis_cache[dtype.str] = self.basis_.astype(dtype)
        return self._basis_cache[dtype.str]

    def _check(self, W):
        if W.shape[0] != self.n_features_:
            raise ValueError(
                f"W has {W.shape[0]} rows but the constraint was built for "
                f"N={self.n_features_} visible units."
            )

    def project(self, W, out=None):
        """Project the columns of ``W`` onto ``null(q^T)``.

        Parameters
        ----------
        W : array-like of shape (N, m)
            Weights (or a gradient).
        out : ndarray of shape (N, m), default=None
            Output array; may be ``W`` itself for an in-place projection.

        Returns
        -------
        W_proj : ndarray of shape (N, m)
            ``W - q (q^+ W)``, with the dtype of ``W`` (float32 stays float32; other
            dtypes become float64).
        """
        W = _as_weights(W)
        self._check(W)
        if self.rank_ == 0:
            if out is None:
                return W.copy()
            if out is not W:
                np.copyto(out, W)
            return out
        U = self._basis_for(W.dtype)
        corr = U @ (U.T @ W)
        if out is None:
            return W - corr
        np.subtract(W, corr, out=out)
        return out

    __call__ = project

    def residual(self, W):
        """First-order constraint violation.

        Parameters
        ----------
        W : array-like of shape (N, m)

        Returns
        -------
        abs_residual : float
            ``max_{t, mu} |q_t^T w_mu|``.
        rel_residual : float
            ``abs_residual / (max_t ||q_t|| * max_mu ||w_mu||)`` (0 when the denominator is 0).
        """
        W = _as_weights(W)
        self._check(W)
        if W.size == 0 or self.q_.size == 0:
            return 0.0, 0.0
        qW = self.q_.T @ W.astype(np.float64, copy=False)
        a = _max_abs(qW)
        den = float(np.max(np.linalg.norm(self.q_, axis=0))) * float(
            np.max(np.linalg.norm(W, axis=0))
        )
        return a, (a / den if den > 0 else 0.0)


# ---------------------------------------------------------------------------------------
# Q_matmul builders
# ---------------------------------------------------------------------------------------


class ExplicitQMatmul:
    """``Q_matmul`` from dense symmetric matrices.

    Parameters
    ----------
    Q : array-like of shape (N, N) or (T, N, N)
        Symmetric matrices ``Q^t`` (symmetrised as ``(Q + Q^T)/2``).

    Notes
    -----
    Stores ``T N^2`` numbers; use :class:`DataQMatmul` when ``N`` is large.
    """

    def __init__(self, Q):
        Q = np.asarray(Q)
        if Q.ndim == 2:
            Q = Q[None]
        if Q.ndim != 3 or Q.shape[1] != Q.shape[2]:
            raise ValueError(f"Q must have shape (N, N) or (T, N, N); got {Q.shape}.")
        Q = Q.astype(np.float64)
        self.Q = _sym(Q)
        self.n_directions = Q.shape[0]
        self.n_features = Q.shape[1]
        self._cache = {np.dtype(np.float64): self.Q}

    def __call__(self, W):
        """Return ``Q^t W`` stacked, shape ``(T, N, m)``, in ``W``'s float dtype."""
        W = _as_weights(W)
        if W.dtype not in self._cache:
            self._cache[W.dtype] = self.Q.astype(W.dtype)
        return np.matmul(self._cache[W.dtype], W)

    def dense(self):
        """The matrices, shape ``(T, N, N)``."""
        return self.Q


class DataQMatmul:
    """``Q_matmul`` computed from centred data without forming ``Q``.

    ``Q^t_ij = < (u^t - <u^t>) (v_i - <v_i>) (v_j - <v_j>) >`` (weighted average), so
    ``Q^t W = X_c^T diag(w * u_c^t) (X_c W) / sum(w)``; costs ``O(n N m T)`` flops and
    ``O(N m T)`` memory (rows are processed in batches).

    Parameters
    ----------
    X : array-like or scipy sparse matrix of shape (n_samples, N)
        Visible configurations (not centred; centring is done implicitly, so sparse input
        stays sparse).
    U : array-like of shape (n_samples,) or (n_samples, T)
        Label directions, e.g. a binary label or the ``C - 1`` one-hot indicator columns of
        a categorical label.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights.
    batch_size : int, default=None
        Rows per batch; by default chosen so each temporary is about 32 MB.

    Attributes
    ----------
    n_features : int
    n_directions : int
    mean_ : ndarray of shape (N,)
        Weighted mean of ``X``.
    coef_ : ndarray of shape (n_samples, T)
        ``w_k (u_k - <u>) / sum(w)``.
    """

    def __init__(self, X, U, sample_weight=None, *, batch_size=None):
        if scipy.sparse.issparse(X):
            X = scipy.sparse.csr_matrix(X)
            if X.dtype not in (np.float32, np.float64):
                X = X.astype(np.float64)
        else:
            X = np.asarray(X)
            if X.ndim != 2:
                raise ValueError(f"X must be 2-D; got shape {X.shape}.")
            X = X.astype(_float_dtype(X.dtype), copy=False)
        n, N = X.shape
        U = np.asarray(U, dtype=np.float64)
        if U.ndim == 1:
            U = U[:, None]
        if U.shape[0] != n:
            raise ValueError(f"U has {U.shape[0]} rows, X has {n}.")
        if sample_weight is None:
            w = np.ones(n)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (n,) or np.any(w < 0):
                raise ValueError("sample_weight must be non-negative with shape (n_samples,).")
        wsum = w.sum()
        if not wsum > 0:
            raise ValueError("sample weights sum to zero.")
        w = w / wsum
        self.X = X
        self.n_samples = n
        self.n_features = N
        self.n_directions = U.shape[1]
        self.mean_ = np.asarray(X.T @ w).ravel()
        ubar = w @ U
        self.coef_ = w[:, None] * (U - ubar)
        self.batch_size = batch_size

    def _batches(self, T, m, itemsize):
        b = self.batch_size
        if b is None:
            b = max(1, (32 * 2**20) // max(1, T * m * itemsize))
        for start in range(0, self.n_samples, b):
            yield slice(start, min(start + b, self.n_samples))

    def __call__(self, W):
        """Return ``Q^t W`` stacked, shape ``(T, N, m)``, in ``W``'s float dtype."""
        W = _as_weights(W)
        N, m = W.shape
        T = self.n_directions
        if N != self.n_features:
            raise ValueError(f"W has {N} rows, data has {self.n_features} features.")
        dtype = W.dtype
        work = np.result_type(self.X.dtype, dtype)
        Ww = W.astype(work, copy=False)
        mW = self.mean_.astype(work) @ Ww
        acc = np.zeros((N, T * m), dtype=work)
        colsum = np.zeros(T * m, dtype=work)
        coef = self.coef_.astype(work, copy=False)
        for sl in self._batches(T, m, np.dtype(work).itemsize):
            Xb = self.X[sl]
            XW = np.asarray(Xb @ Ww) - mW
            Y = (coef[sl][:, :, None] * XW[:, None, :]).reshape(XW.shape[0], T * m)
            acc += np.asarray(Xb.T @ Y)
            colsum += Y.sum(axis=0)
        acc -= np.outer(self.mean_.astype(work), colsum)
        # (N, T, m) contiguous -> (T, N, m) view; SecondOrderConstraint transposes back
        # without a copy.
        return acc.reshape(N, T, m).transpose(1, 0, 2).astype(dtype, copy=False)

    def first_order_directions(self):
        """First-order directions ``q`` (weighted label/visible covariances), ``(N, T)``."""
        return np.asarray(self.X.T @ self.coef_).reshape(self.n_features, self.n_directions)

    def dense(self, chunk=256):
        """Form the dense matrices ``(T, N, N)`` (for tests and small ``N`` only)."""
        N = self.n_features
        out = np.empty((self.n_directions, N, N))
        for start in range(0, N, chunk):
            E = np.zeros((N, min(chunk, N - start)))
            E[np.arange(start, start + E.shape[1]), np.arange(E.shape[1])] = 1.0
            out[:, :, start : start + E.shape[1]] = self(E)
        return _sym(out)


# ---------------------------------------------------------------------------------------
# the linear system (*) on T symmetric m x m unknowns
# ---------------------------------------------------------------------------------------


class _NormalSystem:
    """The SPSD operator ``L(S)_t = sum_s (A_t^T A_s S_s + S_s A_s^T A_t)`` and its solver.

    Parameters
    ----------
    A : ndarray of shape (N, T, m)
        The stacked ``A_t`` (C-contiguous), float32 or float64.
    use_gram : bool
        Apply ``L`` through the ``Tm x Tm`` Gram matrix instead of the ``N x Tm`` stack.
    rcond : float
        Relative cutoff of the Lyapunov pseudo-inverse.
    """

    def __init__(self, A, *, use_gram, rcond):
        N, T, m = A.shape
        self.N, self.T, self.m = N, T, m
        self.dtype = A.dtype
        self.A_all = A.reshape(N, T * m)
        self.G = None
        if use_gram or T == 1:
            G = (self.A_all.T @ self.A_all).astype(np.float64, copy=False)
            G = 0.5 * (G + G.T)
            if T > 1:
                self.G = G
            C = np.stack([G[t * m : (t + 1) * m, t * m : (t + 1) * m] for t in range(T)])
        else:
            C = np.empty((T, m, m))
            for t in range(T):
                At = A[:, t, :]
                C[t] = At.T @ At
            C = _sym(C)
        lam, V = _eigh(C)
        lam = np.maximum(lam, 0.0)
        denom = lam[:, :, None] + lam[:, None, :]
        cutoff = rcond * 2.0 * lam[:, -1:]  # (T, 1)
        with np.errstate(divide="ignore"):
            inv = np.where(denom > cutoff[:, :, None], 1.0 / denom, 0.0)
        self.V = V
        self.Vt = np.ascontiguousarray(np.swapaxes(V, -1, -2))
        self.inv = inv

    def precond(self, R):
        """Block-diagonal (single-direction) Lyapunov pseudo-inverse."""
        Rt = np.matmul(np.matmul(self.Vt, R), self.V)
        Rt *= self.inv
        return _sym(np.matmul(np.matmul(self.V, Rt), self.Vt))

    def apply(self, S):
        T, m = self.T, self.m
        if self.G is not None:
            Y = (self.G @ S.reshape(T * m, m)).reshape(T, m, m)
        else:
            Z = self.A_all @ S.reshape(T * m, m).astype(self.dtype, copy=False)
            Y = (self.A_all.T @ Z).reshape(T, m, m).astype(np.float64, copy=False)
        return Y + np.swapaxes(Y, -1, -2)

    def rhs(self, X):
        """``b_t = A_t^T X + X^T A_t``."""
        Y = (self.A_all.T @ X).reshape(self.T, self.m, self.m).astype(np.float64, copy=False)
        return Y + np.swapaxes(Y, -1, -2)

    def normal(self, S):
        """``sum_t A_t S_t`` (an element of the normal space), shape ``(N, m)``."""
        return self.A_all @ S.reshape(self.T * self.m, self.m).astype(self.dtype, copy=False)

    def solve(self, R, rtol, maxiter):
        """Solve ``L(S) = R``; returns ``(S, info)``."""
        if self.T == 1:
            return self.precond(R), {"cg_iter": 0, "rel_residual": None}
        bnorm = float(np.linalg.norm(R))
        S = np.zeros_like(R)
        if bnorm == 0.0:
            return S, {"cg_iter": 0, "rel_residual": 0.0}
        r = R.copy()
        z = self.precond(r)
        p = z.copy()
        rz = float(np.vdot(r, z))
        restarts = 0
        it = 0
        rel = 1.0
        while it < maxiter and rz > 0:
            it += 1
            Lp = self.apply(p)
            pLp = float(np.vdot(p, Lp))
            if not pLp > 0:
                break
            alpha = rz / pLp
            S += alpha * p
            r -= alpha * Lp
            rel = float(np.linalg.norm(r)) / bnorm
            if rel <= rtol:
                # confirm with the true residual (recurrences drift at this level)
                r = R - self.apply(S)
                rel = float(np.linalg.norm(r)) / bnorm
                if rel <= rtol or restarts >= 3:
                    break
                restarts += 1
                z = self.precond(r)
                p = z.copy()
                rz = float(np.vdot(r, z))
                continue
            z = self.precond(r)
            rz_new = float(np.vdot(r, z))
            beta = rz_new / rz
            rz = rz_new
            p *= beta
            p += z
        return S, {"cg_iter": it, "rel_residual": rel}


# ---------------------------------------------------------------------------------------
# second order
# ---------------------------------------------------------------------------------------


class SecondOrderConstraint:
    """Second-order constraint ``W^T Q^t W = 0`` (all ``t``), optionally with first order.

    Parameters
    ----------
    Q_matmul : callable or array-like
        ``Q_matmul(W) -> ndarray (T, N, m)`` returning ``Q^t W`` for each direction
        (``Q^t`` symmetric, possibly indefinite). A dense array of shape ``(N, N)`` or
        ``(T, N, N)`` is wrapped in :class:`ExplicitQMatmul`. Use :class:`DataQMatmul` to
        build it from data without forming ``Q``. An ``(N, m)`` output is read as ``T = 1``.
    first_order : FirstOrderProjector or None, default=None
        First-order constraint; everything then happens inside ``null(q^T)``.
    mode : {"exact", "penalty"}, default="exact"
        Informational flag for the trainer: ``"exact"`` means :meth:`tangent_project` the
        step and :meth:`retract` after it; ``"penalty"`` means subtract
        :meth:`penalty_grad` and project at first order only. All methods work in both
        modes.
    penalty : float, default=1.0
        ``lambda_Q`` of the soft version.
    tol : float, default=1e-10
        Target of :meth:`retract`: ``max_t max |W^T Q^t W| <= tol * ||W||_2^2 * ||Q||``.
        For float32 weights the effective target is ``max(tol, 100 * eps_float32)``
        (about 1.2e-5).
    max_newton : int, default=20
        Maximum Gauss-Newton iterations of :meth:`retract`.
    Q_norm : float, default=None
        ``max_t ||Q^t||_2``; estimated on first use by block Lanczos through ``Q_matmul``
        (:meth:`estimate_Q_norm`) when None.
    cg_tol : float, default=None
        Relative residual target of the coupled solve (``T > 1``); default
        ``max(1e-12, 100 * eps)`` of the working dtype.
    max_cg : int, default=500
        Maximum PCG iterations per solve.
    gram : {"auto", True, False}, default="auto"
        Whether to apply the coupled operator through the ``Tm x Tm`` Gram matrix of
        ``[A_1 ... A_T]`` (cheap iterations when ``N`` is large) or through the ``N x Tm``
        stack (no ``T^2 N m^2`` set-up).

    Attributes
    ----------
    last_info_ : dict
        Diagnostics of the last :meth:`tangent_project` / :meth:`retract` call
        (PCG iterations, residual history, convergence flag).

    Notes
    -----
    Memory is ``O(T N m)`` plus ``O((T m)^2)`` for the Gram variant; no ``N x N`` array is
    formed unless ``Q_matmul`` itself does. See the module docstring for the mathematics
    and the solver for ``T > 1``.
    """

    def __init__(
        self,
        Q_matmul,
        first_order=None,
        *,
        mode="exact",
        penalty=1.0,
        tol=1e-10,
        max_newton=20,
        Q_norm=None,
        cg_tol=None,
        max_cg=500,
        gram="auto",
    ):
        if not callable(Q_matmul):
            Q_matmul = ExplicitQMatmul(Q_matmul)
        if mode not in ("exact", "penalty"):
            raise ValueError(f"mode must be 'exact' or 'penalty'; got {mode!r}.")
        if first_order is not None and not isinstance(first_order, FirstOrderProjector):
            first_order = FirstOrderProjector(first_order)
        if gram not in ("auto", True, False):
            raise ValueError("gram must be 'auto', True or False.")
        self.Q_matmul = Q_matmul
        self.first_order = first_order
        self.mode = mode
        self.penalty = penalty
        self.tol = tol
        self.max_newton = max_newton
        self.Q_norm = Q_norm
        self.cg_tol = cg_tol
        self.max_cg = max_cg
        self.gram = gram
        self.n_directions_ = None
        self.last_info_ = {}

    # -- plumbing ------------------------------------------------------------------------

    def _P(self, X, out=None):
        if self.first_order is None:
            if out is None or out is X:
                return X
            np.copyto(out, X)
            return out
        return self.first_order.project(X, out=out)

    def _qmul(self, W):
        """``Q^t W`` as a C-contiguous ``(N, T, m)`` array of ``W``'s dtype."""
        N, m = W.shape
        B = np.asarray(self.Q_matmul(W))
        if B.ndim == 2:
            B = B[None]
        if B.ndim != 3 or B.shape[1:] != (N, m):
            raise ValueError(f"Q_matmul returned shape {B.shape}; expected (T, {N}, {m}).")
        if self.n_directions_ is None:
            self.n_directions_ = B.shape[0]
        B = B.astype(W.dtype, copy=False)
        return np.ascontiguousarray(B.transpose(1, 0, 2))

    def _prepare(self, W):
        W = _as_weights(W)
        if self.first_order is not None:
            self.first_order._check(W)
        return W

    def _eps(self, dtype):
        return float(np.finfo(dtype).eps)

    def _cg_tol(self, dtype):
        if self.cg_tol is not None:
            return self.cg_tol
        return max(1e-12, 100 * self._eps(dtype))

    def _tol(self, dtype, tol=None):
        tol = self.tol if tol is None else tol
        if np.dtype(dtype) == np.float32:
            return max(tol, 100 * self._eps(dtype))
        return tol

    def _use_gram(self, N, T, m):
        if self.gram != "auto":
            return bool(self.gram)
        # set-up T^2 N m^2 + k * 2 T^2 m^3 versus k * 4 T N m^2 flops, with k ~ 30 PCG
        # iterations; divided by T m^2:
        return T * N + 60 * T * m < 120 * N

    def _system(self, A):
        N, T, m = A.shape
        rcond = 10 * max(m, 10) * self._eps(A.dtype)
        return _NormalSystem(A, use_gram=self._use_gram(N, T, m), rcond=rcond)

    def _project_B(self, B):
        """``A = P B`` in place on the ``(N, T, m)`` stack."""
        if self.first_order is not None and self.first_order.rank_ > 0:
            N, T, m = B.shape
            flat = B.reshape(N, T * m)
            self.first_order.project(flat, out=flat)
        return B

    def estimate_Q_norm(self, N, *, n_iter=15, block=2, rtol=1e-3, random_state=0):
        """Estimate ``max_t ||Q^t||_2`` by block Lanczos through ``Q_matmul``.

        One block Krylov space per direction (full reorthogonalisation, Rayleigh-Ritz on the
        whole space), all directions advanced together by one ``Q_matmul`` call on the
        concatenated blocks (``N x T*block`` columns) per iteration.

        Parameters
        ----------
        N : int
            Number of visible units.
        n_iter : int, default=15
            Maximum block iterations.
        block : int, default=2
            Block size per direction.
        rtol : float, default=1e-3
            Stop when no direction's estimate changed by more than this (relative).
        random_state : int, default=0
            Seed of the starting blocks.

        Returns
        -------
        norm : float
            A lower-bound estimate (Ritz value), typically accurate to ``rtol`` or better.
        """
        rng = np.random.default_rng(random_state)
        k = max(1, min(block, N))
        T = None
        Y = None
        K, QK, est, done = None, None, None, None
        for _ in range(n_iter):
            if Y is None:
                Y0 = np.linalg.qr(rng.standard_normal((N, k)))[0]
                out = self._qmul(Y0)  # (N, T, k)
                T = out.shape[1]
                K = [[Y0] for _ in range(T)]
                QK = [[out[:, t, :]] for t in range(T)]
                est = np.zeros(T)
                done = np.zeros(T, dtype=bool)
            else:
                active = [t for t in range(T) if not done[t]]
                if not active:
                    break
                out = self._qmul(np.concatenate([Y[t] for t in active], axis=1))
                for j, t in enumerate(active):
                    K[t].append(Y[t])
                    QK[t].append(out[:, t, j * k : (j + 1) * k])
            Y = [None] * T
            for t in range(T):
                if done[t]:
                    continue
                Kt = np.concatenate(K[t], axis=1)
                QKt = np.concatenate(QK[t], axis=1)
                H = Kt.T @ QKt
                ev = np.linalg.eigvalsh(0.5 * (H + H.T))
                new = float(np.max(np.abs(ev)))
                if abs(new - est[t]) <= rtol * new or Kt.shape[1] + k > N:
                    done[t] = True
                est[t] = new
                Z = QK[t][-1]
                for _ in range(2):
                    Z = Z - Kt @ (Kt.T @ Z)
                zn = np.linalg.norm(Z)
                if zn <= 1e-10 * max(new, 1e-300) * np.sqrt(k):
                    done[t] = True  # invariant subspace: the Ritz values are exact
                else:
                    Y[t] = np.linalg.qr(Z)[0]
        return float(np.max(est)) if est is not None else 0.0

    def _get_Q_norm(self, N):
        if self.Q_norm is None:
            self.Q_norm = self.estimate_Q_norm(N)
        return self.Q_norm

    def _relative(self, abs_res, W):
        den = _spectral_norm_sq(W) * self._get_Q_norm(W.shape[0])
        if den > 0:
            return abs_res / den
        return 0.0 if abs_res == 0 else np.inf

    @staticmethod
    def _R_from_B(W, B):
        """``R_t = W^T B_t`` (symmetrised), float64, shape (T, m, m)."""
        N, T, m = B.shape
        R = (W.T @ B.reshape(N, T * m)).reshape(m, T, m).transpose(1, 0, 2)
        return _sym(R.astype(np.float64))

    # -- public API ----------------------------------------------------------------------

    def residual(self, W):
        """Second-order constraint violation.

        Parameters
        ----------
        W : array-like of shape (N, m)

        Returns
        -------
        abs_residual : float
            ``max_t max_{mu, nu} |w_mu^T Q^t w_nu|``.
        rel_residual : float
            ``abs_residual / (||W||_2^2 * ||Q||)`` with ``||Q|| = max_t ||Q^t||_2``
            (estimated, see ``Q_norm``).
        """
        W = self._prepare(W)
        a = _max_abs(self._R_from_B(W, self._qmul(W)))
        return a, self._relative(a, W)

    def tangent_project(self, W, G, out=None):
        """Orthogonal projection of ``G`` onto the tangent space of the constraint set at ``W``.

        The tangent space is ``{X : q^T X = 0, A_t^T X + X^T A_t = 0 for all t}`` with
        ``A_t = P Q^t W``. ``G`` is first projected at first order, ``X = P G``, then the
        normal component ``sum_t A_t S_t`` is removed, with ``S`` solving (*) of the
        module docstring (exact Lyapunov solve for ``T = 1``, block-Jacobi-preconditioned
        CG for ``T > 1``). The map is an orthogonal projection (Frobenius inner product):
        idempotent and self-adjoint.

        Parameters
        ----------
        W : array-like of shape (N, m)
            Current weights (normally on the constraint set).
        G : array-like of shape (N, m)
            Gradient or step to project.
        out : ndarray of shape (N, m), default=None
            Output array (may be ``G``).

        Returns
        -------
        X : ndarray of shape (N, m)
            Projected ``G``, dtype of ``W``.
        """
        W = self._prepare(W)
        G = np.asarray(G)
        if G.shape != W.shape:
            raise ValueError(f"G has shape {G.shape}, W has shape {W.shape}.")
        X = self._P(G.astype(W.dtype, copy=True))
        if W.shape[1] == 0:
            return X if out is None else self._copy_out(X, out)
        system = self._system(self._project_B(self._qmul(W)))
        X, info = self._tangent_with(system, X)
        self.last_info_ = {"method": "tangent_project", **info}
        return X if out is None else self._copy_out(X, out)

    @staticmethod
    def _copy_out(X, out):
        np.copyto(out, X)
        return out

    def retract(self, W, *, out=None, max_newton=None, tol=None):
        """Bring ``W`` back onto ``{q^T W = 0, W^T Q^t W = 0 for all t}``.

        ``W`` is projected at first order, then Gauss-Newton (minimum-norm Newton) steps
        ``W <- W - sum_t A_t S_t``, ``L(S) = R`` with ``R_t = W^T Q^t W`` (system (*) of
        the module docstring), are taken inside ``null(q^T)`` until
        ``max_t max |R_t| <= tol * ||W||_2^2 * ||Q||``, ``max_newton`` iterations, or
        stagnation. Convergence is quadratic near the set when the differential is
        surjective (the linear solves use the forcing term ``min(1e-2, residual)``).

        Parameters
        ----------
        W : array-like of shape (N, m)
            Weights after an optimizer step.
        out : ndarray of shape (N, m), default=None
            Output array (may be ``W`` for an in-place retraction).
        max_newton : int, default=None
            Overrides the instance setting.
        tol : float, default=None
            Overrides the instance setting.

        Returns
        -------
        W_new : ndarray of shape (N, m)
            Retracted weights, dtype of ``W``.
        rel_residual : float
            Final relative residual (see :meth:`residual`). The full history is in
            ``last_info_["residuals"]``; ``last_info_["converged"]`` says whether the
            target was reached.
        """
        W = self._prepare(W)
        W = self._P(W.copy())
        max_newton = self.max_newton if max_newton is None else max_newton
        W, rel = self._newton(W, max_newton, self._tol(W.dtype, tol), orthonormalize=False,
                              patience=3)[:2]
        if out is not None:
            np.copyto(out, W)
            W = out
        return W, rel

    def _tangent_with(self, system, X, rtol=None):
        """Remove from ``X`` (first-order projected, overwritten) its normal component for
        the prebuilt ``system`` (coupled solve to ``rtol``); returns ``(X, info)``."""
        b = system.rhs(X)
        rtol = self._cg_tol(X.dtype) if rtol is None else max(rtol, self._cg_tol(X.dtype))
        S, info = system.solve(b, rtol, self.max_cg)
        X -= system.normal(S)
        return X, info

    def _newton(self, W, max_iter, target, *, orthonormalize, patience, chord_rate=None,
                forcing=None, relative=None):
        """Gauss-Newton loop on ``R(W) = 0`` inside ``null(q^T)`` (``W`` is overwritten).

        With ``orthonormalize=True`` the columns are orthonormalised (polar factor) before
        every step: the constraint only depends on the column span, and this prevents the
        rank collapse that plain Gauss-Newton suffers far from the set (Newton on the
        Grassmannian).  The normal system is rebuilt at every iterate unless
        ``chord_rate`` is given: it is then built at the first iterate only and reused
        (chord steps) while each step divides the residual by ``1 / chord_rate`` or more.
        ``forcing`` fixes the relative accuracy of the linear solves (default
        ``min(1e-2, residual)``); ``relative(R, W)`` replaces :meth:`_relative`.

        Returns ``(W, rel, B, system, W_sys)``: the final weights and relative residual,
        ``Q W`` of the final weights, the last system built (None if none) and the point
        it was built at.
        """
        dtype = W.dtype
        history, cg_iters, built_at = [], [], []
        best = np.inf
        n_bad = 0
        rel = 0.0
        B = system = W_sys = None
        for it in range(max_iter + 1):
            if W.shape[1] == 0:
                history.append(0.0)
                break
            if orthonormalize:
                W = _orthonormalize(W)
            B = self._qmul(W)
            R = self._R_from_B(W, B)
            rel = (self._relative(_max_abs(R), W) if relative is None
                   else relative(R, W))
            history.append(rel)
            if rel <= target or it == max_iter or not np.isfinite(rel):
                break
            if rel < 0.9 * best:
                best = rel
                n_bad = 0
            else:
                n_bad += 1
                if n_bad >= patience:  # stagnation (noise floor or infeasible)
                    break
            if chord_rate is None or it == 0 or history[-1] > chord_rate * history[-2]:
                system = self._system(self._project_B(B))  # B is recomputed next
                built_at.append(it)
                W_sys = W.copy()
            eta = max(self._cg_tol(dtype), min(1e-2, rel) if forcing is None else forcing)
            S, info = system.solve(R, eta, self.max_cg)
            cg_iters.append(info["cg_iter"])
            W -= system.normal(S)
            self._P(W, out=W)
        converged = bool(history and history[-1] <= target)
        self.last_info_ = {
            "method": "retract",
            "n_iter": len(history) - 1,
            "residuals": history,
            "cg_iters": cg_iters,
            "systems_built_at": built_at,
            "converged": converged,
            "target": target,
        }
        return W, rel, B, system, W_sys

    def penalty_value(self, W):
        """Soft penalty ``penalty/2 * sum_t ||W^T Q^t W||_F^2``.

        Parameters
        ----------
        W : array-like of shape (N, m)

        Returns
        -------
        value : float
        """
        W = self._prepare(W)
        R = self._R_from_B(W, self._qmul(W))
        return 0.5 * self.penalty * float(np.sum(R * R))

    def penalty_grad(self, W):
        """Gradient of :meth:`penalty_value`: ``2 * penalty * sum_t Q^t W (W^T Q^t W)``.

        Sign convention: this is the gradient of a loss to be *minimised*. A trainer working
        in ascent convention (maximising the log-likelihood) must **subtract** it from its
        ascent direction (``grad_ll - penalty_grad(W)``), then apply the first-order
        projection after the optimizer step.

        Parameters
        ----------
        W : array-like of shape (N, m)

        Returns
        -------
        grad : ndarray of shape (N, m)
            Dtype of ``W``.
        """
        W = self._prepare(W)
        B = self._qmul(W)
        N, T, m = B.shape
        R = self._R_from_B(W, B).astype(W.dtype)
        out = B.reshape(N, T * m) @ R.reshape(T * m, m)
        out *= np.asarray(2.0 * self.penalty, dtype=W.dtype)
        return out

    def project_initial(self, W, *, max_newton=100):
        """Turn a random initial ``W`` into a feasible one of similar scale.

        ``W`` is projected at first order, then Gauss-Newton steps as in :meth:`retract` are
        taken with the columns re-orthonormalised (polar factor) before every step. The
        constraint set is invariant under ``W -> W G`` (``G`` invertible), so this is Newton
        on the Grassmannian of column spans; it avoids the rank collapse that plain
        Gauss-Newton shows from a random start and, in tests, reaches the feasibility bound
        of :func:`max_isotropic_dim_estimate`. The columns are finally rescaled to the norms
        of the first-order-projected input.

        Parameters
        ----------
        W : array-like of shape (N, m)
        max_newton : int, default=100
            Newton iterations allowed for this (far-from-feasible) retraction.

        Returns
        -------
        W0 : ndarray of shape (N, m)

        Raises
        ------
        ValueError
            If the retraction does not converge or collapses the rank of ``W`` (which is
            what happens when ``m`` exceeds the dimension of the largest common isotropic
            subspace); the message reports the dimensions involved.
        """
        W = self._prepare(W)
        W = self._P(W.copy())
        norms = np.linalg.norm(W, axis=0)
        rank_in = _numerical_rank(W)
        Wr, rel = self._newton(W.copy(), max_newton, self._tol(W.dtype), orthonormalize=True,
                               patience=10)[:2]
        info = self.last_info_
        rank_out = _numerical_rank(Wr)
        if not info["converged"] or rank_out < rank_in:
            raise ValueError(self._infeasible_message(W, rel, rank_in, rank_out))
        new_norms = np.linalg.norm(Wr, axis=0)
        scale = np.where(new_norms > 0, norms / np.where(new_norms > 0, new_norms, 1), 0.0)
        Wr *= scale.astype(Wr.dtype)
        return Wr

    def _infeasible_message(self, W, rel, rank_in, rank_out):
        N, m = W.shape
        n = self.first_order.null_dim if self.first_order is not None else N
        T = self.n_directions_ or 1
        generic = (2 * n - T) // (T + 2) if T > 1 else n // 2
        return (
            f"Could not satisfy the second-order constraint W^T Q^t W = 0 for m={m} "
            f"constrained hidden units (T={T} label direction(s), N={N} visible units): "
            f"relative residual {rel:.3g} after {len(self.last_info_['residuals']) - 1} "
            f"Newton steps, numerical rank {rank_in} -> {rank_out}. The first-order "
            f"subspace null(q^T) has dimension n={n}; a generic indefinite Q restricted to "
            f"an n-dimensional space has isotropic subspaces of dimension at most "
            f"min(n_+, n_-) + n_0 (about n/2 = {n // 2} plus the dimension of its kernel)"
            + (
                f", and T={T} generic directions allow about "
                f"k + (2(n-k) - T)/(T+2) = {generic} + k (k = dimension of the common kernel)"
                if T > 1
                else ""
            )
            + ". " + self._bound_hint(N)
            + "Use fewer constrained units, release more units, or mode='penalty'."
        )

    def _bound_hint(self, N):
        """Part of the infeasibility message: the computed bound when it is cheap."""
        qm = self.Q_matmul
        hint = ""
        if isinstance(qm, DataQMatmul):
            pos = np.sum(qm.coef_ > 0, axis=0)
            neg = np.sum(qm.coef_ < 0, axis=0)
            hint += (
                "With Q from data, Q^t has at most (#samples with u^t above its mean) "
                "positive and (#samples below) negative eigenvalues, here "
                f"min over t of min(#above, #below) = {int(np.min(np.minimum(pos, neg)))}, "
                "which caps min(n_+, n_-). "
            )
        cheap = (isinstance(qm, DataQMatmul) and qm.n_samples < N) or (
            isinstance(qm, ExplicitQMatmul) and N <= 800
        )
        if cheap:
            try:
                bound = max_isotropic_dim_estimate(self)
                hint += f"max_isotropic_dim_estimate gives {bound} for this Q. "
            except Exception:  # pragma: no cover - diagnostics must not mask the error
                pass
        else:
            hint += "max_isotropic_dim_estimate(constraint) computes the bound for your Q. "
        return hint


class ExactSecondOrderStepper:
    """The exact second-order constraint inside a training loop, with state between steps.

    A training step with the exact constraint is: project the gradient onto the tangent
    space at ``W``, let the optimizer move ``W``, project that move onto the same tangent
    space (so the constraint is violated only at second order in the step), then retract
    by Newton steps until the relative residual is below ``tol``.  Done naively, every
    step computes ``Q W`` three or four times and builds the ``m x m`` normal system
    (an eigendecomposition per direction) three times.  This class keeps, between steps,
    the weights ``W`` at which the last retraction was *verified*, their product
    ``A = P Q W`` (the verification's own product) and the last normal system, so that a
    step costs:

    * one product ``Q W`` after the move, giving the residual;
    * per Newton step, one normal-system build at the current point (quadratic
      convergence) and one product ``Q W`` that verifies the result and is kept for the
      next step's tangent space;
    * three linear solves with the kept system (gradient, move, Newton step).

    The tangent space used for the gradient and the move is that of the last Newton
    iterate, which differs from the verified point by the last (tiny) correction; the
    retraction is always verified against the target.  The cache is keyed by a copy of
    ``W``: if the weights were changed from outside (warm start, ``set_params``, a restored
    backup) it is rebuilt, so the state can never describe other weights than the
    current ones.

    Parameters
    ----------
    constraint : SecondOrderConstraint
    """

    #: a kept normal system is reused by Newton (chord) steps while each one divides the
    #: residual by at least 1 / CHORD_RATE
    CHORD_RATE = 1e-2
    #: relative accuracy of the coupled solves (several label directions; one direction
    #: is solved directly): the tangent projections of the gradient and of the move
    #: only steer the step (the retraction corrects what they leave), and each inexact
    #: Newton step need only divide the residual by about 1 / NEWTON_RTOL, since
    #: every iterate is verified against the target with an exact product
    TANGENT_RTOL = 1e-6
    NEWTON_RTOL = 1e-2

    def __init__(self, constraint):
        self.constraint = constraint
        self._clear()

    def _clear(self):
        self.W = None  # weights at which A was computed (verified on the set)
        self.A = None  # P Q^t W, (N, T, m)
        self.system = None  # normal system near W (None: build from A when needed)
        self.system_offset = 0.0
        self._u = None  # warm start of the power iteration for ||W||_2
        self.last_info_ = {}

    def __getstate__(self):
        state = dict(self.__dict__)  # the cache is cheap to rebuild; do not pickle it
        state.update(W=None, A=None, system=None, system_offset=0.0, _u=None,
                     last_info_={})
        return state

    def _norm_sq(self, W):
        """``||W||_2^2`` from below, by a few warm-started power iterations (the relative
        residual is then over-estimated: a verified target holds for the exact norm)."""
        m = W.shape[1]
        if m == 1:
            return float(np.dot(W[:, 0], W[:, 0]))
        u = self._u
        if u is None or u.shape[0] != m:
            u = np.ones(m) / np.sqrt(m)
        Wd = W.astype(np.float64, copy=False)
        lam = 0.0
        for _ in range(4):
            x = Wd.T @ (Wd @ u)
            lam = float(np.dot(u, x))
            nx = np.linalg.norm(x)
            if not nx > 0:
                return 0.0
            u = x / nx
        self._u = u
        return max(lam, 0.0)

    def _relative(self, R, W):
        con = self.constraint
        den = self._norm_sq(W) * con._get_Q_norm(W.shape[0])
        a = _max_abs(R)
        return a / den if den > 0 else (0.0 if a == 0 else np.inf)

    def _sync(self, W):
        """Make the cache describe ``W``: reuse it when ``W`` is unchanged, else recompute."""
        if self.W is not None and self.W.shape == W.shape and np.array_equal(self.W, W):
            return
        con = self.constraint
        self._clear()
        self.W = W.copy()
        self.A = con._project_B(con._qmul(W))

    def _get_system(self):
        if self.system is None:
            self.system = self.constraint._system(self.A)
        return self.system

    def tangent(self, W, G, out=None):
        """Project the first-order-projected ``G`` onto the tangent space at ``W``."""
        W = _as_weights(W)
        if W.shape[1] == 0:
            return G
        self._sync(W)
        X = np.array(G, dtype=W.dtype, copy=True)
        X, _ = self.constraint._tangent_with(self._get_system(), X, self.TANGENT_RTOL)
        if out is None:
            return X
        np.copyto(out, X)
        return out

    def step(self, W_new, *, max_newton=None, tol=None):
        """Exact-constraint version of the move from the cached ``W`` to ``W_new``.

        ``W_new`` (the optimizer's result, first-order projected) is overwritten with
        ``W + T(W_new - W)`` (``T`` the tangent projection) retracted onto the set.
        Without a cached point (first step), ``W_new`` is only retracted.  Returns the
        final relative residual; ``last_info_`` has the Newton history.
        """
        con = self.constraint
        W_new = _as_weights(W_new)
        if W_new.shape[1] == 0:
            return 0.0
        max_newton = con.max_newton if max_newton is None else max_newton
        target = con._tol(W_new.dtype, tol)
        if self.W is not None and self.W.shape == W_new.shape:
            move = W_new - self.W
            move, _ = con._tangent_with(self._get_system(), move, self.TANGENT_RTOL)
            np.add(self.W, move, out=W_new)
        W_new, rel, B, system, W_sys = con._newton(
            W_new, max_newton, target, orthonormalize=False, patience=3,
            chord_rate=self.CHORD_RATE, forcing=self.NEWTON_RTOL, relative=self._relative)
        self.W = W_new.copy()
        self.A = con._project_B(B)
        self.system = system  # of the last Newton iterate, or None: rebuilt from A
        # relative distance between W and the point of the kept system: the tangent
        # projections made with it are exact up to a relative error of this order
        self.system_offset = (0.0 if system is None else
                              float(np.linalg.norm(W_new - W_sys) / np.linalg.norm(W_new)))
        self.last_info_ = {**con.last_info_, "method": "step"}
        return rel


def _orthonormalize(W):
    """Polar factor ``W (W^T W)^{-1/2}`` (pseudo-inverse square root for rank deficiency)."""
    gram = (W.T @ W).astype(np.float64)
    ev, V = np.linalg.eigh(0.5 * (gram + gram.T))  # numpy's LAPACK: see _eigh
    ev = np.maximum(ev, 0.0)
    cut = ev[-1] * 1e3 * np.finfo(W.dtype).eps if ev.size else 0.0
    inv_sqrt = np.where(ev > cut, 1.0 / np.sqrt(np.where(ev > cut, ev, 1.0)), 0.0)
    return W @ ((V * inv_sqrt) @ V.T).astype(W.dtype)


def _numerical_rank(W, rtol=1e-6):
    if W.size == 0:
        return 0
    gram = (W.T @ W).astype(np.float64)
    ev = np.linalg.eigvalsh(0.5 * (gram + gram.T))
    if ev[-1] <= 0:
        return 0
    # singular values s = sqrt(ev); rank = #{s > rtol * s_max}
    return int(np.sum(ev > (rtol**2) * ev[-1]))


# ---------------------------------------------------------------------------------------
# feasibility
# ---------------------------------------------------------------------------------------


def _inertia(ev, tol):
    return int(np.sum(ev > tol)), int(np.sum(ev < -tol)), int(np.sum(np.abs(ev) <= tol))


def max_isotropic_dim_estimate(
    Q, first_order=None, *, n_features=None, rtol=1e-10, return_details=False
):
    """Largest number of constrained units compatible with ``W^T Q^t W = 0`` (all ``t``).

    For one direction the exact answer is ``min(n_+, n_-) + n_0``, the inertia of ``P Q P``
    on ``range(P) = null(q^T)`` (dimension ``n``). For ``T`` directions each per-direction
    bound applies, and a dimension count on the Grassmannian of ``m``-planes in the
    first-order subspace (``m (n - m)`` unknowns, ``T m (m + 1) / 2`` equations, after
    quotienting the common kernel of dimension ``k``) gives the generic bound
    ``k + floor((2 (n - k) - T) / (T + 2))``. The estimate returned is the minimum of the
    two: exact for ``T = 1``; for ``T > 1`` an upper estimate only. The true maximum can be
    much smaller for structured ``Q``: with data-defined ``Q`` and unbalanced labels
    (class frequencies 70/25/4/1 %, ``n = 197``) the estimate is 48 while an L-BFGS search
    finds exactly isotropic 8-planes but none of dimension 10. With data, ``Q^t`` has at
    most as many positive (negative) eigenvalues as samples with ``u^t`` above (below) its
    mean. :meth:`SecondOrderConstraint.project_initial` is the constructive test.

    Eigenvalues with ``|lambda| <= rtol * max |lambda|`` count as zero; the default matches
    the default ``tol`` of :class:`SecondOrderConstraint`.

    Parameters
    ----------
    Q : array-like, callable, DataQMatmul or SecondOrderConstraint
        Dense ``(N, N)`` / ``(T, N, N)`` matrices, a ``Q_matmul`` callable (then
        ``n_features`` or ``first_order`` must give ``N``), a :class:`DataQMatmul` (the
        inertia is then computed from an SVD of the centred data when ``n_samples < N``),
        or a constraint (its ``Q_matmul`` and ``first_order`` are used).
    first_order : FirstOrderProjector, default=None
        First-order constraint restricting the space.
    n_features : int, default=None
        ``N`` for a bare callable.
    rtol : float, default=1e-10
        Relative threshold for zero eigenvalues / singular values.
    return_details : bool, default=False
        Also return a dict with ``n``, ``T``, ``inertia`` (list of ``(n_+, n_-, n_0)``),
        ``common_kernel_dim``, ``per_direction_bound``, ``counting_bound``.

    Returns
    -------
    bound : int
    details : dict
        Only when ``return_details`` is True.

    Notes
    -----
    This is a one-off diagnostic, not used in training. Except for the data route it forms
    ``n x n`` matrices per direction (``O(T N^2)`` memory, ``O(T N^3)`` time).
    """
    if isinstance(Q, SecondOrderConstraint):
        if first_order is None:
            first_order = Q.first_order
        Q = Q.Q_matmul
    if first_order is not None and not isinstance(first_order, FirstOrderProjector):
        first_order = FirstOrderProjector(first_order)

    if isinstance(Q, DataQMatmul) and Q.n_samples < Q.n_features:
        N = Q.n_features
        fo = first_order
        Xd = Q.X.toarray() if scipy.sparse.issparse(Q.X) else np.asarray(Q.X, dtype=np.float64)
        Xc = Xd.astype(np.float64) - Q.mean_
        keep = np.any(Q.coef_ != 0, axis=1)
        Xc, coef = Xc[keep], Q.coef_[keep]
        if fo is not None and fo.rank_ > 0:
            Xc = Xc - (Xc @ fo.basis_) @ fo.basis_.T
        n = N - (fo.rank_ if fo is not None else 0)
        Us, s, _ = np.linalg.svd(Xc, full_matrices=False)
        r = int(np.sum(s > rtol * s[0])) if s.size and s[0] > 0 else 0
        Us, s = Us[:, :r], s[:r]
        T = coef.shape[1]
        Ms = [(Us * s).T @ (coef[:, t : t + 1] * (Us * s)) for t in range(T)]
        extra_zero = n - r
    else:
        if callable(Q) and not isinstance(Q, (ExplicitQMatmul, DataQMatmul)):
            N = n_features if n_features is not None else (
                first_order.n_features_ if first_order is not None else None
            )
            if N is None:
                raise ValueError("n_features (or first_order) is needed with a callable Q.")
            qm = Q
        else:
            if not callable(Q):
                Q = ExplicitQMatmul(Q)
            qm = Q
            N = Q.n_features
        if first_order is not None and first_order.rank_ > 0:
            full = np.linalg.qr(first_order.basis_, mode="complete")[0]
            Bn = full[:, first_order.rank_ :]
        else:
            Bn = np.eye(N)
        n = Bn.shape[1]
        blocks = []
        for start in range(0, n, 512):
            out = np.asarray(qm(Bn[:, start : start + 512]))
            if out.ndim == 2:
                out = out[None]
            blocks.append(np.matmul(Bn.T, out))
        Ms = list(_sym(np.concatenate(blocks, axis=2))) if blocks else []
        T = len(Ms)
        extra_zero = 0
    inertia = []
    scale = 0.0
    evs = []
    for M in Ms:
        ev = np.linalg.eigvalsh(M) if M.size else np.zeros(0)
        evs.append(ev)
        if ev.size:
            scale = max(scale, float(np.max(np.abs(ev))))
    tol = rtol * scale
    for ev in evs:
        p, q_, z = _inertia(ev, tol)
        inertia.append((p, q_, z + extra_zero))
    per_dir = min((min(p, q_) + z for p, q_, z in inertia), default=n)
    if T > 1 and Ms and Ms[0].size:
        sv = np.linalg.svd(np.concatenate(Ms, axis=0), compute_uv=False)
        k = extra_zero + int(np.sum(sv <= tol))
    elif T == 1:
        k = inertia[0][2]
    else:
        k = n
    counting = k + max(0, (2 * (n - k) - T) // (T + 2)) if T > 1 else per_dir
    bound = int(min(per_dir, counting, n))
    if return_details:
        return bound, {
            "n": n,
            "T": T,
            "inertia": inertia,
            "common_kernel_dim": k,
            "per_direction_bound": per_dir,
            "counting_bound": counting,
        }
    return bound


# ---------------------------------------------------------------------------------------
# benchmark
# ---------------------------------------------------------------------------------------


def benchmark_constraints(N=784, m=256, T=(1, 9), n_samples=2000, repeats=3, random_state=0,
                          dtype=np.float64, step=1e-3):
    """Time the per-step operations with ``time.perf_counter``.

    Builds binary random data with ``T`` centred random labels, an implicit
    :class:`DataQMatmul`, the first-order projector and a second-order constraint; takes a
    feasible ``W`` when possible (otherwise a first-order-projected random one) and times
    ``project``, ``Q_matmul``, ``tangent_project`` and ``retract`` after a step of relative
    size ``step`` along the projected gradient.

    Parameters
    ----------
    N, m : int
        Visible units, constrained hidden units.
    T : int or sequence of int
        Numbers of label directions to benchmark.
    n_samples : int
        Data size of the implicit ``Q``.
    repeats : int
        Timing repeats (``(best, median)`` pairs are reported).
    random_state : int
    dtype : {np.float64, np.float32}
    step : float
        Relative size of the step before :meth:`~SecondOrderConstraint.retract`.

    Returns
    -------
    results : list of dict
        One dict per ``T`` with ``(best, median)`` times in seconds and retraction
        diagnostics. When ``m`` exceeds :func:`generic_isotropic_bound` the start is only
        first-order projected (``feasible=False``) and the retraction is not timed.
    """
    rng = np.random.default_rng(random_state)
    Ts = [T] if np.isscalar(T) else list(T)
    results = []
    X = (rng.random((n_samples, N)) < 0.3).astype(dtype)
    for t_dirs in Ts:
        labels = rng.integers(0, t_dirs + 1, size=n_samples)
        U = (labels[:, None] == np.arange(t_dirs)[None]).astype(np.float64)
        qm = DataQMatmul(X, U)
        fo = FirstOrderProjector(qm.first_order_directions())
        con = SecondOrderConstraint(qm, fo)
        W = (rng.standard_normal((N, m)) / np.sqrt(N)).astype(dtype)
        feasible = m <= generic_isotropic_bound(fo.null_dim, t_dirs)
        t0 = time.perf_counter()
        if feasible:
            W = con.project_initial(W)
        else:
            W = fo.project(W)
        t_init = time.perf_counter() - t0
        G = rng.standard_normal((N, m)).astype(dtype)

        def timeit(f):
            ts = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = f()
                ts.append(time.perf_counter() - t0)
            return float(np.min(ts)), float(np.median(ts)), res

        t_proj = timeit(lambda: fo.project(W))
        t_q = timeit(lambda: qm(W))
        t_tan = timeit(lambda: con.tangent_project(W, G))
        cg = con.last_info_.get("cg_iter")
        res = {
            "N": N, "m": m, "T": t_dirs, "dtype": np.dtype(dtype).name,
            "feasible": bool(feasible), "init_s": t_init,
            "project_s": t_proj[:2], "Q_matmul_s": t_q[:2],
            "tangent_project_s": t_tan[:2], "tangent_cg_iter": cg,
        }
        if feasible:
            X_t = t_tan[2]
            scale = step * np.linalg.norm(W) / max(np.linalg.norm(X_t), 1e-300)
            W1 = (W + scale * X_t).astype(dtype)
            t_ret = timeit(lambda: con.retract(W1))
            res.update({
                "retract_s": t_ret[:2], "retract_newton_iter": con.last_info_["n_iter"],
                "retract_cg_iters": con.last_info_["cg_iters"],
                "retract_residuals": con.last_info_["residuals"],
            })
        results.append(res)
    return results


def generic_isotropic_bound(n, T, kernel_dim=0):
    """Generic largest ``m`` with ``W^T Q^t W = 0`` for ``T`` forms on an ``n``-dim space.

    ``kernel_dim + floor((2 (n - k) - T) / (T + 2))`` for ``T > 1`` (dimension count on the
    Grassmannian) and ``kernel_dim + floor((n - k) / 2)`` for ``T = 1`` (balanced
    inertia). A cheap heuristic; :func:`max_isotropic_dim_estimate` computes the actual
    inertia.

    Parameters
    ----------
    n : int
        Dimension of the first-order subspace.
    T : int
        Number of label directions.
    kernel_dim : int, default=0
        Dimension ``k`` of the common kernel of the restricted ``Q^t``.

    Returns
    -------
    bound : int
    """
    r = n - kernel_dim
    if T <= 1:
        return kernel_dim + r // 2
    return kernel_dim + max(0, (2 * r - T) // (T + 2))
