"""A run's per-seed numbers that are not per test image, shaped like per-image arrays.

The matched-rate machinery (``vae.study.matched_rate``) reads per-image arrays [S, N] (seeds x test
images). Some measures exist once per seed: the learning curve's held-out squared error after the
first epoch (folk claim F6), the learned scale (F12), the sample-quality and latent summaries of
eval.json. ``load`` returns them as arrays [S, N], each seed's number repeated over the N test
images, so that they are read off the same curves, and bootstrapped the same way (their image
draw changes nothing; their seed draw is the training noise), as every per-image measure.

Names (keys of the returned dict, usable as a comparison's ``measure``):

=========================================  ======================================================
``curves/held_out_mse_epoch_1``            the held-out squared error of the decoder mean
                                           (summed over pixels) after the first epoch
``curves/held_out_mse_final``              the same after the last epoch
``curves/held_out_scale_final``            a learned scale (sigma, b) after the last epoch
``curves/held_out_scale_optimal_final``    its optimum given the decoder means (of the
                                           objective trained: units dropped, with dropout)
``samples/frechet_distance_means``         Frechet distance of the decoder means of prior draws
``samples/frechet_distance_samples``       ... of samples of p(x | z), z from the prior
``samples/inception_score_means``          inception score of the decoder means
``latents/active_units``                   active latent units
=========================================  ======================================================
"""

from __future__ import annotations

import os

import numpy as np

from vae import workdir as wd

NAMES = (
  "curves/held_out_mse_epoch_1",
  "curves/held_out_mse_final",
  "curves/held_out_scale_final",
  "curves/held_out_scale_optimal_final",
  "samples/frechet_distance_means",
  "samples/frechet_distance_samples",
  "samples/inception_score_means",
  "latents/active_units",
)

# name -> (key of an eval.json per-seed entry, field of it or None)
_EVAL = {
  "samples/frechet_distance_means": ("sample_quality/decoder_means", "frechet_distance"),
  "samples/frechet_distance_samples": ("sample_quality/decoder_samples", "frechet_distance"),
  "samples/inception_score_means": ("sample_quality/decoder_means", "inception_score"),
  "latents/active_units": ("active_units", None),
}


def held_out_rows(workdir: str) -> list[dict]:
  """The per-epoch held-out rows of a run's metrics.jsonl (validation, else test), in order."""
  rows = []
  for row in wd.read_metrics(workdir):
    split = row.get("validation") or row.get("test")
    if split:
      rows.append({"epoch": row["epoch"], **split})
  return rows


def _per_seed(row: dict, key: str) -> np.ndarray | None:
  values = (row.get("per_seed") or {}).get(key)
  return None if values is None else np.asarray(values, np.float64)


def load(workdir: str, num_images: int) -> dict[str, np.ndarray]:
  """The per-seed numbers of the run in ``workdir`` as arrays [S, num_images] (names of the
  module docstring); a number the run does not have is left out."""
  out = {}
  rows = held_out_rows(workdir)
  if rows:
    first, last = rows[0], rows[-1]
    if first["epoch"] == 1 and _per_seed(first, "mse") is not None:
      out["curves/held_out_mse_epoch_1"] = _per_seed(first, "mse")
    if _per_seed(last, "mse") is not None:
      out["curves/held_out_mse_final"] = _per_seed(last, "mse")
    if _per_seed(last, "scale") is not None:
      out["curves/held_out_scale_final"] = _per_seed(last, "scale")
    for key in ("scale_optimal_train", "scale_optimal"):  # the objective trained, if dropout
      if _per_seed(last, key) is not None:
        out["curves/held_out_scale_optimal_final"] = _per_seed(last, key)
        break
  path = os.path.join(workdir, "eval.json")
  if os.path.exists(path):
    seeds = wd.read_json(path).get("per_seed") or []
    for name, (key, field) in _EVAL.items():
      values = [s.get(key) for s in seeds]
      if field is not None:
        values = [v.get(field) if isinstance(v, dict) else None for v in values]
      if seeds and all(isinstance(v, (int, float)) for v in values):
        out[name] = np.asarray(values, np.float64)
  return {k: np.repeat(v[:, None], num_images, axis=1) for k, v in out.items()}
