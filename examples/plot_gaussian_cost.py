"""
===============================================================
The likelihood cost of erasing a label: the Gaussian formula
===============================================================

Constraining hidden units at first order (``q^T W = 0``) forbids their weights from
pointing along the label covariances ``q``. For a Gaussian RBM on standardised data
(unit-precision Gaussian visible units, unit-variance Gaussian hidden units, so the model
precision is ``I - W W^T``) the likelihood this costs has a closed form,
:func:`skrbm.gaussian_erasure_cost` (method notes, section 4): with ``lambda_k`` the
eigenvalues of the correlation matrix ``C``, ``mu_k`` those of ``C`` restricted to
``ker q^T`` and ``g+(x) = x - 1 - ln x`` for ``x > 1`` (else 0),

.. math::

    \\text{cost} = \\tfrac12 \\sum_{k \\le M} [g_+(\\lambda_k) - g_+(\\mu_k)],
    \\qquad 0 \\le \\text{cost} \\le \\tfrac12 \\sum_{k \\le M}
    [g_+(\\lambda_k) - g_+(\\lambda_{k+r})].

Here we *measure* the cost instead: we maximise the exact log-likelihood of the Gaussian
RBM (computed by skrbm's RBM engine: free energy and exact Gaussian ``log Z``, with the
exact log-likelihood gradient ``<v h>_data - <v h>_model``) with L-BFGS, once freely and
once with every weight column projected onto ``ker q^T`` by the same
:class:`~skrbm._constraints.FirstOrderProjector` the constrained trainers use, and compare
the difference of the two maxima with the formula.

Two data sets:

* **generated**: correlated Gaussian features whose class means differ by ``strength``
  along a fixed low-variance direction. The first-order constraint is *scale invariant*
  (``q^T W = 0`` does not care how large ``q`` is), so the cost depends on the label only
  through the *direction* of ``q``: with no real label effect ``q`` is sampling noise
  pointing anywhere; a moderate effect points ``q`` at the low-variance direction, which
  the model does not need (cost near 0); a strong effect makes that direction the
  dominant variance of the data and the cost climbs to the upper bound.
* **digits**: scikit-learn's 8x8 digits, standardised, with the 10-class label
  (``r = 9`` directions).

The formula is an in-sample statement (a maximum of the training log-likelihood), so the
in-sample measurement must match it to optimizer precision. We also report the cost on
held-out data (models fitted on the training half, scored on fresh samples), which
matches it up to sampling noise. Set ``SKRBM_DOC_QUICK=1`` for a faster, smaller run.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from scipy.optimize import minimize
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

from skrbm import gaussian_erasure_cost
from skrbm._constraints import FirstOrderProjector
from skrbm._label_stats import LabelStatistics, label_directions
from skrbm._layers import make_layer
from skrbm._rbm import RBM

QUICK = os.environ.get("SKRBM_DOC_QUICK", "") not in ("", "0")
FULL = not QUICK
N_SAMPLES = 4000 if FULL else 1500  # generated data, per split (train and test)
STRENGTHS = [0.0, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0] if FULL else [0.0, 1.0, 4.0, 8.0]
COMPONENTS = [1, 2, 4] if FULL else [1, 2]
DIGIT_COMPONENTS = [1, 2, 5, 10, 15, 20] if FULL else [2, 5, 10]
N_RESTARTS = 2 if FULL else 1


# %%
# Measuring the cost with skrbm's exact Gaussian likelihood
# ---------------------------------------------------------
# ``make_data`` draws the generated data; ``fit_gaussian_rbm`` maximises the exact mean
# log-likelihood of standardised data over the weights ``W`` (fields 0, precisions 1, as
# in the formula), optionally with the first-order projection; ``erasure_cost`` runs
# both fits and the formula on one data set.
def make_data(n_samples, strength, n_features=10, random_state=0):
    """Correlated Gaussian data; the class means differ by ``strength`` along one axis.

    The covariance has eigenvalues 8, 4, 2, 1, ..., 1 along random orthonormal
    axes; the label shifts the class means by ``+-strength/2`` along the last axis (a
    direction of variance 1), adding ``strength**2 / 4`` to the variance there. The axes
    are drawn from a fixed seed (the same distribution for every ``random_state``).
    """
    axes, _ = np.linalg.qr(np.random.default_rng(12345).standard_normal((n_features,) * 2))
    lam = np.ones(n_features)
    lam[:3] = [8.0, 4.0, 2.0]
    rng = np.random.default_rng(random_state)
    y = rng.integers(0, 2, n_samples)
    Z = rng.standard_normal((n_samples, n_features)) * np.sqrt(lam)
    X = Z @ axes.T + strength * (y[:, None] - 0.5) * axes[:, -1]
    return X, y


def gaussian_rbm(W):
    """skrbm RBM with Gaussian visible and hidden units, fields 0 and precisions 1."""
    N, M = W.shape
    return RBM(make_layer("gaussian", N), make_layer("gaussian", M), W)


def fit_gaussian_rbm(Xs, n_components, project=None, n_restarts=2, random_state=0):
    """Maximise the exact mean log-likelihood of ``Xs`` over W; returns (rbm, loglik).

    ``project`` (e.g. ``FirstOrderProjector.project``) restricts the weights: the
    objective is evaluated at ``project(W)`` and its gradient projected the same way.
    """
    N = Xs.shape[1]
    P = (lambda W: W) if project is None else project
    rbm = gaussian_rbm(np.zeros((N, n_components)))

    def objective(w):
        rbm.W = P(w.reshape(N, n_components))
        try:
            log_z = rbm.log_partition_exact()
        except ValueError:  # I - W W^T not positive definite: not normalisable
            return 1e10, np.zeros_like(w)
        loglik = -rbm.free_energy(Xs).mean() - log_z
        grad = rbm.stats_from_visible(Xs)["W"] - rbm.exact_model_stats()["W"]
        return -loglik, -P(grad).ravel()

    rng = np.random.default_rng(random_state)
    best_w, best = None, -np.inf
    for _ in range(n_restarts):
        w0 = 0.1 / np.sqrt(N) * rng.standard_normal(N * n_components)
        res = minimize(objective, w0, jac=True, method="L-BFGS-B",
                       options=dict(maxiter=10000, gtol=1e-10, ftol=1e-15))
        if -res.fun > best:
            best_w, best = res.x, -res.fun
    rbm.W = P(best_w.reshape(N, n_components))
    return rbm, best


def erasure_cost(X, y, n_components, X_test=None, n_restarts=2, random_state=0):
    """Predicted (formula) and measured likelihood cost of the first-order constraint.

    Returns a dict with ``predicted``, ``lower``, ``upper`` (the formula and its bounds),
    ``measured`` (in-sample: max log-likelihood without minus with the constraint, per
    sample) and, with ``X_test``, ``heldout`` and ``heldout_se``: the mean over the test
    samples of the per-sample log-likelihood difference of the two fitted models (test
    data standardised with the training statistics) and its standard error.
    """
    res = gaussian_erasure_cost(X, y, n_components)
    mean, std = X.mean(axis=0), X.std(axis=0)
    Xs = (X - mean) / std
    U, _ = label_directions(y)
    projector = FirstOrderProjector(LabelStatistics(Xs, U).q_)
    free, ll_free = fit_gaussian_rbm(Xs, n_components, None, n_restarts, random_state)
    con, ll_con = fit_gaussian_rbm(Xs, n_components, projector.project, n_restarts,
                                   random_state)
    out = dict(predicted=res.cost, lower=res.lower_bound, upper=res.upper_bound,
               measured=ll_free - ll_con, n_directions=res.n_directions)
    if X_test is not None:
        Xt = (X_test - mean) / std
        diff = (con.free_energy(Xt) + con.log_partition_exact()
                - free.free_energy(Xt) - free.log_partition_exact())
        out["heldout"] = float(diff.mean())
        out["heldout_se"] = float(diff.std(ddof=1) / np.sqrt(len(diff)))
    return out


# %%
# Generated data: cost against label strength and number of hidden units
# -----------------------------------------------------------------------
header = (f"{'data':<10s} {'strength':>8s} {'M':>3s} {'r':>2s} {'predicted':>10s} "
          f"{'measured':>10s} {'held-out':>16s} {'lower':>6s} {'upper':>8s}")
print(header)
print("-" * len(header))


def report(name, strength, M, row):
    held = f"{row['heldout']:7.4f} +- {row['heldout_se']:.4f}"
    print(f"{name:<10s} {strength:8.2f} {M:3d} {row['n_directions']:2d} "
          f"{row['predicted']:10.6f} {row['measured']:10.6f} {held:>16s} "
          f"{row['lower']:6.1f} {row['upper']:8.4f}")


generated = {}
for s in STRENGTHS:
    X, y = make_data(N_SAMPLES, s, random_state=0)
    X_test, _ = make_data(N_SAMPLES, s, random_state=1)
    for M in COMPONENTS:
        row = generated[s, M] = erasure_cost(X, y, M, X_test, N_RESTARTS)
        report("generated", s, M, row)

# %%
# Digits: ten classes, nine label directions
# ------------------------------------------
digits = load_digits()
X_dig = digits.data[:, digits.data.std(axis=0) > 0]  # a Gaussian model needs variance
X_tr, X_te, y_tr, y_te = train_test_split(X_dig, digits.target, test_size=0.5,
                                          stratify=digits.target, random_state=0)
varies = X_tr.std(axis=0) > 0  # features constant on the training half
X_tr, X_te = X_tr[:, varies], X_te[:, varies]
digit_rows = {}
for M in DIGIT_COMPONENTS:
    row = digit_rows[M] = erasure_cost(X_tr, y_tr, M, X_te, N_RESTARTS)
    report("digits", float("nan"), M, row)

# The ``+-`` of the held-out column is the standard error over the test samples only; the
# training sample (which fixes the fitted models and the formula's value) adds noise of a
# similar size, and every strength reuses the same random draws, so the held-out
# deviations of neighbouring rows are correlated.
worst = max(abs(r["measured"] - r["predicted"])
            for r in [*generated.values(), *digit_rows.values()])
print(f"\nlargest |measured - predicted| (in-sample): {worst:.2e} nats per sample")

# %%
# Figures
# -------
# Left: the cost against label strength (lines: formula; dots: measured in sample;
# crosses: held out; dashed: upper bound). It starts at the cost of a random direction,
# drops near 0 once ``q`` points at the unneeded low-variance axis, and rises to the
# upper bound once the label shift makes that axis one of the ``M`` strongest.
# Right: digits, against the number of hidden units.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4))
for k, M in enumerate(COMPONENTS):
    c = f"C{k}"
    pick = lambda key: [generated[s, M][key] for s in STRENGTHS]  # noqa: E731
    ax1.plot(STRENGTHS, pick("predicted"), "-", color=c, label=f"M = {M} formula")
    ax1.plot(STRENGTHS, pick("measured"), "o", color=c, mfc="none", ms=8)
    ax1.errorbar(STRENGTHS, pick("heldout"), yerr=pick("heldout_se"), fmt="x", color=c)
    ax1.plot(STRENGTHS, pick("upper"), "--", color=c, alpha=0.5)
ax1.plot([], [], "ko", mfc="none", label="measured (in sample)")
ax1.plot([], [], "kx", label="measured (held out)")
ax1.plot([], [], "k--", alpha=0.5, label="upper bound")
ax1.set_xlabel("label strength (class-mean difference)")
ax1.set_ylabel("log-likelihood cost (nats / sample)")
ax1.set_title("generated data, r = 1")
ax1.legend(fontsize=7)

Ms = DIGIT_COMPONENTS
ax2.plot(Ms, [digit_rows[M]["predicted"] for M in Ms], "-", color="C3", label="formula")
ax2.plot(Ms, [digit_rows[M]["measured"] for M in Ms], "o", color="C3", mfc="none", ms=8,
         label="measured (in sample)")
ax2.errorbar(Ms, [digit_rows[M]["heldout"] for M in Ms],
             yerr=[digit_rows[M]["heldout_se"] for M in Ms], fmt="x", color="C3",
             label="measured (held out)")
ax2.fill_between(Ms, 0, [digit_rows[M]["upper"] for M in Ms], color="C3", alpha=0.12,
                 label="[lower, upper] bounds")
ax2.set_xlabel("hidden units M (all constrained)")
ax2.set_ylabel("log-likelihood cost (nats / sample)")
ax2.set_title("digits, 10 classes (r = 9)")
ax2.legend(fontsize=7)
fig.tight_layout()
plt.show()
