"""Beta decoder: alpha, beta = softplus(decoder) + 1e-3; pixels clamped to [1e-4, 1 - 1e-4].

    uv run python -m experiments.train --config experiments/configs/beta.py --workdir runs/beta

An estimated 4 minutes on a 2-core CPU (10 epochs, one seed; an epoch costs about 3 times a Bernoulli's:
log-gamma and digamma for every pixel). Expected: test ELBO 3183 nats (2.14 bits/dim), KL 30.9
(seed 0).
The CB paper finds Beta best on ELBO among B/CB/Gaussian/Beta (reference-protocols.md).
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("beta", concentration_floor=1e-3, pixel_eps=1e-4)
