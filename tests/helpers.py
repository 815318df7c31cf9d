"""Small shared pieces of the tests: a tiny config and workdir comparisons."""

import os

import jax
import numpy as np

from experiments.configs import default
from vae import training
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


def final_arrays(workdir, epoch=None):
  """The leaves of the checkpointed TrainState of ``epoch`` (default: latest), as numpy."""
  return jax.tree.leaves(wd.read_checkpoint(os.fspath(workdir), epoch))


def metrics_without_timing(workdir):
  rows = wd.read_metrics(workdir)
  for r in rows:
    for k in ("seconds", "images_per_second", "compile_seconds"):
      r.pop(k, None)
  return rows


def run(config, workdir):
  return training.train_and_evaluate(config, os.fspath(workdir))
