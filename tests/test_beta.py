"""Beta against scipy.stats.beta and mpmath, the pixel clamp policy, and the likelihood module's
concentrations. Tolerances are in units of the dtype's eps; ``pytest -s`` prints the measured
errors. (Normalization, moments against quadrature, sampling, jit/vmap:
test_distribution_contract.py.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special
import scipy.stats

import likelihoods
from likelihoods import Beta
from likelihoods.beta import DEFAULT_PIXEL_EPS
from likelihoods.special import betaln as _betaln
from tests.helpers import KEY, eps  # noqa: F401  (dtype fixture: conftest)


@jax.jit
def _log_prob(a, b, x):
  return Beta(a, b, pixel_eps=0).log_prob(x)


@jax.jit
def _log_prob_clipped(a, b, x):
  return Beta(a, b).log_prob(x)


def _mp(v):
  """An mpf: the exact binary value of a float, or an mpf as is (mpmath.diff's perturbed points)."""
  return v if isinstance(v, mpmath.mpf) else mpmath.mpf(float(v))


def mp_log_prob(a, b, x):
  """log density at the exact binary inputs, 50 digits (or more, as mpmath.diff raises them)."""
  with mpmath.workdps(max(50, mpmath.mp.dps)):
    a, b, x = (_mp(v) for v in (a, b, x))
    return (a - 1) * mpmath.log(x) + (b - 1) * mpmath.log1p(-x) - mpmath.log(mpmath.beta(a, b))


CONCENTRATIONS = [1e-3, 0.1, 0.5, 1.0, 2.5, 7.9, 8.0, 30.0, 1e3, 1e4]


# ----------------------------------------------------------------------------- values vs oracles


def _terms(a, b, x):
  """Size of the terms of (a-1) log x + (b-1) log(1-x) - log B: what rounding can cost, over eps."""
  return (
    np.abs((a - 1) * np.log(x))
    + np.abs((b - 1) * np.log1p(-x))
    + np.abs(scipy.special.gammaln(a))
    + np.abs(scipy.special.gammaln(b))
    + np.abs(scipy.special.gammaln(a + b))
    + 1
  )


def test_values_against_scipy_and_mpmath(dtype):
  """(1) scipy.stats.beta at moderate concentrations (where scipy's own betaln is exact), x away from
  the clamp: log_prob, mean, variance, cdf. (2) mpmath (50 digits) over the decoder's whole range,
  concentrations 1e-3 (the floor) to 1e4, x from 1e-6 to 1 - 1e-6 with the raw density (pixel_eps=0).
  (3) log B(a, b) itself, which jax.scipy.special.betaln (jax <= 0.10) gets wrong by up to ~1e-6 for
  max(a, b) >= 8, so likelihoods.beta computes it itself. One compiled function for all three."""
  ab = np.array([0.1, 0.5, 1.0, 2.5, 30.0], dtype)
  a, b = ab[:, None, None], ab[None, :, None]
  xs = np.array([1e-4, 0.01, 0.3, 0.5, 0.9, 0.9999], dtype)[None, None, :]
  wa = np.array(CONCENTRATIONS, dtype)[:, None, None]
  wb = np.array(CONCENTRATIONS, dtype)[None, :, None]
  wxs = np.array([1e-6, 1e-4, 0.3, 0.5, 0.9999, 1 - 1e-6], dtype)[None, None, :]
  lab = np.array(CONCENTRATIONS + [12.0, 100.0, 1e6], dtype)
  la, lb = np.broadcast_arrays(lab[:, None], lab[None, :])

  @jax.jit
  def evaluate(a, b, xs, wa, wb, wxs, la, lb):
    d = Beta(a, b)
    moderate = (d.log_prob(xs), d.cdf(xs), d.mean()[..., 0], d.variance()[..., 0])
    return (
      moderate,
      Beta(wa, wb, pixel_eps=0).log_prob(wxs),
      _betaln(la, lb),
      _betaln(1 + 0 * la, 8 + 0 * lb),
    )

  (lp, cdf, mean, var), wide, betaln, betaln_1_8 = jax.tree_util.tree_map(
    lambda v: np.asarray(v, np.float64), evaluate(a, b, xs, wa, wb, wxs, la, lb)
  )
  e = eps(dtype)

  # (1) scipy
  a64, b64, x64 = (v.astype(np.float64) for v in (a, b, xs))
  ref = scipy.stats.beta(a64, b64)
  ref2 = scipy.stats.beta(a64[..., 0], b64[..., 0])
  err = {
    "log_prob": np.max(np.abs(lp - ref.logpdf(x64)) / _terms(a64, b64, x64)),
    "mean": np.max(np.abs(mean / ref2.mean() - 1)),
    "variance": np.max(np.abs(var / ref2.var() - 1)),
    "cdf": np.max(np.abs(cdf - ref.cdf(x64))),
  }
  print(f"Beta vs scipy {dtype.__name__}: " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
  # XLA's lgamma (Lanczos) is good to a few eps absolute, also near its zeros at 1 and 2, where
  # log B(1, 1) = 0 makes that the whole error: 8 eps in float32, 2.5 eps in float64.
  assert err["log_prob"] <= 10 * e
  assert err["mean"] <= e and err["variance"] <= 4 * e
  # jax.scipy.special.betainc (a continued fraction) is the cdf: 82 eps (float32) and 138 eps
  # (float64) absolute at worst here.
  assert err["cdf"] <= (100 if dtype == np.float32 else 160) * e

  # (2) mpmath, wide range
  grid = np.broadcast_arrays(wa, wb, wxs)
  ref_wide = np.vectorize(lambda *v: float(mp_log_prob(*v)))(*grid)
  err_wide = np.abs(wide - ref_wide) / _terms(*(g.astype(np.float64) for g in grid))
  worst = np.unravel_index(np.argmax(err_wide), err_wide.shape)
  print(
    f"Beta vs mpmath {dtype.__name__}: log_prob {err_wide.max():.1e} (rel to terms) at "
    f"a={grid[0][worst]}, b={grid[1][worst]}, x={grid[2][worst]}"
  )
  assert err_wide.max() <= 10 * e

  # (3) log B
  with mpmath.workdps(50):
    ref_betaln = np.vectorize(lambda p, q: float(mpmath.log(mpmath.beta(float(p), float(q)))))(
      la, lb
    )
  err_betaln = np.max(np.abs(betaln - ref_betaln) / np.maximum(np.abs(ref_betaln), 1))
  print(f"betaln {dtype.__name__}: {err_betaln:.1e} (abs, rel above 1) = {err_betaln / e:.0f} eps")
  assert err_betaln <= 32 * e
  # The regression itself: log B(1, 8) = -log 8 (jax.scipy.special.betaln: -log 8 + 9.3e-7).
  assert np.max(np.abs(betaln_1_8 + math.log(8))) <= 8 * e


def test_pixel_clamp_policy():
  """Exact 0s and 1s (most MNIST pixels) are evaluated at pixel_eps and 1 - pixel_eps."""
  a, b = np.float32(0.7), np.float32(3.0)
  x = np.array([0.0, DEFAULT_PIXEL_EPS, 1.0, 1 - DEFAULT_PIXEL_EPS, -0.5, 1.5], np.float32)
  lp, raw = (
    np.asarray(v)
    for v in jax.jit(
      lambda a, b, x: (Beta(a, b).log_prob(x), Beta(a, b, pixel_eps=0).log_prob(x[::2][:2]))
    )(a, b, x)
  )
  assert lp[0] == lp[1] and lp[2] == lp[3] and lp[4] == lp[0] and lp[5] == lp[2]
  np.testing.assert_allclose(lp[:2], scipy.stats.beta(0.7, 3.0).logpdf(np.float32(1e-4)), rtol=1e-6)
  assert raw[0] == np.inf and raw[1] == -np.inf  # pixel_eps=0: the raw density, as documented
  with pytest.raises(ValueError, match="pixel_eps"):
    Beta(a, b, pixel_eps=1e-9).log_prob(np.float32(0.5))  # 1 - 1e-9 == 1 in float32
  with pytest.raises(ValueError, match="pixel_eps"):
    Beta(a, b, pixel_eps=0.6).log_prob(np.float32(0.5))
  with jax.enable_x64(True):  # ... but representable next to 1 in float64
    lp = jax.jit(lambda a: Beta(a, a, pixel_eps=1e-9).log_prob(np.zeros(1)))(np.float64(0.7))
    assert np.isfinite(float(lp[0]))


# ----------------------------------------------------------------------------- gradients


def test_gradients_wrt_alpha_beta_near_the_edges(dtype):
  """d log_prob / d alpha = log x - psi(alpha) + psi(alpha + beta) (and likewise for beta), in mpmath
  at 50 digits, near x = 0 and x = 1: x = 1e-6, 1 - 1e-6 (raw density) and the clamped x = 0, 1."""
  a = np.array([1e-3, 0.1, 0.5, 1.0, 3.0, 30.0, 1e3], dtype)[:, None, None]
  b = np.array([1e-3, 0.5, 1.0, 3.0, 1e3], dtype)[None, :, None]
  x_raw = np.array([1e-6, 0.5, 1 - 1e-6], dtype)
  x_clip = np.array([0.0, 1.0], dtype)
  grid_a, grid_b = np.broadcast_arrays(a, b)

  @jax.jit
  def grads(a_raw, b_raw, a_clip, b_clip):
    raw = jax.grad(lambda a, b: jnp.sum(_log_prob(a, b, x_raw)), argnums=(0, 1))(a_raw, b_raw)
    clip = jax.grad(lambda a, b: jnp.sum(_log_prob_clipped(a, b, x_clip)), argnums=(0, 1))(
      a_clip, b_clip
    )
    return raw, clip

  # a, b broadcast to the x axis, so that each gradient entry belongs to one (a, b, x).
  (ga, gb), (ga_c, gb_c) = grads(
    *(np.broadcast_to(g, grid_a.shape[:2] + (n,)) for n in (3, 2) for g in (grid_a, grid_b))
  )
  got_a = np.concatenate([np.asarray(ga), np.asarray(ga_c)], -1).astype(np.float64)
  got_b = np.concatenate([np.asarray(gb), np.asarray(gb_c)], -1).astype(np.float64)
  assert np.all(np.isfinite(got_a)) and np.all(np.isfinite(got_b))
  x_eval = np.concatenate([x_raw, np.array([DEFAULT_PIXEL_EPS, 1 - DEFAULT_PIXEL_EPS], dtype)])
  A, B, X = np.broadcast_arrays(a, b, x_eval[None, None, :])

  def ref(p, q, x, wrt):
    """The derivative of mp_log_prob in closed form at 50 digits: log x - psi(a) + psi(a + b)."""
    with mpmath.workdps(50):
      p, q, x = (_mp(v) for v in (p, q, x))
      log_x = mpmath.log(x) if wrt == 0 else mpmath.log1p(-x)
      return float(log_x - mpmath.digamma(p if wrt == 0 else q) + mpmath.digamma(p + q))

  ref_a = np.vectorize(lambda *v: ref(*v, 0))(A, B, X)
  ref_b = np.vectorize(lambda *v: ref(*v, 1))(A, B, X)
  # Spot-check the closed form against mpmath.diff of the density itself.
  with mpmath.workdps(50):
    for p, q, x in [(1e-3, 0.5, 1e-6), (3.0, 1e3, 1 - 1e-6), (0.5, 1.0, 0.5)]:
      numeric = mpmath.diff(lambda s: mp_log_prob(s, q, x), _mp(p))
      assert abs(float(numeric) - ref(p, q, x, 0)) <= 1e-12 * abs(float(numeric))
  # Rounding budget: |log x| + |psi(a)| + |psi(a + b)| (and likewise for b).
  psi = scipy.special.digamma
  A64, B64, X64 = (v.astype(np.float64) for v in (A, B, X))
  scale_a = np.abs(np.log(X64)) + np.abs(psi(A64)) + np.abs(psi(A64 + B64)) + 1
  scale_b = np.abs(np.log1p(-X64)) + np.abs(psi(B64)) + np.abs(psi(A64 + B64)) + 1
  err_a = np.max(np.abs(got_a - ref_a) / scale_a)
  err_b = np.max(np.abs(got_b - ref_b) / scale_b)
  print(f"Beta grads {dtype.__name__}: d/dalpha {err_a:.1e}, d/dbeta {err_b:.1e} (rel to terms)")
  e = eps(dtype)
  assert err_a <= 8 * e and err_b <= 8 * e


# ----------------------------------------------------------------------------- dtypes, shapes, module


def test_dtypes_and_broadcasting(dtype):
  a, b, x = np.ones((3, 1), dtype), np.ones((1, 4), dtype), np.zeros(4, dtype)

  def everything(a, b, x):
    d = Beta(a, b)
    return (d.log_prob(x), d.mean(), d.variance(), d.stddev(), d.cdf(x), d.sample(KEY, (5,)))

  shapes = [(3, 4)] * 5 + [(5, 3, 4)]
  for out, shape in zip(jax.eval_shape(everything, a, b, x), shapes):
    assert out.dtype == dtype and out.shape == shape
  assert Beta(a, b).batch_shape == (3, 4)


def test_module_concentrations_and_sum():
  lik = likelihoods.get("beta")
  assert lik.outputs_per_pixel() == 2
  rng = np.random.default_rng(0)
  raw = rng.normal(0, 3, (2, 28, 28, 2)).astype(np.float32)
  x = (rng.integers(0, 256, (2, 28, 28)) / 255).astype(np.float32)

  @jax.jit
  def evaluate(raw, x):
    variables = lik.init(KEY, raw, x, method=lik.log_likelihood)
    d = lik.apply(variables, raw, x)
    return lik.apply(variables, raw, x, method=lik.log_likelihood), d.log_prob(x), d

  ll, per_pixel, d = evaluate(raw, x)
  assert ll.shape == (2,)
  np.testing.assert_allclose(ll, per_pixel.sum(axis=(1, 2)), rtol=1e-6)
  floor = lik.concentration_floor
  np.testing.assert_allclose(d.concentration1, np.logaddexp(0, raw[..., 0]) + floor, rtol=1e-6)
  np.testing.assert_allclose(d.concentration0, np.logaddexp(0, raw[..., 1]) + floor, rtol=1e-6)
  assert d.pixel_eps == DEFAULT_PIXEL_EPS
  # Against scipy, pixel by pixel, with the documented clamp.
  xc = np.clip(x, DEFAULT_PIXEL_EPS, 1 - DEFAULT_PIXEL_EPS).astype(np.float64)
  ref = (
    scipy.stats.beta(
      np.asarray(d.concentration1, np.float64), np.asarray(d.concentration0, np.float64)
    )
    .logpdf(xc)
    .sum(axis=(1, 2))
  )
  np.testing.assert_allclose(ll, ref, rtol=1e-5)
  with pytest.raises(ValueError, match="concentration_floor"):
    bad = likelihoods.get("beta", concentration_floor=-1.0)
    bad.init(KEY, raw, x, method=bad.log_likelihood)
