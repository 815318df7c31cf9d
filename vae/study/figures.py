"""The study report's figures: loss geometry, learning curves, reconstructions, samples, intensity.

``image_figures`` also measures the report's checks on the trained decoders (the MSE identity of the
``mse`` decoder, the learned sigma of the ``shared_sigma`` one, each decoder's test KL).
"""

from __future__ import annotations

import math
import os

import jax
import jax.numpy as jnp
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

import likelihoods  # noqa: E402
from likelihoods import decoders  # noqa: E402
from vae import data, images  # noqa: E402
from vae import workdir as wd  # noqa: E402
from vae.evaluation import figures as eval_figures  # noqa: E402
from vae.evaluation import load  # noqa: E402

TARGETS = (0.2, 0.5, 0.8)


def loss_geometry_figure(path: str, sigma_learned: float | None = None) -> None:
  """Per-pixel NLL and its derivative against the prediction, for targets 0.2, 0.5, 0.8.

  The 8-bit discretized logistic (one component, loc = p) is drawn as the density it trains as,
  256 P(bin of x), with the logistic scale that gives the Gaussian curve's standard deviation,
  s = sigma sqrt(3) / pi; the categorical has no single prediction p to draw against.
  """
  p = jnp.linspace(1e-3, 1 - 1e-3, 999)
  sigma = sigma_learned or 0.1
  log_s = jnp.log(sigma * math.sqrt(3) / math.pi)
  curves = {
    "Bernoulli (BCE), p = lambda": lambda q, x: (
      -likelihoods.Bernoulli(jnp.log(q) - jnp.log1p(-q)).log_prob(x)
    ),
    "continuous Bernoulli, p = lambda": lambda q, x: (
      -likelihoods.ContinuousBernoulli(jnp.log(q) - jnp.log1p(-q)).log_prob(x)
    ),
    "Gaussian sigma^2 = 1/2 (MSE)": lambda q, x: -likelihoods.Normal(q, math.sqrt(0.5)).log_prob(x),
    f"Gaussian sigma = {sigma:.3g}" + (" (learned)" if sigma_learned else ""): lambda q, x: (
      -likelihoods.Normal(q, sigma).log_prob(x)
    ),
    "Beta, mean p, alpha + beta = 10": lambda q, x: (
      -likelihoods.Beta(10 * q, 10 * (1 - q)).log_prob(x)
    ),
    "discretized logistic (8-bit), loc = p, same std": lambda q, x: (
      -likelihoods.DiscretizedLogistic(jnp.zeros(1), q[None], log_s[None]).log_prob(x)
    ),
  }
  fig, axes = plt.subplots(2, len(TARGETS), figsize=(13, 6.5), sharex=True)
  for j, target in enumerate(TARGETS):
    for label, nll in curves.items():
      f = jax.vmap(lambda q: nll(q, target))
      g = jax.vmap(jax.grad(lambda q: nll(q, target)))
      values, grads = np.asarray(f(p)), np.asarray(g(p))
      (line,) = axes[0, j].plot(p, values, label=label)
      k = int(np.argmin(values))
      axes[0, j].plot(p[k], values[k], "o", color=line.get_color(), ms=4)
      axes[1, j].plot(p, grads, color=line.get_color())
    axes[0, j].axvline(target, color="k", lw=0.6, ls="--")
    axes[1, j].axvline(target, color="k", lw=0.6, ls="--")
    axes[1, j].axhline(0, color="k", lw=0.6)
    axes[0, j].set(title=f"target x = {target}", ylim=(-4, 8))
    axes[1, j].set(xlabel="prediction p", ylim=(-40, 40))
  axes[0, 0].set_ylabel("per-pixel NLL (nats); dot = minimum")
  axes[1, 0].set_ylabel("d NLL / d p")
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


def learning_curves_figure(path: str, results: dict) -> None:
  n = len(results)
  cols = min(4, n)
  fig, axes = plt.subplots(
    math.ceil(n / cols), cols, figsize=(3.3 * cols, 2.6 * math.ceil(n / cols)), squeeze=False
  )
  for ax, (decoder, result) in zip(axes.ravel(), results.items()):
    rows = wd.read_metrics(result["workdir"])
    ep = [r["epoch"] for r in rows]
    ax.plot(ep, [-r["train"]["loss"] for r in rows], label="train objective")
    test = [(r["epoch"], r["test"]["elbo"]) for r in rows if "test" in r]
    ax.plot(*zip(*test), marker="o", ms=3, label="test ELBO")
    ax.set(title=decoder, xlabel="epoch")
    ax.title.set_fontsize(9)
  for ax in axes.ravel()[n:]:
    ax.axis("off")
  axes[0, 0].legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


SIGMA_CAPTION = (
  "Learned sigmas (root mean square over test pixels) per epoch against the optimum given the "
  "decoder means (the root mean squared error: at test, dashed; as trained, with dropout on, "
  "dotted); empty if no decoder learns its sigma."
)


def sigma_figure(path: str, results: dict) -> None:
  """Per epoch, each learned sigma (RMS over test pixels) against its optimum given the means, at
  test and (with dropout) as trained."""
  fig, ax = plt.subplots(figsize=(6, 3.6))
  for decoder, result in results.items():
    rows = [r for r in wd.read_metrics(result["workdir"]) if "sigma_rms" in r.get("test", {})]
    if rows:
      epochs = [r["epoch"] for r in rows]
      (line,) = ax.plot(epochs, [r["test"]["sigma_rms"] for r in rows], label=f"{decoder}: sigma")
      for key, ls, what in (
        ("sigma_optimal", "--", "optimum at test"),
        ("sigma_optimal_train", ":", "optimum as trained (dropout)"),
      ):
        if all(key in r["test"] for r in rows):
          values = [r["test"][key] for r in rows]
          ax.plot(epochs, values, ls=ls, color=line.get_color(), label=f"{decoder}: {what}")
  ax.set(xlabel="epoch", ylabel="sigma", yscale="log", title="learned sigma vs its optimum")
  if ax.lines:
    ax.legend(fontsize=7)
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def image_figures(workdir: str, results: dict, num: int = 10) -> dict:
  """reconstructions.png (same test digits, every decoder) and samples.png; returns checks."""
  checks = {"kl": {}}
  first = next(iter(results.values()))
  test_u8, _ = data.split(load(first["workdir"]).config, "test", num)
  mse, shared = decoders.with_role("mse"), decoders.with_role("shared_sigma")
  recon_panels, sample_panels = {}, {}
  for decoder, result in results.items():
    run = load(result["workdir"])
    x = data.fixed_inputs(run.config, test_u8)
    if not recon_panels:
      recon_panels["data"] = np.asarray(x)
    z = run.encode(x)[0]
    dist = run.decode(z)
    recon_panels[f"{decoder}: mean"] = np.asarray(dist.mean())
    if run.model.likelihood.display_name != "mean":
      recon_panels[f"{decoder}: {run.model.likelihood.display_name}"] = np.asarray(run.display(z))
    key = jax.random.PRNGKey(0)
    sample_panels[f"{decoder}: mean"] = np.asarray(run.sample(key, num))
    sample_panels[f"{decoder}: sample"] = np.asarray(run.sample(key, num, from_decoder=True))
    rows = wd.read_metrics(result["workdir"])
    tests = [r["test"] for r in rows if "test" in r]
    if tests:
      checks["kl"][decoder] = tests[-1]["kl"]
    if decoder in mse:  # sigma^2 = 1/2: -log p(x|z) = sum of squared errors + (D/2) log pi
      nll = -np.asarray(jnp.sum(dist.log_prob(x), (-2, -1)))
      sse = np.asarray(jnp.sum((x - dist.mean()) ** 2, (-2, -1)))
      checks["mse_identity"] = float(np.max(np.abs(nll - sse - 392 * math.log(math.pi))))
    if decoder in shared:  # one sigma for every pixel
      checks["sigma_shared"] = float(np.mean(np.asarray(dist.stddev())))
  _rows_figure(os.path.join(workdir, "reconstructions.png"), recon_panels)
  _rows_figure(os.path.join(workdir, "samples.png"), sample_panels)
  return checks


def _rows_figure(path: str, rows: dict) -> None:
  fig, axes = plt.subplots(len(rows), 1, figsize=(7, 0.8 * len(rows) + 0.3))
  for ax, (label, imgs) in zip(np.atleast_1d(axes), rows.items()):
    ax.imshow(images.tile(np.clip(imgs, 0, 1), cols=len(imgs)), cmap="gray", vmin=0, vmax=1)
    ax.set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])
  fig.tight_layout()
  fig.savefig(path, dpi=100)
  plt.close(fig)


def intensity_figure(path: str, results: dict) -> None:
  fig, axes = plt.subplots(1, 2, figsize=(12, 4))
  reports = {d: r["per_seed"][0].get("intensity/mean") for d, r in results.items()}
  reports = {d: rep for d, rep in reports.items() if rep is not None}
  if not reports:  # the intensity measure was not run
    plt.close(fig)
    return
  eval_figures.intensity_axes(axes, reports)
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)


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
