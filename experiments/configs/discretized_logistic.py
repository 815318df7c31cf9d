"""Discretized logistic mixture decoder (PixelCNN++'s likelihood), natively 8-bit.

    uv run python -m experiments.train --config experiments/configs/discretized_logistic.py --workdir runs/dlogistic

A pmf on the 256 pixel levels (bins [k/256, (k+1)/256), the dequantization's), read as the
piecewise-constant density 256 P(floor(256 x)): trained on the default dequantized protocol it is
trained on the integer images (``likelihoods/discretized_logistic.py``). Options:
``--config.likelihood_options.num_mixtures=K`` (3K decoder outputs per pixel; K = 1: 2) and
``log_scale_min`` (the soft floor of the log scale).
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("discretized_logistic")
