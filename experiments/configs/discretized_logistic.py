"""Discretized logistic mixture decoder (PixelCNN++'s likelihood), natively 8-bit.

    uv run python -m experiments.train --config experiments/configs/discretized_logistic.py --workdir runs/dlogistic

A pmf on the 256 pixel levels (bins [k/256, (k+1)/256), the dequantization's), read as the
piecewise-constant density 256 P(floor(256 x)): trained on the default dequantized protocol it is
trained on the integer images (``likelihoods/discretized_logistic.py``). Options:
``--config.likelihood_options.num_mixtures=K`` (3K decoder outputs per pixel; K = 1: 2) and
``log_scale_min`` (the soft floor of the log scale).

An estimated 7 minutes on a 2-core CPU (10 epochs of the measured 41-43 s, one seed, K = 5). Expected: no 10-epoch
figure was measured; in the ``cpu`` study (experiments/results/study_cpu/REPORT.md) this decoder
reaches an ELBO of 3598.5 ± 3.1 nats, 1.36 bits/dim, after 20 epochs.
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("discretized_logistic")
