"""Bernoulli decoder (binary cross-entropy) on dequantized grey MNIST: the tutorials' choice.

    uv run python -m experiments.train --config experiments/configs/bernoulli.py --workdir runs/bernoulli

An estimated 2 minutes on a 2-core CPU (10 epochs of the measured 6 s, one seed). Expected: test ELBO -113.5
nats under the Bernoulli, KL 19.2 (seed 0; every decoder's 10-epoch figures: experiments/README.md,
"Configs").
Note: the Bernoulli "ELBO" on grey pixels is not a bound on a density (see likelihoods/bernoulli.py);
compare decoders with ``python -m experiments.evaluate``.
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("bernoulli")
