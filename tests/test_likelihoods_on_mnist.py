"""Every likelihood module of the registry on real MNIST test images, under jit, vmap and grad.

For each decoder of the table (``likelihoods.decoders``), the Gaussian also with its other mean
activation, and for every combination of

* data: x = pixel / 255 (exact 0s and 1s: most pixels are 0) and dequantized x = (pixel + u) / 256,
* raw decoder output: moderate (N(0, 2)), +1e4, -1e4, and +-1e4 at random,

the log-likelihood and its gradients with respect to the raw output and to the module's parameters
are finite; the log-likelihood has one value per image and is the SUM over pixels of the
distribution's log_prob; and vmapping over images gives the same numbers as the batch (for
sigma='optimal' in training, whose sigma is a batch statistic, vmapping over whole batches does).
All eight (data, raw) combinations go through one jit-compiled, vmapped function per configuration.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import likelihoods
from likelihoods import decoders
from likelihoods.gaussian import MEAN_ACTIVATIONS, SIGMA_MODES
from vae import data as vae_data

pytestmark = pytest.mark.e2e  # reads the real MNIST pixels

KEY = jax.random.key(0, impl="rbg")
BATCH = 8

# Every decoder of the table (a decoder added there is tested here), and the Gaussian's other mean
# activations for each sigma mode.
CONFIGS = [(d.likelihood, dict(d.options)) for d in decoders.DECODERS.values()] + [
  ("gaussian", {"sigma": s, "mean": m})
  for s in SIGMA_MODES
  for m in MEAN_ACTIVATIONS
  if m != likelihoods.options("gaussian")["mean"]
]


def _config_id(config):
  name, opts = config
  return "-".join([name] + [f"{v}" for v in opts.values()])


@pytest.fixture(scope="module")
def mnist_pixels(mnist_dir) -> np.ndarray:
  """BATCH real test images (uint8), read and checksum-verified by the project's loader."""
  images, _ = vae_data.load_mnist("test", source="idx", data_dir=mnist_dir)
  assert images.shape == (10_000, 28, 28)
  return images[:BATCH]


@pytest.fixture(scope="module")
def data(mnist_pixels):
  """(exact, dequantized) x, each (BATCH, 28, 28) float32 in [0, 1]."""
  exact = (mnist_pixels / 255).astype(np.float32)
  u = np.random.default_rng(0).uniform(size=mnist_pixels.shape)
  dequantized = ((mnist_pixels + u) / 256).astype(np.float32)
  # The real thing: mostly exact zeros, and some exact ones.
  assert np.mean(exact == 0) > 0.5 and np.any(exact == 1)
  assert np.all((dequantized > 0) & (dequantized < 1))
  return exact, dequantized


def raw_variants(k: int) -> list[np.ndarray]:
  rng = np.random.default_rng(1)
  shape = (BATCH, 28, 28, k)
  return [
    rng.normal(0, 2, shape).astype(np.float32),
    np.full(shape, 1e4, np.float32),
    np.full(shape, -1e4, np.float32),
    (1e4 * rng.choice([-1, 1], shape)).astype(np.float32),
  ]


@pytest.mark.parametrize("config", CONFIGS, ids=_config_id)
def test_finite_loss_and_gradients_under_jit_vmap_grad(config, data):
  name, opts = config
  lik = likelihoods.get(name, **opts)
  k = lik.outputs_per_pixel()
  xs = np.stack([x for x in data for _ in range(4)])  # (8 variants, BATCH, 28, 28)
  raws = np.stack(raw_variants(k) * 2)  # (8 variants, BATCH, 28, 28, k)
  assert raws.shape == (8, BATCH, 28, 28, k)
  variables = lik.init(KEY, raws[0], xs[0], train=True, method=lik.log_likelihood)
  params = variables.get("params", {})
  stats = {c: v for c, v in variables.items() if c != "params"}
  optimal = opts.get("sigma") == "optimal"

  def log_likelihood(params, raw, x, train):
    """(per-image log-likelihood, the distribution's log_prob summed here, updated stats)."""
    v = {"params": params, **stats}
    if train:
      ll, updates = lik.apply(
        v, raw, x, train=True, method=lik.log_likelihood, mutable=["likelihood_stats"]
      )
      dist, _ = lik.apply(v, raw, x, train=True, mutable=["likelihood_stats"])
      return ll, jnp.sum(dist.log_prob(x), axis=(-2, -1)), updates
    ll = lik.apply(v, raw, x, method=lik.log_likelihood)
    return ll, jnp.sum(lik.apply(v, raw, x).log_prob(x), axis=(-2, -1)), {}

  def one_variant(raw, x):
    out = {}
    for train in (False, True) if optimal else (False,):
      loss = lambda p, r: -jnp.sum(log_likelihood(p, r, x, train)[0])  # noqa: E731
      ll, summed, updates = log_likelihood(params, raw, x, train)
      g_params, g_raw = jax.grad(loss, argnums=(0, 1))(params, raw)
      out["train" if train else "eval"] = dict(
        ll=ll, summed=summed, g_params=g_params, g_raw=g_raw, updates=updates
      )
    # vmap over images: one image at a time (event_ndims=2 makes a scalar per image).
    out["per_image"] = jax.vmap(lambda r, x: log_likelihood(params, r, x, False)[0])(raw, x)
    return out

  results = jax.jit(jax.vmap(one_variant))(raws, xs)

  for train in (False, True) if optimal else (False,):
    r = results["train" if train else "eval"]
    ll = np.asarray(r["ll"])
    assert ll.shape == (8, BATCH) and ll.dtype == np.float32
    assert np.all(np.isfinite(ll)), (train, np.argwhere(~np.isfinite(ll)))
    # A SUM over the 784 pixels of log_prob, not a mean.
    np.testing.assert_allclose(ll, np.asarray(r["summed"]), rtol=1e-6)
    for leaf in jax.tree_util.tree_leaves((r["g_raw"], r["g_params"])):
      assert np.all(np.isfinite(np.asarray(leaf))), train
    assert r["g_raw"].shape == raws.shape
    for p, g in zip(jax.tree_util.tree_leaves(params), jax.tree_util.tree_leaves(r["g_params"])):
      assert g.shape == (8,) + p.shape
      if name == "gaussian" and opts["sigma"] in ("shared", "per_pixel"):
        assert np.all(np.asarray(g) != 0)  # sigma is actually learned
  # The moderate raw output on real data: not every pixel at its optimum, so gradients are nonzero.
  assert np.all(np.any(np.asarray(results["eval"]["g_raw"])[[0, 4]] != 0, axis=(-4, -3, -2, -1)))
  # vmap over images == the batch (eval mode).
  np.testing.assert_allclose(
    np.asarray(results["per_image"]), np.asarray(results["eval"]["ll"]), rtol=1e-6
  )
  if optimal:
    # Train mode: the batch MSE of each of the 8 vmapped batches went into its own running stats.
    updates = results["train"]["updates"]["likelihood_stats"]
    assert updates["mse_ema"].shape == (8,) and np.all(np.asarray(updates["mse_weight"]) > 0)
    mu = np.asarray(
      jax.nn.sigmoid(raws[..., 0]) if lik.mean == "sigmoid" else raws[..., 0], np.float64
    )
    mse = np.mean((xs - mu) ** 2, axis=(1, 2, 3))
    np.testing.assert_allclose(
      np.asarray(updates["mse_ema"]), (1 - lik.stats_momentum) * mse, rtol=1e-5
    )
