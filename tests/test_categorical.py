"""The 256-way categorical: a pmf on the levels (sums to 1, against scipy's log_softmax and
mpmath), read as the piecewise-constant density on [0, 1]; the low-rank logits, moments, samples,
gradients at the edges and for huge logits, chunked evaluation, and a few training steps."""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special
from scipy import stats

import likelihoods
from likelihoods import Categorical, discretization
from tests import helpers

LEVELS = np.arange(256)


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def _logits(rng, n, spread=3.0):
  logits = rng.normal(size=(n, 256)) * spread
  logits[0] *= 1e3  # logits of +-1e4: one level takes all the mass
  logits[1, 17] = 1e4
  logits[2] = 0.0  # uniform
  return logits


def test_the_256_probabilities_sum_to_one(x64):
  logits = _logits(np.random.default_rng(0), 6)
  d = Categorical.from_logits(jnp.asarray(logits))
  log_p = np.asarray(d.log_prob_8bit(LEVELS[:, None]))
  assert np.isfinite(log_p).all() and log_p.min() < -1e4  # levels far below the mode: not floored
  np.testing.assert_allclose(np.exp(log_p).sum(0), 1.0, rtol=0, atol=1e-13)
  np.testing.assert_allclose(np.asarray(d.probs_8bit()).sum(-1), 1.0, rtol=0, atol=1e-13)


def test_log_probs_against_scipy_and_mpmath(x64):
  rng = np.random.default_rng(1)
  logits = _logits(rng, 5)
  got = np.asarray(Categorical.from_logits(jnp.asarray(logits)).log_prob_8bit(LEVELS[:, None])).T
  np.testing.assert_allclose(got, scipy.special.log_softmax(logits, -1), rtol=1e-13, atol=1e-12)
  with mpmath.workdps(50):
    row = [mpmath.mpf(float(v)) for v in logits[3]]
    lse = mpmath.log(mpmath.fsum(mpmath.exp(v) for v in row))
    ref = np.array([float(v - lse) for v in row])
  np.testing.assert_allclose(got[3], ref, rtol=1e-14, atol=1e-13)


def test_low_rank_logits_are_features_times_the_embedding_plus_the_bias(x64):
  rng = np.random.default_rng(2)
  f, w, b = rng.normal(size=(3, 4, 5, 6)), rng.normal(size=(256, 6)), rng.normal(size=(4, 5, 256))
  d = Categorical(jnp.asarray(f), jnp.asarray(w), jnp.asarray(b))
  assert d.batch_shape == (3, 4, 5)
  logits = np.einsum("...r,jr->...j", f, w) + b
  np.testing.assert_allclose(d.logits(), logits, rtol=1e-13, atol=1e-13)
  k = rng.integers(0, 256, size=(4, 5))  # broadcast against the leading axis
  expected = np.take_along_axis(scipy.special.log_softmax(logits, -1), k[None, ..., None], -1)
  np.testing.assert_allclose(d.log_prob_8bit(k), expected[..., 0], rtol=1e-12, atol=1e-13)


def test_float32_log_probs():
  logits = _logits(np.random.default_rng(3), 6).astype(np.float32)
  got = np.asarray(Categorical.from_logits(jnp.asarray(logits)).log_prob_8bit(LEVELS[:, None])).T
  ref = scipy.special.log_softmax(logits.astype(np.float64), -1)
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, ref, rtol=2e-7, atol=1e-5)


def test_log_prob_is_the_level_pmf_plus_log_256(x64):
  rng = np.random.default_rng(4)
  d = Categorical.from_logits(jnp.asarray(_logits(rng, 4)))
  k = rng.integers(0, 256, size=(50, 4))
  x = (k + rng.integers(0, 2**16, size=k.shape) / 2**16) / 256
  np.testing.assert_allclose(d.log_prob(x), d.log_prob_8bit(k) + math.log(256), rtol=1e-15)
  x32 = jnp.asarray([0.0, 1 / 256, 0.5, 255 / 256, 1.0], jnp.float32)[:, None]
  levels = np.array([0, 1, 128, 255, 255])[:, None]
  np.testing.assert_allclose(d.log_prob(x32), d.log_prob_8bit(levels) + math.log(256), rtol=1e-15)
  assert np.all(np.isneginf(d.log_prob(jnp.array([[-0.5], [1.5]]))))
  assert Categorical.is_density() and Categorical.has_pmf_8bit() and not Categorical.has_cdf


def test_mean_and_variance(x64):
  logits = _logits(np.random.default_rng(5), 7)
  d = Categorical.from_logits(jnp.asarray(logits))
  p = scipy.special.softmax(logits, -1)
  c = (LEVELS + 0.5) / 256
  mean = p @ c
  np.testing.assert_allclose(d.mean(), mean, rtol=1e-13)
  np.testing.assert_allclose(
    d.variance(), p @ c**2 - mean**2 + 1 / (12 * 256**2), rtol=1e-8, atol=1e-16
  )
  assert float(d.variance()[1]) == pytest.approx(1 / (12 * 256**2), rel=1e-9)  # sure of level 17


def test_sampling_frequencies_chi_square(x64):
  rng = np.random.default_rng(6)
  logits = rng.normal(size=256) * 2
  d = Categorical.from_logits(jnp.asarray(logits))
  n = 50_000
  x = np.asarray(d.sample(jax.random.PRNGKey(1), (n,)))
  assert x.shape == (n,) and x.min() >= 0 and x.max() < 1
  counts = np.bincount(np.floor(x * 256).astype(int), minlength=256)
  expected = n * scipy.special.softmax(logits)
  big = expected >= 5
  obs = np.append(counts[big], counts[~big].sum())
  exp = np.append(expected[big], expected[~big].sum())
  assert stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3
  assert abs(x.mean() - float(d.mean())) < 5 * math.sqrt(float(d.variance()) / n)
  # a level with all the mass is always drawn; sampling keeps the batch shape
  sure = Categorical.from_logits(jnp.asarray(_logits(rng, 3)))
  draws = np.asarray(sure.sample_8bit(jax.random.PRNGKey(2), (100,)))
  assert draws.shape == (100, 3) and np.all(draws[:, 1] == 17)


@pytest.mark.parametrize("level", [0, 1, 128, 255])
def test_gradients_are_finite_at_the_edges_and_for_huge_logits(level):
  rng = np.random.default_rng(7)
  features = jnp.asarray(rng.normal(size=(4, 3)) * np.array([[1e4], [1.0], [1e-30], [1e3]]))
  weight = jnp.asarray(rng.normal(size=(256, 3)), jnp.float32)
  bias = jnp.asarray(rng.normal(size=(4, 256)) * 1e3, jnp.float32)
  features = features.astype(jnp.float32)

  def f(fe, w, b):
    return jnp.sum(Categorical(fe, w, b).log_prob_8bit(jnp.full((4,), level)))

  assert np.isfinite(float(f(features, weight, bias)))
  for g in jax.grad(f, argnums=(0, 1, 2))(features, weight, bias):
    assert np.isfinite(np.asarray(g)).all()
  g = jax.grad(lambda lg: jnp.sum(Categorical.from_logits(lg).log_prob_8bit(level)))(
    jnp.asarray(_logits(rng, 3), jnp.float32)
  )
  assert np.isfinite(np.asarray(g)).all()


def test_gradients_against_finite_differences(x64):
  rng = np.random.default_rng(8)
  args = [jnp.asarray(rng.normal(size=s)) for s in ((5, 3), (256, 3), (5, 256))]
  levels = jnp.array([0, 9, 128, 254, 255])

  def f(fe, w, b):
    return jnp.sum(Categorical(fe, w, b).log_prob_8bit(levels))

  grads = jax.grad(f, argnums=(0, 1, 2))(*args)
  for i, idx in [(0, (1, 2)), (1, (9, 0)), (1, (100, 1)), (2, (4, 255)), (2, (0, 3))]:
    h = 1e-6
    plus, minus = list(args), list(args)
    plus[i], minus[i] = args[i].at[idx].add(h), args[i].at[idx].add(-h)
    fd = (f(*plus) - f(*minus)) / (2 * h)
    assert float(grads[i][idx]) == pytest.approx(float(fd), rel=1e-6, abs=1e-8)


def test_chunks_give_the_values_and_gradients_of_one_piece(monkeypatch):
  rng = np.random.default_rng(9)
  f = jnp.asarray(rng.normal(size=(2, 5, 4, 3, 2)), jnp.float32)  # [samples, images, 4 x 3 px, r]
  w = jnp.asarray(rng.normal(size=(256, 2)), jnp.float32)
  b = jnp.asarray(rng.normal(size=(4, 3, 256)), jnp.float32)
  pixels = jnp.asarray(rng.integers(0, 256, size=(5, 4, 3)))

  def values(fe, w, b):
    d = Categorical(fe, w, b)
    return d.log_prob_8bit(pixels), d.mean(), d.variance()

  loss = lambda fe, w, b: jnp.sum(Categorical(fe, w, b).log_prob_8bit(pixels))
  whole = values(f, w, b), jax.grad(loss, argnums=(0, 1, 2))(f, w, b)
  for name in ("CHUNK_ELEMENTS", "CPU_CACHE_CHUNK_ELEMENTS"):
    monkeypatch.setattr(discretization, name, 3 * 12 * 256)  # 3 of the 10 images: padded chunks
  chunked = values(f, w, b), jax.grad(loss, argnums=(0, 1, 2))(f, w, b)
  for a, c in zip(jax.tree.leaves(whole), jax.tree.leaves(chunked)):
    np.testing.assert_allclose(a, c, rtol=2e-6, atol=1e-6)


def test_an_evaluation_sized_batch_stays_within_the_chunk_budget():
  """100 latent samples x 100 images: 8 GB of logits in one piece; chunked, well under 1 GB."""
  S = jax.ShapeDtypeStruct
  args = (
    S((100, 100, 28, 28, 4), jnp.float32),
    S((256, 4), jnp.float32),
    S((28, 28, 256), jnp.float32),
    S((100, 28, 28), jnp.uint8),
  )
  fn = lambda f, w, b, k: jnp.sum(Categorical(f, w, b).log_prob_8bit(k), (-2, -1))
  temp = jax.jit(fn).lower(*args).compile().memory_analysis().temp_size_in_bytes
  assert temp < 1e9, temp


def test_the_likelihood_module():
  assert likelihoods.options("categorical") == {"event_ndims": 2, "rank": 4}
  lik = likelihoods.get("categorical")
  assert lik.outputs_per_pixel() == 4
  assert likelihoods.get("categorical", rank=0).outputs_per_pixel() == 256
  raw = jax.random.normal(jax.random.PRNGKey(0), (3, 28, 28, 4))
  x = jnp.full((3, 28, 28), 0.3)
  variables = lik.init(jax.random.PRNGKey(1), raw, x, method=type(lik).distribution)
  shapes = jax.tree.map(jnp.shape, variables["params"])
  assert shapes == {"weight": (256, 4), "bias": (28, 28, 256)}
  dist = lik.apply(variables, raw, method=type(lik).distribution)
  assert isinstance(dist, Categorical) and dist.batch_shape == (3, 28, 28)
  assert lik.apply(variables, raw, x, method=type(lik).log_likelihood).shape == (3,)
  full = likelihoods.get("categorical", rank=0)
  assert full.init(jax.random.PRNGKey(1), jnp.zeros((1, 28, 28, 256)), method="distribution") == {}
  for bad in (-1, 1.5, True):
    with pytest.raises(ValueError, match="rank"):
      likelihoods.get("categorical", rank=bad).outputs_per_pixel()


def test_training_on_tiny_data_lowers_the_loss():
  """A few Adam steps of the tiny VAE on synthetic 8-bit images (no MNIST)."""
  losses = helpers.adam_losses_on_synthetic_8bit("categorical", 3e-2)
  assert np.isfinite(losses).all()
  assert np.mean(losses[-5:]) < losses[0] - 200, (losses[0], losses[-5:])
