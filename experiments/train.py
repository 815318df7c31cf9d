"""Train a VAE with any decoder likelihood.

    python -m experiments.train --config experiments/configs/bernoulli.py --workdir runs/bernoulli \
        [--config.num_epochs=3 --config.likelihood=beta ...]

Re-running the same command resumes from the latest checkpoint in the workdir.
"""

import sys

from absl import app, flags
from ml_collections import config_flags

import experiments
from vae import training, workdir

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (path[:variant]).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and images.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  experiments.setup()
  try:
    result = training.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  except (workdir.ConfigMismatchError, training.NonFiniteLossError, ValueError) as e:
    sys.exit(f"error: {e}")
  status = "interrupted (SIGTERM)" if result.interrupted else "done"
  print(f"{status} at epoch {result.epoch}; workdir: {FLAGS.workdir}")


if __name__ == "__main__":
  app.run(main)
