"""Unit types ("layers") of a restricted Boltzmann machine.

Every unit type is defined by the handful of functions of its input ``I`` listed in
method.md section 1: the cumulant generating function ``cgf`` (Gamma), its derivatives
``mean`` and ``var``, ``sample``, ``mode``, the energy ``U(x)``, the gradients of the cgf
and of the energy with respect to the layer's own parameters, and initialisation from
data moments.  Free energies, Gibbs sampling, likelihoods and training are written once,
generically, in :mod:`skrbm._rbm` and :mod:`skrbm._training`; adding a unit type never
touches them.

Conventions
-----------
* A layer has ``n_units`` user-visible units and ``size`` internal columns.  They differ
  only for Potts units, which are one-hot encoded internally (``size = n_units * q``,
  column ``i * q + a`` is state ``a`` of site ``i``).
* ``I`` is always a 2-D array ``(n_samples, size)``; the layer adds its own linear field.
* ``cgf(I)`` and ``energy(x)`` return per-sample sums over the layer's units, shape
  ``(n_samples,)``.  ``mean``, ``var``, ``sample`` and ``mode`` return ``(n_samples, size)``.
* Precisions are used as ``abs(gamma)`` so that no optimizer step can make the model
  unnormalisable; gradients with respect to the raw ``gamma`` carry ``sign(gamma)``.
* ``cgf_grad(I, w)`` and ``energy_grad(x, w)`` return the ``w``-weighted average over samples
  of the derivative of the per-sample cgf (energy) with respect to each parameter,
  as a dict keyed like ``params``.
"""

import math
import numbers

import numpy as np
from scipy.special import erfcx, expit, log_ndtr, logsumexp, ndtri_exp

# Python floats, not numpy float64 scalars: under NEP 50 a float64 scalar would promote
# float32 arrays to float64.
_LOG_2PI = math.log(2.0 * math.pi)
_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_SQRT2 = math.sqrt(2.0)
_EPS = 1e-6


def _wmean(a, w):
    """Weighted mean over the first axis (w sums to one or is None)."""
    if w is None:
        return a.mean(axis=0)
    if a.dtype == np.float32 and w.dtype != np.float32:
        w = w.astype(np.float32)  # a mixed-precision product misses BLAS (10x slower)
    return w @ a


def _wvar(a, w, mean):
    return _wmean((a - mean) ** 2, w)


def _expit_inplace(x):
    """Logistic sigmoid of the float array x, in place.

    float32 goes through numpy's vectorised exp, 1 / (1 + exp(-x)): the formula of
    scipy's expit, about 4x faster than its scalar loop, within a few ulp of it.
    """
    if x.dtype == np.float32:
        with np.errstate(over="ignore"):  # exp(-x) = inf gives the exact limit 0
            np.negative(x, out=x)
            np.exp(x, out=x)
        x += 1.0
        return np.reciprocal(x, out=x)
    return expit(x, out=x)


def _draw_below(p, rng, out):
    """``out`` <- 1 where u < p, else 0, with u uniform on [0, 1), one u per entry.

    The uniforms are single precision (24 random bits, numpy's fastest path): each
    probability is honoured to within 2**-24 (6e-8), far below any Monte Carlo error.
    """
    return np.less(rng.random(p.shape, dtype=np.float32), p, out=out)


def _draw_sigmoid(x, rng):
    """0/1 draws with P(1) = sigmoid(x), in x's dtype; ``x`` is overwritten with them.

    The probabilities of float64 inputs are evaluated in float32 (numpy's vectorised exp;
    float64 exp is a scalar loop, 3-4x slower): like the uniforms they are compared with,
    exact to ~6e-8, which no sample size can resolve.  Means and gradients stay float64.
    """
    p = x
    with np.errstate(over="ignore"):  # |x| beyond float32: sigmoid is exactly 0 or 1
        if x.dtype == np.float64:
            p = x.astype(np.float32)
        _expit_inplace(p)
    return _draw_below(p, rng, out=x)


# --------------------------------------------------------------------------------------
# Truncated-normal helpers, shared by ReLU and dReLU units.
# For a = theta + I and precision g, the half-line integral
#     G(a, g) = log int_0^inf exp(-g x^2 / 2 + a x) dx
#             = 0.5 log(2 pi / g) + z^2/2 + log Phi(z),  z = a / sqrt(g)
# evaluated through log_ndtr for z > 0 and through erfcx for z <= 0 (never log(erfc)).
# --------------------------------------------------------------------------------------


def _half_cgf(a, g):
    z = a / np.sqrt(g)
    out = np.empty_like(z)
    pos = z > 0
    zp = z[pos]
    out[pos] = 0.5 * zp * zp + log_ndtr(zp)
    zn = z[~pos]
    out[~pos] = np.log(erfcx(-zn / _SQRT2) / 2.0)
    return out + 0.5 * (_LOG_2PI - np.log(g))


def _mills(z):
    """phi(z) / Phi(z), stable for all z."""
    return _SQRT_2_OVER_PI / erfcx(-z / _SQRT2)


_CF_Z = -5.0  # below this z, moments from the continued fraction (no cancellation)
_CF_TERMS = 40  # enough for full double precision at z <= -5


def _half_moments(a, g):
    """Mean and variance of the normal N(a/g, 1/g) truncated to [0, inf).

    In standard units (z = a / sqrt(g)) the mean is z + lam and the variance
    1 - lam (z + lam), lam = phi(z) / Phi(z).  For z -> -inf both cancel
    catastrophically (relative error ~ eps z^2 and eps z^4), so for z < _CF_Z they are
    taken from Laplace's continued fraction: with x = -z and D_k = x + (k+1) / D_{k+1},
    mean = 1 / D_1 and variance = (x + 4/D_2 - 3/D_3) / (D_1^2 D_2).
    """
    s = 1.0 / np.sqrt(g)
    z = a * s
    lam = _mills(z)
    m = z + lam
    v = np.maximum(1.0 - lam * m, 0.0)
    tail = z < _CF_Z
    if tail.any():
        x = -z[tail]
        d = x
        for k in range(_CF_TERMS, 0, -1):
            d = x + (k + 1) / d
            if k == 3:
                d3 = d
            elif k == 2:
                d2 = d
        m[tail] = 1.0 / d
        v[tail] = (x + 4.0 / d2 - 3.0 / d3) / d2 / d / d  # no overflow for huge x
    return s * m, (s * s) * v


def _half_sample(a, g, rng, dtype):
    """Sample N(a/g, 1/g) truncated to [0, inf) by the inverse CDF in log space.

    With z = a sqrt(g), x = (z - t) / sqrt(g) where t = Phi^{-1}(u Phi(z)); computed as
    ``ndtri_exp(log u + log_ndtr(z))`` so the far tails stay accurate.
    """
    s = 1.0 / np.sqrt(g)
    z = a * s
    u = rng.random(z.shape)
    t = ndtri_exp(np.log(u) + log_ndtr(z))
    return np.maximum((z - t) * s, 0.0).astype(dtype, copy=False)


# --------------------------------------------------------------------------------------
# Base class
# --------------------------------------------------------------------------------------


class Layer:
    """A group of ``n_units`` identical-type units; see the module docstring."""

    name = None
    #: names of the parameter arrays, each of shape (size,)
    param_names = ("theta",)
    #: the parameters that enter linearly with the input (shifted by centering/gauges)
    linear_params = ("theta",)
    continuous = False
    #: values a single unit can take, for discrete layers (Potts: handled separately)
    unit_states = None

    def __init__(self, n_units, dtype=np.float64):
        self.n_units = int(n_units)
        self.dtype = np.dtype(dtype)
        self.params = {p: np.zeros(self.size, dtype=self.dtype) for p in self.param_names}
        for p in getattr(self, "_unit_params", ()):
            self.params[p][:] = 1.0

    # --- shape --------------------------------------------------------------------
    @property
    def size(self):
        return self.n_units

    @property
    def groups(self):
        return [(self, 0, self.size)]

    @property
    def n_states(self):
        """Number of configurations of the whole layer (inf for continuous ones)."""
        if self.continuous:
            return float("inf")
        return float(len(self.unit_states)) ** self.n_units

    def astype(self, dtype):
        self.dtype = np.dtype(dtype)
        for p in self.param_names:
            self.params[p] = self.params[p].astype(self.dtype)
        return self

    def copy(self):
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        new.params = {p: v.copy() for p, v in self.params.items()}
        return new

    def shift_field(self, delta):
        """Add ``delta`` (size,) to every linear field (the input enters additively)."""
        for p in self.linear_params:
            self.params[p] += delta

    # --- data encoding ------------------------------------------------------------
    def validate(self, X, *, where="X", col_offset=0):
        """Raise ValueError unless X (n, n_units) lies in the layer's domain.

        ``col_offset`` is added to the column index reported in the message (a Mixed layer
        validates each group on its own slice of columns).
        """

    def encode(self, X):
        """User representation (n, n_units) -> internal (n, size)."""
        return X

    def decode(self, x):
        """Internal (n, size) -> user representation (n, n_units)."""
        return x

    # --- the unit-type interface ---------------------------------------------------
    def _x(self, I):
        return self.params["theta"] + I

    def cgf(self, I):
        raise NotImplementedError

    def mean(self, I):
        raise NotImplementedError

    def var(self, I):
        raise NotImplementedError

    def sample(self, I, rng):
        raise NotImplementedError

    def sample_given_mean(self, I, mean, rng):
        """Same as ``sample(I, rng)``; ``mean`` (= ``self.mean(I)``, already computed by the
        caller) lets units whose conditional is fixed by its mean skip recomputing it."""
        return self.sample(I, rng)

    def mode(self, I):
        raise NotImplementedError

    def energy(self, x):
        return -(x @ self.params["theta"])

    def cgf_grad(self, I, w=None, mean=None):
        """Weighted mean of d cgf / d param; ``mean`` may pass a precomputed self.mean(I)."""
        return {"theta": _wmean(self.mean(I) if mean is None else mean, w)}

    def energy_grad(self, x, w=None):
        return {"theta": -_wmean(x, w)}

    def init_from_data(self, x, w=None):
        raise NotImplementedError

    def states(self):
        """All configurations of the layer, (n_states, size); only for small discrete layers."""
        grids = np.meshgrid(*([np.asarray(self.unit_states, dtype=self.dtype)] * self.n_units),
                            indexing="ij")
        return np.stack([g.ravel() for g in grids], axis=1) if self.n_units else np.zeros((1, 0))

    def describe(self):
        return f"{self.name}({self.n_units})"

    def __repr__(self):
        return f"<{type(self).__name__} {self.describe()}>"


# --------------------------------------------------------------------------------------
# Discrete units
# --------------------------------------------------------------------------------------


class Bernoulli(Layer):
    """Units in {0, 1}: U(x) = -theta x, P(x=1 | I) = sigmoid(theta + I)."""

    name = "bernoulli"
    unit_states = (0.0, 1.0)

    def validate(self, X, *, where="X", col_offset=0):
        bad = ~((X >= 0) & (X <= 1))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where} has value {X[i, j]!r} in column {j + col_offset}, row {i}, "
                "outside [0, 1]; "
                "bernoulli visible units accept values in [0, 1] (probabilities are allowed)."
            )

    def cgf(self, I):
        return np.logaddexp(0, self._x(I)).sum(axis=1)

    def mean(self, I):
        return _expit_inplace(self._x(I))  # _x returns a new array

    def var(self, I):
        p = expit(self._x(I))
        return p * (1 - p)

    def sample(self, I, rng):
        return _draw_sigmoid(self._x(I), rng)  # _x returns a new array

    def sample_given_mean(self, I, mean, rng):
        return _draw_below(mean, rng, out=np.empty_like(mean))

    def mode(self, I):
        return (self._x(I) > 0).astype(self.dtype)

    def init_from_data(self, x, w=None):
        p = np.clip(_wmean(x, w), _EPS, 1 - _EPS)
        self.params["theta"][:] = np.log(p) - np.log1p(-p)


class Spin(Layer):
    """Units in {-1, +1}: U(x) = -theta x, <x | I> = tanh(theta + I)."""

    name = "spin"
    unit_states = (-1.0, 1.0)

    def validate(self, X, *, where="X", col_offset=0):
        bad = ~((X == 1) | (X == -1))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where} has value {X[i, j]!r} in column {j + col_offset}, row {i}; "
                "spin visible units "
                "accept only -1 and +1."
            )

    def cgf(self, I):
        a = np.abs(self._x(I))
        return (a + np.log1p(np.exp(-2 * a))).sum(axis=1)

    def mean(self, I):
        return np.tanh(self._x(I))

    def var(self, I):
        t = np.tanh(self._x(I))
        return 1 - t * t

    def sample(self, I, rng):
        x = self._x(I)
        x *= 2.0
        return self._to_spin(_draw_sigmoid(x, rng))  # P(+1) = sigmoid(2 (theta + I))

    def sample_given_mean(self, I, mean, rng):
        p = mean + 1.0
        p *= 0.5  # P(+1) = (1 + <x>) / 2
        return self._to_spin(_draw_below(p, rng, out=p))

    @staticmethod
    def _to_spin(b):
        """0/1 -> -1/+1 in place."""
        b *= 2.0
        b -= 1.0
        return b

    def mode(self, I):
        return np.where(self._x(I) >= 0, 1, -1).astype(self.dtype)

    def init_from_data(self, x, w=None):
        m = np.clip(_wmean(x, w), -1 + _EPS, 1 - _EPS)
        self.params["theta"][:] = np.arctanh(m)


class Potts(Layer):
    """Categorical units with ``q`` states per site, one-hot internally.

    The user passes integer categories ``0 .. q-1`` per column; internally site ``i`` uses
    columns ``i*q .. i*q+q-1``.  U(x) = -sum_a theta_a x_a; softmax conditionals.
    """

    name = "potts"

    def __init__(self, n_units, q, dtype=np.float64):
        if not isinstance(q, numbers.Integral) or q < 2:
            raise ValueError(f"Potts units need an integer number of states q >= 2, got {q!r}.")
        self.q = int(q)
        super().__init__(n_units, dtype)

    @property
    def size(self):
        return self.n_units * self.q

    @property
    def n_states(self):
        return float(self.q) ** self.n_units

    def describe(self):
        return f"potts({self.n_units}, q={self.q})"

    def validate(self, X, *, where="X", col_offset=0):
        bad = ~((X >= 0) & (X <= self.q - 1) & (X == np.round(X)))
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where} has value {X[i, j]!r} in column {j + col_offset}, row {i}; "
                "potts visible units "
                f"accept integer categories 0..{self.q - 1}."
            )

    def encode(self, X):
        X = np.asarray(X)
        n = X.shape[0]
        out = np.zeros((n, self.n_units, self.q), dtype=self.dtype)
        idx = X.astype(np.intp)
        np.put_along_axis(out, idx[:, :, None], 1.0, axis=2)
        return out.reshape(n, self.size)

    def decode(self, x):
        n = x.shape[0]
        return x.reshape(n, self.n_units, self.q).argmax(axis=2).astype(self.dtype)

    def _x3(self, I):
        return self._x(I).reshape(I.shape[0], self.n_units, self.q)

    def cgf(self, I):
        return logsumexp(self._x3(I), axis=2).sum(axis=1)

    def mean(self, I):
        x = self._x3(I)
        x = np.exp(x - x.max(axis=2, keepdims=True))
        x /= x.sum(axis=2, keepdims=True)
        return x.reshape(I.shape[0], self.size)

    def var(self, I):
        p = self.mean(I)
        return p * (1 - p)

    def sample(self, I, rng):
        n = I.shape[0]
        p = self.mean(I).reshape(n, self.n_units, self.q)
        c = np.cumsum(p, axis=2)
        u = rng.random((n, self.n_units, 1), dtype=p.dtype) * c[:, :, -1:]
        k = np.minimum((u > c).sum(axis=2), self.q - 1)
        out = np.zeros_like(p)
        np.put_along_axis(out, k[:, :, None], 1.0, axis=2)
        return out.reshape(n, self.size)

    def mode(self, I):
        n = I.shape[0]
        k = self._x3(I).argmax(axis=2)
        out = np.zeros((n, self.n_units, self.q), dtype=self.dtype)
        np.put_along_axis(out, k[:, :, None], 1.0, axis=2)
        return out.reshape(n, self.size)

    def init_from_data(self, x, w=None):
        f = _wmean(x, w).reshape(self.n_units, self.q)
        t = np.log(f + _EPS)
        t -= t.mean(axis=1, keepdims=True)
        self.params["theta"][:] = t.ravel()

    def states(self):
        codes = np.stack(
            [g.ravel() for g in np.meshgrid(*([np.arange(self.q)] * self.n_units),
                                            indexing="ij")], axis=1)
        return self.encode(codes)

    def zero_sum_shift(self):
        """Mean over states of theta at each site (for the zero-sum gauge)."""
        return self.params["theta"].reshape(self.n_units, self.q).mean(axis=1)


# --------------------------------------------------------------------------------------
# Continuous units
# --------------------------------------------------------------------------------------


class Gaussian(Layer):
    """Real units: U(x) = |gamma| x^2/2 - theta x, conditionals N((theta+I)/|gamma|, 1/|gamma|)."""

    name = "gaussian"
    param_names = ("theta", "gamma")
    _unit_params = ("gamma",)
    continuous = True

    def validate(self, X, *, where="X", col_offset=0):
        pass  # any finite real value (finiteness is checked by validate_data)

    def _g(self):
        return np.abs(self.params["gamma"])

    def cgf(self, I):
        g = self._g()
        x = self._x(I)
        return (0.5 * x * x / g + 0.5 * (_LOG_2PI - np.log(g))).sum(axis=1)

    def mean(self, I):
        return self._x(I) / self._g()

    def var(self, I):
        return np.broadcast_to(1.0 / self._g(), I.shape).astype(I.dtype, copy=True)

    def sample(self, I, rng):
        g = self._g()
        noise = rng.standard_normal(I.shape, dtype=I.dtype)
        return self._x(I) / g + noise / np.sqrt(g)

    def mode(self, I):
        return self.mean(I)

    def energy(self, x):
        return (0.5 * (x * x) @ self._g()) - x @ self.params["theta"]

    def cgf_grad(self, I, w=None, mean=None):
        m = self.mean(I) if mean is None else mean
        g = self._g()
        second = _wmean(m * m, w) + 1.0 / g
        return {"theta": _wmean(m, w), "gamma": -0.5 * second * np.sign(self.params["gamma"])}

    def energy_grad(self, x, w=None):
        return {"theta": -_wmean(x, w),
                "gamma": 0.5 * _wmean(x * x, w) * np.sign(self.params["gamma"])}

    def init_from_data(self, x, w=None):
        m = _wmean(x, w)
        g = 1.0 / (_wvar(x, w, m) + _EPS)
        self.params["gamma"][:] = g
        self.params["theta"][:] = m * g


class ReLU(Gaussian):
    """Non-negative units: U(x) = |gamma| x^2/2 - theta x on x >= 0 (truncated normal)."""

    name = "relu"

    def validate(self, X, *, where="X", col_offset=0):
        bad = X < 0
        if bad.any():
            i, j = np.argwhere(bad)[0]
            raise ValueError(
                f"{where} has value {X[i, j]!r} in column {j + col_offset}, row {i}; "
                "relu visible units "
                "accept only non-negative values."
            )

    def cgf(self, I):
        return _half_cgf(self._x(I), self._g()).sum(axis=1)

    def mean(self, I):
        return _half_moments(self._x(I), self._g())[0].astype(I.dtype, copy=False)

    def var(self, I):
        return _half_moments(self._x(I), self._g())[1].astype(I.dtype, copy=False)

    def sample(self, I, rng):
        return _half_sample(self._x(I), self._g(), rng, I.dtype)

    def mode(self, I):
        return np.maximum(self._x(I), 0) / self._g()

    def cgf_grad(self, I, w=None, mean=None):
        m, v = _half_moments(self._x(I), self._g())
        return {"theta": _wmean(m, w),
                "gamma": -0.5 * _wmean(m * m + v, w) * np.sign(self.params["gamma"])}

    def init_from_data(self, x, w=None):
        super().init_from_data(x, w)


class DReLU(Layer):
    """Double ReLU units (real valued), with separate quadratic potentials per side.

    U(x) = |gamma_p| x^2/2 - theta_p x for x >= 0 and |gamma_n| x^2/2 - theta_n x for x < 0.
    The cgf is log(Z+ + Z-), each side a half-line Gaussian integral; the side is chosen in
    log space when sampling.
    """

    name = "drelu"
    param_names = ("theta_p", "theta_n", "gamma_p", "gamma_n")
    linear_params = ("theta_p", "theta_n")
    _unit_params = ("gamma_p", "gamma_n")
    continuous = True

    def validate(self, X, *, where="X", col_offset=0):
        pass

    def _parts(self, I):
        gp = np.abs(self.params["gamma_p"])
        gn = np.abs(self.params["gamma_n"])
        ap = self.params["theta_p"] + I
        an = -(self.params["theta_n"] + I)
        Gp = _half_cgf(ap, gp)
        Gn = _half_cgf(an, gn)
        G = np.logaddexp(Gp, Gn)
        return ap, an, gp, gn, Gp, Gn, G

    def _moments(self, I):
        ap, an, gp, gn, Gp, Gn, G = self._parts(I)
        pp = np.exp(Gp - G)
        pn = np.exp(Gn - G)
        mp, vp = _half_moments(ap, gp)
        mn, vn = _half_moments(an, gn)
        return pp, pn, mp, vp, mn, vn

    def cgf(self, I):
        return self._parts(I)[-1].sum(axis=1)

    def mean(self, I):
        pp, pn, mp, _, mn, _ = self._moments(I)
        return (pp * mp - pn * mn).astype(I.dtype, copy=False)

    def var(self, I):
        pp, pn, mp, vp, mn, vn = self._moments(I)
        mean = pp * mp - pn * mn
        second = pp * (vp + mp * mp) + pn * (vn + mn * mn)
        return np.maximum(second - mean * mean, 0.0).astype(I.dtype, copy=False)

    def sample(self, I, rng):
        ap, an, gp, gn, Gp, Gn, G = self._parts(I)
        pos = np.log(rng.random(I.shape)) < (Gp - G)
        xp = _half_sample(ap, gp, rng, I.dtype)
        xn = _half_sample(an, gn, rng, I.dtype)
        return np.where(pos, xp, -xn).astype(I.dtype, copy=False)

    def mode(self, I):
        gp = np.abs(self.params["gamma_p"])
        gn = np.abs(self.params["gamma_n"])
        xp = np.maximum(self.params["theta_p"] + I, 0) / gp
        xn = np.minimum(self.params["theta_n"] + I, 0) / gn
        # pick the side with the lower energy - I x (both candidates are local minima or 0)
        ep = gp * xp * xp / 2 - (self.params["theta_p"] + I) * xp
        en = gn * xn * xn / 2 - (self.params["theta_n"] + I) * xn
        return np.where(ep <= en, xp, xn)

    def energy(self, x):
        p = self.params
        xp = np.maximum(x, 0)
        xn = np.minimum(x, 0)
        return (0.5 * (xp * xp) @ np.abs(p["gamma_p"]) - xp @ p["theta_p"]
                + 0.5 * (xn * xn) @ np.abs(p["gamma_n"]) - xn @ p["theta_n"])

    def cgf_grad(self, I, w=None, mean=None):
        pp, pn, mp, vp, mn, vn = self._moments(I)
        p = self.params
        return {
            "theta_p": _wmean(pp * mp, w),
            "theta_n": -_wmean(pn * mn, w),
            "gamma_p": -0.5 * _wmean(pp * (vp + mp * mp), w) * np.sign(p["gamma_p"]),
            "gamma_n": -0.5 * _wmean(pn * (vn + mn * mn), w) * np.sign(p["gamma_n"]),
        }

    def energy_grad(self, x, w=None):
        p = self.params
        xp = np.maximum(x, 0)
        xn = np.minimum(x, 0)
        return {
            "theta_p": -_wmean(xp, w),
            "theta_n": -_wmean(xn, w),
            "gamma_p": 0.5 * _wmean(xp * xp, w) * np.sign(p["gamma_p"]),
            "gamma_n": 0.5 * _wmean(xn * xn, w) * np.sign(p["gamma_n"]),
        }

    def init_from_data(self, x, w=None):
        m = _wmean(x, w)
        g = 1.0 / (_wvar(x, w, m) + _EPS)
        for s in ("p", "n"):
            self.params["gamma_" + s][:] = g
            self.params["theta_" + s][:] = m * g


# --------------------------------------------------------------------------------------
# Mixed layer: a concatenation of groups of different unit types
# --------------------------------------------------------------------------------------


class Mixed(Layer):
    """A hidden (or visible) layer made of consecutive groups of different unit types.

    ``Mixed([Spin(1), Gaussian(99)])`` is the paper's Ising hidden layer.  Parameters are
    namespaced ``"<group index>.<name>"``; every method dispatches to the groups on their
    column slices and concatenates.
    """

    name = "mixed"

    def __init__(self, layers):
        self.layers = list(layers)
        self.dtype = self.layers[0].dtype
        self._slices = []
        start = 0
        for lay in self.layers:
            self._slices.append(slice(start, start + lay.size))
            start += lay.size
        self.n_units = sum(lay.n_units for lay in self.layers)
        self.continuous = any(lay.continuous for lay in self.layers)

    @property
    def size(self):
        return sum(lay.size for lay in self.layers)

    @property
    def groups(self):
        return [(lay, s.start, s.stop) for lay, s in zip(self.layers, self._slices)]

    @property
    def n_states(self):
        return float(np.prod([lay.n_states for lay in self.layers]))

    @property
    def param_names(self):
        return tuple(f"{k}.{p}" for k, lay in enumerate(self.layers) for p in lay.param_names)

    @property
    def params(self):
        return {f"{k}.{p}": v for k, lay in enumerate(self.layers) for p, v in lay.params.items()}

    def astype(self, dtype):
        self.dtype = np.dtype(dtype)
        for lay in self.layers:
            lay.astype(dtype)
        return self

    def copy(self):
        return Mixed([lay.copy() for lay in self.layers])

    def describe(self):
        return "[" + ", ".join(lay.describe() for lay in self.layers) + "]"

    def shift_field(self, delta):
        for lay, s in zip(self.layers, self._slices):
            lay.shift_field(delta[s])

    def validate(self, X, *, where="X", col_offset=0):
        start = 0
        for lay in self.layers:
            lay.validate(X[:, start:start + lay.n_units], where=where,
                         col_offset=col_offset + start)
            start += lay.n_units

    def encode(self, X):
        parts, start = [], 0
        for lay in self.layers:
            parts.append(lay.encode(X[:, start:start + lay.n_units]))
            start += lay.n_units
        return np.hstack(parts)

    def decode(self, x):
        return np.hstack([lay.decode(x[:, s]) for lay, s in zip(self.layers, self._slices)])

    def _cat(self, method, I, *args):
        return np.hstack([getattr(lay, method)(I[:, s], *args)
                          for lay, s in zip(self.layers, self._slices)])

    def cgf(self, I):
        return sum(lay.cgf(I[:, s]) for lay, s in zip(self.layers, self._slices))

    def mean(self, I):
        return self._cat("mean", I)

    def var(self, I):
        return self._cat("var", I)

    def sample(self, I, rng):
        return self._cat("sample", I, rng)

    def mode(self, I):
        return self._cat("mode", I)

    def energy(self, x):
        return sum(lay.energy(x[:, s]) for lay, s in zip(self.layers, self._slices))

    def _merge(self, method, a, w, **kw):
        out = {}
        for k, (lay, s) in enumerate(zip(self.layers, self._slices)):
            extra = {key: (None if v is None else v[:, s]) for key, v in kw.items()}
            for p, g in getattr(lay, method)(a[:, s], w, **extra).items():
                out[f"{k}.{p}"] = g
        return out

    def cgf_grad(self, I, w=None, mean=None):
        return self._merge("cgf_grad", I, w, mean=mean)

    def energy_grad(self, x, w=None):
        return self._merge("energy_grad", x, w)

    def init_from_data(self, x, w=None):
        for lay, s in zip(self.layers, self._slices):
            lay.init_from_data(x[:, s], w)

    def states(self):
        parts = [lay.states() for lay in self.layers]
        out = parts[0]
        for p in parts[1:]:
            out = np.hstack([np.repeat(out, len(p), axis=0), np.tile(p, (len(out), 1))])
        return out


UNIT_TYPES = {
    "bernoulli": Bernoulli,
    "spin": Spin,
    "gaussian": Gaussian,
    "relu": ReLU,
    "drelu": DReLU,
    "potts": Potts,
}


def make_layer(spec, n_units=None, *, dtype=np.float64, q=None, where="hidden"):
    """Build a layer from a user specification.

    ``spec`` is a unit-type name (then ``n_units`` gives the size), or a list of
    ``(name, n)`` pairs for a mixed layer, e.g. ``[("spin", 1), ("gaussian", 99)]``; one group
    may have ``n = None`` to take all remaining units, e.g. ``[("spin", 1), ("gaussian", None)]``
    (dropped if nothing remains).
    ``q`` is the number of Potts states.
    """
    if isinstance(spec, str):
        if spec not in UNIT_TYPES:
            raise ValueError(
                f"Unknown {where} unit type {spec!r}; accepted: {sorted(UNIT_TYPES)} "
                "or a list of (type, n_units) pairs."
            )
        if spec == "potts":
            return Potts(n_units, q if q is not None else 2, dtype=dtype)
        return UNIT_TYPES[spec](n_units, dtype=dtype)
    groups = list(spec)
    layers = []
    rest = None
    for k, g in enumerate(groups):
        ok_n = (g[1] is None and n_units is not None) if isinstance(g, tuple) and len(g) == 2 \
            else False
        if not (isinstance(g, tuple) and len(g) == 2 and isinstance(g[0], str)
                and (ok_n or (isinstance(g[1], numbers.Integral) and g[1] >= 1))):
            raise ValueError(
                f"Each group of a mixed {where} layer must be a (type, n_units) pair with "
                f"n_units >= 1 (or None for 'all remaining units'), got {g!r}."
            )
        if g[1] is None:
            if rest is not None:
                raise ValueError(f"At most one group of the mixed {where} layer {spec!r} may "
                                 "have n_units=None.")
            rest = k
    fixed = sum(g[1] for g in groups if g[1] is not None)
    if rest is not None and fixed > n_units:
        raise ValueError(
            f"The fixed groups of the mixed {where} layer {spec!r} have {fixed} units in all, "
            f"more than n_components={n_units}."
        )
    for g in groups:
        n = g[1] if g[1] is not None else n_units - fixed
        if n >= 1:  # a None group with nothing left is dropped
            layers.append(make_layer(g[0], n, dtype=dtype, q=q, where=where))
    total = sum(lay.n_units for lay in layers)
    if n_units is not None and total != n_units:
        raise ValueError(
            f"The groups of the mixed {where} layer {spec!r} have {total} units in all but "
            f"n_components={n_units}; they must add up to n_components (or give one group "
            "n_units=None to take the remaining units)."
        )
    return layers[0] if len(layers) == 1 else Mixed(layers)
