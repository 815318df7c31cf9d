"""ContinuousBernoulli against independent oracles: mpmath closed forms (50 significant digits)
and their derivatives; the Taylor window, the cdf's edges and inverse, the inverse mean map.
(Normalization, moments against quadrature, sampling, jit/vmap: test_distribution_contract.py.)

Tolerances are in units of the dtype's machine epsilon times the size of the terms that are added
(what rounding alone can cost), set from measurement (run ``pytest -s`` to see the measured errors).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import likelihoods
import likelihoods.continuous_bernoulli as cb
from likelihoods import ContinuousBernoulli
from tests.helpers import KEY, eps  # noqa: F401  (dtype fixture: conftest)

# ----------------------------------------------------------------------------- mpmath oracles


def _dps(*values) -> int:
  """50 significant digits, plus what the 0/0 closed forms lose at tiny |eta|."""
  tiny = min((abs(float(v)) for v in values if v != 0), default=1.0)
  return 50 + 3 * max(0, int(-math.log10(tiny)) + 1)


def mp_log_c(e):
  return mpmath.log(2) if e == 0 else mpmath.log(e / mpmath.tanh(e / 2))


def mp_mean(e):
  return mpmath.mpf(1) / 2 if e == 0 else mpmath.mpf(1) / 2 + 1 / (2 * mpmath.tanh(e / 2)) - 1 / e


def mp_var(e):
  return mpmath.mpf(1) / 12 if e == 0 else 1 / e**2 - 1 / (4 * mpmath.sinh(e / 2) ** 2)


def mp_log_prob(e, x):
  # log(C lambda^x (1 - lambda)^(1 - x)) with lambda = 1 / (1 + e^-eta), straight from the definition.
  # log lambda = -log(1 + e^-eta), log(1 - lambda) = -log(1 + e^eta) (no 1 - lambda: at eta = 1e4
  # it is e^-1e4, far below 50 digits).
  return mp_log_c(e) - x * mpmath.log1p(mpmath.exp(-e)) - (1 - x) * mpmath.log1p(mpmath.exp(e))


def mp_cdf(e, x):
  return x if e == 0 else mpmath.expm1(e * x) / mpmath.expm1(e)


def mp_icdf(e, u):
  # log(1 + u (e^eta - 1)) / eta, written so that u -> 1 at eta = -1e4 keeps its digits.
  return u if e == 0 else mpmath.log((1 - u) + u * mpmath.exp(e)) / e


def oracle(fn, *args) -> float:
  """fn at the exact binary values of args, to 50 significant digits, rounded to float64."""
  with mpmath.workdps(_dps(*args)):
    return float(fn(*(mpmath.mpf(float(a)) for a in args)))


def oracle_diff(fn, *args) -> float:
  """d fn / d args[0] by mpmath.diff: a central difference with step 1e-20 (error ~1e-40) at enough
  digits that the 0/0 closed forms survive being evaluated 1e-20 away from eta = 0."""
  with mpmath.workdps(_dps(*args, 1e-20)):
    rest = [mpmath.mpf(float(a)) for a in args[1:]]
    return float(
      mpmath.diff(lambda e: fn(e, *rest), mpmath.mpf(float(args[0])), h=mpmath.mpf("1e-20"))
    )


LOGITS = sorted(
  {
    0.0,
    *(
      s * v
      for s in (1, -1)
      for v in (
        1e-30,
        1e-12,
        5e-11,
        5e-7,
        1e-6,
        1e-3,
        0.05,
        0.3,
        0.999,
        1.0,
        1.001,
        2.0,
        5.0,
        13.8,
        30.0,
        100.0,
        1e4,
      )
    ),
  }
)
XS = [0.0, 1e-4, 0.1, 0.5, 0.9, 0.9999, 1.0]


# ----------------------------------------------------------------------------- values vs mpmath


def test_log_prob_mean_variance_cdf_icdf_vs_mpmath(dtype):
  etas = np.array(LOGITS, dtype)[:, None]
  xs = np.array(XS, dtype)[None, :]
  e_grid, x_grid = np.broadcast_arrays(etas, xs)

  @jax.jit
  def evaluate(etas, xs):
    d = ContinuousBernoulli(etas)
    return d.log_prob(xs), d.cdf(xs), d.mean()[:, 0], d.variance()[:, 0], d.icdf(xs)

  lp, cdf, mean, var, icdf = (np.asarray(v, np.float64) for v in evaluate(etas, xs))

  ref_lp = np.vectorize(lambda e, x: oracle(mp_log_prob, e, x))(e_grid, x_grid)
  ref_cdf = np.vectorize(lambda e, x: oracle(mp_cdf, e, x))(e_grid, x_grid)
  ref_icdf = np.vectorize(lambda e, x: oracle(mp_icdf, e, x))(e_grid, x_grid)
  ref_mean = np.array([oracle(mp_mean, e) for e in etas[:, 0]])
  ref_var = np.array([oracle(mp_var, e) for e in etas[:, 0]])

  # Rounding budget of x*eta - softplus(eta) + log C: eps times the size of the terms.
  e64 = e_grid.astype(np.float64)
  scale = (
    np.abs(x_grid * e64) + np.logaddexp(0, e64) + np.abs(np.log(np.maximum(np.abs(e64), 2))) + 1
  )
  err = {
    "log_prob": np.max(np.abs(lp - ref_lp) / scale),
    "mean": np.max(np.abs(mean - ref_mean)),
    "variance": np.max(np.abs(var - ref_var)),
    "variance (rel)": np.max(np.abs(var - ref_var) / ref_var),
    "cdf": np.max(np.abs(cdf - ref_cdf)),
    "icdf": np.max(np.abs(icdf - ref_icdf)),
  }
  print(f"CB {dtype.__name__}: " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
  e = eps(dtype)
  assert err["log_prob"] <= 2 * e  # relative to the terms' size
  assert err["mean"] <= 2 * e
  assert err["variance"] <= 2 * e
  assert err["cdf"] <= 4 * e
  assert err["icdf"] <= 4 * e
  # Large logits: the variance 1/eta^2 is tiny; it must still be right in relative terms.
  assert err["variance (rel)"] <= 16 * e


def test_cdf_edges_and_inverse(dtype):
  etas = np.array(LOGITS, dtype)[:, None]
  moderate = np.array([-5, -1, -1e-4, 0, 1e-5, 0.7, 1, 5], dtype)[:, None]
  u = np.linspace(0.01, 0.99, 99, dtype=dtype)

  @jax.jit
  def evaluate(etas, x_edges, u_edges, moderate, u):
    d, m = ContinuousBernoulli(etas), ContinuousBernoulli(moderate)
    return d.cdf(x_edges), d.icdf(u_edges), m.cdf(m.icdf(u))

  edges_cdf, edges_icdf, round_trip = evaluate(
    etas, np.array([-1, 0, 1, 2], dtype), np.array([0, 1], dtype), moderate, u
  )
  np.testing.assert_array_equal(
    edges_cdf, np.broadcast_to(np.array([0, 0, 1, 1], dtype), (len(LOGITS), 4))
  )
  np.testing.assert_array_equal(
    edges_icdf, np.broadcast_to(np.array([0, 1], dtype), (len(LOGITS), 2))
  )
  # The inverse is well conditioned where the density is not tiny: F(F^-1(u)) = u.
  np.testing.assert_allclose(round_trip, np.broadcast_to(u, (8, 99)), rtol=0, atol=4 * eps(dtype))


@pytest.mark.parametrize("eta", [1.0, -1.0, 1.5, -3.0, 10.0, -10.0, 80.0, 100.0, -100.0, 1e4, -1e4])
def test_icdf_relative_accuracy_in_both_tails_of_u(eta):
  """F^-1(u) relative to mpmath at 50 digits, float64, u from 1e-300 to 1 - 1e-12, where
  |logit| >= 1 (the former eta >= 1 form cancelled at small u: 1e-4 relative at eta = 1,
  u = 1e-12; 1e-8 at eta = 10). The bound is eps times the size of log u, what rounding u costs."""
  us = np.array([1e-300, 1e-30, 1e-12, 1e-6, 0.1, 0.3, 0.5, 0.7, 0.999, 1 - 1e-12])
  with jax.enable_x64(True):
    y = np.asarray(jax.jit(lambda e, u: ContinuousBernoulli(e).icdf(u))(jnp.float64(eta), us))
  ref = np.array([oracle(mp_icdf, eta, u) for u in us])
  rel = np.abs(y / ref - 1)
  print(f"CB icdf eta={eta}: worst relative error {rel.max():.1e}")
  bound = eps(np.float64) * (4 + np.abs(np.log(us)))
  assert np.all(rel <= bound), (us[rel > bound], rel[rel > bound])


def test_taylor_window_accuracy(dtype):
  """The measurement behind TAYLOR_WINDOW: max |error| of log C, mean and variance over a dense logit
  grid in [-50, 50] (tiny logits and both sides of the window boundary included) vs mpmath.
  The full table over candidate windows: ``uv run python tests/measure_cb_window.py``."""
  w = cb.TAYLOR_WINDOW
  pos = np.concatenate(
    [
      np.geomspace(1e-12, 1e-2, 40),
      np.linspace(1e-2, 3, 300),
      np.linspace(3, 50, 60),
      w * (1 + np.linspace(-1e-2, 1e-2, 41)),
      [w],
    ]
  )
  etas = np.unique(np.concatenate([-pos, [0.0], pos]).astype(dtype))
  # The boundary itself and its float neighbours.
  near = [np.nextafter(dtype(w), dtype(0)), np.nextafter(dtype(w), dtype(2))]
  etas = np.unique(np.concatenate([etas, near, np.negative(near)]))
  errors = {}
  values = jax.jit(
    lambda e: (cb.log_normalizer(e), cb.mean_from_logits(e), cb.variance_from_logits(e))
  )(etas)
  for name, value, mp_fn in zip(["log C", "mean", "variance"], values, [mp_log_c, mp_mean, mp_var]):
    assert value.dtype == dtype
    got = np.asarray(value, np.float64)
    ref = np.array([oracle(mp_fn, e) for e in etas])
    errors[name] = float(np.max(np.abs(got - ref)))
  print(
    f"CB window {w} ({dtype.__name__}, {etas.size} logits): "
    + ", ".join(f"{k} {v:.1e}" for k, v in errors.items())
  )
  tol = {
    np.float32: {"log C": 4e-7, "mean": 3e-7, "variance": 3e-7},
    np.float64: {"log C": 6e-16, "mean": 6e-16, "variance": 6e-16},
  }[dtype]
  for name, err in errors.items():
    assert err <= tol[name], (name, err)


def test_exact_limits_at_zero():
  """No 0/0 at eta = 0: the exact limits, also a hair away from it."""
  e = np.array([0.0, 1e-30, -1e-30], np.float32)
  log_c, mean, var = jax.jit(
    lambda e: (cb.log_normalizer(e), cb.mean_from_logits(e), cb.variance_from_logits(e))
  )(e)
  np.testing.assert_array_equal(log_c, np.float32(math.log(2)))
  np.testing.assert_array_equal(mean, 0.5)
  np.testing.assert_array_equal(var, np.float32(1 / 12))


# ----------------------------------------------------------------------------- gradients

GRAD_LOGITS = [
  0.0,
  1e-6,
  -1e-6,
  1e-3,
  -1e-3,
  0.5,
  -0.5,
  1.0,
  -1.0,
  2.0,
  -2.0,
  30.0,
  -30.0,
  1e4,
  -1e4,
]


def test_gradients_vs_mpmath(dtype):
  """d log_prob / d logit (= x - mean) and d mean / d logit (= variance) against mpmath.diff."""
  etas = np.array(GRAD_LOGITS, dtype)[:, None]
  xs = np.array([0.0, 0.3, 1.0], dtype)[None, :]
  e_grid, x_grid = np.broadcast_arrays(etas, xs)

  @jax.jit
  def grads(e_grid, e):
    g_lp = jax.grad(lambda e: jnp.sum(ContinuousBernoulli(e).log_prob(xs)))(e_grid)
    g_mean = jax.grad(lambda e: jnp.sum(cb.mean_from_logits(e)))(e)
    return g_lp, g_mean, cb.variance_from_logits(e)

  g_lp, g_mean, var = (np.asarray(v, np.float64) for v in grads(e_grid, etas[:, 0]))
  assert np.all(np.isfinite(g_lp)) and np.all(np.isfinite(g_mean))
  ref_lp = np.vectorize(lambda e, x: oracle_diff(mp_log_prob, e, x))(e_grid, x_grid)
  ref_mean = np.array([oracle_diff(mp_mean, e) for e in etas[:, 0]])
  # jax.nn.softplus's derivative is exp(eta - softplus(eta)), which costs ulp(softplus(eta)) ~
  # |eta| eps for 0 < eta < 37 (beyond, softplus(eta) == eta in float64 and the derivative is 1).
  softplus_ulp = np.where((e_grid > 0) & (e_grid < 40), np.abs(e_grid), 0.0)
  err_lp = np.max(np.abs(g_lp - ref_lp) / (2 + softplus_ulp))
  err_mean = np.max(np.abs(g_mean - ref_mean))
  rel_mean = np.max(np.abs(g_mean - ref_mean) / ref_mean)
  print(
    f"CB grads {dtype.__name__}: dlogp/deta {err_lp:.1e} (/(2+softplus ulp)), dmean/deta {err_mean:.1e} "
    f"(rel {rel_mean:.1e})"
  )
  e = eps(dtype)
  assert err_lp <= e
  assert err_mean <= 2 * e
  assert rel_mean <= 16 * e
  # The exponential-family identities, exactly as the oracle says.
  np.testing.assert_allclose(g_mean, var, rtol=16 * e, atol=0)
  identity = x_grid - np.asarray(jax.jit(cb.mean_from_logits)(e_grid), np.float64)
  assert np.all(np.abs(g_lp - identity) <= (3 + softplus_ulp) * e)


# ----------------------------------------------------------------------------- inverse mean map


def test_logits_from_mean_round_trip(dtype):
  m = np.unique(
    np.concatenate(
      [
        np.geomspace(1e-4, 0.5, 400),
        1 - np.geomspace(1e-4, 0.5, 400),
        np.linspace(1e-4, 1 - 1e-4, 401),
        [0.5],
      ]
    ).astype(dtype)
  )
  round_trip = jax.jit(
    lambda m: (
      likelihoods.logits_from_mean(m),
      cb.mean_from_logits(likelihoods.logits_from_mean(m)),
    )
  )
  eta, back = round_trip(m)
  assert eta.dtype == dtype and np.all(np.isfinite(np.asarray(eta)))
  back = np.asarray(back)
  assert back.dtype == dtype
  ulps = np.abs(back.astype(np.float64) - m) / np.spacing(m).astype(np.float64)
  print(f"CB round trip {dtype.__name__}: max {ulps.max():.1f} ulp, mean {ulps.mean():.2f} ulp")
  assert float(eta[np.searchsorted(m, 0.5)]) == 0.0
  # Within 1 ulp but for a few means next to the Taylor window (|eta| in [1, 4]), where the closed
  # form 1/a - 1/(e^a - 1) of the mean cancels mildly.
  assert np.mean(ulps > 1) < 0.01
  assert ulps.max() <= 3.0
  # Monotone, and the right side of 0.
  assert np.all(np.diff(np.asarray(eta, np.float64)) > 0)
  # Out-of-range means are clipped, not NaN.
  assert np.all(np.isfinite(np.asarray(round_trip(np.array([0.0, 1.0], dtype))[0])))


# ----------------------------------------------------------------------------- dtypes, shapes, module


def test_dtypes_preserved(dtype):
  etas = np.array([-3.0, 0.0, 0.01, 40.0], dtype)
  x = np.array([0.0, 0.2, 0.7, 1.0], dtype)

  def everything(etas, x):
    d = ContinuousBernoulli(etas)
    return (
      d.log_prob(x),
      d.mean(),
      d.variance(),
      d.stddev(),
      d.cdf(x),
      d.icdf(x),
      d.probs,
      d.sample(KEY, (3,)),
      likelihoods.logits_from_mean(x),
    )

  for out in jax.eval_shape(everything, etas, x):
    assert out.dtype == dtype


def test_broadcasting():
  d = ContinuousBernoulli(np.zeros((3, 1), np.float32))
  x = np.zeros(4, np.float32)
  assert d.batch_shape == (3, 1)
  assert jax.eval_shape(d.log_prob, x).shape == (3, 4)
  assert jax.eval_shape(d.cdf, x).shape == (3, 4)
  assert jax.eval_shape(d.icdf, x).shape == (3, 4)
  assert jax.eval_shape(d.mean).shape == (3, 1)
  assert jax.eval_shape(lambda k: d.sample(k, (5, 2)), KEY).shape == (5, 2, 3, 1)
  # (The mpmath tests evaluate broadcast (logit, x) grids point by point against the oracle.)


def test_module_outputs():
  """One output per pixel; log_likelihood = the summed log_prob is checked on real MNIST in
  test_likelihoods_on_mnist.py."""
  lik = likelihoods.get("continuous_bernoulli")
  assert lik.outputs_per_pixel() == 1 and lik.display_name == "lambda"
  raw, x = np.zeros((2, 28, 28, 1), np.float32), np.zeros((2, 28, 28), np.float32)
  assert jax.eval_shape(
    lambda r, x: lik.apply({}, r, x, method=lik.log_likelihood), raw, x
  ).shape == (2,)
