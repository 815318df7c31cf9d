"""Laplace against scipy.stats.laplace and mpmath, and LaplaceLikelihood's scale modes: the
fixed-scale "MAE" identity, the optimal scale (the batch mean absolute error) and its running
estimate, the scale diagnostics. Tolerances are in units of the dtype's eps; ``pytest -s`` prints
the measured errors. (Normalization, moments, sampling, jit/vmap: test_distribution_contract.py;
the 8-bit likelihood against mpmath: test_tails.py.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.stats

import likelihoods
from likelihoods import Laplace, decoders
from tests.helpers import KEY, eps  # noqa: F401  (dtype fixture: conftest)

D = 28 * 28
mpmath.mp.dps = 50


@jax.jit
def _evaluate(loc, scale, x):
  d = Laplace(loc, scale)
  return (
    d.log_prob(x),
    d.mean(),
    d.variance(),
    d.cdf(x),
    d.log_cdf(x),
    d.log_survival(x),
    d.icdf(d.cdf(x)),
  )


def _mp_log_prob(loc, scale, x):
  loc, scale, x = np.broadcast_arrays(loc, scale, x)
  f = lambda m, b, v: float(-abs(mpmath.mpf(v) - m) / b - mpmath.log(2 * mpmath.mpf(b)))  # noqa: E731
  return np.vectorize(f)(loc, scale, x)


def test_against_scipy_stats(dtype):
  """cdf, log cdf, log survival, mean and variance against scipy; log_prob against mpmath (scipy's
  logpdf is log(pdf), -inf beyond e^-745)."""
  locs = np.array([0.0, 1e-6, -1e-3, 0.5, -30.0, 1e4], dtype)[:, None, None]
  scales = np.array([0.0025, 0.3, 1.0, 50.0], dtype)[None, :, None]
  xs = np.array([0.0, 1e-3, 0.5, 1.0, -2.0, 1e4 + 3], dtype)[None, None, :]
  lp, mean, var, cdf, log_cdf, log_sf, _ = (
    np.asarray(v, np.float64) for v in _evaluate(locs, scales, xs)
  )
  l64, s64, x64 = (a.astype(np.float64) for a in (locs, scales, xs))
  ref = scipy.stats.laplace(l64, s64)
  # Rounding budget: eps times the size of the terms (|x - loc| / b carries the rounding of x and
  # loc: (|x| + |loc|) / b).
  terms = (np.abs(x64) + np.abs(l64)) / s64 + np.abs(np.log(s64)) + 1
  finite = ref.logcdf(x64) > -700  # scipy's logpdf/logcdf/logsf go through exp below that
  err = {
    "log_prob": np.max(np.abs(lp - _mp_log_prob(l64, s64, x64)) / terms),
    "mean": np.max(np.abs(mean - np.broadcast_to(ref.mean(), mean.shape))),
    "variance": np.max(np.abs(var / ref.var() - 1)),
    "cdf": np.max(np.abs(cdf - ref.cdf(x64))),
    "log_cdf": np.max((np.abs(log_cdf - ref.logcdf(x64)) / terms)[finite]),
    "log_survival": np.max((np.abs(log_sf - ref.logsf(x64)) / terms)[ref.logsf(x64) > -700]),
  }
  print(f"Laplace vs scipy {dtype.__name__}: " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
  e = eps(dtype)
  assert err["log_prob"] <= 2 * e
  assert err["mean"] == 0
  assert err["variance"] <= 2 * e
  assert err["cdf"] <= 2 * e
  assert err["log_cdf"] <= 2 * e
  assert err["log_survival"] <= 2 * e


def _mp_log_cdf(loc, scale, x):
  z = (mpmath.mpf(float(x)) - mpmath.mpf(float(loc))) / mpmath.mpf(float(scale))
  return float(z - mpmath.log(2) if z < 0 else mpmath.log1p(-mpmath.exp(-z) / 2))


@pytest.mark.parametrize(
  "z", [-1e4, -700.0, -30.0, -1e-3, -1e-8, 0.0, 1e-8, 1e-3, 0.2, 0.7, 1.4, 30, 1e4]
)
def test_log_tails_against_mpmath(dtype, z):
  """log F and log S relative to mpmath at 50 digits, from deep in either tail (z = -1e4: a pixel
  1e4 scales away, e^-1e4, beyond any float) across the median, where log1p(-e^-z / 2) is used
  (1/2 of the mass: log S(0) = -log 2, exactly)."""
  loc, scale = np.asarray(0.25, dtype), np.asarray(0.125, dtype)
  x = np.asarray(loc + z * scale, dtype)
  d = Laplace(jnp.asarray(loc), jnp.asarray(scale))
  got = np.array([float(d.log_cdf(x)), float(d.log_survival(x))])
  ref = np.array([_mp_log_cdf(loc, scale, x), _mp_log_cdf(-loc, scale, -x)])
  rel = np.abs(got - ref) / np.maximum(np.abs(ref), 1e-300)
  # the rounding of x itself: |x| / b relative to log F's size, ~eps |z|
  bound = (
    4 * eps(dtype) * (1 + (abs(float(x)) + float(loc)) / float(scale) / np.maximum(np.abs(ref), 1))
  )
  assert np.all(rel <= bound), (z, got, ref, rel)


@pytest.mark.parametrize(
  "u", [1e-300, 1e-30, 1e-12, 1e-3, 0.3, 0.5, 0.5 + 1e-9, 0.55, 0.62, 0.7, 0.999, 1 - 1e-12]
)
def test_icdf_relative_accuracy(u):
  """F^-1(u) = mu + b log 2u below 1/2, mu - b log 2(1 - u) above: relative accuracy of z in both
  tails of u (float64 against mpmath), with F(F^-1(u)) = u."""
  with jax.enable_x64(True):
    d = Laplace(jnp.float64(0.0), jnp.float64(1.0))
    z = float(d.icdf(jnp.float64(u)))
  uu = mpmath.mpf(u)
  ref = float(mpmath.log(2 * uu) if uu < 0.5 else -mpmath.log(2 * (1 - uu)))
  assert abs(z - ref) <= 4 * eps(np.float64) * max(abs(ref), 1e-300), (u, z, ref)


def test_icdf_edges_and_round_trip(dtype):
  u = np.linspace(0.01, 0.99, 99, dtype=dtype)
  d = Laplace(
    jnp.asarray(np.array([[0.3], [-2.0], [5.0]], dtype)),
    jnp.asarray(np.array([[0.1], [1.0], [3.0]], dtype)),
  )
  np.testing.assert_allclose(
    np.asarray(d.cdf(d.icdf(u))), np.broadcast_to(u, (3, 99)), atol=4 * eps(dtype)
  )
  assert np.all(np.isneginf(np.asarray(d.icdf(jnp.zeros((), dtype)))))
  assert np.all(np.isposinf(np.asarray(d.icdf(jnp.ones((), dtype)))))


@pytest.mark.parametrize("what", ["log_prob", "log_cdf", "log_survival"])
def test_gradients_finite_and_exact_at_the_extremes(dtype, what):
  """d/d loc and d/d log b at z from -1e4 to 1e4 (and exactly at the median): finite, and for
  log_prob equal to the closed forms sign(z)/b and |z| - 1 (0 at the median: the subgradient
  there that the median's optimality uses)."""
  zs = np.array([-1e4, -30.0, -1.0, 0.0, 1.0, 30.0, 1e4], dtype)
  log_b = np.asarray(-3.0, dtype)

  def f(loc, lb):
    d = Laplace(loc, jnp.exp(lb), log_scale=lb)
    return jnp.sum(getattr(d, what)(zs * jnp.exp(log_b)))

  g_loc, g_lb = jax.grad(f, argnums=(0, 1))(jnp.asarray(0.0, dtype), jnp.asarray(log_b))
  assert np.isfinite(float(g_loc)) and np.isfinite(float(g_lb))
  b = math.exp(-3.0)
  if what == "log_prob":
    np.testing.assert_allclose(float(g_loc), np.sum(np.sign(zs)) / b, rtol=1e-5)
    np.testing.assert_allclose(float(g_lb), np.sum(np.abs(zs.astype(np.float64)) - 1), rtol=1e-5)
  # At the median exactly: d log F / dx = f / F = 1/b and d log S / dx = -1/b (d / d loc: minus).
  at_median = jax.grad(lambda loc: getattr(Laplace(loc, jnp.asarray(b, dtype)), what)(0.0))
  expected = {"log_prob": 0.0, "log_cdf": -1 / b, "log_survival": 1 / b}[what]
  np.testing.assert_allclose(float(at_median(jnp.asarray(0.0, dtype))), expected, rtol=1e-5)


def test_fixed_scale_nll_is_the_summed_absolute_error_over_b_plus_d_log_2b():
  """F7's identity for the Laplace: NLL(x) = sum |x - mean| / b + 784 log 2b; at the default
  b = 1, "MAE" summed over pixels plus 784 log 2."""
  rng = np.random.default_rng(0)
  raw = jnp.asarray(rng.normal(size=(3, 28, 28, 1)), jnp.float32)
  x = jnp.asarray(rng.uniform(size=(3, 28, 28)), jnp.float32)
  for b in (1.0, 0.1, 3.0):
    lik = likelihoods.get("laplace", scale="fixed", fixed_scale=b)
    nll = -lik.apply({}, raw, x, method=lik.log_likelihood)
    mean = jax.nn.sigmoid(raw[..., 0])
    expected = jnp.sum(jnp.abs(x - mean), (-2, -1)) / b + D * math.log(2 * b)
    np.testing.assert_allclose(np.asarray(nll), np.asarray(expected), rtol=2e-6)


def _init_apply(lik, raw, x, train):
  variables = lik.init(KEY, raw, x, train=train)
  return lik.apply(variables, raw, x, train=train, mutable=["likelihood_stats"]), variables


def test_optimal_scale_is_the_batch_mean_absolute_error_and_its_running_average_evaluates():
  rng = np.random.default_rng(1)
  raw = jnp.asarray(rng.normal(size=(4, 28, 28, 1)), jnp.float32)
  x = jnp.asarray(rng.uniform(size=(4, 28, 28)), jnp.float32)
  lik = likelihoods.get("laplace", scale="optimal", log_scale_min=-30.0)
  (dist, updates), variables = _init_apply(lik, raw, x, True)
  mae = float(jnp.mean(jnp.abs(x - jax.nn.sigmoid(raw[..., 0]))))
  np.testing.assert_allclose(float(jnp.mean(dist.scale)), mae, rtol=1e-5)
  # The maximum-likelihood b given the means: the batch log-likelihood is largest there.
  ll = lambda b: float(jnp.sum(Laplace(dist.loc, b).log_prob(x)))  # noqa: E731
  assert ll(mae) > ll(mae * 1.01) and ll(mae) > ll(mae * 0.99)
  stats = updates["likelihood_stats"]
  np.testing.assert_allclose(float(stats["mae_ema"]), 0.01 * mae, rtol=1e-5)
  # Evaluation: the debiased running average, whatever the test batch.
  test_dist = lik.apply({**variables, **updates}, raw[:1] * 0, None, train=False)
  np.testing.assert_allclose(float(jnp.mean(test_dist.scale)), mae, rtol=1e-5)


@pytest.mark.parametrize("mode", likelihoods.laplace.SCALE_MODES)
def test_every_scale_mode_builds_and_its_scale_terms_are_b_and_the_absolute_error(mode):
  lik = decoders.get(f"laplace_{mode}").build()
  raw = jnp.zeros((2, 28, 28, lik.outputs_per_pixel()), jnp.float32)
  x = jnp.full((2, 28, 28), 0.75, jnp.float32)
  (dist, _), _ = _init_apply(lik, raw, x, True)
  scale_term, error_term = dist.scale_terms(x)
  assert scale_term.shape == error_term.shape == (2, 28, 28)
  np.testing.assert_allclose(np.asarray(error_term), 0.25, rtol=1e-6)
  assert lik.has_learned_scale() == (mode != "fixed")
  assert likelihoods.Laplace.scale_power == 1


def test_bad_options_name_the_value_and_what_is_allowed():
  with pytest.raises(ValueError, match=r"scale='wide' is not one of \('fixed'"):
    likelihoods.get("laplace", scale="wide")
  lik = likelihoods.get("laplace", scale="fixed", fixed_scale=0.0)
  with pytest.raises(ValueError, match="fixed_scale=0.0 must be > 0"):
    lik.init(KEY, jnp.zeros((1, 28, 28, 1)), jnp.zeros((1, 28, 28)))
  lik = likelihoods.get("laplace", scale="optimal")
  with pytest.raises(ValueError, match="needs the data x in training"):
    lik.init(KEY, jnp.zeros((1, 28, 28, 1)), None, train=True)
