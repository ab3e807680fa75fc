"""scikit-learn estimators: :class:`ConstrainedRBM` (and the shared base)."""

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassNamePrefixFeaturesOutMixin, TransformerMixin
from sklearn.utils import check_random_state

from ._compat import (
    Interval,
    InvalidParameterError,
    StrOptions,
    _check_sample_weight,
    _fit_context,
    check_is_fitted,
    validate_data,
)
from ._label_stats import _check_label_values
from ._layers import UNIT_TYPES, make_layer
from ._rbm import MAX_EXACT_STATES, RBM
from ._training import DivergenceError, PCDTrainer, canonical_rows, runaway_limit
from ._validation import check_count, check_no_strings, unchanged_on_failure

_VISIBLE_TYPES = {"auto", "bernoulli", "spin", "gaussian", "relu", "drelu", "potts"}
_CHAIN_BLOCK = 64  # chains per independently seeded block (fixed: results do not depend on n_jobs)
_MONITOR_ROWS = 256  # rows (largest weights first) on which history_ tracks pseudo-likelihood


def _hidden_spec_ok(spec):
    return isinstance(spec, str) and spec in UNIT_TYPES


class _BaseRBM(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Shared implementation of the RBM estimators (not public)."""

    _parameter_constraints = {
        "n_components": [Interval(numbers.Integral, 1, None, closed="left")],
        "visible": [StrOptions(_VISIBLE_TYPES), tuple],
        "hidden": [StrOptions(set(UNIT_TYPES)), list],
        "order": [Interval(numbers.Integral, 0, 2, closed="both")],
        "learning_rate": [Interval(numbers.Real, 0, None, closed="neither")],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_iter": [Interval(numbers.Integral, 0, None, closed="left")],
        "n_gibbs_steps": [Interval(numbers.Integral, 1, None, closed="left")],
        "n_temperatures": [Interval(numbers.Integral, 1, None, closed="left")],
        "min_beta": [Interval(numbers.Real, 0, 1, closed="neither")],
        "optimizer": [StrOptions({"adam", "sgd"})],
        "l1": [Interval(numbers.Real, 0, None, closed="left")],
        "l2": [Interval(numbers.Real, 0, None, closed="left")],
        "l1l2": [Interval(numbers.Real, 0, None, closed="left")],
        "center": ["boolean"],
        "rescale_hidden": ["boolean"],
        "second_order": [StrOptions({"exact", "penalty"})],
        "penalty": [Interval(numbers.Real, 0, None, closed="left")],
        "q_form": [StrOptions({"auto", "explicit", "implicit"})],
        "warm_start": ["boolean"],
        "n_jobs": [numbers.Integral, None],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
        "callback": [callable, None],
    }

    # ------------------------------------------------------------------ persistence
    def __getstate__(self):
        state = super().__getstate__()
        from . import __version__

        state["_skrbm_version"] = __version__
        return state

    def __setstate__(self, state):
        from . import __version__

        saved = state.pop("_skrbm_version", None)
        if saved is not None and _release(saved) != _release(__version__):
            raise ValueError(
                f"This {type(self).__name__} was saved with skrbm {saved}, which stores its "
                f"fitted state differently from the installed skrbm {__version__}. Install "
                f"skrbm=={saved} to load it, or refit the model."
            )
        # parameters added within this release: estimators pickled before have the
        # defaults, which reproduce their behaviour
        state.setdefault("n_temperatures", 1)
        state.setdefault("min_beta", 0.5)
        super().__setstate__(state)

    # ------------------------------------------------------------------ tags / names
    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        tags.target_tags.required = self.order >= 1
        tags.non_deterministic = False
        return tags

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    # ------------------------------------------------------------------ validation
    def _check_X(self, X, reset):
        check_no_strings(X, "X", type(self).__name__)
        X = validate_data(self, X, reset=reset, dtype=[np.float64, np.float32])
        if X.shape[0] == 0:  # pragma: no cover - validate_data already refuses this
            raise ValueError("X has 0 samples; at least one is required.")
        return X

    def _choose_visible(self, X):
        spec = self.visible
        q = None
        if isinstance(spec, tuple):
            if not (len(spec) == 2 and spec[0] == "potts"
                    and isinstance(spec[1], numbers.Integral) and spec[1] >= 2):
                raise InvalidParameterError(
                    f"The 'visible' parameter of {type(self).__name__} is invalid: "
                    f"visible={spec!r} is not understood; pass a unit-type name from "
                    f"{sorted(_VISIBLE_TYPES)} or ('potts', q) with an integer q >= 2."
                )
            spec, q = spec
        if spec == "auto":  # two elementwise passes (np.unique would sort all of X)
            if np.all((X == 0) | (X == 1)):
                spec = "bernoulli"
            elif np.all((X == -1) | (X == 1)):
                spec = "spin"
            else:
                spec = "gaussian"
        if spec == "potts" and q is None:
            bad = (X < 0) | (X != np.round(X))
            if bad.any():
                i, j = np.argwhere(bad)[0]
                raise ValueError(
                    f"X has value {X[i, j]!r} in column {j}, row {i}; potts visible units "
                    "accept non-negative integer categories 0..q-1."
                )
            q = max(int(X.max()) + 1, 2)
        return spec, q

    def _labels_for_fit(self, y, labels):
        lab = labels if labels is not None else y
        if self.order >= 1 and lab is None:
            raise ValueError(
                f"{type(self).__name__} with order={self.order} requires y to be passed, "
                "but the target y is None. Pass the labels to constrain as y or labels=."
            )
        return lab if self.order >= 1 else None

    # ------------------------------------------------------------------ building
    def _build_rbm(self, X, w, rng):
        spec, q = self._choose_visible(X)
        dtype = X.dtype
        n_features = X.shape[1]
        visible = make_layer(spec, n_features, dtype=dtype, q=q, where="visible")
        visible.validate(X)
        hidden = self._make_hidden(dtype)
        Xe = _cast_finite(visible.encode(X), dtype, "X")
        wn = w / w.sum()
        visible.init_from_data(Xe, wn)
        norm2 = float(wn @ np.einsum("ni,ni->n", Xe, Xe))
        scale = 0.1 / np.sqrt(max(norm2, 1e-12))
        W = (rng.standard_normal((visible.size, hidden.size)) * scale).astype(dtype)
        return RBM(visible, hidden, W), Xe

    def _make_hidden(self, dtype):
        return self._hidden_layer(self.hidden, self.n_components, dtype)

    def _hidden_layer(self, spec, n_units, dtype):
        """make_layer for the ``hidden`` parameter: a malformed spec is a parameter error."""
        try:
            return make_layer(spec, n_units, dtype=dtype)
        except ValueError as exc:
            raise InvalidParameterError(
                f"The 'hidden' parameter of {type(self).__name__} is invalid: {exc}"
            ) from exc

    def _make_trainer(self):
        return PCDTrainer(
            learning_rate=self.learning_rate, batch_size=self.batch_size,
            n_gibbs_steps=self.n_gibbs_steps, optimizer=self.optimizer, l1=self.l1,
            l2=self.l2, l1l2=self.l1l2, center=self.center,
            rescale_hidden=self.rescale_hidden,
            betas=self._betas(),
        )

    def _betas(self):
        """Inverse temperatures of the persistent chains' ladders (None: plain PCD)."""
        if self.n_temperatures == 1:
            return None
        return np.linspace(self.min_beta, 1.0, self.n_temperatures)

    def _make_constraint(self, rbm, Xe, w, labels):
        """Constraint hook for the trainer (None at order 0)."""
        if self.order == 0:
            return None
        from ._constrained import make_constraint

        return make_constraint(self, rbm, Xe, w, labels)

    # ------------------------------------------------------------------ fitting
    def _prepare(self, X, y, labels, sample_weight, reset):
        X = self._check_X(X, reset=reset)
        lab = self._labels_for_fit(y, labels)
        if sample_weight is not None:
            sample_weight = _check_sample_weight(sample_weight, X, dtype=np.float64,
                                                 ensure_non_negative=True)
            if not np.isfinite(sample_weight).all():
                raise ValueError("sample_weight contains NaN or infinity.")
            if sample_weight.sum() <= 0:
                raise ValueError("sample_weight sums to zero; at least one positive weight "
                                 "is required.")
        if lab is not None:
            lab = np.asarray(lab)
            if lab.ndim == 0:
                raise ValueError(
                    "labels/y must be an array of shape (n_samples,) or (n_samples, "
                    f"n_attributes) with one label per sample; got the scalar {lab.item()!r}."
                )
            if lab.ndim > 2:
                raise ValueError(
                    "labels/y must be an array of shape (n_samples,) (classes) or "
                    "(n_samples, n_attributes) (binary attributes); got an array of shape "
                    f"{lab.shape}."
                )
            if lab.shape[0] != X.shape[0]:
                raise ValueError(
                    f"labels/y has {lab.shape[0]} rows but X has {X.shape[0]} samples; "
                    "they must match."
                )
            # NaN, inf, None or complex labels: refused before any work is done
            _check_label_values(lab)
        return X, lab, sample_weight

    def _fit(self, X, y, labels, sample_weight, *, partial):
        """Fit from scratch, or continue (partial_fit / warm_start) from the saved state.

        A continued fit works on copies of the model and trainer and commits them only
        when it succeeds; ``fit``/``partial_fit`` restore every attribute if the call
        fails (bad input, divergence), so a failed call leaves ``self`` as it was.
        Continuing uses the trainer's own random generator, so k calls of
        ``partial_fit(X)`` equal ``fit(X)`` with ``n_iter=k`` and the same random_state.
        """
        first = not (partial or self.warm_start) or not hasattr(self, "rbm_")
        X, lab, sw = self._prepare(X, y, labels, sample_weight, reset=first)
        if first:
            rng = check_random_state(self.random_state)
            gen = np.random.default_rng(rng.randint(np.iinfo(np.int32).max))
            rbm, Xe = self._build_rbm(X, np.ones(len(X)) if sw is None else sw, gen)
        else:
            rbm = self.rbm_.copy()
            rbm.visible.validate(X)
            Xe = _cast_finite(rbm.visible.encode(X), rbm.dtype, "X")
        codes, uniques = (None, None) if lab is None else _label_codes(lab)
        Xc, wc, codes_c = canonical_rows(Xe, sw, codes)
        labc = None if lab is None else _restore_labels(codes_c, uniques, lab.ndim)
        if first:
            trainer = self._make_trainer()
            trainer.rng = gen
            trainer.initialise_chains(rbm, gen)
            if trainer.center:
                trainer.set_offsets(rbm, Xc, wc)
            trainer.constraint = self._make_constraint(rbm, Xc, wc, labc)
            if trainer.constraint is not None:
                trainer.constraint.initialise(rbm, gen)
        else:
            trainer = self.trainer_.copy()
            # hyperparameters a user may change between calls (offsets, constraints and
            # the number of chains belong to the state and are kept)
            for name in ("learning_rate", "n_gibbs_steps", "optimizer", "l1", "l2", "l1l2"):
                setattr(trainer, name, getattr(self, name))
            trainer.set_betas(self._betas())
        n_epochs = 1 if partial else self.n_iter
        start = 0 if first else self.n_iter_
        history = [] if first else [dict(h) for h in getattr(self, "history_", [])]
        mon = Xc[np.argsort(-wc, kind="stable")[:_MONITOR_ROWS]]
        name = type(self).__name__

        watch = bool(self.verbose) or self.callback is not None

        def on_epoch(epoch, seconds, phases):
            record = {"iteration": epoch, "time": seconds}
            if watch:  # costs about one pass over 256 rows per visible site
                record["pseudo_likelihood"] = float(np.mean(rbm.log_pseudolikelihood(mon)))
            if trainer.constraint is not None:
                record["constraint_residual"] = trainer.constraint.residual(rbm)
            rates = trainer.take_swap_rates()
            if rates is not None:
                record["swap_acceptance"] = rates.tolist()
            history.append(record)
            if self.verbose:
                msg = f"[{name}] Iteration {epoch}, pseudo-likelihood = " \
                      f"{record['pseudo_likelihood']:.4f}"
                if "constraint_residual" in record:
                    msg += f", constraint residual = {record['constraint_residual']:.3g}"
                msg += f", time = {seconds:.2f}s"
                if self.verbose >= 2 and phases:
                    msg += " (" + ", ".join(f"{k} {v:.2f}s" for k, v in phases.items()) + ")"
                print(msg)
            if self.callback is None:
                return False
            # expose the current state to the callback (restored if training fails later)
            self._commit(rbm, trainer, epoch, history)
            return bool(self.callback(self, epoch))

        # a failure (including one after the callback exposed intermediate state) is
        # undone by unchanged_on_failure in fit / partial_fit
        ran = trainer.run_epochs(rbm, Xc, wc, n_epochs, trainer.rng, name=name,
                                 on_epoch=on_epoch, start_epoch=start,
                                 progress=self.verbose >= 2)
        # commit the fitted state only after a successful fit
        self._commit(rbm, trainer, start + ran, history)
        return self

    def _commit(self, rbm, trainer, n_iter, history):
        self.rbm_ = rbm
        self.trainer_ = trainer
        self.n_iter_ = n_iter
        self.history_ = history
        self._set_public_attributes()

    def _set_public_attributes(self):
        rbm = self.rbm_
        self.components_ = rbm.W.T
        self.intercept_visible_ = _linear_field(rbm.visible)
        self.intercept_hidden_ = _linear_field(rbm.hidden)
        self.visible_layer_ = rbm.visible
        self.hidden_layer_ = rbm.hidden
        self.chains_ = rbm.visible.decode(self.trainer_.chains)
        con = self.trainer_.constraint
        if con is not None:
            self.constrained_rank_ = (con.ranks_[0] if len(con.ranks_) == 1
                                      else list(con.ranks_))
            r1, r2 = con.residuals(rbm)
            self.constraint_residual_ = {"first_order": r1}
            if self.order >= 2:
                self.constraint_residual_["second_order"] = r2

    # ------------------------------------------------------------------ public API
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, *, labels=None, sample_weight=None):
        """Fit the model to X by persistent contrastive divergence.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
            Training data (float32 data is trained in float32).
        y : array-like of shape (n_samples,) or (n_samples, n_attributes), default=None
            Labels to constrain when ``order >= 1`` and ``labels`` is None; ignored at
            ``order=0``.
        labels : array-like, default=None
            Labels to constrain; takes precedence over ``y``.
        sample_weight : array-like of shape (n_samples,), default=None
            Non-negative weights; integer weights are exactly equivalent to repeating rows.

        Returns
        -------
        self : object
            The fitted estimator.
        """
        with unchanged_on_failure(self):
            return self._fit(X, y, labels, sample_weight, partial=False)

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, *, labels=None, sample_weight=None):
        """One pass of PCD over X, continuing from the current state (chains, optimizer).

        The first call initialises the model from X as ``fit`` would.

        Returns
        -------
        self : object
            The updated estimator.
        """
        with unchanged_on_failure(self):
            return self._fit(X, y, labels, sample_weight, partial=True)

    def _encode(self, X):
        check_is_fitted(self)
        X = self._check_X(X, reset=False)
        rbm = self.rbm_
        rbm.visible.validate(X)
        return _cast_finite(rbm.visible.encode(X), rbm.dtype, "X")

    def transform(self, X):
        """Conditional means of the hidden units, ``E[h | v]`` (deterministic).

        Returns
        -------
        H : ndarray of shape (n_samples, n_components)
        """
        v = self._encode(X)
        return self.rbm_.hidden.mean(v @ self.rbm_.W)

    def inverse_transform(self, H):
        """Conditional means of the visible units given hidden values.

        For Potts visible units the most probable category of each site is returned.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        """
        check_is_fitted(self)
        H = _check_hidden(H, self.rbm_)
        m = self.rbm_.visible.mean(H @ self.rbm_.W.T)
        return self.rbm_.visible.decode(m) if self.rbm_.visible.name == "potts" else m

    def free_energy(self, X):
        """Free energy F(v) of each sample (lower = more probable)."""
        return self.rbm_.free_energy(self._encode(X))

    def score_samples(self, X):
        """Exact log pseudo-likelihood of each sample (sum over all visible sites).

        Discrete visible units: sum over sites of log P(v_i | v_-i).  Continuous visible
        units: sum of conditional log-densities, normalised by quadrature.
        """
        return self.rbm_.log_pseudolikelihood(self._encode(X))

    def score(self, X, y=None):
        """Mean log pseudo-likelihood of X (so that model selection works without a scorer)."""
        return float(np.mean(self.score_samples(X)))

    def log_partition(self, method="auto", *, X=None, n_chains=256, n_betas=10000,
                      random_state=None, return_stderr=False):
        """Log partition function log Z, exactly or by annealed importance sampling.

        Parameters
        ----------
        method : {"auto", "exact", "ais", "rais"}, default="auto"
            "exact" enumerates the smaller discrete layer (up to 2**22 states) or uses the
            closed form of Gaussian-Gaussian models; "ais" anneals from the independent-site
            model of the visible fields (an estimate whose expectation of exp is Z, so its
            log is a lower bound in expectation); "rais" anneals in reverse from samples
            started at ``X`` (an upper bound in expectation when the starting states are
            model samples). "auto" is exact when feasible, else AIS with a
            ``UserWarning`` naming the numbers of states and the limit (pass
            ``method="ais"`` to silence it).
        X : array-like of shape (n_samples, n_features), default=None
            Starting data for "rais".
        n_chains, n_betas : int, default=256, 10000
            AIS/RAIS chains (run in parallel blocks over ``n_jobs``) and temperatures.
        random_state : int, RandomState instance or None, default=None
            Seeds the annealing chains.
        return_stderr : bool, default=False
            Also return the standard error of the estimate (0 for exact).

        Returns
        -------
        log_z : float
        stderr : float
            Only when ``return_stderr`` is True.
        """
        from ._sampling import log_partition

        check_is_fitted(self)
        kwargs = {}
        if method in ("ais", "rais") or (method == "auto" and not self._exact_feasible()):
            kwargs = dict(n_chains=n_chains, n_betas=n_betas, n_jobs=self.n_jobs,
                          random_state=random_state)
        Xe = None if X is None else self._encode(X)
        est = log_partition(self.rbm_, method, X=Xe, **kwargs)
        return (est.value, est.stderr) if return_stderr else est.value

    def _exact_feasible(self):
        try:
            self.rbm_.exact_route(MAX_EXACT_STATES)
            return True
        except ValueError:
            return False

    def log_likelihood(self, X, method="auto", *, n_chains=256, n_betas=10000,
                       random_state=None, return_stderr=False):
        """Log-likelihood log P(v) = -F(v) - log Z of each sample.

        ``method`` and the sampling options are those of :meth:`log_partition` (for "rais"
        the reverse chains start from X).  With ``return_stderr`` the standard error of
        log Z, shared by all samples, is returned too.

        Returns
        -------
        log_likelihood : ndarray of shape (n_samples,)
        stderr : float
            Only when ``return_stderr`` is True.
        """
        logZ, se = self.log_partition(method, X=X if method == "rais" else None,
                                      n_chains=n_chains, n_betas=n_betas,
                                      random_state=random_state, return_stderr=True)
        ll = -self.free_energy(X) - logZ
        return (ll, se) if return_stderr else ll

    def gibbs(self, X, *, n_steps=1, random_state=None):
        """Continue Gibbs chains started at X for ``n_steps`` sweeps; returns the new v."""
        v = self._encode(X)
        return self._run_chains(v, n_steps, random_state)

    def sample(self, n_samples=1, *, n_steps=1000, method="gibbs", n_temperatures=10,
               random_state=None, return_info=False):
        """Draw ``n_samples`` from the model.

        Parameters
        ----------
        n_samples : int, default=1
        n_steps : int, default=1000
            Gibbs sweeps per chain (for "pt": sweeps of every replica).
        method : {"gibbs", "pt"}, default="gibbs"
            "gibbs": independent chains started from the independent-site model of the
            visible fields. "pt": parallel tempering (replica exchange along an
            inverse-temperature ladder towards that independent-site model), for
            multimodal models where plain Gibbs does not cross between modes.
        n_temperatures : int, default=10
            Replicas of the "pt" ladder.
        random_state : int, RandomState instance or None, default=None
        return_info : bool, default=False
            With "pt", also return a dict with the swap ``acceptance_rates`` of adjacent
            pairs and the ladder ``betas``.

        Returns
        -------
        X : ndarray of shape (n_samples, n_features)
        info : dict
            Only when ``return_info`` is True.
        """
        check_is_fitted(self)
        check_count(n_samples, "n_samples", 1)
        if method not in ("gibbs", "pt"):
            raise ValueError(f"method must be 'gibbs' or 'pt', got {method!r}.")
        if method == "gibbs":
            out = self._run_chains(None, n_steps, random_state, n_samples=n_samples)
            return (out, {}) if return_info else out
        from ._sampling import parallel_tempering

        res = parallel_tempering(self.rbm_, n_samples, n_temperatures=n_temperatures,
                                 n_steps=n_steps, n_jobs=self.n_jobs,
                                 random_state=random_state)
        out = self.rbm_.visible.decode(res.samples)
        info = {"acceptance_rates": res.acceptance_rates, "betas": res.betas}
        return (out, info) if return_info else out

    def _run_chains(self, v, n_steps, random_state, n_samples=None):
        from ._sampling import run_chains

        check_count(n_steps, "n_steps", 0)
        n = n_samples if v is None else v.shape[0]
        out = run_chains(self.rbm_, n, n_steps, v0=v, n_jobs=self.n_jobs,
                         random_state=random_state, block=_CHAIN_BLOCK)
        return self.rbm_.visible.decode(out)


def _release(version):
    """major.minor of a version string: the unit of pickle compatibility."""
    return tuple(version.split(".")[:2])


def _check_hidden(H, rbm):
    from sklearn.utils import check_array

    H = check_array(H, dtype=[np.float64, np.float32])
    if H.shape[1] != rbm.hidden.size:
        raise ValueError(
            f"H has {H.shape[1]} columns but the model has {rbm.hidden.size} hidden units."
        )
    return _cast_finite(H, rbm.dtype, "H")


def _cast_finite(A, dtype, what):
    """``A`` in the model's dtype; refuses values whose arithmetic would overflow it.

    Beyond ``runaway_limit(dtype)`` (about 1.2e77 in float64, 4.3e9 in float32) the
    energies and pseudo-likelihoods, which hold up to fourth powers of the values, are no
    longer representable and would come out as NaN: such values are refused, as are
    float64 values that do not fit a float32 model.
    """
    limit = runaway_limit(dtype)
    # max and -min, not max(abs(A)): no temporary of the data's size; NaN propagates
    big = max(float(np.max(A)), -float(np.min(A))) if A.size else 0.0
    if not big <= limit:
        raise ValueError(
            f"{what} has values too large for this model's dtype {np.dtype(dtype).name} "
            f"(largest magnitude {big!r}; {np.dtype(dtype).name} arithmetic of the energy "
            f"overflows beyond {limit:.3g}); rescale the data, e.g. with StandardScaler."
        )
    return A if A.dtype == dtype else A.astype(dtype)


def _linear_field(layer):
    params = layer.params
    if "theta" in params:
        return params["theta"]
    if "theta_p" in params:  # dReLU: report the mean of the two sides' linear fields
        return (params["theta_p"] + params["theta_n"]) / 2
    return np.concatenate([v for k, v in params.items() if k.endswith("theta")
                           or k.endswith("theta_p")])


def _label_codes(lab):
    """Integer codes (float array, one column per label column) and the values per column,
    so labels of any dtype can join the canonical-row key."""
    lab2 = lab.reshape(len(lab), -1)
    uniques, codes = [], np.empty(lab2.shape, dtype=np.float64)
    for j in range(lab2.shape[1]):
        try:
            u, c = np.unique(lab2[:, j], return_inverse=True)
        except TypeError as exc:  # mixed types in an object array
            raise ValueError(
                f"labels/y mix types that cannot be ordered ({exc}); use one type (all str "
                "or all numbers)."
            ) from exc
        uniques.append(u)
        codes[:, j] = c
    return codes, uniques


def _restore_labels(codes, uniques, ndim):
    cols = [u[codes[:, j].astype(np.intp)] for j, u in enumerate(uniques)]
    return cols[0] if ndim == 1 else np.stack(cols, axis=1)


class ConstrainedRBM(_BaseRBM):
    """Restricted Boltzmann machine whose hidden units are kept free of label information.

    All hidden units carry the constraints of ``order`` (method of Fernandez-de-Cossio-Diaz,
    Cocco and Monasson, PRX 2023): order 1 makes the hidden inputs uncorrelated with every
    label direction (``q^T W = 0``), order 2 also makes their label-conditional second
    moments equal (``W^T Q W = 0``).  ``order=0`` is a plain RBM.

    Parameters
    ----------
    n_components : int, default=256
        Number of hidden units.
    visible : {"auto", "bernoulli", "spin", "gaussian", "relu", "drelu", "potts"} or \
("potts", q), default="auto"
        Visible unit type. "auto" picks bernoulli for data in {0, 1}, spin for data in
        {-1, +1} and gaussian otherwise. "potts" takes integer categories 0..q-1 per column
        (q inferred from the data unless given as ("potts", q)).
    hidden : str or list of (str, int), default="bernoulli"
        Hidden unit type, or a list of ``(type, n_units)`` groups for a mixed hidden layer,
        e.g. ``[("spin", 1), ("gaussian", 99)]`` (the groups must add up to n_components).
    order : {0, 1, 2}, default=0
        Order of the label constraints imposed on all hidden units.
    learning_rate : float, default=1e-3
        Step size of the optimizer.
    batch_size : int, default=64
        Minibatch size; also the number of persistent chains.
    n_iter : int, default=10
        Number of epochs (passes over the distinct training rows).
    n_gibbs_steps : int, default=1
        Gibbs sweeps of the persistent chains before each update (the k of PCD-k).
    n_temperatures : int, default=1
        Replicas in the parallel-tempering ladder of every persistent chain (Desjardins et
        al. 2010); 1 is plain PCD.  With ``K >= 2`` each chain is a ladder at inverse
        temperatures ``linspace(min_beta, 1, K)`` of the couplings: the replica at
        ``beta`` samples ``p_beta(v) ~ exp(-U_v(v) + Gamma_h(beta v W))``.  Before each
        update every replica makes ``n_gibbs_steps`` sweeps, then neighbouring replicas
        propose to swap (even and odd pairs on alternate updates); the statistics come
        from the ``beta = 1`` replicas; ``history_`` records the swap acceptance rates.
        It helps when the data are multimodal (ordered phases, well separated classes) and
        plain persistent chains stay stuck in one mode.  An update then costs
        ``(2 n_gibbs_steps + 1) K`` matrix products over the chains instead of about
        ``2 n_gibbs_steps``.  Both parameters may change between warm-started calls: a
        ladder of a new size starts with every replica at the current chains.  (Not to be
        confused with ``sample(method="pt", n_temperatures=...)``, whose ladder runs from
        the independent-site model at ``beta = 0`` and tempers the fields too.)
    min_beta : float in (0, 1), default=0.5
        Smallest inverse temperature of the ladder (``n_temperatures >= 2`` only).
    optimizer : {"adam", "sgd"}, default="adam"
        Update rule (Adam with betas (0.9, 0.999)).
    l1, l2, l1l2 : float, default=0.0
        Weight penalties: l1 |W|, l2 W^2 / 2 and the "L1^2" penalty
        l1l2 / (2N) sum_mu (sum_i |W_i mu|)^2.
    center : bool, default=True
        Centered gradients (Melchior et al. 2016): offsets are the data mean of v and a
        running mean of <h | v>. Parameters are always stored in the plain form. On
        binarised digits it raises the exact held-out log-likelihood of a 16-unit model by
        about 2.6 nats per image (``benchmarks/digits_loglik.py``).
    rescale_hidden : bool, default=False
        After every update, rescale each weight column of continuous hidden units
        (gaussian, relu, drelu) to unit norm and compensate their fields and precisions so
        that P(v) is unchanged (a gauge fixing that removes the scale degeneracy).
    second_order : {"exact", "penalty"}, default="exact"
        How ``order=2`` is imposed: "exact" projects the gradient onto the tangent space
        of ``{W : W^T Q W = 0}``, projects the optimizer's move onto it and retracts onto
        the set after every step, so the constraint holds to 1e-10 relative (1e-5 in
        float32), verified at every step; "penalty" adds the reference's
        soft penalty ``penalty/2 sum_t ||W^T Q^t W||_F^2`` (residual reported by
        ``constraint_residual_``).
    penalty : float, default=1.0
        Strength of the soft second-order penalty (``second_order="penalty"`` only).
    q_form : {"auto", "explicit", "implicit"}, default="auto"
        Whether products ``Q^t W`` use the dense ``N x N`` matrices ("explicit") or the
        centred data ("implicit", O(n N m) time and O(N m) memory). "auto" forms the dense
        tensor only when it fits in 256 MiB and is cheaper to multiply by.
    warm_start : bool, default=False
        Reuse the fitted parameters, chains and optimizer state on the next ``fit``.
    n_jobs : int, default=None
        Number of jobs for the independent Gibbs chains of ``sample`` and ``gibbs``.
        ``None`` means 1 unless in a :obj:`joblib.parallel_backend` context. ``-1`` means
        using all processors. See :term:`Glossary <n_jobs>` for more details.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation, minibatch order and the Gibbs chains.
    verbose : int, default=0
        0 is silent; 1 prints one line per epoch in scikit-learn's format
        (``[ConstrainedRBM] Iteration i, pseudo-likelihood = ..., constraint residual =
        ..., time = ...s``); 2 adds a tqdm progress bar over minibatches (when tqdm is
        installed) and the time spent in each phase of the updates.
    callback : callable, default=None
        Called as ``callback(estimator, iteration)`` after every epoch, with the
        estimator's fitted attributes showing the current state; returning True stops
        training.  Use it to record learning curves or stop early.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_visible_columns)
        Weights W^T (for Potts visible units, column ``i*q + a`` is state a of site i).
    intercept_visible_ : ndarray
        Linear fields of the visible units (plain parametrisation).
    intercept_hidden_ : ndarray of shape (n_components,)
        Linear fields of the hidden units.
    visible_layer_, hidden_layer_ : Layer
        The unit types with all their parameters (``.params``).
    chains_ : ndarray
        Persistent chains at the end of training, in the data representation.
    n_iter_ : int
        Number of epochs run so far.
    history_ : list of dict
        One record per epoch: ``iteration``, ``time`` (s), with constraints
        ``constraint_residual``, with ``n_temperatures >= 2`` ``swap_acceptance`` (the
        rate of accepted swaps of each neighbouring pair of replicas, from the lowest
        ``beta`` up, over the epoch), and, when ``verbose > 0`` or a ``callback`` is set (it
        costs a pass per visible site), ``pseudo_likelihood``: the mean log
        pseudo-likelihood on up to 256 training rows, the most weighted first.
    constrained_rank_ : int
        Only when ``order >= 1``: rank available to the constrained weights (below
        n_components when second-order constraints cannot be met at full rank; a warning
        says so).
    constraint_residual_ : dict
        Only when ``order >= 1``: the largest relative residuals ``|q^T W|`` (first order)
        and ``|W^T Q W|`` (second order) of the constrained weights after training.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Names of features seen during fit (only when X has string feature names).

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm import ConstrainedRBM
    >>> X = (np.random.default_rng(0).random((100, 6)) < 0.3).astype(float)
    >>> rbm = ConstrainedRBM(n_components=3, n_iter=2, random_state=0).fit(X)
    >>> rbm.transform(X).shape
    (100, 3)
    >>> rbm.visible_layer_.name
    'bernoulli'
    """

    def __init__(self, n_components=256, *, visible="auto", hidden="bernoulli", order=0,
                 learning_rate=1e-3, batch_size=64, n_iter=10, n_gibbs_steps=1,
                 n_temperatures=1, min_beta=0.5, optimizer="adam", l1=0.0, l2=0.0, l1l2=0.0,
                 center=True, rescale_hidden=False, second_order="exact", penalty=1.0,
                 q_form="auto", warm_start=False, n_jobs=None, random_state=None, verbose=0,
                 callback=None):
        self.n_components = n_components
        self.visible = visible
        self.hidden = hidden
        self.order = order
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_iter = n_iter
        self.n_gibbs_steps = n_gibbs_steps
        self.n_temperatures = n_temperatures
        self.min_beta = min_beta
        self.optimizer = optimizer
        self.l1 = l1
        self.l2 = l2
        self.l1l2 = l1l2
        self.center = center
        self.rescale_hidden = rescale_hidden
        self.second_order = second_order
        self.penalty = penalty
        self.q_form = q_form
        self.warm_start = warm_start
        self.n_jobs = n_jobs
        self.random_state = random_state
        self.verbose = verbose
        self.callback = callback
