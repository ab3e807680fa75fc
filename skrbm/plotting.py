"""Figures for fitted skrbm estimators and their diagnostics.

Every function returns a :class:`matplotlib.figure.Figure` created through
:mod:`matplotlib.pyplot` (so notebooks, ``plt.show()`` and sphinx-gallery pick it up).
Matplotlib is an optional dependency, imported only when a function is called; install
it with ``pip install "skrbm[examples]"``.

- :func:`plot_weights`: weights of hidden units as images (image data), as a
  state-by-site heat map (Potts visible units), or as bar charts (anything else);
- :func:`plot_released_histograms`: histograms of hidden units' ``E[h | v]`` split by label;
- :func:`plot_label_information`: per-unit label correlation and probe accuracies from
  :func:`skrbm.metrics.label_information`;
- :func:`plot_ising_observables`: magnetisation, energy and heat capacity against
  temperature, data versus model versus exact results.
"""

import math

import numpy as np

__all__ = [
    "plot_ising_observables",
    "plot_label_information",
    "plot_released_histograms",
    "plot_weights",
]

_MAX_UNITS = 64


def _pyplot():
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise ImportError(
            "skrbm.plotting needs matplotlib, which is not installed. Install it with "
            'pip install "skrbm[examples]" (or pip install matplotlib).'
        ) from exc
    return plt


def _new_figure(fig, figsize):
    """A new pyplot figure (or ``fig``, cleared) with the constrained layout engine."""
    plt = _pyplot()
    if fig is None:
        fig = plt.figure(figsize=figsize)
    else:
        fig.clear()
    if hasattr(fig, "set_layout_engine"):  # matplotlib >= 3.6
        fig.set_layout_engine("constrained")
    else:  # pragma: no cover - matplotlib 3.5
        fig.set_constrained_layout(True)
    return fig


def _grid(n, n_cols=None):
    if n_cols is None:
        n_cols = min(n, 8)
    n_cols = max(1, min(int(n_cols), n))
    return math.ceil(n / n_cols), n_cols


def _components(estimator):
    comp = getattr(estimator, "components_", None)
    if comp is None:
        from sklearn.exceptions import NotFittedError

        raise NotFittedError(
            f"This {type(estimator).__name__} instance has no components_: fit it first "
            "(plot_weights needs a fitted estimator with a components_ attribute)."
        )
    return np.asarray(comp)


def _check_units(units, n_units, what="units"):
    units = np.atleast_1d(np.asarray(units))
    if units.ndim != 1 or units.size == 0 or not np.issubdtype(units.dtype, np.integer):
        raise ValueError(f"{what} must be a non-empty sequence of integer unit indices, "
                         f"got {units!r}.")
    bad = units[(units < 0) | (units >= n_units)]
    if bad.size:
        raise ValueError(f"{what} contains {bad.tolist()}, outside 0..{n_units - 1} "
                         f"(the estimator has {n_units} units).")
    return units


def _released(estimator):
    rel = getattr(estimator, "released_units_", None)
    return set() if rel is None else {int(u) for u in np.asarray(rel)}


# --------------------------------------------------------------------------------------
# weights
# --------------------------------------------------------------------------------------
def plot_weights(estimator, *, image_shape=None, units=None, n_cols=None, cmap="RdBu_r",
                 fig=None):
    """Weights of hidden units, one panel per unit.

    The panels share one symmetric colour scale (zero is white with the default
    ``cmap``), shown by a colour bar.  The layout depends on the visible units:

    - **Potts** visible units (``visible_layer_.name == "potts"``, ``q`` states per
      site): a sequence-logo-like heat map per unit with the ``q`` states as rows and the
      sites as columns, entry ``(a, i)`` being the weight of state ``a`` at site ``i``
      (after training they are in the zero-sum gauge: each column sums to zero);
    - **image data** (``image_shape`` given, or ``n_features`` a perfect square): each
      unit's weights reshaped to the image;
    - anything else: a bar chart of the weights against the feature index.

    Parameters
    ----------
    estimator : fitted estimator with ``components_``
        A :class:`~skrbm.ConstrainedRBM`, :class:`~skrbm.DisentangledRBM` or any
        estimator whose ``components_`` has shape (n_units, n_features) (e.g.
        :class:`~skrbm.LabelErasure`, :class:`sklearn.decomposition.PCA`).
    image_shape : tuple of int, default=None
        Shape of one image, e.g. ``(8, 8)``; its product must equal ``n_features``.
        None uses a square image when ``n_features`` is a perfect square (and the
        visible units are not Potts), else bar charts.
    units : array-like of int, default=None
        Units to show. None shows the first ``min(n_units, 64)`` units.
    n_cols : int, default=None
        Panels per row (default ``min(n_panels, 8)``).
    cmap : str, default="RdBu_r"
        Diverging colour map.
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per unit (titled ``unit k``, ``unit k (released)`` for the released
        units of a DisentangledRBM), plus the colour bar's axes for images and heat maps.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skrbm import ConstrainedRBM
    >>> from skrbm.plotting import plot_weights
    >>> X = (np.random.default_rng(0).random((60, 16)) < 0.3).astype(float)
    >>> rbm = ConstrainedRBM(n_components=4, n_iter=1, random_state=0).fit(X)
    >>> fig = plot_weights(rbm, image_shape=(4, 4))
    >>> len(fig.axes)  # four units and a colour bar
    5
    >>> fig.axes[0].get_title()
    'unit 0'
    """
    comp = _components(estimator)
    if comp.ndim != 2:
        raise ValueError(f"components_ must be 2-D (n_units, n_features), got shape "
                         f"{comp.shape}.")
    n_units, n_cols_data = comp.shape
    units = (np.arange(min(n_units, _MAX_UNITS)) if units is None
             else _check_units(units, n_units))
    layer = getattr(estimator, "visible_layer_", None)
    potts = layer is not None and getattr(layer, "name", None) == "potts"
    if potts:
        q, n_sites = int(layer.q), int(layer.n_units)
        if q * n_sites != n_cols_data:  # pragma: no cover - guards inconsistent objects
            raise ValueError(f"components_ has {n_cols_data} columns, not q * n_sites = "
                             f"{q} * {n_sites}.")
        if image_shape is not None:
            raise ValueError("image_shape does not apply to Potts visible units (the "
                             "weights are drawn as states x sites heat maps).")
        mode = "potts"
    else:
        if image_shape is None:
            side = math.isqrt(n_cols_data)
            image_shape = (side, side) if side * side == n_cols_data and side > 1 else None
        else:
            image_shape = tuple(int(s) for s in image_shape)
            if int(np.prod(image_shape)) != n_cols_data:
                raise ValueError(f"image_shape={image_shape} has {int(np.prod(image_shape))} "
                                 f"pixels but the estimator has {n_cols_data} features.")
        mode = "image" if image_shape is not None else "bars"

    n_rows, ncols = _grid(len(units), n_cols)
    if mode == "potts":
        w_in, h_in = min(0.12 * n_sites + 1.0, 12.0), 0.18 * q + 0.9
        ncols = 1 if n_cols is None else ncols
        n_rows = math.ceil(len(units) / ncols)
    elif mode == "image":
        aspect = image_shape[1] / image_shape[0]
        w_in, h_in = 1.5 * aspect + 0.1, 1.7
    else:
        w_in, h_in = 3.0, 1.8
    fig = _new_figure(fig, (min(w_in * ncols + 1.0, 16.0), min(h_in * n_rows + 0.6, 40.0)))
    released = _released(estimator)
    W = comp[units]
    vmax = float(np.abs(W).max()) or 1.0
    axes = [fig.add_subplot(n_rows, ncols, k + 1) for k in range(len(units))]
    im = None
    for ax, u, w in zip(axes, units, W):
        title = f"unit {u}" + (" (released)" if int(u) in released else "")
        if mode == "potts":
            im = ax.imshow(w.reshape(n_sites, q).T, cmap=cmap, vmin=-vmax, vmax=vmax,
                           aspect="auto", interpolation="nearest")
            ax.set_ylabel("state")
            ax.set_xlabel("site")
        elif mode == "image":
            im = ax.imshow(w.reshape(image_shape), cmap=cmap, vmin=-vmax, vmax=vmax,
                           interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        else:
            ax.bar(np.arange(w.size), w, width=1.0,
                   color=np.where(w >= 0, "tab:red", "tab:blue"))
            ax.axhline(0.0, color="0.3", lw=0.6)
            ax.set_ylim(-1.05 * vmax, 1.05 * vmax)
            ax.set_xlim(-0.6, w.size - 0.4)
            ax.xaxis.get_major_locator().set_params(integer=True)
            ax.set_xlabel("feature")
        ax.set_title(title, fontsize=9)
    if im is not None:
        fig.colorbar(im, ax=axes, shrink=0.8, label="weight")
    else:
        axes[0].set_ylabel("weight")
    return fig


# --------------------------------------------------------------------------------------
# released units
# --------------------------------------------------------------------------------------
def plot_released_histograms(estimator, X, y, *, units=None, bins=30, n_cols=None,
                             fig=None):
    """Histograms of hidden units' conditional means ``E[h | v]``, split by label.

    A released unit of a :class:`~skrbm.DisentangledRBM` should separate the classes;
    a constrained unit's histograms should have the same mean (first order) and spread
    (second order) for every class.

    Parameters
    ----------
    estimator : fitted transformer
        A DisentangledRBM (default units: ``released_units_``) or any fitted transformer,
        e.g. a ConstrainedRBM, with ``units`` given.
    X : array-like of shape (n_samples, n_features)
        Data to encode with ``estimator.transform``.
    y : array-like of shape (n_samples,) or (n_samples, n_attributes)
        Labels. A 2-D ``y`` (several attributes) needs a DisentangledRBM: each released
        unit is split by the attribute it was released for (``released_by_label_``).
    units : array-like of int, default=None
        Units (columns of ``transform``'s output) to show; required when the estimator
        has no ``released_units_``.
    bins : int, default=30
        Number of bins, shared by all classes of a unit.
    n_cols : int, default=None
        Panels per row (default ``min(n_units, 4)``).
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        One axes per unit, with one histogram (and one legend entry ``y = c``) per class.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from skrbm import DisentangledRBM
    >>> from skrbm.plotting import plot_released_histograms
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 200)
    >>> X = (rng.random((200, 8)) < 0.2 + 0.6 * y[:, None] * (np.arange(8) < 4)).astype(float)
    >>> rbm = DisentangledRBM(4, order=1, n_iter=3, random_state=0).fit(X, y)
    >>> fig = plot_released_histograms(rbm, X, y)
    >>> [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    ['y = 0', 'y = 1']
    """
    H = np.asarray(estimator.transform(X))
    y = np.asarray(y)
    if y.shape[0] != H.shape[0]:
        raise ValueError(f"y has {y.shape[0]} rows but X has {H.shape[0]} samples.")
    if y.ndim not in (1, 2):
        raise ValueError(f"y must be 1-D or 2-D, got shape {y.shape}.")
    n_units = H.shape[1]
    released = getattr(estimator, "released_units_", None)
    if units is None:
        if released is None:
            raise ValueError(
                f"{type(estimator).__name__} has no released_units_; pass units= (the "
                "columns of transform's output to show), e.g. units=[0, 1]."
            )
        units = np.asarray(released)
    units = _check_units(units, n_units)
    label_of = {}
    if y.ndim == 2:
        by_label = getattr(estimator, "released_by_label_", None)
        if by_label is None or y.shape[1] != len(by_label):
            raise ValueError(
                "A 2-D y needs a DisentangledRBM fitted on the same attribute columns "
                "(released_by_label_); pass one attribute column (1-D y) otherwise."
            )
        for j, us in enumerate(by_label):
            for u in np.asarray(us):
                label_of[int(u)] = j
        missing = [int(u) for u in units if int(u) not in label_of]
        if missing:
            raise ValueError(f"units {missing} are not released for any attribute; with a "
                             "2-D y only released units can be shown. Pass a 1-D y.")

    n_rows, ncols = _grid(len(units), 4 if n_cols is None else n_cols)
    fig = _new_figure(fig, (min(3.2 * ncols + 0.4, 16.0), 2.6 * n_rows + 0.4))
    rel = _released(estimator)
    for k, u in enumerate(units):
        ax = fig.add_subplot(n_rows, ncols, k + 1)
        lab = y if y.ndim == 1 else y[:, label_of[int(u)]]
        h = H[:, u]
        edges = np.histogram_bin_edges(h, bins=bins)
        for c in np.unique(lab):
            ax.hist(h[lab == c], bins=edges, alpha=0.55, label=f"y = {c}")
        title = f"unit {u}" + (" (released)" if int(u) in rel else "")
        if y.ndim == 2:
            title += f", attribute {label_of[int(u)]}"
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("E[h | v]")
        if k % ncols == 0:
            ax.set_ylabel("samples")
        ax.legend(fontsize=8)
    return fig


# --------------------------------------------------------------------------------------
# label information
# --------------------------------------------------------------------------------------
_GROUP_COLOURS = {"released": "tab:red", "constrained": "tab:blue", "selected": "tab:orange",
                  "all": "tab:gray"}


def plot_label_information(info, *, fig=None):
    """Bar charts of a :class:`~skrbm.metrics.LabelInformation` result.

    Left: per-unit label correlation ``max_t |corr(u^t, E[h | v])|``
    (``info.unit_correlation``), each bar coloured by the unit's group (released,
    constrained or selected). Right: cross-validated accuracy of the linear and the
    quadratic probe for each group, with the chance level as a dashed line.

    Parameters
    ----------
    info : LabelInformation
        Result of :func:`skrbm.metrics.label_information` (or any object with the
        attributes ``unit_correlation``, ``groups``, ``linear_accuracy``,
        ``quadratic_accuracy`` and ``chance``).
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Two axes: per-unit correlations and probe accuracies.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.decomposition import PCA
    >>> from skrbm.metrics import label_information
    >>> from skrbm.plotting import plot_label_information
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 120)
    >>> X = rng.normal(size=(120, 5)) + y[:, None]
    >>> fig = plot_label_information(label_information(PCA(3), X, y, cv=3))
    >>> len(fig.axes[0].patches)  # one bar per unit
    3
    """
    corr = np.asarray(info.unit_correlation, dtype=float)
    groups = {k: np.asarray(v, dtype=int) for k, v in info.groups.items()}
    fig = _new_figure(fig, (min(4.0 + 0.18 * corr.size, 13.0) + 3.5, 3.4))
    gs = fig.add_gridspec(1, 2, width_ratios=[max(2.0, min(corr.size / 6, 5.0)), 1.4])
    ax1 = fig.add_subplot(gs[0, 0])
    ax2 = fig.add_subplot(gs[0, 1])

    # colour every unit by its most specific group
    unit_group = np.array(["all"] * corr.size, dtype=object)
    for name in ("constrained", "selected", "released"):
        if name in groups:
            unit_group[groups[name]] = name
    for name in ("all", "constrained", "selected", "released"):
        idx = np.flatnonzero(unit_group == name)
        if idx.size:
            ax1.bar(idx, corr[idx], width=0.8, color=_GROUP_COLOURS[name],
                    label=f"{name} ({idx.size})")
    ax1.set_xlabel("hidden unit")
    ax1.set_ylabel("max |corr(label, E[h | v])|")
    ax1.set_ylim(0, max(1.0, float(corr.max(initial=0)) * 1.05))
    ax1.set_xlim(-0.7, corr.size - 0.3)
    ax1.set_title("label correlation per unit", fontsize=10)
    ax1.legend(fontsize=8, loc="upper right")

    names = [g for g in groups if g in info.linear_accuracy]
    x = np.arange(len(names))
    lin = [info.linear_accuracy[g] for g in names]
    quad = [info.quadratic_accuracy.get(g, np.nan) for g in names]
    b1 = ax2.bar(x - 0.2, lin, width=0.4, color="tab:green", label="linear probe")
    b2 = ax2.bar(x + 0.2, quad, width=0.4, color="tab:purple", label="quadratic probe")
    for bars in (b1, b2):
        ax2.bar_label(bars, fmt="%.2f", fontsize=7, padding=1)
    ax2.axhline(info.chance, color="k", ls="--", lw=1, label=f"chance {info.chance:.2f}")
    ax2.set_xticks(x, names)
    ax2.set_ylim(0, 1.12)
    ax2.set_ylabel("cross-validated accuracy")
    ax2.set_title("probes per group", fontsize=10)
    ax2.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=2)
    return fig


# --------------------------------------------------------------------------------------
# Ising observables
# --------------------------------------------------------------------------------------
_ISING_PANELS = (
    ("abs_m", "m", r"$\langle |m| \rangle$", "magnetisation"),
    ("u", "u", r"energy per spin $u$", "energy"),
    ("c", "c", r"heat capacity per spin $c$", "heat capacity"),
)


def _as_columns(obs, n, name):
    """{key: array (n,)} from a list of per-temperature mappings or a mapping of arrays."""
    if hasattr(obs, "keys"):
        out = {}
        for k in obs.keys():
            try:
                v = np.asarray(obs[k], dtype=float)
            except (TypeError, ValueError):
                continue  # e.g. a description string
            if v.ndim == 1 and v.size == n:
                out[k] = v
            elif v.ndim == 0 and n == 1:
                out[k] = v.reshape(1)
        return out
    seq = list(obs)
    if len(seq) != n:
        raise ValueError(f"{name} has {len(seq)} entries but there are {n} temperatures; "
                         "pass one ising_observables result per temperature.")
    keys = set.intersection(*(set(s.keys()) for s in seq)) if seq else set()
    out = {}
    for k in keys:
        try:
            out[k] = np.array([float(s[k]) for s in seq])
        except (TypeError, ValueError):
            continue
    return out


def plot_ising_observables(temperatures, data_obs, model_obs=None, exact=None, *,
                           labels=("data", "model"), fig=None):
    """Ising observables against temperature: data, model samples and exact results.

    Three panels: mean absolute magnetisation ``<|m|>``, energy per spin ``u`` and heat
    capacity per spin ``c``, with standard-error bars (keys ``abs_m_se``, ``u_se``,
    ``c_se``) where available and the critical temperature ``Tc`` marked.

    Parameters
    ----------
    temperatures : array-like of shape (n_temperatures,)
        Temperatures of ``data_obs`` and ``model_obs``.
    data_obs : list of mappings, or mapping of arrays
        One :func:`skrbm.datasets.ising_observables` result per temperature (for the
        training data), or a mapping ``{"abs_m": array, "abs_m_se": array, "u": ...}``.
    model_obs : same as ``data_obs``, default=None
        Observables of samples drawn from a model at the same temperatures.
    exact : mapping, default=None
        Exact results drawn as lines, e.g. ``skrbm.datasets.ising_exact(L, T_grid)``:
        keys ``temperature`` (the grid, defaults to ``temperatures``), ``u``, ``c`` and
        optionally ``m`` (spontaneous magnetisation, infinite lattice only).
    labels : tuple of str, default=("data", "model")
        Legend labels of ``data_obs`` and ``model_obs``.
    fig : matplotlib Figure, default=None
        Figure to draw into (it is cleared); None creates one.

    Returns
    -------
    fig : matplotlib.figure.Figure
        Three axes (``<|m|>``, ``u``, ``c`` against ``T``).

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from skrbm.datasets import ising_exact, ising_observables, make_ising
    >>> from skrbm.plotting import plot_ising_observables
    >>> T = [2.0, 2.5, 3.0]
    >>> data = [ising_observables(make_ising(6, t, 100, random_state=0)[0], t) for t in T]
    >>> fig = plot_ising_observables(T, data, exact=ising_exact(6, T))
    >>> [ax.get_title() for ax in fig.axes]
    ['magnetisation', 'energy', 'heat capacity']
    """
    from .datasets._ising import ISING_TC

    T = np.asarray(temperatures, dtype=float).ravel()
    if T.size == 0:
        raise ValueError("temperatures is empty.")
    series = [(labels[0], _as_columns(data_obs, T.size, "data_obs"), "o", "-")]
    if model_obs is not None:
        series.append((labels[1], _as_columns(model_obs, T.size, "model_obs"), "s", "--"))
    ex = None
    if exact is not None:
        Tex = np.asarray(exact["temperature"] if "temperature" in exact else T,
                         dtype=float).ravel()
        ex = {"T": Tex}
        for key in ("u", "c", "m"):
            if key in exact:
                ex[key] = np.asarray(exact[key], dtype=float).ravel()
    fig = _new_figure(fig, (11.0, 3.3))
    axes = [fig.add_subplot(1, 3, k + 1) for k in range(3)]
    for ax, (key, exkey, ylabel, title) in zip(axes, _ISING_PANELS):
        for name, cols, marker, ls in series:
            if key not in cols:
                continue
            order = np.argsort(T)
            err = cols.get(key + "_se")
            ax.errorbar(T[order], cols[key][order],
                        yerr=None if err is None else err[order], marker=marker, ls=ls,
                        ms=5, capsize=3, label=name)
        if ex is not None and exkey in ex:
            order = np.argsort(ex["T"])
            ax.plot(ex["T"][order], ex[exkey][order], color="k", lw=1.2, alpha=0.8,
                    label="exact", zorder=0)
        ax.axvline(ISING_TC, color="0.5", ls=":", lw=1)
        ax.set_xlabel("temperature $T$")
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
    handles, names = [], []
    for ax in axes:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
    if handles:
        axes[0].legend(handles, names, fontsize=8)
    return fig
