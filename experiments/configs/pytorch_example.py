"""The PyTorch example's VAE (pytorch/examples vae/main.py): 784-400-20 MLP, Bernoulli decoder,
Adam 1e-3, batch 128, pixels / 255, no dropout. Used by the speed benchmark.

    uv run python -m experiments.benchmark --config experiments/configs/pytorch_example.py

Expected on the 2-core CPU: RESULT_TORCH_SPEED
"""

from experiments.configs import default


def get_config():
  c = default.get_config()
  c.model.hidden = (400,)
  c.model.dropout = 0.0
  c.data.protocol = "continuous"
  return c
