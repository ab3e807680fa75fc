"""Sampling and partition-function estimation for an :class:`~skrbm._rbm.RBM`.

Everything here is generic over unit types: it only uses the layer interface (``cgf``,
``energy``, ``sample``, ``params``) and the RBM's weights.

Annealing path
--------------
AIS, reverse AIS and parallel tempering move along one path of joint distributions,
indexed by an inverse temperature ``beta`` in [0, 1]::

    E_beta(v, h) = (1 - beta) U_A(v) + beta U_v(v) + U_h(h) - beta v^T W h
    F_beta(v)    = (1 - beta) U_A(v) + beta U_v(v) - Gamma_h(beta I(v)),   I(v) = v W

``U_A`` is the energy of a *base* visible layer of the same unit type (by default a copy of
the RBM's own visible layer, i.e. the independent-site model of the visible fields; or fields
fitted to data with :func:`base_from_data`).  The hidden potential ``U_h`` is kept all along,
so at ``beta = 0`` visible and hidden units are independent and
``log Z_0 = log Z_A + log Z_h`` is exact (``cgf`` of each layer at zero input).  At
``beta = 1`` the path is the RBM.  Because every energy is linear in the linear fields and in
the precisions ``|gamma|``, ``(1 - beta) U_A + beta U_v`` is the energy of a layer of the same
type whose parameters are ``(1 - beta) p_A + beta p_v`` (precisions interpolated as
``(1 - beta) |gamma_A| + beta |gamma_v|``, so they stay positive).  A Gibbs sweep of
``p_beta`` is therefore ``h ~ hidden(beta I(v))`` then ``v ~ layer_beta(beta W h)``.  For
Gaussian visible units the intermediate models are normalisable whenever the base and the
RBM are (the visible Schur complement is a convex combination of positive-definite terms).

Reproducibility
---------------
Chains (or AIS particles, or tempering ladders) are split into fixed blocks of ``block``
(default 64) with one seed per block, drawn before dispatch from ``random_state``; each block
runs with BLAS limited to one thread.  Results are therefore bitwise identical for any
``n_jobs``.  Log-weights are accumulated in float64 also for float32 models.
"""

import math
import numbers
import os
import sys
import warnings
from dataclasses import dataclass, field
from typing import NamedTuple, Optional

import numpy as np
from joblib import effective_n_jobs
from scipy.special import logsumexp
from sklearn.utils import check_random_state
from sklearn.utils.parallel import Parallel, delayed
from threadpoolctl import threadpool_limits

from ._rbm import MAX_EXACT_STATES

__all__ = [
    "LogZEstimate",
    "LogLikelihood",
    "PTResult",
    "ais_betas",
    "ais_log_partition",
    "base_from_data",
    "log_likelihood",
    "log_partition",
    "parallel_tempering",
    "rais_log_partition",
    "run_chains",
]

#: chains per independently seeded block
DEFAULT_BLOCK = 64
#: AIS / RAIS defaults (see :func:`ais_log_partition` for how they were chosen)
DEFAULT_AIS_CHAINS = 256
DEFAULT_AIS_BETAS = 10000


# --------------------------------------------------------------------------------------
# Result objects
# --------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class LogZEstimate:
    """An estimate of the log partition function.

    Attributes
    ----------
    value : float
        The estimate of log Z.  Exact for ``method="exact"``; for AIS
        ``log Z_0 + log mean(exp(log_weights))`` (consistent, a stochastic lower bound: its
        expectation is below log Z); for RAIS ``log Z_0 - log mean(exp(log_weights))`` (a
        stochastic upper bound when the chains start from exact model samples).
    stderr : float
        Standard error of ``value`` over the chains (delta method:
        ``std(w) / (sqrt(n) mean(w))``); 0 for the exact value.
    method : str
        ``"exact"``, ``"ais"`` or ``"rais"``.
    log_weights : ndarray of shape (n_chains,) or None
        Float64 log importance weights of the chains (AIS: estimates of Z / Z_0; RAIS:
        estimates of Z_0 / Z).
    bound : float or None
        The more conservative bound from the mean of the log-weights (``log Z_0 +
        mean(log_weights)`` for AIS, ``log Z_0 - mean(log_weights)`` for RAIS).  Its gap
        to log Z is the KL divergence between the forward and backward annealing
        processes.  When that gap exceeds the noise (short schedules: 1000 inverse
        temperatures on the digits model of :func:`ais_log_partition`, gap ~0.1 nat)
        ``ais.bound <= log Z <= rais.bound`` holds in (nearly) every run; with long
        schedules the gap (~0.01 nat at 10000) is comparable to the noise.  ``value``
        is the accurate estimate, but its Jensen bias (~var(log w) / 2n) is far below its
        noise, so AIS and RAIS values do not order reliably in a single run.
    log_z0 : float or None
        Exact log partition function of the base (``beta = 0``) model.
    """

    value: float
    stderr: float
    method: str
    log_weights: Optional[np.ndarray] = field(default=None, repr=False)
    bound: Optional[float] = None
    log_z0: Optional[float] = None

    def __float__(self):
        return float(self.value)


class LogLikelihood(NamedTuple):
    """Per-sample log-likelihoods with the uncertainty of log Z they share.

    Attributes
    ----------
    values : ndarray of shape (n_samples,)
        ``-F(v) - log Z`` per sample (float64).
    stderr : float
        Standard error of log Z (common to every sample; 0 when exact).
    log_partition : LogZEstimate
        The log Z estimate used.
    """

    values: np.ndarray
    stderr: float
    log_partition: LogZEstimate


class PTResult(NamedTuple):
    """Output of :func:`parallel_tempering`.

    Attributes
    ----------
    samples : ndarray of shape (n_samples, n_visible_columns)
        Visible configurations of the ``beta = 1`` replicas (internal representation).
    acceptance_rates : ndarray of shape (n_temperatures - 1,)
        Fraction of accepted swaps between replicas ``k`` and ``k + 1``.
    betas : ndarray of shape (n_temperatures,)
        The inverse-temperature ladder (increasing, ending at 1).
    """

    samples: np.ndarray
    acceptance_rates: np.ndarray
    betas: np.ndarray


# --------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------


def _is_precision(key):
    return key.split(".")[-1].startswith("gamma")


def _check_int(name, value, minimum):
    if not isinstance(value, numbers.Integral) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


def _as_internal(rbm, X, name="X"):
    """Data in the RBM's internal representation (encodes user-form Potts data)."""
    X = np.asarray(X)
    if X.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array, got shape {X.shape}.")
    lay = rbm.visible
    if X.shape[1] != lay.size:
        if X.shape[1] == lay.n_units:
            lay.validate(X, where=name)
            X = lay.encode(X)
        else:
            raise ValueError(
                f"{name} has {X.shape[1]} columns but the visible layer has {lay.n_units} "
                f"units ({lay.size} internal columns).")
    return np.ascontiguousarray(X, dtype=rbm.dtype)


def _check_base(rbm, base):
    if base is None:
        return rbm.visible.copy()
    vp = rbm.visible.params
    bp = getattr(base, "params", None)
    if type(base) is not type(rbm.visible) or set(vp) != set(bp) or any(
            bp[k].shape != vp[k].shape for k in vp):
        desc = base.describe() if hasattr(base, "describe") else repr(base)
        raise ValueError(
            f"base must be a layer of the same type and size as the visible layer "
            f"({rbm.visible.describe()}), got {desc}.")
    return base.copy().astype(rbm.dtype)


def _check_betas(betas):
    betas = np.asarray(betas, dtype=np.float64)
    if betas.ndim != 1 or len(betas) < 2 or betas[0] != 0.0 or betas[-1] != 1.0 \
            or np.any(np.diff(betas) <= 0):
        raise ValueError("betas must be an increasing 1-D array from 0 to 1 (at least 2 "
                         "values).")
    return betas


def _seeds(random_state, n_blocks):
    rng = check_random_state(random_state)
    return rng, rng.randint(np.iinfo(np.int32).max, size=n_blocks)


def _blocks(n, block):
    return [(a, min(n, a + block)) for a in range(0, n, block)]


def _single_thread(fn, *args):
    with threadpool_limits(limits=1):
        return fn(*args)


def _run_blocks(fn, tasks, n_jobs):
    """Run ``fn(*task)`` for every task, in order, each with single-threaded BLAS."""
    n_jobs = max(1, min(effective_n_jobs(n_jobs), len(tasks)))
    return Parallel(n_jobs=n_jobs)(delayed(_single_thread)(fn, *t) for t in tasks)


def _logmeanexp(a):
    return float(logsumexp(a) - math.log(len(a)))


def _log_mean_stderr(logw):
    """Standard error of log(mean(exp(logw))) by the delta method."""
    n = len(logw)
    if n < 2:
        return float("inf")
    w = np.exp(logw - logw.max())
    m = w.mean()
    return float(w.std(ddof=1) / (math.sqrt(n) * m))


def _zeros(layer, dtype=np.float64):
    return np.zeros((1, layer.size), dtype=dtype)


class _Path:
    """The annealing path between a base visible layer and the RBM (module docstring).

    Holds a scratch layer that is overwritten with interpolated parameters, so every block
    of chains builds its own (no state is shared between threads or processes).
    """

    def __init__(self, rbm, base):
        self.rbm = rbm
        self.base = base
        self.target = rbm.visible
        self.hidden = rbm.hidden
        self.W = rbm.W
        self.W64 = rbm.W.astype(np.float64)
        self.dtype = rbm.dtype
        self.layer = rbm.visible.copy()  # scratch layer holding interpolated parameters
        self._a, self._d = {}, {}
        for k, p in rbm.visible.params.items():
            a = np.asarray(base.params[k], dtype=np.float64)
            b = np.asarray(p, dtype=np.float64)
            if _is_precision(k):
                a, b = np.abs(a), np.abs(b)
            self._a[k], self._d[k] = a, b - a
        self._beta = None

    def log_z0(self):
        return float(self.base.cgf(_zeros(self.base))[0]
                     + self.hidden.cgf(_zeros(self.hidden))[0])

    def visible_at(self, beta):
        if beta == 1.0:
            return self.target
        if beta == 0.0:
            return self.base
        if beta != self._beta:
            for k, arr in self.layer.params.items():
                arr[...] = self._a[k] + beta * self._d[k]
            self._beta = beta
        return self.layer

    def terms(self, v):
        """(U_A(v), U_A(v) - U_v(v), I(v)) in float64.

        F_beta(v) = U_A - beta (U_A - U_v) - Gamma_h(beta I).
        """
        v64 = v.astype(np.float64, copy=False)
        U_A = self.base.energy(v64)
        return U_A, U_A - self.target.energy(v64), v64 @ self.W64

    def free_energy(self, beta, U_A, dU, I):
        return U_A - beta * dU - self.hidden.cgf(beta * I)

    def sweep(self, beta, I, rng):
        """One Gibbs sweep of p_beta from a state with hidden inputs I (float64)."""
        h = self.hidden.sample((beta * I).astype(self.dtype), rng)
        return self.visible_at(beta).sample(beta * (h @ self.W.T), rng)

    def sample_base(self, n, rng):
        return self.base.sample(np.zeros((n, self.base.size), dtype=self.dtype), rng)


# --------------------------------------------------------------------------------------
# Independent Gibbs chains
# --------------------------------------------------------------------------------------


def _chain_block(rbm, v, n, n_steps, seed):
    gen = np.random.default_rng(seed)
    if v is None:
        v = rbm.sample_independent_visible(n, gen)
    v, _ = rbm.gibbs(v, n_steps, gen)
    return v


def _initial_states(rbm, v0, n_chains):
    if v0 is None:
        return None
    v0 = _as_internal(rbm, v0, "v0")
    if v0.shape[0] == 1 and n_chains > 1:
        v0 = np.repeat(v0, n_chains, axis=0)
    if v0.shape[0] != n_chains:
        raise ValueError(f"v0 has {v0.shape[0]} rows; expected 1 or n_chains={n_chains}.")
    return v0


def run_chains(rbm, n_chains, n_steps, *, v0=None, n_jobs=None, random_state=None,
               block=DEFAULT_BLOCK):
    """Run independent block-Gibbs chains of an RBM.

    Chains are split into fixed blocks of ``block`` chains; one seed per block is drawn from
    ``random_state`` before the blocks are dispatched with joblib, and every block runs with
    BLAS limited to one thread, so the result is bitwise identical for every ``n_jobs``.

    Parameters
    ----------
    rbm : RBM
        The model.
    n_chains : int
        Number of chains.
    n_steps : int
        Alternating sweeps v -> h -> v per chain (0 returns the initial states).
    v0 : array-like of shape (n_chains, n_visible) or (1, n_visible), default=None
        Initial visible states (internal or user representation; one row is broadcast).
        None draws them from the independent-site model of the visible fields.
    n_jobs : int, default=None
        Number of joblib workers (``None`` = 1 unless in a joblib context, -1 = all cores).
    random_state : int, RandomState instance or None, default=None
        Seeds the per-block generators.
    block : int, default=64
        Chains per seeded block (changing it changes the random streams).

    Returns
    -------
    v : ndarray of shape (n_chains, rbm.visible.size)
        Final visible states, internal representation, in the RBM's dtype.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import run_chains
    >>> rbm = RBM(Bernoulli(5), Bernoulli(3), np.full((5, 3), 0.5))
    >>> v = run_chains(rbm, 100, 10, random_state=0)
    >>> v.shape
    (100, 5)
    >>> bool((run_chains(rbm, 100, 10, random_state=0, n_jobs=2) == v).all())
    True
    """
    n_chains = _check_int("n_chains", n_chains, 1)
    n_steps = _check_int("n_steps", n_steps, 0)
    block = _check_int("block", block, 1)
    v0 = _initial_states(rbm, v0, n_chains)
    blocks = _blocks(n_chains, block)
    _, seeds = _seeds(random_state, len(blocks))
    tasks = [(rbm, None if v0 is None else v0[a:b], b - a, n_steps, s)
             for (a, b), s in zip(blocks, seeds)]
    return np.concatenate(_run_blocks(_chain_block, tasks, n_jobs), axis=0)


# --------------------------------------------------------------------------------------
# Annealed importance sampling
# --------------------------------------------------------------------------------------


def ais_betas(n_betas=DEFAULT_AIS_BETAS, schedule="sigmoid"):
    """Inverse temperatures of an annealing schedule, increasing from 0 to 1.

    Parameters
    ----------
    n_betas : int, default=10000
        Number of distributions, endpoints included.
    schedule : {"sigmoid", "linear"}, default="sigmoid"
        "sigmoid" places ``beta = sigmoid(s)`` for ``s`` evenly spaced in [-4, 4], rescaled to
        [0, 1] (Grosse et al. 2013), so the steps are smallest near both ends, where the
        free energies change fastest for models far from the base; "linear" is evenly
        spaced.

    Returns
    -------
    betas : ndarray of shape (n_betas,)

    Examples
    --------
    >>> from skrbm._sampling import ais_betas
    >>> b = ais_betas(5)
    >>> float(b[0]), float(b[-1]), bool((b[1:] > b[:-1]).all())
    (0.0, 1.0, True)
    """
    n_betas = _check_int("n_betas", n_betas, 2)
    if schedule == "linear":
        b = np.linspace(0.0, 1.0, n_betas)
    elif schedule == "sigmoid":
        s = 1.0 / (1.0 + np.exp(-np.linspace(-4.0, 4.0, n_betas)))
        b = (s - s[0]) / (s[-1] - s[0])
    else:
        raise ValueError(f"schedule must be 'sigmoid' or 'linear', got {schedule!r}.")
    b[0], b[-1] = 0.0, 1.0
    return b


def base_from_data(rbm, X, sample_weight=None):
    """A base visible layer with fields fitted to data (independent-site maximum likelihood).

    The annealing of :func:`ais_log_partition` starts much closer to a trained RBM from this
    base than from the RBM's own visible fields, which reduces the variance of the weights.

    Parameters
    ----------
    rbm : RBM
    X : array-like of shape (n_samples, n_visible)
        Data, internal or user representation.
    sample_weight : array-like of shape (n_samples,), default=None

    Returns
    -------
    base : Layer
        A copy of ``rbm.visible`` with parameters from ``init_from_data``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import base_from_data
    >>> rbm = RBM(Bernoulli(2), Bernoulli(1), np.zeros((2, 1)))
    >>> base = base_from_data(rbm, np.array([[1.0, 0.0], [1.0, 1.0]]))
    >>> np.round(base.params["theta"], 2)
    array([13.82,  0.  ])
    """
    X = _as_internal(rbm, X)
    w = None
    if sample_weight is not None:
        w = np.asarray(sample_weight, dtype=np.float64)
        w = w / w.sum()
    base = rbm.visible.copy()
    base.init_from_data(X, w)
    return base


def _ais_block(rbm, base, betas, n, seed):
    gen = np.random.default_rng(seed)
    path = _Path(rbm, base)
    v = path.sample_base(n, gen)
    logw = np.zeros(n)
    for k in range(1, len(betas)):
        b0, b1 = betas[k - 1], betas[k]
        _, dU, I = path.terms(v)
        # log f_{b1}(v) - log f_{b0}(v)
        logw += (b1 - b0) * dU + path.hidden.cgf(b1 * I) - path.hidden.cgf(b0 * I)
        if k < len(betas) - 1:
            v = path.sweep(b1, I, gen)
    return logw


def _rais_block(rbm, base, betas, v, n_burn, seed):
    gen = np.random.default_rng(seed)
    path = _Path(rbm, base)
    if n_burn:
        v, _ = path.rbm.gibbs(v, n_burn, gen)
    logw = np.zeros(v.shape[0])
    for k in range(len(betas) - 1, 0, -1):
        b0, b1 = betas[k - 1], betas[k]
        _, dU, I = path.terms(v)
        # log f_{b0}(v) - log f_{b1}(v)
        logw += (b0 - b1) * dU + path.hidden.cgf(b0 * I) - path.hidden.cgf(b1 * I)
        if k > 1:
            v = path.sweep(b0, I, gen)
    return logw


def _resolve_betas(betas, n_betas):
    return ais_betas(n_betas) if betas is None else _check_betas(betas)


def ais_log_partition(rbm, *, n_chains=DEFAULT_AIS_CHAINS, n_betas=DEFAULT_AIS_BETAS,
                      betas=None, base=None, n_jobs=None, random_state=None,
                      block=DEFAULT_BLOCK):
    """Estimate log Z by annealed importance sampling (AIS, Neal 2001).

    Particles start from the base model (independent visible sites of ``base`` and
    independent hidden units), and move along the path of the module docstring with one
    Gibbs sweep per inverse temperature; hidden units are summed out analytically in the
    weights.  The estimate is ``log Z_0 + log mean(w)``: ``mean(w)`` is unbiased for
    ``Z / Z_0``, so the estimate is a stochastic lower bound of log Z (Jensen).

    Defaults: 256 chains and 10000 inverse temperatures on a sigmoid schedule.  On a
    64 x 20 Bernoulli RBM trained on binarised digits (``ConstrainedRBM(20,
    learning_rate=0.01, n_iter=20)``), base = the RBM's own visible fields, this gives
    |AIS - exact| ~0.02 nat (stderr ~0.01; ~0.004 with :func:`base_from_data`) in 10-30 s
    on one core of a loaded 2-core machine (``tests/test_sampling.py``, slow tests);
    1000 inverse temperatures give stderr ~0.03 in a tenth of the time.  Time scales as
    n_chains x n_betas x (N x M + unit sampling); ``n_jobs`` runs blocks of 64 chains in
    parallel.

    Parameters
    ----------
    rbm : RBM
    n_chains : int, default=256
        Number of AIS particles.
    n_betas : int, default=10000
        Number of inverse temperatures (endpoints included); ignored if ``betas`` given.
    betas : array-like, default=None
        Explicit increasing schedule from 0 to 1 (see :func:`ais_betas`).
    base : Layer, default=None
        Base visible layer (same type as ``rbm.visible``); None uses the RBM's own visible
        fields.  :func:`base_from_data` gives a usually better base.
    n_jobs : int, default=None
        Joblib workers over blocks of chains (results do not depend on it).
    random_state : int, RandomState instance or None, default=None
    block : int, default=64
        Particles per seeded block.

    Returns
    -------
    LogZEstimate
        ``method="ais"``; ``bound = log Z_0 + mean(log w)`` is a more conservative lower
        bound.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import ais_log_partition
    >>> W = np.random.default_rng(0).normal(0, 0.3, (8, 4))
    >>> rbm = RBM(Bernoulli(8), Bernoulli(4), W)
    >>> est = ais_log_partition(rbm, n_chains=64, n_betas=200, random_state=0)
    >>> bool(abs(est.value - rbm.log_partition_exact()) < 0.05)
    True
    """
    n_chains = _check_int("n_chains", n_chains, 1)
    block = _check_int("block", block, 1)
    betas = _resolve_betas(betas, n_betas)
    base = _check_base(rbm, base)
    blocks = _blocks(n_chains, block)
    _, seeds = _seeds(random_state, len(blocks))
    tasks = [(rbm, base, betas, b - a, s) for (a, b), s in zip(blocks, seeds)]
    logw = np.concatenate(_run_blocks(_ais_block, tasks, n_jobs))
    z0 = _Path(rbm, base).log_z0()
    return LogZEstimate(value=z0 + _logmeanexp(logw), stderr=_log_mean_stderr(logw),
                        method="ais", log_weights=logw, bound=z0 + float(logw.mean()),
                        log_z0=z0)


def rais_log_partition(rbm, X, *, n_chains=DEFAULT_AIS_CHAINS, n_betas=DEFAULT_AIS_BETAS,
                       betas=None, n_burn=100, base=None, n_jobs=None, random_state=None,
                       block=DEFAULT_BLOCK):
    """Estimate log Z by reverse annealing from data (RAIS, Burda, Grosse and Salakhutdinov 2015).

    Each chain starts at a data row (drawn at random from ``X``), runs ``n_burn`` Gibbs sweeps
    of the RBM, then anneals from ``beta = 1`` down to 0 with one Gibbs sweep per inverse
    temperature, accumulating ``w = prod_k f_{k-1}(v_k) / f_k(v_k)``.  If the starting states
    are exact samples of the RBM, ``mean(w)`` is unbiased for ``Z_0 / Z`` and the estimate
    ``log Z_0 - log mean(w)`` is a stochastic upper bound of log Z, complementary to AIS.
    Starting from data (after a burn-in) makes that only approximate: the result is then
    the estimate of the annealed model that RAISE interprets as conservative.

    Parameters
    ----------
    rbm : RBM
    X : array-like of shape (n_samples, n_visible)
        Data, internal or user representation.
    n_chains : int, default=256
    n_betas : int, default=10000
    betas : array-like, default=None
    n_burn : int, default=100
        Gibbs sweeps at ``beta = 1`` from the data before annealing.
    base, n_jobs, random_state, block
        As in :func:`ais_log_partition`.

    Returns
    -------
    LogZEstimate
        ``method="rais"``; ``bound = log Z_0 - mean(log w)`` is a more conservative upper
        bound.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import rais_log_partition, run_chains
    >>> W = np.random.default_rng(0).normal(0, 0.3, (8, 4))
    >>> rbm = RBM(Bernoulli(8), Bernoulli(4), W)
    >>> X = run_chains(rbm, 64, 50, random_state=1)
    >>> est = rais_log_partition(rbm, X, n_chains=64, n_betas=200, random_state=0)
    >>> bool(abs(est.value - rbm.log_partition_exact()) < 0.05)
    True
    """
    n_chains = _check_int("n_chains", n_chains, 1)
    n_burn = _check_int("n_burn", n_burn, 0)
    block = _check_int("block", block, 1)
    X = _as_internal(rbm, X)
    if X.shape[0] == 0:
        raise ValueError("X has no rows.")
    betas = _resolve_betas(betas, n_betas)
    base = _check_base(rbm, base)
    blocks = _blocks(n_chains, block)
    rng, seeds = _seeds(random_state, len(blocks))
    idx = rng.choice(X.shape[0], n_chains, replace=n_chains > X.shape[0])
    v0 = X[idx]
    tasks = [(rbm, base, betas, v0[a:b], n_burn, s) for (a, b), s in zip(blocks, seeds)]
    logw = np.concatenate(_run_blocks(_rais_block, tasks, n_jobs))
    z0 = _Path(rbm, base).log_z0()
    return LogZEstimate(value=z0 - _logmeanexp(logw), stderr=_log_mean_stderr(logw),
                        method="rais", log_weights=logw, bound=z0 - float(logw.mean()),
                        log_z0=z0)


def _user_stacklevel():
    """``stacklevel`` for :func:`warnings.warn` pointing at the first caller outside skrbm.

    Call it from the function that warns: the public entry points reach the warning
    through different numbers of skrbm frames (``log_likelihood`` -> ``log_partition``,
    estimator methods...), and the warning should name the user's line in every case.
    """
    pkg = os.path.dirname(os.path.abspath(__file__)) + os.sep
    frame, level = sys._getframe(1), 1
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(pkg):
        frame, level = frame.f_back, level + 1
    return level


def _auto_method(rbm, max_states):
    """Resolve ``method="auto"``: "exact" when feasible, else "ais" with a UserWarning."""
    try:
        rbm.exact_route(max_states)
        return "exact"
    except ValueError:
        pass
    nv, nh = rbm.visible.n_states, rbm.hidden.n_states
    limit = f"max_states={max_states}"
    if max_states > 0 and 2 ** int(round(math.log2(max_states))) == max_states:
        limit += f" (2**{int(round(math.log2(max_states)))})"
    warnings.warn(
        f"method='auto': the log partition function cannot be computed exactly, since "
        f"enumeration needs a layer with at most {limit} states, and the visible layer "
        f"{rbm.visible.describe()} has {nv:.3g} states and the hidden layer "
        f"{rbm.hidden.describe()} has {nh:.3g} (the closed form needs both layers "
        f"Gaussian). Falling back to annealed importance sampling (AIS): the result is a "
        f"stochastic estimate with a standard error, not the exact value. Pass "
        f"method='ais' to silence this warning.",
        UserWarning, stacklevel=_user_stacklevel())
    return "ais"


def log_partition(rbm, method="auto", *, X=None, max_states=MAX_EXACT_STATES, **kwargs):
    """Log partition function: exact where feasible, else annealed importance sampling.

    Parameters
    ----------
    rbm : RBM
    method : {"auto", "exact", "ais", "rais"}, default="auto"
        "auto" is "exact" when ``rbm.exact_route(max_states)`` succeeds (a discrete layer
        with at most ``max_states`` configurations, or Gaussian-Gaussian), else "ais"
        with a ``UserWarning`` that names the numbers of states and the limit (pass
        ``method="ais"`` to choose the estimate explicitly and silence it).
    X : array-like, default=None
        Data for "rais" (required there).
    max_states : int, default=2**22
        Largest enumeration allowed for "exact"/"auto".
    **kwargs
        Passed to :func:`ais_log_partition` / :func:`rais_log_partition` (ignored when
        "auto" resolves to "exact"; an error with an explicit "exact").

    Returns
    -------
    LogZEstimate

    Warns
    -----
    UserWarning
        When ``method="auto"`` falls back to AIS because exact computation is infeasible.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import log_partition
    >>> rbm = RBM(Bernoulli(3), Bernoulli(2), np.zeros((3, 2)))
    >>> est = log_partition(rbm)
    >>> est.method, round(est.value, 6), est.stderr
    ('exact', 3.465736, 0.0)
    """
    if method not in ("auto", "exact", "ais", "rais"):
        raise ValueError(f"method must be one of 'auto', 'exact', 'ais', 'rais'; got {method!r}.")
    explicit = method
    if method == "auto":
        method = _auto_method(rbm, max_states)
    if method == "exact":
        if explicit == "exact" and kwargs:
            raise TypeError(f"method='exact' takes no sampling options, got {sorted(kwargs)}.")
        return LogZEstimate(value=rbm.log_partition_exact(max_states), stderr=0.0,
                            method="exact")
    if method == "ais":
        return ais_log_partition(rbm, **kwargs)
    if X is None:
        raise ValueError("method='rais' needs data X to start the reverse chains from.")
    return rais_log_partition(rbm, X, **kwargs)


def log_likelihood(rbm, V, method="auto", **kwargs):
    """Per-sample log-likelihood ``log P(v) = -F(v) - log Z``.

    Parameters
    ----------
    rbm : RBM
    V : array-like of shape (n_samples, n_visible)
        Visible configurations (internal or user representation).
    method : {"auto", "exact", "ais", "rais"}, default="auto"
        How log Z is obtained (see :func:`log_partition`; "rais" starts from ``V`` unless
        ``X`` is passed).  "auto" warns when it falls back to AIS.
    **kwargs
        Passed to :func:`log_partition`.

    Returns
    -------
    LogLikelihood
        ``values`` (float64), the ``stderr`` of log Z shared by all samples, and the
        :class:`LogZEstimate`.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Bernoulli
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import log_likelihood
    >>> rbm = RBM(Bernoulli(3), Bernoulli(2), np.zeros((3, 2)))
    >>> ll = log_likelihood(rbm, np.ones((2, 3)))
    >>> np.round(ll.values, 6), ll.stderr
    (array([-2.079442, -2.079442]), 0.0)
    """
    V = _as_internal(rbm, V, "V")
    if method == "rais" and kwargs.get("X") is None:
        kwargs["X"] = V
    est = log_partition(rbm, method, **kwargs)
    values = -rbm.free_energy(V).astype(np.float64) - est.value
    return LogLikelihood(values=values, stderr=est.stderr, log_partition=est)


# --------------------------------------------------------------------------------------
# Parallel tempering
# --------------------------------------------------------------------------------------


def _pt_block(rbm, base, betas, n, v0, n_sweeps, n_record, seed):
    gen = np.random.default_rng(seed)
    path = _Path(rbm, base)
    K = len(betas)
    if v0 is None:
        V = [path.sample_base(n, gen) for _ in range(K)]
    else:
        V = [v0.copy() for _ in range(K)]
    T = [path.terms(v) for v in V]  # (U_A, U_A - U_v, I) of every replica
    accepted = np.zeros(K - 1)
    attempted = np.zeros(K - 1)
    out = np.empty((n_record, n, path.target.size), dtype=path.dtype)
    rows = np.arange(n)
    for t in range(n_sweeps):
        # one Gibbs sweep of every replica at its own temperature
        for k in range(K):
            V[k] = path.sweep(betas[k], T[k][2], gen)
            T[k] = path.terms(V[k])
        # replica exchange between neighbours, even pairs then odd pairs alternately
        for k in range(t % 2, K - 1, 2):
            b0, b1 = betas[k], betas[k + 1]
            log_ratio = (path.free_energy(b0, *T[k]) + path.free_energy(b1, *T[k + 1])
                         - path.free_energy(b0, *T[k + 1]) - path.free_energy(b1, *T[k]))
            acc = np.log(gen.random(n)) < log_ratio
            attempted[k] += n
            accepted[k] += acc.sum()
            if acc.any():
                sw = rows[acc]
                for a, b in zip((V[k],) + T[k], (V[k + 1],) + T[k + 1]):
                    a[sw], b[sw] = b[sw], a[sw].copy()
        r = t - (n_sweeps - n_record)
        if r >= 0:
            out[r] = V[-1]
    return out, accepted, attempted


def parallel_tempering(rbm, n_samples, *, n_temperatures=10, betas=None, n_steps=100,
                       n_chains=None, v0=None, base=None, n_jobs=None, random_state=None,
                       block=DEFAULT_BLOCK):
    """Sample an RBM by parallel tempering (replica exchange).

    Each ladder holds one replica per inverse temperature ``beta_k`` on the annealing path of
    the module docstring (``beta = 0`` is the independent-site base model, ``beta = 1`` the
    RBM).  Every step does one Gibbs sweep of every replica at its own temperature, then
    proposes swaps of the visible states of neighbouring replicas, alternately the even and
    the odd pairs, accepted with probability
    ``min(1, exp(F_a(v_a) + F_b(v_b) - F_a(v_b) - F_b(v_a)))`` (free energies with the hidden
    units summed out).

    Parameters
    ----------
    rbm : RBM
    n_samples : int
        Number of samples returned (from the ``beta = 1`` replicas).
    n_temperatures : int, default=10
        Ladder length when ``betas`` is None; the ladder is then evenly spaced in [0, 1].
    betas : array-like, default=None
        Increasing ladder ending at 1 (may start above 0).
    n_steps : int, default=100
        Sweeps (each followed by a swap round) before the first recorded sample.
    n_chains : int, default=None
        Number of independent ladders.  None runs ``n_samples`` ladders for ``n_steps``
        steps and returns the final ``beta = 1`` state of each.  Otherwise each ladder runs
        ``n_steps`` burn-in steps, then records its ``beta = 1`` state after each of
        ``ceil(n_samples / n_chains)`` further steps; the samples are ordered step by step
        (all ladders at the first recorded step, then the next...) and truncated to
        ``n_samples``.
    v0 : array-like of shape (n_chains, n_visible) or (1, n_visible), default=None
        Initial state of every replica of each ladder; None draws every replica from the
        base model.
    base : Layer, default=None
        Base visible layer (as in :func:`ais_log_partition`).
    n_jobs, random_state, block
        As in :func:`run_chains` (ladders are split into seeded blocks).

    Returns
    -------
    PTResult
        ``(samples, acceptance_rates, betas)``.

    Examples
    --------
    >>> import numpy as np
    >>> from skrbm._layers import Gaussian, Spin
    >>> from skrbm._rbm import RBM
    >>> from skrbm._sampling import parallel_tempering
    >>> rbm = RBM(Spin(20), Gaussian(1), np.full((20, 1), np.sqrt(3 / 20)))
    >>> res = parallel_tempering(rbm, 200, n_temperatures=8, n_steps=50, random_state=0)
    >>> res.samples.shape, res.acceptance_rates.shape
    ((200, 20), (7,))
    """
    n_samples = _check_int("n_samples", n_samples, 1)
    n_steps = _check_int("n_steps", n_steps, 1 if n_chains is None else 0)
    block = _check_int("block", block, 1)
    if betas is None:
        n_temperatures = _check_int("n_temperatures", n_temperatures, 2)
        betas = np.linspace(0.0, 1.0, n_temperatures)
    else:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or len(betas) < 2 or betas[-1] != 1.0 or betas[0] < 0 \
                or np.any(np.diff(betas) <= 0):
            raise ValueError("betas must be an increasing 1-D array in [0, 1] ending at 1 "
                             "(at least 2 values).")
    if n_chains is None:
        n_chains, n_record = n_samples, 1
        n_sweeps = n_steps
    else:
        n_chains = _check_int("n_chains", n_chains, 1)
        n_record = -(-n_samples // n_chains)
        n_sweeps = n_steps + n_record
    v0 = _initial_states(rbm, v0, n_chains)
    base = _check_base(rbm, base)
    blocks = _blocks(n_chains, block)
    _, seeds = _seeds(random_state, len(blocks))
    tasks = [(rbm, base, betas, b - a, None if v0 is None else v0[a:b], n_sweeps, n_record, s)
             for (a, b), s in zip(blocks, seeds)]
    results = _run_blocks(_pt_block, tasks, n_jobs)
    samples = np.concatenate([r[0] for r in results], axis=1)
    samples = samples.reshape(-1, samples.shape[-1])[:n_samples]
    accepted = sum(r[1] for r in results)
    attempted = sum(r[2] for r in results)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(attempted > 0, accepted / np.maximum(attempted, 1), np.nan)
    return PTResult(samples=samples, acceptance_rates=rates, betas=betas)
