"""Input checks and failure atomicity shared by the skrbm estimators."""

import contextlib
import numbers

import numpy as np


def check_no_strings(X, what="X", who="This estimator"):
    """Refuse arrays (or nested lists) of strings before they are silently parsed as floats.

    numpy turns an array of numeric strings such as ``"0.5"`` into floats without a word;
    data given as text is almost always a mistake (an unparsed file, a label column).
    """
    if isinstance(X, (list, tuple)):
        try:
            X = np.asarray(X)
        except ValueError:  # ragged: validate_data reports it
            return
    dtype = getattr(X, "dtype", None)
    if isinstance(X, np.ndarray) and dtype.kind in "USO" and (
            dtype.kind != "O" or any(isinstance(v, (str, bytes)) for v in X.ravel()[:1000])):
        raise ValueError(
            f"{what} contains strings (dtype {dtype}); {who} accepts only numeric data of "
            "shape (n_samples, n_features). Convert numeric text with X.astype(float), or "
            "encode categories as integers 0..q-1 first (e.g. with "
            "sklearn.preprocessing.OrdinalEncoder)."
        )


def check_count(value, name, minimum):
    """``value`` as an int >= ``minimum``; a ValueError naming ``name`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative" if minimum == 0 else \
            f">= {minimum}"
        raise ValueError(f"{name} must be a {kind} integer, got {value!r}.")
    return int(value)


@contextlib.contextmanager
def unchanged_on_failure(est):
    """Restore every attribute of ``est`` if the block raises.

    A failed ``fit``/``partial_fit`` (bad input, infeasible constraints, divergence, an
    interrupted run) must leave a fitted estimator exactly as it was, including
    ``n_features_in_`` / ``feature_names_in_`` that input validation resets early.  Fitting
    replaces attributes rather than mutating them, so a shallow copy of ``__dict__``
    suffices.
    """
    saved = dict(vars(est))
    try:
        yield
    except BaseException:
        vars(est).clear()
        vars(est).update(saved)
        raise
