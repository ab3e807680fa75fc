"""
===============================================================
Disentangling "0 vs 1" in an RBM trained on digits
===============================================================

A plain RBM spreads the label of a digit over all its hidden units. Constraining the
hidden units at first order (``q^T W = 0``) and second order (``W^T Q W = 0``) removes
that information from them; a :class:`~skrbm.DisentangledRBM` leaves one unit free, which
then carries the label alone. Flipping that released unit and decoding turns 0s into 1s
and back (attribute transfer), judged by an independent classifier trained on pixels.

Probe accuracies are cross-validated with the RBM refitted inside every fold
(:func:`skrbm.metrics.label_information`), so the numbers are honest held-out estimates.
Set ``SKRBM_DOC_QUICK=1`` for a faster, smaller run.
"""

import os

import matplotlib.pyplot as plt
import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression

from skrbm import ConstrainedRBM, DisentangledRBM
from skrbm.metrics import label_information
from skrbm.plotting import plot_label_information, plot_released_histograms, plot_weights

QUICK = os.environ.get("SKRBM_DOC_QUICK", "") not in ("", "0")
N_ITER = 8 if QUICK else 20
CV = 3 if QUICK else 5

digits = load_digits()
keep = digits.target < 2
X = (digits.data[keep] / 16 > 0.5).astype(float)
y = digits.target[keep]

# %%
# Label information per group of hidden units
# -------------------------------------------
# ``center=False``: centering raises the likelihood but also the weights, and larger
# weights let more higher-order label information through the sigmoid of the hidden units
# (``benchmarks/label_probes.py`` measures both settings).
common = dict(n_components=24, learning_rate=0.01, n_iter=N_ITER, random_state=0,
              center=False)
models = {
    "plain RBM": ConstrainedRBM(order=0, **common),
    "order 1": ConstrainedRBM(order=1, **common),
    "order 2": ConstrainedRBM(order=2, **common),
    "disentangled": DisentangledRBM(order=2, **common),
}
print(f"{'model':<14s} {'units':<12s} {'linear':>7s} {'quadratic':>10s}")
infos = {}
for name, est in models.items():
    info = infos[name] = label_information(est, X, y, cv=CV)
    for group, idx in info.groups.items():
        if group == "all" and len(info.groups) > 1:
            continue
        print(f"{name:<14s} {group:<12s} {info.linear_accuracy[group]:7.3f} "
              f"{info.quadratic_accuracy[group]:10.3f}")
print(f"chance: {infos['plain RBM'].chance:.3f}")

# %%
# Per hidden unit: label correlation before and after the constraints
# -------------------------------------------------------------------
# Left panels: ``max_t |corr(u^t, E[h_mu | v])|`` for each hidden unit; right panels:
# the probe accuracies of each group.  Without constraints many units carry the label;
# with them, only the released unit of the DisentangledRBM does.
for name in ("plain RBM", "order 2", "disentangled"):
    fig = plot_label_information(infos[name])
    fig.suptitle(name)
plt.show()

# %%
# Attribute transfer with the released unit
# -----------------------------------------
# Here the default ``center=True``: its larger weights give the released unit the strength
# to redraw the digit.
rbm = DisentangledRBM(order=2, **{**common, "center": True}).fit(X, y)
clf = LogisticRegression(max_iter=5000).fit(X, y)
X_new = rbm.transfer(X, 1 - y)
success = np.mean(clf.predict(X_new) == 1 - y)
print(f"transferred images classified as the target digit: {100 * success:.1f}%")

idx = np.concatenate([np.flatnonzero(y == 0)[:6], np.flatnonzero(y == 1)[:6]])
fig, axes = plt.subplots(2, len(idx), figsize=(len(idx) * 0.9, 2.3))
for k, i in enumerate(idx):
    axes[0, k].imshow(X[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    axes[1, k].imshow(X_new[i].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
    for a in axes[:, k]:
        a.set_xticks([])
        a.set_yticks([])
axes[0, 0].set_ylabel("input")
axes[1, 0].set_ylabel("transfer")
fig.suptitle("Released unit flipped: 0 <-> 1")
plt.show()

# %%
# The released unit separates the classes
# ---------------------------------------
# Its conditional mean alone classifies the digits (left); a constrained unit has the
# same distribution for both classes up to second order (right).
constrained_unit = int(np.setdiff1d(np.arange(rbm.n_components), rbm.released_units_)[0])
fig = plot_released_histograms(rbm, X, y, units=[rbm.released_units_[0], constrained_unit])
fig.axes[0].set_title(f"unit {rbm.released_units_[0]}: released")
fig.axes[1].set_title(f"unit {constrained_unit}: constrained")
plt.show()

# %%
# Receptive fields
# ----------------
# The weights of the released unit (first panel) against those of a few constrained
# units: the released unit draws the difference between a 0 and a 1.
units = [int(rbm.released_units_[0])] + list(
    np.setdiff1d(np.arange(rbm.n_components), rbm.released_units_)[:7])
fig = plot_weights(rbm, image_shape=(8, 8), units=units, n_cols=8)
plt.show()
