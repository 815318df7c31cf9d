r"""A small MNIST CNN classifier: the feature extractor of ``vae.evaluation.sample_quality``.

The continuous-Bernoulli paper scores decoder means and samples with an "inception score" from an
MNIST-trained classifier (reference-protocols.md); we use this CNN for that score and its 128-d
penultimate activations for a Frechet distance (FID with our classifier in place of Inception).

Architecture (``CNN``), inputs x in [0, 1]^{28x28} (standardized inside), 4.2 MFLOP per image:

    conv4x4/2(32)-relu -> conv4x4/2(64)-relu -> dense(128)-relu [= features] -> dense(10)

The strided convolutions are computed as patches @ kernel (im2col): XLA's CPU backend
differentiates ``lax.conv`` with respect to the kernel ~7x slower than the forward pass, and
inside a scanned epoch (a while loop) ~500x slower; a matmul has neither problem.

Training: Adam with a warmup-cosine learning-rate schedule, one ``lax.scan`` per epoch over
on-device shuffled minibatches.  Each training image is either ``pixel / 255`` or dequantized
``(pixel + u) / 256`` (a fair coin per image) and randomly shifted by up to ``MAX_SHIFT`` pixels,
so the classifier scores both input conventions of the project alike.  Nothing else is added on
purpose: noise or blur augmentation would make the score blind to the defects it should measure.
Measured (2 shared CPU cores, ~25 s per epoch): test accuracy 99.27 / 99.18 / 99.28% for seeds
0 / 1 / 2 after the default 5 epochs (99.26 / 99.23 / 99.14% after 4; 99.11% after 3).

Cache (``resolve_dir``): ``path`` argument > ``$MNIST_CLASSIFIER_DIR`` >
``~/.cache/decoder_vae/mnist_classifier``, holding ``params.msgpack`` (flax.serialization) and
``classifier.json`` (written last; accuracy, version, SHA-256 of the params, ...).
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import hashlib
import json
import os
import time
from typing import Sequence

import flax.linen as nn
import flax.serialization
import jax
import jax.numpy as jnp
import numpy as np
import optax
import tqdm

from vae import batching
from vae import data as data_lib
from vae import workdir as wd

#: Bumped whenever the architecture, training recipe or file format changes.
VERSION = "mnist-cnn-v1"
MIN_ACCURACY = 0.99
ENV_VAR = "MNIST_CLASSIFIER_DIR"
DEFAULT_DIR = os.path.join("~", ".cache", "decoder_vae", "mnist_classifier")
PARAMS_FILE = "params.msgpack"
INFO_FILE = "classifier.json"
TRAIN_COMMAND = "python -m experiments.train_classifier"

DEFAULT_EPOCHS = 5
BATCH_SIZE = 128
LEARNING_RATE = 2e-3
MAX_SHIFT = 2  # random translation of training images, in pixels per axis
CHUNK = 500  # images per compiled inference call
_PIXEL_MEAN, _PIXEL_STD = 0.1307, 0.3081  # MNIST train statistics of pixel / 255


class ClassifierNotFoundError(FileNotFoundError):
  """No trained classifier in the cache folder; the message names the command that trains one."""


# ------------------------------------------------------------------------------------- model


class Conv(nn.Module):
  """k x k convolution, stride s, 'SAME' padding (as ``nn.Conv``), computed as im2col: the k^2
  shifted, strided views of x concatenated on the channel axis, then one Dense (one matmul)."""

  features: int
  kernel: int = 4
  stride: int = 2

  @nn.compact
  def __call__(self, x):  # [B, H, W, C] -> [B, ceil(H/s), ceil(W/s), features]
    k, s = self.kernel, self.stride
    h, w = (-(-size // s) for size in x.shape[1:3])
    pads = [max((n - 1) * s + k - size, 0) for n, size in zip((h, w), x.shape[1:3])]
    xp = jnp.pad(x, [(0, 0)] + [(p // 2, p - p // 2) for p in pads] + [(0, 0)])
    patches = [
      xp[:, i : i + (h - 1) * s + 1 : s, j : j + (w - 1) * s + 1 : s]
      for i in range(k)
      for j in range(k)
    ]
    return nn.Dense(self.features)(jnp.concatenate(patches, axis=-1))


class CNN(nn.Module):
  """x [B, 28, 28] in [0, 1] -> (logits [B, 10], features [B, hidden]) (features after the ReLU)."""

  widths: Sequence[int] = (32, 64)
  kernel: int = 4
  hidden: int = 128
  num_classes: int = 10

  @nn.compact
  def __call__(self, x):
    h = ((x - _PIXEL_MEAN) / _PIXEL_STD)[..., None]
    for width in self.widths:
      h = nn.relu(Conv(width, self.kernel, stride=2)(h))
    features = nn.relu(nn.Dense(self.hidden)(h.reshape(h.shape[0], -1)))
    return nn.Dense(self.num_classes)(features), features


def init_params(seed: int = 0):
  return jax.jit(CNN().init)(jax.random.PRNGKey(seed), jnp.zeros((1, 28, 28), jnp.float32))


# ---------------------------------------------------------------------------------- training


def training_inputs(key: jax.Array, images_uint8: jax.Array, max_shift: int = MAX_SHIFT):
  """uint8 [B, 28, 28] -> float32 inputs: per image continuous or dequantized, randomly shifted."""
  k_noise, k_coin, k_shift = jax.random.split(key, 3)
  continuous = data_lib.preprocess(k_noise, images_uint8, "continuous")
  dequantized = data_lib.preprocess(k_noise, images_uint8, "dequantized")
  coin = jax.random.bernoulli(k_coin, 0.5, (images_uint8.shape[0], 1, 1))
  x = jnp.where(coin, dequantized, continuous)
  if max_shift == 0:
    return x
  s = max_shift
  padded = jnp.pad(x, ((0, 0), (s, s), (s, s)))
  offsets = jax.random.randint(k_shift, (x.shape[0], 2), 0, 2 * s + 1)
  return jax.vmap(lambda im, o: jax.lax.dynamic_slice(im, o, (28, 28)))(padded, offsets)


def make_train_epoch(tx: optax.GradientTransformation, batch_size: int):
  """Jitted ((params, opt_state, key), images uint8, labels) -> (new state, mean train loss)."""
  model = CNN()

  def loss_fn(params, x, y):
    logits, _ = model.apply(params, x)
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

  def epoch(state, images, labels):
    params, opt_state, key = state
    key, k_perm, k_steps = jax.random.split(key, 3)
    steps = images.shape[0] // batch_size
    order = jax.random.permutation(k_perm, images.shape[0])[: steps * batch_size]

    def step(carry, inputs):
      params, opt_state = carry
      idx, k = inputs
      x = training_inputs(k, images[idx])
      loss, grads = jax.value_and_grad(loss_fn)(params, x, labels[idx])
      updates, opt_state = tx.update(grads, opt_state, params)
      return (optax.apply_updates(params, updates), opt_state), loss

    (params, opt_state), losses = jax.lax.scan(
      step,
      (params, opt_state),
      (order.reshape(steps, batch_size), jax.random.split(k_steps, steps)),
    )
    return (params, opt_state, key), jnp.mean(losses)

  return jax.jit(epoch, donate_argnums=0)


@dataclasses.dataclass
class ClassifierInfo:
  """What ``classifier.json`` records about a trained classifier."""

  path: str
  version: str
  accuracy: float  # test accuracy on pixel / 255
  accuracy_dequantized: float  # test accuracy on data.dequantized_test_set(seed=0)
  epochs: int
  seed: int
  train_size: int
  test_size: int
  batch_size: int
  learning_rate: float
  train_seconds: float  # wall time of loading, compiling and training
  params_sha256: str

  def to_json(self) -> str:
    d = dataclasses.asdict(self)
    d.pop("path")
    return json.dumps(d, indent=2)


def resolve_dir(path: str | os.PathLike | None = None) -> str:
  """The cache folder: ``path``, else ``$MNIST_CLASSIFIER_DIR``, else ``DEFAULT_DIR``."""
  chosen = path if path else (os.environ.get(ENV_VAR) or DEFAULT_DIR)
  return os.path.abspath(os.path.expanduser(os.fspath(chosen)))


def train_classifier(
  workdir_or_path: str | os.PathLike | None = None,
  *,
  epochs: int = DEFAULT_EPOCHS,
  seed: int = 0,
  data_dir: str | None = None,
  batch_size: int = BATCH_SIZE,
  learning_rate: float = LEARNING_RATE,
  train_size: int | None = None,
  test_size: int | None = None,
  verbose: bool = True,
) -> ClassifierInfo:
  """Trains the CNN on MNIST train (the first ``train_size`` images), saves it, returns its info.

  The test accuracy is measured on the first ``test_size`` test images (all by default).  An
  existing classifier in the folder is overwritten (the JSON is removed first, written last).
  """
  out = resolve_dir(workdir_or_path)
  t0 = time.perf_counter()
  train_x, train_y = data_lib.load_mnist("train", data_dir=data_dir)
  test_x, test_y = data_lib.load_mnist("test", data_dir=data_dir)
  train_x, train_y = train_x[:train_size], train_y[:train_size]
  test_x, test_y = test_x[:test_size], test_y[:test_size]
  if epochs < 1:
    raise ValueError(f"epochs={epochs} must be >= 1")
  if not 0 < batch_size <= len(train_x):
    raise ValueError(f"batch_size={batch_size} must be in [1, {len(train_x)}] (training images)")
  steps = epochs * (len(train_x) // batch_size)
  schedule = optax.warmup_cosine_decay_schedule(
    0.0, learning_rate, warmup_steps=min(200, steps // 10), decay_steps=max(steps, 1)
  )
  tx = optax.adam(schedule)
  params = init_params(seed)
  state = (params, tx.init(params), jax.random.PRNGKey(seed + 1))
  images, labels = jnp.asarray(train_x), jnp.asarray(train_y, jnp.int32)
  train_epoch = make_train_epoch(tx, batch_size)
  bar = tqdm.tqdm(range(1, epochs + 1), desc="MNIST classifier", unit="epoch", disable=not verbose)
  for _ in bar:
    state, loss = train_epoch(state, images, labels)
    bar.set_postfix(train_loss=f"{float(loss):.4f}")
  params = jax.device_get(state[0])
  seconds = time.perf_counter() - t0

  clf = Classifier(params)
  accuracy = clf.accuracy_on(test_x / np.float32(255), test_y)
  accuracy_deq = clf.accuracy_on(data_lib.dequantized_test_set(test_x, seed=0), test_y)
  blob = flax.serialization.to_bytes(params)
  info = ClassifierInfo(
    path=out,
    version=VERSION,
    accuracy=accuracy,
    accuracy_dequantized=accuracy_deq,
    epochs=epochs,
    seed=seed,
    train_size=len(train_x),
    test_size=len(test_x),
    batch_size=batch_size,
    learning_rate=learning_rate,
    train_seconds=round(seconds, 1),
    params_sha256=hashlib.sha256(blob).hexdigest(),
  )
  os.makedirs(out, exist_ok=True)
  info_path = os.path.join(out, INFO_FILE)
  if os.path.exists(info_path):
    os.remove(info_path)
  wd.write_bytes(os.path.join(out, PARAMS_FILE), blob)
  wd.write_bytes(info_path, info.to_json().encode())
  return info


# ------------------------------------------------------------------------- loading, inference


@jax.jit
def _apply(params, x):
  return CNN().apply(params, x)


def _as_images(x) -> np.ndarray:
  """Floats in [0, 1] (uint8: / 255), [N, 28, 28], [N, 784] or [N, 28, 28, 1] -> f32 [N, 28, 28]."""
  x = np.asarray(x)
  if x.ndim < 2 or x.shape[1:] not in ((28, 28), (784,), (28, 28, 1)):
    raise ValueError(f"expected images [N, 28, 28], [N, 784] or [N, 28, 28, 1], got {x.shape}")
  x = x / np.float32(255) if x.dtype == np.uint8 else x.astype(np.float32)
  if not np.all((x >= 0) & (x <= 1)):
    raise ValueError("classifier inputs must lie in [0, 1] (no NaN); clip decoder samples first")
  return x.reshape(-1, 28, 28)


class Classifier:
  """A trained CNN. ``logits``/``features`` take numpy or jax images, return numpy float32."""

  def __init__(self, params, info: ClassifierInfo | None = None):
    self.params = params
    self.info = info

  @property
  def accuracy(self) -> float | None:
    """The test accuracy recorded when the classifier was trained (None if not saved yet)."""
    return self.info.accuracy if self.info else None

  def logits_and_features(self, x, progress=None) -> tuple[np.ndarray, np.ndarray]:
    """Both outputs in one pass, ``CHUNK`` images per compiled call (one compilation for any N);
    ``progress(n)`` after each chunk of n images."""
    return batching.map_batches(
      lambda i, xb: _apply(self.params, xb), _as_images(x), batch_size=CHUNK, progress=progress
    )

  def logits(self, x, progress=None) -> np.ndarray:
    return self.logits_and_features(x, progress)[0]

  def features(self, x, progress=None) -> np.ndarray:
    return self.logits_and_features(x, progress)[1]

  def accuracy_on(self, x, labels) -> float:
    return float(np.mean(self.logits(x).argmax(-1) == np.asarray(labels)))


def _train_hint(folder: str) -> str:
  out = "" if folder == resolve_dir(None) else f" --out {folder}"
  return f"Train it once (a few minutes on CPU) with:\n  {TRAIN_COMMAND}{out}"


def load_classifier(
  path: str | os.PathLike | None = None, *, min_accuracy: float = MIN_ACCURACY
) -> Classifier:
  """Loads the cached classifier (folder from ``resolve_dir(path)``).

  Raises ClassifierNotFoundError (naming the training command) if none is there, and ValueError
  if its version is not ``VERSION``, its params do not match the recorded SHA-256, or its recorded
  test accuracy (either input convention) is below ``min_accuracy``.
  """
  folder = resolve_dir(path)
  info_path, params_path = os.path.join(folder, INFO_FILE), os.path.join(folder, PARAMS_FILE)
  if not (os.path.isfile(info_path) and os.path.isfile(params_path)):
    raise ClassifierNotFoundError(f"No trained MNIST classifier in {folder}. {_train_hint(folder)}")
  with open(info_path) as f:
    d = json.load(f)
  if d.get("version") != VERSION:
    raise ValueError(
      f"classifier in {folder} has version {d.get('version')!r}, this code expects "
      f"{VERSION!r}; retrain it. {_train_hint(folder)}"
    )
  try:
    info = ClassifierInfo(path=folder, **d)
  except TypeError as e:
    raise ValueError(f"malformed {info_path}: {e}; retrain it. {_train_hint(folder)}") from e
  accuracy = min(info.accuracy, info.accuracy_dequantized)
  if accuracy < min_accuracy:
    raise ValueError(
      f"classifier in {folder} has recorded test accuracy {accuracy:.4f} < "
      f"{min_accuracy}; retrain it. {_train_hint(folder)}"
    )
  with open(params_path, "rb") as f:
    blob = f.read()
  if hashlib.sha256(blob).hexdigest() != info.params_sha256:
    raise ValueError(f"{params_path} does not match the SHA-256 in {INFO_FILE}; retrain it.")
  template = init_params()
  try:
    params = flax.serialization.from_bytes(template, blob)
  except (ValueError, KeyError, TypeError):
    params = None
  if params is None or _shapes(params) != _shapes(template):
    raise ValueError(
      f"{params_path} does not fit the CNN of {VERSION!r} (was VERSION bumped after "
      f"an architecture change?); retrain it. {_train_hint(folder)}"
    )
  return Classifier(params, info)


def _shapes(tree) -> list:
  return [
    (jax.tree_util.keystr(k), np.shape(v)) for k, v in jax.tree_util.tree_leaves_with_path(tree)
  ]


@contextlib.contextmanager
def _exclusive(lock_path: str):
  """An inter-process lock (flock on ``lock_path``): concurrent first uses train only once."""
  os.makedirs(os.path.dirname(lock_path), exist_ok=True)
  with open(lock_path, "w") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    try:
      yield
    finally:
      fcntl.flock(f, fcntl.LOCK_UN)


def get_classifier(
  path: str | os.PathLike | None = None,
  *,
  train_if_missing: bool = True,
  min_accuracy: float = MIN_ACCURACY,
) -> Classifier:
  """``load_classifier``; if nothing is cached and ``train_if_missing``, trains it first (once).

  Processes that start at the same time on an empty cache serialize on ``<folder>.lock``: the
  first trains, the others wait and load its result.
  """
  try:
    return load_classifier(path, min_accuracy=min_accuracy)
  except ClassifierNotFoundError:
    if not train_if_missing:
      raise
  folder = resolve_dir(path)
  with _exclusive(folder + ".lock"):
    try:
      return load_classifier(folder, min_accuracy=min_accuracy)
    except ClassifierNotFoundError:
      pass
    print(f"No MNIST classifier cached in {folder}; training it (minutes on CPU) ...", flush=True)
    info = train_classifier(folder)
    print(f"test accuracy {info.accuracy:.4f}; saved to {folder}", flush=True)
  return load_classifier(folder, min_accuracy=min_accuracy)
