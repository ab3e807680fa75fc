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
Gaussian unit, trained by the protocol of :func:`fit_ising_model` and sampled by Gibbs
sweeps from training configurations; it prints <|m|>, the energy and heat
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
from ._training import PCDTrainer
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

# --------------------------------------------------------------------------------------
# Ising training protocol (used by run_ising and examples/plot_ising.py)
# --------------------------------------------------------------------------------------
#: default learning-rate schedules ``[(learning_rate, epochs), ...]`` by lattice size;
#: the parameters are averaged over the epochs of the last phase
ISING_SCHEDULES = {"small": [(3e-4, 10), (1e-4, 10), (3e-5, 10)],  # L <= 8
                   "large": [(1e-4, 5), (3e-5, 10)]}
#: tempered persistent chains of the protocol: ladders of 8 replicas, beta from 0.5 to 1
ISING_N_TEMPERATURES, ISING_MIN_BETA = 8, 0.5


class _TemperedChainsTrainer(PCDTrainer):
    """The estimators' trainer with tempered persistent chains (``n_temperatures``), whose
    replicas all start from training rows instead of the independent-site model."""

    init_data = None

    def initialise_chains(self, rbm, rng, start=None):
        if start is None:
            n = self.n_chains or self.batch_size
            idx = rng.choice(len(self.init_data), n, replace=n > len(self.init_data))
            start = self.init_data[idx]
        super().initialise_chains(rbm, rng, start=start)


def _mean_field_weights(X, n_units):
    """Gaussian-unit weights (gamma = 1) with ``W W^T = -C^-1`` off the diagonal (naive
    mean-field inverse Ising, ``C`` the data covariance), shifted to be PSD."""
    C = np.cov(X.T, bias=True)
    J = -np.linalg.inv(C + 1e-3 * np.eye(len(C)))
    np.fill_diagonal(J, 0.0)
    lam, V = np.linalg.eigh(J)
    lam = lam - lam[0]
    top = np.argsort(lam)[::-1][:n_units]
    return V[:, top] * np.sqrt(lam[top])


def _pseudolikelihood_scale(X, W):
    """Scale ``s`` maximising the pseudo-likelihood of the couplings ``s W W^T``."""
    from scipy.optimize import minimize

    J = W @ W.T
    np.fill_diagonal(J, 0.0)
    H = X @ J

    def nll(s):
        return np.mean(np.sum(np.logaddexp(0.0, -2.0 * s[0] * X * H), axis=1))

    return float(minimize(nll, [0.5], method="L-BFGS-B", bounds=[(1e-3, 10.0)]).x[0])


def _ising_protocol(base):
    """``base`` with the tempered-chains trainer and the mean-field initialisation."""

    class Model(base):
        def _make_trainer(self):
            t = super()._make_trainer()
            t.__class__ = _TemperedChainsTrainer
            t.init_data = self._X_init
            return t

        def _build_rbm(self, X, w, rng):
            rbm, Xe = super()._build_rbm(X, w, rng)
            W0 = _mean_field_weights(Xe, rbm.W.shape[1])
            W0 *= np.sqrt(_pseudolikelihood_scale(Xe, W0))
            if getattr(self, "released_hidden", None) == "gaussian":
                # the column along the uniform (magnetisation) mode is the released unit
                j = int(np.argmax(np.abs(W0.sum(axis=0))))
                rbm.W[:] = W0[:, [j] + [i for i in range(W0.shape[1]) if i != j]]
            else:  # column 0 is a spin unit: it keeps its small random weights
                rbm.W[:, 1:] = W0[:, :rbm.W.shape[1] - 1]
            for key, p in rbm.hidden.params.items():
                if key.endswith("gamma"):
                    p[:] = 1.0
                elif not key.startswith("0."):
                    p[:] = 0.0
            return rbm, Xe  # fit then puts W on the constraint set

    # shown as the public estimator; pickled by reference to this module's attribute
    Model.__name__ = base.__name__
    Model.__qualname__ = f"_Ising{base.__name__}"
    return Model


_IsingConstrainedRBM = _ising_protocol(ConstrainedRBM)
_IsingDisentangledRBM = _ising_protocol(DisentangledRBM)


def fit_ising_model(kind, X, y, *, schedule=None, n_components=None, random_state=0):
    """Fit one of the Ising study's RBMs with the protocol that reproduces the data.

    Plain PCD from small random weights does not reproduce Ising data in minutes: the
    weights grow first along the smooth modes of the covariance (a mean-field-like model
    with the wrong energy and heat capacity), and near and below ``Tc`` persistent Gibbs
    chains lag behind the parameters, so the model oscillates between the ordered and
    the disordered phase.  This protocol fixes both:

    1. initialisation from the naive mean-field inverse Ising couplings ``-C^-1``
       (shifted to be PSD, factorised into Gaussian-unit weights, overall scale fitted by
       pseudo-likelihood);
    2. persistent chains that are parallel-tempering ladders (the estimators'
       ``n_temperatures=8, min_beta=0.5``, 2 sweeps per replica per update), every
       replica started from training rows;
    3. Adam with small steps (``schedule``) and the parameters averaged over the epochs
       of the last phase (near ``Tc`` the energy moves by ~0.05 per 1 % of coupling
       scale, about what Adam's noise moves it by).

    Parameters
    ----------
    kind : {"unconstrained", "order 1", "order 2", "released"}
        ``ConstrainedRBM`` with one spin and ``n_components - 1`` Gaussian hidden units at
        order 0, 1 or 2, or a ``DisentangledRBM`` with one released *Gaussian* unit and
        Gaussian units constrained at order 1.
    X, y : arrays from :func:`skrbm.datasets.make_ising`
    schedule : list of (learning_rate, epochs), default=None
        ``ISING_SCHEDULES["small"]`` for ``N <= 64`` spins, else ``["large"]``.
    n_components : int, default=None
        Hidden units; ``N`` (as many as spins: the Ising couplings are then exactly
        representable) by default.
    random_state : int, default=0

    Returns
    -------
    estimator : fitted ConstrainedRBM or DisentangledRBM (subclass)
    """
    N = X.shape[1]
    M = N if n_components is None else n_components
    if schedule is None:
        schedule = ISING_SCHEDULES["small" if N <= 64 else "large"]
    common = dict(visible="spin", optimizer="adam", batch_size=128, n_gibbs_steps=2,
                  n_temperatures=ISING_N_TEMPERATURES, min_beta=ISING_MIN_BETA,
                  warm_start=True, random_state=random_state)
    if kind == "released":
        est = _IsingDisentangledRBM(M, hidden="gaussian", released_hidden="gaussian",
                                    n_released=1, order=1, **common)
    else:
        order = {"unconstrained": 0, "order 1": 1, "order 2": 2}[kind]
        est = _IsingConstrainedRBM(M, hidden=[("spin", 1), ("gaussian", None)],
                                   order=order, **common)
    est._X_init = X
    for lr, epochs in schedule[:-1]:
        est.set_params(learning_rate=lr, n_iter=epochs).fit(X, y)
    lr, epochs = schedule[-1]
    total = None
    for _ in range(epochs):
        est.set_params(learning_rate=lr, n_iter=1).fit(X, y)
        cur = _parameter_arrays(est)
        total = ([p.copy() for p in cur] if total is None
                 else [t + p for t, p in zip(total, cur)])
    for p, t in zip(_parameter_arrays(est), total):
        p[...] = t / epochs  # in place: the public attributes are views of these
    return est


def _parameter_arrays(est):
    rbm = est.rbm_
    return [rbm.W, *rbm.hidden.params.values(), *rbm.visible.params.values()]


def ising_model_observables(est, X, temperature, *, n_samples=500, n_sweeps=1000,
                            random_state=0):
    """Observables of ``n_samples`` model samples, each drawn by ``n_sweeps`` Gibbs
    sweeps started from a training configuration (see :func:`skrbm.datasets.ising_observables`;
    ``"m"`` holds the magnetisation per spin of every sample)."""
    from .datasets import ising_observables

    rng = np.random.default_rng(random_state)
    idx = rng.choice(len(X), n_samples, replace=n_samples > len(X))
    S = est.gibbs(X[idx], n_steps=n_sweeps, random_state=random_state)
    obs = ising_observables(S, temperature)
    obs["m"] = S.mean(axis=1)
    return obs


def run_ising(out, L=8, temperatures=(2.0, 2.6), n_train=10000, schedule=None, seed=0,
              plot=True):
    """Small Ising study: data, exact values and samples of three models per temperature."""
    from .datasets import ising_exact, ising_observables, make_ising

    n_components = L * L
    print(f"skrbm demo (ising): {L}x{L} periodic Ising model, {n_train} Swendsen-Wang "
          f"configurations per temperature, label = sign(m), {n_components} hidden units; "
          "model samples: 1000 Gibbs sweeps from training configurations\n")
    t0 = time.perf_counter()
    rows = []
    for k, T in enumerate(temperatures):
        X, y = make_ising(L, T, n_train, random_state=seed + k)
        ex = ising_exact(L, T)
        row = {"T": T, "exact": {"u": ex.u, "c": ex.c}, "data": ising_observables(X, T)}
        row["data"]["m"] = X.mean(axis=1)
        for kind in _ISING_MODELS:
            est = fit_ising_model(kind, X, y, schedule=schedule, random_state=seed)
            row[kind] = ising_model_observables(est, X, T, random_state=seed)
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
        run_ising(args.out, L=args.size, plot=not args.no_plot)
        return 0
    run_digits(args.out, n_iter=args.epochs, cv=args.cv, plot=not args.no_plot)
    return 0


if __name__ == "__main__":
    sys.exit(main())
