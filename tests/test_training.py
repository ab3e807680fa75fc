"""The training internals against independent computations: the canonical weighted rows,
the fused PCD gradient (with and without centering) and the weight penalties."""

import numpy as np
import pytest

from skrbm._layers import make_layer
from skrbm._rbm import RBM
from skrbm._training import PCDTrainer, canonical_rows


def _reference_canonical(A, w, e):
    key = A if e is None else np.hstack([A, e])
    out = {}
    for r, ww in zip(key[w > 0] + 0.0, w[w > 0]):
        out[tuple(r)] = out.get(tuple(r), 0.0) + ww
    return out


@pytest.mark.parametrize("with_extra", [False, True])
def test_canonical_rows_collapse_duplicates_and_ignore_order(with_extra):
    rng = np.random.default_rng(0)
    for trial in range(100):
        n, p = rng.integers(1, 40), rng.integers(1, 5)
        A = rng.integers(-1, 2, (n, p)).astype(float)
        A[A == 0] = rng.choice([0.0, -0.0], size=int((A == 0).sum()))  # -0.0 == 0.0
        w = rng.random(n) * (rng.random(n) < 0.8)  # some zero weights: rows dropped
        e = rng.integers(0, 2, (n, 1)) if with_extra else None
        Xu, wu, eu = canonical_rows(A, w, e)
        got_rows = Xu if e is None else np.hstack([Xu, eu])
        got = {tuple(r): ww for r, ww in zip(got_rows, wu)}
        ref = _reference_canonical(A, w, e)
        assert len(got) == len(got_rows)  # no row twice
        assert set(got) == set(ref)
        for k in ref:
            assert got[k] == pytest.approx(ref[k], abs=1e-12)
        perm = rng.permutation(n)
        Xp, wp, ep = canonical_rows(A[perm], w[perm], None if e is None else e[perm])
        np.testing.assert_array_equal(Xp, Xu)  # the same order for any input order
        np.testing.assert_allclose(wp, wu, rtol=1e-12)
        if e is not None:
            np.testing.assert_array_equal(ep, eu)


def test_canonical_rows_keeps_dtype_and_handles_large_images():
    rng = np.random.default_rng(1)
    X = (rng.random((3000, 784)) < 0.13).astype(np.float32)
    X[1000:1500] = X[:500]
    Xu, wu, _ = canonical_rows(X)
    assert Xu.dtype == np.float32 and Xu.shape == (2500, 784)
    assert wu.sum() == 3000 and np.sort(wu)[-500:].min() == 2.0


def _model(vname, hname, rng, N=5, M=3):
    vis = make_layer(vname, N, where="visible")
    hid = make_layer(hname, M)
    for lay in (vis, hid):
        for k, v in lay.params.items():
            v[:] = rng.uniform(0.5, 1.5, v.shape) if "gamma" in k else rng.normal(size=v.shape)
    return RBM(vis, hid, rng.normal(size=(vis.size, hid.size)) * 0.3)


def _samples(rbm, rng, n):
    return rbm.sample_independent_visible(n, rng)


@pytest.mark.parametrize("vname,hname", [("bernoulli", "bernoulli"), ("spin", "gaussian"),
                                         ("gaussian", "relu"), ("bernoulli", "drelu")])
def test_pcd_gradient_matches_separate_statistics(vname, hname):
    """The fused gradient = stats(data) - stats(model), term by term; with offsets it is the
    centred weight gradient <(v-c)(h-d)>_data - <(v-c)(h-d)>_model computed directly."""
    rng = np.random.default_rng(2)
    rbm = _model(vname, hname, rng)
    vd, vm = _samples(rbm, rng, 7), _samples(rbm, rng, 4)
    wd = rng.random(7)
    wd /= wd.sum()
    grad, hd, hm = rbm.pcd_gradient(vd, wd, vm)
    sd, sm = rbm.stats_from_visible(vd, wd), rbm.stats_from_visible(vm)
    assert set(grad) == set(sd)
    for k in grad:
        np.testing.assert_allclose(grad[k], sd[k] - sm[k], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(hd, rbm.hidden.mean(vd @ rbm.W), rtol=1e-12)
    np.testing.assert_allclose(hm, rbm.hidden.mean(vm @ rbm.W), rtol=1e-12)

    c, d = rng.normal(size=rbm.visible.size), rng.normal(size=rbm.hidden.size)
    seen = []

    def offsets(dh):
        seen.append(dh.copy())
        return c, d

    grad_c, _, _ = rbm.pcd_gradient(vd, wd, vm, offsets)
    np.testing.assert_allclose(seen[0], wd @ hd, rtol=1e-12)  # weighted data mean of <h>
    direct = ((vd - c) * wd[:, None]).T @ (hd - d) - (vm - c).T @ (hm - d) / len(vm)
    np.testing.assert_allclose(grad_c["W"], direct, rtol=1e-10, atol=1e-12)
    for k in grad:
        if k != "W":
            np.testing.assert_allclose(grad_c[k], grad[k], rtol=1e-12, atol=1e-12)


def _penalty(W, l1, l2, l1l2):
    """Penalty subtracted from the log-likelihood (method.md section 2)."""
    N = W.shape[0]
    return (l1 * np.abs(W).sum() + l2 / 2 * (W ** 2).sum()
            + l1l2 / (2 * N) * (np.abs(W).sum(axis=0) ** 2).sum())


@pytest.mark.parametrize("l1,l2,l1l2", [(0.3, 0, 0), (0, 0.7, 0), (0, 0, 0.5),
                                        (0.1, 0.2, 0.4)])
def test_penalty_gradients_match_finite_differences(l1, l2, l1l2):
    rng = np.random.default_rng(3)
    rbm = _model("bernoulli", "bernoulli", rng, N=6, M=4)
    vd = _samples(rbm, rng, 5)
    wd = np.full(5, 0.2)

    def grad_of(pen):
        trainer = PCDTrainer(learning_rate=0.1, batch_size=5, n_gibbs_steps=1,
                             optimizer="sgd", l1=pen[0], l2=pen[1], l1l2=pen[2],
                             center=False)
        trainer.chains = _samples(rbm, np.random.default_rng(9), 5)
        trainer._rng = np.random.default_rng(10)  # same Gibbs draws for both trainers
        return trainer.gradient(rbm, vd, wd)["W"]

    diff = grad_of((l1, l2, l1l2)) - grad_of((0, 0, 0))
    W, eps = rbm.W, 1e-6
    num = np.empty_like(W)
    for idx in np.ndindex(W.shape):
        Wp, Wm = W.copy(), W.copy()
        Wp[idx] += eps
        Wm[idx] -= eps
        num[idx] = -(_penalty(Wp, l1, l2, l1l2) - _penalty(Wm, l1, l2, l1l2)) / (2 * eps)
    np.testing.assert_allclose(diff, num, rtol=1e-6, atol=1e-9)


def _tiny_rbm(hname, seed):
    """A random 5-site bernoulli RBM with 3 ``hname`` hidden units, its generator and the
    2^5 visible states (for exact enumeration)."""
    rng = np.random.default_rng(seed)
    vis = make_layer("bernoulli", 5)
    vis.params["theta"][:] = rng.normal(0, 0.5, 5)
    hid = make_layer(hname, 3)
    rbm = RBM(vis, hid, rng.normal(0, 1.5, (5, 3)))
    states = ((np.arange(32)[:, None] >> np.arange(5)) & 1).astype(float)
    return rng, rbm, states


@pytest.mark.parametrize("hname", ["bernoulli", "gaussian"])
def test_persistent_chains_sample_the_model(hname):
    """With the parameters held fixed (learning rate 0), the persistent chains of the PCD
    trainer, which keep their hidden state between updates, visit the visible states
    with the exact model probabilities (enumeration of all 2^5 states)."""
    rng, rbm, states = _tiny_rbm(hname, seed=0)
    p = np.exp(-rbm.free_energy(states) - rbm.log_partition_exact())
    tr = PCDTrainer(learning_rate=0.0, batch_size=100, n_gibbs_steps=1, optimizer="sgd",
                    l1=0, l2=0, l1l2=0, center=False)
    tr.initialise_chains(rbm, rng)
    tr._rng = rng
    vd, wd = states[:4], np.full(4, 0.25)
    counts = np.zeros(32)
    for it in range(1200):
        tr.step(rbm, vd, wd)
        assert tr.chain_hidden is not None  # the hidden state is kept
        if it >= 200:
            codes = tr.chains.astype(int) @ (1 << np.arange(5))
            counts += np.bincount(codes, minlength=32)
    freq = counts / counts.sum()
    # 100,000 correlated draws: a standard error below 0.002 per state
    assert np.abs(freq - p).max() < 0.01, np.c_[freq, p]


@pytest.mark.parametrize("hname", ["bernoulli", "gaussian"])
def test_tempered_ladders_sample_every_replica_exactly(hname):
    """n_temperatures >= 2: with the parameters held fixed, the replica at inverse
    temperature beta visits the visible states with the probabilities of
    p_beta(v) ~ exp(-U_v(v) + Gamma_h(beta v W)), enumerated here over all 2^5 states
    (only the couplings are tempered), and the chains are its beta = 1 replicas."""
    rng, rbm, states = _tiny_rbm(hname, seed=1)
    betas = np.linspace(0.2, 1.0, 4)
    tr = PCDTrainer(learning_rate=0.0, batch_size=100, n_gibbs_steps=1, optimizer="sgd",
                    l1=0, l2=0, l1l2=0, center=False, betas=betas)
    tr.initialise_chains(rbm, rng)
    assert tr.ladder.shape == (4, 100, 5)
    tr._rng = rng
    vd, wd = states[:4], np.full(4, 0.25)
    counts = np.zeros((4, 32))
    for it in range(1000):
        tr.step(rbm, vd, wd)
        np.testing.assert_array_equal(tr.chains, tr.ladder[-1])
        if it >= 100:
            codes = tr.ladder.astype(int) @ (1 << np.arange(5))
            for k in range(4):
                counts[k] += np.bincount(codes[k], minlength=32)
    for k, b in enumerate(betas):
        logp = -rbm.visible.energy(states) + rbm.hidden.cgf(b * (states @ rbm.W))
        p = np.exp(logp - logp.max())
        p /= p.sum()
        freq = counts[k] / counts[k].sum()
        # 90,000 correlated draws per replica: standard errors below 0.002 per state
        assert np.abs(freq - p).max() < 0.01, (b, np.c_[freq, p])


def test_tempered_training_through_the_estimator():
    """The estimator's n_temperatures/min_beta reach the trainer, the ladder is kept by
    warm starts and pickles, and bad values are refused naming the parameter."""
    import pickle

    from sklearn.utils._param_validation import InvalidParameterError

    from skrbm import ConstrainedRBM

    rng = np.random.default_rng(0)
    X = (rng.random((200, 6)) < 0.3).astype(float)
    est = ConstrainedRBM(3, n_temperatures=4, min_beta=0.25, n_iter=2, batch_size=20,
                         random_state=0).fit(X)
    np.testing.assert_allclose(est.trainer_.betas, [0.25, 0.5, 0.75, 1.0])
    assert est.trainer_.ladder.shape == (4, 20, 6)
    np.testing.assert_array_equal(est.chains_, est.trainer_.ladder[-1])
    # k partial_fit calls equal one fit of k epochs (same random stream, ladder included)
    part = ConstrainedRBM(3, n_temperatures=4, min_beta=0.25, n_iter=2, batch_size=20,
                          random_state=0)
    for _ in range(2):
        part.partial_fit(X)
    np.testing.assert_allclose(part.components_, est.components_)
    np.testing.assert_array_equal(part.trainer_.ladder, est.trainer_.ladder)
    again = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(again.trainer_.ladder, est.trainer_.ladder)
    assert ConstrainedRBM(3, n_iter=1, random_state=0).fit(X).trainer_.ladder is None
    for bad in (dict(n_temperatures=0), dict(min_beta=0.0), dict(min_beta=1.0),
                dict(min_beta=1.5)):
        name = next(iter(bad))
        with pytest.raises(InvalidParameterError, match=name):
            ConstrainedRBM(3, n_iter=1, **bad).fit(X)


def test_tempering_changes_between_warm_started_calls_and_swap_rates():
    """n_temperatures and min_beta may change between warm-started calls (a ladder of a
    new size starts at the current chains); history_ records one swap acceptance rate
    per pair of neighbouring replicas; pickles from before the parameters existed load
    with the plain-PCD defaults."""
    import pickle

    from skrbm import ConstrainedRBM

    rng = np.random.default_rng(0)
    X = (rng.random((120, 6)) < 0.3).astype(float)
    est = ConstrainedRBM(3, n_iter=1, batch_size=20, warm_start=True, random_state=0).fit(X)
    assert est.trainer_.ladder is None and "swap_acceptance" not in est.history_[-1]
    chains = est.trainer_.chains.copy()
    est.set_params(n_temperatures=3, min_beta=0.4, n_iter=0).fit(X)
    np.testing.assert_allclose(est.trainer_.betas, [0.4, 0.7, 1.0])
    for k in range(3):  # every replica starts at the chains of the plain fit
        np.testing.assert_array_equal(est.trainer_.ladder[k], chains)
    est.set_params(min_beta=0.1, n_iter=2).fit(X)
    np.testing.assert_allclose(est.trainer_.betas, [0.1, 0.55, 1.0])
    rates = est.history_[-1]["swap_acceptance"]
    assert len(rates) == 2 and all(0.0 <= r <= 1.0 for r in rates)
    est.set_params(n_temperatures=1, n_iter=1).fit(X)
    assert est.trainer_.ladder is None and est.trainer_.betas is None
    assert "swap_acceptance" not in est.history_[-1]
    # a pickle of an estimator from before n_temperatures/min_beta existed
    state = est.__getstate__()
    del state["n_temperatures"], state["min_beta"]
    old = ConstrainedRBM.__new__(ConstrainedRBM)
    old.__setstate__(pickle.loads(pickle.dumps(state)))
    assert old.get_params()["n_temperatures"] == 1 and old.get_params()["min_beta"] == 0.5
    old.set_params(n_iter=1).fit(X)
