"""Two-dimensional Ising model: Monte Carlo samples, exact results and observables.

Convention (method.md section 6): periodic ``L x L`` lattice with ``N = L*L`` spins
``s_i = +-1`` and energy ``H = -sum_<ij> s_i s_j``, where the sum runs over the ``2N`` bonds
joining every site to its right and lower neighbour (for ``L = 2`` the two bonds joining a
pair of sites across the boundary are both counted). Per spin: ``u = <H>/N``,
``c = (<H^2> - <H>^2) / (N T^2)``, ``m = sum_i s_i / N``. Boltzmann's constant and the
coupling are 1, so ``beta = 1/T`` and ``Tc = 2 / ln(1 + sqrt 2)``.

Three public functions:

- :func:`make_ising` draws labelled configurations with Swendsen-Wang (default), Wolff or
  checkerboard Metropolis Monte Carlo, all vectorised over many independent chains;
- :func:`ising_exact` gives exact energy, heat capacity and free energy per spin, on the
  finite torus (Kaufman 1949) or on the infinite lattice (Onsager 1944, Yang 1952);
- :func:`ising_observables` estimates the usual observables from samples, with blocked
  jackknife standard errors.
"""

import math
import numbers

import numpy as np
from scipy import integrate
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import connected_components
from scipy.special import ellipe, ellipkm1
from sklearn.utils import Bunch, check_random_state

__all__ = ["make_ising", "ising_exact", "ising_observables", "ISING_TC"]

#: Critical temperature of the square-lattice Ising model, ``2 / ln(1 + sqrt 2)``.
ISING_TC = 2.0 / math.log1p(math.sqrt(2.0))

_SAMPLERS = ("swendsen_wang", "wolff", "metropolis")

# Defaults per sampler: (n_sweeps between stored samples, burn-in sweeps).
_DEFAULTS = {
    "swendsen_wang": (10, 100),
    "wolff": (5, 100),
    "metropolis": (20, 1000),
}
_DEFAULT_MAX_CHAINS = 100

# Above this beta (T < 0.025) every quantity equals its ground-state limit to double precision:
# the first excitations are suppressed by exp(-8 beta) < 1e-139.
_BETA_GROUND_STATE = 40.0


# --------------------------------------------------------------------------------------------
# argument checking
# --------------------------------------------------------------------------------------------


def _check_int(value, name, minimum, allow_none=False):
    if value is None and allow_none:
        return None
    ok = isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))
    if not ok or value < minimum:
        extra = " or None" if allow_none else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{extra}, got {value!r}.")
    return int(value)


def _check_temperature_scalar(value, name="temperature"):
    ok = isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
    if not ok or not (math.isfinite(value) and value > 0):
        raise ValueError(
            f"{name} must be a finite real number > 0 (in units of the coupling), "
            f"got {value!r}."
        )
    return float(value)


def _check_temperature_array(value, name="temperature"):
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a real number or an array of real numbers > 0, got {value!r}."
        ) from None
    if arr.size == 0 or not np.all(np.isfinite(arr)) or not np.all(arr > 0):
        raise ValueError(
            f"{name} must be finite and > 0 (in units of the coupling), got {value!r}."
        )
    return arr


def _check_L(L, allow_none=False):
    if L is None and allow_none:
        return None
    ok = isinstance(L, numbers.Integral) and not isinstance(L, (bool, np.bool_))
    if not ok or L < 2:
        what = "an integer >= 2, or None for the infinite lattice" if allow_none else (
            "an integer >= 2"
        )
        raise ValueError(f"L (the linear lattice size) must be {what}, got {L!r}.")
    return int(L)


# --------------------------------------------------------------------------------------------
# Monte Carlo
# --------------------------------------------------------------------------------------------


class _Lattice:
    """Flat site indices of ``n_chains`` independent periodic L x L lattices."""

    def __init__(self, L, n_chains):
        self.L = L
        self.n_chains = n_chains
        self.n_spins = L * L
        self.size = n_chains * L * L
        idx = np.arange(self.size).reshape(n_chains, L, L)
        # right and lower neighbour of every site, on the torus of its own chain
        self.right = np.roll(idx, -1, axis=2).ravel()
        self.down = np.roll(idx, -1, axis=1).ravel()
        left = np.roll(idx, 1, axis=2).ravel()
        up = np.roll(idx, 1, axis=1).ravel()
        self.neighbours = np.stack([self.right, left, self.down, up])
        # workspaces of the Wolff update
        self.in_cluster = np.zeros(self.size, dtype=bool)
        self.position = np.zeros(self.size, dtype=np.intp)


def _fk_clusters(spins, p_bond, lattice, rng):
    """Fortuin-Kasteleyn clusters of all chains at once.

    Every one of the 2N bonds per chain whose two spins are equal is activated with probability
    ``p_bond``; the clusters are the connected components of the resulting graph over all
    ``n_chains * N`` sites (no edge ever joins two chains). ``connected_components`` follows
    the wrap-around edges, which is why it is used and not ``scipy.ndimage.label``.
    """
    flat = spins.ravel()
    n = flat.size
    act_r = (flat == flat[lattice.right]) & (rng.random(n) < p_bond)
    act_d = (flat == flat[lattice.down]) & (rng.random(n) < p_bond)
    src_r = np.flatnonzero(act_r)
    src_d = np.flatnonzero(act_d)
    rows = np.concatenate([src_r, src_d])
    cols = np.concatenate([lattice.right[src_r], lattice.down[src_d]])
    graph = csr_matrix((np.ones(rows.size, dtype=np.int8), (rows, cols)), shape=(n, n))
    n_comp, labels = connected_components(graph, directed=False)
    return n_comp, labels


def _swendsen_wang_sweep(spins, p_bond, lattice, rng):
    """One Swendsen-Wang update of every chain: flip each FK cluster with probability 1/2."""
    n_comp, labels = _fk_clusters(spins, p_bond, lattice, rng)
    flip = rng.random(n_comp) < 0.5
    flat = spins.reshape(-1)
    flat[flip[labels]] *= -1


def _wolff_update(spins, p_bond, lattice, rng):
    """One single-cluster (Wolff) update in every chain; returns the flipped cluster sizes.

    The clusters of all chains grow at once, breadth first from one uniformly chosen seed per
    chain: every bond from a newly added site to an equal spin outside the cluster is tested
    once and activated with probability ``p_bond``. The work is proportional to the cluster
    sizes, and the number of vectorised steps to the largest cluster's depth.
    """
    flat = spins.reshape(-1)
    frontier = np.arange(lattice.n_chains) * lattice.n_spins + rng.integers(
        lattice.n_spins, size=lattice.n_chains
    )
    in_cluster = lattice.in_cluster  # all False on entry, reset before returning
    in_cluster[frontier] = True
    members = [frontier]
    while frontier.size:
        cand = lattice.neighbours[:, frontier]  # (4, n_frontier): one entry per bond
        cand = cand[(flat[cand] == flat[frontier]) & ~in_cluster[cand]]
        cand = cand[rng.random(cand.size) < p_bond]
        in_cluster[cand] = True
        # drop duplicates (a site reached through several bonds) without sorting
        order = np.arange(cand.size)
        lattice.position[cand] = order
        cand = cand[lattice.position[cand] == order]
        members.append(cand)
        frontier = cand
    cluster = np.concatenate(members)
    flat[cluster] *= -1
    in_cluster[cluster] = False
    return np.bincount(cluster // lattice.n_spins, minlength=lattice.n_chains)


def _colour_classes(L):
    """Partition of the L x L torus into sets of mutually non-adjacent sites.

    Checkerboard for even L. For odd L the checkerboard is broken by the periodic wrap; then
    ``colour(i, j) = f(i) + f(j) mod 3`` with ``f = 0, 1, 0, 1, ..., 0, 1, 2`` a proper
    3-colouring of the ring of L sites, so neighbours always differ.
    """
    if L % 2 == 0:
        f = np.arange(L) % 2
        n_colours = 2
    else:
        f = np.arange(L) % 2
        f[-1] = 2
        n_colours = 3
    colour = (f[:, None] + f[None, :]) % n_colours
    return [np.flatnonzero(colour.ravel() == c) for c in range(n_colours)]


def _metropolis_sweep(spins, beta, classes, rng):
    """One Metropolis sweep of every chain, one colour class (sublattice) at a time."""
    n_chains, L, _ = spins.shape
    flat = spins.reshape(n_chains, L * L)
    # acceptance probability indexed by (s_i * h_i + 4) / 2 in {0, ..., 4}, dE = 2 s_i h_i
    accept = np.minimum(1.0, np.exp(-2.0 * beta * np.arange(-4, 5, 2)))
    for sites in classes:
        field = (
            np.roll(spins, 1, axis=1)
            + np.roll(spins, -1, axis=1)
            + np.roll(spins, 1, axis=2)
            + np.roll(spins, -1, axis=2)
        ).reshape(n_chains, L * L)[:, sites]
        s = flat[:, sites]
        prob = accept[(s * field + 4) // 2]
        flip = rng.random(prob.shape) < prob
        flat[:, sites] = np.where(flip, -s, s)


class _Sampler:
    """Advance ``n_chains`` chains by whole sweeps with the chosen algorithm.

    A sweep is one Swendsen-Wang update, one Metropolis update of every site, or (Wolff) a
    fixed number of single-cluster updates chosen so that about N spins are flipped per chain
    (the number is ``round(N / mean cluster size)``, the mean being pooled over all chains
    during burn-in, and is kept fixed afterwards).
    """

    def __init__(self, name, L, beta, n_chains, rng):
        self.name = name
        self.beta = beta
        self.rng = rng
        self.lattice = _Lattice(L, n_chains)
        self.p_bond = -math.expm1(-2.0 * beta)
        self.wolff_per_sweep = None
        if name == "metropolis":
            self.classes = _colour_classes(L)

    def burn_in(self, spins, n_sweeps):
        if self.name != "wolff":
            self.sweeps(spins, n_sweeps)
            return
        n_spins, n_chains = self.lattice.n_spins, self.lattice.n_chains
        flipped, n_updates = 0, 0
        # at least one update, so that the mean cluster size is always estimated
        while n_updates == 0 or flipped < n_sweeps * n_spins * n_chains:
            flipped += int(_wolff_update(spins, self.p_bond, self.lattice, self.rng).sum())
            n_updates += 1
        mean_cluster = flipped / (n_updates * n_chains)
        self.wolff_per_sweep = max(1, round(n_spins / mean_cluster))

    def sweeps(self, spins, n_sweeps):
        for _ in range(n_sweeps):
            if self.name == "swendsen_wang":
                _swendsen_wang_sweep(spins, self.p_bond, self.lattice, self.rng)
            elif self.name == "metropolis":
                _metropolis_sweep(spins, self.beta, self.classes, self.rng)
            else:
                for _ in range(self.wolff_per_sweep):
                    _wolff_update(spins, self.p_bond, self.lattice, self.rng)


def make_ising(
    L,
    temperature,
    n_samples,
    *,
    sampler="swendsen_wang",
    n_sweeps=None,
    n_chains=None,
    burn_in=None,
    random_state=None,
):
    """Sample configurations of the periodic 2D Ising model, labelled by magnetisation sign.

    Configurations of the ``L x L`` torus with ``H = -sum_<ij> s_i s_j`` are drawn at
    ``temperature`` by Markov chain Monte Carlo. ``n_chains`` independent chains are run in
    parallel (vectorised): each is equilibrated for ``burn_in`` sweeps, then a configuration
    is stored after every further ``n_sweeps`` sweeps until ``n_samples`` are collected.

    Labels are exactly balanced: a random set of ``n_samples // 2`` rows is given label +1
    and the others -1, and every configuration with ``m != 0`` is globally flipped if needed
    so that ``sign(m)`` equals its label. The global flip is a symmetry of ``H``, so this
    does not bias the distribution of the configurations. A configuration with ``m = 0``
    (possible when ``L*L`` is even) keeps the label it was assigned, which is then a fair
    random label, and is itself flipped by a fair coin.

    Parameters
    ----------
    L : int
        Linear size of the lattice, ``L >= 2``; there are ``N = L*L`` spins.
    temperature : float
        Temperature ``T > 0`` in units of the coupling; the critical temperature is
        ``Tc = 2 / ln(1 + sqrt 2) = 2.269185...``.
    n_samples : int
        Number of configurations to return, ``>= 1``.
    sampler : {"swendsen_wang", "wolff", "metropolis"}, default="swendsen_wang"
        Monte Carlo algorithm.

        - ``"swendsen_wang"``: cluster algorithm, all chains updated at once through one
          sparse bond graph whose connected components are the clusters. Efficient at every
          temperature and in particular near ``Tc``.
        - ``"wolff"``: single-cluster algorithm, the clusters of all chains grown together;
          one sweep is ``round(N / <|C|>)`` cluster flips, ``<|C|>`` being the mean cluster
          size measured during burn-in, so that about N spins are flipped per sweep. Best
          near ``Tc``; slower per sweep at high temperature where clusters are small.
        - ``"metropolis"``: single-spin flips, vectorised by sublattice (checkerboard).
          Only suitable away from ``Tc``: its autocorrelation time grows like ``L^2.17``
          near ``Tc``.
    n_sweeps : int, default=None
        Sweeps between two stored configurations of the same chain, ``>= 1``. Defaults to 10
        for ``"swendsen_wang"``, 5 for ``"wolff"`` and 20 for ``"metropolis"``. At ``Tc``
        and ``L = 32`` the autocorrelation of the energy between stored samples is then
        about 0.06 (Swendsen-Wang, integrated time 3.7 sweeps) and 0.03 (Wolff); Metropolis
        reaches such values only away from ``Tc``.
    n_chains : int, default=None
        Number of independent chains, ``>= 1``; at most ``n_samples`` are run. Defaults to
        ``min(n_samples, 100)``.
    burn_in : int, default=None
        Sweeps discarded at the start of every chain, ``>= 0``. Defaults to 100 for
        ``"swendsen_wang"`` and ``"wolff"`` and 1000 for ``"metropolis"``. Chains start
        ordered (all spins equal, random sign) below ``Tc`` and from independent random
        spins at or above ``Tc``.
    random_state : int, RandomState instance or None, default=None
        Seed of the pseudo random numbers, for reproducible output across calls.

    Returns
    -------
    X : ndarray of shape (n_samples, L*L), dtype float64
        Spins in {-1, +1}; row-major flattening of the lattice (``X[i].reshape(L, L)``).
        Rows are grouped by chain: the samples of one chain are contiguous and in time
        order, so a blocking analysis over contiguous rows (as in
        :func:`ising_observables`) accounts for residual autocorrelation. Shuffle the rows
        before taking an ordered subset.
    y : ndarray of shape (n_samples,), dtype int64
        Label in {-1, +1}: ``sign(X[i].sum())`` when it is non-zero. Exactly
        ``n_samples // 2`` labels are +1.

    See Also
    --------
    ising_exact : Exact energy and heat capacity to compare samples against.
    ising_observables : Magnetisation, energy, heat capacity, susceptibility and Binder
        cumulant of samples, with standard errors.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm.datasets import make_ising
    >>> X, y = make_ising(8, 2.5, 200, random_state=0)
    >>> X.shape, y.shape
    ((200, 64), (200,))
    >>> int((y == 1).sum()), int((y == -1).sum())
    (100, 100)
    >>> bool(((X.sum(axis=1) == 0) | (np.sign(X.sum(axis=1)) == y)).all())
    True
    """
    L = _check_L(L)
    temperature = _check_temperature_scalar(temperature)
    n_samples = _check_int(n_samples, "n_samples", 1)
    if not isinstance(sampler, str) or sampler not in _SAMPLERS:
        raise ValueError(f"sampler must be one of {list(_SAMPLERS)}, got {sampler!r}.")
    default_sweeps, default_burn_in = _DEFAULTS[sampler]
    n_sweeps = _check_int(n_sweeps, "n_sweeps", 1, allow_none=True)
    n_sweeps = default_sweeps if n_sweeps is None else n_sweeps
    n_chains = _check_int(n_chains, "n_chains", 1, allow_none=True)
    n_chains = min(_DEFAULT_MAX_CHAINS if n_chains is None else n_chains, n_samples)
    burn_in = _check_int(burn_in, "burn_in", 0, allow_none=True)
    burn_in = default_burn_in if burn_in is None else burn_in
    random_state = check_random_state(random_state)
    rng = np.random.default_rng(random_state.randint(0, 2**32, size=4, dtype=np.uint64))

    beta = 1.0 / temperature
    if temperature < ISING_TC:
        signs = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_chains, 1, 1))
        spins = np.broadcast_to(signs, (n_chains, L, L)).copy()
    else:
        spins = rng.choice(np.array([-1, 1], dtype=np.int8), size=(n_chains, L, L))

    per_chain = -(-n_samples // n_chains)
    samples = np.empty((n_chains, per_chain, L * L), dtype=np.int8)
    mc = _Sampler(sampler, L, beta, n_chains, rng)
    mc.burn_in(spins, burn_in)
    for t in range(per_chain):
        mc.sweeps(spins, n_sweeps)
        samples[:, t, :] = spins.reshape(n_chains, L * L)
    X = samples.reshape(n_chains * per_chain, L * L)[:n_samples].astype(np.float64)

    # exact label balance through the global-flip symmetry
    y = -np.ones(n_samples, dtype=np.int64)
    y[rng.permutation(n_samples)[: n_samples // 2]] = 1
    sign_m = np.sign(X.sum(axis=1))
    flip = np.where(sign_m == 0, rng.choice([-1.0, 1.0], size=n_samples), y * sign_m)
    X *= flip[:, None]
    return X, y


# --------------------------------------------------------------------------------------------
# exact results
# --------------------------------------------------------------------------------------------


def _log_cosh2(x):
    """log(2 cosh x), d/dx, d2/dx2 without overflow."""
    a = np.abs(x)
    e = np.exp(-2.0 * a)
    return a + np.log1p(e), np.tanh(x), 4.0 * e / (1.0 + e) ** 2


def _log_sinh2(x):
    """log(2 sinh x), d/dx, d2/dx2 for x > 0 without overflow."""
    e = np.exp(-2.0 * x)
    return x + np.log1p(-e), (1.0 + e) / (1.0 - e), -4.0 * e / (1.0 - e) ** 2


def _sum_terms(x, x1, x2, fn):
    """Sum over the last axis of phi(x), and its first two derivatives w.r.t. beta."""
    phi, d1, d2 = fn(x)
    return phi.sum(-1), (d1 * x1).sum(-1), (d2 * x1**2 + d1 * x2).sum(-1)


def _kaufman(L, beta):
    """ln Z, d lnZ/d beta and d2 lnZ/d beta2 on the L x L torus (Kaufman 1949).

    Z = 1/2 (2 sinh 2b)^(N/2) (Z1 + Z2 + Z3 + Z4), with products over r = 0..L-1 of
    2cosh(L g_{2r+1}/2), 2sinh(L g_{2r+1}/2), 2cosh(L g_{2r}/2), 2sinh(L g_{2r}/2), where
    cosh g_k = cosh 2b coth 2b - cos(pi k / L) and g_0 = 2b + ln tanh b (negative above Tc,
    so that Z4 changes sign). Each Z_i is handled in log space with analytic derivatives of
    the g_k; the four are combined with signed weights and the second derivative is formed
    as a weighted sum of centred terms, so no large quantities cancel.
    """
    b = np.asarray(beta, dtype=np.float64)[:, None]
    N = L * L
    s = np.sinh(2.0 * b)
    ch = np.cosh(2.0 * b)

    # k = 1 .. 2L-1: cosh g_k = C_k = c(b) - cos(theta_k), with c(b) = s + 1/s.
    theta = np.pi * np.arange(1, 2 * L) / L
    cm1 = (s - 1.0) ** 2 / s + 2.0 * np.sin(theta / 2.0) ** 2  # C_k - 1, accurate near 0
    sinh_g = np.sqrt(cm1 * (cm1 + 2.0))
    g = np.log1p(cm1 + sinh_g)
    g1 = 2.0 * ch * (1.0 - 1.0 / s**2) / sinh_g  # g' = c'(b) / sinh g
    # g'' = (c'' sinh^2 g - cosh g c'^2) / sinh^3 g; expanded by hand into a polynomial in s,
    # 1/s and q = cos(theta), which avoids the cancellation of the two O(s) terms at low T
    r = 1.0 / s
    q = np.cos(theta)
    p6 = (
        2.0 + 6.0 * r**2 + 3.0 * r**4 + r**6
        - q * (1.0 + r**2) ** 2 * (s + 3.0 * r)
        + q**2 * (1.0 + r**2 + 2.0 * r**4)
    )
    g2 = 4.0 * s * p6 / sinh_g**3

    # k = 0 with its sign
    g0 = 2.0 * b + np.log(np.tanh(b))
    g0_1 = 2.0 + 2.0 / s
    g0_2 = -4.0 * ch / s**2

    half = L / 2.0
    x, x1, x2 = half * g, half * g1, half * g2
    odd = slice(0, None, 2)  # k = 1, 3, ..., 2L-1
    even = slice(1, None, 2)  # k = 2, 4, ..., 2L-2
    y0, y0_1, y0_2 = half * g0, half * g0_1, half * g0_2  # shape (nb, 1)

    l1 = _sum_terms(x[:, odd], x1[:, odd], x2[:, odd], _log_cosh2)
    l2 = _sum_terms(x[:, odd], x1[:, odd], x2[:, odd], _log_sinh2)
    l3 = _sum_terms(
        np.concatenate([y0, x[:, even]], axis=1),
        np.concatenate([y0_1, x1[:, even]], axis=1),
        np.concatenate([y0_2, x2[:, even]], axis=1),
        _log_cosh2,
    )
    lp = _sum_terms(x[:, even], x1[:, even], x2[:, even], _log_sinh2)  # Z4 without k = 0
    y0, y0_1, y0_2 = y0[:, 0], y0_1[:, 0], y0_2[:, 0]

    # Z4 = exp(lp) * 2 sinh(y0) = exp(lp + |y0|) * a0; a1, a2: scaled derivatives of 2sinh(y0)
    e0 = np.exp(-2.0 * np.abs(y0))
    a0 = np.sign(y0) * (1.0 - e0)
    a1 = (1.0 + e0) * y0_1
    a2 = a0 * y0_1**2 + (1.0 + e0) * y0_2

    logs = np.stack([l1[0], l2[0], l3[0], lp[0] + np.abs(y0)])
    top = logs.max(axis=0)
    w = np.exp(logs - top)  # magnitudes relative to the largest term
    v0 = np.stack([np.ones_like(a0)] * 3 + [a0])
    v1 = np.stack([l1[1], l2[1], l3[1], a1 + a0 * lp[1]])
    F = (w * v0).sum(axis=0)
    mu = (w * v1).sum(axis=0) / F  # d ln(Z1+Z2+Z3+Z4) / d beta
    dl = lp[1] - mu
    v2 = np.stack(
        [l1[2] + (l1[1] - mu) ** 2, l2[2] + (l2[1] - mu) ** 2, l3[2] + (l3[1] - mu) ** 2,
         a2 + 2.0 * a1 * dl + a0 * (lp[2] + dl**2)]
    )
    var = (w * v2).sum(axis=0) / F  # d2 ln(Z1+Z2+Z3+Z4) / d beta2

    s, b = s[:, 0], b[:, 0]
    log_2sinh = 2.0 * b + np.log1p(-np.exp(-4.0 * b))
    log_z = -math.log(2.0) + 0.5 * N * log_2sinh + top + np.log(F)
    d_log_z = N / np.tanh(2.0 * b) + mu
    d2_log_z = -2.0 * N / s**2 + var
    return log_z, d_log_z, d2_log_z


def _onsager_free_energy(beta):
    """-beta f of the infinite lattice (Onsager), by quadrature of the single-integral form."""
    out = np.empty_like(beta)
    for i, b in enumerate(beta):
        s = math.sinh(2.0 * b)
        k2 = (2.0 * s / (1.0 + s * s)) ** 2
        val, _ = integrate.quad(
            lambda phi: math.log(0.5 * (1.0 + math.sqrt(max(0.0, 1.0 - k2 * math.sin(phi) ** 2)))),
            0.0,
            0.5 * math.pi,
            epsabs=1e-14,
            epsrel=1e-13,
            limit=200,
        )
        out[i] = 2.0 * b + math.log1p(math.exp(-4.0 * b)) + val / math.pi
    return out


def _onsager(beta):
    b = beta
    s = np.sinh(2.0 * b)
    coth = 1.0 / np.tanh(2.0 * b)
    s2 = s * s
    kp = np.abs(s2 - 1.0) / (1.0 + s2)  # complementary modulus: 1 - k^2 = kp^2
    two_t2_m1 = (s2 - 1.0) / (s2 + 1.0)  # 2 tanh^2(2b) - 1
    one_m_t2 = 1.0 / (1.0 + s2)  # 1 - tanh^2(2b)
    # sinh(2 beta) = 1 exactly at Tc, but sinh of the float nearest 1/Tc lands within an
    # ulp or two of 1 depending on the libm; those temperatures are Tc to float precision
    at_tc = kp <= 4.0 * np.finfo(float).eps
    with np.errstate(divide="ignore", invalid="ignore"):
        K = ellipkm1(kp**2)  # K(k), argument 1 - k^2 for accuracy near Tc
        E = ellipe(1.0 - kp**2)
        u = -coth * (1.0 + (2.0 / np.pi) * two_t2_m1 * K)
        c = (4.0 / np.pi) * (b * coth) ** 2 * (
            K - E - one_m_t2 * (np.pi / 2.0 + two_t2_m1 * K)
        )
        m = np.where(s > 1.0, np.clip(1.0 - 1.0 / s2**2, 0.0, None) ** 0.125, 0.0)
    u = np.where(at_tc, -coth, u)
    c = np.where(at_tc, np.inf, c)
    minus_beta_f = _onsager_free_energy(b)
    return u, c, -minus_beta_f / b, m


def ising_exact(L, temperature):
    """Exact thermodynamics of the 2D Ising model on the L x L torus or the infinite lattice.

    For finite ``L`` the partition function of the periodic lattice is Kaufman's (1949)
    exact formula; the energy and heat capacity are its first and second derivatives in
    ``beta``, computed analytically in log space (absolute accuracy about 1e-13 for
    ``T <= 100``, tested against exact enumeration of ``L <= 4``). For
    ``L=None`` Onsager's infinite-lattice results are used, with Yang's spontaneous
    magnetisation.

    Parameters
    ----------
    L : int or None
        Linear lattice size ``L >= 2`` (``N = L*L`` spins, ``H = -sum_<ij> s_i s_j`` over
        ``2N`` bonds), or None for the infinite lattice.
    temperature : float or array-like of float
        Temperature(s) ``T > 0`` in units of the coupling. Below ``T = 0.025`` the
        ground-state limits (exact to double precision) are returned.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        With keys (floats for a scalar ``temperature``, else arrays of its shape):

        - ``temperature``, ``L``: the inputs;
        - ``u``: energy per spin ``<H>/N``;
        - ``c``: heat capacity per spin ``(<H^2> - <H>^2) / (N T^2)`` (``inf`` at ``Tc``
          for ``L=None``);
        - ``f``: free energy per spin ``-T ln Z / N``;
        - ``m`` (only for ``L=None``): spontaneous magnetisation
          ``(1 - sinh(2/T)^-4)^(1/8)`` below ``Tc``, 0 at and above.

    Examples
    --------
    >>> from skrbm.datasets import ising_exact
    >>> res = ising_exact(16, 2.0)
    >>> round(res.u, 6), round(res.c, 6)
    (-1.745531, 0.725509)
    >>> inf = ising_exact(None, [2.0, 3.0])
    >>> inf.u.round(6)
    array([-1.745565, -0.81731 ])
    >>> inf.m.round(6)
    array([0.911319, 0.      ])
    """
    L = _check_L(L, allow_none=True)
    T = _check_temperature_array(temperature)
    shape = T.shape
    T = T.ravel()
    beta = 1.0 / T
    cold = beta > _BETA_GROUND_STATE
    b = np.where(cold, _BETA_GROUND_STATE, beta)  # the cold entries are replaced below

    if L is None:
        u, c, f, m = _onsager(b)
        u = np.where(cold, -2.0, u)
        c = np.where(cold, 0.0, c)
        f = np.where(cold, -2.0, f)
        m = np.where(cold, 1.0, m)
    else:
        N = L * L
        log_z, d_log_z, d2_log_z = _kaufman(L, b)
        u = np.where(cold, -2.0, -d_log_z / N)
        c = np.where(cold, 0.0, b**2 * d2_log_z / N)
        # ground state: Z -> 2 exp(2 N beta)
        f = np.where(cold, -2.0 - T * math.log(2.0) / N, -T * log_z / N)

    # c is a variance: clip the rounding noise (about 1e-15) left where it is exponentially small
    c = np.maximum(c, 0.0)

    def shaped(a):
        a = np.asarray(a, dtype=np.float64).reshape(shape)
        return float(a) if a.ndim == 0 else a

    result = Bunch(temperature=shaped(T), L=L, u=shaped(u), c=shaped(c), f=shaped(f))
    if L is None:
        result.m = shaped(m)
    return result


# --------------------------------------------------------------------------------------------
# observables from samples
# --------------------------------------------------------------------------------------------


def ising_observables(X, temperature, *, L=None, n_blocks=None):
    """Thermodynamic observables of Ising samples, with jackknife standard errors.

    For each configuration ``m = sum s / N`` and ``e = H / N`` are computed on the periodic
    ``L x L`` lattice; then

    - ``abs_m = <|m|>``, ``m2 = <m^2>``;
    - ``u = <e>`` (energy per spin);
    - ``c = N var(e) / T^2`` (heat capacity per spin);
    - ``chi = N (<m^2> - <|m|>^2) / T`` (susceptibility per spin);
    - ``binder = 1 - <m^4> / (3 <m^2>^2)`` (Binder cumulant).

    Averages are plain sample means and ``var`` divides by ``n``. The standard errors come
    from a delete-one-block jackknife over ``n_blocks`` contiguous blocks of rows: with
    samples from :func:`make_ising`, whose rows are grouped by chain, blocks hold whole runs
    of one chain and the errors include the effect of residual autocorrelation.

    Parameters
    ----------
    X : array-like of shape (n_samples, L*L)
        Spin configurations with entries in {-1, +1}, row-major flattened, ``n_samples >= 2``.
    temperature : float
        Temperature ``T > 0`` at which the samples were drawn.
    L : int, default=None
        Linear lattice size; inferred as ``sqrt(n_features)`` when None.
    n_blocks : int, default=None
        Number of jackknife blocks, ``2 <= n_blocks``; at most ``n_samples`` are used.
        Defaults to ``min(n_samples, 50)``.

    Returns
    -------
    result : :class:`~sklearn.utils.Bunch`
        Keys ``abs_m``, ``m2``, ``u``, ``c``, ``chi``, ``binder`` (floats) and the standard
        error of each under the same name with suffix ``_se``; plus ``n_samples``, ``L``,
        ``n_blocks`` and ``temperature``.

    Examples
    --------
    >>> from skrbm.datasets import ising_exact, ising_observables, make_ising
    >>> X, _ = make_ising(8, 3.0, 500, random_state=0)
    >>> obs = ising_observables(X, 3.0)
    >>> sorted(k for k in obs if not k.endswith("_se"))  # doctest: +NORMALIZE_WHITESPACE
    ['L', 'abs_m', 'binder', 'c', 'chi', 'm2', 'n_blocks', 'n_samples', 'temperature', 'u']
    >>> bool(abs(obs.u - ising_exact(8, 3.0).u) < 4 * obs.u_se)
    True
    """
    temperature = _check_temperature_scalar(temperature)
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"X must be a 2-d array of shape (n_samples, L*L), got shape {X.shape}."
        )
    n, n_features = X.shape
    if n < 2:
        raise ValueError(f"X must have at least 2 samples (rows), got {n}.")
    if L is None:
        L = math.isqrt(n_features)
        if L * L != n_features or L < 2:
            raise ValueError(
                f"X has {n_features} columns, which is not L*L for an integer L >= 2; "
                "pass L explicitly or reshape the data."
            )
    else:
        L = _check_L(L)
        if L * L != n_features:
            raise ValueError(f"X must have L*L = {L * L} columns for L={L}, got {n_features}.")
    if not np.all((X == 1) | (X == -1)):
        raise ValueError("X must contain only spins -1 and +1.")
    n_blocks = _check_int(n_blocks, "n_blocks", 2, allow_none=True)
    n_blocks = min(50 if n_blocks is None else n_blocks, n)

    N = L * L
    S = X.reshape(n, L, L).astype(np.float64)
    m = S.sum(axis=(1, 2)) / N
    e = -(S * (np.roll(S, -1, axis=1) + np.roll(S, -1, axis=2))).sum(axis=(1, 2)) / N
    m2 = m * m
    # columns: e, e^2, |m|, m^2, m^4
    raw = np.stack([e, e * e, np.abs(m), m2, m2 * m2], axis=1)

    def derived(mean):
        e1, e2, am, mm2, mm4 = mean.T
        return {
            "abs_m": am,
            "m2": mm2,
            "u": e1,
            "c": N * (e2 - e1**2) / temperature**2,
            "chi": N * (mm2 - am**2) / temperature,
            "binder": 1.0 - mm4 / (3.0 * mm2**2),
        }

    block = (np.arange(n) * n_blocks) // n
    sums = np.zeros((n_blocks, raw.shape[1]))
    np.add.at(sums, block, raw)
    counts = np.bincount(block, minlength=n_blocks)[:, None]
    total = raw.sum(axis=0)
    full = derived(total[None, :] / n)
    with np.errstate(divide="ignore", invalid="ignore"):
        leave_out = derived((total[None, :] - sums) / (n - counts))
    result = Bunch()
    for key, value in full.items():
        reps = leave_out[key]
        se = np.sqrt((n_blocks - 1) / n_blocks * np.sum((reps - reps.mean()) ** 2))
        result[key] = float(value[0])
        result[key + "_se"] = float(se)
    result.update(n_samples=n, L=L, n_blocks=n_blocks, temperature=temperature)
    return result
