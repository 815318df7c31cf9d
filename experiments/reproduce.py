"""Reproduce a paper's published numbers: run its protocol, then write REPRODUCTION.md.

    python -m experiments.reproduce --config experiments/configs/reproduce.py:cb_paper \
        --workdir runs/reproduce_cb [--config.study.train.num_seeds=2] \
        [--config.study.decoders='("bernoulli","continuous_bernoulli")']

Runs (or resumes) the anchor's study in WORKDIR (its REPORT.md included), then compares each
published number with ours under the tolerance fixed in the config. Anchors:
``experiments/configs/reproduce.py``.

With ``--from_files`` nothing is trained or evaluated: REPRODUCTION.md is written anew from the
evaluations already in WORKDIR (``runs/<decoder>/eval.json``), e.g. a committed results folder
whose checkpoints are gone, after a row was added to the anchor or one decoder's runs were
replaced by a newer run of the same protocol.
"""

import sys

from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae import study
from vae.study import report, reproduction

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file(
  "config", None, "Anchor config (experiments/configs/reproduce.py:<anchor>).", lock_config=True
)
flags.DEFINE_string("workdir", None, "Directory for the study's runs, REPORT.md, REPRODUCTION.md.")
flags.DEFINE_bool(
  "from_files",
  False,
  "Train and evaluate nothing: write REPRODUCTION.md from the runs' eval.json already in WORKDIR.",
)
flags.mark_flags_as_required(["config", "workdir"])


def main(argv):
  del argv
  config = FLAGS.config
  if FLAGS.from_files:
    results = reproduction.results_from_files(FLAGS.workdir, config)
  else:
    results = study.run_grid(config.study, FLAGS.workdir)
    if results is None:
      print("interrupted; run the same command again to resume")
      return
    report.write_report(FLAGS.workdir, config.study, results)
  command = "python -m experiments.reproduce " + " ".join(sys.argv[1:])
  path = reproduction.write(FLAGS.workdir, config, results, command)
  with open(path) as f:
    print(f.read())


if __name__ == "__main__":
  cli.run(main)
