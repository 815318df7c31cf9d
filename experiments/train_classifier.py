"""Train and cache the MNIST CNN classifier that ``vae.evaluation.sample_quality`` scores with.

    python -m experiments.train_classifier [--out DIR] [--epochs N] [--seed S]

``--out`` defaults to ``$MNIST_CLASSIFIER_DIR``, else ``~/.cache/decoder_vae/mnist_classifier``.
Prints the test accuracy, the wall time, and, as a reference for generated samples, the inception
score of the real test images and their Frechet distance to 10,000 real training images.
"""

import time

from absl import flags

from experiments import cli
from vae import data
from vae.evaluation import classifier, sample_quality

FLAGS = flags.FLAGS
flags.DEFINE_string("out", None, "Cache folder (default: $MNIST_CLASSIFIER_DIR or ~/.cache/...).")
flags.DEFINE_integer("epochs", classifier.DEFAULT_EPOCHS, "Training epochs.")
flags.DEFINE_integer("seed", 0, "Random seed (initialization, shuffling, augmentation).")
flags.DEFINE_string("data_dir", None, "MNIST folder (default: $MNIST_DIR or ../shared/data/mnist).")


def real_data_reference(clf: classifier.Classifier, data_dir=None, n_train: int = 10_000) -> dict:
  """IS of the real test images (pixel / 255) and their FD to the first ``n_train`` train images."""
  test = data.load_mnist("test", data_dir=data_dir)[0]
  train = data.load_mnist("train", data_dir=data_dir)[0][:n_train]
  logits, test_feats = clf.logits_and_features(test)
  mean, std = sample_quality.inception_score(logits)
  fd = sample_quality.frechet_distance(test_feats, clf.features(train))
  return {"is_mean": mean, "is_std": std, "fd": fd, "n_train": len(train)}


def main(argv):
  del argv
  t0 = time.perf_counter()
  info = classifier.train_classifier(
    FLAGS.out, epochs=FLAGS.epochs, seed=FLAGS.seed, data_dir=FLAGS.data_dir
  )
  print(
    f"saved to {info.path}\ntest accuracy {info.accuracy:.4f} (pixel/255), "
    f"{info.accuracy_dequantized:.4f} (dequantized); "
    f"wall time {time.perf_counter() - t0:.0f} s (training {info.train_seconds:.0f} s)"
  )
  ref = real_data_reference(classifier.load_classifier(info.path, min_accuracy=0.0), FLAGS.data_dir)
  print(
    f"real test images: inception score {ref['is_mean']:.3f} +- {ref['is_std']:.3f}; "
    f"Frechet distance to {ref['n_train']} train images {ref['fd']:.4f}"
  )
  if info.accuracy < classifier.MIN_ACCURACY:
    cli.fail(f"accuracy below {classifier.MIN_ACCURACY}; load_classifier will refuse it")


if __name__ == "__main__":
  cli.run(main)
