"""The report's figures, drawn from records (``vae.study.records``) and the arrays they hold.

No figure reads a file or loads a model: the learning curves and scale trajectories come from each
record's metrics, the reconstructions and samples from the images its evaluation saved
(``panels.npz``), the loss geometry from the decoder table's likelihoods.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
import numpy as np

from likelihoods import decoders
from vae import images
from vae.evaluation import figures as eval_figures

# Near-binary targets (91% of MNIST's pixels lie within 0.1 of 0 or 1) and grey ones.
TARGETS = (0.02, 0.2, 0.5, 0.98)


LOSS_GEOMETRY_CAPTION = (
  "Per-pixel negative log-likelihood (top), its derivative in the prediction p (middle) and in "
  "the logit of p, what a sigmoid output layer receives (bottom; both symlog), against p for two "
  "near-binary targets (0.02, 0.98) and two grey ones (0.2, 0.5); one curve per decoder of the "
  "table (decoders whose curves coincide share one; the dot marks each minimum). BCE (bernoulli) "
  "is minimised at the target but is asymmetric around a grey one (F2), and its derivative "
  "(p - x)/(p(1 - p)) grows without bound toward 0 and 1, while in the logit it is exactly p - x: "
  "linear in the error for every target, bounded by 1 (F5, F6). MSE (gaussian_fixed, sigma^2 = "
  "1/2) has derivative 2(p - x) in p and 2(p - x) p(1 - p) in the logit, which vanishes where the "
  "sigmoid saturates (F6); MAE (laplace_fixed, b = 1) has derivative sign(p - x): the same pull "
  "for every error size, so near-binary pixels and mid-tones are pulled alike. The continuous "
  "Bernoulli's minimum over lambda is not the target (its mean's is). Learned scales are drawn at "
  "the study's shared learned sigma where it has one (0.1 otherwise), the Laplace's b at the same "
  "value; the Beta at alpha + beta = 10; the 8-bit discretized logistic as the density 256 "
  "P(bin): quadratic near the target, linear away from it (slope at most 1/s)."
)


def loss_geometry_curves(scale: float) -> dict:
  """label -> (likelihood, names): one entry per distinct curve of the decoder table's
  likelihoods (``Likelihood.at_prediction``; None: not drawn), decoders with the same curve
  merged under one label."""
  p = jnp.linspace(0.05, 0.95, 7)
  seen = []  # (values at probe points, label)
  out = {}
  for name in decoders.names():
    lik = decoders.get(name).build()
    dist = lik.at_prediction(p, scale)
    if dist is None:
      continue
    probe = np.asarray(-dist.log_prob(jnp.full_like(p, 0.3)))
    match = next((label for v, label in seen if np.allclose(v, probe, rtol=1e-6)), None)
    if match is None:
      seen.append((probe, name))
      out[name] = (lik, [name])
    else:
      out[match][1].append(name)
  return {", ".join(names): (lik, names) for lik, names in out.values()}


def loss_geometry_figure(path: str, scale_learned: float | None = None) -> None:
  """Per-pixel NLL and its derivatives in the prediction and in its logit, against the
  prediction, for the targets ``TARGETS``, for every decoder of the table that has a single
  prediction (``loss_geometry_curves``)."""
  plt = eval_figures.pyplot()
  p = jnp.linspace(1e-3, 1 - 1e-3, 999)
  scale = scale_learned or 0.1
  curves = loss_geometry_curves(scale)
  fig, axes = plt.subplots(3, len(TARGETS), figsize=(4 * len(TARGETS), 9), sharex=True)
  for j, target in enumerate(TARGETS):
    for label, (lik, _) in curves.items():
      nll = lambda q, lik=lik: -lik.at_prediction(q, scale).log_prob(target)
      values = np.asarray(jax.vmap(nll)(p))
      grads = np.asarray(jax.vmap(jax.grad(nll))(p))
      (line,) = axes[0, j].plot(p, values, label=label, lw=1)
      k = int(np.argmin(values))
      axes[0, j].plot(p[k], values[k], "o", color=line.get_color(), ms=4)
      axes[1, j].plot(p, grads, color=line.get_color(), lw=1)
      # d/d logit = d/dp * p (1 - p): what a sigmoid output layer passes back.
      axes[2, j].plot(p, grads * np.asarray(p * (1 - p)), color=line.get_color(), lw=1)
    for ax in axes[:, j]:
      ax.axvline(target, color="k", lw=0.6, ls="--")
    for ax in axes[1:, j]:
      ax.axhline(0, color="k", lw=0.6)
      ax.set_yscale("symlog", linthresh=1.0)
    axes[0, j].set(title=f"target x = {target}", ylim=(-4, 8))
    axes[1, j].set(ylim=(-1e3, 1e3))
    axes[2, j].set(xlabel="prediction p", ylim=(-30, 30))
  axes[0, 0].set_ylabel("per-pixel NLL (nats); dot = minimum")
  axes[1, 0].set_ylabel("d NLL / d p")
  axes[2, 0].set_ylabel("d NLL / d logit(p)")
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=7, frameon=False)
  fig.suptitle(f"learned scales drawn at {scale:.3g}", fontsize=8)
  fig.tight_layout(rect=(0, 0.06, 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)


def learning_curves_figure(path: str, records: dict) -> None:
  """Per record, the training objective and the test ELBO per epoch (its metrics)."""
  plt = eval_figures.pyplot()
  n = len(records)
  cols = min(4, n)
  fig, axes = plt.subplots(
    math.ceil(n / cols), cols, figsize=(3.3 * cols, 2.6 * math.ceil(n / cols)), squeeze=False
  )
  for ax, record in zip(axes.ravel(), records.values()):
    rows = record.metrics
    ax.plot(
      [r["epoch"] for r in rows], [-r["train"]["loss"] for r in rows], label="train objective"
    )
    test = [(t["epoch"], t["elbo"]) for t in record.tests]
    if test:
      ax.plot(*zip(*test), marker="o", ms=3, label="test ELBO")
    ax.set(title=record.name, xlabel="epoch")
    ax.title.set_fontsize(9)
  for ax in axes.ravel()[n:]:
    ax.axis("off")
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


SCALE_CAPTION = (
  "Learned scales (a Gaussian's sigma: the root mean square over test pixels) per epoch against "
  "their optimum given the decoder means (for a sigma, the root mean squared error: at test, "
  "dashed; as trained, with dropout on, dotted); empty if no decoder learns its scale."
)


def scale_figure(path: str, records: dict) -> None:
  """Per epoch, each learned scale against its optimum given the means, at test and (with
  dropout) as trained."""
  plt = eval_figures.pyplot()
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for record in records.values():
    rows = [t for t in record.tests if "scale" in t]
    if rows:
      epochs = [t["epoch"] for t in rows]
      (line,) = ax.plot(epochs, [t["scale"] for t in rows], label=f"{record.name}: scale")
      for key, ls, what in (
        ("scale_optimal", "--", "optimum at test"),
        ("scale_optimal_train", ":", "optimum as trained (dropout)"),
      ):
        if all(key in t for t in rows):
          ax.plot(epochs, [t[key] for t in rows], ls=ls, color=line.get_color(),
                  label=f"{record.name}: {what}")  # fmt: skip
  ax.set(xlabel="epoch", ylabel="scale", yscale="log", title="learned scale vs its optimum")
  if ax.lines:
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def image_figures(folder: str, records: dict) -> list[str]:
  """reconstructions.png (the same test digits, every decoder) and samples.png from the records'
  saved images (``panels``); returns the files written (none if no record has images)."""
  recon, samples = {}, {}
  for record in records.values():
    panels = record.panels
    if not panels:
      continue
    if not recon:
      recon["data"] = panels["data"]
    recon[f"{record.decoder}: mean"] = panels["mean"]
    for key, value in panels.items():
      if key.startswith("display_"):
        recon[f"{record.decoder}: {key.removeprefix('display_')}"] = value
    samples[f"{record.decoder}: mean"] = panels["sample_mean"]
    samples[f"{record.decoder}: sample"] = panels["sample"]
  if not recon:
    return []
  _rows_figure(f"{folder}/reconstructions.png", recon)
  _rows_figure(f"{folder}/samples.png", samples)
  return ["reconstructions.png", "samples.png"]


def _rows_figure(path: str, rows: dict) -> None:
  plt = eval_figures.pyplot()
  fig, axes = plt.subplots(len(rows), 1, figsize=(7, 0.8 * len(rows) + 0.3))
  for ax, (label, imgs) in zip(np.atleast_1d(axes), rows.items()):
    ax.imshow(images.tile(np.clip(imgs, 0, 1), cols=len(imgs)), cmap="gray", vmin=0, vmax=1)
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def intensity_figure(path: str, records: dict) -> bool:
  """Reconstruction error by intensity and intensity histograms of seed 0 of every record that
  ran the intensity measure; False (nothing written) if none did."""
  plt = eval_figures.pyplot()
  reports = {r.decoder: r.evaluation["per_seed"][0].get("intensity/mean") for r in records.values()}
  reports = {d: rep for d, rep in reports.items() if rep is not None}
  if not reports:
    return False
  fig, axes = plt.subplots(1, 2, figsize=(12, 4))
  eval_figures.intensity_axes(axes, reports)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
  return True


def sweep_figure(
  path: str,
  curves: dict,
  values,
  titles: dict,
  flagged: dict,
  axis_label: str,
  *,
  log_x: bool = False,
) -> None:
  """A sweep's measures against its axis: one panel per measure, one line per decoder (the mean
  over seeds) with a band from the seeds' minimum to their maximum; a point whose run is flagged
  not converged (``flagged``: (value index, decoder) -> reasons) is drawn as an open marker.

  ``curves``: measure -> decoder -> per value None or {"mean", "min", "max"}."""
  plt = eval_figures.pyplot()
  n = max(len(curves), 1)
  cols = min(3, n)
  rows = math.ceil(n / cols)
  fig, axes = plt.subplots(rows, cols, figsize=(4.4 * cols, 3.2 * rows), squeeze=False)
  x_all = np.asarray(values, float)
  colors = {}
  for ax, (measure, per_decoder) in zip(axes.ravel(), curves.items()):
    for decoder, points in per_decoder.items():
      kept = [(i, p) for i, p in enumerate(points) if p is not None]
      if not kept:
        continue
      idx = [i for i, _ in kept]
      x = x_all[idx]
      mean = np.asarray([p["mean"] for _, p in kept])
      lo = np.asarray([p["min"] for _, p in kept])
      hi = np.asarray([p["max"] for _, p in kept])
      (line,) = ax.plot(x, mean, color=colors.get(decoder), label=decoder, lw=1.5)
      colors[decoder] = line.get_color()
      ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
      done = np.asarray([(i, decoder) not in flagged for i in idx])
      ax.plot(x[done], mean[done], "o", color=line.get_color(), ms=4)
      ax.plot(x[~done], mean[~done], "o", mfc="none", color=line.get_color(), ms=6)
    ax.set_title(titles.get(measure, measure), fontsize=9)
    ax.set_xlabel(axis_label, fontsize=8)
    ax.tick_params(labelsize=7)
    if log_x:
      ax.set_xscale("log")
      ax.minorticks_off()
    ax.set_xticks(x_all)
    ax.set_xticklabels([f"{v:g}" for v in x_all], fontsize=7)
  for ax in axes.ravel()[len(curves) :]:
    ax.axis("off")
  if curves:
    handles, names = axes[0, 0].get_legend_handles_labels()
    if flagged:
      handles.append(plt.Line2D([], [], ls="", marker="o", mfc="none", color="gray", ms=6))
      names.append("not converged")
    axes[0, 0].legend(handles, names, fontsize=7)
  else:
    axes[0, 0].text(0.5, 0.5, "no measure", ha="center", va="center")
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)
