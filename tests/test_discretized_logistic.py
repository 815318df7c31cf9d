"""The discretized logistic mixture: a pmf on the 256 levels against mpmath and scipy, read as the
piecewise-constant density on [0, 1]; float32 against float64, the sampler's levels, gradients
against finite differences, chunked evaluation, its likelihood module, and a few training steps.
(Normalization, moments, sampling, finite gradients at the edges and at extreme parameters,
jit/vmap: test_distribution_contract.py.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy import stats

import likelihoods
from likelihoods import DiscretizedLogistic
from likelihoods.discretized_logistic import log_one_minus_exp_neg
from tests import helpers

LEVELS = np.arange(256)


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


_params = helpers.logistic_mixture_params


def _mp_log_pmf(logits, loc, log_scale, k):
  """log P(k) of the mixture at 50 digits from the logistic cdf, edges folded; each difference
  taken in the tail it lies in (sigma(a) - sigma(b) = sigma(-b) - sigma(-a)), so that bins deep in
  an upper tail do not cancel to 0 even at 50 digits."""
  with mpmath.workdps(50):
    sig = lambda t: 1 / (1 + mpmath.exp(-t))
    inf = mpmath.inf
    weights = [mpmath.exp(mpmath.mpf(float(v))) for v in logits]
    total = 0
    for w, mu, ls in zip(weights, loc, log_scale):
      s = mpmath.exp(mpmath.mpf(float(ls)))
      a = inf if k == 255 else (mpmath.mpf(k + 1) / 256 - mpmath.mpf(float(mu))) / s
      b = -inf if k == 0 else (mpmath.mpf(k) / 256 - mpmath.mpf(float(mu))) / s
      total += w * (sig(a) - sig(b) if b < 0 else sig(-b) - sig(-a))
    return float(mpmath.log(total / mpmath.fsum(weights)))


@pytest.mark.parametrize("k", [1, 3])
def test_log_probs_against_mpmath_deep_in_the_tails(x64, k):
  rng = np.random.default_rng(10 + k)
  logits, loc, log_scale = _params(rng, 6, k, extreme=True)
  d = DiscretizedLogistic(jnp.asarray(logits), jnp.asarray(loc), jnp.asarray(log_scale))
  levels = np.array([0, 1, 2, 37, 128, 200, 253, 254, 255])
  got = np.asarray(d.log_prob_8bit(levels[:, None]))
  ref = np.array(
    [[_mp_log_pmf(logits[i], loc[i], log_scale[i], j) for i in range(6)] for j in levels]
  )
  assert ref.min() < -1000  # bins far in a tail, where a linear-space difference is 0
  np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-12)


def test_log_probs_against_scipy_logistic_cdf_differences(x64):
  rng = np.random.default_rng(3)
  logits, loc, log_scale = _params(rng, 20, 4)
  got = np.asarray(
    DiscretizedLogistic(*(jnp.asarray(p) for p in (logits, loc, log_scale))).log_prob_8bit(
      LEVELS[:, None]
    )
  )
  edges = np.arange(257) / 256
  cdf = stats.logistic.cdf(edges[:, None, None], loc, np.exp(log_scale))  # [257, n, K]
  cdf[0], cdf[-1] = 0.0, 1.0  # folded edges
  weights = np.exp(logits - logits.max(-1, keepdims=True))
  weights /= weights.sum(-1, keepdims=True)
  probs = np.sum(weights * np.diff(cdf, axis=0), -1)
  ok = probs > 1e-6  # where float64 differences of cdfs near 1 are good to 1e-10 relative
  assert ok.mean() > 0.3
  np.testing.assert_allclose(got[ok], np.log(probs[ok]), rtol=0, atol=1e-9)


def test_float32_matches_float64():
  rng = np.random.default_rng(4)
  params = _params(rng, 8, 3, extreme=True)
  lo = np.asarray(
    DiscretizedLogistic(*(jnp.asarray(p, jnp.float32) for p in params)).log_prob_8bit(
      LEVELS[:, None]
    )
  )
  with jax.enable_x64(True):
    ref = np.asarray(
      DiscretizedLogistic(*(jnp.asarray(np.float32(p), jnp.float64) for p in params)).log_prob_8bit(
        LEVELS[:, None]
      )
    )
  assert lo.dtype == np.float32 and np.isfinite(lo).all()
  # relative to the log-probability's size (|a|, |b| up to 3e6 at far means), at least 2e-5 nats
  np.testing.assert_allclose(lo, ref, rtol=2e-6, atol=2e-5)


def test_log_prob_is_the_level_pmf_plus_log_256(x64):
  rng = np.random.default_rng(5)
  d = DiscretizedLogistic(*(jnp.asarray(p) for p in _params(rng, 4, 2)))
  k = rng.integers(0, 256, size=(50, 4))
  u = rng.integers(0, 2**16, size=k.shape) / 2**16  # the dequantization's grid
  x = (k + u) / 256
  expected = np.asarray(d.log_prob_8bit(k)) + math.log(256)
  np.testing.assert_allclose(d.log_prob(x), expected, rtol=1e-15)
  # float32 inputs as the data pipeline makes them; the edges 0 and 1 (the continuous protocol's
  # pixel 255)
  x32 = jnp.asarray(np.array([0.0, 1 / 256, 0.5, 255 / 256, 1.0]), jnp.float32)[:, None]
  levels = np.array([0, 1, 128, 255, 255])[:, None]
  np.testing.assert_allclose(d.log_prob(x32), d.log_prob_8bit(levels) + math.log(256), rtol=1e-15)
  assert np.all(np.isneginf(d.log_prob(jnp.array([[-1e-3], [1.001]]))))
  assert DiscretizedLogistic.is_density() and DiscretizedLogistic.has_pmf_8bit()
  assert DiscretizedLogistic.support == "unit_interval" and not DiscretizedLogistic.has_cdf


def test_a_sample_lies_in_the_bin_of_the_level_sample_8bit_draws(x64):
  """sample draws its level with sample_8bit from the first half of the key (the distribution of
  the samples: tests/test_distribution_contract.py, this mixture among its examples)."""
  d = DiscretizedLogistic(
    jnp.asarray([0.3, -0.5, 1.0]), jnp.asarray([-0.02, 0.4, 0.93]), jnp.asarray([-4.0, -3.0, -5.0])
  )
  n = 2_000
  x = np.asarray(d.sample(jax.random.PRNGKey(0), (n,)))
  assert x.shape == (n,) and x.min() >= 0 and x.max() < 1
  levels = np.asarray(d.sample_8bit(jax.random.split(jax.random.PRNGKey(0))[0], (n,)))
  np.testing.assert_array_equal(np.floor(x * 256), levels)


def test_gradients_against_finite_differences(x64):
  rng = np.random.default_rng(7)
  logits, loc, log_scale = (jnp.asarray(p) for p in _params(rng, 5, 3))
  levels = jnp.array([0, 3, 128, 254, 255])

  def f(a, m, s):
    return jnp.sum(DiscretizedLogistic(a, m, s).log_prob_8bit(levels))

  grads = jax.grad(f, argnums=(0, 1, 2))(logits, loc, log_scale)
  args = [logits, loc, log_scale]
  for i, g in enumerate(grads):
    for idx in [(0, 0), (2, 1), (4, 2)]:
      h = 1e-6
      plus, minus = list(args), list(args)
      plus[i] = args[i].at[idx].add(h)
      minus[i] = args[i].at[idx].add(-h)
      fd = (f(*plus) - f(*minus)) / (2 * h)
      assert float(g[idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-6)


def test_log_one_minus_exp_neg_for_every_width(x64):
  log_d = np.array([-800.0, -60.0, -20.5, -19.5, -5.0, -0.5, 0.0, 3.0, 700.0])
  got = np.asarray(log_one_minus_exp_neg(jnp.asarray(log_d)))
  with mpmath.workdps(60):
    ref = [float(mpmath.log(-mpmath.expm1(-mpmath.exp(v)))) for v in log_d]
  np.testing.assert_allclose(got, ref, rtol=1e-14)
  g = jax.vmap(jax.grad(log_one_minus_exp_neg))(jnp.asarray(log_d))
  assert np.isfinite(np.asarray(g)).all()


def test_the_likelihood_module():
  lik = likelihoods.get("discretized_logistic")
  assert likelihoods.options("discretized_logistic") == {
    "event_ndims": 2,
    "num_mixtures": 5,
    "log_scale_min": -8.0,
  }
  assert lik.outputs_per_pixel() == 15
  assert likelihoods.get("discretized_logistic", num_mixtures=1).outputs_per_pixel() == 2
  raw = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 15)) * 5
  dist = lik.apply({}, raw, method=type(lik).distribution)
  assert isinstance(dist, DiscretizedLogistic) and dist.batch_shape == (3, 28, 28)
  assert float(jnp.min(dist.log_scale)) > -8.0  # the soft floor
  x = jnp.full((3, 28, 28), 0.5)
  assert lik.apply({}, raw, x, method=type(lik).log_likelihood).shape == (3,)
  for bad in (0, -1, 2.5, True):
    with pytest.raises(ValueError, match="num_mixtures"):
      likelihoods.get("discretized_logistic", num_mixtures=bad).outputs_per_pixel()
  single = likelihoods.get("discretized_logistic", num_mixtures=1)
  d1 = single.apply({}, raw[..., :2], method=type(single).distribution)
  assert d1.num_components == 1 and d1.mean().shape == (3, 28, 28)


def test_moments_and_log_probs_in_chunks_equal_one_piece(monkeypatch):
  from likelihoods import discretization

  rng = np.random.default_rng(8)
  d = DiscretizedLogistic(
    *(jnp.asarray(p, jnp.float32).reshape(2, 3, 4, 3) for p in _params(rng, 24, 3))
  )
  pixels = jnp.asarray(rng.integers(0, 256, size=(2, 3, 4)))
  whole = [np.asarray(v) for v in (d.log_prob_8bit(pixels), d.mean(), d.variance())]
  # 7 pixels per chunk of log-probabilities, 1 per chunk of moments (256 x 3 values each)
  monkeypatch.setattr(discretization, "CHUNK_ELEMENTS", 7 * 3)
  chunked = [np.asarray(v) for v in (d.log_prob_8bit(pixels), d.mean(), d.variance())]
  for a, b in zip(whole, chunked):
    np.testing.assert_allclose(a, b, rtol=1e-6)


def test_training_on_tiny_data_lowers_the_loss():
  """A few Adam steps of the tiny VAE on synthetic 8-bit images (no MNIST)."""
  losses = helpers.adam_losses_on_synthetic_8bit("discretized_logistic", 1e-2)
  assert np.isfinite(losses).all()
  assert np.mean(losses[-5:]) < losses[0] - 200, (losses[0], losses[-5:])
