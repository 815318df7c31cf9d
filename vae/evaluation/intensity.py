"""The seeds' question: how reconstructions depart from the data, by intensity, and how blurred.

``intensity_report(x, recon)``: reconstruction error against true intensity, histograms of the
intensities, the mean signed shift toward 0.5 (> 0: pulled toward grey) and the sharpness ratio of
image-gradient energies (< 1: blurrier than the data).
"""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from vae.evaluation.stats import mean_and_stderr


def gradient_energy(images):
  """Per image: mean squared finite difference along rows and columns."""
  images = jnp.asarray(images, jnp.float32)
  dx = jnp.diff(images, axis=-1)
  dy = jnp.diff(images, axis=-2)
  return jnp.mean(dx**2, (-2, -1)) + jnp.mean(dy**2, (-2, -1))


def intensity_report(x, recon, *, error_bins: int = 10, hist_bins: int = 32) -> dict:
  """How reconstructions ``recon`` of ``x`` (both [N, 28, 28] in [0, 1]) depart from the data.

  * ``error_by_intensity``: per bin of the true intensity, the mean absolute and mean signed
    error (recon - x), and the pixel count;
  * ``histogram``: densities of data and reconstructed intensities over [0, 1];
  * per image (mean and standard error over images): ``mse`` (summed squared error),
    ``shift_toward_half`` (mean over pixels of sign(0.5 - x) (recon - x): > 0 means pulled toward
    0.5), ``sharpness_ratio`` (gradient energy of recon over that of x; < 1 means blurrier).
  """
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
  per_image = {
    "mse": np.sum(err**2, (-2, -1)),
    "shift_toward_half": np.mean(np.sign(0.5 - x) * err, (-2, -1)),
    "sharpness_ratio": np.asarray(gradient_energy(r))
    / np.maximum(np.asarray(gradient_energy(x)), 1e-12),
  }
  return {
    "error_by_intensity": by_bin,
    "histogram": hist,
    **{k: mean_and_stderr(v) for k, v in per_image.items()},
  }
