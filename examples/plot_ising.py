"""
=====================================================================
The 2D Ising model: magnetisation, energy and heat capacity
=====================================================================

The paper's central experiment. Configurations of the periodic ``L x L`` Ising model are
drawn by Swendsen-Wang Monte Carlo (:func:`skrbm.datasets.make_ising`) at several
temperatures across the critical temperature ``Tc = 2.269``, labelled by the sign of
their magnetisation ``m``. At each temperature RBMs with spin visible units are trained:

* **unconstrained**: one spin hidden unit and Gaussian hidden units, no constraint;
* **order 1**: the same layer, every unit constrained at first order (``q^T W = 0``);
* **order 2**: every unit also constrained at second order (``W^T Q W = 0``);
* **released**: a :class:`~skrbm.DisentangledRBM` whose first hidden unit is released
  and all the other (Gaussian) units are constrained at first order.

Training protocol (why it is not plain PCD)
-------------------------------------------
A Gaussian-hidden RBM with spin visibles is a pairwise model with couplings
``J = W diag(1/gamma) W^T``; with ``M >= N`` units it can represent the Ising model
exactly. Plain PCD from small random weights does not get there in minutes: the weights
grow first along the smooth modes of the data covariance (a mean-field-like model with a
magnetisation term, wrong energy and heat capacity), and near and below ``Tc`` the
persistent Gibbs chains lag behind the parameters, so the model oscillates between
ordered and disordered phases. Three changes fix this:

1. **Initialisation from the data** (naive mean-field inverse Ising): ``J0 = -C^{-1}``
   off the diagonal (``C`` the data covariance), shifted to be positive semi-definite and
   factorised into Gaussian-unit weights; its overall scale (mean field overestimates the
   couplings, by 2.7x at T = 2) is fixed by maximising the pseudo-likelihood (1-D).
2. **Parallel-tempering persistent chains**: each of the 128 persistent chains is a ladder
   of 8 replicas at ``beta in linspace(0.5, 1, 8)`` on the annealing path of
   :mod:`skrbm._sampling`; every update does 2 Gibbs sweeps of every replica and one
   round of replica swaps. The ladders start from training configurations.
3. **Small Adam steps and averaging**: ``1e-4`` for 5 epochs then ``3e-5`` for 10, on
   10,000 training configurations (batch 128); the parameters are averaged over the
   last 10 epochs.

The released unit is a *Gaussian* unit: a Gaussian unit along the uniform direction is
exactly the magnetisation mode ``exp(lambda N m^2 / 2)`` of the Ising couplings that
the first-order constraint removes from the other units. A released *spin* unit
contributes ``log cosh(c N m)``, a field of ``+-c`` on every spin: fitted by
pseudo-likelihood and PCD it reproduces ``<|m|>`` but pins the spins, and the heat
capacity comes out 35-75% too low (L = 8 and 16).

Why the first-order model cannot keep the energy below ``Tc``: with the constraint, every
column of ``W`` sums to zero (``q`` is uniform), so every hidden input ``I_mu(v)``
vanishes on the two ground states ``v = +-1``. The cgf of any unit type is convex,
``Gamma(I) >= Gamma(0) + Gamma'(0) I``, hence
``-F(v) >= -F(+1) + theta_eff . (v - 1)`` with ``theta_eff = theta + W Gamma'(0)``, a field
that the balanced labels drive to zero. Such a model gives the fully magnetised
configurations the *smallest* probability of all: it cannot concentrate on the nearly
ordered states of the data far below ``Tc``, and maximum likelihood drives its couplings
to zero there (energy near 0, as measured). The deficit is smaller near and above
``Tc``, where the data are far from the ground states.

1000 samples of every model are then drawn, each by 1000 Gibbs sweeps started from a
training configuration (standard error of the energy per spin about 0.006 at ``Tc``; with
500 samples it was 0.009, a third of the 0.03 tolerance on the unconstrained model).  (The previous evaluation, ``sample(method="pt")`` with 10 temperatures
and 100 steps started from the independent-site model, is strongly biased at ``L = 16``:
applied to the *exact* Ising model written as an RBM it gives ``u = -1.45`` instead of
``-1.746`` at ``T = 2``.)

The protocol is :func:`skrbm.demo.fit_ising_model`.  The tempered ladders are the
estimators' ``n_temperatures=8, min_beta=0.5``; starting the replicas from training rows
and the mean-field initialisation are the protocol's own (private subclasses).

The defaults (``L = 16``, four temperatures, four models) take about 7 minutes on two
cores (431 s measured: two temperatures at a time, one process each; the models are
float32, and the tempered ladders are advanced as one stacked array: 529 s before
both, with 500 model samples instead of 1000).  Set ``SKRBM_DOC_QUICK=1`` for ``L = 8``
and two temperatures (about 2 minutes);
``--full`` for ``L = 32`` (much longer).
"""

import os
import sys
import time

import matplotlib.pyplot as plt
import numpy as np
from joblib import Parallel, delayed

from skrbm.datasets import ising_exact, ising_observables, make_ising
from skrbm.demo import fit_ising_model, ising_model_observables

QUICK = os.environ.get("SKRBM_DOC_QUICK", "") not in ("", "0")
FULL = "--full" in sys.argv or os.environ.get("SKRBM_ISING_FULL", "") not in ("", "0")
if FULL:
    L, TEMPERATURES = 32, [1.8, 2.1, 2.269, 2.5, 3.0]
    SCHEDULE = [(1e-4, 5), (3e-5, 10)]
elif QUICK:
    L, TEMPERATURES = 8, [2.0, 2.6]
    SCHEDULE = [(3e-4, 10), (1e-4, 10), (3e-5, 10)]
else:
    L, TEMPERATURES = 16, [2.0, 2.269, 2.6, 3.0]
    SCHEDULE = [(1e-4, 5), (3e-5, 10)]
N_TRAIN = 10000
N_COMPONENTS = L * L
N_MODEL_SAMPLES, EVAL_SWEEPS = 1000, 1000
MODELS = ("unconstrained", "order 1", "order 2", "released")
N_JOBS = 2  # temperatures trained in parallel


def one_temperature(k, T, L, n_train, schedule, n_model_samples, n_sweeps, models,
                    random_state):
    """Train every model at temperature ``T``; observables of data, models and exact."""
    X, y = make_ising(L, T, n_train, random_state=random_state + k)
    data = ising_observables(X, T)
    data["m"] = X.mean(axis=1)
    exact = ising_exact(L, T)
    row = {"T": T, "data": data, "exact": {"u": exact.u, "c": exact.c}}
    for kind in models:
        t0 = time.perf_counter()
        # float32 models (the observables are computed in float64): half the cost of
        # the matrix products, which dominate the tempered chains' sweeps
        est = fit_ising_model(kind, X.astype(np.float32), y, schedule=schedule,
                              random_state=random_state)
        t1 = time.perf_counter()
        row[kind] = ising_model_observables(est, X, T, n_samples=n_model_samples,
                                            n_sweeps=n_sweeps, random_state=random_state)
        row[kind]["seconds"] = time.perf_counter() - t0
        row[kind]["train_seconds"] = t1 - t0
        if hasattr(est, "constraint_residual_"):
            row[kind]["residual"] = est.constraint_residual_["first_order"]
    return row


def ising_study(L, temperatures, n_train, schedule, n_model_samples, n_sweeps,
                models=MODELS, random_state=0, n_jobs=N_JOBS):
    """:func:`one_temperature` at every temperature, ``n_jobs`` temperatures at a time.

    Each temperature has its own seeds, so the results do not depend on ``n_jobs``.  The
    products are small (N = M = L^2): one process per core (joblib limits each worker's
    BLAS to one thread) beats one process with two BLAS threads.
    """
    return Parallel(n_jobs=n_jobs)(
        delayed(one_temperature)(k, T, L, n_train, schedule, n_model_samples, n_sweeps,
                                 models, random_state)
        for k, T in enumerate(temperatures))


def print_table(results, models=MODELS):
    """One line per temperature and source, with standard errors."""
    print(f"{'T':>6s} {'source':<14s} {'<|m|>':>13s} {'u':>14s} {'c':>13s} {'s':>5s}")
    for row in results:
        ex = row["exact"]
        print(f"{row['T']:6.3f} {'exact':<14s} {'':>13s} {ex['u']:14.3f} {ex['c']:13.3f}")
        for src in ("data",) + tuple(models):
            o = row[src]
            sec = f"{o['seconds']:5.0f}" if "seconds" in o else ""
            print(f"{'':6s} {src:<14s} {o['abs_m']:7.3f}+-{o['abs_m_se']:.3f} "
                  f"{o['u']:8.3f}+-{o['u_se']:.3f} {o['c']:7.3f}+-{o['c_se']:.3f} {sec}")


# %%
# Train and measure
# -----------------
t_start = time.perf_counter()
results = ising_study(L, TEMPERATURES, N_TRAIN, SCHEDULE, N_MODEL_SAMPLES, EVAL_SWEEPS)
print(f"L = {L}, {N_TRAIN} training configurations per temperature, "
      f"{N_COMPONENTS} hidden units\n")
print_table(results)
print(f"\ntotal time {time.perf_counter() - t_start:.0f} s")

# %%
# Observables against temperature
# -------------------------------
temps = np.array([r["T"] for r in results])
grid = np.linspace(min(temps) - 0.1, max(temps) + 0.1, 200)
exact = ising_exact(L, grid)
styles = {"data": ("o", "k"), "unconstrained": ("s", "C0"), "order 1": ("v", "C1"),
          "order 2": ("^", "C2"), "released": ("D", "C3")}
fig, axes = plt.subplots(1, 3, figsize=(12, 3.6), layout="constrained")
for ax, key, title in zip(axes, ("abs_m", "u", "c"),
                          ("magnetisation <|m|>", "energy per spin u", "heat capacity c")):
    if key != "abs_m":
        ax.plot(grid, exact[key], color="0.4", lw=1, label="exact (Kaufman)")
    for src, (marker, color) in styles.items():
        vals = np.array([r[src][key] for r in results])
        errs = np.array([r[src][key + "_se"] for r in results])
        ax.errorbar(temps, vals, yerr=errs, marker=marker, color=color,
                    ls="-" if src == "data" else "--", ms=5, capsize=2, label=src)
    ax.axvline(2.269185, color="0.6", ls=":", lw=1)
    ax.set_xlabel("temperature T")
    ax.set_title(title, fontsize=10)
axes[0].legend(fontsize=8)
fig.suptitle(f"{L}x{L} Ising model: training data, exact values and RBM samples")
plt.show()

# %%
# Distribution of the magnetisation
# ---------------------------------
fig, axes = plt.subplots(1, len(results), figsize=(3.2 * len(results), 3.0),
                         layout="constrained", sharey=False)
axes = np.atleast_1d(axes)
bins = np.linspace(-1, 1, 2 * L + 2)
for ax, row in zip(axes, results):
    for src, (_, color) in styles.items():
        ax.hist(row[src]["m"], bins=bins, density=True, histtype="step", color=color,
                lw=2 if src == "data" else 1.2, label=src)
    ax.set_title(f"T = {row['T']:.3f}", fontsize=10)
    ax.set_xlabel("m")
axes[0].legend(fontsize=7)
fig.suptitle("Distribution of the magnetisation per spin")
plt.show()
