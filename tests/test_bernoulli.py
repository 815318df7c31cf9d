"""Bernoulli (binary cross-entropy) against scipy.stats.bernoulli and mpmath, and the seeds' worked
example. Tolerances are in units of the dtype's eps; ``pytest -s`` prints the measured errors.
(Normalization on {0, 1}, moments, sampling, jit/vmap: test_distribution_contract.py.)"""

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
from likelihoods import Bernoulli, ContinuousBernoulli
from tests.helpers import KEY, eps  # noqa: F401  (dtype fixture: conftest)


@jax.jit
def _evaluate(logits, x):
  d = Bernoulli(logits)
  return d.log_prob(x), d.mean(), d.variance(), d.cdf(x), d.probs


def mp_log_prob(eta, x):
  """x log(lambda) + (1 - x) log(1 - lambda) at the exact binary inputs, 50 digits."""
  with mpmath.workdps(50):
    e, x = mpmath.mpf(float(eta)), mpmath.mpf(float(x))
    return float(-x * mpmath.log1p(mpmath.exp(-e)) - (1 - x) * mpmath.log1p(mpmath.exp(e)))


def mp_sigmoid(eta):
  with mpmath.workdps(50):
    return 1 / (1 + mpmath.exp(-mpmath.mpf(float(eta))))


LOGITS = [0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.5, -2.0, 5.0, -13.8, 30.0, -30.0, 100.0, 1e4, -1e4]


# ----------------------------------------------------------------------------- the worked example


def test_worked_example_cross_entropy_is_asymmetric_and_minimized_at_the_target():
  """The seeds' example, kept as documentation (natural log). A grey target x = 0.2 scored with the
  binary cross-entropy  BCE(x, p) = -[x log p + (1 - x) log(1 - p)]  (= -Bernoulli(p).log_prob(x)):

    BCE(0.2, 0.1) = 0.5448 nats,  BCE(0.2, 0.3) = 0.5261 nats.

  Over- and under-predicting by the same 0.1 cost differently (the loss is asymmetric around the
  target, tilted toward 0.5), yet the loss is minimized exactly at p = x, where its gradient wrt the
  logit, sigmoid(logit) - x, vanishes: the minimum is BCE(0.2, 0.2) = H(0.2) = 0.5004 nats."""
  with jax.enable_x64(True):

    def bce(p, x=0.2):
      return -float(Bernoulli(jnp.float64(math.log(p) - math.log1p(-p))).log_prob(jnp.float64(x)))

    assert round(bce(0.1), 4) == 0.5448
    assert round(bce(0.3), 4) == 0.5261
    assert bce(0.1) - bce(0.3) == pytest.approx(0.0186709, abs=1e-7)
    # Exact values: 0.2 log 10 + 0.8 log(10/9) and 0.2 log(10/3) + 0.8 log(10/7).
    assert bce(0.1) == pytest.approx(0.2 * math.log(10) + 0.8 * math.log(10 / 9), rel=1e-15)
    assert bce(0.3) == pytest.approx(0.2 * math.log(10 / 3) + 0.8 * math.log(10 / 7), rel=1e-15)
    assert bce(0.2) == pytest.approx(scipy.stats.bernoulli(0.2).entropy(), rel=1e-15)

    grad = jax.grad(lambda logit: -Bernoulli(logit).log_prob(0.2))
    assert abs(float(grad(jnp.float64(math.log(0.2) - math.log(0.8))))) < 1e-16
    # On a fine grid of predictions the minimum sits at the target, and nowhere else.
    p = np.linspace(0.001, 0.999, 999)
    losses = -np.asarray(jax.jit(lambda p: Bernoulli(jnp.log(p) - jnp.log1p(-p)).log_prob(0.2))(p))
    assert p[np.argmin(losses)] == pytest.approx(0.2, abs=1e-12)
    assert np.all(losses[p != 0.2] > bce(0.2))


def test_f1_every_target_is_the_minimiser_and_the_minimum_is_its_entropy():
  """Folk claim F1 as an identity: for every target y in [0, 1], BCE(y, p) over p is minimised at
  p = y (the logit gradient sigmoid(logit) - y vanishes there, and is increasing), with minimum
  H(y) (scipy's Bernoulli entropy), not 0; and BCE is a Bregman divergence plus H(y), so over a
  distribution of targets the expected loss is minimised at their mean E[y]."""
  targets = np.array([0.0, 1e-3, 0.05, 0.2, 0.5, 0.73, 0.999, 1.0])
  with jax.enable_x64(True):
    bce = jax.jit(lambda logit, y: -Bernoulli(logit).log_prob(y))
    at_target = np.asarray(bce(jnp.asarray(scipy.special.logit(targets)), jnp.asarray(targets)))
    inner = (targets > 0) & (targets < 1)
    np.testing.assert_allclose(
      at_target[inner], scipy.stats.bernoulli(targets[inner]).entropy(), rtol=1e-13, atol=1e-15
    )
    grad = jax.vmap(jax.grad(lambda logit, y: -Bernoulli(logit).log_prob(y)))
    logits = jnp.asarray(scipy.special.logit(targets[inner]))
    np.testing.assert_allclose(np.asarray(grad(logits, jnp.asarray(targets[inner]))), 0, atol=1e-15)
    # A distribution of targets: E_y BCE(y, p) is minimised at p = E[y].
    rng = np.random.default_rng(0)
    ys = rng.beta(0.3, 0.6, 1000)
    expected = jax.grad(lambda logit: jnp.mean(-Bernoulli(logit).log_prob(jnp.asarray(ys))))
    assert abs(float(expected(jnp.float64(scipy.special.logit(ys.mean()))))) < 1e-15


def test_grey_targets_are_not_a_normalized_density():
  """The integral over x in [0, 1] of exp(log_prob) is 1/C(lambda) < 1 (the continuous Bernoulli's
  normalizer), which is why the continuous Bernoulli exists; the pmf on {0, 1} sums to 1."""
  nodes, weights = np.polynomial.legendre.leggauss(100)
  x, w = (nodes + 1) / 2, weights / 2
  etas = np.array([-5.0, -0.3, 0.0, 0.7, 4.0])
  with jax.enable_x64(True):
    lp, both, log_c, cb_lp = jax.jit(
      lambda e: (
        Bernoulli(e[:, None]).log_prob(x),
        Bernoulli(e[:, None]).log_prob(np.array([0.0, 1.0])),
        likelihoods.continuous_bernoulli.log_normalizer(e),
        ContinuousBernoulli(e[:, None]).log_prob(x),
      )
    )(etas)
  integral = np.sum(w * np.exp(np.asarray(lp)), axis=1)
  np.testing.assert_allclose(integral, np.exp(-np.asarray(log_c)), rtol=1e-14)
  assert np.all(integral < 1)
  np.testing.assert_allclose(np.sum(np.exp(np.asarray(both)), axis=1), 1.0, rtol=0, atol=4.5e-16)
  # And the CB is the Bernoulli times C.
  diff = np.asarray(cb_lp) - np.asarray(lp) - np.asarray(log_c)[:, None]
  assert np.max(np.abs(diff)) <= 8e-16


# ----------------------------------------------------------------------------- values vs oracles


def test_against_scipy_stats(dtype):
  """Binary x, moderate logits: scipy.stats.bernoulli with p = expit(logit) in float64. (scipy's
  log(1 - p) from a rounded p is itself off by eps p / (1 - p), ~20 eps at |logit| = 3: mpmath covers
  larger logits below.)"""
  etas = np.array([-3.0, -2.5, -0.3, 0.0, 1e-3, 0.9, 2.0, 3.0], dtype)[:, None]
  xs = np.array([0.0, 1.0], dtype)
  lp, mean, var, cdf, probs = (np.asarray(v, np.float64) for v in _evaluate(etas, xs))
  p = scipy.special.expit(etas.astype(np.float64))
  ref = scipy.stats.bernoulli(p)
  errors = {
    "log_prob": np.max(np.abs(lp - ref.logpmf(xs.astype(int)))),
    "mean": np.max(np.abs(mean - ref.mean())),
    "variance": np.max(np.abs(var - ref.var())),
    "cdf": np.max(np.abs(cdf - ref.cdf(xs))),
  }
  # cdf at non-integers and outside [0, 1] too.
  xs_cdf = np.array([-0.5, 0.0, 0.3, 1.0, 1.7], dtype)
  cdf_more = np.asarray(_evaluate(etas, xs_cdf)[3], np.float64)
  errors["cdf"] = max(errors["cdf"], np.max(np.abs(cdf_more - ref.cdf(xs_cdf))))
  print(
    f"Bernoulli vs scipy {dtype.__name__}: " + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
  )
  e = eps(dtype)
  assert errors["log_prob"] <= 24 * e  # the oracle's own error, see above; |log p| <= 3

  assert errors["mean"] <= e and errors["variance"] <= e and errors["cdf"] <= e


def test_against_mpmath_including_grey_and_extreme(dtype):
  etas = np.array(LOGITS, dtype)[:, None]
  xs = np.array([0.0, 1e-4, 0.2, 0.5, 0.9999, 1.0], dtype)
  e_grid, x_grid = np.broadcast_arrays(etas, xs[None, :])
  lp, mean, var, _, _ = (np.asarray(v, np.float64) for v in _evaluate(etas, xs))
  ref_lp = np.vectorize(mp_log_prob)(e_grid, x_grid)
  lam = [mp_sigmoid(e) for e in etas[:, 0]]
  ref_mean = np.array([float(v) for v in lam])
  ref_var = np.array(
    [float(v * (1 - v)) if v < 0.5 else float(mp_sigmoid(-e) * v) for v, e in zip(lam, etas[:, 0])]
  )
  # Rounding budget of x*eta - softplus(eta): eps times the size of the terms.
  scale = np.abs(x_grid * e_grid) + np.logaddexp(0, e_grid.astype(np.float64)) + 1
  err_lp = np.max(np.abs(lp - ref_lp) / scale)
  # Relative errors (lambda = sigmoid(-1e4) underflows to 0 in both; subnormals count absolutely).
  tiny = np.finfo(dtype).tiny
  err_mean = np.max(np.abs(mean[:, 0] - ref_mean) / np.maximum(ref_mean, tiny / eps(dtype)))
  err_var = np.max(np.abs(var[:, 0] - ref_var) / np.maximum(ref_var, tiny / eps(dtype)))
  print(
    f"Bernoulli vs mpmath {dtype.__name__}: log_prob {err_lp:.1e} (rel to terms), "
    f"mean {err_mean:.1e} (rel), variance {err_var:.1e} (rel)"
  )
  e = eps(dtype)
  assert err_lp <= e
  assert err_mean <= 2 * e
  assert err_var <= 4 * e


def test_gradient_wrt_logit(dtype):
  """d log_prob / d logit = x - sigmoid(logit), against mpmath.diff, at 0, +-1e-6, +-1e-3, +-30,
  +-1e4 and more."""
  etas = np.array(LOGITS, dtype)[:, None]
  xs = np.array([0.0, 0.2, 1.0], dtype)
  e_grid, x_grid = np.broadcast_arrays(etas, xs[None, :])
  grad = jax.jit(jax.grad(lambda e: jnp.sum(Bernoulli(e).log_prob(xs))))(e_grid)
  grad = np.asarray(grad, np.float64)
  assert np.all(np.isfinite(grad))

  def ref(eta, x):
    with mpmath.workdps(50):
      x = mpmath.mpf(float(x))
      f = lambda e: -x * mpmath.log1p(mpmath.exp(-e)) - (1 - x) * mpmath.log1p(mpmath.exp(e))  # noqa: E731
      return float(mpmath.diff(f, mpmath.mpf(float(eta))))

  ref_grad = np.vectorize(ref)(e_grid, x_grid)
  # jax.nn.softplus's derivative exp(eta - softplus(eta)) costs ulp(softplus(eta)) ~ |eta| eps while
  # 0 < eta < 37 (float64; above, softplus(eta) == eta and the derivative is exactly 1).
  softplus_ulp = np.where((e_grid > 0) & (e_grid < 40), np.abs(e_grid), 0.0)
  err = np.max(np.abs(grad - ref_grad) / (1 + softplus_ulp))
  print(f"Bernoulli grad {dtype.__name__}: {err:.1e} (/(1+softplus ulp))")
  assert err <= eps(dtype)


# ----------------------------------------------------------------------------- dtypes, shapes


def test_dtypes_preserved(dtype):
  etas, x = np.array([-3.0, 0.0, 40.0], dtype), np.array([0.0, 0.3, 1.0], dtype)

  def everything(etas, x):
    d = Bernoulli(etas)
    return (
      d.log_prob(x),
      d.mean(),
      d.variance(),
      d.stddev(),
      d.cdf(x),
      d.probs,
      d.sample(KEY, (2,)),
    )

  for out in jax.eval_shape(everything, etas, x):
    assert out.dtype == dtype


def test_broadcasting():
  d = Bernoulli(jnp.zeros((3, 1)))
  assert d.batch_shape == (3, 1)
  assert jax.eval_shape(d.log_prob, jnp.zeros(4)).shape == (3, 4)
  assert jax.eval_shape(d.cdf, jnp.zeros(4)).shape == (3, 4)
  assert jax.eval_shape(lambda k: d.sample(k, (5,)), KEY).shape == (5, 3, 1)
  # (The oracle tests evaluate broadcast (logit, x) grids point by point.)


def test_module_is_log_prob_summed():
  lik = likelihoods.get("bernoulli")
  assert lik.outputs_per_pixel() == 1
  rng = np.random.default_rng(0)
  raw = rng.normal(0, 3, (2, 28, 28, 1)).astype(np.float32)
  x = rng.uniform(size=(2, 28, 28)).astype(np.float32)

  @jax.jit
  def evaluate(raw, x):
    variables = lik.init(KEY, raw, x, method=lik.log_likelihood)
    ll = lik.apply(variables, raw, x, method=lik.log_likelihood)
    return (
      ll,
      jnp.sum(Bernoulli(raw[..., 0]).log_prob(x), axis=(1, 2)),
      lik.apply(variables, raw, method=lik.display),
    )

  ll, expected, display = evaluate(raw, x)
  assert ll.shape == (2,)
  np.testing.assert_allclose(ll, expected, rtol=1e-6)
  # Minus the summed binary cross-entropy, as written in every tutorial.
  p = scipy.special.expit(raw[..., 0].astype(np.float64))
  bce = -(x * np.log(p) + (1 - x) * np.log1p(-p)).sum(axis=(1, 2))
  np.testing.assert_allclose(-np.asarray(ll, np.float64), bce, rtol=1e-6)
  np.testing.assert_allclose(display, p, rtol=1e-6)
