"""skrbm.plotting: the figures show the estimator's numbers (Agg backend, no display)."""

import doctest

import numpy as np
import pytest

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from skrbm import ConstrainedRBM, DisentangledRBM, LabelErasure  # noqa: E402
from skrbm import plotting  # noqa: E402
from skrbm.datasets import ising_exact, ising_observables, make_ising  # noqa: E402
from skrbm.metrics import LabelInformation  # noqa: E402
from skrbm.plotting import (  # noqa: E402
    plot_ising_observables,
    plot_label_information,
    plot_released_histograms,
    plot_weights,
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _images(fig):
    return [im for ax in fig.axes for im in ax.get_images()]


@pytest.fixture(scope="module")
def labelled():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 60)
    p = 0.2 + 0.6 * y[:, None] * (np.arange(16) < 8)
    X = (rng.random((120, 16)) < p).astype(float)
    return X, y


@pytest.fixture(scope="module")
def disentangled(labelled):
    X, y = labelled
    return DisentangledRBM(5, order=1, n_iter=3, learning_rate=0.01, random_state=0).fit(X, y)


def test_doctests():
    result = doctest.testmod(plotting, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


def test_plot_weights_images_show_the_weights(disentangled):
    fig = plot_weights(disentangled, image_shape=(4, 4))
    ims = _images(fig)
    assert len(ims) == 5
    for k, im in enumerate(ims):
        np.testing.assert_array_equal(np.asarray(im.get_array()),
                                      disentangled.components_[k].reshape(4, 4))
    # one colour bar, symmetric scale shared by all panels
    assert len(fig.axes) == 6
    vmax = np.abs(disentangled.components_).max()
    assert all(im.get_clim() == pytest.approx((-vmax, vmax)) for im in ims)
    titles = [ax.get_title() for ax in fig.axes[:5]]
    assert titles[0] == "unit 0 (released)"
    assert titles[1:] == ["unit 1", "unit 2", "unit 3", "unit 4"]


def test_plot_weights_square_default_and_units(disentangled):
    fig = plot_weights(disentangled, units=[3, 1])  # 16 features -> 4 x 4 by default
    ims = _images(fig)
    assert [im.get_array().shape for im in ims] == [(4, 4), (4, 4)]
    np.testing.assert_array_equal(np.asarray(ims[0].get_array()).ravel(),
                                  disentangled.components_[3])
    assert fig.axes[0].get_title() == "unit 3"


def test_plot_weights_potts_heatmap_states_by_sites():
    rng = np.random.default_rng(1)
    X = rng.integers(0, 4, size=(80, 7))
    rbm = ConstrainedRBM(3, visible="potts", n_iter=2, learning_rate=0.01,
                         random_state=0).fit(X)
    fig = plot_weights(rbm)
    ims = _images(fig)
    assert len(ims) == 3
    for k, im in enumerate(ims):
        A = np.asarray(im.get_array())
        assert A.shape == (4, 7)  # q states x sites
        np.testing.assert_array_equal(A, rbm.components_[k].reshape(7, 4).T)
        # zero-sum gauge of the trained weights: every site's column sums to 0
        np.testing.assert_allclose(A.sum(axis=0), 0, atol=1e-10)
    assert fig.axes[0].get_xlabel() == "site"
    assert fig.axes[0].get_ylabel() == "state"
    with pytest.raises(ValueError, match="image_shape does not apply"):
        plot_weights(rbm, image_shape=(4, 7))


def test_plot_weights_bars_for_non_image_data():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 6))
    est = LabelErasure(order=1).fit(X, rng.integers(0, 2, 60))
    fig = plot_weights(est)
    assert len(fig.axes) == est.n_components_
    for k, ax in enumerate(fig.axes):
        heights = [p.get_height() for p in ax.patches]
        np.testing.assert_allclose(heights, est.components_[k])
    assert fig.axes[0].get_ylabel() == "weight"


def test_plot_weights_errors(disentangled):
    with pytest.raises(ValueError, match="image_shape=.*has 15 pixels"):
        plot_weights(disentangled, image_shape=(3, 5))
    with pytest.raises(ValueError, match=r"outside 0\.\.4"):
        plot_weights(disentangled, units=[7])
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="fit it first"):
        plot_weights(ConstrainedRBM(3))


def test_plot_weights_draws_into_given_figure(disentangled):
    fig = plt.figure()
    fig.add_subplot(1, 1, 1).plot([0, 1])
    out = plot_weights(disentangled, units=[0], fig=fig)
    assert out is fig
    assert len(_images(fig)) == 1  # the old axes were cleared


def test_plot_released_histograms_counts_match(disentangled, labelled):
    X, y = labelled
    fig = plot_released_histograms(disentangled, X, y, bins=12)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    assert ax.get_title() == "unit 0 (released)"
    h = disentangled.transform(X)[:, 0]
    edges = np.histogram_bin_edges(h, bins=12)
    # one histogram per class; the bar heights are the class counts per bin
    assert len(ax.patches) == 2 * 12
    heights = np.array([p.get_height() for p in ax.patches]).reshape(2, 12)
    for c in (0, 1):
        np.testing.assert_array_equal(heights[c], np.histogram(h[y == c], bins=edges)[0])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["y = 0", "y = 1"]
    assert ax.get_xlabel() == "E[h | v]"


def test_plot_released_histograms_constrained_units(labelled):
    X, y = labelled
    rbm = ConstrainedRBM(4, order=1, n_iter=2, learning_rate=0.01, random_state=0).fit(X, y)
    with pytest.raises(ValueError, match="pass units="):
        plot_released_histograms(rbm, X, y)
    fig = plot_released_histograms(rbm, X, y, units=[0, 2, 3])
    assert [ax.get_title() for ax in fig.axes] == ["unit 0", "unit 2", "unit 3"]


def test_plot_released_histograms_two_attributes():
    rng = np.random.default_rng(3)
    Y = rng.integers(0, 2, size=(150, 2))
    p = 0.15 + 0.6 * (Y[:, [0]] * (np.arange(12) < 4) + Y[:, [1]] * (np.arange(12) >= 8))
    X = (rng.random((150, 12)) < p).astype(float)
    rbm = DisentangledRBM(5, order=1, n_iter=2, learning_rate=0.01, random_state=0).fit(X, Y)
    fig = plot_released_histograms(rbm, X, Y)
    assert [ax.get_title() for ax in fig.axes] == ["unit 0 (released), attribute 0",
                                                  "unit 1 (released), attribute 1"]
    with pytest.raises(ValueError, match="not released"):
        plot_released_histograms(rbm, X, Y, units=[3])


def _info():
    corr = np.array([0.9, 0.05, 0.1, 0.02])
    return LabelInformation(
        unit_correlation=corr,
        groups={"constrained": np.array([1, 2, 3]), "released": np.array([0]),
                "all": np.arange(4)},
        linear_accuracy={"constrained": 0.52, "released": 0.97, "all": 0.98},
        quadratic_accuracy={"constrained": 0.6, "released": 0.96, "all": 0.99},
        chance=0.5,
    )


def test_plot_label_information_bars_and_colours():
    info = _info()
    fig = plot_label_information(info)
    ax1, ax2 = fig.axes
    # left: one bar per unit at its index, height = |corr|; released bar coloured apart
    bars = {int(round(p.get_x() + p.get_width() / 2)): p for p in ax1.patches}
    assert sorted(bars) == [0, 1, 2, 3]
    np.testing.assert_allclose([bars[k].get_height() for k in range(4)], info.unit_correlation)
    assert bars[0].get_facecolor() != bars[1].get_facecolor()
    assert bars[1].get_facecolor() == bars[2].get_facecolor()
    legend = [t.get_text() for t in ax1.get_legend().get_texts()]
    assert legend == ["constrained (3)", "released (1)"]
    # right: linear and quadratic accuracy per group and the chance line
    assert [t.get_text() for t in ax2.get_xticklabels()] == ["constrained", "released", "all"]
    heights = [p.get_height() for p in ax2.patches]
    np.testing.assert_allclose(heights, [0.52, 0.97, 0.98, 0.6, 0.96, 0.99])
    (chance,) = [ln for ln in ax2.get_lines() if ln.get_linestyle() == "--"]
    np.testing.assert_allclose(chance.get_ydata(), 0.5)


def test_plot_ising_observables_plots_the_data():
    T = np.array([2.0, 2.6, 3.2])
    data = [ising_observables(make_ising(4, t, 60, random_state=0)[0], t) for t in T]
    model = {"abs_m": np.array([0.9, 0.6, 0.4]), "u": np.array([-1.8, -1.2, -0.8]),
             "c": np.array([0.5, 0.9, 0.4])}
    grid = np.linspace(1.8, 3.4, 30)
    fig = plot_ising_observables(T, data, model, exact=ising_exact(4, grid))
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == ["magnetisation", "energy", "heat capacity"]
    for ax, key in zip(axes, ("abs_m", "u", "c")):
        # errorbar containers: (data line, caps, bars), labelled by series
        lines = {c.get_label(): c.lines[0] for c in ax.containers}
        np.testing.assert_allclose(lines["data"].get_ydata(), [d[key] for d in data])
        np.testing.assert_allclose(lines["model"].get_ydata(), model[key])
        np.testing.assert_allclose(lines["data"].get_xdata(), T)
        # the data have jackknife error bars, the model dict has none
        assert {c.get_label(): c.has_yerr for c in ax.containers} == {"data": True,
                                                                      "model": False}
    # the exact finite-L curves (no magnetisation for finite L) on the energy and c panels
    energy = {ln.get_label(): ln for ln in axes[1].get_lines()}
    np.testing.assert_allclose(energy["exact"].get_ydata(), ising_exact(4, grid).u)
    assert "exact" not in {ln.get_label() for ln in axes[0].get_lines()}
    assert [t.get_text() for t in axes[0].get_legend().get_texts()] == [
        "data", "model", "exact"]


def test_plot_ising_observables_infinite_lattice_magnetisation():
    T = [2.0, 2.5]
    data = {"abs_m": [0.9, 0.3], "u": [-1.7, -1.1], "c": [0.7, 1.0]}
    fig = plot_ising_observables(T, data, exact=ising_exact(None, [1.5, 2.0, 2.2]))
    exact = {ln.get_label(): ln for ln in fig.axes[0].get_lines()}["exact"]
    np.testing.assert_allclose(exact.get_ydata(), ising_exact(None, [1.5, 2.0, 2.2]).m)
    with pytest.raises(ValueError, match="3 temperatures"):
        plot_ising_observables([1, 2, 3], [data, data])


def test_import_error_names_the_extra(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matplotlib"):
            raise ImportError("No module named 'matplotlib'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "skrbm\[examples\]"'):
        plotting._pyplot()
