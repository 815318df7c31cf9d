"""The study: every decoder x seeds, trained, evaluated and compared in one report.

    python -m experiments.study --config experiments/configs/study.py:cpu --workdir runs/study_cpu

Re-running the same command resumes: finished runs and evaluations are reused.
"""

from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae import study

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
  "config", None, "Study config file (path[:variant]).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Directory for the runs and the report.")
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  path = study.run_study(FLAGS.config, FLAGS.workdir)
  print(f"report: {path}" if path else "interrupted; run the same command again to resume")


if __name__ == "__main__":
  cli.run(main)
