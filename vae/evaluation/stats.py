"""Per-image statistics of an evaluation."""

from __future__ import annotations

import math

import numpy as np


def mean_and_stderr(values) -> dict:
  """{"mean", "stderr", "n"} of per-image values (stderr = std / sqrt(n))."""
  v = np.asarray(values, np.float64).ravel()
  return {
    "mean": float(v.mean()),
    "stderr": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
    "n": int(len(v)),
  }
