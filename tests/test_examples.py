"""Fast checks of the core functions of examples/plot_faces.py and plot_gaussian_cost.py.

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
    rbm, judges, X, A = ns["fit_faces"](1500, n_components=64, n_iter=10)
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
