"""Every bad input of ``benchmarks/bad_inputs.py`` is refused clearly (or falls back with a
warning where that is allowed) and leaves a fitted estimator exactly as it was.

The cases live in one place, the benchmark script, and are imported from there.
"""

import importlib.util
from pathlib import Path

import pytest

_PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "bad_inputs.py"
_spec = importlib.util.spec_from_file_location("skrbm_bad_inputs", _PATH)
bad_inputs = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bad_inputs)


@pytest.mark.parametrize("case", bad_inputs.CASES,
                         ids=[f"{c.category}-{c.name}" for c in bad_inputs.CASES])
def test_bad_input_is_handled(case):
    outcome = bad_inputs.run_case(case)
    assert outcome.status != "MISBEHAVES", outcome.detail


def test_cases_cover_every_category():
    seen = {c.category for c in bad_inputs.CASES}
    assert seen == set(bad_inputs.CATEGORIES)
    names = [c.name for c in bad_inputs.CASES]
    assert len(names) == len(set(names))


def test_audit_detects_misbehaviour():
    """The classifier itself: a silent success, a changed state and a vague error fail."""
    Case = bad_inputs.Case

    def mutate(e):
        e.n_iter_ = -1
        raise ValueError("X is bad in a way that is explained at length")

    def vague(e):
        raise ValueError("bad")

    def wrong_type(e):
        raise IndexError("index 7 is out of bounds for axis 0 with size 6")

    for call in (lambda e: e.transform(bad_inputs.XB), mutate, vague, wrong_type):
        c = Case("1", "probe", "crbm0", call, ["X"], "error")
        assert bad_inputs.run_case(c).status == "MISBEHAVES"
