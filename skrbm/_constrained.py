"""Label constraints inside PCD training, and the :class:`DisentangledRBM` estimator.

A *group* is a set of hidden-unit columns that carries constraints for a set of label
directions: first order ``q^T W_c = 0`` (hard projection after every optimizer step and at
initialisation) and, at order 2, ``W_c^T Q^t W_c = 0`` either exactly (tangent-space
projection of the gradient, then retraction onto the constraint set after every step) or
as the reference's soft penalty.  Groups are disjoint; units in no group are free.
"""

import numbers
import warnings

import numpy as np

from ._compat import Interval, InvalidParameterError, StrOptions, check_is_fitted
from ._constraints import (ExactSecondOrderStepper, FirstOrderProjector,
                           SecondOrderConstraint, generic_isotropic_bound,
                           max_isotropic_dim_estimate)
from ._estimators import _BaseRBM
from ._label_stats import LabelStatistics, label_directions
from ._validation import check_count


class _Group:
    def __init__(self, cols, directions, first, second):
        self.cols = cols
        self.directions = directions
        self.first = first
        self.second = second
        # exact second order in training: state kept between steps (see the class)
        self.stepper = None if second is None else ExactSecondOrderStepper(second)
        # contiguous columns (the usual layout) are addressed by a slice: a view that the
        # projections update in place, instead of a gather and a scatter every step
        cols = np.asarray(cols)
        contiguous = len(cols) > 0 and np.array_equal(cols, np.arange(cols[0], cols[-1] + 1))
        self.index = slice(int(cols[0]), int(cols[-1]) + 1) if contiguous else cols

    def project(self, Wc, out=None):
        """First-order projection; exactly zero when q^T W = 0 leaves no room."""
        if self.first.null_dim == 0:
            if out is None:
                return np.zeros_like(Wc)
            out[...] = 0
            return out
        return self.first.project(Wc, out=out)

    def project_columns(self, A):
        """First-order projection of this group's columns of ``A``, in place."""
        if isinstance(self.index, slice):
            self.project(A[:, self.index], out=A[:, self.index])
        else:
            A[:, self.index] = self.project(A[:, self.index])


class WeightConstraint:
    """Trainer hook that keeps the weights of each group on its constraint set."""

    def __init__(self, groups, mode):
        self.groups = groups
        self.mode = mode  # "exact" or "penalty" (only used at order 2)

    def initialise(self, rbm, rng=None):
        """Put the initial weights of every group on its constraint set.

        At order 2 the columns of a feasible W_c span a subspace on which every Q^t
        vanishes (x^T Q y = a^T W^T Q W b = 0), so rank(W_c) is at most the dimension of
        the largest common isotropic subspace (about half the first-order subspace for a
        generic indefinite Q).  When a group has more units than that, its weights start
        as ``F @ G``: an isotropic frame F of the largest rank k found (tried from m
        downwards) times a random k x m mixing G.  Training then keeps rank(W_c) <= k:
        the extra units are linear combinations of the others.  ``rank_`` records k.
        """
        rng = np.random.default_rng(0) if rng is None else rng
        self.ranks_ = []
        for g in self.groups:
            Wc = g.project(rbm.W[:, g.cols])
            m = Wc.shape[1]
            k = m
            if g.second is not None and self.mode == "exact":
                Wc, k = _feasible_start(g.second, Wc, rng)
            rbm.W[:, g.cols] = Wc
            self.ranks_.append(k)
            if k < m:
                warnings.warn(
                    f"The second-order constraint W^T Q W = 0 limits the rank of a block of "
                    f"{m} constrained hidden units to {k} here (their weights must span a "
                    f"subspace on which Q vanishes; the first-order subspace has dimension "
                    f"{g.first.null_dim}). The block trains with rank {k}: its units are "
                    "linear combinations of each other. Use fewer units, release some, or "
                    "second_order='penalty'.",
                    UserWarning,
                )

    def _exact_second_order(self):
        return self.mode == "exact" and any(g.second is not None for g in self.groups)

    def transform_gradient(self, W, G):
        """Constrained ascent direction, computed in place in ``G`` (and returned)."""
        # projections and the penalty gradient of non-finite values are harmless (the
        # trainer detects the divergence once per epoch); the exact solvers must not see them
        if self._exact_second_order() and not (np.isfinite(G).all() and np.isfinite(W).all()):
            return G
        for g in self.groups:
            if g.second is not None and self.mode == "exact":
                Gc = g.project(G[:, g.index])
                G[:, g.index] = g.stepper.tangent(W[:, g.index], Gc)
                continue
            if g.second is not None:  # soft penalty, then the first-order projection
                G[:, g.index] -= g.second.penalty_grad(W[:, g.index])
            g.project_columns(G)
        return G

    def after_step(self, rbm):
        if self._exact_second_order() and not np.isfinite(rbm.W).all():
            return  # the trainer detects the divergence and restores the last finite state
        for g in self.groups:
            if g.second is not None and self.mode == "exact":
                Wc = g.project(rbm.W[:, g.index])
                g.stepper.step(Wc)
                rbm.W[:, g.index] = Wc
            else:
                g.project_columns(rbm.W)

    def residuals(self, rbm):
        """(max relative first-order residual, max relative second-order residual)."""
        r1 = r2 = 0.0
        for g in self.groups:
            Wc = rbm.W[:, g.cols]
            r1 = max(r1, g.first.residual(Wc)[1])
            if g.second is not None:
                r2 = max(r2, g.second.residual(Wc)[1])
        return r1, r2

    def residual(self, rbm):
        return max(self.residuals(rbm))


def _feasible_start(second, Wc, rng):
    """(W0, k): feasible start of rank k (the largest rank for which one was found).

    A failed attempt costs up to ``project_initial``'s 100 Newton steps, so ranks are not
    tried one by one: when ``m`` exceeds the generic bound of
    :func:`generic_isotropic_bound`, the first try is the computed upper estimate
    :func:`max_isotropic_dim_estimate`, and a failure there is followed by a bisection
    (feasibility is monotone in the rank: the columns of a feasible frame span feasible
    frames of every smaller rank).
    """
    m = Wc.shape[1]
    if m == 0:
        return Wc.copy(), 0
    scale = np.linalg.norm(Wc, axis=0).mean()

    def attempt(k):
        try:
            return second.project_initial(Wc[:, :k])
        except ValueError:
            return None

    second._qmul(Wc[:, :1])  # sets n_directions_
    n = second.first_order.null_dim if second.first_order is not None else Wc.shape[0]
    k = m
    if m > generic_isotropic_bound(n, second.n_directions_):
        k = min(m, max_isotropic_dim_estimate(second))
    F = attempt(k) if k > 0 else None
    if F is None:
        lo, hi = 0, k  # lo: feasible (rank 0 trivially), hi: infeasible
        while hi - lo > 1:
            mid = (lo + hi) // 2
            Fm = attempt(mid)
            if Fm is None:
                hi = mid
            else:
                lo, F = mid, Fm
        k = lo
    if k == m:
        return F, k
    if k == 0:
        return np.zeros_like(Wc), 0
    G = rng.standard_normal((k, m)).astype(Wc.dtype)
    W0 = F @ G
    norms = np.linalg.norm(W0, axis=0)
    W0 *= (scale / np.where(norms > 0, norms, 1)).astype(Wc.dtype)
    return W0, k


def _stats(Xe, U, w, dirs, q_form):
    return LabelStatistics(Xe, U[:, dirs], w, q_form=q_form)


def build_constraint(est, rbm, Xe, w, labels, groups):
    """Build the trainer hook.

    ``groups`` is a list of ``(columns, direction indices)``; directions index the columns
    of the label-direction matrix built from ``labels``.
    """
    U, info = label_directions(labels, w)
    U = U.astype(Xe.dtype, copy=False)
    built = []
    for cols, dirs in groups:
        if len(cols) == 0 or len(dirs) == 0:
            continue
        st = _stats(Xe, U, w, dirs, est.q_form)
        first = FirstOrderProjector(st.q_)
        second = None
        if est.order >= 2 and first.null_dim > 0:
            second = SecondOrderConstraint(st.Q_matmul, first, mode=est.second_order,
                                           penalty=est.penalty)
        if first.null_dim == 0:
            warnings.warn(
                f"The first-order constraints leave no room: {len(dirs)} label direction(s) "
                f"of rank {first.rank_} span all {Xe.shape[1]} visible dimensions, so the "
                f"{len(cols)} constrained hidden unit(s) get zero weights (they carry no "
                "information). Use fewer label directions or more features.",
                UserWarning,
            )
        built.append(_Group(np.asarray(cols), np.asarray(dirs), first, second))
    constraint = WeightConstraint(built, est.second_order)
    constraint.n_directions = U.shape[1]
    constraint.info = info
    return constraint


def make_constraint(est, rbm, Xe, w, labels):
    """Constraint hook of a ConstrainedRBM: every hidden unit, every label direction."""
    U, _ = label_directions(labels, w)
    groups = [(np.arange(rbm.hidden.size), np.arange(U.shape[1]))]
    return build_constraint(est, rbm, Xe, w, labels, groups)


class DisentangledRBM(_BaseRBM):
    """RBM whose label information is concentrated in a few released hidden units.

    Every hidden unit except the released ones carries the constraints of ``order`` for
    every label direction; released units are free for their own label and constrained for
    the others (several labels, e.g. a 2-D ``y`` of binary attributes).  Reading, erasing or
    transferring the label then happens through the released units only.

    Parameters
    ----------
    n_components : int, default=256
        Total number of hidden units, released ones included.
    n_released : int, default=1
        Released units per label (per column of a 2-D ``y`` of attributes).  The released
        units of a label are free for all of its directions (a C-class label has C-1), so
        one unit can carry a whole categorical label; use ``n_released=C-1`` to give each
        direction a unit of its own.
    released_hidden : str or None, default=None
        Unit type of the released units (None: the type of ``hidden``); the paper's Ising
        model uses ``released_hidden="spin"`` with ``hidden="gaussian"``.
    visible, hidden, order, learning_rate, batch_size, n_iter, n_gibbs_steps, \
n_temperatures, min_beta, optimizer, l1, l2, l1l2, center, rescale_hidden, warm_start, \
n_jobs, random_state, verbose, callback, second_order, penalty, q_form
        As in :class:`ConstrainedRBM`. ``hidden`` must be a single unit type here; the
        released units come first in the hidden layer.

    Attributes
    ----------
    released_units_ : ndarray of int
        Indices of the released units in the hidden layer (and in ``transform``'s output).
    classes_ : ndarray or list of ndarray
        Label classes (one array per label column for 2-D labels).
    released_by_label_ : list of ndarray
        Released units of each label column.
    released_means_ : list of ndarray
        For each label column, an array (n_classes, n_released) of the mean of
        ``E[h | v]`` of its released units over the training samples of each class (rows
        in the order of ``classes_``): the values ``transfer`` and ``sample(y=...)`` use.
    (plus every attribute of :class:`ConstrainedRBM`)

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm import DisentangledRBM
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = (rng.random((200, 8)) < 0.2 + 0.6 * y[:, None] * (np.arange(8) < 4)).astype(float)
    >>> rbm = DisentangledRBM(4, order=1, n_iter=3, random_state=0).fit(X, y)
    >>> rbm.released_units_
    array([0])
    """

    _parameter_constraints = {
        **_BaseRBM._parameter_constraints,
        "hidden": [StrOptions({"bernoulli", "spin", "gaussian", "relu", "drelu"})],
        "order": [Interval(numbers.Integral, 1, 2, closed="both")],
        "n_released": [Interval(numbers.Integral, 1, None, closed="left")],
        "released_hidden": [StrOptions({"bernoulli", "spin", "gaussian", "relu", "drelu"}),
                            None],
    }

    def __init__(self, n_components=256, *, n_released=1, released_hidden=None,
                 visible="auto", hidden="bernoulli", order=2, learning_rate=1e-3,
                 batch_size=64, n_iter=10, n_gibbs_steps=1, n_temperatures=1, min_beta=0.5,
                 optimizer="adam", l1=0.0,
                 l2=0.0, l1l2=0.0, center=True, rescale_hidden=False, second_order="exact",
                 penalty=1.0,
                 q_form="auto", warm_start=False, n_jobs=None, random_state=None, verbose=0,
                 callback=None):
        self.n_components = n_components
        self.n_released = n_released
        self.released_hidden = released_hidden
        self.visible = visible
        self.hidden = hidden
        self.order = order
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.n_gibbs_steps = n_gibbs_steps
        self.n_temperatures = n_temperatures
        self.min_beta = min_beta
        self.optimizer = optimizer
        self.l1 = l1
        self.l2 = l2
        self.l1l2 = l1l2
        self.center = center
        self.rescale_hidden = rescale_hidden
        self.second_order = second_order
        self.penalty = penalty
        self.q_form = q_form
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback

    def _label_layout(self, labels):
        """Directions per label column and the released units of each."""
        lab = np.asarray(labels)
        if lab.ndim == 1:
            cols = [lab]
        else:
            cols = [lab[:, j] for j in range(lab.shape[1])]
        dirs, start = [], 0
        for c in cols:
            U, _ = label_directions(c)
            dirs.append(np.arange(start, start + U.shape[1]))
            start += U.shape[1]
        return cols, dirs

    def _make_hidden(self, dtype):
        n_rel = self._n_released_total
        if n_rel > self.n_components:
            raise InvalidParameterError(
                f"n_released={self.n_released} released units for each of "
                f"{n_rel // self.n_released} label(s) need {n_rel} hidden units, but "
                f"n_components={self.n_components}; increase n_components or lower "
                "n_released."
            )
        rel_type = self.released_hidden or self.hidden
        groups = [(rel_type, n_rel)]
        if self.n_components > n_rel:
            groups.append((self.hidden, self.n_components - n_rel))
        return self._hidden_layer(groups, self.n_components, dtype)

    def _make_constraint(self, rbm, Xe, w, labels):
        _, dirs = self._label_layout(labels)
        all_dirs = np.concatenate(dirs)
        n_rel = self._n_released_total
        groups = [(np.arange(n_rel, rbm.hidden.size), all_dirs)]
        released, start = [], 0
        for d in dirs:
            units = np.arange(start, start + self.n_released)
            start += len(units)
            released.append(units)
            others = np.setdiff1d(all_dirs, d)
            groups.append((units, others))
        self._released_by_label = released
        return build_constraint(self, rbm, Xe, w, labels, groups)

    def _fit(self, X, y, labels, sample_weight, *, partial):
        lab = labels if labels is not None else y
        if lab is None:
            raise ValueError(
                "DisentangledRBM requires y to be passed, but the target y is None. Pass the "
                "labels whose information the released units should carry."
            )
        lab_arr = np.asarray(lab)
        if lab_arr.ndim == 0 or lab_arr.ndim > 2:
            raise ValueError("y should be a 1d array (class labels) or a 2d array of binary "
                             f"attributes, got an array of shape {lab_arr.shape}.")
        cols, dirs = self._label_layout(lab_arr)
        if hasattr(self, "n_released_total_") and (partial or self.warm_start):
            if len(dirs) * self.n_released != self.n_released_total_:
                raise ValueError("The labels have a different number of columns than in "
                                 "the first fit; refit from scratch.")
        self._n_released_total = len(dirs) * self.n_released
        super()._fit(X, y, labels, sample_weight, partial=partial)
        self.n_released_total_ = self._n_released_total
        self.released_units_ = np.arange(self.n_released_total_)
        self.released_by_label_ = self._released_by_label
        classes = [np.unique(c) for c in cols]
        self.classes_ = classes[0] if lab_arr.ndim == 1 else classes
        # typical released-unit values per class (for transfer and conditional sampling)
        v = self._encode(X)  # not self.transform: set_output may make that a DataFrame
        H = self.rbm_.hidden.mean(v @ self.rbm_.W)[:, self.released_units_]
        self.released_means_ = [
            np.stack([H[c == k][:, units].mean(axis=0) for k in cl])
            for c, units, cl in zip(cols, self._released_by_label, classes)
        ]
        return self

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.required = True
        return tags

    # ------------------------------------------------------------------ label tools
    def _target_released(self, y_target, n, name="y_target"):
        """Released units and their values typical of ``y_target``.

        For a 1-D label, ``y_target`` is a class (or one class per sample).  For several
        attribute columns it is an array of shape (n_attributes,) or (n_samples,
        n_attributes); every attribute's released units are set.
        """
        check_is_fitted(self)
        multi = isinstance(self.classes_, list)
        classes = self.classes_ if multi else [self.classes_]
        y_target = np.asarray(y_target)
        k = len(classes)
        if not multi:
            y_target = y_target.reshape(-1, 1) if y_target.ndim else y_target.reshape(1, 1)
        elif y_target.ndim == 1:
            y_target = y_target.reshape(1, -1)
        if y_target.shape[1] != k or y_target.ndim != 2:
            raise ValueError(f"{name} must give one class for each of the {k} label "
                             f"columns; got shape {np.asarray(y_target).shape}.")
        if y_target.shape[0] == 1:
            y_target = np.repeat(y_target, n, axis=0)
        if y_target.shape[0] != n:
            raise ValueError(f"{name} has {y_target.shape[0]} rows for {n} samples; give "
                             "one class for all samples or one per sample.")
        units, vals = [], []
        for j in range(k):
            unknown = np.setdiff1d(np.unique(y_target[:, j]), classes[j])
            if len(unknown):
                raise ValueError(
                    f"{name} contains {unknown[:5].tolist()}, not among the classes seen "
                    f"in fit: {classes[j].tolist()}."
                )
            units.append(self.released_by_label_[j])
            idx = np.searchsorted(classes[j], y_target[:, j])
            vals.append(self.released_means_[j][idx])
        return np.concatenate(units), np.hstack(vals)

    def _clamped_decode(self, h, units, vals, n_steps, rng):
        """Decode hidden states h with released units clamped, plus optional sweeps."""
        rbm = self.rbm_
        h = h.copy()
        h[:, units] = vals
        v = rbm.visible.mean(h @ rbm.W.T)
        for _ in range(n_steps):
            vs = rbm.sample_v(h, rng)
            h = rbm.hidden.mean(vs @ rbm.W)
            h[:, units] = vals
            v = rbm.visible.mean(h @ rbm.W.T)
        return v

    def transfer(self, X, y_target, *, n_steps=0, random_state=None):
        """Attribute transfer: re-express X with the released units set to ``y_target``.

        Each sample is encoded into ``E[h | v]``; the released units are replaced by their
        mean over the training samples of class ``y_target``; the constrained units are kept;
        the result is decoded as ``E[v | h]`` after ``n_steps`` further Gibbs sweeps with the
        released units clamped (0 = decode directly).

        Returns
        -------
        X_new : ndarray of shape (n_samples, n_features)
            Conditional means of the visible units (for Potts: most probable category).
        """
        from sklearn.utils import check_random_state

        v = self._encode(X)
        check_count(n_steps, "n_steps", 0)
        rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
        h = self.rbm_.hidden.mean(v @ self.rbm_.W)
        units, vals = self._target_released(y_target, v.shape[0])
        out = self._clamped_decode(h, units, vals, n_steps, rng)
        return self.rbm_.visible.decode(out) if self.rbm_.visible.name == "potts" else out

    def sample(self, n_samples=1, *, y=None, n_steps=1000, method="gibbs",
               n_temperatures=10, random_state=None, return_info=False):
        """Sample from the model; with ``y``, clamp the released units to class ``y``.

        Without ``y`` this is :meth:`ConstrainedRBM.sample` (Gibbs or parallel tempering).
        With ``y`` the released units are held at their mean over the training samples of
        that class (one class, or one per sample) during ``n_steps`` Gibbs sweeps.
        """
        if y is None:
            return super().sample(n_samples, n_steps=n_steps, method=method,
                                  n_temperatures=n_temperatures, random_state=random_state,
                                  return_info=return_info)
        if method != "gibbs":
            raise ValueError("Conditional sampling (y given) supports method='gibbs' only.")
        from sklearn.utils import check_random_state

        check_is_fitted(self)
        check_count(n_samples, "n_samples", 1)
        check_count(n_steps, "n_steps", 0)
        units, vals = self._target_released(y, n_samples, name="y")
        rng = np.random.default_rng(check_random_state(random_state).randint(2**31 - 1))
        rbm = self.rbm_
        v = rbm.sample_independent_visible(n_samples, rng)
        for _ in range(n_steps):
            h = rbm.sample_h(v, rng)
            h[:, units] = vals
            v = rbm.sample_v(h, rng)
        out = rbm.visible.decode(v)
        return (out, {}) if return_info else out
