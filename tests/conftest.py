"""Shared test setup: point MNIST_DIR at the real MNIST copy next to the repo (if unset)."""

import os
import pathlib

import numpy as np
import pytest

_SHARED_MNIST = pathlib.Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"
if "MNIST_DIR" not in os.environ and _SHARED_MNIST.is_dir():
  os.environ["MNIST_DIR"] = str(_SHARED_MNIST)

_IDX_NAMES = (
  "train-images-idx3-ubyte",
  "train-labels-idx1-ubyte",
  "t10k-images-idx3-ubyte",
  "t10k-labels-idx1-ubyte",
)


@pytest.fixture(scope="session")
def mnist_dir() -> str:
  """The folder with the real MNIST IDX files; FAILS (never skips) if they are missing."""
  folder = pathlib.Path(os.environ.get("MNIST_DIR", _SHARED_MNIST))
  missing = [n for n in _IDX_NAMES if not any((folder / f).is_file() for f in (n, n + ".gz"))]
  if missing:
    pytest.fail(
      f"real MNIST missing in {folder} ({', '.join(missing)}[.gz]); set MNIST_DIR "
      f"to a folder with the 4 IDX files (the repo expects ../shared/data/mnist)"
    )
  return str(folder)


# One persistent XLA compilation cache for the whole test session (and the subprocesses it starts):
# many tests train the same tiny programs, and compiling dominates their run time on a CPU.
_CACHE = pathlib.Path(
  os.environ.get(
    "VAE_TEST_COMPILATION_CACHE",
    pathlib.Path(__file__).resolve().parents[1] / ".pytest_cache" / "xla",
  )
)
os.environ.setdefault("JAX_COMPILATION_CACHE_DIR", str(_CACHE))
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS", "0")
os.environ.setdefault("JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES", "0")


@pytest.fixture(params=["float32", "float64"])
def dtype(request):
  """float32, and float64 with x64 switched on for this test only (nothing leaks)."""
  if request.param == "float64":
    import jax

    with jax.enable_x64(True):
      yield np.float64
  else:
    yield np.float32
