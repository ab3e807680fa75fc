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


@pytest.mark.parametrize("kind", ["unconstrained", "released"])
def test_tempered_ladder_samples_every_replica_exactly(kind):
    # The Ising protocol's persistent chains are parallel-tempering ladders: with the
    # parameters held fixed, the replica at beta must sample
    # p_beta(v) ~ exp(-U_v(v) + Gamma_h(beta v W)), the distribution written down
    # independently here and enumerated over the 2^4 spin states.
    from skrbm.datasets import make_ising

    X, y = make_ising(2, 2.5, 200, random_state=0)
    est = demo.fit_ising_model(kind, X, y, schedule=[(3e-3, 2), (1e-3, 1)], random_state=0)
    trainer, rbm = est.trainer_, est.rbm_
    rbm.W *= 2.0  # couplings strong enough for the replicas to differ
    trainer._rng = np.random.default_rng(1)
    betas = np.asarray(trainer.betas)
    states = np.array(np.meshgrid(*[[-1.0, 1.0]] * 4, indexing="ij")).reshape(4, -1).T
    counts = np.zeros((len(betas), len(states)))
    code = ((states[None] + 1) / 2 @ (2 ** np.arange(4)))[0]
    order = np.argsort(code)
    vd, wd = X[:10], np.full(10, 0.1)
    for it in range(600):
        trainer.gradient(rbm, vd, wd)
        trainer.n_updates += 1  # alternate even and odd swap pairs
        if it >= 50:
            idx = (((trainer.ladder + 1) / 2) @ (2 ** np.arange(4))).astype(int)
            for k in range(len(betas)):
                counts[k] += np.bincount(idx[k].ravel(), minlength=16)
    I = states @ rbm.W
    for k, b in enumerate(betas):
        logp = -rbm.visible.energy(states) + rbm.hidden.cgf(b * I)
        p = np.exp(logp - logp.max())
        p = (p / p.sum())[order]
        emp = counts[k] / counts[k].sum()
        # 550 sweeps x 128 chains per replica: total variation within 0.02 (a ladder
        # that tempers the fields too, or swaps with the wrong sign, is off by > 0.05)
        assert 0.5 * np.abs(emp - p).sum() < 0.02, (kind, b)


def test_ising_protocol_estimators_pickle_and_keep_training():
    # fit_ising_model returns estimators of classes built by the protocol: they must
    # survive pickle (joblib.dump) and continue training, like the public estimators
    import pickle

    from skrbm.datasets import make_ising

    X, y = make_ising(4, 2.5, 300, random_state=0)
    for kind in ("unconstrained", "released"):
        est = demo.fit_ising_model(kind, X, y, schedule=[(3e-3, 1), (1e-3, 1)],
                                   random_state=0)
        again = pickle.loads(pickle.dumps(est))
        assert type(again) is type(est)
        assert repr(again).startswith(("ConstrainedRBM(", "DisentangledRBM("))
        np.testing.assert_array_equal(again.components_, est.components_)
        np.testing.assert_array_equal(again.trainer_.ladder, est.trainer_.ladder)
        before = again.components_.copy()
        again.set_params(n_iter=1).fit(X, y)
        assert np.isfinite(again.components_).all()
        assert not np.array_equal(again.components_, before)
