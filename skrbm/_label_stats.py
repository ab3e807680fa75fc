"""Label directions and the first- and second-order label statistics of data.

This module turns labels into numeric *label directions* ``U`` (one column per
direction) and computes, for a numeric representation ``X`` of the data, the
label statistics the constraints of Fernandez-de-Cossio-Diaz, Cocco and Monasson
(PRX 13, 021003, 2023) are written in:

- first order, ``q_i^t = <u^t v_i> - <u^t><v_i>`` (an ``(N, T)`` matrix);
- second order, ``Q^t_ij = <(u^t - <u^t>)(v_i - <v_i>)(v_j - <v_j>)>`` (``T``
  symmetric ``N x N`` matrices), available as products ``Q^t W`` without ever
  forming an ``N x N`` matrix (the *implicit* form).

All averages are weighted population averages (weights normalised to sum 1).
It is used both by :class:`~skrbm.LabelErasure` and by the constrained RBM
trainer.
"""

import numbers

import numpy as np

__all__ = ["label_directions", "LabelStatistics", "DEFAULT_MAX_BYTES"]

#: Default memory budget (bytes) for the dense second-order tensor ``Q``.
DEFAULT_MAX_BYTES = 256 * 2**20


def _format_bytes(nbytes):
    """``nbytes`` in readable binary units, e.g. ``'2.98 GiB (3200000000 bytes)'``."""
    if nbytes < 1024:
        return f"{int(nbytes)} bytes"
    value = nbytes / 1024
    for unit in ("KiB", "MiB", "GiB"):
        if value < 1024:
            break
        value /= 1024
    else:
        unit = "TiB"
    return f"{value:.3g} {unit} ({int(nbytes)} bytes)"


def _is_nan_like(value):
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return not np.isfinite(value)
    if isinstance(value, (complex, np.complexfloating)):
        return True
    return False


def _check_label_values(labels):
    """Raise a ValueError for NaN, inf, None or complex labels."""
    kind = labels.dtype.kind
    if kind == "c":
        raise ValueError("Complex data not supported: labels must be real numbers or strings.")
    if kind == "f":
        if np.isnan(labels).any():
            raise ValueError(
                "labels contain NaN: every sample needs a label (drop or impute the "
                "unlabelled samples first)."
            )
        if np.isinf(labels).any():
            raise ValueError("labels contain infinity: labels must be finite class values.")
    elif kind == "O":
        bad = [v for v in labels.ravel() if _is_nan_like(v)]
        if bad:
            raise ValueError(
                f"labels contain missing values ({bad[0]!r}): every sample needs a finite "
                "label."
            )
    elif kind not in "biuUSM":
        raise ValueError(f"labels of dtype {labels.dtype} are not supported.")


def _check_not_continuous(labels, where="labels"):
    if labels.dtype.kind == "f" and np.any(labels != np.round(labels)):
        raise ValueError(
            f"{where} look continuous (non-integer floats). Label directions are built "
            "from classes: pass class labels (integers or strings), or bin the values "
            "first (e.g. with numpy.digitize)."
        )


def _sorted_unique(values):
    try:
        return np.unique(values)
    except TypeError as exc:  # mixed types in an object array
        raise ValueError(
            f"labels mix types that cannot be ordered ({exc}); use one type (all str or "
            "all numbers)."
        ) from exc


def label_directions(labels, sample_weight=None):
    """Turn labels into numeric label directions.

    Parameters
    ----------
    labels : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Class labels. A 1-D array with ``C`` classes gives ``C - 1`` directions:
        the indicator of the second class if ``C = 2``, and the one-hot indicators
        of every class except the first (in sorted order) if ``C > 2`` (the ``C``
        class covariances sum to zero, so one is redundant). A 2-D array holds
        several binary attributes: each column must take exactly two distinct
        values and gives the indicator of its larger value. A column vector of
        shape ``(n_samples, 1)`` is treated as a 1-D array.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights. Samples of zero weight do not count when the
        classes are determined (so fitting with zero weights is the same as
        removing those samples); their rows of ``U`` are indicators as usual.

    Returns
    -------
    U : ndarray of shape (n_samples, n_directions), dtype float64
        The label directions, one column per direction.
    info : dict
        ``"classes_"``: the sorted classes (1-D labels) or a list of the two
        values of each column (2-D labels); ``"names"``: a list of one readable
        name per direction (for example ``"y == 3"``); ``"kind"``: one of
        ``"binary"``, ``"multiclass"``, ``"multi-attribute"``.

    Raises
    ------
    ValueError
        If the labels contain NaN, infinity or missing values, are complex, look
        continuous (non-integer floats), have a length different from
        ``sample_weight``, have a single class, or (2-D) a column that does not
        take exactly two values.

    Examples
    --------
    >>> from skrbm._label_stats import label_directions
    >>> U, info = label_directions(["a", "b", "c", "b"])
    >>> U
    array([[0., 0.],
           [1., 0.],
           [0., 1.],
           [1., 0.]])
    >>> info["names"]
    ['y == b', 'y == c']
    """
    labels = np.asarray(labels)
    if labels.ndim == 2 and labels.shape[1] == 1:
        labels = labels[:, 0]
    if labels.ndim not in (1, 2):
        raise ValueError(
            f"labels must be a 1-D array of classes or a 2-D array of binary attributes; "
            f"got an array of shape {labels.shape}."
        )
    n = labels.shape[0]
    if n == 0:
        raise ValueError("labels are empty: at least one labelled sample is required.")
    _check_label_values(labels)

    if sample_weight is None:
        keep = np.ones(n, dtype=bool)
    else:
        sample_weight = np.asarray(sample_weight, dtype=np.float64)
        if sample_weight.shape != (n,):
            raise ValueError(
                f"sample_weight has shape {sample_weight.shape}, expected ({n},) to match "
                f"the {n} labels."
            )
        if not np.isfinite(sample_weight).all() or (sample_weight < 0).any():
            raise ValueError("sample_weight must be finite and non-negative.")
        keep = sample_weight > 0
        if not keep.any():
            raise ValueError(
                "All sample weights are zero: at least one sample needs a non-zero weight."
            )

    if labels.ndim == 1:
        _check_not_continuous(labels)
        classes = _sorted_unique(labels[keep])
        if classes.size < 2:
            raise ValueError(
                f"labels have a single class ({classes[0]!r}): there is nothing to "
                "constrain. Label directions need at least two classes (only one class "
                "was found among the samples with non-zero weight)."
            )
        U = np.stack([labels == c for c in classes[1:]], axis=1).astype(np.float64)
        names = [f"y == {c}" for c in classes[1:]]
        kind = "binary" if classes.size == 2 else "multiclass"
        return U, {"classes_": classes, "names": names, "kind": kind}

    columns, names, values = [], [], []
    for j in range(labels.shape[1]):
        col = labels[:, j]
        _check_not_continuous(col, where=f"labels column {j}")
        vals = _sorted_unique(col[keep])
        if vals.size != 2:
            raise ValueError(
                f"labels column {j} takes {vals.size} distinct value(s) "
                f"({', '.join(map(repr, vals[:5].tolist()))}{', ...' if vals.size > 5 else ''})"
                "; a 2-D label array must hold binary attributes with exactly two values "
                "per column (a single value means there is nothing to constrain). Pass a "
                "multi-class label as a 1-D array instead."
            )
        columns.append(col == vals[1])
        names.append(f"y[:, {j}] == {vals[1]}")
        values.append(vals)
    U = np.stack(columns, axis=1).astype(np.float64)
    return U, {"classes_": values, "names": names, "kind": "multi-attribute"}


class LabelStatistics:
    """Weighted first- and second-order label statistics of a data set.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Numeric visible representation of the data (floats; float32 is kept).
    U : array-like of shape (n_samples, n_directions)
        Label directions, e.g. from :func:`label_directions`.
    sample_weight : array-like of shape (n_samples,), default=None
        Non-negative sample weights; all averages are weighted by them.
    q_form : {"auto", "explicit", "implicit"}, default="auto"
        How the second-order tensor ``Q`` is used. ``"explicit"`` precomputes the
        dense ``(n_directions, n_features, n_features)`` tensor and multiplies by
        it. ``"implicit"`` never forms it: ``Q^t W`` is computed from the centred
        data as ``X_c^T diag(w u_c^t) (X_c W)`` in ``O(n_samples n_features m)``
        time and ``O(n_samples m)`` extra memory. ``"auto"`` chooses
        ``"explicit"`` only when the dense tensor fits in ``max_bytes`` *and* a
        product with it is cheaper than the implicit product, i.e. when
        ``T N^2 <= n (2 N + T)`` (this also keeps the dense tensor no larger than
        about twice the data). An explicit ``"explicit"`` whose tensor exceeds
        ``max_bytes`` is refused with a ValueError before anything is allocated.
    max_bytes : int, default=None
        Memory budget in bytes for the dense tensor; ``None`` means
        :data:`DEFAULT_MAX_BYTES` (256 MiB).

    Attributes
    ----------
    v_mean_ : ndarray of shape (n_features,)
        Weighted mean ``<v_i>``.
    u_mean_ : ndarray of shape (n_directions,)
        Weighted mean ``<u^t>``.
    q_ : ndarray of shape (n_features, n_directions)
        First-order statistics ``q_i^t = <u^t v_i> - <u^t><v_i>``.
    q_form_ : str
        ``"explicit"`` or ``"implicit"``: the form actually used.
    weights_ : ndarray of shape (n_samples,)
        Sample weights normalised to sum to one.
    X_centered_ : ndarray of shape (n_samples, n_features)
        ``X - v_mean_``.
    U_centered_ : ndarray of shape (n_samples, n_directions)
        ``U - u_mean_``.
    n_samples_, n_features_, n_directions_ : int
        Sizes.
    dtype_ : numpy dtype
        float32 if ``X`` is float32, else float64.

    Notes
    -----
    ``Q^t`` is symmetric and lives in the row space of the centred data, so
    directions of zero variance are in the kernel of every ``Q^t``. On weights ``W`` with
    ``q^T W = 0`` the raw third moment ``<u v_i v_j> - <u><v_i v_j>`` gives the
    same quadratic form as ``Q``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._label_stats import LabelStatistics, label_directions
    >>> X = np.array([[0., 1.], [1., 1.], [2., 0.], [3., 0.]])
    >>> U, _ = label_directions([0, 0, 1, 1])
    >>> stats = LabelStatistics(X, U)
    >>> stats.q_
    array([[ 0.5 ],
           [-0.25]])
    >>> stats.Q_matmul(np.eye(2)).shape
    (1, 2, 2)
    """

    def __init__(self, X, U, sample_weight=None, *, q_form="auto", max_bytes=None):
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (n_samples, n_features); got shape {X.shape}.")
        dtype = np.float32 if X.dtype == np.float32 else np.float64
        X = X.astype(dtype, copy=False)
        U = np.asarray(U, dtype=np.float64)
        if U.ndim == 1:
            U = U[:, None]
        n, N = X.shape
        if U.ndim != 2 or U.shape[0] != n:
            raise ValueError(
                f"U must have shape (n_samples, n_directions) with n_samples = {n} like X; "
                f"got shape {U.shape}."
            )
        if not np.isfinite(X).all():
            raise ValueError("X contains NaN or infinity.")
        if not np.isfinite(U).all():
            raise ValueError("U contains NaN or infinity.")
        if sample_weight is None:
            w = np.full(n, 1.0 / n)
        else:
            w = np.asarray(sample_weight, dtype=np.float64)
            if w.shape != (n,):
                raise ValueError(
                    f"sample_weight has shape {w.shape}, expected ({n},) to match X."
                )
            if not np.isfinite(w).all() or (w < 0).any():
                raise ValueError("sample_weight must be finite and non-negative.")
            total = w.sum()
            if total <= 0:
                raise ValueError(
                    "All sample weights are zero: at least one sample needs a non-zero weight."
                )
            w = w / total
        if q_form not in ("auto", "explicit", "implicit"):
            raise ValueError(
                f"q_form must be 'auto', 'explicit' or 'implicit'; got {q_form!r}."
            )
        if max_bytes is None:
            max_bytes = DEFAULT_MAX_BYTES
        elif not isinstance(max_bytes, numbers.Integral) or max_bytes < 0:
            raise ValueError(f"max_bytes must be a non-negative int or None; got {max_bytes!r}.")

        T = U.shape[1]
        dense_bytes = T * N * N * np.dtype(dtype).itemsize
        if q_form == "explicit" and dense_bytes > max_bytes:
            # refuse before anything of the size of the dense tensor is allocated
            raise ValueError(
                f"q_form='explicit' needs the dense second-order tensor Q of shape "
                f"(n_directions, n_features, n_features) = ({T}, {N}, {N}) in "
                f"{np.dtype(dtype).name}: {_format_bytes(dense_bytes)}, above the memory "
                f"limit max_bytes={int(max_bytes)} ({_format_bytes(max_bytes)}) that "
                "q_form='auto' also uses. Use q_form='implicit' (or 'auto'), which computes "
                "the products Q^t W from the centred data without forming Q, or raise "
                "max_bytes."
            )

        self.n_samples_, self.n_features_ = n, N
        self.n_directions_ = T
        self.dtype_ = np.dtype(dtype)
        self.max_bytes = int(max_bytes)
        self.weights_ = w.astype(dtype)
        # Means in float64 for accuracy, then stored in the working dtype.
        v_mean = w @ X.astype(np.float64, copy=False) if dtype == np.float32 else w @ X
        u_mean = w @ U
        self.v_mean_ = v_mean.astype(dtype)
        self.u_mean_ = u_mean.astype(dtype)
        self.X_centered_ = X - self.v_mean_
        self.U_centered_ = (U - u_mean).astype(dtype)
        # a[:, t] = w * (u^t - <u^t>): the diagonal of the implicit Q products.
        self._a = self.U_centered_ * self.weights_[:, None]
        self.q_ = self.X_centered_.T @ self._a

        if q_form == "auto":
            cheaper = T * N * N <= n * (2 * N + T)
            q_form = "explicit" if (dense_bytes <= self.max_bytes and cheaper) else "implicit"
        self.q_form_ = q_form
        self._Q = None
        if q_form == "explicit":
            self._Q = self._build_dense()

    # ------------------------------------------------------------------ helpers
    @property
    def dense_nbytes(self):
        """Bytes the dense ``(T, N, N)`` tensor takes."""
        return self.n_directions_ * self.n_features_**2 * self.dtype_.itemsize

    def _build_dense(self):
        Xc, a = self.X_centered_, self._a
        T, N = self.n_directions_, self.n_features_
        Q = np.empty((T, N, N), dtype=self.dtype_)
        for t in range(T):
            Q[t] = Xc.T @ (a[:, t, None] * Xc)
        return Q

    def _as_matrix(self, W, name="W"):
        W = np.asarray(W)
        squeeze = W.ndim == 1
        if squeeze:
            W = W[:, None]
        if W.ndim != 2 or W.shape[0] != self.n_features_:
            raise ValueError(
                f"{name} must have shape (n_features, m) with n_features = "
                f"{self.n_features_}; got shape {W.shape}."
            )
        return W.astype(self.dtype_, copy=False), squeeze

    # ------------------------------------------------------------------ API
    def Q_matmul(self, W):
        """Products ``Q^t W`` for every label direction ``t``.

        Parameters
        ----------
        W : array-like of shape (n_features, m)

        Returns
        -------
        QW : ndarray of shape (n_directions, n_features, m)
        """
        W, _ = self._as_matrix(W)
        if self._Q is not None:
            return np.matmul(self._Q, W)
        XW = self.X_centered_ @ W  # (n, m)
        n, m = XW.shape
        T = self.n_directions_
        Z = (self._a[:, :, None] * XW[:, None, :]).reshape(n, T * m)
        out = (self.X_centered_.T @ Z).reshape(self.n_features_, T, m)
        return np.ascontiguousarray(out.transpose(1, 0, 2))

    def quadratic_form(self, W):
        """Restricted forms ``W^T Q^t W`` for every label direction ``t``.

        Parameters
        ----------
        W : array-like of shape (n_features, m)

        Returns
        -------
        WQW : ndarray of shape (n_directions, m, m)
            Symmetric matrices ``<(u^t - <u^t>) z z^T>`` of the projections
            ``z = W^T (v - <v>)``.
        """
        W, _ = self._as_matrix(W)
        if self._Q is not None:
            out = np.matmul(W.T[None], np.matmul(self._Q, W))
        else:
            XW = self.X_centered_ @ W
            out = np.einsum("nt,ni,nj->tij", self._a, XW, XW, optimize=True)
        return 0.5 * (out + out.transpose(0, 2, 1))

    def Q_dense(self, force=False):
        """The dense second-order tensor ``Q`` of shape (n_directions, N, N).

        Parameters
        ----------
        force : bool, default=False
            Build the tensor even if it exceeds ``max_bytes``.

        Returns
        -------
        Q : ndarray of shape (n_directions, n_features, n_features)

        Raises
        ------
        ValueError
            If the implicit form is in use, the tensor needs more than
            ``max_bytes`` and ``force`` is False.
        """
        if self._Q is not None:
            return self._Q
        if self.dense_nbytes > self.max_bytes and not force:
            raise ValueError(
                f"the dense second-order tensor Q would need {self.dense_nbytes / 2**20:.1f} "
                f"MiB (n_directions={self.n_directions_}, n_features={self.n_features_}), "
                f"above the budget max_bytes={self.max_bytes} ({self.max_bytes / 2**20:.1f} "
                "MiB). Use Q_matmul / quadratic_form (implicit products), raise max_bytes, "
                "or pass force=True."
            )
        return self._build_dense()

    def covariance(self):
        """The weighted population covariance ``<(v - <v>)(v - <v>)^T>`` (N x N)."""
        Xc = self.X_centered_
        return Xc.T @ (self.weights_[:, None] * Xc)
