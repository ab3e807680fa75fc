"""The skrbm demo: disentangling a label in an RBM trained on built-in digits.

Run ``python -m skrbm.demo`` (about a minute on two cores).  It trains, on scikit-learn's
8x8 digits binarised at 0.5 with the label "digit is 0 or 1":

1. a plain RBM (order 0), a ConstrainedRBM with first- and with second-order constraints
   on all 24 hidden units, and a DisentangledRBM (order 2, one released unit);
2. for each, the label information left in the hidden units, measured honestly: linear and
   quadratic probes cross-validated with the RBM refitted inside every fold;
3. the constraint residuals |q^T W| and |W^T Q W| after training;
4. attribute transfer with the DisentangledRBM: every 0 is turned into a 1 and vice versa
   by flipping the released unit, and an independent classifier trained on raw pixels
   judges the result.

Figures (when matplotlib is installed) and a text report go to ``--out`` (default
``skrbm_demo_output/``).

``python -m skrbm.demo ising`` runs a small version of the paper's Ising experiment
instead (``--size`` L, default 8; two temperatures, below and above Tc): an
unconstrained RBM, a first-order ConstrainedRBM and a DisentangledRBM with one released
spin unit, each sampled by parallel tempering; it prints <|m|>, the energy and heat
capacity per spin of the samples against the Monte Carlo data and the exact values, and
draws them (``ising_observables.png``, ``ising_magnetisation.png``).
"""

import argparse
import os
import sys
import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from . import ConstrainedRBM, DisentangledRBM
from .metrics import label_information


def _models(n_iter, seed):
    # center=False: centering gives higher likelihoods but, on this small data set, larger
    # weights whose nonlinear (third- and higher-order) label information leaks through the
    # sigmoid; benchmarks/label_probes.py measures both settings.
    common = dict(n_components=24, learning_rate=0.01, n_iter=n_iter, random_state=seed,
                  center=False)
    return [
        ("RBM, no constraint", ConstrainedRBM(order=0, **common)),
        ("ConstrainedRBM order 1", ConstrainedRBM(order=1, **common)),
        ("ConstrainedRBM order 2", ConstrainedRBM(order=2, **common)),
        ("DisentangledRBM order 2", DisentangledRBM(order=2, n_released=1, **common)),
    ]


def _transfer_model(n_iter, seed):
    # centering (the default) gives the released unit the weight to redraw a digit
    return DisentangledRBM(n_components=24, order=2, learning_rate=0.01, n_iter=n_iter,
                           random_state=seed)


def run_digits(out, n_iter=20, cv=5, seed=0, plot=True):
    digits = load_digits()
    X = (digits.data / 16 > 0.5).astype(np.float64)
    keep = digits.target < 2
    X, y = X[keep], digits.target[keep]
    print(f"skrbm demo: {X.shape[0]} binarised 8x8 digits, label = digit (0 or 1), "
          f"24 bernoulli hidden units, {n_iter} epochs\n")
    report = []
    t0 = time.perf_counter()
    for name, est in _models(n_iter, seed):
        info = label_information(est, X, y, cv=cv, random_state=seed)
        model = est.fit(X, y)
        res = getattr(model, "constraint_residual_", None)
        report.append((name, info, res, model.score(X)))
    print(f"Label information in the hidden units ({cv}-fold, model refitted in every fold; "
          f"chance = {report[0][1].chance:.3f}):")
    header = (f"{'model':<26s} {'units':<12s} {'n':>3s} {'linear':>7s} {'quadr.':>7s} "
              f"{'max|corr|':>9s}")
    print(header)
    print("-" * len(header))
    for name, info, _, _ in report:
        for g, idx in info.groups.items():
            if g == "all" and len(info.groups) > 1:
                continue
            corr = info.unit_correlation[idx].max()
            print(f"{name:<26s} {g:<12s} {len(idx):3d} {info.linear_accuracy[g]:7.3f} "
                  f"{info.quadratic_accuracy[g]:7.3f} {corr:9.3f}")
    print("\nConstraint residuals after training (relative) and mean log pseudo-likelihood:")
    for name, _, res, pl in report:
        r = "-" if res is None else f"|q^T W| {res['first_order']:.1e}"
        if res is not None and "second_order" in res:
            r += f", |W^T Q W| {res['second_order']:.1e}"
        print(f"  {name:<26s} {r:<40s} PL {pl:8.3f}")

    dis = _transfer_model(n_iter, seed).fit(X, y)
    clf = LogisticRegression(max_iter=5000).fit(digits.data[digits.target < 2] / 16 > 0.5, y)
    target = 1 - y
    Xt = dis.transfer(X, target)
    acc = float(np.mean(clf.predict(Xt) == target))  # Xt: conditional means E[v | h]
    print(f"\nAttribute transfer (DisentangledRBM with centering, released unit set to the "
          f"other class's mean, constrained units kept):\n  an independent pixel classifier assigns the "
          f"target label to {100 * acc:.1f}% of the {len(X)} transferred images")
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s")
    if plot:
        _plot(out, X, Xt, dis, y)
    return report, acc


def _pyplot(out):
    """matplotlib's pyplot on the Agg backend with ``out`` created, or None (and a hint)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("(matplotlib is not installed: no figures; pip install 'skrbm[examples]')")
        return None
    os.makedirs(out, exist_ok=True)
    return plt


def _plot(out, X, Xt, model, y):
    plt = _pyplot(out)
    if plt is None:
        return
    idx = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:6]])
    fig, axes = plt.subplots(2, len(idx), figsize=(len(idx) * 0.9, 2.2))
    for k, i in enumerate(idx):
        axes[0, k].imshow(X[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes[1, k].imshow(Xt[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        for a in axes[:, k]:
            a.set_xticks([])
            a.set_yticks([])
    axes[0, 0].set_ylabel("input")
    axes[1, 0].set_ylabel("transfer")
    fig.suptitle("DisentangledRBM: released unit flipped (0 <-> 1)")
    path = os.path.join(out, "digits_transfer.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    H = model.transform(X)[:, model.released_units_[0]]
    fig, ax = plt.subplots(figsize=(4, 2.6))
    for c in (0, 1):
        ax.hist(H[y == c], bins=30, alpha=0.6, label=f"digit {c}")
    ax.set_xlabel("released unit <h | v>")
    ax.legend()
    path2 = os.path.join(out, "digits_released_unit.png")
    fig.savefig(path2, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"Figures written to {os.path.abspath(out)}/ (digits_transfer.png, "
          "digits_released_unit.png)")


_ISING_MODELS = ("unconstrained", "order 1", "released")


def _ising_model(kind, n_components, seed):
    common = dict(visible="spin", optimizer="sgd", batch_size=128, warm_start=True,
                  random_state=seed)
    if kind == "released":
        return DisentangledRBM(n_components, hidden="gaussian", released_hidden="spin",
                               order=1, **common)
    return ConstrainedRBM(n_components, hidden=[("spin", 1), ("gaussian", None)],
                          order=0 if kind == "unconstrained" else 1, **common)


def run_ising(out, L=8, temperatures=(2.0, 2.6), n_train=2000, epochs=40, seed=0,
              plot=True):
    """Small Ising study: data, exact values and samples of three models per temperature."""
    from .datasets import ising_exact, ising_observables, make_ising

    n_components = L * L
    print(f"skrbm demo (ising): {L}x{L} periodic Ising model, {n_train} Swendsen-Wang "
          f"configurations per temperature, label = sign(m), {n_components} hidden units "
          f"(1 spin + gaussian)\n")
    t0 = time.perf_counter()
    rows = []
    for k, T in enumerate(temperatures):
        X, y = make_ising(L, T, n_train, random_state=seed + k)
        ex = ising_exact(L, T)
        row = {"T": T, "exact": {"u": ex.u, "c": ex.c}, "data": ising_observables(X, T)}
        row["data"]["m"] = X.mean(axis=1)
        for kind in _ISING_MODELS:
            est = _ising_model(kind, n_components, seed)
            for lr, n in ((0.05, epochs), (0.02, max(1, epochs // 2))):
                est.set_params(learning_rate=lr, n_iter=n).fit(X, y)
            S = est.sample(500, method="pt", n_temperatures=10, n_steps=100,
                           random_state=seed)
            row[kind] = ising_observables(S, T)
            row[kind]["m"] = S.mean(axis=1)
        rows.append(row)
    print(f"{'T':>6s} {'source':<14s} {'<|m|>':>13s} {'u':>14s} {'c':>13s}")
    for row in rows:
        print(f"{row['T']:6.3f} {'exact':<14s} {'':>13s} {row['exact']['u']:14.3f} "
              f"{row['exact']['c']:13.3f}")
        for src in ("data",) + _ISING_MODELS:
            o = row[src]
            print(f"{'':6s} {src:<14s} {o['abs_m']:7.3f}+-{o['abs_m_se']:.3f} "
                  f"{o['u']:8.3f}+-{o['u_se']:.3f} {o['c']:7.3f}+-{o['c_se']:.3f}")
    print(f"\nTotal time {time.perf_counter() - t0:.0f} s")
    if plot:
        _plot_ising(out, rows, L)
    return rows


def _plot_ising(out, rows, L):
    plt = _pyplot(out)
    if plt is None:
        return
    temps = np.array([r["T"] for r in rows])
    sources = ("data",) + _ISING_MODELS
    fig, axes = plt.subplots(1, 3, figsize=(11, 3.3))
    for ax, key in zip(axes, ("abs_m", "u", "c")):
        if key != "abs_m":
            ax.plot(temps, [r["exact"][key] for r in rows], "k-", lw=1, label="exact")
        for src in sources:
            ax.errorbar(temps, [r[src][key] for r in rows],
                        yerr=[r[src][key + "_se"] for r in rows], marker="o", capsize=2,
                        ls="--", label=src)
        ax.set_xlabel("T")
        ax.set_title({"abs_m": "<|m|>", "u": "energy per spin", "c": "heat capacity"}[key])
    axes[0].legend(fontsize=7)
    path = os.path.join(out, "ising_observables.png")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    fig, axes = plt.subplots(1, len(rows), figsize=(3.3 * len(rows), 2.8), squeeze=False)
    bins = np.linspace(-1, 1, 2 * L + 2)
    for ax, row in zip(axes[0], rows):
        for src in sources:
            ax.hist(row[src]["m"], bins=bins, density=True, histtype="step", label=src)
        ax.set_title(f"T = {row['T']}")
        ax.set_xlabel("m")
    axes[0, 0].legend(fontsize=7)
    path2 = os.path.join(out, "ising_magnetisation.png")
    fig.savefig(path2, dpi=120, bbox_inches="tight")
    plt.close(fig)
    print(f"Figures written to {os.path.abspath(out)}/ (ising_observables.png, "
          "ising_magnetisation.png)")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m skrbm.demo", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", nargs="?", default="digits", choices=["digits", "ising"],
                    help="which study to run (default: digits)")
    ap.add_argument("--out", default="skrbm_demo_output", help="folder for figures")
    ap.add_argument("--epochs", type=int, default=20)
    ap.add_argument("--cv", type=int, default=5)
    ap.add_argument("--no-plot", action="store_true")
    ap.add_argument("--size", type=int, default=8, help="ising: lattice size L")
    args = ap.parse_args(argv)
    if args.study == "ising":
        run_ising(args.out, L=args.size, epochs=args.epochs * 2, plot=not args.no_plot)
        return 0
    run_digits(args.out, n_iter=args.epochs, cv=args.cv, plot=not args.no_plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
