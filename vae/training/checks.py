"""Checks of the config fields the compiled programs' shapes depend on, before anything runs."""

from __future__ import annotations

import math

from vae.data import PROTOCOLS, SOURCES
from vae.mesh import mesh_shape
from vae.training.optimizer import DECAYING, SCHEDULES

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
  for field in _AT_LEAST_ONE:
    if config[field] < 1:
      raise ValueError(f"{field}={config[field]} must be >= 1")
  layout = config.get("mesh", "auto")
  _, data_devices = mesh_shape(layout, config.num_seeds, num_devices)
  for field in ("batch_size", "eval_batch_size"):
    value = config[field]
    if value <= 0 or value % data_devices:
      raise ValueError(
        f"{field}={value} must be a positive multiple of the {data_devices} "
        f"device(s) the batch is sharded over (the mesh's data axis; see config.mesh)"
      )
  for field in _AT_LEAST_ZERO:
    if config[field] < 0:
      raise ValueError(f"{field}={config[field]} must be >= 0")
  if not config.kl_weight >= 0 or not math.isfinite(config.kl_weight):
    raise ValueError(f"kl_weight={config.kl_weight} must be a finite number >= 0")
  kl_warmup = config.get("kl_warmup_epochs", 0.0)
  if not _finite_at_least_zero(kl_warmup):
    raise ValueError(
      f"kl_warmup_epochs={kl_warmup!r} must be a finite number >= 0 (epochs over which the KL "
      f"weight rises from 0 to kl_weight; 0: off)"
    )
  if kl_warmup > 0 and config.num_importance_samples > 1:
    raise ValueError(
      f"kl_warmup_epochs={kl_warmup!r} needs num_importance_samples=1: the importance-weighted "
      f"bound (num_importance_samples={config.num_importance_samples}) has no KL term to warm up"
    )
  lr = config.optimizer.learning_rate
  if not isinstance(lr, int | float) or not math.isfinite(lr) or lr <= 0:
    raise ValueError(
      f"optimizer.learning_rate={lr!r} must be a finite number > 0 (gradient ascent or a "
      f"frozen model is never what a run wants)"
    )
  _check_warmup(config)
  if config.optimizer.clip_value < 0:
    raise ValueError(f"optimizer.clip_value={config.optimizer.clip_value} must be >= 0 (0: off)")
  m = config.model
  if m.latent_dim < 1:
    raise ValueError(f"model.latent_dim={m.latent_dim} must be >= 1")
  if any(w < 1 for w in m.hidden):
    raise ValueError(f"model.hidden={tuple(m.hidden)} must hold widths >= 1")
  d = config.data
  if d.source not in SOURCES:
    raise ValueError(f"data.source={d.source!r} is not one of {SOURCES}")
  if not -0.5 <= d.gamma <= 0.5:
    raise ValueError(f"data.gamma={d.gamma} must be in [-0.5, 0.5] (the warping of 'warped')")
  for field in ("train_size", "test_size"):
    if d[field] < 0:
      raise ValueError(f"data.{field}={d[field]} must be >= 0 (0: all)")
  size = d.get("validation_size", 0)
  if not isinstance(size, int) or isinstance(size, bool) or not 0 <= size < 60000:
    raise ValueError(
      f"data.validation_size={size!r} must be a whole number in [0, 60000) (0: none)"
    )


def _finite_at_least_zero(value) -> bool:
  return (
    isinstance(value, int | float)
    and not isinstance(value, bool)
    and math.isfinite(value)
    and value >= 0
  )


def _check_warmup(config) -> None:
  """``optimizer.warmup_epochs``: finite, >= 0, used only by a decaying schedule (which must
  have epochs left after it to decay in)."""
  opt = config.optimizer
  if opt.schedule not in SCHEDULES:
    raise ValueError(f"optimizer.schedule={opt.schedule!r} is not one of {SCHEDULES}")
  warmup = opt.get("warmup_epochs", 0.0)
  if not _finite_at_least_zero(warmup):
    raise ValueError(
      f"optimizer.warmup_epochs={warmup!r} must be a finite number >= 0 (epochs of linear "
      f"learning-rate warm-up; 0: none)"
    )
  if opt.schedule in DECAYING and not warmup < config.num_epochs:
    raise ValueError(
      f"optimizer.warmup_epochs={warmup!r} must be less than num_epochs={config.num_epochs}: "
      f"schedule {opt.schedule!r} decays to 0 at the end of training, after the warm-up"
    )
  if opt.schedule not in DECAYING and warmup != 0:
    raise ValueError(
      f"optimizer.warmup_epochs={warmup!r} must be 0 with schedule {opt.schedule!r}: only the "
      f"schedules {DECAYING} warm up"
    )


def steps_per_epoch(config, num_train: int) -> int:
  """Optimizer steps per epoch; a ValueError if the batch is larger than the training set."""
  steps = num_train // config.batch_size
  if steps == 0:
    raise ValueError(
      f"batch_size={config.batch_size} is larger than the {num_train} training "
      f"images; lower it or raise data.train_size"
    )
  return steps
