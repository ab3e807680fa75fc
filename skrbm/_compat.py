"""The private scikit-learn names skrbm relies on, imported in one place.

If a future scikit-learn moves one of them, this is the only file to fix.
"""

from sklearn.base import _fit_context
from sklearn.utils._param_validation import (
    Hidden,
    Interval,
    InvalidParameterError,
    Options,
    StrOptions,
)
from sklearn.utils.validation import _check_sample_weight, check_is_fitted, validate_data

__all__ = [
    "_fit_context",
    "Hidden",
    "Interval",
    "InvalidParameterError",
    "Options",
    "StrOptions",
    "_check_sample_weight",
    "check_is_fitted",
    "validate_data",
]
