"""The rate report's figures: the curves against the rate, the learning curves, the sigma-VAE test.

Each takes the stacked arrays of one budget (decoder -> {name: [W, S, N]}, weights ascending:
``rate_report.arrays_of``) or the runs themselves, and writes one PNG.
"""

from __future__ import annotations

import numpy as np

from vae.evaluation import figures as eval_figures
from vae.study import claims, curves, per_run

# The measures the curves show: (key of per_image.npz or ``per_run``, axis label).
RECONSTRUCTION_CURVES = (
  ("intensity/calibration_toward_half", "calibration bias toward 0.5 (all pixels)"),
  ("intensity/calibration_toward_half_grey", "calibration bias toward 0.5 (grey predictions)"),
  ("intensity/error_extremes_abs", "mean |error|, near-binary pixels"),
  ("intensity/error_midtones_abs", "mean |error|, mid-tones"),
  ("intensity/mse", "summed squared error"),
  ("intensity/sharpness_ratio", "sharpness (gradient energy ratio)"),
  ("common/log_likelihood", "log-likelihood, common measure (nats)"),
)
SAMPLE_AND_LATENT_CURVES = (
  ("knn_accuracy/correct", "15-NN accuracy on the encoder means"),
  ("latents/active_units", "active latent units"),
  ("samples/frechet_distance_means", "Frechet distance, decoder means of prior draws"),
  ("samples/frechet_distance_samples", "Frechet distance, samples of p(x | z)"),
  ("samples/inception_score_means", "inception score, decoder means"),
  ("curves/held_out_mse_epoch_1", "held-out squared error after epoch 1"),
)
CURVES_CAPTION = (
  "Each decoder's curves at the largest budget: per KL weight, the measure's mean over seeds (of "
  "each seed's mean over the test images) against the mean test KL, the band the range over "
  "seeds. A measure compared across decoders means something only at the same rate: read the "
  "curves at a vertical line."
)


def _save_with_legend_below(plt, fig, ax, path: str, bottom: float) -> None:
  """One legend (``ax``'s decoders) below the panels, which keep the figure above ``bottom``."""
  handles, labels = ax.get_legend_handles_labels()
  fig.legend(
    handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False
  )
  fig.tight_layout(rect=(0, bottom, 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def curves_figure(path: str, arrays: dict, curves=RECONSTRUCTION_CURVES) -> None:
  """One panel per measure of ``curves``: each decoder's mean over seeds against its rate, with
  the band of its seeds (min to max of the per-seed means), rate on a log axis."""
  plt = eval_figures.pyplot()
  shown = [(m, label) for m, label in curves if any(m in a for a in arrays.values())]
  cols = 4
  rows = max(1, -(-len(shown) // cols))
  fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
  for ax, (m, label) in zip(axes.ravel(), shown):
    for decoder, a in arrays.items():
      if m not in a:
        continue
      rate = np.nanmean(a["rate"], -1)  # [W, S]
      value = np.nanmean(a[m], -1)
      (line,) = ax.plot(np.mean(rate, 1), np.mean(value, 1), marker="o", ms=3, label=decoder)
      ax.fill_between(
        np.mean(rate, 1), value.min(1), value.max(1), color=line.get_color(), alpha=0.2
      )
    ax.set(xscale="log", xlabel="rate: test KL (nats per image)", title=label)
    ax.title.set_fontsize(9)
  for ax in axes.ravel()[len(shown) :]:
    ax.axis("off")
  _save_with_legend_below(plt, fig, axes[0, 0], path, 0.06)


LEARNING_CAPTION = (
  "Folk claim F6: the held-out squared error of the decoder mean after each epoch (mean over "
  "seeds), one panel per KL weight, at the largest budget; every decoder trains with the same "
  "sigmoid output and learning-rate schedule."
)


def learning_curves_figure(path: str, grid: dict) -> None:
  """One panel per KL weight: each decoder's held-out squared error against the epoch.
  ``grid``: decoder -> weight -> result (with ``workdir``)."""
  plt = eval_figures.pyplot()
  # the weights of the axis every decoder shares (not a decoder's extra weights)
  weights = sorted(set.intersection(*(set(runs) for runs in grid.values())))
  fig, axes = plt.subplots(1, len(weights), figsize=(3.6 * len(weights), 3.2), squeeze=False)
  for ax, w in zip(axes[0], weights):
    for decoder, runs in grid.items():
      if w not in runs:
        continue
      rows = [r for r in per_run.held_out_rows(runs[w]["workdir"]) if "mse" in r]
      if rows:
        ax.plot([r["epoch"] for r in rows], [r["mse"] for r in rows], marker=".", label=decoder)
    ax.set(yscale="log", xlabel="epoch", title=f"KL weight {w:g}")
    ax.title.set_fontsize(9)
  axes[0, 0].set_ylabel("held-out squared error")
  _save_with_legend_below(plt, fig, axes[0, 0], path, 0.1)


SIGMA_CAPTION = (
  "Folk claim F12, the sigma-VAE test. Left: the fixed-sigma Gaussian's curve over the KL weight "
  "(squared error against rate, each point labelled with its weight) and the learned shared "
  "sigma's runs (KL weight 1 circled). Right: along the fixed-sigma curve, each run's ELBO with "
  "its optimal shared sigma found after training; the horizontal line the learned sigma's own "
  "ELBO at KL weight 1, the vertical line its weight w_L = sigma_L^2 / sigma_0^2."
)


def sigma_vae_figure(path: str, arrays: dict, weights: dict, sigma0: float) -> None:
  """``weights``: decoder -> its KL weights, ascending (the rows of its arrays)."""
  plt = eval_figures.pyplot()
  fixed, shared = arrays.get(claims.MSE), arrays.get(claims.SHARED)
  fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
  if fixed is not None:
    m = curves.means_of(fixed)
    left.plot(m["rate"], m["intensity/mse"], marker="o", label=f"{claims.MSE} (over w)")
    for w, r, v in zip(weights[claims.MSE], m["rate"], m["intensity/mse"]):
      left.annotate(f"{w:g}", (r, v), fontsize=7, textcoords="offset points", xytext=(3, 3))
    if "elbo" in m:
      right.plot(weights[claims.MSE], claims.optimal_sigma_elbo(m, sigma0), marker="o",
                 label=f"{claims.MSE}, optimal sigma")  # fmt: skip
  if shared is not None:
    m = curves.means_of(shared)
    left.plot(m["rate"], m["intensity/mse"], marker="s", ls=":", label=f"{claims.SHARED} (over w)")
    one = claims.index_of_one(weights[claims.SHARED])
    if one is not None:
      left.scatter([m["rate"][one]], [m["intensity/mse"][one]], s=120, facecolors="none",
                   edgecolors="k", label="learned sigma, KL weight 1")  # fmt: skip
      right.axhline(m["elbo"][one], color="k", ls="--", label="learned sigma's ELBO")
      if "curves/held_out_scale_final" in m:
        right.axvline(m["curves/held_out_scale_final"][one] ** 2 / sigma0**2, color="k", ls=":",
                      label="w_L")  # fmt: skip
  left.set(xscale="log", yscale="log", xlabel="rate: test KL (nats)", ylabel="squared error")
  right.set(xscale="log", xlabel="KL weight w", ylabel="ELBO (nats)")
  for ax in (left, right):
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
