"""The optimizer a config names: any optax optimizer, its schedule and gradient clipping."""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import optax

# Schedules that warm up over ``optimizer.warmup_epochs`` and then decay to 0 at the end of
# training; the others keep their learning rates and take no warm-up.
DECAYING = ("warmup_cosine", "linear")  # (vae.workdir.DECAYING_SCHEDULES: the same)
SCHEDULES = ("constant", "iwae", *DECAYING)


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optax optimizer named by ``config.optimizer`` (with its schedule and clipping)."""
  opt = config.optimizer
  lr = opt.learning_rate
  if opt.schedule == "iwae":
    # Burda et al. 2016: 3^i epochs at lr * 10^(-i/7), i = 0..7 (3280 epochs in all).
    boundaries = np.cumsum([3**i for i in range(8)])[:-1] * steps_per_epoch
    lr = optax.piecewise_constant_schedule(lr, {int(b): 10 ** (-1 / 7) for b in boundaries})
  elif opt.schedule in DECAYING:
    lr = decaying_schedule(config, steps_per_epoch)
  elif opt.schedule != "constant":
    raise ValueError(f"optimizer.schedule={opt.schedule!r} is not one of {SCHEDULES}")
  factory = getattr(optax, opt.name, None)
  if factory is None or not callable(factory) or "learning_rate" not in _params(factory):
    raise ValueError(
      f"optimizer.name={opt.name!r} is not an optax optimizer taking learning_rate "
      f"(e.g. 'adam', 'adamw', 'sgd', 'rmsprop')"
    )
  kwargs = {k: opt[k] for k in ("b1", "b2", "eps") if k in _params(factory)}
  tx = factory(learning_rate=lr, **kwargs)
  if opt.clip_value > 0:
    tx = optax.chain(optax.clip(opt.clip_value), tx)
  return tx


def decaying_schedule(config, steps_per_epoch: int) -> optax.Schedule:
  """The learning rate of a ``DECAYING`` schedule: linear from 0 to ``learning_rate`` over
  ``round(warmup_epochs * steps_per_epoch)`` steps, then down (half a cosine, or a line) to
  exactly 0 at step ``num_epochs * steps_per_epoch``: the run's end point is fixed by its budget.

  Step ``i`` is the i-th update (0-based), so the last update of the run is taken at a small
  positive rate and the schedule reaches 0 where training stops."""
  opt = config.optimizer
  lr, total = opt.learning_rate, config.num_epochs * steps_per_epoch
  warmup = round(opt.get("warmup_epochs", 0.0) * steps_per_epoch)
  if not warmup < total:
    raise ValueError(
      f"optimizer.warmup_epochs={opt.get('warmup_epochs', 0.0)!r} is {warmup} of the run's "
      f"{total} steps (num_epochs={config.num_epochs} x {steps_per_epoch} steps per epoch): "
      f"schedule {opt.schedule!r} needs the warm-up to end before the decay to 0 at the end"
    )
  if opt.schedule == "warmup_cosine":
    return optax.warmup_cosine_decay_schedule(0.0, lr, warmup, total, end_value=0.0)
  decay = optax.linear_schedule(lr, 0.0, total - warmup)
  if warmup == 0:
    return decay
  return optax.join_schedules([optax.linear_schedule(0.0, lr, warmup), decay], [warmup])


def _params(fn: Callable) -> set[str]:
  try:
    return set(inspect.signature(fn).parameters)
  except (TypeError, ValueError):
    return set()
