"""What callers ask a distribution instead of its type: support, is_density, log tails, the
density that stands in for a non-density, and clear errors where something is undefined."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy import stats

import likelihoods
from likelihoods import (
  Bernoulli,
  Beta,
  Categorical,
  ContinuousBernoulli,
  DiscretizedLogistic,
  Normal,
)

EIGHT_BIT = (DiscretizedLogistic, Categorical)


def test_support_and_is_density():
  classes = (Bernoulli, ContinuousBernoulli, Beta, Normal, DiscretizedLogistic, Categorical)
  assert [c.support for c in classes] == [
    "binary",
    "unit_interval",
    "unit_interval",
    "real",
    "unit_interval",
    "unit_interval",
  ]
  assert not Bernoulli.is_density()
  assert ContinuousBernoulli.is_density() and Beta.is_density() and Normal.is_density()
  assert all(c.is_density() for c in EIGHT_BIT)
  for name in likelihoods.available():
    lik = likelihoods.get(name)
    assert lik.distribution_type.is_density() == (name != "bernoulli")


def test_which_distributions_say_how_probable_an_8bit_pixel_is():
  # a continuous cdf discretized, or a native pmf (which needs no cdf); the Bernoulli has neither
  assert [c.has_pmf_8bit() for c in (Bernoulli, ContinuousBernoulli, Beta, Normal)] == [
    False,
    True,
    True,
    True,
  ]
  assert all(c.has_pmf_8bit() and not c.has_cdf for c in EIGHT_BIT)
  with pytest.raises(NotImplementedError, match="Bernoulli.*no 8-bit pmf.*no continuous cdf"):
    Bernoulli(jnp.zeros(3)).log_prob_8bit(jnp.arange(3))
  d = Normal(jnp.array([0.2, 0.7]), jnp.array([0.05, 0.3]))
  levels = jnp.arange(256)[:, None]
  np.testing.assert_allclose(
    np.exp(np.asarray(d.log_prob_8bit(levels), np.float64)).sum(0), 1, atol=2e-5
  )


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


def test_normal_log_survival_against_scipy(x64):
  x = np.array([-3.0, 0.1, 0.5, 1.0, 3.0, 30.0])
  d = Normal(jnp.float64(0.2), jnp.float64(0.1))
  np.testing.assert_allclose(d.log_survival(x), stats.norm.logsf(x, 0.2, 0.1), rtol=1e-12)


def test_beta_log_survival_against_scipy(x64):
  x = np.array([1e-3, 0.2, 0.5, 0.9, 0.999])
  d = Beta(jnp.float64(2.5), jnp.float64(0.7), pixel_eps=0.0)
  np.testing.assert_allclose(d.log_survival(x), stats.beta.logsf(x, 2.5, 0.7), rtol=1e-9)


@pytest.mark.parametrize("eta", [-30.0, -2.0, 1e-3, 0.7, 5.0, 60.0])
def test_continuous_bernoulli_log_survival_against_mpmath(x64, eta):
  mpmath.mp.dps = 50

  def log_sf(x):
    e = mpmath.mpf(eta)
    return float(mpmath.log(1 - mpmath.expm1(e * x) / mpmath.expm1(e)))

  xs = np.array([0.01, 0.3, 0.5, 0.8, 0.999])
  got = np.asarray(ContinuousBernoulli(jnp.float64(eta)).log_survival(xs))
  np.testing.assert_allclose(got, [log_sf(mpmath.mpf(float(v))) for v in xs], rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(
  "dist",
  [
    Normal(jnp.array([0.3, 0.6]), jnp.array([0.05, 0.2])),
    ContinuousBernoulli(jnp.array([-4.0, 3.0])),
    Beta(jnp.array([0.5, 3.0]), jnp.array([2.0, 0.8])),
  ],
  ids=["normal", "cb", "beta"],
)
def test_log_tail_is_one_evaluation_of_either_tail(dist):
  x = jnp.linspace(0.05, 0.95, 7)[:, None]
  upper = x > 0.5
  expected = jnp.where(upper, dist.log_survival(x), dist.log_cdf(x))
  np.testing.assert_allclose(dist.log_tail(x, upper), expected, rtol=1e-6, atol=1e-7)
  # the tails are finite and negative deep in either tail
  assert np.all(np.isfinite(dist.log_tail(jnp.array([[1e-6], [1 - 1e-6]]), True)))


def test_a_bernoulli_is_read_as_continuous_bernoullis():
  b = Bernoulli(jnp.array([-3.0, 0.0, 2.0]))
  stand_in = b.as_density()
  assert isinstance(stand_in, ContinuousBernoulli)
  np.testing.assert_allclose(stand_in.mean(), b.probs, rtol=1e-5)
  assert set(Bernoulli.readings) == {"cb_lambda"}
  np.testing.assert_array_equal(b.reading("cb_lambda").logits, b.logits)
  with pytest.raises(ValueError, match="no reading 'cb_mean'.*cb_lambda"):
    b.reading("cb_mean")
  with pytest.raises(NotImplementedError, match="Bernoulli.*'binary'.*no log cdf"):
    b.log_cdf(0.5)
  with pytest.raises(NotImplementedError, match="Bernoulli.*no log survival"):
    b.log_tail(0.5, True)


def test_a_density_stands_in_for_itself_and_has_no_readings():
  d = Beta(jnp.array(2.0), jnp.array(3.0))
  assert d.as_density() is d
  assert Beta.readings == {}
  with pytest.raises(ValueError, match="Beta has no reading 'cb_lambda'"):
    d.reading("cb_lambda")
