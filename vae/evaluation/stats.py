"""Per-image statistics of an evaluation, and the per-image values a measure hands back.

A measure returns a per-image number as ``PerImage(values)`` (one value per test image, in the
order of the evaluated test images). The evaluator (``split``) writes its summary
``{"mean", "stderr", "n"}`` (``mean_and_stderr``) into eval.json and keeps the values themselves
for ``per_image.npz`` (``vae.evaluation.per_image``), named by where the summary sits (the value
at ``result["intensity/display"]["mse"]`` is the array ``"intensity/display/mse"``) unless the
measure names it (``PerImage.name``).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Mapping

import numpy as np


def mean_and_stderr(values) -> dict:
  """{"mean", "stderr", "n"} of per-image values (stderr = std / sqrt(n)); no values: mean and
  stderr NaN, n 0."""
  v = np.asarray(values, np.float64).ravel()
  if len(v) == 0:
    return {"mean": float("nan"), "stderr": float("nan"), "n": 0}
  return {
    "mean": float(v.mean()),
    "stderr": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
    "n": int(len(v)),
  }


@dataclasses.dataclass(frozen=True, eq=False)
class PerImage:
  """One number per test image, as a measure returns it (see the module docstring).

  ``empty_is_nan``: NaN marks an image that has none of the pixels the number is defined on (a
  stratum it lacks: no grey prediction, no mid-tone); the summary leaves those images out and its
  ``n`` counts the images kept. Without it a NaN is a failure and stays visible (the mean is
  NaN). ``extra``: further fields of the summary (a note on what was measured). ``name``: the
  values' name in per_image.npz, where it is not the summary's path (``split``)."""

  values: np.ndarray
  empty_is_nan: bool = False
  extra: Mapping = dataclasses.field(default_factory=dict)
  name: str | None = None

  def __post_init__(self):
    v = np.asarray(self.values, np.float64)
    if v.ndim != 1:
      raise ValueError(f"per-image values must be one per image, [N]; got shape {v.shape}")
    object.__setattr__(self, "values", v)

  def summary(self) -> dict:
    v = self.values[~np.isnan(self.values)] if self.empty_is_nan else self.values
    return {**mean_and_stderr(v), **self.extra}


def split(result: Mapping, prefix: str = "") -> tuple[dict, dict[str, np.ndarray]]:
  """(``result`` with every ``PerImage`` replaced by its summary, {name: values}) where a value's
  name is its ``PerImage.name``, else its path of keys joined by "/" (``{"intensity/display":
  {"mse": v}}`` -> ``"intensity/display/mse"``). The first part is what eval.json holds: no
  arrays. ValueError if two values get one name."""
  summary, arrays = {}, {}
  for key, value in result.items():
    name = f"{prefix}{key}"
    if isinstance(value, PerImage):
      summary[key] = value.summary()
      inner = {value.name or name: value.values}
    elif isinstance(value, Mapping):
      summary[key], inner = split(value, name + "/")
    else:
      summary[key] = value
      continue
    twice = set(inner) & set(arrays)
    if twice:
      raise ValueError(f"per-image values named twice: {sorted(twice)}")
    arrays.update(inner)
  return summary, arrays


def summarized(result: Mapping) -> dict:
  """``result`` with every ``PerImage`` replaced by its summary (the values dropped)."""
  return split(result)[0]
