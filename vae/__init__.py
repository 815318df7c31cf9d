"""The VAE and everything around it, one sub-package per job.

    vae/model.py, objective.py   the model and its bounds
    vae/data/                    MNIST and the data protocols
    vae/training/                state, optimizer, compiled programs, the loop
    vae/evaluation/              loading a run, the measures, the evaluator, figures
    vae/study/                   the grid of decoders and its report
    vae/workdir.py               everything on disk; vae/batching.py, vae/images.py: helpers

``vae.load(workdir)`` restores a trained run for notebooks (``vae.evaluation.run``).
"""

from vae.evaluation.run import Run, load

__all__ = ["Run", "load"]
