"""Shared test setup: point MNIST_DIR at the real MNIST copy next to the repo (if unset).

Two kinds of tests: fast unit tests (no MNIST, no training) and end-to-end ones marked ``e2e``
(they read the real MNIST or train). ``pytest -m "not e2e"`` runs the first kind on a machine
without MNIST; the ``mnist_dir`` fixture refuses a test that is not marked ``e2e``.
"""

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


def pytest_collection_modifyitems(config, items):
  """A test that uses ``mnist_dir`` (directly or through a fixture) must be marked ``e2e``."""
  unmarked = [
    item.nodeid
    for item in items
    if "mnist_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("e2e") is None
  ]
  if unmarked:
    raise pytest.UsageError(f"tests that read the real MNIST must be marked e2e: {unmarked}")


@pytest.fixture(scope="session")
def mnist_dir() -> str:
  """The folder with the real MNIST IDX files; FAILS (never skips) if they are missing.

  Only for tests marked ``e2e`` (the fast unit tests must pass without MNIST).
  """
  folder = pathlib.Path(os.environ.get("MNIST_DIR", _SHARED_MNIST))
  missing = [n for n in _IDX_NAMES if not any((folder / f).is_file() for f in (n, n + ".gz"))]
  if missing:
    pytest.fail(
      f"real MNIST missing in {folder} ({', '.join(missing)}[.gz]); set MNIST_DIR "
      f"to a folder with the 4 IDX files (the repo expects ../shared/data/mnist)"
    )
  return str(folder)


# One persistent XLA compilation cache for the whole test session (and the subprocesses it starts),
# the entry points' own (``experiments.setup``: ~/.cache/decoder_vae/xla): many tests train the
# same tiny programs, and the study that CI runs first (the smoke study, the README's first
# command) has already compiled the smoke programs the study and sweep tests train again;
# compiling dominates their run time on a CPU. ``VAE_TEST_COMPILATION_CACHE`` points elsewhere.
_CACHE = pathlib.Path(
  os.environ.get(
    "VAE_TEST_COMPILATION_CACHE",
    os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.expanduser("~/.cache/decoder_vae/xla"),
  )
)
os.environ["JAX_COMPILATION_CACHE_DIR"] = str(_CACHE)
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
