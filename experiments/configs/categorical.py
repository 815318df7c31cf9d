"""256-way categorical decoder (a softmax over the pixel levels per pixel), natively 8-bit.

    uv run python -m experiments.train --config experiments/configs/categorical.py --workdir runs/categorical

A pmf on the 256 pixel levels (bins [k/256, (k+1)/256), the dequantization's), read as the
piecewise-constant density 256 P(floor(256 x)) (``likelihoods/categorical.py``). The decoder
outputs ``rank`` features per pixel, mapped to 256 logits by a learned level embedding shared over
pixels plus a learned per-pixel bias; ``--config.likelihood_options.rank=0`` outputs the 256
logits directly (a 100 M-weight last layer for the default model).

An estimated 8-10 minutes on a 2-core CPU (10 epochs of the measured 45-58 s, one seed). Expected: no 10-epoch figure
was measured; in the ``cpu`` study (experiments/results/study_cpu/REPORT.md) this decoder reaches
an ELBO of 3660.7 nats, 1.24 bits/dim, after 20 epochs.
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("categorical")
