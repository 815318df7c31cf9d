"""Bernoulli decoder (binary cross-entropy) on dequantized grey MNIST: the tutorials' choice.

    uv run python -m experiments.train --config experiments/configs/bernoulli.py --workdir runs/bernoulli

Expected (CPU, 10 epochs, seed 0): RESULT_BERNOULLI
Note: the Bernoulli "ELBO" on grey pixels is not a bound on a density (see likelihoods/bernoulli.py);
compare decoders with ``python -m experiments.evaluate``.
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.likelihood = "bernoulli"
  return c
