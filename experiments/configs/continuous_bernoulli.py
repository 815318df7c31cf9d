"""Continuous Bernoulli decoder (Loaiza-Ganem & Cunningham 2019) with the paper's MNIST protocol.

    uv run python -m experiments.train --config experiments/configs/continuous_bernoulli.py --workdir runs/cb

An estimated 2 minutes on a 2-core CPU (10 epochs, one seed). Expected: test ELBO 3159 nats
(2.19 bits/dim), KL 49.8 (seed 0).
The paper reports a test ELBO of 1470 nats after 100 epochs, averaged over 10 runs
(shared/docs/reference-protocols.md), but its code clips lambda to [1e-4, 1 - 1e-4], i.e.
|logit| <= 9.2, which caps a pixel's log density at log C(1e-4) = 2.2 nats. By default this
implementation does not clip: background pixels of dequantized MNIST lie in [0, 1/256), where the
unclipped CB reaches about 5 nats per pixel, hence the larger ELBO. The paper's clip:
``--config.likelihood_options.lambda_clip=1e-4`` (``study.py:paper`` and
``experiments.reproduce`` use it).
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("continuous_bernoulli")
