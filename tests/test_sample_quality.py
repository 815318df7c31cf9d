"""Tests for vae.evaluation.sample_quality: Frechet distance and inception score against closed forms."""

import numpy as np
import pytest
from scipy import linalg

from vae.evaluation import sample_quality as sq


def _random_spd(rng, d, rank=None):
  a = rng.normal(size=(d, rank or d))
  return a @ a.T / d + (0 if rank else 0.1 * np.eye(d))


def _correlated_feats(rng, n, d, dead=0):
  """ReLU-like features with correlations and ``dead`` all-zero units (singular covariance)."""
  f = np.maximum(rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + 0.5, 0.0)
  f[:, :dead] = 0.0
  return f


# ------------------------------------------------------------------------------ Frechet distance


@pytest.mark.parametrize("dead", [0, 20])
def test_frechet_of_a_set_with_itself_is_zero(dead):
  f = _correlated_feats(np.random.default_rng(0), 2000, 128, dead)
  scale = np.trace(np.cov(f, rowvar=False))
  assert abs(sq.frechet_distance(f, f)) <= 1e-9 * scale


def test_frechet_diagonal_gaussians_closed_form():
  rng = np.random.default_rng(1)
  mu_a, mu_b = rng.normal(size=6), rng.normal(size=6)
  var_a, var_b = rng.uniform(0.1, 3, size=6), rng.uniform(0.1, 3, size=6)
  expected = np.sum((mu_a - mu_b) ** 2) + np.sum((np.sqrt(var_a) - np.sqrt(var_b)) ** 2)
  got = sq.frechet_from_stats(mu_a, np.diag(var_a), mu_b, np.diag(var_b))
  np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_frechet_of_samples_approaches_the_closed_form():
  rng = np.random.default_rng(2)
  a = rng.normal(0.0, 1.0, size=(200_000, 3))
  b = rng.normal(1.0, 2.0, size=(200_000, 3))
  np.testing.assert_allclose(sq.frechet_distance(a, b), 3 * (1.0 + 1.0), rtol=0.02)


@pytest.mark.parametrize("rank_b", [None, 5])
def test_frechet_full_covariances_match_scipy_sqrtm(rank_b):
  rng = np.random.default_rng(3)
  d = 12
  mu_a, mu_b = rng.normal(size=d), rng.normal(size=d)
  sa, sb = _random_spd(rng, d), _random_spd(rng, d, rank_b)
  covmean = linalg.sqrtm(sa @ sb)
  expected = np.sum((mu_a - mu_b) ** 2) + np.trace(sa + sb - 2 * np.real(covmean))
  np.testing.assert_allclose(sq.frechet_from_stats(mu_a, sa, mu_b, sb), expected, rtol=1e-7)


def test_frechet_symmetric_and_shift():
  rng = np.random.default_rng(4)
  a, b = _correlated_feats(rng, 500, 32), _correlated_feats(rng, 700, 32)
  np.testing.assert_allclose(sq.frechet_distance(a, b), sq.frechet_distance(b, a), rtol=1e-10)
  assert sq.frechet_distance(a, b) > 0
  shift = rng.normal(size=32)
  np.testing.assert_allclose(sq.frechet_distance(a + shift, a), shift @ shift, rtol=1e-8)


def test_feature_stats_and_from_stats_agree_with_direct():
  rng = np.random.default_rng(5)
  a, b = rng.normal(size=(300, 8)), rng.normal(size=(400, 8)) * 1.5
  mu, sigma = sq.feature_stats(a.astype(np.float32))
  assert mu.dtype == np.float64 and sigma.shape == (8, 8)
  np.testing.assert_allclose(sigma, np.cov(a, rowvar=False), rtol=1e-6)
  np.testing.assert_allclose(
    sq.frechet_from_stats(mu, sigma, *sq.feature_stats(b)), sq.frechet_distance(a, b), rtol=1e-6
  )
  with pytest.raises(ValueError, match="inconsistent shapes"):
    sq.frechet_from_stats(mu, sigma, mu[:4], sigma[:4, :4])
  with pytest.raises(ValueError):
    sq.feature_stats(a[:1])


# ------------------------------------------------------------------------------ inception score


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_inception_score_uniform_predictions_is_one(kind):
  values = np.full((1000, 10), 0.1) if kind == "probs" else np.zeros((1000, 10))
  mean, std = sq.inception_score(values)
  np.testing.assert_allclose([mean, std], [1.0, 0.0], atol=1e-12)


@pytest.mark.parametrize("kind", ["probs", "logits"])
def test_inception_score_confident_and_balanced_is_num_classes(kind):
  labels = np.tile(np.arange(10), 100)  # every split holds each class equally often
  onehot = np.eye(10)[labels]
  values = onehot if kind == "probs" else 60.0 * onehot  # softmax(60) = 1 - 1e-25
  mean, std = sq.inception_score(values, num_splits=10, kind=kind)
  np.testing.assert_allclose([mean, std], [10.0, 0.0], atol=1e-9)
  # Confident but always the same class: no diversity, IS = 1.
  np.testing.assert_allclose(sq.inception_score(np.eye(10)[np.zeros(1000, int)])[0], 1.0)


def test_inception_score_known_value_and_bounds():
  # Two classes, p(y|x) = (0.9, 0.1) or (0.1, 0.9) in equal numbers: IS = exp(KL((.9,.1)||(.5,.5))).
  p = np.tile([[0.9, 0.1], [0.1, 0.9]], (50, 1))
  expected = np.exp(0.9 * np.log(1.8) + 0.1 * np.log(0.2))
  np.testing.assert_allclose(sq.inception_score(p, num_splits=5)[0], expected, rtol=1e-12)
  rng = np.random.default_rng(6)
  for scale in (0.1, 1.0, 5.0, 50.0):
    mean, std = sq.inception_score(scale * rng.normal(size=(2000, 10)))
    assert 1.0 <= mean <= 10.0 and std >= 0
  # Logits and their softmax give the same score; float32 input is fine.
  logits = (3 * rng.normal(size=(500, 10))).astype(np.float32)
  probs = np.exp(logits - logits.max(1, keepdims=True))
  probs /= probs.sum(1, keepdims=True)
  np.testing.assert_allclose(
    sq.inception_score(logits), sq.inception_score(probs, kind="probs"), rtol=1e-5
  )


def test_inception_score_input_checks():
  with pytest.raises(ValueError, match="num_splits"):
    sq.inception_score(np.zeros((5, 10)), num_splits=10)
  with pytest.raises(ValueError, match="NaN"):
    sq.inception_score(np.full((20, 10), np.nan))
  with pytest.raises(ValueError, match="kind"):
    sq.inception_score(np.zeros((20, 10)), kind="softmax")
