"""The 256-way categorical: a pmf on the levels against scipy's log_softmax and mpmath, read as the
piecewise-constant density on [0, 1]; the low-rank logits, gradients against finite differences,
chunked evaluation, the likelihood module, and a few training steps. (Normalization, moments,
sampling, finite gradients at the edges and for huge logits, jit/vmap:
test_distribution_contract.py.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special

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
