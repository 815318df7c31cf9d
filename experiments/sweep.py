"""A sweep: the study along one axis (the warping gamma of warped MNIST, or the KL weight).

    python -m experiments.sweep --config experiments/configs/sweep.py:cpu --workdir runs/sweep_cpu

Re-running the same command resumes: finished runs and evaluations are reused. Other decoders or
values extend the sweep; other settings are refused (vae/study/sweep.py).
"""

from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae.study import sweep

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
  "config", None, "Sweep config file (path[:variant]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Directory for the runs and the report.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  path = sweep.run_sweep(FLAGS.config, FLAGS.workdir)
  print(f"report: {path}" if path else "interrupted; run the same command again to resume")


if __name__ == "__main__":
  cli.run(main)
