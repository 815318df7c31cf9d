"""MNIST splits as uint8 arrays: from the IDX files, or through the TF-free TFDS builder."""

from __future__ import annotations

import functools
import os

import numpy as np

from vae.data import idx
from vae.data.idx import MnistNotFoundError

SPLITS = ("train", "test")
SOURCES = ("auto", "idx", "tfds")


def check_choice(name: str, value, allowed) -> None:
  """ValueError naming ``value`` and the ``allowed`` ones unless it is one of them."""
  if value not in allowed:
    raise ValueError(f"unknown {name} {value!r}; expected one of {tuple(allowed)}")


@functools.lru_cache(maxsize=None)
def _load_idx(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  images, labels = (
    idx.read_idx(idx.find_idx_file(directory, n), idx.SHA256[n]) for n in idx.IDX_FILES[split]
  )
  return images, labels  # read-only: np.frombuffer over immutable bytes


@functools.lru_cache(maxsize=None)
def _load_tfds(split: str, idx_dir: str | None, tfds_dir: str | None):
  from vae.data import tfds_builder  # lazy: importing tensorflow_datasets takes a few seconds

  return tfds_builder.load_split(split, idx_dir=idx_dir, tfds_data_dir=tfds_dir)


def load_mnist(
  split: str, *, source: str = "auto", data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """Return read-only ``(images uint8 [N, 28, 28], labels uint8 [N])`` of an MNIST split.

  ``source``: ``"idx"`` reads the checksum-verified IDX files in ``resolve_mnist_dir(data_dir)``;
  ``"tfds"`` uses the TF-free TFDS builder ``mnist_idx`` (in ``$TFDS_DATA_DIR`` or TFDS' default
  folder), prepared from the local IDX files if a folder resolves, else downloaded (fails within
  seconds when offline); ``"auto"``: ``"idx"`` if a folder resolves, else ``"tfds"``.
  Results are cached in-process, so repeated calls are free.
  """
  check_choice("split", split, SPLITS)
  check_choice("source", source, SOURCES)
  directory = idx.resolve_mnist_dir(data_dir)
  if source == "tfds" or (source == "auto" and directory is None):
    idx_dir = os.path.abspath(directory) if directory else None
    return _load_tfds(split, idx_dir, os.environ.get("TFDS_DATA_DIR"))
  if directory is None:
    raise MnistNotFoundError(
      f"No MNIST folder given, none at {idx._DEFAULT_DIR}. {idx.HOW_TO_PROVIDE}"
    )
  return _load_idx(os.path.abspath(directory), split)
