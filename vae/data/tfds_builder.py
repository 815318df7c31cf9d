"""TensorFlow-free TFDS builder ``mnist_idx``: the original MNIST IDX files -> array_record.

The stock ``mnist`` builder needs TensorFlow (``tf.io.gfile`` to read, ``tf.image.encode_png`` to
store).  This one parses the IDX files with numpy, stores each image as a raw uint8 ``Tensor``
feature in ``array_record`` files (in the original order) and is read back with
``as_data_source`` (or ``tfds.data_source('mnist_idx', ...)`` once this module is imported,
which registers the name) -- no TensorFlow anywhere.

Files come from ``idx_dir`` when given (offline), else they are downloaded through the TFDS
download manager after a quick reachability check, so an offline machine fails in seconds
instead of retrying for minutes.  Either way the decompressed bytes are checksum-verified.
"""

from __future__ import annotations

import os
import socket
import threading
import urllib.parse

import numpy as np
import tensorflow_datasets as tfds

from vae.data import idx

DEFAULT_URL = "https://storage.googleapis.com/cvdf-datasets/mnist/"


def host_reachable(url: str, timeout: float = 3.0) -> bool:
  """Whether a TCP connection to ``url``'s host (or the HTTPS proxy) opens within ``timeout`` s.

  Runs in a daemon thread so that a hanging DNS lookup cannot exceed the timeout either.
  """
  proxy = os.environ.get("https_proxy") or os.environ.get("HTTPS_PROXY")
  parsed = urllib.parse.urlsplit(proxy or url)
  address = (parsed.hostname, parsed.port or (443 if parsed.scheme == "https" else 80))
  result = []

  def attempt():
    try:
      socket.create_connection(address, timeout=timeout).close()
      result.append(True)
    except OSError:
      pass

  thread = threading.Thread(target=attempt, daemon=True)
  thread.start()
  thread.join(timeout)
  return bool(result)


class MnistIdx(tfds.core.GeneratorBasedBuilder):
  """MNIST (60k train / 10k test, 28x28 uint8) built from the IDX files without TensorFlow."""

  VERSION = tfds.core.Version("1.0.0")
  RELEASE_NOTES = {"1.0.0": "Raw uint8 images, original order, array_record."}

  def __init__(self, *, idx_dir: str | None = None, url: str = DEFAULT_URL, **kwargs):
    """``idx_dir``: local folder with the 4 IDX files (skip the download); ``url``: mirror."""
    self._idx_dir, self._url = idx_dir, url
    kwargs.setdefault("file_format", "array_record")
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    info = tfds.core.DatasetInfo(
      builder=self,
      description="The MNIST database of handwritten digits, from the original IDX files.",
      features=tfds.features.FeaturesDict(
        {
          "image": tfds.features.Tensor(
            shape=(28, 28), dtype=np.uint8, encoding=tfds.features.Encoding.BYTES
          ),
          "label": tfds.features.ClassLabel(num_classes=10),
        }
      ),
      supervised_keys=("image", "label"),
      disable_shuffling=True,  # keep the original IDX order
      homepage="http://yann.lecun.com/exdb/mnist/",
    )
    # No GCS bucket holds this builder's info, and TFDS's lookup of one (for a dataset not yet
    # prepared) leaves an empty /tmp/tmp*tfds folder behind: skip it.
    info.initialize_from_bucket = lambda: None
    return info

  def _split_generators(self, dl_manager):
    names = [name for pair in idx.IDX_FILES.values() for name in pair]
    if self._idx_dir is not None:
      paths = {name: idx.find_idx_file(self._idx_dir, name) for name in names}
    else:
      if not host_reachable(self._url):
        raise idx.MnistNotFoundError(
          f"Cannot download MNIST: {self._url} is unreachable (offline?) and the TFDS "
          f"dataset is not prepared under {self.data_dir_root}. {idx.HOW_TO_PROVIDE}"
        )
      urls = {name: urllib.parse.urljoin(self._url, f"{name}.gz") for name in names}
      paths = dl_manager.download(urls)
    return {
      split: self._generate_examples({n: paths[n] for n in pair})
      for split, pair in idx.IDX_FILES.items()
    }

  def _generate_examples(self, files):
    """``files``: {IDX name: path} for one split, images first (names give the checksums)."""
    images, labels = (idx.read_idx(path, idx.SHA256[name]) for name, path in files.items())
    for index, (image, label) in enumerate(zip(images, labels)):
      yield index, {"image": image, "label": int(label)}


def load_split(
  split: str, *, idx_dir: str | None = None, tfds_data_dir: str | None = None
) -> tuple[np.ndarray, np.ndarray]:
  """Prepare ``mnist_idx`` if needed and return ``(images uint8 [N,28,28], labels uint8 [N])``."""
  builder = MnistIdx(idx_dir=idx_dir, data_dir=tfds_data_dir)
  builder.download_and_prepare()
  source = builder.as_data_source(split=split)
  examples = source.__getitems__(list(range(len(source))))
  images = np.stack([e["image"] for e in examples]).astype(np.uint8)
  labels = np.array([e["label"] for e in examples], dtype=np.uint8)
  images.flags.writeable = labels.flags.writeable = False
  return images, labels
