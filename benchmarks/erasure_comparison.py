"""LabelErasure against LEACE and fairlearn's CorrelationRemover on binarised digits.

Data: sklearn digits binarised at 0.5, ``X = (digits.data / 16 > 0.5)``, with three labels:
"0 vs 1" (digits 0 and 1 only), "digit >= 5" (all digits) and the 10-class digit.

Erasers (each fitted INSIDE every fold: it is the first step of a Pipeline evaluated by
``cross_val_score`` on a StratifiedKFold):

- none            identity (no erasure);
- LabelErasure o1 ``skrbm.LabelErasure(order=1)``;
- LabelErasure o2 ``skrbm.LabelErasure(order=2)``;
- LEACE           ``concept_erasure.LeaceEraser.fit(X, one_hot(y))`` (float64, package
                  defaults: shrinkage, affine, trace constraint), optional;
- CorrRemover     ``fairlearn.preprocessing.CorrelationRemover(alpha=1)`` with the label
                  indicator columns (one per class but the first) appended to X as the
                  sensitive features, optional.  CorrelationRemover needs the sensitive
                  columns at transform time too, so the held-out fold is transformed with
                  ITS OWN labels (fairlearn's intended use: the sensitive attribute is an
                  input).  It is therefore not a label-free map X -> Z like the others.

Columns:

- dims     output columns / numerical rank of the output (eigenvalues of the training-fold
           output covariance above 1e-10 times the largest of X's), folds' range;
- lin+sc   accuracy of StandardScaler + LogisticRegression(max_iter=2000) on the output;
- lin      the same WITHOUT the scaler;
- quad     PolynomialFeatures(2) + StandardScaler + LogisticRegression(max_iter=2000);
- chance   DummyClassifier(most_frequent) accuracy on the same folds;
- retvar   total variance of the eraser's output on each held-out fold divided by the
           total variance of X on that fold, averaged over folds;
- tiny     output columns (max over folds) whose training-fold std is below 1e-8 times the
           largest column std but which StandardScaler does NOT treat as constant, so it
           rescales floating-point residue to unit variance;
- time     wall time of the row (three probes + the per-fold diagnostics).

A ``*`` after an accuracy means LogisticRegression raised a ConvergenceWarning in some fold.
Peers are optional: a missing package is reported with its install command and skipped.

    python benchmarks/erasure_comparison.py [--quick] [--cv 5] [--labels 01 ge5 all]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin, clone
from sklearn.datasets import load_digits
from sklearn.dummy import DummyClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer, PolynomialFeatures, StandardScaler

from skrbm import LabelErasure

LABELS = {
    "01": "0 vs 1",
    "ge5": "digit >= 5",
    "all": "10 classes",
}


def load_task(key):
    """Binarised digits and the labels of task ``key``."""
    d = load_digits()
    X = (d.data / 16 > 0.5).astype(np.float64)
    t = d.target
    if key == "01":
        keep = t < 2
        return X[keep], t[keep]
    if key == "ge5":
        return X, (t >= 5).astype(int)
    return X, t


def indicators(y, classes):
    """Indicator columns of every class but the first (float64)."""
    return (np.asarray(y)[:, None] == np.asarray(classes)[None, 1:]).astype(np.float64)


# --------------------------------------------------------------------------------------
# sklearn wrappers of the peers
# --------------------------------------------------------------------------------------
class LeaceTransformer(TransformerMixin, BaseEstimator):
    """``concept_erasure.LeaceEraser`` as a scikit-learn transformer (float64).

    ``fit(X, y)`` calls ``LeaceEraser.fit(torch.tensor(X), one_hot(y))`` with the package
    defaults; ``transform`` applies the eraser and returns a NumPy array (same width as X).
    """

    def fit(self, X, y):
        import torch
        from concept_erasure import LeaceEraser

        X = np.asarray(X, dtype=np.float64)
        self.classes_, yi = np.unique(y, return_inverse=True)
        Z = np.eye(len(self.classes_))[yi]
        self.eraser_ = LeaceEraser.fit(torch.from_numpy(X), torch.from_numpy(Z))
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        import torch

        X = np.asarray(X, dtype=np.float64)
        with torch.no_grad():
            return self.eraser_(torch.from_numpy(X)).numpy().copy()


class CorrRemoverTransformer(TransformerMixin, BaseEstimator):
    """fairlearn ``CorrelationRemover(alpha=1)`` on X with label columns appended.

    The input is ``[X, S]`` where the last ``n_sensitive`` columns ``S`` are the label
    indicators (appended once, before cross-validation, so that the held-out fold carries
    its own labels to ``transform`` as CorrelationRemover requires).  ``fit(X, y)`` checks
    that ``S`` matches ``y`` and fits CorrelationRemover with ``S`` as the sensitive
    features; the output is the residual of the original columns (``S`` dropped).
    """

    def __init__(self, n_sensitive=1):
        self.n_sensitive = n_sensitive

    def fit(self, X, y=None):
        from fairlearn.preprocessing import CorrelationRemover

        X = np.asarray(X, dtype=np.float64)
        k = self.n_sensitive
        if y is not None:
            classes = np.unique(y)
            if classes.size - 1 != k or not np.array_equal(X[:, -k:], indicators(y, classes)):
                raise ValueError("the appended sensitive columns do not match y")
        ids = list(range(X.shape[1] - k, X.shape[1]))
        self.remover_ = CorrelationRemover(sensitive_feature_ids=ids, alpha=1.0).fit(X)
        self.n_features_in_ = X.shape[1]
        return self

    def transform(self, X):
        return self.remover_.transform(np.asarray(X, dtype=np.float64))


# --------------------------------------------------------------------------------------
# the benchmark
# --------------------------------------------------------------------------------------
def erasers(skip_peers):
    """``(name, factory, needs_label_columns)``; missing peers are reported and skipped."""
    out = [
        ("none", lambda k: FunctionTransformer(), False),
        ("LabelErasure o1", lambda k: LabelErasure(order=1), False),
        ("LabelErasure o2", lambda k: LabelErasure(order=2), False),
    ]
    if "leace" not in skip_peers:
        try:
            import concept_erasure  # noqa: F401
            import torch

            torch.set_num_threads(1)
            out.append(("LEACE", lambda k: LeaceTransformer(), False))
        except ImportError as exc:
            print(f"[skip] LEACE: {exc.name!r} is not installed "
                  "(pip install concept-erasure torch)")
    if "fairlearn" not in skip_peers:
        try:
            import fairlearn.preprocessing  # noqa: F401

            out.append(("CorrRemover", lambda k: CorrRemoverTransformer(n_sensitive=k), True))
        except ImportError as exc:
            print(f"[skip] CorrelationRemover: {exc.name!r} is not installed "
                  "(pip install fairlearn)")
    return out


def probes():
    lr = dict(max_iter=2000)
    return {
        "lin+sc": lambda: [("scale", StandardScaler()), ("lr", LogisticRegression(**lr))],
        "lin": lambda: [("lr", LogisticRegression(**lr))],
        "quad": lambda: [("poly", PolynomialFeatures(2)), ("scale", StandardScaler()),
                         ("lr", LogisticRegression(**lr))],
    }


def cv_accuracy(pipe, X, y, cv, n_jobs):
    """Mean cross_val_score accuracy and whether a ConvergenceWarning was raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=cv, n_jobs=n_jobs, error_score=np.nan)
    conv = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    return float(np.mean(scores)), conv


def fold_diagnostics(eraser, X, Xin, y, cv, x_eig_max):
    """Output dims, rank, retained variance and tiny-std columns, per fold."""
    cols, ranks, retained, tiny = [], [], [], []
    for tr, te in cv.split(X, y):
        e = clone(eraser).fit(Xin[tr], y[tr])
        Ztr, Zte = np.asarray(e.transform(Xin[tr])), np.asarray(e.transform(Xin[te]))
        cols.append(Ztr.shape[1])
        if Ztr.shape[1] == 0:
            ranks.append(0), retained.append(0.0), tiny.append(0)
            continue
        ev = np.linalg.eigvalsh(np.cov(Ztr.T, bias=True).reshape(Ztr.shape[1], -1))
        ranks.append(int(np.sum(ev > 1e-10 * x_eig_max)))
        retained.append(Zte.var(axis=0).sum() / X[te].var(axis=0).sum())
        std = Ztr.std(axis=0)
        scale = StandardScaler().fit(Ztr).scale_
        tiny.append(int(np.sum((std < 1e-8 * std.max()) & (scale < 1e-8 * std.max()))))
    return cols, ranks, float(np.mean(retained)), max(tiny)


def span(values):
    lo, hi = min(values), max(values)
    return str(lo) if lo == hi else f"{lo}-{hi}"


def run_label(key, n_splits, n_jobs, methods):
    X, y = load_task(key)
    classes = np.unique(y)
    S = indicators(y, classes)
    cv = StratifiedKFold(n_splits=n_splits, shuffle=True, random_state=0)
    x_eig_max = np.linalg.eigvalsh(np.cov(X.T, bias=True)).max()
    chance = float(np.mean(cross_val_score(DummyClassifier(), X, y, cv=cv)))
    print(f"\n=== {LABELS[key]}: n={len(y)}, {len(classes)} classes, {X.shape[1]} pixels, "
          f"{n_splits}-fold StratifiedKFold, chance {chance:.3f} ===")
    head = (f"{'eraser':<16s} {'dims':>11s} {'lin+sc':>7s} {'lin':>7s} {'quad':>7s} "
            f"{'chance':>7s} {'retvar':>7s} {'tiny':>5s} {'time':>6s}")
    print(head)
    print("-" * len(head))
    rows = {}
    for name, make, needs_s in methods:
        t0 = time.perf_counter()
        Xin = np.hstack([X, S]) if needs_s else X
        eraser = make(S.shape[1])
        res = {}
        for pname, steps in probes().items():
            pipe = Pipeline([("erase", clone(eraser)), *steps()])
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)
                res[pname] = cv_accuracy(pipe, Xin, y, cv, n_jobs)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            cols, ranks, retvar, tiny = fold_diagnostics(eraser, X, Xin, y, cv, x_eig_max)
        dt = time.perf_counter() - t0
        rows[name] = dict(res={p: a for p, (a, _) in res.items()}, retvar=retvar,
                          cols=cols, ranks=ranks, tiny=tiny)
        acc = " ".join(f"{a:6.3f}{'*' if c else ' '}" for a, c in res.values())
        dims = f"{span(cols)}/{span(ranks)}"
        print(f"{name:<16s} {dims:>11s} {acc} {chance:7.3f} {retvar:7.3f} {tiny:5d} "
              f"{dt:5.1f}s", flush=True)
    return dict(chance=chance, rows=rows)


def compare(a, b, higher_is_better, tie):
    if abs(a - b) <= tie:
        return "tie"
    return "better" if (a > b) == higher_is_better else "worse"


def summary(results):
    print("\n=== summary: LabelErasure against the peers (leak = accuracy - chance; "
          "lower leak and higher retained variance are better; ties within 0.02 "
          "accuracy / 0.01 variance) ===")
    for key, res in results.items():
        rows, chance = res["rows"], res["chance"]
        print(f"\n[{LABELS[key]}] chance {chance:.3f}")
        for name, r in rows.items():
            leak = {p: r["res"][p] - chance for p in ("lin+sc", "lin", "quad")}
            print(f"  {name:<16s} leak lin+sc {leak['lin+sc']:+.3f}  lin {leak['lin']:+.3f}  "
                  f"quad {leak['quad']:+.3f}  retvar {r['retvar']:.3f}")
        ours = [n for n in rows if n.startswith("LabelErasure")]
        peers = [n for n in rows if n in ("LEACE", "CorrRemover")]
        for o in ours:
            for p in peers:
                verdicts = []
                for metric in ("lin+sc", "lin", "quad"):
                    v = compare(rows[o]["res"][metric], rows[p]["res"][metric], False, 0.02)
                    verdicts.append(f"{metric} {v} ({rows[o]['res'][metric]:.3f} vs "
                                    f"{rows[p]['res'][metric]:.3f})")
                v = compare(rows[o]["retvar"], rows[p]["retvar"], True, 0.01)
                verdicts.append(f"retvar {v} ({rows[o]['retvar']:.3f} vs "
                                f"{rows[p]['retvar']:.3f})")
                print(f"  {o} vs {p}: " + "; ".join(verdicts))
        if rows.get("LEACE", {}).get("tiny"):
            print(f"  note: LEACE leaves {rows['LEACE']['tiny']} near-constant output "
                  "column(s) (constant pixels) holding floating-point residue proportional to "
                  "the erased coordinate; StandardScaler rescales it to unit variance, which "
                  "is how lin+sc can exceed lin for LEACE.")
        if "CorrRemover" in rows:
            print("  note: CorrRemover transforms the held-out fold with its own labels "
                  "(sensitive features are inputs), so it is not a label-free map.")


def main():
    ap = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0] + " (see the module docstring for the columns).")
    ap.add_argument("--quick", action="store_true",
                    help="3 folds and the 'digit >= 5' label only (overrides --cv/--labels)")
    ap.add_argument("--cv", type=int, default=5, help="number of StratifiedKFold folds")
    ap.add_argument("--labels", nargs="+", default=["01", "ge5", "all"], choices=list(LABELS),
                    help="01: 0 vs 1; ge5: digit >= 5; all: the 10-class digit")
    ap.add_argument("--skip", nargs="*", default=[], choices=["leace", "fairlearn"],
                    help="peers to leave out even when installed")
    ap.add_argument("--n-jobs", type=int, default=1, help="n_jobs of cross_val_score")
    args = ap.parse_args()
    n_splits, labels = (3, ["ge5"]) if args.quick else (args.cv, args.labels)
    methods = erasers(args.skip)
    t0 = time.perf_counter()
    results = {key: run_label(key, n_splits, args.n_jobs, methods) for key in labels}
    summary(results)
    print(f"\ntotal time {time.perf_counter() - t0:.0f}s")


if __name__ == "__main__":
    main()
