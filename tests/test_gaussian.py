"""Normal against scipy.stats.norm and mpmath, and GaussianLikelihood's sigma modes: the fixed-sigma
"MSE" identity, sigma-VAE's optimal sigma and its running estimate, and the soft clip on log sigma.
Tolerances are in units of the dtype's eps; ``pytest -s`` prints the measured errors.
(Normalization, moments, sampling, jit/vmap: test_distribution_contract.py.)"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest
import scipy.stats

import likelihoods
from likelihoods import Normal
from likelihoods.gaussian import soft_clip_log_sigma
from tests.helpers import KEY, eps  # noqa: F401  (dtype fixture: conftest)

D = 28 * 28


@jax.jit
def _evaluate(loc, scale, x):
  d = Normal(loc, scale)
  return d.log_prob(x), d.mean(), d.variance(), d.cdf(x)


@jax.jit
def _cdf(loc, scale, x):
  return Normal(loc, scale).cdf(x)


# ----------------------------------------------------------------------------- the distribution


def test_against_scipy_stats(dtype):
  locs = np.array([0.0, 1e-6, -1e-3, 0.5, -30.0, 1e4], dtype)[:, None, None]
  scales = np.array([0.0025, 0.3, 1.0, 50.0], dtype)[None, :, None]
  xs = np.array([0.0, 1e-3, 0.5, 1.0, -2.0, 1e4 + 3], dtype)[None, None, :]
  lp, mean, var, cdf = (np.asarray(v, np.float64) for v in _evaluate(locs, scales, xs))
  l64, s64, x64 = (a.astype(np.float64) for a in (locs, scales, xs))
  ref = scipy.stats.norm(l64, s64)
  z = (x64 - l64) / s64
  # Rounding budget: eps times the size of the terms (0.5 z^2 carries relative error ~3 eps from the
  # rounded difference x - loc when |x - loc| >> |x|, |loc| does not hold: use |x| + |loc| instead).
  scale_lp = ((np.abs(x64) + np.abs(l64)) / s64) ** 2 + np.abs(np.log(s64)) + 1
  err = {
    "log_prob": np.max(np.abs(lp - ref.logpdf(x64)) / scale_lp),
    "mean": np.max(np.abs(mean - np.broadcast_to(ref.mean(), mean.shape)) / (np.abs(l64) + 1)),
    "variance": np.max(np.abs(var / ref.var() - 1)),
    "cdf": np.max(np.abs(cdf - ref.cdf(x64))),
  }
  # Lower tail relative (z down to -4e6: scipy's and jax's ndtr both use erfc there).
  lower = (z < -1) & (ref.cdf(x64) > 1e-300)
  err["cdf lower tail (rel)"] = np.max(np.abs(cdf[lower] / ref.cdf(x64)[lower] - 1))
  print(f"Normal vs scipy {dtype.__name__}: " + ", ".join(f"{k} {v:.1e}" for k, v in err.items()))
  e = eps(dtype)
  assert err["log_prob"] <= 2 * e
  assert err["mean"] == 0
  assert err["variance"] <= e
  assert err["cdf"] <= 2 * e
  # float32 ndtr in the tail: relative error grows like |z| eps (the rounding of z itself).
  assert err["cdf lower tail (rel)"] <= (2e-5 if dtype == np.float32 else 1e-13)


@pytest.mark.parametrize("log_scale_path", [False, True], ids=["scale", "log_scale"])
def test_gradients_wrt_loc_and_log_sigma(dtype, log_scale_path):
  """d log_prob / d loc = (x - loc) / sigma^2 and d / d log sigma = z^2 - 1, against mpmath.diff, at
  loc in {0, +-1e-6, +-1e-3, +-30, +-1e4} and log sigma in {-6, -1e-3, 0, 1e-6, 3}."""
  locs = np.array([0.0, 1e-6, -1e-6, 1e-3, -1e-3, 30.0, -30.0, 1e4, -1e4], dtype)[:, None, None]
  log_sigmas = np.array([-6.0, -1e-3, 0.0, 1e-6, 3.0], dtype)[None, :, None]
  xs = np.array([0.0, 0.5, 1.0], dtype)[None, None, :]
  grid = np.broadcast_arrays(locs, log_sigmas, xs)

  def log_prob(loc, ls):
    if log_scale_path:
      return Normal(loc, jnp.exp(ls), log_scale=ls).log_prob(xs)
    return Normal(loc, jnp.exp(ls)).log_prob(xs)

  g_loc, g_ls = jax.jit(jax.grad(lambda m, s: jnp.sum(log_prob(m, s)), argnums=(0, 1)))(
    grid[0], grid[1]
  )
  g_loc, g_ls = np.asarray(g_loc, np.float64), np.asarray(g_ls, np.float64)
  assert np.all(np.isfinite(g_loc)) and np.all(np.isfinite(g_ls))

  def ref(loc, ls, x, wrt):
    with mpmath.workdps(50):
      loc, ls, x = (mpmath.mpf(float(v)) for v in (loc, ls, x))

      def f(m, s):
        return -((x - m) ** 2) / (2 * mpmath.exp(2 * s)) - s - mpmath.log(2 * mpmath.pi) / 2

      if wrt == "loc":
        return float(mpmath.diff(lambda m: f(m, ls), loc))
      return float(mpmath.diff(lambda s: f(loc, s), ls))

  ref_loc = np.vectorize(lambda *a: ref(*a, "loc"))(*grid)
  ref_ls = np.vectorize(lambda *a: ref(*a, "ls"))(*grid)
  l64, s64, x64 = (g.astype(np.float64) for g in grid)
  # Relative to |x| + |loc| (the rounding of x - loc), squared for z^2.
  size = (np.abs(x64) + np.abs(l64)) * np.exp(-s64)
  err_loc = np.max(np.abs(g_loc - ref_loc) / (size * np.exp(-s64) + 1e-300))
  err_ls = np.max(np.abs(g_ls - ref_ls) / (size**2 + 1))
  print(
    f"Normal grads {dtype.__name__} ({'log_scale' if log_scale_path else 'scale'}): "
    f"loc {err_loc:.1e}, log sigma {err_ls:.1e}"
  )
  e = eps(dtype)
  assert err_loc <= 3 * e
  assert err_ls <= 4 * e


def test_dtypes_and_broadcasting(dtype):
  loc, scale = np.zeros((3, 1), dtype), np.ones((1, 4), dtype)
  x = np.zeros(4, dtype)

  def everything(loc, scale, x):
    d = Normal(loc, scale)
    return (
      d.log_prob(x),
      d.mean(),
      d.variance(),
      d.stddev(),
      d.cdf(x),
      d.icdf(x),
      d.sample(KEY, (5,)),
      Normal(loc, scale, log_scale=jnp.log(scale)).log_prob(x),
    )

  shapes = [(3, 4)] * 6 + [(5, 3, 4), (3, 4)]
  for out, shape in zip(jax.eval_shape(everything, loc, scale, x), shapes):
    assert out.dtype == dtype and out.shape == shape
  assert Normal(loc, scale).batch_shape == (3, 4)


def test_icdf_inverts_cdf(dtype):
  u = np.linspace(0.001, 0.999, 999).astype(dtype)
  loc, scale = dtype(0.3), dtype(2.0)
  x = jax.jit(lambda u: Normal(loc, scale).icdf(u))(u)
  np.testing.assert_allclose(_cdf(loc, scale, x), u, rtol=0, atol=8 * eps(dtype))


def test_log_scale_path_matches_scale_path(dtype):
  rng = np.random.default_rng(0)
  loc, ls, x = (rng.normal(0, 3, 200).astype(dtype) for _ in range(3))
  a, b = jax.jit(
    lambda m, s, x: (
      Normal(m, jnp.exp(s)).log_prob(x),
      Normal(m, jnp.exp(s), log_scale=s).log_prob(x),
    )
  )(loc, ls, x)
  size = ((np.abs(x) + np.abs(loc)) * np.exp(-ls.astype(np.float64))) ** 2 + np.abs(ls) + 1
  assert np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b)) / size) <= 4 * eps(dtype)


# ----------------------------------------------------------------------------- the likelihood module


def _init_apply(lik, raw, x, train=False):
  """(variables, log_likelihood, updated stats or None), jit-compiled."""
  variables = jax.jit(lambda r, x: lik.init(KEY, r, x, train=train, method=lik.log_likelihood))(
    raw, x
  )
  if train:
    ll, updates = jax.jit(
      lambda v, r, x: lik.apply(
        v, r, x, train=True, method=lik.log_likelihood, mutable=["likelihood_stats"]
      )
    )(variables, raw, x)
    return variables, ll, updates
  return (
    variables,
    jax.jit(lambda v, r, x: lik.apply(v, r, x, method=lik.log_likelihood))(variables, raw, x),
    None,
  )


def _batch(dtype, n=4, seed=0):
  rng = np.random.default_rng(seed)
  raw = rng.normal(0, 2, (n, 28, 28, 1)).astype(dtype)
  x = (rng.integers(0, 256, (n, 28, 28)) / 255).astype(dtype)
  return raw, x


@pytest.mark.parametrize("mean", ["sigmoid", "identity"])
def test_fixed_sigma_half_is_sum_of_squares_plus_log_pi(dtype, mean):
  """sigma^2 = 1/2: -log N(x | mu, sigma) summed = sum (x - mu)^2 + (D/2) log(pi), the "MSE" model."""
  lik = likelihoods.get("gaussian", sigma="fixed", mean=mean)
  assert lik.fixed_sigma == math.sqrt(0.5)  # the default is exactly this model
  raw, x = _batch(dtype)
  _, ll, _ = _init_apply(lik, raw, x)
  assert ll.dtype == dtype and ll.shape == (4,)
  r64 = raw[..., 0].astype(np.float64)
  mu = 1 / (1 + np.exp(-r64)) if mean == "sigmoid" else r64
  sse = np.sum((x - mu) ** 2, axis=(1, 2))
  np.testing.assert_allclose(
    -np.asarray(ll, np.float64),
    sse + D / 2 * math.log(math.pi),
    rtol=4 * eps(dtype) if dtype == np.float64 else 2e-6,
  )


def test_optimal_sigma_train_and_eval(dtype):
  """Train mode: sigma^2 = the batch MSE over all examples and pixels (through the soft clip) and the
  running stats move; eval mode: the debiased running estimate, independent of the other images."""
  lik = likelihoods.get("gaussian", sigma="optimal", stats_momentum=0.9)
  raw, x = _batch(dtype)
  variables, ll, updates = _init_apply(lik, raw, x, train=True)
  stats0 = variables["likelihood_stats"]
  assert float(stats0["mse_ema"]) == 0 and float(stats0["mse_weight"]) == 0  # init does not update

  mu = 1 / (1 + np.exp(-raw[..., 0].astype(np.float64)))
  mse = np.mean((x - mu) ** 2)
  log_sigma = -6 + math.log1p(math.exp(0.5 * math.log(mse) + 6))  # sigma-VAE's soft clip, exactly
  expected = np.sum(
    -0.5 * (x - mu) ** 2 * math.exp(-2 * log_sigma) - log_sigma - 0.5 * math.log(2 * math.pi),
    axis=(1, 2),
  )
  rtol = 1e-13 if dtype == np.float64 else 2e-6
  np.testing.assert_allclose(np.asarray(ll, np.float64), expected, rtol=rtol)
  # The soft clip (applied to the optimal sigma too, as in sigma-VAE's code) moves sigma^2 off the
  # batch MSE by a factor exp(2 log1p(e^-(log sigma + 6))): +1.2% here (MSE 0.18), +5% at MSE 0.01.
  excess = math.exp(2 * log_sigma) / mse - 1
  assert excess == pytest.approx(
    math.expm1(2 * math.log1p(math.exp(-(0.5 * math.log(mse) + 6)))), rel=1e-12
  )
  assert 0.011 < excess < 0.012

  stats1 = updates["likelihood_stats"]  # float32 statistics
  np.testing.assert_allclose(float(stats1["mse_ema"]), 0.1 * mse, rtol=4e-6)
  np.testing.assert_allclose(float(stats1["mse_weight"]), 0.1, rtol=1e-7)
  # A second batch: ema = 0.9 ema + 0.1 mse2, weight = 0.9 * 0.1 + 0.1.
  raw2, x2 = _batch(dtype, seed=1)
  mse2 = np.mean((x2 - 1 / (1 + np.exp(-raw2[..., 0].astype(np.float64)))) ** 2)
  variables2 = {**variables, "likelihood_stats": stats1}
  _, updates2 = jax.jit(
    lambda v, r, x: lik.apply(
      v, r, x, train=True, method=lik.log_likelihood, mutable=["likelihood_stats"]
    )
  )(variables2, raw2, x2)
  stats2 = updates2["likelihood_stats"]
  np.testing.assert_allclose(float(stats2["mse_ema"]), 0.09 * mse + 0.1 * mse2, rtol=4e-6)
  np.testing.assert_allclose(float(stats2["mse_weight"]), 0.19, rtol=1e-7)

  # Eval: sigma^2 from the debiased running estimate ema / weight, not from the batch.
  variables3 = {**variables, "likelihood_stats": stats2}
  evaluate = jax.jit(lambda r, x: lik.apply(variables3, r, x, method=lik.log_likelihood))
  ll_eval = np.asarray(evaluate(raw, x), np.float64)
  running = (0.09 * mse + 0.1 * mse2) / 0.19
  ls_eval = -6 + math.log1p(math.exp(0.5 * math.log(running) + 6))
  expected = np.sum(
    -0.5 * (x - mu) ** 2 * math.exp(-2 * ls_eval) - ls_eval - 0.5 * math.log(2 * math.pi),
    axis=(1, 2),
  )
  np.testing.assert_allclose(ll_eval, expected, rtol=2e-6)  # the running stats are float32
  # One image's eval likelihood does not depend on the rest of the batch.
  np.testing.assert_allclose(
    np.asarray(evaluate(raw[:1], x[:1]), np.float64), ll_eval[:1], rtol=1e-6
  )
  # Before any training step the running estimate is sigma = 1.
  fresh = np.asarray(
    jax.jit(lambda r, x: lik.apply(variables, r, x, method=lik.log_likelihood))(raw, x)
  )
  log_sigma_1 = -6 + math.log1p(math.exp(6))
  np.testing.assert_allclose(
    fresh,
    np.sum(
      -0.5 * (x - mu) ** 2 * math.exp(-2 * log_sigma_1) - log_sigma_1 - 0.5 * math.log(2 * math.pi),
      axis=(1, 2),
    ),
    rtol=2e-6,
  )


def test_soft_clip_values_and_gradients(dtype):
  v = np.array([-1e4, -50.0, -6.0, -1.0, 0.0, 3.0, 1e4], dtype)
  out, grad = jax.jit(jax.vmap(jax.value_and_grad(lambda v: soft_clip_log_sigma(v, -6.0))))(v)

  def ref(v):
    with mpmath.workdps(50):
      return -6 + mpmath.log1p(mpmath.exp(mpmath.mpf(float(v)) + 6))

  # Absolute error ~ eps * (6 + |out|): the clip adds -6 to softplus(v + 6).
  err = np.abs(np.asarray(out, np.float64) - [float(ref(a)) for a in v]) / (6 + np.abs(v))
  assert np.max(err) <= eps(dtype)
  with mpmath.workdps(50):
    ref_grad = [float(1 / (1 + mpmath.exp(-(mpmath.mpf(float(a)) + 6)))) for a in v]
  # jax.nn.softplus's derivative exp(y - softplus(y)) costs ulp(softplus(y)) ~ |y| eps, y = v + 6.
  y = v.astype(np.float64) + 6
  softplus_ulp = np.where((y > 0) & (y < 40), y, 0.0)
  err = (
    np.abs(np.asarray(grad, np.float64) - ref_grad)
    / np.maximum(ref_grad, 1e-300)
    / (1 + softplus_ulp)
  )
  assert np.max(err) <= eps(dtype)
  assert np.all(np.asarray(out) >= -6)


@pytest.mark.parametrize(
  "mode,dtype",
  [
    ("shared", np.float32),
    ("per_pixel", np.float32),
    ("decoder", np.float32),
    ("optimal", np.float32),
    ("optimal", np.float64),
  ],
)
def test_soft_clip_when_sigma_would_collapse(mode, dtype):
  """x == mean exactly: the likelihood wants sigma -> 0. log sigma stays >= -6 (log_sigma_min) and
  the loss and its gradients (raw output and params) stay finite."""
  with jax.enable_x64(dtype == np.float64):
    _soft_clip_when_sigma_would_collapse(mode, dtype)


def _soft_clip_when_sigma_would_collapse(mode, dtype):
  opts = {"init_log_sigma": -50.0} if mode in ("shared", "per_pixel") else {}
  lik = likelihoods.get("gaussian", sigma=mode, mean="identity", **opts)
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(2, 28, 28)).astype(dtype)
  raw = x[..., None]
  if mode == "decoder":
    raw = np.concatenate([raw, np.full_like(raw, -1e4)], axis=-1)
  train = mode == "optimal"
  variables = jax.jit(lambda r, x: lik.init(KEY, r, x, train=train, method=lik.log_likelihood))(
    raw, x
  )

  def loss(params, raw):
    out = lik.apply(
      {**variables, "params": params},
      raw,
      x,
      train=train,
      method=lik.log_likelihood,
      mutable=["likelihood_stats"] if train else False,
    )
    ll = out[0] if train else out
    return -jnp.sum(ll)

  params = variables.get("params", {})
  value, (g_params, g_raw) = jax.jit(jax.value_and_grad(loss, argnums=(0, 1)))(params, raw)
  scale = jax.jit(
    lambda r, x: lik.apply(
      variables, r, x, train=train, mutable=["likelihood_stats"] if train else False
    )
  )(raw, x)
  dist = scale[0] if train else scale
  log_sigma = np.asarray(dist.log_scale)
  assert np.all(log_sigma >= -6) and np.all(log_sigma < -6 + 1e-6)
  # The loss is D (log sigma + log(2 pi) / 2) per image with log sigma ~ -6.
  np.testing.assert_allclose(
    float(value),
    2 * D * (-6 + 0.5 * math.log(2 * math.pi)),
    rtol=1e-5 if dtype == np.float32 else 1e-13,
  )  # float32 sum of 1568
  assert np.isfinite(float(value))
  for leaf in jax.tree_util.tree_leaves((g_params, g_raw)):
    assert np.all(np.isfinite(np.asarray(leaf)))


def test_decoder_sigma_extreme_outputs_are_finite(dtype):
  """A decoder log sigma output of +1e4 overflows exp(log sigma); the log-likelihood must not: it is
  -(D)(1e4 + log(2 pi)/2) per image (z = 0), with gradient -1 per pixel wrt the sigma output."""
  lik = likelihoods.get("gaussian", sigma="decoder")
  assert lik.outputs_per_pixel() == 2
  rng = np.random.default_rng(0)
  x = rng.uniform(size=(2, 28, 28)).astype(dtype)
  for sigma_raw, per_pixel, grad in [
    (1e4, -(1e4 + 0.5 * math.log(2 * math.pi)), -1.0),
    (-1e4, None, None),
  ]:
    raw = np.stack([rng.normal(size=(2, 28, 28)), np.full((2, 28, 28), sigma_raw)], -1).astype(
      dtype
    )
    variables = {}
    f = jax.jit(
      jax.value_and_grad(lambda r: jnp.sum(lik.apply(variables, r, x, method=lik.log_likelihood)))
    )
    value, g = f(raw)
    assert np.isfinite(float(value)) and np.all(np.isfinite(np.asarray(g)))
    if per_pixel is not None:
      np.testing.assert_allclose(
        float(value), 2 * D * per_pixel, rtol=1e-5 if dtype == np.float32 else 1e-13
      )  # float32 sum
      np.testing.assert_allclose(np.asarray(g[..., 1]), grad, rtol=1e-6)
      np.testing.assert_array_equal(np.asarray(g[..., 0]), 0.0)  # z = (x - mu) e^-1e4 = 0


@pytest.mark.parametrize("mode", ["fixed", "shared", "per_pixel", "decoder", "optimal"])
def test_module_params_and_outputs(mode):
  """Learned parameters by mode (the log-likelihood as the summed log_prob, under jit, vmap and grad,
  is checked on real MNIST in test_likelihoods_on_mnist.py)."""
  lik = likelihoods.get("gaussian", sigma=mode)
  raw = np.zeros((4, 28, 28, lik.outputs_per_pixel()), np.float32)
  x = np.zeros((4, 28, 28), np.float32)
  variables = jax.eval_shape(
    lambda r, x: lik.init(KEY, r, x, train=True, method=lik.log_likelihood), raw, x
  )
  shapes = jax.tree_util.tree_map(lambda v: v.shape, variables)
  expected = {
    "shared": {"params": {"log_sigma": ()}},
    "per_pixel": {"params": {"log_sigma": (28, 28)}},
    "optimal": {"likelihood_stats": {"mse_ema": (), "mse_weight": ()}},
  }.get(mode, {})
  assert dict(shapes) == expected
  out = jax.eval_shape(
    lambda v, r, x: lik.apply(v, r, x, method=lik.log_likelihood), variables, raw, x
  )
  assert out.shape == (4,) and out.dtype == np.float32
