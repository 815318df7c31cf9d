"""Evaluation: loading a run (``run``), what log p(x | z) means (``scores``), the estimators
(``importance``, ``discretized``, ``latents``, ``intensity``, ``sample_quality`` with its
``classifier``), the named measures built from them (``measures``), the evaluator that runs them
on a workdir (``evaluator``), its figures (``figures``) and the per-image values it keeps for
paired comparisons (``per_image``: ``per_image.load(workdir)``).
"""

from vae.evaluation.columns import Column
from vae.evaluation.evaluator import (
  MEASURES_VERSION,
  default_config,
  evaluate_workdir,
  headline,
)
from vae.evaluation.run import Run, load

__all__ = [
  "Column",
  "MEASURES_VERSION",
  "Run",
  "default_config",
  "evaluate_workdir",
  "headline",
  "load",
]
