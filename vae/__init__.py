"""The VAE and everything around it, one sub-package per job.

    vae/model.py, objective.py   the model and its bounds
    vae/data/                    MNIST and the data protocols
    vae/training/                state, optimizer, compiled programs, the loop
    vae/evaluation/              loading a run, the measures, the evaluator, figures
    vae/study/                   the grid of decoders and its report
    vae/workdir.py               everything on disk; vae/batching.py, vae/images.py: helpers

``vae.load(workdir)`` restores a trained run for notebooks (``vae.evaluation.run``).
"""

__all__ = ["Run", "load"]


def __getattr__(name):
  # Imported on first use: training (and a command that stops at a bad value) does not pay for
  # the evaluation's imports (matplotlib, the measures).
  if name in __all__:
    from vae.evaluation import run

    return getattr(run, name)
  raise AttributeError(f"module 'vae' has no attribute {name!r}")
