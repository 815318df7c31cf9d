"""A run's data, as its config describes it: the training images and the fixed test inputs.

* ``training_images(config)``: the training split (the first ``data.train_size`` images),
  prepared for the protocol, to be made device-resident;
* ``split(config, name, size)``: a split's uint8 images and labels, from the run's data source;
* ``fixed_inputs(config, images)``: the protocol applied once with a fixed key: the per-epoch test
  set, identical across runs and across the evaluation of any run with the same protocol.
"""

from __future__ import annotations

import jax
import numpy as np

from vae.data.mnist import load_mnist
from vae.data.protocols import prepare_images, preprocess

FIXED_INPUTS_KEY = 1234  # the preprocessing noise of the fixed inputs (the same for every run)


def split(
  config, name: str, size: int = 0, field: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """(uint8 images, labels) of split ``name`` from ``config.data``'s source: the first ``size``
  (0: all); a ValueError names the config ``field`` that holds a size outside [0, split size]."""
  d = config.data
  images, labels = load_mnist(name, source=d.source, data_dir=d.data_dir or None)
  if not isinstance(size, int) or not 0 <= size <= len(images):
    what = field or f"{name} subset size"
    raise ValueError(f"{what}={size!r} must be in [0, {len(images)}] (0: all)")
  return (images[:size], labels[:size]) if size else (images, labels)


def training_images(config) -> np.ndarray:
  """The training images prepared for ``config.data.protocol`` (``prepare_images``), uint8."""
  d = config.data
  images, _ = split(config, "train", d.train_size, "data.train_size")
  return prepare_images(images, d.protocol, seed=0)


def fixed_inputs(config, images_uint8: np.ndarray, *, static_seed: int = 1) -> jax.Array:
  """The protocol of ``config.data`` applied once, with a fixed key, to ``images_uint8``.

  ``static_seed`` seeds the one fixed binarization of ``binarized_static`` (the training set uses
  0, so a test image never shares its training counterpart's noise)."""
  d = config.data
  images = prepare_images(images_uint8, d.protocol, seed=static_seed)
  return jax.jit(
    lambda im: preprocess(jax.random.PRNGKey(FIXED_INPUTS_KEY), im, d.protocol, gamma=d.gamma)
  )(images)
