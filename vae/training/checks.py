"""Checks of the config fields the compiled programs' shapes depend on, before anything runs."""

from __future__ import annotations

from vae.data import PROTOCOLS

_AT_LEAST_ONE = (
  "num_seeds",
  "num_importance_samples",
  "keep_checkpoints",
  "checkpoint_every_epochs",
  "eval_every_epochs",
)
_AT_LEAST_ZERO = ("num_epochs", "image_every_epochs")


def validate(config, num_devices: int) -> None:
  """Raises ValueError naming the bad field and value, and what is allowed."""
  if config.data.protocol not in PROTOCOLS:
    raise ValueError(f"data.protocol={config.data.protocol!r} is not one of {PROTOCOLS}")
  for field in ("batch_size", "eval_batch_size"):
    value = config[field]
    if value <= 0 or value % num_devices:
      raise ValueError(
        f"{field}={value} must be a positive multiple of the {num_devices} "
        f"device(s) the batch is sharded over"
      )
  for field in _AT_LEAST_ONE:
    if config[field] < 1:
      raise ValueError(f"{field}={config[field]} must be >= 1")
  for field in _AT_LEAST_ZERO:
    if config[field] < 0:
      raise ValueError(f"{field}={config[field]} must be >= 0")
  if config.kl_weight < 0:
    raise ValueError(f"kl_weight={config.kl_weight} must be >= 0")


def steps_per_epoch(config, num_train: int) -> int:
  """Optimizer steps per epoch; a ValueError if the batch is larger than the training set."""
  steps = num_train // config.batch_size
  if steps == 0:
    raise ValueError(
      f"batch_size={config.batch_size} is larger than the {num_train} training "
      f"images; lower it or raise data.train_size"
    )
  return steps
