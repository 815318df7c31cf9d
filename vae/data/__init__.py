"""MNIST: the IDX files (``idx``), the TF-free TFDS builder (``tfds_builder``), loading
(``mnist``), the data protocols (``protocols``) and a run's inputs (``inputs``).

Dependencies point one way: ``inputs`` -> ``protocols`` -> ``mnist`` -> ``idx`` (and
``tfds_builder`` -> ``idx``, imported lazily by ``mnist``).
"""

from vae.data.idx import (
  HOW_TO_PROVIDE,
  IDX_FILES,
  SHA256,
  MnistNotFoundError,
  find_idx_file,
  read_idx,
  resolve_mnist_dir,
)
from vae.data.inputs import (
  fixed_inputs,
  split,
  training_images,
  validation_images,
  validation_indices,
)
from vae.data.mnist import SOURCES, SPLITS, load_mnist
from vae.data.protocols import (
  PROTOCOLS,
  dequantized_test_set,
  prepare_images,
  preprocess,
  warp,
)

__all__ = [
  "HOW_TO_PROVIDE",
  "IDX_FILES",
  "PROTOCOLS",
  "SHA256",
  "SOURCES",
  "SPLITS",
  "MnistNotFoundError",
  "dequantized_test_set",
  "find_idx_file",
  "fixed_inputs",
  "load_mnist",
  "prepare_images",
  "preprocess",
  "read_idx",
  "resolve_mnist_dir",
  "split",
  "training_images",
  "validation_images",
  "validation_indices",
  "warp",
]
