"""The optimizer a config names: any optax optimizer, its schedule and gradient clipping."""

from __future__ import annotations

import inspect
from typing import Callable

import numpy as np
import optax

SCHEDULES = ("constant", "iwae")


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optax optimizer named by ``config.optimizer`` (with its schedule and clipping)."""
  opt = config.optimizer
  lr = opt.learning_rate
  if opt.schedule == "iwae":
    # Burda et al. 2016: 3^i epochs at lr * 10^(-i/7), i = 0..7 (3280 epochs in all).
    boundaries = np.cumsum([3**i for i in range(8)])[:-1] * steps_per_epoch
    lr = optax.piecewise_constant_schedule(lr, {int(b): 10 ** (-1 / 7) for b in boundaries})
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


def _params(fn: Callable) -> set[str]:
  try:
    return set(inspect.signature(fn).parameters)
  except (TypeError, ValueError):
    return set()
