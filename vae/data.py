"""MNIST loading (original IDX files, or TensorFlow-free TFDS) and on-device preprocessing.

Host side, once per run: ``load_mnist`` -> uint8 images, ``prepare_images`` -> the array made
device-resident.  Device side, inside the jitted epoch: ``preprocess`` turns a uint8 batch into
float32 model inputs in [0, 1] according to one of ``PROTOCOLS``; it never touches the host.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import pathlib

import jax
import jax.numpy as jnp
import numpy as np

PROTOCOLS = ("dequantized", "continuous", "binarized_dynamic", "binarized_static", "warped")
SPLITS = ("train", "test")
SOURCES = ("auto", "idx", "tfds")

#: split -> (images file, labels file), names of the decompressed IDX files.
IDX_FILES = {
  "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
  "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
#: Published SHA-256 of the *decompressed* MNIST IDX files.
SHA256 = {
  "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
  "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
  "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
  "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}
# <repo root>/../shared/data/mnist (a module global so tests can monkeypatch it).
_DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"

HOW_TO_PROVIDE = (
  "Provide MNIST by setting the MNIST_DIR environment variable (or config.data_dir) to a folder "
  "holding the 4 original IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
  "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped '.gz' or not), or run on a machine "
  "with internet access so that TFDS can download them."
)


class MnistNotFoundError(FileNotFoundError):
  """MNIST is not available: no IDX files found and no way to download them."""


def _check(name: str, value, allowed) -> None:
  if value not in allowed:
    raise ValueError(f"unknown {name} {value!r}; expected one of {tuple(allowed)}")


# ---------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------


def resolve_mnist_dir(data_dir: str | None = None) -> str | None:
  """Folder with the MNIST IDX files: ``data_dir`` > ``$MNIST_DIR`` > repo default > None.

  An explicit argument or environment variable is returned even if it does not exist (loading
  then fails naming it); the default ``<repo root>/../shared/data/mnist`` only if it exists.
  """
  for candidate in (data_dir, os.environ.get("MNIST_DIR")):
    if candidate:
      return os.path.expanduser(os.fspath(candidate))
  return str(_DEFAULT_DIR) if _DEFAULT_DIR.is_dir() else None


def find_idx_file(directory: str, name: str) -> pathlib.Path:
  """Path of IDX file ``name`` (or ``name.gz``) in ``directory``; MnistNotFoundError if absent."""
  for candidate in (pathlib.Path(directory) / name, pathlib.Path(directory) / f"{name}.gz"):
    if candidate.is_file():
      return candidate
  raise MnistNotFoundError(f"MNIST file {name}[.gz] not found in {directory!r}. {HOW_TO_PROVIDE}")


def read_idx(path: str | os.PathLike, sha256: str | None = None) -> np.ndarray:
  """Parse a uint8 IDX file (gzipped or not, detected by content) into a read-only array.

  If ``sha256`` is given it must match the SHA-256 of the decompressed bytes, else ValueError.
  """
  raw = pathlib.Path(path).read_bytes()
  if raw[:2] == b"\x1f\x8b":  # gzip magic
    raw = gzip.decompress(raw)
  if sha256 is not None and (actual := hashlib.sha256(raw).hexdigest()) != sha256:
    raise ValueError(
      f"SHA-256 mismatch for MNIST file {os.fspath(path)!r} (decompressed): "
      f"expected {sha256}, got {actual}. The file is corrupted or not the original MNIST."
    )
  if raw[:3] != b"\x00\x00\x08":  # IDX magic: two zero bytes, then type code 0x08 (uint8)
    raise ValueError(f"{os.fspath(path)!r} is not a uint8 IDX file")
  ndim = raw[3]
  dims = tuple(int(d) for d in np.frombuffer(raw, ">i4", count=ndim, offset=4))
  return np.frombuffer(raw, np.uint8, offset=4 + 4 * ndim).reshape(dims)


@functools.lru_cache(maxsize=None)
def _load_idx(directory: str, split: str) -> tuple[np.ndarray, np.ndarray]:
  images, labels = (read_idx(find_idx_file(directory, n), SHA256[n]) for n in IDX_FILES[split])
  return images, labels  # read-only: np.frombuffer over immutable bytes


@functools.lru_cache(maxsize=None)
def _load_tfds(split: str, idx_dir: str | None, tfds_dir: str | None):
  from vae import mnist_tfds  # lazy: importing tensorflow_datasets takes a few seconds

  return mnist_tfds.load_split(split, idx_dir=idx_dir, tfds_data_dir=tfds_dir)


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
  _check("split", split, SPLITS)
  _check("source", source, SOURCES)
  directory = resolve_mnist_dir(data_dir)
  if source == "tfds" or (source == "auto" and directory is None):
    idx_dir = os.path.abspath(directory) if directory else None
    return _load_tfds(split, idx_dir, os.environ.get("TFDS_DATA_DIR"))
  if directory is None:
    raise MnistNotFoundError(f"No MNIST folder given, none at {_DEFAULT_DIR}. {HOW_TO_PROVIDE}")
  return _load_idx(os.path.abspath(directory), split)


# ---------------------------------------------------------------------------------------------
# Host-side preparation (once per run)
# ---------------------------------------------------------------------------------------------


def _as_uint8(images) -> np.ndarray:
  images = np.asarray(images)
  if images.dtype != np.uint8:
    raise ValueError(f"expected uint8 images, got dtype {images.dtype}")
  return images


def prepare_images(images_uint8: np.ndarray, protocol: str, *, seed: int = 0) -> np.ndarray:
  """The uint8 array to put on device and feed to ``preprocess(..., protocol)``.

  Every protocol but ``binarized_static`` gets the images unchanged (uint8 is 4x smaller on
  device than float32).  ``binarized_static`` gets ONE fixed Bernoulli(pixel/255) sample drawn
  with ``seed``, stored as uint8 in {0, 255} (still a valid image), which ``preprocess`` maps to
  exactly {0., 1.}.  Use different seeds for different splits to decorrelate their noise.
  """
  _check("protocol", protocol, PROTOCOLS)
  images = _as_uint8(images_uint8)
  if protocol != "binarized_static":
    return images
  # k uniform on {0, ..., 254}: P(k < pixel) = pixel / 255 exactly.
  k = np.random.default_rng(seed).integers(0, 255, size=images.shape, dtype=np.uint8)
  return np.where(k < images, np.uint8(255), np.uint8(0))


def dequantized_test_set(images_uint8: np.ndarray, seed: int = 0) -> np.ndarray:
  """Fixed-noise dequantized evaluation set ``(pixel + u) / 256`` (float32), same for every run.

  Uses numpy's PCG64 with ``seed`` and the same 2^-16 noise grid as ``preprocess``.
  """
  images = _as_uint8(images_uint8)
  u = np.random.default_rng(seed).integers(0, 2**16, size=images.shape, dtype=np.uint16)
  return ((images + u / 2.0**16) / 256.0).astype(np.float32)  # exact in float32


# ---------------------------------------------------------------------------------------------
# Device-side preprocessing (jit-safe, pure)
# ---------------------------------------------------------------------------------------------


def warp(x: jax.Array, gamma: float) -> jax.Array:
  """The continuous-Bernoulli paper's warping f_gamma of x in [0, 1], gamma in [-0.5, 0.5]."""
  if not -0.5 <= gamma <= 0.5:
    raise ValueError(f"gamma={gamma!r} outside [-0.5, 0.5]")
  if gamma == -0.5:
    return (x >= 0.5).astype(jnp.float32)
  if gamma < 0:
    return jnp.clip((x + gamma) / (1 + 2 * gamma), 0.0, 1.0)
  return gamma + (1 - 2 * gamma) * x


def preprocess(
  key: jax.Array, images: jax.Array, protocol: str, *, gamma: float = 0.0
) -> jax.Array:
  """Map uint8 pixels ``[..., 28, 28]`` to float32 inputs in [0, 1] (same shape); jit-safe.

  ``protocol`` and ``gamma`` must be static (``jax.jit(..., static_argnames=...)``).

  * ``dequantized`` (default protocol): ``(pixel + u) / 256`` with fresh u ~ U[0, 1) from
    ``key``, drawn on the 2^-16 grid so the sum is exact in float32: ``floor(256 x) == pixel``.
  * ``continuous``: ``pixel / 255``.
  * ``binarized_dynamic``: a fresh Bernoulli(pixel / 255) sample from ``key``.
  * ``binarized_static``: input from ``prepare_images`` (uint8 {0, 255}) -> exactly {0., 1.};
    a float input already in {0, 1} is only cast.
  * ``warped``: ``warp(pixel / 255, gamma)``.

  ``key`` is unused by the deterministic protocols.
  """
  _check("protocol", protocol, PROTOCOLS)
  images = jnp.asarray(images)
  if protocol == "binarized_static" and jnp.issubdtype(images.dtype, jnp.floating):
    return images.astype(jnp.float32)
  pixels = images.astype(jnp.float32)
  if protocol == "dequantized":
    u = jax.random.bits(key, images.shape, jnp.uint16).astype(jnp.float32) / 2.0**16
    return (pixels + u) / 256.0
  if protocol == "binarized_dynamic":
    return jax.random.bernoulli(key, pixels / 255.0).astype(jnp.float32)
  if protocol == "warped":
    return warp(pixels / 255.0, gamma)
  return pixels / 255.0  # continuous, binarized_static
