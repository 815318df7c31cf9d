"""The axes a sweep can vary, and how its values are written (folders, report).

``AXES``: name -> ``Axis`` (the training config field it sets, and the data protocol it needs).
"""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass(frozen=True)
class Axis:
  """A config field a sweep varies."""

  field: str  # the training config's field it sets (dotted)
  label: str  # in words, for the report
  signed: bool = False  # values of both signs: "+" in the folder names
  protocol: str | None = None  # the data protocol it needs (None: any)


AXES = {
  "gamma": Axis("data.gamma", "warping gamma", signed=True, protocol="warped"),
  "kl_weight": Axis("kl_weight", "KL weight"),
}


def axis_of(config) -> Axis:
  name = config.sweep.axis
  if name not in AXES:
    raise ValueError(f"sweep.axis={name!r} is not one of {tuple(AXES)}")
  return AXES[name]


def values_of(config) -> tuple[float, ...]:
  """``sweep.axis_values`` as floats in increasing order; a ValueError for none, a repeat or a value
  that is not a finite number."""
  raw = config.sweep.axis_values
  if isinstance(raw, int | float) or not len(raw):
    raise ValueError(f"sweep.axis_values={raw!r} must be a non-empty tuple of numbers")
  values = []
  for v in raw:
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
      raise ValueError(f"sweep.axis_values: {v!r} is not a finite number")
    values.append(float(v) + 0.0)  # -0.0 -> 0.0
  repeated = sorted({v for v in values if values.count(v) > 1})
  if repeated:
    raise ValueError(f"sweep.axis_values={tuple(raw)!r} repeats {repeated}")
  return tuple(sorted(values))


def format_value(config_or_axis, value: float) -> str:
  """A value as the folders and the report write it: as short as it reads back exactly."""
  axis = config_or_axis if isinstance(config_or_axis, Axis) else axis_of(config_or_axis)
  value = float(value) + 0.0
  sign = "+" if axis.signed else ""
  text = format(value, f"{sign}g")
  if float(text) != value:  # more digits than %g keeps: all of them
    text = (sign if value >= 0 else "") + repr(value)
  return text


def point_label(config, value: float) -> str:
  """The folder of a value's runs: ``gamma=+0.25``, ``kl_weight=2``."""
  return f"{config.sweep.axis}={format_value(config, value)}"
