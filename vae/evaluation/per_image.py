"""The per-image values of an evaluation (per_image.npz), for paired comparisons of decoders.

    from vae.evaluation import per_image
    a, b = per_image.load("runs/bernoulli"), per_image.load("runs/gaussian_shared")
    assert (a["test_indices"] == b["test_indices"]).all()   # the same test images
    diff = a["elbo"].mean(0) - b["elbo"].mean(0)            # per image, seeds averaged

Next to each eval.json the evaluator writes ``per_image.npz``: for every per-image number the
measures return (``stats.PerImage``), an array ``[num_seeds, num_test_images]`` named by its flat
key in eval.json's per-seed results (``"elbo"``, ``"elbo/kl"``, ``"iw_log_likelihood"``,
``"common/log_likelihood"``, ``"discretized/log_likelihood"``, ``"discretized/nll"``; for the
reconstruction mean ``"intensity/<name>"``: ``"intensity/mse"``, ``"intensity/sharpness_ratio"``,
``"intensity/calibration_toward_half"``, ``"intensity/error_midtones_abs"``, ...; for the display
parameter ``"intensity/display/<name>"``; a column's is ``Column.per_image_key``), float32, NaN
where an image has no pixel of the stratum the number is defined on; and ``"test_indices"``, int64 ``[num_test_images]``: which of the 10,000 MNIST test
images column j is (sorted; ``evaluator.test_indices``). Seed s is row s, as in eval.json's
``per_seed``. eval.json's summaries are the means of these rows (NaNs left out where the number
allows empty images), over the same values in float64; eval.json records the file's sha256 under
``"per_image"``, so a reader can tell that the arrays are this evaluation's.
"""

from __future__ import annotations

import hashlib
import io
import os

import numpy as np

from vae import workdir as wd

FILE = "per_image.npz"
INDICES = "test_indices"


def stack(per_seed: list[dict], test_indices) -> dict[str, np.ndarray]:
  """The arrays of the file: each name's per-seed values stacked to [num_seeds, N] (NaN for a
  seed without it), float32, and ``test_indices``."""
  indices = np.asarray(test_indices, np.int64)
  names = sorted(set().union(*per_seed)) if per_seed else []
  if INDICES in names:
    raise ValueError(f"a measure's per-image values may not be named {INDICES!r}")
  out = {}
  for name in names:
    rows = []
    for values in per_seed:
      row = np.asarray(values.get(name, np.full(len(indices), np.nan)), np.float32)
      if row.shape != indices.shape:
        raise ValueError(
          f"per-image values {name!r} have shape {row.shape}, not one per test image "
          f"{indices.shape}"
        )
      rows.append(row)
    out[name] = np.stack(rows)
  out[INDICES] = indices
  return out


def write(out_dir: str, arrays: dict[str, np.ndarray]) -> dict:
  """``arrays`` saved as ``out_dir/per_image.npz`` (atomically); returns what eval.json records
  of it: {"file", "sha256", "shape": [num_seeds, N], "arrays": the names but test_indices}."""
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **arrays)
  payload = buffer.getvalue()
  wd.write_bytes(os.path.join(out_dir, FILE), payload)
  names = sorted(k for k in arrays if k != INDICES)
  shape = list(arrays[names[0]].shape) if names else [0, len(arrays[INDICES])]
  return {
    "file": FILE,
    "sha256": hashlib.sha256(payload).hexdigest(),
    "shape": shape,
    "arrays": names,
  }


def load(workdir: str) -> dict[str, np.ndarray]:
  """The per-image arrays of the latest evaluation of the run in ``workdir`` (its
  ``per_image.npz``, published next to ``WORKDIR/eval.json``), name -> array: every per-image
  number as [num_seeds, num_test_images] float32 and ``test_indices`` [num_test_images] int64
  (see the module docstring). ``workdir`` may also be an evaluation's folder
  (``WORKDIR/eval/epoch_XXXX``) or the .npz file itself.

  FileNotFoundError if there is none (an evaluation older than MEASURES_VERSION 5 kept no
  per-image values: evaluate again); ValueError if the eval.json beside it records another file
  (the arrays are not that evaluation's)."""
  path = workdir if workdir.endswith(".npz") else os.path.join(workdir, FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(
      f"no {FILE} at {path!r}: not evaluated, or by an evaluator older than MEASURES_VERSION 5 "
      "(which kept no per-image values); evaluate the run again"
    )
  with open(path, "rb") as f:
    payload = f.read()
  beside = os.path.join(os.path.dirname(path), "eval.json")
  if os.path.exists(beside):
    recorded = (wd.read_json(beside).get("per_image") or {}).get("sha256")
    if recorded != hashlib.sha256(payload).hexdigest():
      raise ValueError(
        f"{path!r} is not the per-image file of the eval.json beside it (another evaluation's, "
        "or that eval.json keeps none); evaluate the run again"
      )
  with np.load(io.BytesIO(payload), allow_pickle=False) as npz:
    return {name: npz[name] for name in npz.files}
