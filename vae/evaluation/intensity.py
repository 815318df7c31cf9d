"""The seeds' question: how reconstructions depart from the data, by intensity, and how blurred.

``intensity_report(x, recon)``: reconstruction error against true intensity, histograms of the
intensities, the mean signed shift toward 0.5 (> 0: pulled toward grey), the sharpness ratio of
image-gradient energies (< 1: blurrier than the data), the calibration bias toward 0.5 binned by
the prediction (the folk claim F3, ``calibration``) and the error by true-intensity stratum
(near-binary pixels against mid-tones: the folk claim F5, ``error_strata``).

Why two "toward 0.5" numbers. ``shift_toward_half`` bins by the TRUE value x: 91% of MNIST pixels
lie within 0.1 of 0 or 1, where any error at all points toward 0.5, so every decoder scores > 0,
a perfectly calibrated predictor too (regression to the mean). ``calibration_toward_half`` bins by
the PREDICTION r: it is zero for a calibrated predictor (E[x | r] = r) whatever the data, and > 0
only if the truth lies further from 0.5 than what is predicted, i.e. the decoder pulls toward 0.5.
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from vae.evaluation.stats import PerImage, summarized

# Pixels within 0.1 of 0 or 1 count as near-binary (91% of MNIST's dequantized test pixels), the
# rest as grey: the same 0.1 for grey predictions (calibration) and for mid-tone truths (strata).
NEAR_BINARY = 0.1


def gradient_energy(images):
  """Per image: mean squared finite difference along rows and columns."""
  images = jnp.asarray(images, jnp.float32)
  dx = jnp.diff(images, axis=-1)
  dy = jnp.diff(images, axis=-2)
  return jnp.mean(dx**2, (-2, -1)) + jnp.mean(dy**2, (-2, -1))


def _masked_mean(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
  """Per image ([N, 28, 28] -> [N]): the mean of ``values`` over the pixels in ``mask``; NaN for
  an image with none."""
  count = mask.sum((-2, -1))
  total = np.where(mask, values, 0.0).sum((-2, -1))
  with np.errstate(invalid="ignore", divide="ignore"):
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def calibration(x, recon) -> dict[str, PerImage]:
  """The bias toward 0.5 of predictions ``recon`` (r) of ``x``, conditioned on the prediction.

  Per pixel t = sign(r - 0.5) (x - r): > 0 when the truth lies further from 0.5 than the
  prediction, on the prediction's side (the prediction is pulled toward 0.5); a pixel with r
  exactly 0.5 has sign 0. Its expectation is sum over bins of r of P(bin) sign (E[x | r] - r):
  zero for a calibrated predictor (E[x | r] = r) whatever the data. Per image:

  * ``calibration_toward_half``: the mean of t over all pixels;
  * ``calibration_toward_half_grey``: the mean of t over the pixels predicted grey,
    0.1 < r < 0.9 (where a pull toward 0.5 is not hidden by the many confident pixels); NaN for
    an image with no grey prediction, which its summary leaves out (its ``n`` counts the rest).
  """
  x = np.asarray(x, np.float64)
  r = np.asarray(recon, np.float64)
  t = np.sign(r - 0.5) * (x - r)
  grey = (r > NEAR_BINARY) & (r < 1 - NEAR_BINARY)
  return {
    "calibration_toward_half": PerImage(t.mean((-2, -1))),
    "calibration_toward_half_grey": PerImage(_masked_mean(t, grey), empty_is_nan=True),
  }


def reliability(x, recon, bins: int = 10) -> dict:
  """The reliability table of predictions ``recon`` (r) of ``x``, over all pixels of all images:
  per bin of r (``bins`` equal bins of [0, 1]; r outside [0, 1] counts in the end bins) the
  pixel count, the mean prediction and the mean truth (null where a bin is empty). A calibrated
  predictor has mean truth = mean prediction in every bin; a pull toward 0.5 shows as the truth
  lying further from 0.5 than the prediction (below it in the low bins, above in the high)."""
  x = np.asarray(x, np.float64).ravel()
  r = np.asarray(recon, np.float64).ravel()
  edges = np.linspace(0, 1, bins + 1)
  which = np.clip(np.digitize(r, edges) - 1, 0, bins - 1)
  count = np.bincount(which, minlength=bins)
  mean = lambda v: [
    float(s / c) if c else None for s, c in zip(np.bincount(which, v, bins), count)
  ]  # fmt: skip
  return {
    "bin_edges": edges.tolist(),
    "count": count.tolist(),
    "mean_prediction": mean(r),
    "mean_data": mean(x),
  }


def error_strata(x, recon) -> dict[str, PerImage]:
  """Reconstruction error by the TRUE intensity (what the folk claim F5 asks: does a decoder care
  less about mid-tones?). Per image, the mean absolute (``_abs``) and squared (``_sq``) error
  of ``recon`` over its near-binary pixels, x < 0.1 or x > 0.9 (``error_extremes_*``), and over
  its mid-tone pixels, 0.1 <= x <= 0.9 (``error_midtones_*``); NaN for an image without pixels
  of the stratum (binarized data has no mid-tones), which its summary leaves out."""
  x = np.asarray(x, np.float64)
  err = np.asarray(recon, np.float64) - x
  mid = (x >= NEAR_BINARY) & (x <= 1 - NEAR_BINARY)
  out = {}
  for stratum, mask in (("extremes", ~mid), ("midtones", mid)):
    for kind, e in (("abs", np.abs(err)), ("sq", err**2)):
      out[f"error_{stratum}_{kind}"] = PerImage(_masked_mean(e, mask), empty_is_nan=True)
  return out


def intensity_values(
  x, recon, *, error_bins: int = 10, hist_bins: int = 32, reliability_bins: int = 10
) -> dict:
  """``intensity_report`` with its per-image numbers as ``PerImage`` values (for the evaluator,
  which keeps them per image: ``stats.split``)."""
  x = np.asarray(x, np.float64)
  r = np.asarray(recon, np.float64)
  err = r - x
  edges = np.linspace(0, 1, error_bins + 1)
  which = np.clip(np.digitize(x.ravel(), edges) - 1, 0, error_bins - 1)
  count = np.bincount(which, minlength=error_bins)
  safe = np.maximum(count, 1)
  by_bin = {
    "bin_edges": edges.tolist(),
    "count": count.tolist(),
    "mean_abs_error": (np.bincount(which, np.abs(err).ravel(), error_bins) / safe).tolist(),
    "mean_signed_error": (np.bincount(which, err.ravel(), error_bins) / safe).tolist(),
  }
  hist_edges = np.linspace(0, 1, hist_bins + 1)
  hist = {
    "bin_edges": hist_edges.tolist(),
    "data": np.histogram(np.clip(x, 0, 1), hist_edges, density=True)[0].tolist(),
    "reconstruction": np.histogram(np.clip(r, 0, 1), hist_edges, density=True)[0].tolist(),
  }
  sharpness = np.asarray(gradient_energy(r)) / np.maximum(np.asarray(gradient_energy(x)), 1e-12)
  return {
    "error_by_intensity": by_bin,
    "histogram": hist,
    "mse": PerImage(np.sum(err**2, (-2, -1))),
    "shift_toward_half": PerImage(np.mean(np.sign(0.5 - x) * err, (-2, -1))),
    "sharpness_ratio": PerImage(sharpness),
    **calibration(x, r),
    "reliability": reliability(x, r, reliability_bins),
    **error_strata(x, r),
  }


def intensity_report(
  x, recon, *, error_bins: int = 10, hist_bins: int = 32, reliability_bins: int = 10
) -> dict:
  """How reconstructions ``recon`` of ``x`` (both [N, 28, 28] in [0, 1]) depart from the data.

  * ``error_by_intensity``: per bin of the true intensity, the mean absolute and mean signed
    error (recon - x), and the pixel count;
  * ``histogram``: densities of data and reconstructed intensities over [0, 1];
  * ``reliability``: per bin of the prediction, the pixel count, mean prediction and mean truth
    (``reliability``);
  * per image (mean and standard error over images): ``mse`` (summed squared error),
    ``shift_toward_half`` (mean over pixels of sign(0.5 - x) (recon - x), binned by the truth:
    > 0 for any error at near-binary pixels, see the module docstring), ``sharpness_ratio``
    (gradient energy of recon over that of x; < 1 means blurrier), ``calibration_toward_half``
    and ``calibration_toward_half_grey`` (binned by the prediction, ``calibration``),
    ``error_{extremes,midtones}_{abs,sq}`` (by true-intensity stratum, ``error_strata``).
  """
  return summarized(
    intensity_values(
      x, recon, error_bins=error_bins, hist_bins=hist_bins, reliability_bins=reliability_bins
    )
  )
