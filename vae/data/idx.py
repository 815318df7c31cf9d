"""The original MNIST IDX files: where they are, their published checksums, and the reader."""

from __future__ import annotations

import gzip
import hashlib
import os
import pathlib
import zlib

import numpy as np

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
_DEFAULT_DIR = pathlib.Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist"

HOW_TO_PROVIDE = (
  "Provide MNIST by setting the MNIST_DIR environment variable (or config.data_dir) to a folder "
  "holding the 4 original IDX files (train-images-idx3-ubyte, train-labels-idx1-ubyte, "
  "t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte; gzipped '.gz' or not), or run on a machine "
  "with internet access so that TFDS can download them."
)


class MnistNotFoundError(FileNotFoundError):
  """MNIST is not available: no IDX files found and no way to download them."""


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
    try:
      raw = gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as e:
      raise ValueError(
        f"MNIST file {os.fspath(path)!r} is truncated or corrupted ({e}); replace it with the "
        f"original (checksums: vae.data.idx.SHA256)"
      ) from None
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
