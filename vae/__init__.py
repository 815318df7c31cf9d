"""The VAE: model, objectives, data, training, checkpoints and evaluation.

``vae.load(workdir)`` restores a trained run for notebooks (see ``vae.restore``).
"""

from vae.restore import Run, load

__all__ = ["Run", "load"]
