"""What callers ask a distribution instead of its type: which decoders are densities, log
survival functions against oracles, the density that stands in for a non-density, and clear errors
where something is undefined. (Every class's declared properties against its values, and log_tail
as either tail: test_distribution_contract.py.)"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
from scipy import stats

import likelihoods
from likelihoods import Bernoulli, Beta, ContinuousBernoulli, Normal, decoders


def test_the_binary_cross_entropy_decoders_are_the_non_densities():
  """Every registered likelihood's distribution is a density on [0, 1] but the Bernoulli's, the
  decoder table's binary cross-entropy (role ``bce``); the contract test checks each class's
  declared support, is_density and has_pmf_8bit against its values."""
  non_densities = {
    name
    for name in likelihoods.available()
    if not likelihoods.get(name).distribution_type.is_density()
  }
  assert non_densities == {decoders.get(n).likelihood for n in decoders.with_role("bce")}
  assert not Bernoulli.is_density() and Bernoulli.support == "binary"


def test_a_bernoulli_says_it_has_no_8bit_pmf():
  assert not Bernoulli.has_pmf_8bit()
  with pytest.raises(NotImplementedError, match="Bernoulli.*no 8-bit pmf.*no continuous cdf"):
    Bernoulli(jnp.zeros(3)).log_prob_8bit(jnp.arange(3))


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


def test_a_bernoulli_is_read_as_continuous_bernoullis():
  b = Bernoulli(jnp.array([-3.0, 0.0, 2.0]))
  stand_in = b.as_density()
  assert isinstance(stand_in, ContinuousBernoulli)
  np.testing.assert_allclose(stand_in.mean(), b.probs, rtol=1e-5)
  assert set(Bernoulli.readings) == {"cb_lambda", "cb_mean_knots"}
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


def test_distributions_of_different_classes_never_share_a_compiled_program():
  """jax 0.10 compares two flax dataclasses' tree structures as equal whatever their classes when
  their fields line up (Normal and Laplace: loc, scale, log_scale); a jit cache could then run one
  distribution's program on the other. ``distribution_dataclass`` puts the class in the
  structure: every pair of registered distribution classes differs, and one jitted function gives
  each its own values, whichever ran first."""
  one = jnp.ones(3)
  normal = likelihoods.Normal(one, one, log_scale=0 * one)
  laplace = likelihoods.Laplace(one, one, log_scale=0 * one)
  assert jax.tree_util.tree_structure(normal) != jax.tree_util.tree_structure(laplace)
  for c in {likelihoods.get(n).distribution_type for n in likelihoods.available()}:
    assert c.__dataclass_fields__["kind"].default == c.__name__, c

  @jax.jit
  def variance(d):
    return d.variance()

  for first, second in ((normal, laplace), (laplace, normal)):
    jax.clear_caches()
    np.testing.assert_array_equal(variance(first), first.variance())
    np.testing.assert_array_equal(variance(second), second.variance())
