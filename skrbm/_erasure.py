"""LabelErasure: linear maps whose outputs carry no first/second-order label information."""

import numbers
import warnings

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin

from ._compat import (
    Interval,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._label_stats import LabelStatistics, label_directions
from ._validation import check_no_strings, unchanged_on_failure

__all__ = ["LabelErasure"]

_EPS = np.finfo(np.float64).eps


# --------------------------------------------------------------------------------------
# numerical building blocks (all in float64, in orthonormal coordinates)
# --------------------------------------------------------------------------------------
def _weighted_principal_axes(Xc, w):
    """Eigen-decomposition of the weighted covariance, largest first.

    Returns ``lam`` (variances, descending) and ``V`` (N, len(lam)) orthonormal axes.
    """
    Y = np.sqrt(w)[:, None] * Xc
    n, N = Y.shape
    if n < N:
        _, s, Vt = np.linalg.svd(Y, full_matrices=False)
        lam, V = s**2, Vt.T
    else:
        lam, V = np.linalg.eigh(Y.T @ Y)
        lam, V = lam[::-1], V[:, ::-1]
    return np.maximum(lam, 0.0), V


def _null_space(A, rcond=None):
    """Orthonormal basis (columns) of the null space of the rows of ``A`` (k, m)."""
    m = A.shape[1]
    if A.shape[0] == 0:
        return np.eye(m)
    norms = np.linalg.norm(A, axis=1)
    if norms.max() == 0:
        return np.eye(m)
    A = A[norms > 0] / norms[norms > 0, None]
    _, s, Vt = np.linalg.svd(A, full_matrices=True)
    if rcond is None:
        rcond = max(A.shape) * _EPS
    rank = int(np.sum(s > rcond * s[0]))
    return Vt[rank:].T


def _top_eigvec(M):
    _, vecs = scipy.linalg.eigh(M, subset_by_index=[M.shape[0] - 1, M.shape[0] - 1])
    return vecs[:, 0]


def _isotropic_in_plane(E, Q):
    """Unit vectors ``x`` in ``span(E)`` (E: m x 2 orthonormal) with ``x^T Q x = 0``.

    Returns a list (possibly empty) of candidates, exact up to rounding.
    """
    G = E.T @ Q @ E
    G = 0.5 * (G + G.T)
    s, R = np.linalg.eigh(G)  # s[0] <= s[1]
    if s[0] > 0 or s[1] < 0:
        return []
    a, b = np.sqrt(max(s[1], 0.0)), np.sqrt(max(-s[0], 0.0))
    if a == 0 and b == 0:
        return [E[:, 0], E[:, 1]]
    out = []
    for sign in (1.0, -1.0):
        c = b * R[:, 1] + sign * a * R[:, 0]
        c /= np.linalg.norm(c)
        out.append(E @ c)
    return out


def _best_isotropic_single(C, Q, kthr, eta0=None):
    """Max ``x^T C x`` over unit ``x`` with ``x^T Q x = 0`` (one form), exactly.

    The dual ``phi(eta) = lambda_max(C - eta Q)`` is convex; its derivative is
    ``-h(eta)`` with ``h = v^T Q v`` (``v`` the top eigenvector), non-increasing.
    The minimiser (the root or the jump of ``h``) is bracketed, starting from
    ``eta0`` (the previous greedy step's value), and located by the Illinois
    variant of regula falsi with bisection safeguards; the primal optimum is the
    top eigenvector there or, at a jump, an isotropic vector of the top-two
    eigenspace. By Brickman's theorem (the joint numerical range of two real
    quadratic forms on the unit sphere is convex in dimension >= 3) the dual
    bound is attained, so the step is globally optimal.

    Returns ``(x, eta)``; ``x`` is None when no isotropic vector exists.
    """
    m = C.shape[0]
    sig = np.linalg.eigvalsh(Q)
    if sig[-1] <= kthr and sig[0] >= -kthr:  # Q vanishes on this space
        return _top_eigvec(C), 0.0
    if sig[0] >= -kthr or sig[-1] <= kthr:  # semi-definite: only its kernel is isotropic
        sig, E = np.linalg.eigh(Q)
        K = E[:, np.abs(sig) <= kthr]
        if K.shape[1] == 0:
            return None, 0.0
        return K @ _top_eigvec(K.T @ C @ K), 0.0
    if m == 2:
        cands = _isotropic_in_plane(np.eye(2), Q)
        return max(cands, key=lambda x: x @ C @ x), 0.0

    cache = {}

    def top(eta):
        if eta not in cache:
            _, vecs = scipy.linalg.eigh(
                C - eta * Q, subset_by_index=[m - 2, m - 1], check_finite=False, driver="evx"
            )
            v = vecs[:, 1]
            cache[eta] = (v, vecs[:, 0], v @ Q @ v)
        return cache[eta]

    scale = max(np.abs(np.diag(C)).max(), 1e-300) / max(np.abs(sig).max(), 1e-300)
    eta = 0.0 if eta0 is None or not np.isfinite(eta0) else float(eta0)
    step = scale if eta0 is None else 0.05 * scale + 0.05 * abs(eta)
    v, _, h = top(eta)
    if abs(h) <= kthr:
        return v, eta
    # bracket [lo, hi] with h(lo) > 0 > h(hi)
    if h > 0:
        lo, flo = eta, h
        for _ in range(400):
            hi = lo + step
            fhi = top(hi)[2]
            if fhi < 0:
                break
            lo, flo, step = hi, fhi, 2.0 * step
    else:
        hi, fhi = eta, h
        for _ in range(400):
            lo = hi - step
            flo = top(lo)[2]
            if flo > 0:
                break
            hi, fhi, step = lo, flo, 2.0 * step
    if not (flo > 0 > fhi):
        return None, eta
    # Illinois regula falsi on the non-increasing h, safeguarded by bisection
    wlo, whi, side, width = flo, fhi, 0, hi - lo
    for it in range(200):
        if hi - lo <= 4 * _EPS * max(abs(lo), abs(hi)):
            break
        mid = 0.5 * (lo + hi)
        eta = (lo * whi - hi * wlo) / (whi - wlo) if it % 4 != 3 else mid
        if not lo < eta < hi:
            eta = mid
        v, _, h = top(eta)
        if abs(h) <= kthr:
            return v, eta
        if h > 0:
            lo, wlo = eta, h
            if side == 1:
                whi *= 0.5
            side = 1
        else:
            hi, whi = eta, h
            if side == -1:
                wlo *= 0.5
            side = -1
        if it % 4 == 3:
            if hi - lo > 0.5 * width:  # too slow: force bisection next time
                wlo, whi = top(lo)[2], top(hi)[2]
            width = hi - lo
    v_lo, v_hi = top(lo)[0], top(hi)[0]
    e1, e2, _ = top(0.5 * (lo + hi))
    planes = [np.column_stack([e1, e2])]
    if abs(v_lo @ v_hi) < 1 - 1e-8:
        P, _ = np.linalg.qr(np.column_stack([v_lo, v_hi]))
        planes.append(P)
    cands = [x for P in planes for x in _isotropic_in_plane(P, Q)]
    if not cands:
        return (v_lo if abs(top(lo)[2]) <= kthr else None), 0.5 * (lo + hi)
    return max(cands, key=lambda x: x @ C @ x), 0.5 * (lo + hi)


def _retract(y, Qs, kthr, max_iter=60):
    """Gauss-Newton (minimum-norm) projection onto {|y|=1, y^T Q^t y = 0 for all t}."""
    y = y / np.linalg.norm(y)
    g = np.einsum("i,tij,j->t", y, Qs, y)
    for _ in range(max_iter):
        if np.abs(g).max() <= kthr:
            return y, True
        J = 2.0 * (Qs @ y)  # (T, m)
        J = J - np.outer(J @ y, y)
        delta = -np.linalg.lstsq(J, g, rcond=None)[0]
        step, gnorm = 1.0, np.linalg.norm(g)
        for _ in range(40):
            y_new = y + step * delta
            y_new /= np.linalg.norm(y_new)
            g_new = np.einsum("i,tij,j->t", y_new, Qs, y_new)
            if np.linalg.norm(g_new) < gnorm:
                break
            step *= 0.5
        else:
            return y, False
        y, g = y_new, g_new
    return y, bool(np.abs(g).max() <= kthr)


def _newton_ascent(y, C, Qs, kthr, max_iter=100):
    """Maximise y^T C y on the isotropic unit vectors by saddle-free Riemannian Newton.

    At a feasible ``y`` the tangent space is the null space ``Z`` of
    ``[y, Q^1 y, ..., Q^T y]``; the multipliers ``lam`` solve the least-squares
    stationarity equations and ``H = Z^T (C - lam_0 I - sum_t lam_t Q^t) Z`` is the
    Riemannian Hessian (up to a factor 2). The step uses ``|H|`` (absolute
    eigenvalues), so it always ascends, is retracted by Gauss-Newton and
    backtracked until ``f`` increases: ``f`` is monotone and bounded, so the
    iteration converges, quadratically near a non-degenerate local maximum.
    """
    m = y.size
    f = y @ C @ y
    cnorm = max(np.abs(np.diag(C)).max(), 1e-300)
    for _ in range(max_iter):
        Qy = Qs @ y
        A = np.vstack([y, Qy])
        Z = _null_space(A)
        if Z.shape[1] == 0:
            break
        lam = np.linalg.lstsq(A.T, C @ y, rcond=None)[0]
        H = C - lam[0] * np.eye(m) - np.tensordot(lam[1:], Qs, axes=1)
        Hz = Z.T @ H @ Z
        gz = Z.T @ (C @ y)
        if np.linalg.norm(gz) <= 1e-13 * cnorm:
            break
        sig, E = np.linalg.eigh(0.5 * (Hz + Hz.T))
        sig = np.maximum(np.abs(sig), 1e-10 * cnorm)
        p = Z @ (E @ ((E.T @ gz) / sig))
        step, accepted = 1.0, False
        for _ in range(40):
            y_new, ok = _retract(y + step * p, Qs, kthr)
            if ok:
                f_new = y_new @ C @ y_new
                if f_new > f:
                    accepted = True
                    break
            step *= 0.5
        if not accepted:
            break
        done = f_new - f <= 1e-15 * cnorm
        y, f = y_new, f_new
        if done:
            break
    return y


def _best_isotropic_multi(C, Qs, kthr):
    """Max y^T C y over unit y isotropic for every Q^t (local method, T >= 2)."""
    m = C.shape[0]
    if max(np.abs(Q).max() for Q in Qs) <= kthr:
        return _top_eigvec(C)
    evals, evecs = np.linalg.eigh(C)
    starts = [evecs[:, -i] for i in range(1, min(m, 3) + 1)]
    for Q in Qs:
        x, _ = _best_isotropic_single(C, Q, kthr)
        if x is not None:
            starts.append(x)
    feasible = []
    for y0 in starts:
        y, ok = _retract(y0, Qs, kthr)
        if ok:
            feasible.append(y)
    if not feasible:
        return None
    feasible.sort(key=lambda y: -(y @ C @ y))
    best = None
    for y in feasible[:2]:
        y = _newton_ascent(y, C, Qs, kthr)
        if best is None or y @ C @ y > best @ C @ best:
            best = y
    return best


def _second_order_greedy(c, Qs, n_max, kthr):
    """Greedy max-variance subspace on which every Q^t vanishes.

    ``c`` (m,) are the variances of orthonormal coordinates with a diagonal
    covariance; ``Qs`` (T, m, m) the forms in the same coordinates. Returns the
    chosen orthonormal directions as rows (k, m).
    """
    m, T = c.size, Qs.shape[0]
    B = np.eye(m)
    chosen = []
    eta = None
    while len(chosen) < n_max and B.shape[1] > 0:
        CL = B.T @ (c[:, None] * B)
        QL = np.einsum("ia,tij,jb->tab", B, Qs, B, optimize=True)
        QL = 0.5 * (QL + QL.transpose(0, 2, 1))
        if T == 1:
            y, eta = _best_isotropic_single(CL, QL[0], kthr, eta)
            if y is not None:
                y, ok = _retract(y, QL, kthr)
                y = y if ok else None
        else:
            y = _best_isotropic_multi(CL, QL, kthr)
        if y is None:
            break
        y = y / np.linalg.norm(y)
        chosen.append(B @ y)
        B = B @ _null_space(np.vstack([y, *(QL @ y)]))
    return np.array(chosen).reshape(len(chosen), m)


# --------------------------------------------------------------------------------------
# the estimator
# --------------------------------------------------------------------------------------
class LabelErasure(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Linear projection whose outputs carry no first- (and second-) order label information.

    ``fit(X, y)`` learns orthonormal components ``K`` (``n_components_ x
    n_features``); ``transform(X) = (X - mean_) @ K.T``. Among all such maps
    obeying the constraints of the requested ``order`` it keeps the directions
    of maximal variance (like PCA), and it *drops* every direction of
    (numerically) zero variance, so no output is floating-point residue.

    The constraints are those of Fernandez-de-Cossio-Diaz, Cocco and Monasson,
    PRX 13, 021003 (2023), applied to a linear map instead of RBM weights. With
    label directions ``u^t`` (see Notes), ``q_i^t = Cov(u^t, x_i)`` and
    ``Q^t_ij = <(u^t - <u^t>)(x_i - <x_i>)(x_j - <x_j>)>``:

    - ``order=0``: no constraint: weighted PCA (a baseline).
    - ``order=1``: ``K q = 0``: every output is uncorrelated with every label
      direction on the training data (the class-conditional means of the
      outputs are equal). No linear probe trained on the outputs can beat chance
      *on the training data population*.
    - ``order=2``: additionally ``K Q^t K^T = 0`` for every ``t``: the
      class-conditional second moments of the outputs are equal too, which
      defeats quadratic probes.

    Parameters
    ----------
    order : {0, 1, 2}, default=1
        Order of the label statistics to erase.
    n_components : int, default=None
        Number of output directions. ``None`` keeps every direction the
        constraints allow (and whose variance is above the ``tol`` threshold).
        An int asks for that many; if the constraints leave fewer, all the
        available directions are kept and a UserWarning states the dimensions
        (``n_components_`` holds the actual number). It is not an error because
        erasure can legitimately leave fewer directions than asked, e.g. within
        a cross-validation fold (turn the warning into an error with
        :mod:`warnings` filters if a fixed output width is required).
    tol : float, default=1e-8
        Relative threshold: directions whose variance is at most ``tol`` times
        the largest variance of ``X`` are treated as constant and dropped.

    Attributes
    ----------
    components_ : ndarray of shape (n_components_, n_features_in_)
        Orthonormal rows, sorted by decreasing variance; each row's largest
        entry (in absolute value) is positive.
    mean_ : ndarray of shape (n_features_in_,)
        Weighted mean of the training data.
    explained_variance_ : ndarray of shape (n_components_,)
        Weighted population variance (normalised by the sum of weights, not
        ``n - 1``) of each output on the training data.
    explained_variance_ratio_ : ndarray of shape (n_components_,)
        ``explained_variance_`` divided by the total variance of ``X``.
    n_components_ : int
        Number of outputs (may be 0 when the constraints leave nothing; a
        warning is then emitted).
    label_directions_ : ndarray of shape (n_directions, n_features_in_)
        The first-order statistics ``q^t`` (one row per label direction): the
        covariances with the data that the outputs are orthogonal to.
    direction_names_ : list of str
        A readable name per label direction, e.g. ``"y == 3"``.
    classes_ : ndarray or list of ndarray
        Sorted classes of ``y`` (1-D ``y``) or, for a 2-D ``y`` of binary
        attributes, the two values of each column.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit, when ``X`` has string column names.

    See Also
    --------
    sklearn.decomposition.PCA : The unconstrained counterpart (``order=0``).

    Notes
    -----
    **Labels.** ``y`` may be 1-D (``C >= 2`` classes give ``C - 1`` indicator
    directions, dropping the first class) or 2-D (several binary attributes, one
    direction each). ``y`` must have at least two classes (counting samples of
    non-zero weight): with a single class there is no label information to
    erase, and a ValueError saying so is raised (for every ``order``, so that
    ``classes_`` and ``label_directions_`` are always defined).

    **Algorithm.** All computations are done in float64 in the principal axes
    of the weighted covariance ``C`` restricted to directions of variance
    ``> tol * lambda_max``; ``q`` and every ``Q^t`` live in that subspace
    (``Q^t`` is built from the centred data), so nothing is lost and zero-variance
    directions never enter. ``order=1`` takes an orthonormal basis ``B`` of the
    null space of ``q^T`` there and keeps the principal eigenvectors of
    ``B^T C B``. ``order=2`` works inside that first-order subspace and builds the
    output subspace greedily: at each step it picks the unit vector ``x`` of
    maximal variance ``x^T C x`` that is Q-isotropic (``x^T Q^t x = 0`` for all
    ``t``) and both orthogonal and Q-orthogonal (``x^T Q^t x_i = 0``) to the
    vectors already chosen, so the span of the chosen vectors is totally
    isotropic for every ``Q^t``; the linear conditions are imposed exactly by
    restricting to a null space. With one label direction (``T = 1``) each step
    is solved globally: the dual ``min_eta lambda_max(C - eta Q)`` is a convex
    1-D problem, solved by safeguarded regula falsi on the sign of ``v^T Q v``
    (``v`` the top eigenvector of ``C - eta Q``), and the optimum is an
    isotropic vector of the top eigenspace at the minimiser (by Brickman's
    convexity theorem there is no duality gap). With ``T >= 2`` each step starts
    from the best of several feasible points (Gauss-Newton projections onto the
    isotropic unit vectors of the top principal axes and of the single-form
    optima) and climbs by a saddle-free Riemannian Newton method with a
    Gauss-Newton retraction and backtracking (monotone, converging quadratically
    near a non-degenerate maximum), so each step reaches a local optimum. The
    greedy loop stops when no isotropic direction is left; every step removes
    at least one (generically ``T + 1``) dimensions, so it ends after at most
    ``m`` steps (``m`` the first-order dimension). A generic indefinite form on
    ``m`` dimensions has totally isotropic subspaces of dimension at most about
    ``m / 2`` (plus its kernel), which the greedy loop reaches for ``T = 1``;
    for ``T >= 2`` it keeps about ``m / (T + 1)`` directions, below the generic
    maximum of about ``m / (1 + T / 2)``. A definite ``Q`` (e.g. a label that only
    changes the spread of every feature in the same direction) leaves no
    direction at all. Finally the chosen subspace is rotated to its principal
    axes (isotropy is a property of the subspace, so it is preserved) and
    directions of variance ``<= tol * lambda_max`` are dropped.

    The constraints hold exactly (to rounding) on the training population; on
    new data they hold up to sampling error.

    Complexity: ``O(n N min(n, N))`` for the principal axes; ``order=2`` adds
    ``O(n d^2 T)`` for the restricted forms and about ten ``d x d`` eigen
    problems per greedy step for ``T = 1`` (``d`` the number of retained
    directions), so ``O(d^4)`` in all: seconds for ``d ~ 100``, minutes for
    ``d ~ 300``.

    References
    ----------
    J. Fernandez-de-Cossio-Diaz, S. Cocco, R. Monasson, "Disentangling
    Representations in Restricted Boltzmann Machines without Adversaries",
    Phys. Rev. X 13, 021003 (2023).

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._erasure import LabelErasure
    >>> rng = np.random.RandomState(0)
    >>> y = np.repeat([0, 1], 50)
    >>> X = rng.normal(size=(100, 4)) + y[:, None] * np.array([2.0, 0.0, 0.0, 1.0])
    >>> Z = LabelErasure(order=1).fit_transform(X, y)
    >>> Z.shape
    (100, 3)
    >>> bool(np.abs(np.cov(np.c_[Z, y].T, bias=True)[-1, :-1]).max() < 1e-12)
    True
    >>> LabelErasure(order=2).fit(X, y).n_components_ >= 1
    True
    """

    _parameter_constraints: dict = {
        "order": [Interval(numbers.Integral, 0, 2, closed="both")],
        "n_components": [Interval(numbers.Integral, 1, None, closed="left"), None],
        "tol": [Interval(numbers.Real, 0, 1, closed="left")],
    }

    def __init__(self, order=1, *, n_components=None, tol=1e-8):
        self.order = order
        self.n_components = n_components
        self.tol = tol

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = True
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags

    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y, *, sample_weight=None):
        """Learn the constrained projection.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data.
        y : array-like of shape (n_samples,) or (n_samples, n_attributes)
            Class labels (1-D), or several binary attributes (2-D).
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; all statistics are weighted by them.

        Returns
        -------
        self : LabelErasure
            The fitted transformer.
        """
        with unchanged_on_failure(self):  # a failed fit leaves a fitted model as it was
            return self._fit(X, y, sample_weight)

    def _fit(self, X, y, sample_weight):
        check_no_strings(X, "X", type(self).__name__)
        X, y = validate_data(
            self,
            X,
            y,
            dtype=[np.float64, np.float32],
            multi_output=True,
            y_numeric=False,
        )
        sw = _check_sample_weight(sample_weight, X, dtype=np.float64, ensure_non_negative=True)
        try:
            U, info = label_directions(y, sample_weight=sw)
        except ValueError as exc:
            if "single class" in str(exc) or "single value" in str(exc):
                raise ValueError(
                    f"{type(self).__name__} needs at least two classes: y has only one class "
                    "(among samples of non-zero weight; for a 2-D y, a column with a single "
                    f"value), so there is no label information to erase. ({exc})"
                ) from exc
            raise
        stats = LabelStatistics(X.astype(np.float64), U, sw, q_form="implicit")
        self.classes_ = info["classes_"]
        self.direction_names_ = list(info["names"])
        self.label_directions_ = np.ascontiguousarray(stats.q_.T)

        W, var, total_var, dims = self._constrained_directions(stats)
        available, want = W.shape[1], self.n_components
        if want is not None and want > available:
            msg = self._infeasible_message(want, available, dims)
            warnings.warn(msg, UserWarning, stacklevel=4)
        elif want is not None:
            W, var = W[:, :want], var[:want]
        elif available == 0:
            warnings.warn(
                f"{type(self).__name__}(order={self.order}) kept no direction: "
                + self._dims_sentence(dims)
                + " The output has 0 columns.",
                UserWarning,
                stacklevel=4,
            )
        K = W.T.copy()
        if K.shape[0]:
            idx = np.argmax(np.abs(K), axis=1)
            K *= np.sign(K[np.arange(K.shape[0]), idx])[:, None]
        self.components_ = K.astype(X.dtype)
        self.mean_ = stats.v_mean_.astype(X.dtype)
        self.explained_variance_ = np.asarray(var, dtype=X.dtype)
        self.explained_variance_ratio_ = (
            self.explained_variance_ / total_var if total_var > 0 else self.explained_variance_
        )
        self.n_components_ = K.shape[0]
        return self

    def _constrained_directions(self, stats):
        """Columns ``W`` (N, k) of the allowed directions and their variances."""
        lam, V = _weighted_principal_axes(stats.X_centered_, stats.weights_)
        total_var = float(lam.sum())
        lam_max = float(lam[0]) if lam.size else 0.0
        d = int(np.sum(lam > self.tol * lam_max)) if lam_max > 0 else 0
        lam, V = lam[:d], V[:, :d]
        dims = {"n_features": stats.n_features_, "nonzero": d}
        if self.order == 0:
            return V, lam, total_var, dims

        # first order: orthonormal basis B of null(q^T) in the principal coordinates
        qd = V.T @ stats.q_
        B = _null_space(qd.T) if d > 0 else np.eye(0)
        dims["first"] = d - B.shape[1]
        mu, R = np.linalg.eigh(B.T @ (lam[:, None] * B))
        mu, R = mu[::-1], R[:, ::-1]
        keep = mu > self.tol * lam_max
        W, mu = V @ (B @ R)[:, keep], mu[keep]
        if self.order == 1 or W.shape[1] == 0:
            return W, mu, total_var, dims

        # second order: greedy isotropic subspace inside the first-order subspace
        Qs = stats.quadratic_form(W)
        qscale = max(np.linalg.norm(Q, 2) for Q in Qs)
        kthr = 64 * _EPS * W.shape[1] * qscale
        n_max = W.shape[1] if self.n_components is None else self.n_components
        Y = _second_order_greedy(mu, Qs, n_max, kthr)
        dims["second"] = W.shape[1] - Y.shape[0]
        if Y.shape[0] == 0:
            return W[:, :0], mu[:0], total_var, dims
        # principal axes of the chosen subspace (isotropy is a property of the subspace)
        S = Y @ (mu[:, None] * Y.T)
        ev, Rot = np.linalg.eigh(0.5 * (S + S.T))
        ev, Rot = ev[::-1], Rot[:, ::-1]
        keep = ev > self.tol * lam_max
        return W @ (Rot.T @ Y)[keep].T, ev[keep], total_var, dims

    def _dims_sentence(self, dims):
        s = (
            f"n_features = {dims['n_features']}, of which {dims['nonzero']} direction(s) "
            f"have non-zero variance (tol={self.tol})"
        )
        if "first" in dims:
            s += (
                f"; the first-order constraint removes {dims['first']} (one per "
                "independent label direction)"
            )
        if "second" in dims:
            s += f"; the second-order constraint removes {dims['second']} more"
        return s + "."

    def _infeasible_message(self, want, available, dims):
        return (
            f"n_components={want} is more than the {available} direction(s) the "
            f"order={self.order} constraints leave: " + self._dims_sentence(dims)
            + f" Keeping {available}; n_components_ holds the number of outputs."
        )

    def transform(self, X):
        """Project ``X`` on the constrained components.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Data to project.

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_components_)
            ``(X - mean_) @ components_.T``.
        """
        check_is_fitted(self)
        check_no_strings(X, "X", type(self).__name__)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return (X - self.mean_) @ self.components_.T

    @property
    def _n_features_out(self):
        return self.components_.shape[0]
