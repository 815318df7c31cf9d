"""The PyTorch example's VAE (pytorch/examples vae/main.py): 784-400-20 MLP, Bernoulli decoder,
Adam 1e-3, batch 128, pixels / 255, no dropout. Used by the speed benchmark.

    uv run python -m experiments.benchmark --config experiments/configs/pytorch_example.py

About 15 seconds on a 2-core CPU (one warm-up and 3 timed epochs). Expected: 2.0-2.2 s per epoch
(27,000-29,000 images/s) on a quiet machine, 2-3 s to compile; train loss about 113 nats after 6
epochs (experiments/README.md, "Speed").
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.model.hidden = (400,)
  c.model.dropout = 0.0
  c.data.protocol = "continuous"
  return c
