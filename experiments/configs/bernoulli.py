"""Bernoulli decoder (binary cross-entropy) on dequantized grey MNIST: the tutorials' choice.

    uv run python -m experiments.train --config experiments/configs/bernoulli.py --workdir runs/bernoulli

Expected (CPU, 10 epochs, seed 0): test ELBO -113.5 nats under the Bernoulli
(KL 19.2); measured 2026-11-22 on the 2-core CPU.
Note: the Bernoulli "ELBO" on grey pixels is not a bound on a density (see likelihoods/bernoulli.py);
compare decoders with ``python -m experiments.evaluate``.
"""

from experiments.configs import default


def get_config():
  return default.for_decoder("bernoulli")
