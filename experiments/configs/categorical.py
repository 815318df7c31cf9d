"""256-way categorical decoder (a softmax over the pixel levels per pixel), natively 8-bit.

    uv run python -m experiments.train --config experiments/configs/categorical.py --workdir runs/categorical

A pmf on the 256 pixel levels (bins [k/256, (k+1)/256), the dequantization's), read as the
piecewise-constant density 256 P(floor(256 x)) (``likelihoods/categorical.py``). The decoder
outputs ``rank`` features per pixel, mapped to 256 logits by a learned level embedding shared over
pixels plus a learned per-pixel bias; ``--config.likelihood_options.rank=0`` outputs the 256
logits directly (a 100 M-weight last layer for the default model).
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("categorical")
