"""Persistent contrastive divergence (PCD-k) training, generic over unit types.

The log-likelihood gradient of any parameter is ``E_data[-dF/dw] - E_model[-dF/dw]``; the
model term comes from persistent fantasy chains advanced by ``k`` Gibbs sweeps before each
update.  Parameters are stored in the plain parametrisation (E = U_v + U_h - v W h); centering
(Melchior et al. 2016) is applied as an exact change of coordinates of the update, so the
stored parameters always describe the model directly.
"""

import time
import zlib

import numpy as np

from ._rbm import adam_update


class DivergenceError(FloatingPointError):
    """Raised when training diverges; the state of the start of the failing epoch is kept.

    Training has diverged when, after an update, a parameter or a persistent chain is
    non-finite (checked after every update) or, at the end of an epoch, when

    * a parameter or chain value exceeds ``runaway_limit(dtype) = finfo(dtype).max ** 0.25``
      (about 1.2e77 in float64, 4.3e9 in float32): the layers form products of up to four
      such factors (e.g. ``(theta + v W)**2 / |gamma|``), which then overflow; or
    * the model is no longer normalisable: with real-line visible units (gaussian, drelu)
      and gaussian or drelu hidden units, the weights outgrew the precisions,
      ``||D_v^{-1/2} W D_h^{-1/2}||_2 > 1`` (``D`` the quadratic coefficients, the largest
      side for drelu), so the free energy is unbounded below and Gibbs chains run away.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm import ConstrainedRBM, DivergenceError
    >>> X = np.random.default_rng(0).normal(size=(50, 4))
    >>> rbm = ConstrainedRBM(4, hidden="gaussian", learning_rate=10.0, optimizer="sgd",
    ...                      n_iter=50, random_state=0)
    >>> try:
    ...     rbm.fit(X)
    ... except DivergenceError as exc:
    ...     print("learning_rate" in str(exc), hasattr(rbm, "components_"))
    True False
    """


def runaway_limit(dtype):
    """Largest magnitude a trained parameter or chain value may reach (see DivergenceError)."""
    return float(np.finfo(dtype).max) ** 0.25


def canonical_rows(X, w=None, extra=None):
    """Collapse duplicated rows into unique rows with summed weights, in a canonical order.

    Returns ``(Xu, wu, extra_u)``.  Training depends on the data only through this canonical
    weighted form, so fitting with integer ``sample_weight`` is exactly equivalent to fitting
    on the correspondingly repeated (or removed) rows, and row order does not matter.
    ``extra`` (n, k) columns (labels) are kept aligned and take part in the uniqueness key.

    Rows are ordered by the CRC-32 of their bytes (one pass over the data, no copy; a
    lexicographic sort of 20,000 x 784 images takes seconds), rows with the same checksum
    by their bytes, so the order depends on the set of rows only.
    """
    n = X.shape[0]
    w = np.ones(n, dtype=np.float64) if w is None else np.asarray(w, dtype=np.float64)
    keep = np.flatnonzero(w > 0)
    X = np.ascontiguousarray(X)
    E = None if extra is None else np.ascontiguousarray(extra, dtype=X.dtype)
    zero = X.dtype.type(0.0)
    if np.any(np.signbit(X) & (X == zero)):  # -0.0 and 0.0: equal values, equal bytes
        X = X + zero
    if E is not None and np.any(np.signbit(E) & (E == zero)):
        E = E + zero
    if E is None:
        crc = np.fromiter((zlib.crc32(X[i]) for i in keep), dtype=np.int64, count=len(keep))
    else:
        crc = np.fromiter((zlib.crc32(E[i], zlib.crc32(X[i])) for i in keep),
                          dtype=np.int64, count=len(keep))
    order = keep[np.argsort(crc, kind="stable")]
    c = np.sort(crc, kind="stable")
    new_row = np.ones(len(order), dtype=bool)
    starts = np.flatnonzero(np.r_[True, c[1:] != c[:-1]])
    ends = np.r_[starts[1:], len(c)]
    for a, b in zip(starts, ends):
        if b - a == 1:
            continue
        # equal checksums: duplicates (or, rarely, distinct rows), ordered by their bytes
        rows = order[a:b]
        key = [X[i].tobytes() + (b"" if E is None else E[i].tobytes()) for i in rows]
        srt = sorted(range(b - a), key=key.__getitem__)
        order[a:b] = rows[srt]
        new_row[a + 1:b] = [key[srt[j]] != key[srt[j - 1]] for j in range(1, b - a)]
    group = np.cumsum(new_row) - 1
    first = order[new_row]
    wu = np.bincount(group, weights=w[order], minlength=len(first))
    eu = None if E is None else E[first]
    return X[first], wu, eu


class PCDTrainer:
    """State and update rule of PCD training for an :class:`~skrbm._rbm.RBM`.

    The trainer owns everything needed to continue training exactly where it stopped:
    persistent chains, optimizer moments, centering offsets and the update counter.
    """

    def __init__(self, *, learning_rate, batch_size, n_gibbs_steps, optimizer, l1, l2, l1l2,
                 center, n_chains=None, constraint=None, rescale_hidden=False, betas=None):
        self.learning_rate = learning_rate
        self.batch_size = batch_size
        self.n_gibbs_steps = n_gibbs_steps
        self.optimizer = optimizer
        self.l1 = l1
        self.l2 = l2
        self.l1l2 = l1l2
        self.center = center
        self.n_chains = n_chains
        self.constraint = constraint
        self.rescale_hidden = rescale_hidden
        # inverse temperatures of the parallel-tempering ladder of every persistent chain
        # (increasing, ending at 1), or None for plain PCD
        self.betas = None if betas is None else np.asarray(betas, dtype=np.float64)
        self.ladder = None  # (K, n_chains, N) replicas when tempering
        self.swap_counts = None  # swaps accepted and proposed per pair of replicas
        self.chains = None
        # hidden state of the chains, drawn from P(h | chains) in the last update's
        # negative phase (None: draw it afresh)
        self.chain_hidden = None
        self.opt_state = {}
        self.hidden_offset = None
        self.visible_offset = None
        self.n_updates = 0
        self.rng = None
        self.timers = None
        self._work = {}  # scratch arrays of the update (rebuilt, never pickled or shared)

    def __getstate__(self):
        state = dict(self.__dict__)
        state["_work"] = {}
        return state

    def __setstate__(self, state):
        # trainers pickled by older versions have neither attribute
        state.setdefault("_work", {})
        state.setdefault("chain_hidden", None)
        state.setdefault("betas", None)
        state.setdefault("ladder", None)
        state.setdefault("swap_counts", None)
        self.__dict__.update(state)

    def copy(self):
        """Copy of the mutable training state (the constraint, immutable, is shared)."""
        import copy

        new = copy.copy(self)  # through __getstate__: a scratch space of its own
        new.chains = None if self.chains is None else self.chains.copy()
        new.chain_hidden = None if self.chain_hidden is None else self.chain_hidden.copy()
        new.ladder = None if self.ladder is None else self.ladder.copy()
        new.swap_counts = None if self.swap_counts is None else self.swap_counts.copy()
        new.opt_state = _copy_state(self.opt_state)
        new.rng = copy.deepcopy(self.rng)
        return new

    # ------------------------------------------------------------------------------
    def initialise_chains(self, rbm, rng, start=None):
        """New persistent chains: ``start`` (rows in the model's representation) or draws
        of the independent-site model; every replica of a ladder starts there too."""
        n = self.n_chains or self.batch_size
        if start is None:
            self.chains = rbm.sample_independent_visible(n, rng)
        else:
            if len(start) < n:
                raise ValueError(f"{len(start)} starting rows for {n} persistent chains.")
            self.chains = np.array(start[:n], dtype=rbm.dtype, order="C")  # a copy
        self.chain_hidden = None
        self.ladder = None
        self.set_betas(self.betas)

    def set_betas(self, betas):
        """Change the tempering ladder (None: plain PCD) of an initialised trainer.

        A ladder of a new size starts with every replica at the current chains; the same
        size keeps the replicas' states under the new inverse temperatures.
        """
        self.betas = None if betas is None else np.asarray(betas, dtype=np.float64)
        if self.betas is None:
            self.ladder = self.swap_counts = None
            return
        K = len(self.betas)
        if self.ladder is None or self.ladder.shape[0] != K:
            self.ladder = np.repeat(self.chains[None], K, axis=0)
            self.chain_hidden = None  # the chains now start every update from v
        if self.swap_counts is None or self.swap_counts.shape != (2, K - 1):
            self.swap_counts = np.zeros((2, K - 1))  # accepted, proposed per pair

    def take_swap_rates(self):
        """Acceptance rate of swaps of each neighbouring pair since the last call (None
        without tempering; NaN for a pair with no proposal yet)."""
        if self.swap_counts is None:
            return None
        acc, prop = self.swap_counts
        with np.errstate(invalid="ignore", divide="ignore"):
            rates = acc / prop
        self.swap_counts[...] = 0.0
        return rates

    # ------------------------------------------------------------------------------
    def _advance_ladder(self, rbm):
        """Parallel tempering of the persistent chains (Desjardins et al. 2010).

        The replica at ``beta`` samples ``p_beta(v) ~ exp(-U_v(v) + Gamma_h(beta I(v)))``:
        only the couplings are tempered, so all replicas share the layers and the whole
        ladder, stacked as one ``(K * n, N)`` array, takes one matrix product per
        half-sweep.  Every replica makes ``n_gibbs_steps`` sweeps, then neighbouring
        replicas propose to swap (even pairs and odd pairs on alternate updates) with the
        Metropolis probability, from the hidden cgf alone (the ``U_v`` terms cancel).
        The chains of the update are the ``beta = 1`` replicas.
        """
        rng = self._rng
        K, n, N = self.ladder.shape
        flat = self.ladder.reshape(K * n, N)
        beta = np.repeat(self.betas.astype(rbm.dtype), n)[:, None]
        W = rbm.W
        I = flat @ W
        for _ in range(self.n_gibbs_steps):
            h = rbm.hidden.sample(I * beta, rng)
            flat[...] = rbm.visible.sample((h @ W.T) * beta, rng)
            I = flat @ W
        I = I.reshape(K, n, -1)
        ks = range(self.n_updates % 2, K - 1, 2)
        u = rng.random((len(ks), n))
        for j, k in enumerate(ks):  # pair by pair: temporaries of 4 n x M values
            lo, hi = I[k].astype(np.float64), I[k + 1].astype(np.float64)
            b0, b1 = self.betas[k], self.betas[k + 1]
            G = rbm.hidden.cgf(np.concatenate([b0 * lo, b1 * hi, b0 * hi, b1 * lo]))
            # log [p_b0(v_hi) p_b1(v_lo)] / [p_b0(v_lo) p_b1(v_hi)]
            log_r = (-G[:n] - G[n:2 * n]) + (G[2 * n:3 * n] + G[3 * n:])
            with np.errstate(divide="ignore"):
                a = np.log(u[j]) < log_r
            if a.any():
                self.ladder[k][a], self.ladder[k + 1][a] = (self.ladder[k + 1][a],
                                                            self.ladder[k][a])
            self.swap_counts[0, k] += a.sum()
            self.swap_counts[1, k] += n
        self.chains = self.ladder[-1].copy()  # not a view: chains_ may keep it

    def set_offsets(self, rbm, X, w, max_rows=2048):
        """Visible offset = weighted data mean; hidden offset starts at <h> on the data.

        The hidden offset is only a starting value (a running mean of <h>_data follows
        during training): it is computed on at most ``max_rows`` evenly spaced rows of
        the (canonically ordered) data rather than with a product over the whole set.
        """
        wn = (w / w.sum()).astype(rbm.dtype)  # same precision as X: a BLAS product
        self.visible_offset = (wn @ X).astype(rbm.dtype)
        rows = slice(None, None, max(1, -(-X.shape[0] // max_rows)))
        ws = wn[rows] / wn[rows].sum()
        self.hidden_offset = (ws @ rbm.hidden.mean(X[rows] @ rbm.W)).astype(rbm.dtype)

    # ------------------------------------------------------------------------------
    def gradient(self, rbm, vd, wd):
        """Log-likelihood ascent direction (dict) from a weighted data batch (wd sums to 1).

        Advances the persistent chains by ``n_gibbs_steps`` sweeps first.  The chains keep
        their hidden state between updates: the negative phase computes P(h | v) of the
        chains anyway (for the statistics), so the hidden configuration is drawn from it
        and the next update's first sweep starts at h -> v (the chain of Tieleman's PCD,
        with the parameters changing between the two half-sweeps, as in scikit-learn's
        BernoulliRBM): one matrix product and one conditional fewer per update.  With
        centering, the weight gradient is the centred one <(v-c)(h-d)>_data -
        <(v-c)(h-d)>_model (Melchior et al. 2016), computed from the same hidden means (no
        extra GEMM).
        """
        k = self.n_gibbs_steps
        if self.betas is not None and k > 0:
            self._advance_ladder(rbm)
            k = 0
        hid = self.chain_hidden
        if k > 0 and hid is not None and hid.shape[0] == self.chains.shape[0]:
            self.chains = rbm.sample_v(hid, self._rng)
            k -= 1
        self.chains, _ = rbm.gibbs(self.chains, k, self._rng)
        # with centering, dL/dW_centred = dL/dW - (dL/da) d^T - c (dL/db)^T, computed
        # inside the stacked GEMM of pcd_gradient (no outer products)
        offsets = self._centre_offsets if self.center else None
        grad, hd, hm, Im = rbm.pcd_gradient(vd, wd, self.chains, offsets, model_inputs=True,
                                            work=self._work)
        # the hidden state for the next update (none when another sampler moves the
        # chains: n_gibbs_steps = 0, or the tempered ladders, which start from v)
        self.chain_hidden = (rbm.hidden.sample_given_mean(Im, hm, self._rng)
                             if self.n_gibbs_steps > 0 and self.betas is None else None)
        W = rbm.W
        if self.l2:
            grad["W"] -= self.l2 * W
        if self.l1:
            grad["W"] -= self.l1 * np.sign(W)
        if self.l1l2:
            grad["W"] -= self.l1l2 * np.sign(W) * np.abs(W).mean(axis=0, keepdims=True)
        return grad

    def _centre_offsets(self, dh):
        """Centering offsets (c, d) of this update; d <- running mean of <h>_data (0.01)."""
        self.hidden_offset = (0.99 * self.hidden_offset + 0.01 * dh).astype(dh.dtype)
        return self.visible_offset, self.hidden_offset

    def _tick(self, phase, t0):
        """Accumulate the time since t0 under ``phase`` (only while timing)."""
        t1 = time.perf_counter()
        if self.timers is not None:
            self.timers[phase] = self.timers.get(phase, 0.0) + (t1 - t0)
        return t1

    def step(self, rbm, vd, wd):
        """One PCD update on a weighted batch (wd sums to one)."""
        t = time.perf_counter()
        grad = self.gradient(rbm, vd, wd)
        t = self._tick("gibbs+gradient", t)
        params = rbm.parameters()
        steps = {}
        lr = self.learning_rate
        if self.constraint is not None:
            grad["W"] = self.constraint.transform_gradient(rbm.W, grad["W"])
            t = self._tick("constraint", t)
        for k, g in grad.items():
            if self.optimizer == "adam":
                steps[k] = adam_update(params[k], g, self.opt_state, k, lr)
            else:
                s = lr * g
                params[k] += s
                steps[k] = s
        if self.center:
            # The optimizer moved the centred parameters; the plain fields pick up the
            # change of the offset terms: a = a_c - W d, b = b_c - W^T c.
            sW = steps["W"]
            rbm.visible.shift_field(-(sW @ self.hidden_offset))
            rbm.hidden.shift_field(-(self.visible_offset @ sW))
        t = self._tick("update", t)
        if self.constraint is not None:
            self.constraint.after_step(rbm)
            t = self._tick("constraint", t)
        if rbm.visible.name == "potts":
            self._potts_gauge(rbm)
        if self.rescale_hidden:
            scale = rescale_hidden_columns(rbm)
            if self.chain_hidden is not None:  # h' = s h: the same state, new units
                self.chain_hidden *= scale
        self.n_updates += 1

    @staticmethod
    def _potts_gauge(rbm):
        """Zero-sum gauge: remove per-site means of fields and weights, compensating the
        hidden fields so the model is unchanged."""
        lay = rbm.visible
        theta = lay.params["theta"].reshape(lay.n_units, lay.q)
        theta -= theta.mean(axis=1, keepdims=True)
        W3 = rbm.W.reshape(lay.n_units, lay.q, -1)
        mean = W3.mean(axis=1, keepdims=True)
        W3 -= mean
        rbm.hidden.shift_field(mean.sum(axis=(0, 1)))

    # ------------------------------------------------------------------------------
    def run_epochs(self, rbm, X, w, n_epochs, rng, *, name="RBM", on_epoch=None,
                   start_epoch=0, progress=False):
        """Run up to ``n_epochs`` passes over the canonical weighted data ``(X, w)``.

        ``on_epoch(epoch, seconds, phase_seconds)`` is called after every pass (epoch
        counted from ``start_epoch + 1``); returning True stops training early.  Returns
        the number of passes run.  ``progress`` shows a tqdm bar over minibatches (when
        tqdm is installed) and times the phases of each update.

        Raises DivergenceError (with the parameters, chains and optimizer state restored to
        their values at the start of the failing pass) when parameters or chains become
        non-finite.
        """
        self._rng = rng
        n = X.shape[0]
        wn = w / w.sum()
        bar = _progress_bar(progress, n_epochs * -(-n // self.batch_size), name)
        self.timers = {} if progress else None
        try:
            for epoch in range(n_epochs):
                t0 = time.perf_counter()
                if self.timers is not None:
                    self.timers.clear()
                # One backup per epoch (not per step, to keep the hot loop free of
                # copies); a cheap scalar finiteness check runs after every update.
                backup = (rbm.copy(), None if self.chains is None else self.chains.copy(),
                          _copy_state(self.opt_state), self.hidden_offset, self.n_updates,
                          None if self.ladder is None else self.ladder.copy())
                order = rng.permutation(n)
                for start in range(0, n, self.batch_size):
                    idx = order[start:start + self.batch_size]
                    wb = wn[idx]
                    # overflow is detected below and reported as a DivergenceError
                    with np.errstate(over="ignore", invalid="ignore"):
                        self.step(rbm, X[idx], (wb / wb.sum()).astype(rbm.dtype))
                    if bar is not None:
                        bar.update(1)
                    if not (np.isfinite(rbm.W.sum()) and np.isfinite(self.chains.sum())):
                        self._diverged(rbm, backup, name,
                                       f"the {_nonfinite(rbm, self.chains)} became "
                                       "non-finite", start_epoch + epoch + 1)
                # Once per epoch (amortised, O(parameters + chains), no GEMM): finite
                # but runaway parameters or chains, or a model that is no longer
                # normalisable, are a divergence too (they overflow in later arithmetic).
                bad = _runaway(rbm, self.chains if self.ladder is None else self.ladder)
                if bad is not None:
                    self._diverged(rbm, backup, name, bad, start_epoch + epoch + 1)
                phases = dict(self.timers) if self.timers is not None else {}
                if on_epoch is not None and on_epoch(start_epoch + epoch + 1,
                                                     time.perf_counter() - t0, phases):
                    return epoch + 1
            return n_epochs
        finally:
            if bar is not None:
                bar.close()
            self.timers = None

    def _diverged(self, rbm, backup, name, what, iteration):
        """Restore the state saved at the start of the epoch and raise DivergenceError."""
        update = self.n_updates
        (restored, self.chains, self.opt_state, self.hidden_offset, self.n_updates,
         self.ladder) = backup
        self.chain_hidden = None  # the restored chains draw a fresh hidden state
        rbm.visible, rbm.hidden, rbm.W = restored.visible, restored.hidden, restored.W
        raise DivergenceError(
            f"{name}: {what} at iteration {iteration} (update {update}); the parameters, "
            "chains and optimizer state were restored to their values at the start of "
            f"that iteration. Try a smaller learning_rate (now {self.learning_rate})."
        )


def _progress_bar(progress, total, name):
    if not progress:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc=name, unit="batch", leave=False)


def _copy_state(state):
    return {k: [v[0].copy(), v[1].copy(), v[2], np.empty_like(v[0])]
            for k, v in state.items()}


def _nonfinite(rbm, chains):
    for k, p in rbm.parameters().items():
        if not np.isfinite(p).all():
            return f"parameter {k!r}"
    if not np.isfinite(rbm.W).all():
        return "weights"
    if chains is not None and not np.isfinite(chains).all():
        return "persistent chains"
    return None


def _runaway(rbm, chains):
    """What diverged, if parameters or chains are finite but unusable (else None).

    O(parameters + chains) plus, for continuous models, a few matrix-vector products: cheap
    enough to run once per epoch.
    """
    limit = runaway_limit(rbm.dtype)
    for k, p in rbm.parameters().items():
        if p.size and not np.max(np.abs(p)) <= limit:
            return (f"parameter {k!r} reached magnitude {np.max(np.abs(p)):.3g}, beyond the "
                    f"{limit:.3g} up to which {rbm.dtype.name} arithmetic does not overflow")
    if chains is not None and chains.size and not np.max(np.abs(chains)) <= limit:
        return (f"the persistent chains reached magnitude {np.max(np.abs(chains)):.3g}, "
                f"beyond the {limit:.3g} up to which {rbm.dtype.name} arithmetic does not "
                "overflow")
    sigma = unbounded_direction_norm(rbm)
    if sigma > 1.0:
        return ("the model became non-normalisable (the weights outgrew the precisions of "
                f"the continuous units: ||D_v^-1/2 W D_h^-1/2||_2 >= {sigma:.3g} > 1, so "
                "the free energy is unbounded below)")
    return None


def _quadratic_coefficients(layer, lower):
    """Per-column coefficient c of the quadratic growth c x^2 (energy) or a^2 / c (cgf).

    Only for units on the whole real line: gaussian gamma, drelu the larger (``lower`` False)
    or smaller side; other unit types give None (no quadratic growth, or a half line).
    """
    p = layer.params
    if layer.name == "gaussian":
        return np.abs(p["gamma"]).astype(np.float64)
    if layer.name == "drelu":
        pick = np.minimum if lower else np.maximum
        return pick(np.abs(p["gamma_p"]), np.abs(p["gamma_n"])).astype(np.float64)
    return None


def unbounded_direction_norm(rbm, n_iter=30):
    """A lower bound of ||D_v^{-1/2} W_c D_h^{-1/2}||_2 (0 when it does not apply).

    The free energy grows like ``x^T (D_v - W_c D_h^{-1} W_c^T) x / 2`` along large visible
    states x, with D_v the largest quadratic coefficients of real-line visible units and
    D_h those of the gaussian/drelu hidden columns W_c (their cgf grows at least like
    a^2 / (2 D_h)); other hidden units grow at most linearly.  A value above 1 proves a
    direction along which the free energy is unbounded below: the model is not
    normalisable.  Power iteration from a fixed start gives a lower bound, so it never
    reports a normalisable model as such.
    """
    dv = _quadratic_coefficients(rbm.visible, lower=False)
    if dv is None:
        return 0.0
    cols, dh = [], []
    for lay, a, b in rbm.hidden.groups:
        c = _quadratic_coefficients(lay, lower=False)
        if c is not None:
            cols.append(np.arange(a, b))
            dh.append(c)
    if not cols:
        return 0.0
    cols = np.concatenate(cols)
    with np.errstate(all="ignore"):
        A = rbm.W[:, cols].astype(np.float64)
        A /= np.sqrt(dv)[:, None]
        A /= np.sqrt(np.concatenate(dh))[None, :]
        if not np.isfinite(A).all():
            return float("inf") if np.isnan(A).sum() == 0 else 0.0
        # fixed start (the trainer's generator is not touched: results stay reproducible)
        x = np.random.default_rng(0).standard_normal(A.shape[1])
        for _ in range(n_iter):
            nx = np.linalg.norm(x)
            if not nx > 0:
                return 0.0
            x = A.T @ (A @ (x / nx))
        nx = np.linalg.norm(x)
        return float(np.linalg.norm(A @ (x / nx))) if nx > 0 else 0.0  # ||A u||, ||u|| = 1


def rescale_hidden_columns(rbm):
    """Rescale each weight column of continuous hidden units to unit norm.

    h' = s h with s = ||W_mu|| leaves P(v) unchanged when the unit's potential is rewritten
    in h': theta -> theta / s, gamma -> gamma / s^2 (both sides for dReLU).  Returns the
    per-unit factors s (1 for discrete units), which map hidden states to the new scale.
    """
    scale = np.ones(rbm.hidden.size, dtype=rbm.dtype)
    for lay, a, b in rbm.hidden.groups:
        if not lay.continuous:
            continue
        s = np.sqrt((rbm.W[:, a:b] ** 2).sum(axis=0))
        s = np.where(s > 0, s, 1.0)
        rbm.W[:, a:b] /= s
        for p in lay.param_names:
            lay.params[p] /= s**2 if p.startswith("gamma") else s
        scale[a:b] = s
    return scale
