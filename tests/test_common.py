"""scikit-learn conformance of every estimator, with an EMPTY expected-failures list."""

import numpy as np
import pytest
from sklearn.utils.estimator_checks import (
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_set_output_transform_pandas,
    parametrize_with_checks,
)

from skrbm import ConstrainedRBM, DisentangledRBM


def _instances():
    fast = dict(n_iter=2, batch_size=16, random_state=0)
    return [
        ConstrainedRBM(**{**fast, "n_iter": 10, "batch_size": 64}),  # the defaults
        # The common checks feed arbitrary real data, which spin/bernoulli/potts visible units
        # rightly refuse; "auto" visible with spin hidden units covers the spin code path here
        # and test_discrete_visible_conformance covers explicit discrete visible types.
        ConstrainedRBM(4, visible="auto", hidden="spin", **fast),
        ConstrainedRBM(4, visible="gaussian", hidden="gaussian", **fast),
        ConstrainedRBM(3, visible="gaussian", hidden="relu", **fast),
        ConstrainedRBM(3, hidden=[("spin", 1), ("gaussian", None)], **fast),
        ConstrainedRBM(3, hidden="drelu", **fast),
        ConstrainedRBM(4, order=1, **fast),
        ConstrainedRBM(4, order=2, **fast),
        ConstrainedRBM(4, order=2, second_order="penalty", q_form="implicit", **fast),
        DisentangledRBM(4, order=1, **fast),
        DisentangledRBM(5, order=2, released_hidden="spin", hidden="gaussian", **fast),
        ConstrainedRBM(5, center=False, n_gibbs_steps=2, optimizer="sgd", l1=1e-3, l2=1e-3, l1l2=1e-3, **fast),
        ConstrainedRBM(4, n_temperatures=3, min_beta=0.3, **fast),
        DisentangledRBM(4, order=1, hidden="gaussian", n_temperatures=2, **fast),
    ]


INSTANCES = _instances()


@parametrize_with_checks(INSTANCES, expected_failed_checks=lambda est: {})
def test_sklearn_compatible_estimator(estimator, check):
    check(estimator)


EXTRA_CHECKS = [
    check_param_validation,
    check_set_output_transform,
    check_transformer_get_feature_names_out,
    check_transformer_get_feature_names_out_pandas,
    check_set_output_transform_pandas,
]


@pytest.mark.parametrize("estimator", INSTANCES, ids=lambda e: repr(e)[:60])
@pytest.mark.parametrize("check", EXTRA_CHECKS, ids=lambda c: c.__name__)
def test_extra_sklearn_checks(estimator, check):
    pytest.importorskip("pandas")
    check(type(estimator).__name__, estimator)


def test_float32_end_to_end():
    rng = np.random.default_rng(0)
    X = (rng.random((50, 6)) < 0.4).astype(np.float32)
    rbm = ConstrainedRBM(3, n_iter=2, random_state=0).fit(X)
    assert rbm.components_.dtype == np.float32
    assert rbm.transform(X).dtype == np.float32
    assert rbm.inverse_transform(rbm.transform(X)).dtype == np.float32
    assert rbm.sample(4, n_steps=3, random_state=0).dtype == np.float32
    assert rbm.trainer_.chains.dtype == np.float32
    for p in rbm.hidden_layer_.params.values():
        assert p.dtype == np.float32
