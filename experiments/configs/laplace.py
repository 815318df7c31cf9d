"""Laplace decoder with a sigmoid-bounded mean ("MAE" and its calibrated versions); the variant
picks how the scale b is set.

    uv run python -m experiments.train --config experiments/configs/laplace.py:fixed --workdir runs/laplace_fixed

Each variant takes an estimated 2 minutes on a 2-core CPU (10 epochs, one seed, like the Gaussian
configs; not measured). Variants (``laplace.py:<variant>``, default ``shared``):

* ``fixed``     b = 1: the negative log-likelihood is the summed absolute error + 784 log 2, i.e.
                "MAE" with the KL at weight 1 (a fixed b is a beta-VAE on L1 with beta = b).
* ``shared``    one learned b (an L1 loss over a learned scale plus its log).
* ``per_pixel`` a learned b per pixel, independent of z.
* ``decoder``   b per pixel from the decoder (a second output channel).
* ``optimal``   b = batch mean absolute error, its maximum-likelihood value given the means; a
                running average evaluates.

Expected: not run as single runs yet; the study's ``cpu`` variant runs ``fixed``, ``shared`` and
``optimal`` (experiments/configs/study.py). Learned log scales are soft-clipped at -6, as the
Gaussian's.
"""

from experiments.configs import default
from likelihoods.laplace import SCALE_MODES


def get_config(variant: str = "shared"):
  """The decoder ``laplace_<variant>`` of the decoder table, variant in ``SCALE_MODES``."""
  variant = variant or "shared"
  if variant not in SCALE_MODES:
    raise ValueError(f"laplace config variant {variant!r} is not one of {SCALE_MODES}")
  return default.for_decoder(f"laplace_{variant}", mean="sigmoid")
