"""The PyTorch example's VAE (pytorch/examples vae/main.py): 784-400-20 MLP, Bernoulli decoder,
Adam 1e-3, batch 128, pixels / 255, no dropout. Used by the speed benchmark.

    uv run python -m experiments.benchmark --config experiments/configs/pytorch_example.py

Expected on the 2-core CPU: about 2.7 s per epoch (22,000 images/s), 3.5 s to compile; train loss
about 114 nats after 4 epochs (measured 2026-11-22).
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.model.hidden = (400,)
  c.model.dropout = 0.0
  c.data.protocol = "continuous"
  return c
