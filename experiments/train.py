"""Train a VAE with any decoder likelihood.

    python -m experiments.train --config experiments/configs/bernoulli.py --workdir runs/bernoulli \
        [--config.num_epochs=3 --config.likelihood=beta ...]

Re-running the same command resumes from the latest checkpoint in the workdir.
"""

import sys

from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae import training

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", None, "Config file (path[:variant]).", lock_config=True)
flags.DEFINE_string("workdir", None, "Directory for checkpoints, metrics and images.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  result = training.train_and_evaluate(FLAGS.config, FLAGS.workdir)
  if result.interrupted:
    print(
      f"interrupted ({result.interrupted}) at epoch {result.epoch}, checkpoint saved; run the "
      f"same command again to resume; workdir: {FLAGS.workdir}"
    )
    sys.exit(130 if result.interrupted == "SIGINT" else 0)
  print(f"done at epoch {result.epoch}; workdir: {FLAGS.workdir}")


if __name__ == "__main__":
  cli.run(main)
