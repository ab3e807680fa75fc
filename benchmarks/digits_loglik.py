"""Exact held-out log-likelihood on binarised digits: skrbm vs scikit-learn's BernoulliRBM.

Both models have 16 binary hidden units, so log Z is exact by enumerating the 2**16 hidden
states (skrbm's engine evaluates both models; sklearn's parameters map one-to-one onto the
plain parametrisation E = -a.v - b.h - v W h).  5-fold split of sklearn's digits
(pixels / 16 > 0.5).  BernoulliRBM gets its best learning rate from {0.01, 0.05, 0.1};
skrbm runs with its documented settings (Adam) with centering on and off.

    python benchmarks/digits_loglik.py [--epochs 20]
"""

import argparse
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import KFold
from sklearn.neural_network import BernoulliRBM

from skrbm import ConstrainedRBM
from skrbm._layers import Bernoulli
from skrbm._rbm import RBM


def sklearn_exact_loglik(model, X):
    rbm = RBM(Bernoulli(X.shape[1]), Bernoulli(model.n_components),
              model.components_.T.copy())
    rbm.visible.params["theta"][:] = model.intercept_visible_
    rbm.hidden.params["theta"][:] = model.intercept_hidden_
    return float(np.mean(-rbm.free_energy(X)) - rbm.log_partition_exact())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--folds", type=int, default=5)
    args = ap.parse_args()
    X = (load_digits().data / 16 > 0.5).astype(np.float64)
    kf = KFold(args.folds, shuffle=True, random_state=0)
    rows = {}
    t0 = time.perf_counter()
    for fold, (tr, te) in enumerate(kf.split(X)):
        for lr in (0.01, 0.05, 0.1):
            m = BernoulliRBM(16, learning_rate=lr, batch_size=10, n_iter=args.epochs,
                             random_state=fold).fit(X[tr])
            rows.setdefault(f"sklearn BernoulliRBM lr={lr}", []).append(
                sklearn_exact_loglik(m, X[te]))
        for center in (True, False):
            for lr in (0.01,):
                m = ConstrainedRBM(16, learning_rate=lr, batch_size=64, n_iter=args.epochs,
                                   center=center, random_state=fold).fit(X[tr])
                rows.setdefault(f"skrbm Adam lr={lr} center={center}", []).append(
                    float(m.log_likelihood(X[te]).mean()))
    print(f"Exact held-out mean log-likelihood (nats/image), digits binarised, "
          f"{args.folds}-fold, {args.epochs} epochs, 16 hidden units "
          f"({time.perf_counter() - t0:.0f} s)")
    best_sk = max((np.mean(v), k) for k, v in rows.items() if k.startswith("sklearn"))
    print(f"{'model':45s} {'mean':>9s} {'std':>7s} {'vs best sklearn':>16s}")
    for k, v in rows.items():
        print(f"{k:45s} {np.mean(v):9.3f} {np.std(v):7.3f} {np.mean(v) - best_sk[0]:+16.3f}")


if __name__ == "__main__":
    main()
