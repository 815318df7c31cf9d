"""Tests for vae.evaluation.classifier: a tiny training run on real MNIST, saving/loading, cache checks.

The full >= 99% classifier is trained by ``python -m experiments.train_classifier``, never here.
"""

import hashlib
import json
import shutil

import flax.serialization
import jax
import numpy as np
import pytest

from vae import data
from vae.evaluation import classifier

pytestmark = pytest.mark.e2e  # trains on real MNIST

TRAIN_SIZE, TEST_SIZE = 2000, 1000


@pytest.fixture(scope="module")
def tiny(mnist_dir, tmp_path_factory):
  """(info, folder) of a classifier trained for 2 epochs on 2000 real MNIST images."""
  folder = tmp_path_factory.mktemp("clf") / "tiny"
  info = classifier.train_classifier(
    folder,
    epochs=2,
    seed=0,
    data_dir=mnist_dir,
    train_size=TRAIN_SIZE,
    test_size=TEST_SIZE,
    verbose=False,
  )
  return info, folder


@pytest.fixture(scope="module")
def mnist_test_split(mnist_dir):
  images, labels = data.load_mnist("test", data_dir=mnist_dir)
  return images[:TEST_SIZE], labels[:TEST_SIZE]


def test_tiny_run_learns_and_records(tiny):
  info, folder = tiny
  assert info.accuracy > 0.6 and info.accuracy_dequantized > 0.6  # chance: 0.1
  assert (info.epochs, info.seed, info.train_size, info.test_size) == (2, 0, TRAIN_SIZE, TEST_SIZE)
  assert info.version == classifier.VERSION and info.path == str(folder)
  recorded = json.loads((folder / classifier.INFO_FILE).read_text())
  assert recorded["accuracy"] == info.accuracy and recorded["version"] == classifier.VERSION


def test_reload_gives_the_trained_params_and_logits(tiny, mnist_test_split):
  info, folder = tiny
  clf = classifier.load_classifier(folder, min_accuracy=0.0)
  # The SHA-256 was taken of the in-memory trained params, before saving.
  blob = flax.serialization.to_bytes(jax.device_get(clf.params))
  assert hashlib.sha256(blob).hexdigest() == info.params_sha256
  images, labels = mnist_test_split
  assert clf.accuracy == info.accuracy
  assert clf.accuracy_on(images / np.float32(255), labels) == info.accuracy
  again = classifier.load_classifier(folder, min_accuracy=0.0)
  np.testing.assert_array_equal(clf.logits(images[:50]), again.logits(images[:50]))


def test_outputs_shapes_chunks_and_input_forms(tiny, mnist_test_split):
  clf = classifier.load_classifier(tiny[1], min_accuracy=0.0)
  x = mnist_test_split[0][: classifier.CHUNK + 7] / np.float32(
    255
  )  # two chunks, the last one padded
  logits, feats = clf.logits_and_features(x)
  assert logits.shape == (len(x), 10) and feats.shape == (len(x), 128)
  assert logits.dtype == np.float32 and np.all(feats >= 0)  # post-ReLU features
  np.testing.assert_allclose(clf.logits(x[-3:]), logits[-3:], rtol=1e-5, atol=1e-5)
  np.testing.assert_allclose(clf.features(x.reshape(-1, 784)), feats, rtol=1e-6)
  np.testing.assert_allclose(
    clf.logits(mnist_test_split[0][:8]), logits[:8], rtol=1e-6
  )  # uint8 -> /255
  with pytest.raises(ValueError, match=r"\[0, 1\]"):
    clf.logits(x * 255)
  with pytest.raises(ValueError, match="expected images"):
    clf.logits(x[:, :14])


def test_training_inputs_mix_continuous_and_dequantized(mnist_test_split):
  images = mnist_test_split[0][:256]
  inputs = jax.jit(classifier.training_inputs, static_argnames="max_shift")
  x = np.asarray(inputs(jax.random.PRNGKey(0), images, max_shift=0))
  continuous = np.abs(x - images / 255.0).max((1, 2)) < 1e-6
  dequantized = np.all(np.floor(x * 256) == images, axis=(1, 2))
  assert np.all(continuous | dequantized) and 0.3 < continuous.mean() < 0.7
  shifted = np.asarray(inputs(jax.random.PRNGKey(0), images))
  assert shifted.shape == images.shape and shifted.min() >= 0 and shifted.max() <= 1


def test_missing_cache_names_the_command(tmp_path, monkeypatch):
  monkeypatch.delenv(classifier.ENV_VAR, raising=False)
  with pytest.raises(classifier.ClassifierNotFoundError) as err:
    classifier.load_classifier(tmp_path / "nothing")
  assert "python -m experiments.train_classifier --out" in str(err.value)
  assert str(tmp_path / "nothing") in str(err.value)
  monkeypatch.setenv(classifier.ENV_VAR, str(tmp_path / "env"))
  assert classifier.resolve_dir() == str(tmp_path / "env")
  with pytest.raises(FileNotFoundError) as err:  # the default folder: no --out needed
    classifier.get_classifier(train_if_missing=False)
  assert str(err.value).endswith("\n  python -m experiments.train_classifier")


@pytest.mark.parametrize(
  "field,value,match",
  [
    ("accuracy", 0.5, "accuracy 0.5000 < 0.99"),
    ("accuracy_dequantized", 0.98, "accuracy 0.9800 < 0.99"),
    ("version", "mnist-cnn-v0", "version"),
    ("params_sha256", "0" * 64, "SHA-256"),
  ],
)
def test_bad_cache_is_refused(tiny, tmp_path, field, value, match):
  folder = tmp_path / "copy"
  shutil.copytree(tiny[1], folder)
  path = folder / classifier.INFO_FILE
  recorded = json.loads(path.read_text())
  recorded.update(accuracy=0.995, accuracy_dequantized=0.995)
  recorded[field] = value
  path.write_text(json.dumps(recorded))
  with pytest.raises(ValueError, match=match):
    classifier.load_classifier(folder)
  if field == "params_sha256":
    return
  recorded[field] = json.loads(tiny[0].to_json())[field] if field == "version" else 0.995
  path.write_text(json.dumps(recorded))
  assert classifier.load_classifier(folder).accuracy == 0.995  # the same folder, fixed, loads


def test_tiny_classifier_is_refused_by_default(tiny):
  with pytest.raises(ValueError, match="< 0.99"):
    classifier.load_classifier(tiny[1])


def test_params_of_another_architecture_are_refused(tiny, tmp_path):
  folder = tmp_path / "other"
  shutil.copytree(tiny[1], folder)
  params = jax.tree.map(np.asarray, classifier.load_classifier(folder, min_accuracy=0.0).params)
  params["params"]["Dense_1"]["kernel"] = params["params"]["Dense_1"]["kernel"][:64]  # hidden 64
  blob = flax.serialization.to_bytes(params)
  (folder / classifier.PARAMS_FILE).write_bytes(blob)
  recorded = json.loads((folder / classifier.INFO_FILE).read_text())
  recorded["params_sha256"] = hashlib.sha256(blob).hexdigest()
  (folder / classifier.INFO_FILE).write_text(json.dumps(recorded))
  with pytest.raises(ValueError, match="does not fit"):
    classifier.load_classifier(folder, min_accuracy=0.0)


def test_get_classifier_trains_once_when_missing(tiny, tmp_path, monkeypatch):
  calls = []

  def fake_train(folder):  # stands in for the minutes-long full training
    calls.append(folder)
    shutil.copytree(tiny[1], folder)
    return tiny[0]

  monkeypatch.setattr(classifier, "train_classifier", fake_train)
  target = tmp_path / "cache"
  first = classifier.get_classifier(target, min_accuracy=0.0)
  second = classifier.get_classifier(target, min_accuracy=0.0)
  assert calls == [str(target)] and first.accuracy == second.accuracy == tiny[0].accuracy
