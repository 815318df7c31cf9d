"""Log cdfs far in the tails, and the 8-bit discretized likelihood built on them, against mpmath
(50 digits) and scipy's float64 ``log_ndtr``.

The 8-bit likelihood of a pixel deep in a decoder's tail is e^-450 or smaller: a linear-space cdf
underflows float32 at e^-87 (and float64 at e^-745), so the log cdfs must never exponentiate.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.special

import likelihoods
from likelihoods.special import log_betainc
from vae.evaluation import discretized

mpmath.mp.dps = 50


def _mp_log_betainc(a, b, x):
  a, b, x = (mpmath.mpf(float(v)) for v in (a, b, x))
  return float(mpmath.log(mpmath.betainc(a, b, 0, x, regularized=True)))


def _mp_log_bin_beta(a, b, k):
  """log P(k/256 <= X < (k+1)/256) under Beta(a, b), edges folded (exact binary parameters)."""
  with mpmath.workdps(600):  # 1 - I near 1 must resolve e^-750
    a, b = mpmath.mpf(float(a)), mpmath.mpf(float(b))
    lo = 0 if k == 0 else mpmath.mpf(k) / 256
    hi = 1 if k == 255 else mpmath.mpf(k + 1) / 256
    return float(mpmath.log(mpmath.betainc(a, b, lo, hi, regularized=True)))


def _grid(dtype):
  rng = np.random.default_rng(0)
  a = np.exp(rng.uniform(np.log(1e-3), np.log(3e3), 300))
  b = np.exp(rng.uniform(np.log(1e-3), np.log(3e3), 300))
  x = rng.uniform(0, 1, 300)
  x[:100] = rng.integers(1, 256, 100) / 256  # the bin edges the discretization asks for
  x[100:130] = 10.0 ** rng.uniform(-30, -1, 30)  # deep lower tails
  return (np.asarray(v, dtype).astype(np.float64) for v in (a, b, x))


def test_log_betainc_against_mpmath(dtype):
  a, b, x = _grid(dtype)
  got = np.asarray(jax.jit(log_betainc)(*(jnp.asarray(v, dtype) for v in (a, b, x))), np.float64)
  ref = np.array([_mp_log_betainc(*v) for v in zip(a, b, x)])
  assert ref.min() < -3000  # the grid reaches far below exp's range in either precision
  eps = np.finfo(dtype).eps
  # Absolute error ~ eps * (size of the prefactor's terms), plus the complement's conditioning
  # where 1 - I_{1-x}(b, a) is small (tiny a or b): eps / I there, relative.
  terms = a * np.abs(np.log(x)) + b * np.abs(np.log1p(-x)) + 1
  bound = 64 * eps * (terms + 1 / np.exp(np.maximum(ref, -30)))
  err = np.abs(got - ref)
  i = np.argmax(err / bound)
  j = np.argmax(err)
  print(
    f"log_betainc {dtype.__name__}: max abs error {err[j]:.1e} at a={a[j]:.3g} b={b[j]:.3g} "
    f"x={x[j]:.3g} (log I = {ref[j]:.4g}); worst {err[i] / bound[i]:.2f} of the bound"
  )
  assert np.all(err <= bound), (a[i], b[i], x[i], got[i], ref[i])


def test_log_betainc_edges_and_shapes():
  a, b = jnp.array([0.5, 2.0, 300.0]), jnp.array([[1.0], [0.01]])
  assert log_betainc(a, b, 0.0).shape == (2, 3)
  np.testing.assert_array_equal(log_betainc(a, b, 0.0), -np.inf)
  np.testing.assert_array_equal(log_betainc(a, b, 1.0), 0.0)
  np.testing.assert_array_equal(
    likelihoods.Beta(a, b).log_cdf(jnp.array([-0.5, 1.5])[:, None, None])[0], -np.inf
  )
  # I_x(1, 1) = x and I_x(a, 1) = x^a exactly.
  x = jnp.array([1e-30, 0.25, 0.5, 0.999])
  np.testing.assert_allclose(log_betainc(1.0, 1.0, x), np.log(x), rtol=1e-6)
  np.testing.assert_allclose(log_betainc(3.5, 1.0, x), 3.5 * np.log(x), rtol=1e-6, atol=1e-7)


def test_normal_log_cdf_deep_tails(dtype):
  z = np.array([-1e4, -300, -38, -15, -3, -0.5, 0, 0.5, 3, 8], dtype)
  got = np.asarray(
    likelihoods.Normal(jnp.asarray(0.3, dtype), jnp.asarray(0.02, dtype)).log_cdf(
      jnp.asarray(0.3 + 0.02 * z, dtype)
    )
  )
  ref = scipy.special.log_ndtr(
    (np.asarray(0.3 + 0.02 * z, dtype).astype(np.float64) - np.float64(dtype(0.3)))
    / np.float64(dtype(0.02))
  )
  assert np.isfinite(got).all()
  np.testing.assert_allclose(
    got, ref, rtol=64 * np.finfo(dtype).eps * 1e2, atol=4 * np.finfo(dtype).eps
  )


def test_continuous_bernoulli_log_cdf_deep_tails(dtype):
  etas = np.array([-1e4, -300, -40, -1, -1e-12, 0, 1e-12, 1, 40, 300, 1e4], dtype)
  xs = np.array([1e-6, 1 / 256, 0.3, 0.5, 253 / 256, 1 - 1e-3], dtype)
  got = np.asarray(
    likelihoods.ContinuousBernoulli(jnp.asarray(etas)[:, None]).log_cdf(jnp.asarray(xs))
  )
  ref = np.empty_like(got, np.float64)
  for i, e in enumerate(etas):
    for j, x in enumerate(xs):
      e_, x_ = mpmath.mpf(float(e)), mpmath.mpf(float(x))
      ref[i, j] = float(mpmath.log(x_ if e == 0 else mpmath.expm1(e_ * x_) / mpmath.expm1(e_)))
  assert ref.min() < -9000 and np.isfinite(got).all()
  # Relative to the value (the exponent a (1 - x) is exact to eps relative), at least eps absolute.
  np.testing.assert_allclose(got, ref, rtol=16 * np.finfo(dtype).eps, atol=16 * np.finfo(dtype).eps)


@pytest.mark.parametrize(
  "a, b, k",
  [
    (0.64, 100.0, 253),
    (0.64, 100.0, 1),
    (0.05, 1000.0, 133),
    (1000.0, 0.05, 7),
    (2.0, 5.0, 250),
    (0.3, 0.5, 128),
  ],
)
def test_discretized_beta_bins_deep_in_the_tails(a, b, k):
  got = float(
    discretized.discretized_log_probs(
      likelihoods.Beta(jnp.float32(a), jnp.float32(b)), jnp.float32(k)
    )
  )
  ref = _mp_log_bin_beta(np.float32(a), np.float32(b), k)
  assert got == pytest.approx(ref, rel=2e-6, abs=2e-4), (got, ref)


@pytest.mark.parametrize(
  "loc, scale", [(0.0, 0.01), (1.2, 0.02), (0.5, 0.05), (0.3, 1.0), (0.3, 1e3)]
)
def test_discretized_gaussian_against_scipy_float64(loc, scale):
  k = np.arange(256.0)
  got = np.asarray(
    discretized.discretized_log_probs(
      likelihoods.Normal(jnp.float32(loc), jnp.float32(scale)), jnp.asarray(k)
    ),
    np.float64,
  )
  loc, scale = np.float64(np.float32(loc)), np.float64(np.float32(scale))
  lo, hi = (k / 256 - loc) / scale, ((k + 1) / 256 - loc) / scale
  lo[0], hi[-1] = -np.inf, np.inf
  with np.errstate(divide="ignore"):
    upper = (k + 0.5) / 256 > loc
    up = scipy.special.log_ndtr(-lo) + np.log1p(
      -np.exp(scipy.special.log_ndtr(-hi) - scipy.special.log_ndtr(-lo))
    )
    down = scipy.special.log_ndtr(hi) + np.log1p(
      -np.exp(scipy.special.log_ndtr(lo) - scipy.special.log_ndtr(hi))
    )
  ref = np.where(upper, up, down)
  np.testing.assert_allclose(got, ref, rtol=2e-6, atol=2e-5)
  assert abs(math.fsum(np.exp(got)) - 1) < 2e-5


def test_discretized_continuous_bernoulli_deep_tail():
  # eta = -200: lambda ~ e^-200, mass piles at 0; pixel 255's bin has mass ~ e^-199.2.
  eta, k = -200.0, 255
  got = float(
    discretized.discretized_log_probs(
      likelihoods.ContinuousBernoulli(jnp.float32(eta)), jnp.float32(k)
    )
  )
  with mpmath.workdps(200):
    e = mpmath.mpf(eta)
    ref = float(mpmath.log(1 - mpmath.expm1(e * 255 / 256) / mpmath.expm1(e)))
  assert got == pytest.approx(ref, rel=1e-6)


def _mp_log_bin_laplace(loc, scale, k):
  """log P(bin k) under Laplace(loc, scale), edges folded, from the closed-form tails at 50 digits
  (the survival function above the median: 1 - e^-1000 / 2 would round to 1)."""
  loc, scale = mpmath.mpf(float(loc)), mpmath.mpf(float(scale))
  lower = lambda x: mpmath.exp(min((x - loc) / scale, 0)) / 2  # F where x <= loc  # noqa: E731
  lo = None if k == 0 else mpmath.mpf(k) / 256
  hi = None if k == 255 else mpmath.mpf(k + 1) / 256
  if hi is not None and hi <= loc:  # all below the median: F(hi) - F(lo)
    return float(mpmath.log(lower(hi) - (0 if lo is None else lower(lo))))
  if lo is not None and lo >= loc:  # all above: S(lo) - S(hi), S(x) = F(2 loc - x)
    return float(mpmath.log(lower(2 * loc - lo) - (0 if hi is None else lower(2 * loc - hi))))
  # the bin holds the median: 1 - F(lo) - S(hi)
  return float(
    mpmath.log(1 - (0 if lo is None else lower(lo)) - (0 if hi is None else lower(2 * loc - hi)))
  )


def test_xla_log1p_where_the_likelihoods_use_it():
  """The likelihoods keep log1p's argument in (-1/4, 0] or positive (``LOG1P_SAFE``): there XLA's
  log1p is good to 2 ulp in float64 and float32 (on (-0.5, -0.3) its float64 version loses about
  120 ulp; if a jax upgrade fixes that, the split may move back to Maechler's -log 2)."""
  from likelihoods.discretization import LOG1P_SAFE

  xs = np.concatenate([-np.geomspace(1e-12, LOG1P_SAFE, 400), np.geomspace(1e-12, 1e3, 400)])
  ref = np.array([float(mpmath.log1p(mpmath.mpf(float(x)))) for x in xs])
  for dtype in (np.float32, np.float64):
    with jax.enable_x64(dtype == np.float64):
      x = xs.astype(dtype)
      r = (
        np.array([float(mpmath.log1p(mpmath.mpf(float(v)))) for v in x])
        if dtype == np.float32
        else ref
      )
      got = np.asarray(jax.jit(jnp.log1p)(x), np.float64)
    assert np.max(np.abs(got / r - 1)) <= 2 * np.finfo(dtype).eps, dtype


@pytest.mark.parametrize(
  "dist, oracle",
  [
    # Beta(1/2, 1/2): little mass per bin in the middle, where the midpoint rule erred by 1e-5.
    ((0.5, 0.5), lambda k: _mp_log_bin_beta(0.5, 0.5, k)),
    ((2.0, 5.0), lambda k: _mp_log_bin_beta(2.0, 5.0, k)),
    ("laplace", lambda k: _mp_log_bin_laplace(0.3, 1.0, k)),
  ],
  ids=["beta_half_half", "beta_2_5", "laplace_wide"],
)
def test_discretized_float64_is_exact_in_every_bin(dist, oracle):
  """In float64 the 8-bit likelihood is a difference of tails in every bin that holds more than
  1e-7 of its tail (``FLAT_BIN_FLOAT64``), exact to about 1e-12 nats; the midpoint rule it used
  below 1e-2, as float32 does, erred by up to 1e-5 nats (Beta(1/2, 1/2) at bin 200)."""
  k = np.arange(256.0)
  with jax.enable_x64(True):
    if dist == "laplace":
      d = likelihoods.Laplace(jnp.float64(0.3), jnp.float64(1.0))
    else:
      d = likelihoods.Beta(jnp.float64(dist[0]), jnp.float64(dist[1]), pixel_eps=0.0)
    got = np.asarray(jax.jit(discretized.discretized_log_probs)(d, jnp.asarray(k)))
  ref = np.array([oracle(int(i)) for i in k])
  err = np.abs(got - ref)
  print(f"8-bit float64 {dist}: worst {err.max():.1e} nats at bin {int(np.argmax(err))}")
  assert err.max() <= 1e-11, (int(np.argmax(err)), err.max())


@pytest.mark.parametrize(
  "loc, scale", [(0.3, 1.0), (0.5, 0.01), (0.0, 1e-3), (1.5, 0.02), (0.4, 1e3)]
)
def test_discretized_laplace_against_mpmath(loc, scale):
  """The Laplace's 8-bit likelihood in float32: every bin, including those e^-400 deep in a tail
  (scale 1e-3) and the bin holding the kink at the median, against the closed-form cdf."""
  k = np.arange(256.0)
  got = np.asarray(
    discretized.discretized_log_probs(
      likelihoods.Laplace(jnp.float32(loc), jnp.float32(scale)), jnp.asarray(k)
    ),
    np.float64,
  )
  ref = np.array([_mp_log_bin_laplace(np.float32(loc), np.float32(scale), int(i)) for i in k])
  np.testing.assert_allclose(got, ref, rtol=2e-6, atol=2e-5)
