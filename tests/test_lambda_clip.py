"""The CB paper's lambda clip (off by default): lambda in [c, 1 - c] in the decoder and in every
continuous Bernoulli the evaluation reads a Bernoulli as; oracle: mpmath."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import likelihoods
from likelihoods.continuous_bernoulli import clip_logits

C = 1e-4


def _log_cb_density(lam, x):
  """log C(lambda) lambda^x (1 - lambda)^(1 - x) at 50 digits."""
  mpmath.mp.dps = 50
  lam, x = mpmath.mpf(lam), mpmath.mpf(x)
  log_c = mpmath.log(2 * mpmath.atanh(1 - 2 * lam) / (1 - 2 * lam))
  return float(log_c + x * mpmath.log(lam) + (1 - x) * mpmath.log1p(-lam))


def test_clip_logits_bounds_lambda_exactly():
  with jax.enable_x64(True):
    logits = jnp.array([-1e4, -9.3, -9.2, 0.0, 9.2, 9.3, 1e4], jnp.float64)
    lam = np.asarray(jax.nn.sigmoid(clip_logits(logits, C)))
  np.testing.assert_allclose(lam[[0, 1]], C, rtol=1e-12)
  np.testing.assert_allclose(lam[[5, 6]], 1 - C, rtol=1e-12)
  assert lam[2] > C and lam[4] < 1 - C and lam[3] == 0.5
  np.testing.assert_array_equal(clip_logits(logits, 0.0), logits)  # off: unchanged
  for bad in (-0.1, 0.5, float("nan")):
    with pytest.raises(ValueError, match=f"lambda_clip={bad}"):
      clip_logits(logits, bad)


def test_clipped_continuous_bernoulli_caps_the_density_at_log_c_of_the_clip():
  lik = likelihoods.get("continuous_bernoulli", lambda_clip=C)
  raw = jnp.array([[-1e4], [-20.0], [3.0]])[None, None]  # [1, 1, 3, 1]
  x = jnp.zeros((1, 1, 3))
  lp = np.asarray(lik.apply({}, raw, x, method=lik.distribution).log_prob(x))[0, 0]
  cap = _log_cb_density(C, 0.0)  # log C(1e-4) + log(1 - 1e-4) = 2.2204 nats
  np.testing.assert_allclose(lp[:2], cap, rtol=1e-5)
  assert abs(cap - 2.2204) < 1e-3
  unclipped = likelihoods.get("continuous_bernoulli").apply({}, raw, x, method=lik.distribution)
  assert float(unclipped.log_prob(x)[0, 0, 0]) > 9  # log |eta| ~ 9.2 for eta = -1e4
  grad = jax.grad(lambda r: lik.apply({}, r, x, method=lik.distribution).log_prob(x).sum())(raw)
  assert np.all(np.asarray(grad)[0, 0, :2] == 0) and np.asarray(grad)[0, 0, 2, 0] != 0


def test_a_clipped_bernoulli_is_read_as_clipped_continuous_bernoullis():
  lik = likelihoods.get("bernoulli", lambda_clip=C)
  raw = jnp.array([-30.0, -5.0, 0.0, 12.0])[:, None]
  dist = lik.apply({}, raw, method=lik.distribution)
  assert dist.lambda_clip == C
  bound = np.log1p(-C) - np.log(C)
  np.testing.assert_allclose(dist.logits, [-bound, -5.0, 0.0, bound], rtol=1e-6)
  for cb in (dist.reading("cb_lambda"), dist.as_density()):
    assert np.all(np.abs(np.asarray(cb.logits)) <= bound * (1 + 1e-6))
  # the inverse-mean map of lambda = 1e-4 is a logit near -1e4: clipped after the map
  np.testing.assert_allclose(dist.as_density().logits[0], -bound, rtol=1e-6)
  unclipped = likelihoods.get("bernoulli").apply({}, raw, method=lik.distribution)
  assert float(unclipped.as_density().logits[0]) < -1e3


def test_the_option_is_registered_and_off_by_default():
  for name in ("bernoulli", "continuous_bernoulli"):
    assert likelihoods.options(name)["lambda_clip"] == 0.0
