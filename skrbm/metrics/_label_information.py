"""How much label information each part of a representation carries."""

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import PolynomialFeatures, StandardScaler

from .._label_stats import label_directions


@dataclass
class LabelInformation:
    """Result of :func:`label_information`.

    Attributes
    ----------
    unit_correlation : ndarray of shape (n_units,)
        Per hidden unit, the largest over label directions of |corr(u, <h | v>)| on the
        data (estimator fitted on all of X).
    groups : dict
        Unit indices of each group ("constrained", "released", "all").
    linear_accuracy, quadratic_accuracy : dict
        Cross-validated accuracy of a linear probe (standardised logistic regression) and a
        quadratic probe (degree-2 polynomial features + logistic regression) per group,
        with the estimator refitted inside every fold.
    chance : float
        Accuracy of always predicting the most frequent class.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from skrbm import ConstrainedRBM
    >>> from skrbm.metrics import label_information
    >>> d = load_digits()
    >>> keep = d.target < 2
    >>> X, y = (d.data[keep] / 16 > 0.5).astype(float), d.target[keep]
    >>> info = label_information(ConstrainedRBM(4, n_iter=2, random_state=0), X, y, cv=2)
    >>> sorted(info.groups), bool(info.linear_accuracy["all"] > 0.9)
    (['all'], True)
    """

    unit_correlation: np.ndarray
    groups: dict
    linear_accuracy: dict = field(default_factory=dict)
    quadratic_accuracy: dict = field(default_factory=dict)
    chance: float = 0.0

    def table(self):
        """The probe accuracies as a printable table."""
        lines = [f"{'units':<12s} {'n':>4s} {'linear':>8s} {'quadratic':>10s} "
                 f"{'max|corr|':>10s}   (chance {self.chance:.3f})"]
        for name, idx in self.groups.items():
            corr = self.unit_correlation[idx].max() if len(idx) else float("nan")
            lines.append(f"{name:<12s} {len(idx):4d} {self.linear_accuracy[name]:8.3f} "
                         f"{self.quadratic_accuracy[name]:10.3f} {corr:10.3f}")
        return "\n".join(lines)

    def __str__(self):
        return self.table()


def _probe(kind):
    if kind == "linear":
        return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
    return make_pipeline(PolynomialFeatures(2, include_bias=False), StandardScaler(),
                         LogisticRegression(max_iter=2000, C=1.0))


def _groups(est, n_units, units):
    if units is not None:
        units = np.asarray(units)
        return {"selected": units, "all": np.arange(n_units)}
    released = getattr(est, "released_units_", None)
    if released is not None:
        cons = np.setdiff1d(np.arange(n_units), released)
        return {"constrained": cons, "released": np.asarray(released),
                "all": np.arange(n_units)}
    if getattr(est, "order", 0) >= 1:
        return {"constrained": np.arange(n_units), "all": np.arange(n_units)}
    return {"all": np.arange(n_units)}


def label_information(estimator, X, y, *, units=None, cv=5, random_state=0):
    """Label information per hidden unit and in groups of units, measured honestly.

    The estimator (a ConstrainedRBM, DisentangledRBM, LabelErasure or any transformer
    that takes ``y``) is cloned and fitted INSIDE each cross-validation fold; the probes are
    trained on the fold's training features and scored on its held-out features.  Fitting
    the estimator on the evaluation data itself would make the erasure exact on exactly
    those samples and give misleading (even below-chance) scores.

    Parameters
    ----------
    estimator : estimator
        Unfitted transformer whose ``fit(X, y)`` uses the labels.
    X : array-like of shape (n_samples, n_features)
    y : array-like of shape (n_samples,)
        Class labels (the probes predict them).
    units : array-like of int, default=None
        Units to report as one group; by default the constrained / released groups of the
        estimator.
    cv : int, default=5
        Number of stratified folds.
    random_state : int, default=0
        Seed of the fold split.

    Returns
    -------
    info : LabelInformation

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skrbm.metrics import label_information
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 120)
    >>> X = rng.normal(size=(120, 5)) + y[:, None]
    >>> info = label_information(PCA(2), X, y, cv=3)
    >>> info.linear_accuracy["all"] > 0.7
    True
    """
    X = np.asarray(X)
    y = np.asarray(y)
    full = clone(estimator).fit(X, y)
    H = full.transform(X)
    n_units = H.shape[1]
    groups = _groups(full, n_units, units)
    U, _ = label_directions(y)
    Hc = H - H.mean(axis=0)
    Uc = U - U.mean(axis=0)
    den = np.outer(np.sqrt((Uc**2).sum(0)), np.sqrt((Hc**2).sum(0)))
    with np.errstate(invalid="ignore", divide="ignore"):
        corr = np.where(den > 0, np.abs(Uc.T @ Hc) / np.where(den > 0, den, 1), 0.0)
    result = LabelInformation(corr.max(axis=0), groups)
    _, counts = np.unique(y, return_counts=True)
    result.chance = counts.max() / counts.sum()
    skf = StratifiedKFold(cv, shuffle=True, random_state=random_state)
    scores = {(g, k): [] for g in groups for k in ("linear", "quadratic")}
    for tr, te in skf.split(X, y):
        est = clone(estimator).fit(X[tr], y[tr])
        Htr, Hte = est.transform(X[tr]), est.transform(X[te])
        fold_groups = _groups(est, Htr.shape[1], units)
        for g, idx in fold_groups.items():
            for k in ("linear", "quadratic"):
                if len(idx) == 0:
                    scores[(g, k)].append(np.nan)
                    continue
                p = _probe(k).fit(Htr[:, idx], y[tr])
                scores[(g, k)].append(p.score(Hte[:, idx], y[te]))
    for g in groups:
        result.linear_accuracy[g] = float(np.mean(scores[(g, "linear")]))
        result.quadratic_accuracy[g] = float(np.mean(scores[(g, "quadratic")]))
    return result
