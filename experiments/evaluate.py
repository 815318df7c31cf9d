"""Evaluate a trained run (any likelihood) on the test set; writes eval.json and figures.

    python -m experiments.evaluate --workdir runs/cb [--step 10] [--eval.num_importance_samples=5000]

Restores on whatever devices are present; on a run still training, evaluates its latest complete
checkpoint. Settings: ``vae.evaluation.default_config()``; ``--eval.measures`` chooses the
measures by name (``vae.evaluation.measures``).
"""

import json

from absl import flags

from experiments import cli
from vae import evaluation

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir to evaluate.")
flags.DEFINE_integer("step", None, "Epoch of the checkpoint (default: the latest complete one).")
flags.DEFINE_bool(
  "force", False, "Re-evaluate even if this epoch was evaluated with these settings."
)
cli.define_config_dict("eval", evaluation.default_config(), "Evaluation settings.")
flags.mark_flag_as_required("workdir")


def main(argv):
  del argv
  result = evaluation.evaluate_workdir(FLAGS.workdir, FLAGS.step, FLAGS.eval, force=FLAGS.force)
  print(json.dumps(evaluation.headline(result), indent=1))


if __name__ == "__main__":
  cli.run(main)
