"""Label information left in RBM hidden units on binarised digits (issue #3 table).

For each label ("0 vs 1", "digit >= 5", the 10-class digit) and each model, the linear and
quadratic probe accuracies on ``transform`` are cross-validated with the model refitted
INSIDE every fold (``skrbm.metrics.label_information``).  24 bernoulli hidden units,
learning_rate 0.01, 20 epochs.

    python benchmarks/label_probes.py [--cv 5] [--labels 01 ge5 all]
"""

import argparse
import time
import warnings

import numpy as np
from sklearn.datasets import load_digits

from skrbm import ConstrainedRBM, DisentangledRBM
from skrbm.metrics import label_information


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--labels", nargs="+", default=["01", "ge5", "all"])
    ap.add_argument("--epochs", type=int, default=20)
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)
    d = load_digits()
    X = (d.data / 16 > 0.5).astype(np.float64)
    tasks = {"01": ("0 vs 1", d.target < 2, lambda t: t),
             "ge5": ("digit >= 5", np.ones(len(X), bool), lambda t: (t >= 5).astype(int)),
             "all": ("10 classes", np.ones(len(X), bool), lambda t: t)}
    common = dict(n_components=24, learning_rate=0.01, n_iter=args.epochs, random_state=0)
    models = [
        ("order 0", lambda c: ConstrainedRBM(order=0, center=c, **common)),
        ("order 1", lambda c: ConstrainedRBM(order=1, center=c, **common)),
        ("order 2", lambda c: ConstrainedRBM(order=2, center=c, **common)),
        ("Disentangled o2", lambda c: DisentangledRBM(order=2, center=c, **common)),
    ]
    print(f"{'label':<12s} {'model':<16s} {'center':<7s} {'units':<12s} {'linear':>7s} "
          f"{'quadr.':>7s} {'chance':>7s} {'time':>6s}")
    for key in args.labels:
        name, keep, f = tasks[key]
        Xk, yk = X[keep], f(d.target[keep])
        for mname, make in models:
            for center in (True, False):
                t0 = time.perf_counter()
                info = label_information(make(center), Xk, yk, cv=args.cv)
                dt = time.perf_counter() - t0
                for g, idx in info.groups.items():
                    if g == "all" and len(info.groups) > 1:
                        continue
                    print(f"{name:<12s} {mname:<16s} {str(center):<7s} {g:<12s} "
                          f"{info.linear_accuracy[g]:7.3f} {info.quadratic_accuracy[g]:7.3f} "
                          f"{info.chance:7.3f} {dt:5.0f}s", flush=True)


if __name__ == "__main__":
    main()
