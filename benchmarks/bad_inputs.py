"""Bad-input audit: every public entry point refuses bad input clearly and keeps its state.

Each case is a small named call that feeds ONE bad input (non-finite or mis-shaped data,
data outside the visible unit type, bad labels, bad sample weights, a model too large for
an exact method, a bad hyperparameter) to skrbm, usually to an estimator that is already
fitted.  The outcome is classified as

- "clear error": a ValueError / TypeError (InvalidParameterError, NotFittedError and
  DivergenceError included) whose message has >= 15 characters and mentions the words the
  case lists (each entry of ``words`` is a word, or a tuple of alternatives; all entries
  must match, case-insensitively);
- "fallback with warning": for cases that allow it, the call succeeds with finite output
  and emits a UserWarning that mentions the words;
- "MISBEHAVES": any other exception type, an unclear message, a silent success, NaN
  output, or a changed fitted state: every attribute ending in "_" (the trainer state
  included) is pickled before the call and compared after it.

    OPENBLAS_NUM_THREADS=1 python benchmarks/bad_inputs.py [-v]

prints a table per category and the misbehaving cases; exits with 1 if any misbehaves.
``tests/test_bad_inputs.py`` imports ``CASES`` and ``run_case`` from this file (the one
copy of the cases).
"""

import os
import pickle
import sys
import time
import warnings
from collections import namedtuple
from functools import lru_cache

import numpy as np

from skrbm import (
    ConstrainedRBM,
    DisentangledRBM,
    DivergenceError,
    LabelErasure,
    gaussian_erasure_cost,
)
from skrbm.metrics import label_information

try:
    from sklearn.utils._param_validation import InvalidParameterError
except ImportError:  # pragma: no cover
    InvalidParameterError = ValueError

CATEGORIES = {
    "1": "non-finite / empty / shape / dtype",
    "2": "outside the visible type",
    "3": "labels",
    "4": "sample_weight",
    "5": "too large for exact",
    "6": "hyperparameters / arguments",
}

# category, name, fixture (a fitted estimator, or None), call(est), words, how
#   how: "error" (a clear error is required), "param" (an InvalidParameterError is
#   required), "fallback" (a clear error or a warned fallback is accepted)
Case = namedtuple("Case", "category name fixture call words how")

# ----------------------------------------------------------------------------- data
_RNG = np.random.default_rng(0)
N, P = 24, 6
XB = (_RNG.random((N, P)) < 0.4).astype(np.float64)  # bernoulli
XS = 2 * XB - 1  # spin
XP = _RNG.integers(0, 3, (N, P)).astype(np.float64)  # potts, q=3
XG = _RNG.normal(size=(N, P))  # gaussian
Y2 = np.arange(N) % 2  # two classes
Y3 = np.arange(N) % 3  # three classes
YA = np.stack([np.arange(N) % 2, (np.arange(N) // 2) % 2], axis=1)  # two attributes
ONES = np.ones(N)


def _with(X, value, i=3, j=2):
    X = X.copy()
    X[i, j] = value
    return X


def _fast(**kw):
    base = dict(n_components=3, n_iter=1, batch_size=8, random_state=0)
    base.update(kw)
    return base


_FIXTURES = {
    "crbm0": lambda: ConstrainedRBM(**_fast()).fit(XB),
    "crbm1": lambda: ConstrainedRBM(**_fast(order=1)).fit(XB, Y2),
    "crbm2": lambda: ConstrainedRBM(**_fast(order=2)).fit(XG, Y2),
    "spin": lambda: ConstrainedRBM(**_fast(visible="spin")).fit(XS),
    "potts": lambda: ConstrainedRBM(**_fast(visible=("potts", 3))).fit(XP),
    "relu": lambda: ConstrainedRBM(**_fast(visible="relu")).fit(np.abs(XG)),
    "dis": lambda: DisentangledRBM(**_fast(n_components=4, order=1)).fit(XB, Y3),
    "dis_attr": lambda: DisentangledRBM(**_fast(n_components=4, order=1)).fit(XB, YA),
    "erasure": lambda: LabelErasure(order=1).fit(XG, Y2),
    # 26 bernoulli visible x 24 bernoulli hidden: 2**24 states in the smaller layer
    "big": lambda: ConstrainedRBM(**_fast(n_components=24)).fit(
        (_RNG.random((8, 26)) < 0.5).astype(float)),
}


@lru_cache(maxsize=None)
def _fitted_bytes(name):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pickle.dumps(_FIXTURES[name]())


def fitted(name):
    """A fresh copy of the fitted estimator ``name`` (fitted once, then unpickled)."""
    return pickle.loads(_fitted_bytes(name))


# ----------------------------------------------------------------------------- cases
CASES = []


def case(category, name, fixture, call, words, how="error"):
    CASES.append(Case(category, name, fixture, call, words, how))


NANW = ("nan",)
INFW = ("infinity", "inf")
FEATW = ("features", "feature")
BERW = ("[0, 1]", "bernoulli")

# --- 1. non-finite, empty, 1-D, wrong width, strings -------------------------------------
C1 = "1"
case(C1, "fit X with NaN", "crbm0", lambda e: e.fit(_with(XB, np.nan)), [NANW])
case(C1, "fit X with inf", "crbm0", lambda e: e.fit(_with(XB, np.inf)), [INFW])
case(C1, "fit X empty", "crbm0", lambda e: e.fit(XB[:0]), [("0 sample", "empty")])
case(C1, "fit X 1-D", "crbm0", lambda e: e.fit(XB[:, 0]), [("2d", "1d", "reshape")])
case(C1, "fit X 3-D", "crbm0", lambda e: e.fit(XB[:, :, None]), [("dim", "2d", "3")])
case(C1, "fit X strings", "crbm0", lambda e: e.fit(np.array([["a", "b"], ["c", "d"]])),
     [("string", "str"), "numeric"])
case(C1, "fit X object array of strings", "crbm0",
     lambda e: e.fit(np.array([["0", 1], ["1", 0]], dtype=object)), [("string", "str")])
case(C1, "fit X object with None", "crbm0",
     lambda e: e.fit(np.array([[0, 1], [None, 1]], dtype=object)), [("nan", "none")])
case(C1, "fit X complex", "crbm0", lambda e: e.fit(XB + 1j), [("complex",)])
case(C1, "fit labels with NaN (order 1)", "crbm1",
     lambda e: e.fit(XB, np.where(Y2 == 0, np.nan, 1.0)), [NANW, "label"])
case(C1, "fit labels with inf (order 1)", "crbm1",
     lambda e: e.fit(XB, np.where(Y2 == 0, np.inf, 1.0)), [INFW, "label"])
case(C1, "fit labels= with None (order 1)", "crbm1",
     lambda e: e.fit(XB, labels=np.array([None] + [1] * (N - 1), dtype=object)),
     [("missing", "none"), "label"])
case(C1, "DisentangledRBM fit y with NaN", "dis",
     lambda e: e.fit(XB, np.where(Y2 == 0, np.nan, 1.0)), [NANW])
case(C1, "partial_fit X with NaN", "crbm0", lambda e: e.partial_fit(_with(XB, np.nan)), [NANW])
case(C1, "partial_fit wrong n_features", "crbm0", lambda e: e.partial_fit(XB[:, :4]), [FEATW])
case(C1, "partial_fit X 1-D", "crbm0", lambda e: e.partial_fit(XB[0]), [("2d", "1d")])
case(C1, "fit (warm_start) wrong n_features", "crbm0",
     lambda e: e.set_params(warm_start=True).fit(XB[:, :4]), [FEATW])
case(C1, "transform X with NaN", "crbm0", lambda e: e.transform(_with(XB, np.nan)), [NANW])
case(C1, "transform X with -inf", "crbm0", lambda e: e.transform(_with(XB, -np.inf)),
     [INFW])
case(C1, "transform wrong n_features", "crbm0", lambda e: e.transform(XB[:, :5]), [FEATW])
case(C1, "transform X empty", "crbm0", lambda e: e.transform(XB[:0]),
     [("0 sample", "empty")])
case(C1, "transform X 1-D", "crbm0", lambda e: e.transform(XB[0]), [("2d", "1d")])
case(C1, "transform X numeric strings", "crbm0", lambda e: e.transform(XB.astype(str)),
     [("string", "str"), "numeric"])
case(C1, "score_samples wrong n_features", "crbm0",
     lambda e: e.score_samples(np.ones((2, 7))), [FEATW])
case(C1, "score_samples X with NaN", "crbm0",
     lambda e: e.score_samples(_with(XB, np.nan)), [NANW])
case(C1, "score wrong n_features", "crbm1", lambda e: e.score(XB[:, :3]), [FEATW])
case(C1, "free_energy wrong n_features", "crbm0",
     lambda e: e.free_energy(XB[:, :2]), [FEATW])
case(C1, "free_energy X with inf", "crbm0",
     lambda e: e.free_energy(_with(XB, np.inf)), [INFW])
case(C1, "inverse_transform wrong hidden width", "crbm0",
     lambda e: e.inverse_transform(np.ones((2, 5))), [("hidden", "columns")])
case(C1, "inverse_transform H with NaN", "crbm0",
     lambda e: e.inverse_transform(np.full((2, 3), np.nan)), [NANW])
case(C1, "inverse_transform H 1-D", "crbm0",
     lambda e: e.inverse_transform(np.ones(3)), [("2d", "1d")])
case(C1, "gibbs wrong n_features", "crbm0", lambda e: e.gibbs(XB[:, :4]), [FEATW])
case(C1, "gibbs X with NaN", "crbm0", lambda e: e.gibbs(_with(XB, np.nan)), [NANW])
case(C1, "log_likelihood X with NaN", "crbm0",
     lambda e: e.log_likelihood(_with(XB, np.nan)), [NANW])
case(C1, "transfer wrong n_features", "dis", lambda e: e.transfer(XB[:, :4], 1), [FEATW])
case(C1, "transfer X with NaN", "dis", lambda e: e.transfer(_with(XB, np.nan), 1), [NANW])
case(C1, "LabelErasure fit X with NaN", "erasure",
     lambda e: e.fit(_with(XG, np.nan), Y2), [NANW])
case(C1, "LabelErasure fit X empty", "erasure", lambda e: e.fit(XG[:0], Y2[:0]),
     [("0 sample", "empty")])
case(C1, "LabelErasure fit X 1-D", "erasure", lambda e: e.fit(XG[:, 0], Y2),
     [("2d", "1d")])
case(C1, "LabelErasure transform wrong n_features", "erasure",
     lambda e: e.transform(XG[:, :3]), [FEATW])
case(C1, "LabelErasure transform X with inf", "erasure",
     lambda e: e.transform(_with(XG, np.inf)), [INFW])
case(C1, "LabelErasure transform X numeric strings", "erasure",
     lambda e: e.transform(XG.astype(str)), [("string", "str"), "numeric"])
case(C1, "LabelErasure fit y with NaN", "erasure",
     lambda e: e.fit(XG, np.where(Y2 == 0, np.nan, 1.0)), [NANW])
case(C1, "gaussian_erasure_cost X with NaN", None,
     lambda e: gaussian_erasure_cost(_with(XG, np.nan), Y2, 2), [NANW])
case(C1, "gaussian_erasure_cost X 1-D", None,
     lambda e: gaussian_erasure_cost(XG[:, 0], Y2, 1), [("2-d", "2d")])
case(C1, "gaussian_erasure_cost y with NaN", None,
     lambda e: gaussian_erasure_cost(XG, np.where(Y2 == 0, np.nan, 1.0), 2), [NANW])
case(C1, "label_information X with NaN", None,
     lambda e: label_information(LabelErasure(), _with(XG, np.nan), Y2, cv=2), [NANW])

# --- 2. data outside the visible unit type -------------------------------------------------
C2 = "2"
case(C2, "bernoulli fit value 2", None,
     lambda e: ConstrainedRBM(**_fast(visible="bernoulli")).fit(_with(XB, 2.0)),
     [BERW, "column 2"])
case(C2, "bernoulli refit value -0.5 (fitted)", "crbm0",
     lambda e: e.set_params(visible="bernoulli").fit(_with(XB, -0.5)), [BERW, "column"])
case(C2, "bernoulli transform value 2", "crbm0", lambda e: e.transform(_with(XB, 2.0)),
     [BERW, "column 2"])
case(C2, "bernoulli score_samples value -1", "crbm0",
     lambda e: e.score_samples(_with(XB, -1.0)), [BERW, "column"])
case(C2, "bernoulli free_energy value 1.5", "crbm0",
     lambda e: e.free_energy(_with(XB, 1.5)), [BERW])
case(C2, "bernoulli gibbs value 3", "crbm0", lambda e: e.gibbs(_with(XB, 3.0)), [BERW])
case(C2, "bernoulli partial_fit value 2", "crbm0",
     lambda e: e.partial_fit(_with(XB, 2.0)), [BERW, "column"])
case(C2, "bernoulli log_likelihood value 2", "crbm0",
     lambda e: e.log_likelihood(_with(XB, 2.0)), [BERW])
case(C2, "bernoulli transfer value 2", "dis", lambda e: e.transfer(_with(XB, 2.0), 0),
     [BERW])
case(C2, "bernoulli order-1 fit value 2", "crbm1",
     lambda e: e.set_params(visible="bernoulli").fit(_with(XB, 2.0), Y2), [BERW])
case(C2, "spin fit value 0", None,
     lambda e: ConstrainedRBM(**_fast(visible="spin")).fit(_with(XS, 0.0)),
     ["spin", "column 2"])
case(C2, "spin transform value 0.5", "spin", lambda e: e.transform(_with(XS, 0.5)),
     ["spin", "column 2", "0.5"])
case(C2, "spin score_samples value 2", "spin", lambda e: e.score_samples(_with(XS, 2.0)),
     ["spin"])
case(C2, "spin partial_fit value 0", "spin", lambda e: e.partial_fit(_with(XS, 0.0)),
     ["spin"])
case(C2, "potts fit non-integer 1.5", None,
     lambda e: ConstrainedRBM(**_fast(visible=("potts", 3))).fit(_with(XP, 1.5)),
     ["potts", "column 2", "1.5"])
case(C2, "potts fit category q (=3)", None,
     lambda e: ConstrainedRBM(**_fast(visible=("potts", 3))).fit(_with(XP, 3.0)),
     ["potts", "column 2", "3.0"])
case(C2, "potts fit negative (q inferred)", None,
     lambda e: ConstrainedRBM(**_fast(visible="potts")).fit(_with(XP, -1.0)),
     ["potts", "column 2", "-1"])
case(C2, "potts transform category 5", "potts", lambda e: e.transform(_with(XP, 5.0)),
     ["potts", "column 2", "5.0"])
case(C2, "potts score_samples value 0.5", "potts",
     lambda e: e.score_samples(_with(XP, 0.5)), ["potts", "column 2", "0.5"])
case(C2, "potts partial_fit category 4", "potts",
     lambda e: e.partial_fit(_with(XP, 4.0)), ["potts", "column 2"])
case(C2, "relu fit negative", None,
     lambda e: ConstrainedRBM(**_fast(visible="relu")).fit(_with(np.abs(XG), -1.0)),
     ["relu", "column 2"])
case(C2, "relu transform negative", "relu",
     lambda e: e.transform(_with(np.abs(XG), -2.0)), ["relu", "column 2"])

# --- 3. labels -------------------------------------------------------------------------------
C3 = "3"
case(C3, "y shorter than X (order 1)", "crbm1", lambda e: e.fit(XB, Y2[:-1]),
     [("samples", "rows"), ("labels", "y")])
case(C3, "labels= longer than X (order 1)", "crbm1",
     lambda e: e.fit(XB, labels=np.r_[Y2, 0]), [("samples", "rows")])
case(C3, "y missing (order 1)", "crbm1", lambda e: e.fit(XB), ["y"])
case(C3, "y 3-D (order 1)", "crbm1", lambda e: e.fit(XB, np.zeros((N, 2, 2))),
     [("shape", "dimension")])
case(C3, "y continuous floats (order 1)", "crbm1",
     lambda e: e.fit(XB, np.linspace(0, 1, N)), ["continuous"])
case(C3, "y mixed str/int (order 1)", "crbm1",
     lambda e: e.fit(XB, np.array(["a", 1] * (N // 2), dtype=object)), [("mix", "type")])
case(C3, "single class (order 1)", "crbm1", lambda e: e.fit(XB, np.zeros(N)),
     ["nothing to constrain"])
case(C3, "single class (order 2)", "crbm2", lambda e: e.fit(XG, np.ones(N)),
     ["nothing to constrain"])
case(C3, "single class among non-zero weights", "crbm1",
     lambda e: e.fit(XB, Y2, sample_weight=(Y2 == 0).astype(float)),
     ["nothing to constrain"])
case(C3, "single-valued attribute column (order 1)", "crbm1",
     lambda e: e.fit(XB, np.c_[Y2, np.zeros(N)]), ["nothing to constrain"])
case(C3, "single class, other width (fitted state)", "crbm1",
     lambda e: e.fit(XB[:, :4], np.zeros(N)), ["nothing to constrain"])
case(C3, "DisentangledRBM single class", "dis", lambda e: e.fit(XB, np.zeros(N)),
     ["nothing to constrain"])
case(C3, "DisentangledRBM y shorter than X", "dis", lambda e: e.fit(XB, Y3[:-2]),
     [("samples", "rows")])
case(C3, "DisentangledRBM y missing", "dis", lambda e: e.fit(XB), ["y"])
case(C3, "LabelErasure single class", "erasure", lambda e: e.fit(XG, np.zeros(N)),
     [("one class", "single class")])
case(C3, "LabelErasure single class, other width", "erasure",
     lambda e: e.fit(XG[:, :3], np.zeros(N)), [("one class", "single class")])
case(C3, "LabelErasure y shorter than X", "erasure", lambda e: e.fit(XG, Y2[:-1]),
     [("samples", "inconsistent")])
case(C3, "gaussian_erasure_cost single class", None,
     lambda e: gaussian_erasure_cost(XG, np.zeros(N), 2), [("single class", "one class")])
case(C3, "gaussian_erasure_cost y shorter", None,
     lambda e: gaussian_erasure_cost(XG, Y2[:-1], 2), ["samples"])
case(C3, "label_information single class", None,
     lambda e: label_information(LabelErasure(), XG, np.zeros(N), cv=2),
     [("one class", "single class")])
case(C3, "order 1: directions fill all features", None,
     lambda e: ConstrainedRBM(**_fast(order=1)).fit(XG[:, :2], Y3),
     ["room", "dimension"], "fallback")
case(C3, "LabelErasure n_components > available", None,
     lambda e: LabelErasure(order=1, n_components=6).fit(XG, Y3),
     ["n_components=6", "direction"], "fallback")
case(C3, "n_released x labels > n_components", None,
     lambda e: DisentangledRBM(**_fast(n_components=3, n_released=2, order=1)).fit(XB, YA),
     ["n_released", "n_components"])
case(C3, "n_released > n_components (fitted)", "dis",
     lambda e: e.set_params(n_released=5).fit(XB, Y3), ["n_released", "n_components"])
case(C3, "mixed hidden groups != n_components", "crbm0",
     lambda e: e.set_params(hidden=[("spin", 1), ("gaussian", 5)]).fit(XB),
     ["n_components", "hidden"])
case(C3, "mixed hidden fixed groups > n_components", None,
     lambda e: ConstrainedRBM(**_fast(hidden=[("spin", 4), ("gaussian", None)])).fit(XB),
     ["n_components", "hidden"])
case(C3, "DisentangledRBM partial_fit other label columns", "dis_attr",
     lambda e: e.partial_fit(XB, Y2), ["column"])
case(C3, "transfer y_target unknown class", "dis", lambda e: e.transfer(XB, 7),
     ["y_target", "classes"])
case(C3, "transfer y_target wrong rows", "dis", lambda e: e.transfer(XB, Y3[:5]),
     ["y_target", "rows"])
case(C3, "transfer y_target NaN", "dis", lambda e: e.transfer(XB, np.nan), ["y_target"])
case(C3, "transfer y_target wrong width (attributes)", "dis_attr",
     lambda e: e.transfer(XB, [0, 1, 1]), ["y_target", "column"])
case(C3, "transfer y_target unknown attribute value", "dis_attr",
     lambda e: e.transfer(XB, [0, 2]), ["y_target", "classes"])
case(C3, "sample(y=unknown class)", "dis", lambda e: e.sample(2, y="zebra", n_steps=1),
     ["y", "classes"])
case(C3, "sample(y=...) wrong length", "dis", lambda e: e.sample(3, y=[0, 1], n_steps=1),
     ["y", "rows"])

# --- 4. sample_weight -------------------------------------------------------------------------
C4 = "4"
SW = ("sample_weight", "sample weight")
case(C4, "negative weight", "crbm0", lambda e: e.fit(XB, sample_weight=np.r_[-1, ONES[1:]]),
     [SW, "negative"])
case(C4, "all-zero weights", "crbm0", lambda e: e.fit(XB, sample_weight=0 * ONES),
     [SW, "zero"])
case(C4, "weights too short", "crbm0", lambda e: e.fit(XB, sample_weight=ONES[:-1]), [SW])
case(C4, "weights with NaN", "crbm0",
     lambda e: e.fit(XB, sample_weight=np.r_[np.nan, ONES[1:]]), [SW, NANW])
case(C4, "weights with inf", "crbm0",
     lambda e: e.fit(XB, sample_weight=np.r_[np.inf, ONES[1:]]), [SW, INFW])
case(C4, "weights 2-D", "crbm0", lambda e: e.fit(XB, sample_weight=ONES[:, None]), [SW])
case(C4, "weights strings", "crbm0",
     lambda e: e.fit(XB, sample_weight=np.array(["a"] * N)), [("string", "str", "float")])
case(C4, "partial_fit negative weight", "crbm0",
     lambda e: e.partial_fit(XB, sample_weight=np.r_[-1, ONES[1:]]), [SW, "negative"])
case(C4, "partial_fit all-zero weights", "crbm0",
     lambda e: e.partial_fit(XB, sample_weight=0 * ONES), [SW, "zero"])
case(C4, "order 1 all-zero weights", "crbm1",
     lambda e: e.fit(XB, Y2, sample_weight=0 * ONES), [SW, "zero"])
case(C4, "DisentangledRBM NaN weight", "dis",
     lambda e: e.fit(XB, Y3, sample_weight=np.r_[np.nan, ONES[1:]]), [SW, NANW])
case(C4, "LabelErasure negative weight", "erasure",
     lambda e: e.fit(XG, Y2, sample_weight=np.r_[-1, ONES[1:]]), [SW, "negative"])
case(C4, "LabelErasure all-zero weights", "erasure",
     lambda e: e.fit(XG, Y2, sample_weight=0 * ONES), [SW, "zero"])
case(C4, "LabelErasure weights NaN", "erasure",
     lambda e: e.fit(XG, Y2, sample_weight=np.r_[np.nan, ONES[1:]]), [SW, NANW])
case(C4, "LabelErasure weights too long", "erasure",
     lambda e: e.fit(XG, Y2, sample_weight=np.r_[ONES, 1]), [SW])
case(C4, "gaussian_erasure_cost negative weight", None,
     lambda e: gaussian_erasure_cost(XG, Y2, 2, sample_weight=np.r_[-1, ONES[1:]]),
     [SW, "negative"])
case(C4, "gaussian_erasure_cost weights too short", None,
     lambda e: gaussian_erasure_cost(XG, Y2, 2, sample_weight=ONES[:-1]), [SW])

# --- 5. too large for an exact method ---------------------------------------------------------
C5 = "5"
case(C5, "log_partition exact, 2**24 states", "big",
     lambda e: e.log_partition(method="exact"), [("states",), ("2**22", "4194304")])
case(C5, "log_likelihood exact, 2**24 states", "big",
     lambda e: e.log_likelihood(np.zeros((2, 26)), method="exact"), ["states"])
case(C5, "log_partition auto, 2**24 states", "big",
     lambda e: e.log_partition(n_chains=4, n_betas=20, random_state=0),
     ["states"], "fallback")
case(C5, "q_form='explicit', 412 MiB tensor", None,
     lambda e: ConstrainedRBM(**_fast(n_components=2, order=2, q_form="explicit")).fit(
         (np.arange(8 * 6000).reshape(8, 6000) % 7 < 3).astype(np.float32),
         np.arange(8) % 2 * 3 + np.arange(8) % 3 // 2),
     ["q_form", ("memory", "max_bytes", "bytes")])
case(C5, "DisentangledRBM q_form='explicit', 549 MiB", None,
     lambda e: DisentangledRBM(**_fast(n_components=2, order=2, q_form="explicit")).fit(
         (np.arange(8 * 12000).reshape(8, 12000) % 5 < 2).astype(np.float32),
         np.arange(8) % 2), ["q_form"])

# --- 6. hyperparameters and call arguments -------------------------------------------------
C6 = "6"


def _param(name, value, cls=ConstrainedRBM, fixture="crbm0", y=None):
    X = XG if cls is LabelErasure else XB
    yy = Y2 if (y is None and cls is not ConstrainedRBM) else y

    def call(e):
        est = e if e is not None else cls()
        est.set_params(**{name: value})
        return est.fit(X, yy)

    case(C6, f"{cls.__name__}({name}={value!r})", fixture, call, [name], "param")


_param("learning_rate", 0.0)
_param("learning_rate", -1e-3)
_param("batch_size", 0)
_param("order", 3)
_param("order", -1)
_param("order", 1.5)
_param("n_components", 0)
_param("n_iter", -1)
_param("n_gibbs_steps", 0)
_param("optimizer", "rmsprop")
_param("l2", -1.0)
_param("visible", "binary")
_param("visible", ("potts", 1))
_param("visible", ("ising", 2))
_param("hidden", "nope")
_param("hidden", [("nope", 1), ("gaussian", 2)])
_param("hidden", [("spin", 0), ("gaussian", 3)])
_param("hidden", 3)
_param("q_form", "dense")
_param("n_released", 0, DisentangledRBM, "dis")
_param("released_hidden", "potts", DisentangledRBM, "dis")
_param("hidden", [("spin", 1), ("gaussian", 3)], DisentangledRBM, "dis")
_param("order", 0, DisentangledRBM, "dis")
_param("order", 3, LabelErasure, "erasure")
_param("n_components", 0, LabelErasure, "erasure")
_param("tol", -1.0, LabelErasure, "erasure")
case(C6, "gaussian_erasure_cost(n_components=0)", None,
     lambda e: gaussian_erasure_cost(XG, Y2, 0), ["n_components"])
case(C6, "sample(n_samples=0)", "crbm0", lambda e: e.sample(0), ["n_samples"])
case(C6, "sample(n_steps=-1)", "crbm0", lambda e: e.sample(2, n_steps=-1), ["n_steps"])
case(C6, "sample(method='metropolis')", "crbm0", lambda e: e.sample(2, method="metropolis"),
     ["method"])
case(C6, "sample(y=..., n_steps=-1)", "dis", lambda e: e.sample(2, y=0, n_steps=-1),
     ["n_steps"])
case(C6, "sample(y=..., n_samples=0)", "dis", lambda e: e.sample(0, y=0, n_steps=1),
     ["n_samples"])
case(C6, "gibbs(n_steps=2.5)", "crbm0", lambda e: e.gibbs(XB, n_steps=2.5), ["n_steps"])
case(C6, "transfer(n_steps=-1)", "dis", lambda e: e.transfer(XB, 0, n_steps=-1),
     ["n_steps"])
case(C6, "log_partition(method='magic')", "crbm0",
     lambda e: e.log_partition(method="magic"), ["method"])
case(C6, "log_partition(method='ais', n_chains=0)", "crbm0",
     lambda e: e.log_partition(method="ais", n_chains=0, n_betas=10), ["n_chains"])
case(C6, "log_partition(method='ais', n_betas=1)", "crbm0",
     lambda e: e.log_partition(method="ais", n_chains=4, n_betas=1), ["n_betas"])
case(C6, "log_partition(method='rais') without X", "crbm0",
     lambda e: e.log_partition(method="rais", n_chains=4, n_betas=10), ["X"])
case(C6, "sample(method='pt', n_temperatures=0)", "crbm0",
     lambda e: e.sample(2, method="pt", n_temperatures=0, n_steps=1), ["n_temperatures"])
case(C6, "transform before fit", None, lambda e: ConstrainedRBM().transform(XB),
     [("not fitted", "fit")])


# ----------------------------------------------------------------------------- running
Outcome = namedtuple("Outcome", "status detail")  # status: "error" | "fallback" | "MISBEHAVES"

_ACCEPTED = (ValueError, TypeError, DivergenceError, InvalidParameterError)


def _mentions(text, words):
    low = text.lower()
    missing = []
    for w in words:
        alts = w if isinstance(w, tuple) else (w,)
        if not any(a.lower() in low for a in alts):
            missing.append(alts[0] if len(alts) == 1 else "|".join(alts))
    return missing


def _snapshot(est):
    if est is None:
        return {}
    out = {}
    for k, v in vars(est).items():
        if k.endswith("_") and not k.startswith("__"):
            try:
                out[k] = pickle.dumps(v)
            except Exception as exc:  # pragma: no cover - unpicklable attribute
                out[k] = repr(exc)
    return out


def _finite(result):
    if isinstance(result, tuple):
        return all(_finite(r) for r in result)
    if isinstance(result, np.ndarray) and result.dtype.kind in "fc":
        return bool(np.isfinite(result).all())
    if isinstance(result, (float, np.floating)):
        return bool(np.isfinite(result))
    return True


def run_case(c):
    """Outcome of one case."""
    est = fitted(c.fixture) if c.fixture is not None else None
    before = _snapshot(est)
    exc = result = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = c.call(est)
        except BaseException as e:  # noqa: BLE001 - everything is classified
            if isinstance(e, (KeyboardInterrupt, SystemExit)):
                raise
            exc = e
    after = _snapshot(est)
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        what = f"{type(exc).__name__}" if exc is not None else "success"
        return Outcome("MISBEHAVES", f"fitted state changed ({', '.join(changed)}) after "
                                     f"{what}")
    if exc is not None:
        msg = str(exc)
        name = type(exc).__name__
        if not isinstance(exc, _ACCEPTED):
            return Outcome("MISBEHAVES", f"wrong exception type {name}: {msg[:200]}")
        if c.how == "param" and not isinstance(exc, InvalidParameterError):
            return Outcome("MISBEHAVES", f"{name} instead of InvalidParameterError: "
                                         f"{msg[:200]}")
        if len(msg) < 15:
            return Outcome("MISBEHAVES", f"{name} with a too short message: {msg!r}")
        missing = _mentions(msg, c.words)
        if missing:
            return Outcome("MISBEHAVES", f"{name} message does not mention {missing}: "
                                         f"{msg[:300]}")
        return Outcome("error", f"{name}: {msg[:160]}")
    user = [w for w in caught if issubclass(w.category, UserWarning)]
    if c.how == "fallback" and user:
        texts = " ".join(str(w.message) for w in user)
        missing = _mentions(texts, c.words)
        if missing:
            return Outcome("MISBEHAVES", f"warning does not mention {missing}: {texts[:300]}")
        if not _finite(result):
            return Outcome("MISBEHAVES", "warned fallback returned non-finite values")
        return Outcome("fallback", f"warned: {texts[:160]}")
    extra = f" (warnings: {[str(w.message)[:80] for w in caught]})" if caught else ""
    kind = "silent success" if _finite(result) else "silent success with NaN/inf output"
    return Outcome("MISBEHAVES", kind + extra)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    verbose = "-v" in argv
    t0 = time.perf_counter()
    stats = {k: [0, 0, 0] for k in CATEGORIES}
    bad = []
    for c in CASES:
        out = run_case(c)
        s = stats[c.category]
        s[0] += 1
        if out.status == "MISBEHAVES":
            s[2] += 1
            bad.append((c, out))
        else:
            s[1] += 1
        if verbose:
            print(f"[{out.status:10s}] {c.category} {c.name}: {out.detail}")
    width = max(len(v) for v in CATEGORIES.values()) + 4
    handled = "handled (clear error or warned fallback)"
    print(f"{'category':<{width}s} | {'cases tried':>11s} | {handled:>41s} | "
          f"{'still misbehave':>15s}")
    print("-" * (width + 77))
    for k, name in CATEGORIES.items():
        tried, ok, nok = stats[k]
        print(f"{k + '. ' + name:<{width}s} | {tried:11d} | {ok:41d} | {nok:15d}")
    tot = [sum(s[i] for s in stats.values()) for i in range(3)]
    print("-" * (width + 77))
    print(f"{'total':<{width}s} | {tot[0]:11d} | {tot[1]:41d} | {tot[2]:15d}")
    print(f"({time.perf_counter() - t0:.1f} s)")
    if bad:
        print("\nMisbehaving cases:")
        for c, out in bad:
            print(f"  [{c.category}] {c.name}: {out.detail}")
    return 1 if bad else 0


if __name__ == "__main__":
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    sys.exit(main())
