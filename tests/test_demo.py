"""``python -m skrbm.demo``: the digits study (README's first command) and the Ising study
produce the numbers they print, and those numbers show what the demo claims."""

import numpy as np
import pytest

from skrbm import demo


def test_digits_demo_shows_erasure_and_transfer(tmp_path, capsys):
    report, acc = demo.run_digits(str(tmp_path), plot=False)  # the defaults of the demo
    out = capsys.readouterr().out
    assert "Label information" in out and "Attribute transfer" in out
    info = {name: inf for name, inf, _, _ in report}
    chance = info["RBM, no constraint"].chance
    assert info["RBM, no constraint"].linear_accuracy["all"] >= 0.95
    assert info["ConstrainedRBM order 2"].linear_accuracy["constrained"] - chance <= 0.05
    assert info["DisentangledRBM order 2"].linear_accuracy["released"] >= 0.95
    residuals = {name: res for name, _, res, _ in report}
    assert residuals["ConstrainedRBM order 1"]["first_order"] < 1e-10
    assert residuals["ConstrainedRBM order 2"]["second_order"] < 1e-8
    assert acc >= 0.8


def test_ising_demo_runs_and_order1_loses_the_magnetisation(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    rows = demo.run_ising(str(tmp_path), L=4, temperatures=(1.8,), n_train=1000,
                          schedule=[(3e-4, 4), (1e-4, 2)])
    assert "exact" in capsys.readouterr().out
    (row,) = rows
    assert row["data"]["abs_m"] > 0.9
    assert row["order 1"]["abs_m"] < row["data"]["abs_m"] / 2
    assert np.isfinite([row[k]["u"] for k in ("unconstrained", "order 1", "released")]).all()
    assert (tmp_path / "ising_observables.png").exists()
    assert (tmp_path / "ising_magnetisation.png").exists()
