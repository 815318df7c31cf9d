"""Small shared pieces of the tests: a tiny config and workdir comparisons."""

import os

import jax
import numpy as np

from experiments.configs import default
from vae import checkpoints, training
from vae import workdir as wd

KEY = jax.random.key(0, impl="rbg")  # fixed key; rbg compiles much faster than threefry on CPU


def eps(dtype) -> float:
  """Machine epsilon of a numpy dtype."""
  return float(np.finfo(dtype).eps)


def tiny_config(likelihood="bernoulli", **options):
  """A config that trains in about a second: small MLP, a few hundred real MNIST images."""
  c = default.get_config()
  c.likelihood = likelihood
  c.likelihood_options = options
  c.model.hidden = (32,)
  c.model.latent_dim = 4
  c.data.train_size = 256
  c.data.test_size = 200
  c.batch_size = 64
  c.eval_batch_size = 40
  c.num_epochs = 2
  c.progress_bar = False
  return c


def tiny_eval_config():
  """An eval config that runs in seconds on a tiny run: every default measure, small K."""
  from vae import evaluation

  c = evaluation.default_config()
  c.num_importance_samples, c.chunk, c.batch_size = 20, 10, 100
  c.test_size, c.knn_train_size = 200, 1000
  c.sample_quality, c.num_generated = False, 200
  return c


# tiny_config() as command-line flags, for tests that run the entry points in a subprocess
TINY_FLAGS = [
  "--config.model.hidden=(32,)",
  "--config.model.latent_dim=4",
  "--config.data.train_size=256",
  "--config.data.test_size=200",
  "--config.batch_size=64",
  "--config.eval_batch_size=40",
  "--config.num_epochs=2",
  "--config.progress_bar=False",
]


def logistic_mixture_params(rng, n, k, extreme=False):
  """[n, k] logits, means and log scales of n mixtures of k discretized logistics: typical, or
  reaching the log-scale floor, far means and huge logits (the distribution's hard points)."""
  logits = rng.normal(size=(n, k)) * 2
  loc = rng.uniform(-0.3, 1.3, size=(n, k))
  log_scale = rng.uniform(-8.0, 1.0, size=(n, k))
  if extreme:
    logits[:, 0] += rng.choice([-1e4, 0.0, 1e4], size=n)
    loc[::3, -1] = rng.choice([-1e3, -3.0, 4.0, 1e3], size=loc[::3].shape[0])
    log_scale[1::3, 0] = -8.0  # the likelihood's floor
    log_scale[2::4, -1] = 6.0  # a scale of 400: almost flat on [0, 1]
  return logits, loc, log_scale


def final_arrays(workdir, epoch=None):
  """The leaves of the checkpointed TrainState of ``epoch`` (default: latest), as numpy."""
  return jax.tree.leaves(checkpoints.read_checkpoint(os.fspath(workdir), epoch))


def metrics_without_timing(workdir):
  rows = wd.read_metrics(workdir)
  for r in rows:
    for k in ("seconds", "images_per_second", "compile_seconds"):
      r.pop(k, None)
  return rows


def run(config, workdir):
  return training.train_and_evaluate(config, os.fspath(workdir))


def adam_losses_on_synthetic_8bit(decoder: str, learning_rate: float, steps: int = 30) -> list:
  """Training losses of ``steps`` Adam steps of a tiny VAE with ``decoder`` on 32 synthetic
  dequantized 8-bit images (sparse bright strokes on black; no MNIST)."""
  import optax

  from vae import objective
  from vae.model import build_model, init_variables

  c = default.for_decoder(decoder)
  c.model.hidden, c.model.latent_dim, c.model.dropout = (32,), 2, 0.0
  model = build_model(c)
  rng = np.random.default_rng(0)
  pixels = np.where(rng.uniform(size=(32, 28, 28)) < 0.2, rng.integers(150, 256, (32, 28, 28)), 0)
  x = jax.numpy.asarray((pixels + rng.uniform(size=pixels.shape)) / 256, jax.numpy.float32)
  params = init_variables(model, jax.random.PRNGKey(0))["params"]
  tx = optax.adam(learning_rate)
  opt = tx.init(params)

  def loss(p, key):
    return objective.training_loss(model.apply({"params": p}, x, rngs={"sample": key}))

  @jax.jit
  def step(p, o, key):
    value, g = jax.value_and_grad(loss)(p, key)
    updates, o = tx.update(g, o, p)
    return optax.apply_updates(p, updates), o, value

  losses = []
  for i in range(steps):
    params, opt, value = step(params, opt, jax.random.PRNGKey(i))
    losses.append(float(value))
  return losses
