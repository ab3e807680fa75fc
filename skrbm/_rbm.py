"""The RBM core: energies, free energy, conditionals, Gibbs sampling, exact log Z,
pseudo-likelihood and the log-likelihood gradient, generic over unit types.

Energy (plain parametrisation)::

    E(v, h) = U_v(v) + U_h(h) - v^T W h
    F(v)    = U_v(v) - sum_mu Gamma_mu(I_mu(v)),   I(v) = v W
"""

import math

import numpy as np
from scipy.special import logsumexp

#: largest number of states enumerated by the exact methods
MAX_EXACT_STATES = 2**22


class RBM:
    """Parameters of an RBM: a visible layer, a hidden layer and the weights W (N x M).

    N and M are the internal sizes of the layers (Potts sites count q columns each).
    """

    def __init__(self, visible, hidden, W):
        self.visible = visible
        self.hidden = hidden
        self.W = W

    @property
    def dtype(self):
        return self.W.dtype

    def copy(self):
        return RBM(self.visible.copy(), self.hidden.copy(), self.W.copy())

    def astype(self, dtype):
        self.visible.astype(dtype)
        self.hidden.astype(dtype)
        self.W = self.W.astype(dtype)
        return self

    def parameters(self):
        """Flat dict of every parameter array (views, not copies)."""
        out = {"W": self.W}
        out.update({"visible." + k: v for k, v in self.visible.params.items()})
        out.update({"hidden." + k: v for k, v in self.hidden.params.items()})
        return out

    def all_finite(self):
        return all(np.isfinite(p).all() for p in self.parameters().values())

    # --- energies -----------------------------------------------------------------
    def inputs_h(self, v):
        return v @ self.W

    def inputs_v(self, h):
        return h @ self.W.T

    def energy(self, v, h):
        return self.visible.energy(v) + self.hidden.energy(h) - np.einsum(
            "ni,ni->n", v @ self.W, h)

    def free_energy(self, v):
        return self.visible.energy(v) - self.hidden.cgf(v @ self.W)

    def free_energy_h(self, h):
        """Free energy of hidden configurations (visible units summed out)."""
        return self.hidden.energy(h) - self.visible.cgf(h @ self.W.T)

    # --- sampling -----------------------------------------------------------------
    def sample_h(self, v, rng):
        return self.hidden.sample(v @ self.W, rng)

    def sample_v(self, h, rng):
        return self.visible.sample(h @ self.W.T, rng)

    def gibbs(self, v, n_steps, rng):
        """``n_steps`` alternating sweeps v -> h -> v; returns (v, h) of the last sweep."""
        h = None
        for _ in range(n_steps):
            h = self.sample_h(v, rng)
            v = self.sample_v(h, rng)
        return v, h

    def sample_independent_visible(self, n, rng):
        """Draws from the independent-site model of the visible fields (zero input)."""
        return self.visible.sample(np.zeros((n, self.visible.size), dtype=self.dtype), rng)

    # --- gradient statistics --------------------------------------------------------
    def stats_from_visible(self, v, w=None):
        """E[-dE/dparam] given visible configurations v (hidden units summed out).

        With ``w`` the per-row weights (summing to one; None = uniform). Returns a dict
        with keys "W", "visible.<p>", "hidden.<p>".
        """
        I = v @ self.W
        hm = self.hidden.mean(I)
        vw = v if w is None else v * w[:, None]
        gW = vw.T @ hm
        if w is None:
            gW /= v.shape[0]
        out = {"W": gW}
        out.update({"visible." + k: -g for k, g in self.visible.energy_grad(v, w).items()})
        out.update({"hidden." + k: g for k, g in self.hidden.cgf_grad(I, w).items()})
        return out

    def pcd_gradient(self, vd, wd, vm, offsets=None, model_inputs=False, work=None):
        """Log-likelihood ascent direction from a weighted data batch and model samples.

        The fused training path: data and chains share one GEMM for their hidden inputs
        (used by the weight, field and centering terms) and one stacked GEMM gives
        <v h>_data - <v h>_model, with signed row weights w (wd, then -1/n_chains).
        ``offsets``, when given, is called once as ``offsets(dh)`` with the weighted data
        mean of the hidden means and returns the centering offsets ``(c, d)``; the weight
        gradient is then the centred one <(v-c)(h-d)>_data - <(v-c)(h-d)>_model (Melchior
        et al. 2016), folded into the same GEMM by one extra row: sum_n v_n r_n^T + c r^T
        with r_n = w_n (h_n - d) and r = -sum_n r_n (the weights sum to zero).
        Returns (grad dict, hidden means of data, of model), and the model's hidden inputs
        after them with ``model_inputs=True``.  ``work``, a dict owned by the caller, keeps
        the stacked rows, the hidden inputs and the weighted means between calls (the
        returned hidden inputs are then a view of that scratch space, valid until the
        next call): at batch 1000 fresh arrays cost ~5000 page faults (20 MB) per update.
        """
        W = self.W
        dtype = W.dtype
        nd, nm = vd.shape[0], vm.shape[0]
        n = nd + nm
        V = _scratch(work, "V", (n + 1, W.shape[0]), dtype)
        V[:nd] = vd
        V[nd:n] = vm
        I = np.matmul(V[:n], W, out=_scratch(work, "I", (n, W.shape[1]), dtype))
        H = self.hidden.mean(I)
        Id, Im, hd, hm = I[:nd], I[nd:], H[:nd], H[nd:]
        w = np.empty((n, 1), dtype=dtype)
        w[:nd, 0] = wd
        w[nd:] = -1.0 / nm
        R = _scratch(work, "R", (n + 1, H.shape[1]), dtype)
        if offsets is None:
            np.multiply(H, w, out=R[:n])
            gW = V[:n].T @ R[:n]
        else:
            c, d = offsets(wd @ hd)
            np.subtract(H, d, out=R[:n])
            R[:n] *= w
            np.sum(R[:n], axis=0, out=R[n])
            np.negative(R[n], out=R[n])
            V[n] = c
            gW = V.T @ R
        grad = {"W": gW}
        ed = self.visible.energy_grad(vd, wd)
        em = self.visible.energy_grad(vm)
        for k in ed:
            grad["visible." + k] = em[k] - ed[k]
        cd = self.hidden.cgf_grad(Id, wd, mean=hd)
        cm = self.hidden.cgf_grad(Im, mean=hm)
        for k in cd:
            grad["hidden." + k] = cd[k] - cm[k]
        if model_inputs:
            return grad, hd, hm, Im
        return grad, hd, hm

    def stats_from_hidden(self, h, w=None):
        """E[-dE/dparam] given hidden configurations h (visible units summed out)."""
        I = h @ self.W.T
        vm = self.visible.mean(I)
        vw = vm if w is None else vm * w[:, None]
        gW = vw.T @ h
        if w is None:
            gW /= h.shape[0]
        out = {"W": gW}
        out.update({"visible." + k: g for k, g in self.visible.cgf_grad(I, w).items()})
        out.update({"hidden." + k: -g for k, g in self.hidden.energy_grad(h, w).items()})
        return out

    # --- exact computations -----------------------------------------------------------
    def exact_route(self, max_states=MAX_EXACT_STATES):
        """Which layer to enumerate for exact computations: "visible", "hidden" or "gaussian"."""
        nv, nh = self.visible.n_states, self.hidden.n_states
        if min(nv, nh) <= max_states:
            return "visible" if nv <= nh else "hidden"
        if self.visible.name == "gaussian" and self.hidden.name == "gaussian":
            return "gaussian"
        raise ValueError(
            "Exact computation needs a discrete layer with at most "
            f"{max_states} states (2**{int(np.log2(max_states))}), or Gaussian visible and "
            f"hidden units; this model has visible {self.visible.describe()} "
            f"({nv:.3g} states) and hidden {self.hidden.describe()} ({nh:.3g} states). "
            "Use an approximate method instead."
        )

    def _enumerate(self, route, chunk=2**14):
        """Yield (states, -free_energy) chunks over the enumerated layer."""
        layer = self.visible if route == "visible" else self.hidden
        fe = self.free_energy if route == "visible" else self.free_energy_h
        states = layer.states().astype(self.dtype, copy=False)
        for start in range(0, len(states), chunk):
            s = states[start:start + chunk]
            yield s, -fe(s)

    def _gaussian_joint(self):
        """Precision matrix A and linear term b of the joint Gaussian of (v, h)."""
        N, M = self.W.shape
        gv = np.abs(self.visible.params["gamma"]).astype(np.float64)
        gh = np.abs(self.hidden.params["gamma"]).astype(np.float64)
        W = self.W.astype(np.float64)
        A = np.block([[np.diag(gv), -W], [-W.T, np.diag(gh)]])
        b = np.concatenate([self.visible.params["theta"], self.hidden.params["theta"]])
        return A, b.astype(np.float64)

    def _gaussian_moments(self):
        A, b = self._gaussian_joint()
        try:
            L = np.linalg.cholesky(A)
        except np.linalg.LinAlgError:
            raise ValueError(
                "The Gaussian-Gaussian RBM is not normalisable (its joint precision matrix "
                "is not positive definite: the weights are too large for the precisions)."
            ) from None
        cov = np.linalg.inv(A)
        mu = cov @ b
        return L, mu, cov

    def log_partition_exact(self, max_states=MAX_EXACT_STATES):
        route = self.exact_route(max_states)
        if route == "gaussian":
            L, mu, _ = self._gaussian_moments()
            A, b = self._gaussian_joint()
            n = A.shape[0]
            return float(0.5 * n * np.log(2 * np.pi) - np.log(np.diag(L)).sum()
                         + 0.5 * b @ mu)
        parts = [logsumexp(f) for _, f in self._enumerate(route)]
        return float(logsumexp(np.asarray(parts, dtype=np.float64)))

    def exact_model_stats(self, max_states=MAX_EXACT_STATES):
        """Exact model expectations E_model[-dE/dparam] (same keys as stats_from_visible)."""
        route = self.exact_route(max_states)
        if route == "gaussian":
            # The per-sample statistics are polynomials of degree <= 2 in v, so sigma points
            # matching the exact mean and covariance of v integrate them exactly.
            _, mu, cov = self._gaussian_moments()
            N = self.W.shape[0]
            Lv = np.linalg.cholesky(cov[:N, :N])
            pts = np.concatenate([mu[:N] + np.sqrt(N) * Lv.T, mu[:N] - np.sqrt(N) * Lv.T])
            w = np.full(2 * N, 1.0 / (2 * N))
            return self.stats_from_visible(pts.astype(self.dtype), w)
        logZ = self.log_partition_exact(max_states)
        stats_fn = self.stats_from_visible if route == "visible" else self.stats_from_hidden
        total = None
        for s, f in self._enumerate(route):
            p = np.exp(f - logZ)
            st = stats_fn(s, p / p.sum())
            mass = p.sum()
            if total is None:
                total = {k: mass * v for k, v in st.items()}
            else:
                for k, v in st.items():
                    total[k] += mass * v
        return total

    # --- pseudo-likelihood ------------------------------------------------------------
    def log_pseudolikelihood(self, v, chunk=256):
        """Exact log pseudo-likelihood per sample, sum over all visible sites.

        Discrete visible units: each site's conditional probability given all the others,
        by evaluating the free energy of every alternative state of the site.  Continuous
        visible units: the conditional log-density of each site, with the one-dimensional
        normaliser computed by adaptive Gauss-Legendre quadrature (see ``_continuous_pl``).
        """
        out = np.empty(v.shape[0], dtype=np.float64)
        for start in range(0, v.shape[0], chunk):
            vb = v[start:start + chunk]
            if self.visible.continuous:
                out[start:start + chunk] = self._continuous_pl(vb)
            else:
                out[start:start + chunk] = self._discrete_pl(vb)
        return out

    def _site_blocks(self):
        """(columns, states) per visible site: states is (n_states_site, len(columns))."""
        lay = self.visible
        if lay.name == "potts":
            eye = np.eye(lay.q, dtype=self.dtype)
            return [(np.arange(i * lay.q, (i + 1) * lay.q), eye) for i in range(lay.n_units)]
        st = np.asarray(lay.unit_states, dtype=self.dtype)[:, None]
        return [(np.array([i]), st) for i in range(lay.n_units)]

    def _discrete_pl(self, v):
        I = v @ self.W
        base_h = self.hidden.cgf(I)
        total = np.zeros(v.shape[0])
        blocks = self._site_blocks()
        # Group sites by their state set so each group is one vectorised computation.
        S = blocks[0][1]  # every site of a single-type visible layer has the same state set
        cols = np.stack([c for c, _ in blocks])  # (n_sites, width)
        Wc = self.W[cols]  # (n_sites, width, M)
        vc = v[:, cols]  # (n, n_sites, width)
        dU_site = self._site_energy(cols, S)  # (n_sites, n_states)
        cur_state = np.einsum("nkw,sw->nks", vc, S).argmax(axis=2)  # index of current state
        # -F for every alternative s of site k: -U_k(s) + U_k(cur) + hidden cgf at shifted input
        for k in range(cols.shape[0]):
            dv = S[None, :, :] - vc[:, k, None, :]  # (n, n_states, width)
            dI = np.einsum("nsw,wm->nsm", dv, Wc[k])
            n, ns = dv.shape[:2]
            Ish = (I[:, None, :] + dI).reshape(n * ns, -1)
            negF = (self.hidden.cgf(Ish).reshape(n, ns) - base_h[:, None]
                    - dU_site[k][None, :] + dU_site[k][cur_state[:, k]][:, None])
            total += negF[np.arange(n), cur_state[:, k]] - logsumexp(negF, axis=1)
        return total

    def _site_energy(self, cols, S):
        """Visible energy of each state of each site: (n_sites, n_states)."""
        theta = self.visible.params["theta"][cols]  # (n_sites, width)
        return -(theta @ S.T)

    def _continuous_pl(self, v, n_nodes=96):
        """Log conditional densities of continuous visible sites.

        log p(v_i | v_-i) = -F(v) - log int exp(-F(v with v_i = x)) dx.  The integrand is
        located by its Gaussian part: centre c and width s from the site's precision and
        input; the integral is taken by Gauss-Legendre quadrature on [c - 12 s', c + 12 s']
        where s' also accounts for the spread of the hidden contribution (and [0, ...) for
        ReLU units).  Accuracy is checked against scipy.integrate.quad in the tests.
        """
        lay = self.visible
        nodes, weights = np.polynomial.legendre.leggauss(n_nodes)
        negF0 = -self.free_energy(v)
        total = np.zeros(v.shape[0])
        I = v @ self.W
        for i in range(lay.n_units):
            xi = v[:, i]
            Ii = I - xi[:, None] * self.W[i]
            # conditional mean and spread of site i under the mean-field hidden input
            hm = self.hidden.mean(I)
            vis_in = hm @ self.W[i]
            one = np.zeros((v.shape[0], lay.size), dtype=v.dtype)
            one[:, i] = vis_in
            c = lay.mean(one)[:, i]
            s = np.sqrt(lay.var(one)[:, i]) + np.sqrt(np.abs(self.W[i]).sum() ** 2 + 1e-12)
            lo = c - 12 * s
            hi = c + 12 * s
            if lay.name == "relu":
                lo = np.maximum(lo, 0.0)
                hi = np.maximum(hi, lo + 1e-3)
            if lay.name == "drelu":  # the density has a kink at 0: one panel per side
                panels = [(lo, np.minimum(hi, 0.0)), (np.maximum(lo, 0.0), hi)]
            else:
                panels = [(lo, hi)]
            logint = np.full(v.shape[0], -np.inf)
            for a, b in panels:
                half = np.maximum((b - a) / 2, 0.0)
                x = (a + b)[:, None] / 2 + half[:, None] * nodes[None, :]  # (n, K)
                n, K = x.shape
                vv = np.repeat(v, K, axis=0)
                vv[:, i] = x.ravel()
                Ik = np.repeat(Ii, K, axis=0) + x.ravel()[:, None] * self.W[i]
                negF = (-lay.energy(vv) + self.hidden.cgf(Ik)).reshape(n, K)
                with np.errstate(divide="ignore"):
                    part = logsumexp(negF + np.log(weights)[None, :], axis=1) + np.log(half)
                logint = np.logaddexp(logint, part)
            total += negF0 - logint
        return total


def _scratch(work, name, shape, dtype):
    """Uninitialised array ``work[name]`` of this shape and dtype (kept in ``work`` for the
    next call; a fresh array when ``work`` is None)."""
    if work is None:
        return np.empty(shape, dtype=dtype)
    a = work.get(name)
    if a is None or a.shape != shape or a.dtype != dtype:
        a = work[name] = np.empty(shape, dtype=dtype)
    return a


def adam_update(param, grad, state, key, lr, beta1=0.9, beta2=0.999, eps=1e-8):
    """One in-place Adam ascent step on ``param``; returns the step taken.

    Moments and a work buffer are preallocated in ``state[key]`` and updated in place (no
    temporaries of the parameter's size).  The returned step lives in that buffer: use it
    before the next call.
    """
    st = state.get(key)
    if st is None:
        st = state[key] = [np.zeros_like(param), np.zeros_like(param), 0,
                           np.empty_like(param)]
    elif len(st) == 3:  # state saved by an older version: add the buffer
        st.append(np.empty_like(param))
    m, v, t, buf = st
    t += 1
    st[2] = t
    m *= beta1
    np.multiply(grad, 1 - beta1, out=buf)
    m += buf
    v *= beta2
    np.multiply(grad, grad, out=buf)
    buf *= 1 - beta2
    v += buf
    np.sqrt(v, out=buf)
    # Python floats (math.sqrt, not np.sqrt): a numpy float64 scalar would make float32
    # parameters take the slower float64 loops (NEP 50)
    buf += eps * math.sqrt(1 - beta2**t)
    np.divide(m, buf, out=buf)
    buf *= lr * math.sqrt(1 - beta2**t) / (1 - beta1**t)
    param += buf
    return buf
