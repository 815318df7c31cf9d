"""A run's data, as its config describes it: the training images and the fixed test inputs.

* ``training_images(config)``: the training split (the first ``data.train_size`` images of the 60,000
  less the validation images), prepared for the protocol, to be made device-resident;
* ``validation_images(config)``: the ``data.validation_size`` images held out of the training set
  (a fixed random subset, seeded by ``data.validation_seed``), or None: the per-epoch curves,
  convergence and any model selection use them, so the test set serves the final evaluation only;
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


def validation_indices(num_images: int, size: int, seed: int) -> np.ndarray:
  """The indices of the ``size`` training images held out for validation: a seeded random subset
  of ``range(num_images)``, sorted (the same for every run with the same seed)."""
  if size == 0:
    return np.zeros(0, np.int64)
  return np.sort(np.random.default_rng(seed).permutation(num_images)[:size])


def _validation_size(config) -> int:
  return int(config.data.get("validation_size", 0) or 0)


def _train_split(config) -> tuple[np.ndarray, np.ndarray]:
  """(the training pool, the validation images), uint8: the 60,000 training images less the
  held-out ones, in their order, and the held-out ones."""
  d = config.data
  images, _ = load_mnist("train", source=d.source, data_dir=d.data_dir or None)
  size = _validation_size(config)
  if not isinstance(size, int) or not 0 <= size < len(images):
    raise ValueError(f"data.validation_size={size!r} must be in [0, {len(images)}) (0: none)")
  held = validation_indices(len(images), size, int(d.get("validation_seed", 0)))
  keep = np.ones(len(images), bool)
  keep[held] = False
  return images[keep], images[held]


def training_images(config) -> np.ndarray:
  """The training images prepared for ``config.data.protocol`` (``prepare_images``), uint8: the
  first ``data.train_size`` (0: all) of the training set less its validation images."""
  d = config.data
  if _validation_size(config):
    pool, _ = _train_split(config)
    size = d.train_size
    if not isinstance(size, int) or not 0 <= size <= len(pool):
      raise ValueError(
        f"data.train_size={size!r} must be in [0, {len(pool)}] (0: all): the training set less "
        f"data.validation_size={_validation_size(config)} held-out images"
      )
    images = pool[:size] if size else pool
  else:
    images, _ = split(config, "train", d.train_size, "data.train_size")
  return prepare_images(images, d.protocol, seed=0)


def validation_images(config) -> np.ndarray | None:
  """The ``data.validation_size`` held-out training images (uint8, not prepared), or None."""
  if not _validation_size(config):
    return None
  return _train_split(config)[1]


def fixed_inputs(config, images_uint8: np.ndarray, *, static_seed: int = 1) -> jax.Array:
  """The protocol of ``config.data`` applied once, with a fixed key, to ``images_uint8``.

  ``static_seed`` seeds the one fixed binarization of ``binarized_static`` (the training set uses
  0, so a test image never shares its training counterpart's noise)."""
  d = config.data
  images = prepare_images(images_uint8, d.protocol, seed=static_seed)
  return jax.jit(
    lambda im: preprocess(jax.random.PRNGKey(FIXED_INPUTS_KEY), im, d.protocol, gamma=d.gamma)
  )(images)
