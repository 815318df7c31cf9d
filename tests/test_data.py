"""Tests for vae.data (MNIST loading, preprocessing) and the TF-free TFDS builder.

The preprocessing tests run on synthetic MNIST-like images; the tests that read the real IDX
files (or build the TFDS dataset from them) are end-to-end (``e2e``).
"""

import functools
import gzip
import hashlib
import http.server
import pathlib
import socket
import sys
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae import data
from vae.data import idx

N = 256  # images used by the preprocessing tests


@pytest.fixture(scope="module")
def images_u8():
  """Synthetic MNIST-like uint8 images: mostly exact 0, some 255, grey values in between."""
  rng = np.random.default_rng(0)
  kind = rng.choice(3, size=(N, 28, 28), p=[0.8, 0.1, 0.1])
  grey = rng.integers(1, 255, size=(N, 28, 28))
  return np.where(kind == 0, 0, np.where(kind == 1, 255, grey)).astype(np.uint8)


def _copy_test_split(src: str, dst: pathlib.Path, gzipped: bool = True) -> pathlib.Path:
  """Copy the t10k files to ``dst`` (decompressed if ``gzipped`` is False)."""
  dst.mkdir(exist_ok=True)
  for name in data.IDX_FILES["test"]:
    raw = gzip.decompress(data.find_idx_file(src, name).read_bytes())
    if gzipped:
      (dst / f"{name}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    else:
      (dst / name).write_bytes(raw)
  return dst


# --------------------------------------------------------------------------------- IDX reader


@pytest.mark.e2e
@pytest.mark.parametrize("split,n", [("train", 60000), ("test", 10000)])
def test_idx_reader_real_files(mnist_dir, split, n):
  images, labels = data.load_mnist(split, source="idx", data_dir=mnist_dir)
  assert images.shape == (n, 28, 28) and images.dtype == np.uint8
  assert labels.shape == (n,) and labels.dtype == np.uint8
  assert set(np.unique(labels)) == set(range(10))
  assert images.max() == 255 and images.min() == 0
  assert data.load_mnist(split, source="idx", data_dir=mnist_dir)[0] is images  # cached
  assert data.load_mnist(split)[0] is images  # "auto" resolves $MNIST_DIR (conftest) -> idx


@pytest.mark.e2e
def test_checksums_are_checked(mnist_dir):
  for name, expected in data.SHA256.items():
    raw = gzip.decompress(data.find_idx_file(mnist_dir, name).read_bytes())
    assert hashlib.sha256(raw).hexdigest() == expected
  with pytest.raises(ValueError, match="t10k-labels-idx1-ubyte"):
    data.read_idx(data.find_idx_file(mnist_dir, "t10k-labels-idx1-ubyte"), "0" * 64)


@pytest.mark.e2e
def test_uncompressed_files_accepted(mnist_dir, tmp_path):
  folder = _copy_test_split(mnist_dir, tmp_path / "raw", gzipped=False)
  images, labels = data.load_mnist("test", source="idx", data_dir=str(folder))
  ref_images, ref_labels = data.load_mnist("test", source="idx", data_dir=mnist_dir)
  np.testing.assert_array_equal(images, ref_images)
  np.testing.assert_array_equal(labels, ref_labels)


@pytest.mark.e2e
def test_corrupted_file_raises(mnist_dir, tmp_path):
  folder = _copy_test_split(mnist_dir, tmp_path / "bad")
  path = folder / "t10k-labels-idx1-ubyte.gz"
  raw = bytearray(gzip.decompress(path.read_bytes()))
  raw[100] = (raw[100] + 1) % 10  # change one label
  path.write_bytes(gzip.compress(bytes(raw), compresslevel=1))
  actual = hashlib.sha256(raw).hexdigest()
  expected = data.SHA256["t10k-labels-idx1-ubyte"]
  with pytest.raises(ValueError, match=f"t10k-labels-idx1-ubyte.*{expected}.*{actual}"):
    data.load_mnist("test", source="idx", data_dir=str(folder))


# ------------------------------------------------------------------------ resolving / failing


def test_resolve_order(monkeypatch, tmp_path):
  default = tmp_path / "default"
  default.mkdir()
  monkeypatch.setattr(idx, "_DEFAULT_DIR", default)
  monkeypatch.setenv("MNIST_DIR", "/from/env")
  assert data.resolve_mnist_dir("/explicit") == "/explicit"
  assert data.resolve_mnist_dir() == "/from/env"
  monkeypatch.delenv("MNIST_DIR", raising=False)
  assert data.resolve_mnist_dir() == str(default)
  monkeypatch.setattr(idx, "_DEFAULT_DIR", tmp_path / "absent")
  assert data.resolve_mnist_dir() is None


def test_missing_dir_fails_fast(monkeypatch, tmp_path):
  start = time.monotonic()
  with pytest.raises(FileNotFoundError, match="not found in .*nowhere.*MNIST_DIR"):
    data.load_mnist("train", source="idx", data_dir=str(tmp_path / "nowhere"))
  monkeypatch.delenv("MNIST_DIR", raising=False)
  monkeypatch.setattr(idx, "_DEFAULT_DIR", tmp_path / "absent")
  with pytest.raises(data.MnistNotFoundError, match="MNIST_DIR"):
    data.load_mnist("train", source="idx")
  assert time.monotonic() - start < 1.0


@pytest.mark.parametrize("source", ["tfds", "auto"])
def test_offline_tfds_fails_fast(monkeypatch, tmp_path, source):
  from vae.data import tfds_builder  # import TFDS before timing

  hosts = []

  def no_network(address, *args, **kwargs):
    hosts.append(address[0])
    raise OSError("network disabled in tests")

  monkeypatch.setattr(socket, "create_connection", no_network)
  monkeypatch.delenv("MNIST_DIR", raising=False)
  monkeypatch.setattr(idx, "_DEFAULT_DIR", tmp_path / "absent")
  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path / "tfds"))
  start = time.monotonic()
  with pytest.raises(data.MnistNotFoundError, match="unreachable.*MNIST_DIR.*internet"):
    data.load_mnist("train", source=source)
  assert time.monotonic() - start < 5.0
  assert hosts == [tfds_builder.DEFAULT_URL.split("/")[2]]


# --------------------------------------------------------------------------------- preprocess


@pytest.mark.parametrize("protocol", data.PROTOCOLS)
def test_preprocess_range_dtype_determinism_jit(images_u8, protocol):
  images = jnp.asarray(data.prepare_images(images_u8, protocol))
  fn = jax.jit(data.preprocess, static_argnames=("protocol", "gamma"))
  key = jax.random.key(0)
  fn(key, images, protocol)  # compile, then check that no host transfer happens
  with jax.transfer_guard("disallow"):
    x = fn(key, images, protocol)
  assert x.shape == images.shape and x.dtype == jnp.float32
  assert float(x.min()) >= 0.0 and float(x.max()) <= 1.0
  np.testing.assert_array_equal(x, fn(jax.random.key(0), images, protocol))
  np.testing.assert_array_equal(x, data.preprocess(jax.random.key(0), images, protocol))
  other = fn(jax.random.key(1), images, protocol)
  assert (protocol in ("dequantized", "binarized_dynamic")) == bool(jnp.any(x != other))


def test_dequantized_values(images_u8):
  x = np.asarray(data.preprocess(jax.random.key(3), images_u8, "dequantized"))
  np.testing.assert_array_equal(np.floor(256 * x), images_u8)
  assert abs((256 * x - images_u8).mean() - 0.5) < 0.01  # u ~ U[0, 1)


def test_binarized_dynamic_is_bernoulli(images_u8):
  x = np.asarray(data.preprocess(jax.random.key(0), images_u8, "binarized_dynamic"))
  assert set(np.unique(x)) == {0.0, 1.0}
  assert np.all(x[images_u8 == 0] == 0) and np.all(x[images_u8 == 255] == 1)
  assert abs(x.mean() - images_u8.mean() / 255) < 0.005


def test_binarized_static_fixed(images_u8):
  prepared = data.prepare_images(images_u8, "binarized_static", seed=0)
  assert prepared.dtype == np.uint8 and set(np.unique(prepared)) == {0, 255}
  again = functools.partial(data.prepare_images, images_u8, "binarized_static")
  np.testing.assert_array_equal(prepared, again(seed=0))
  assert np.any(prepared != again(seed=1))
  assert abs(prepared.mean() - images_u8.mean()) < 0.005 * 255
  x = np.asarray(data.preprocess(jax.random.key(0), prepared, "binarized_static"))
  np.testing.assert_array_equal(x, prepared / 255)  # exactly {0., 1.}
  as_float = data.preprocess(jax.random.key(1), jnp.asarray(x), "binarized_static")
  np.testing.assert_array_equal(as_float, x)
  for protocol in set(data.PROTOCOLS) - {"binarized_static"}:
    assert data.prepare_images(images_u8, protocol) is images_u8


@pytest.mark.parametrize("gamma", [-0.5, -0.25, 0.0, 0.25, 0.5])
def test_warped_formula(images_u8, gamma):
  x = np.asarray(data.preprocess(jax.random.key(0), images_u8, "warped", gamma=gamma))
  p = images_u8 / 255.0
  if gamma == -0.5:
    expected = (p >= 0.5).astype(float)
  elif gamma < 0:
    expected = np.clip((p + gamma) / (1 + 2 * gamma), 0, 1)
  else:
    expected = gamma + (1 - 2 * gamma) * p
  np.testing.assert_allclose(x, expected, atol=1e-6)


def test_dequantized_test_set(images_u8):
  a = data.dequantized_test_set(images_u8)
  assert a.dtype == np.float32 and a.shape == images_u8.shape
  np.testing.assert_array_equal(a, data.dequantized_test_set(images_u8, seed=0))
  assert np.any(a != data.dequantized_test_set(images_u8, seed=1))
  np.testing.assert_array_equal(np.floor(256 * a), images_u8)


def test_bad_inputs(images_u8):
  key = jax.random.key(0)
  with pytest.raises(ValueError, match="'valid'.*'train', 'test'"):
    data.load_mnist("valid")
  with pytest.raises(ValueError, match="'web'.*'auto', 'idx', 'tfds'"):
    data.load_mnist("train", source="web")
  with pytest.raises(ValueError, match="'noisy'.*" + ".*".join(data.PROTOCOLS)):
    data.preprocess(key, images_u8, "noisy")
  with pytest.raises(ValueError, match="'noisy'"):
    data.prepare_images(images_u8, "noisy")
  with pytest.raises(ValueError, match="float32"):
    data.prepare_images(images_u8.astype(np.float32), "continuous")
  for gamma in (-0.6, 0.75):
    with pytest.raises(ValueError, match=f"gamma={gamma}"):
      data.preprocess(key, images_u8, "warped", gamma=gamma)


# ------------------------------------------------------------------------------- TFDS builder


@pytest.mark.e2e
def test_tfds_roundtrip_from_local_files(mnist_dir, monkeypatch, tmp_path):
  import tensorflow_datasets as tfds

  monkeypatch.setenv("TFDS_DATA_DIR", str(tmp_path))
  images, labels = data.load_mnist("test", source="tfds", data_dir=mnist_dir)
  ref_images, ref_labels = data.load_mnist("test", source="idx", data_dir=mnist_dir)
  np.testing.assert_array_equal(images, ref_images)
  np.testing.assert_array_equal(labels, ref_labels)
  source = tfds.data_source("mnist_idx", split="train", data_dir=tmp_path, download=False)
  assert len(source) == 60000 and int(source[7]["label"]) == data.load_mnist("train")[1][7]
  assert "tensorflow" not in sys.modules


@pytest.mark.e2e
def test_tfds_download_path(mnist_dir, tmp_path):
  """The dl_manager download branch, served from a local HTTP server (no internet needed)."""
  from vae.data import tfds_builder

  handler = functools.partial(_QuietHandler, directory=mnist_dir)
  with http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler) as server:
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    tfds_builder.MnistIdx(url=url, data_dir=str(tmp_path)).download_and_prepare()
    server.shutdown()
  images, labels = tfds_builder.load_split("test", tfds_data_dir=str(tmp_path))
  np.testing.assert_array_equal(images, data.load_mnist("test", source="idx")[0])
  np.testing.assert_array_equal(labels, data.load_mnist("test", source="idx")[1])


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
  def log_message(self, *args):
    pass


# --------------------------------------------------------------------------- validation split


def test_validation_indices_are_seeded_sorted_and_of_the_right_size():
  a = data.validation_indices(60000, 5000, 0)
  assert len(a) == 5000 and np.all(np.diff(a) > 0)
  np.testing.assert_array_equal(a, data.validation_indices(60000, 5000, 0))
  assert not np.array_equal(a, data.validation_indices(60000, 5000, 1))
  assert not np.array_equal(a, np.arange(5000))  # a random subset, not the first images
  assert len(data.validation_indices(60000, 0, 0)) == 0


@pytest.mark.e2e
def test_the_validation_images_are_held_out_of_training(mnist_dir):
  from tests.helpers import tiny_config

  c = tiny_config()
  c.data.protocol, c.data.train_size, c.data.validation_size = "continuous", 0, 1000
  train = data.training_images(c)
  held = data.validation_images(c)
  assert held.shape == (1000, 28, 28) and train.shape == (59000, 28, 28)
  everything, _ = data.split(c, "train")
  index = data.validation_indices(60000, 1000, 0)
  np.testing.assert_array_equal(held, everything[index])
  keep = np.setdiff1d(np.arange(60000), index)
  np.testing.assert_array_equal(train, everything[keep])  # prepared as uint8 unchanged
  c.data.train_size = 500
  np.testing.assert_array_equal(data.training_images(c), everything[keep[:500]])
  c.data.train_size = 59001
  with pytest.raises(ValueError, match="data.train_size=59001 must be in \\[0, 59000\\]"):
    data.training_images(c)
  c.data.validation_size = 0
  assert data.validation_images(c) is None


@pytest.mark.e2e
def test_a_run_with_a_validation_split_logs_its_curve_on_it(mnist_dir, tmp_path):
  """The per-epoch rows hold "validation" (the held-out training images), never "test": the
  test set is left to the final evaluation."""
  from tests.helpers import tiny_config
  from vae import training
  from vae import workdir as wd

  c = tiny_config()
  c.data.validation_size = 100
  training.train_and_evaluate(c, str(tmp_path))
  rows = wd.read_metrics(str(tmp_path))
  assert all("validation" in r and "test" not in r for r in rows)
  assert wd.held_out_rows(rows)[-1]["epoch"] == c.num_epochs
  c.data.validation_size = -1
  with pytest.raises(ValueError, match="data.validation_size=-1 must be a whole number"):
    training.train_and_evaluate(c, str(tmp_path / "bad"))
