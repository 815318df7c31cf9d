"""Evaluation figures: reconstructions, samples, and the intensity-bias plots (PNG)."""

from __future__ import annotations

import io
import os

import jax
import numpy as np

from vae import data, images
from vae import workdir as wd
from vae.evaluation.intensity import intensity_report

NUM_SHOWN = 32
FILES = ("reconstructions.png", "samples.png", "intensity.png")  # what eval_figures writes
PANELS_FILE = "panels.npz"  # the images a study's figures show (``panels``)
NUM_PANELS = 10


def pyplot():
  """matplotlib's pyplot on the Agg backend, imported on first use (it costs a second at start)."""
  import matplotlib

  matplotlib.use("Agg")
  import matplotlib.pyplot as plt

  return plt


def panels(run, test_u8, num: int = NUM_PANELS) -> dict:
  """The images a study or sweep report shows of one run (seed 0), as arrays [num, 28, 28]:
  ``data`` (the first ``num`` test images as the run's protocol presents them), ``mean`` (the
  decoder mean at the posterior mean), ``display_<name>`` (the display parameter where it is not
  the mean: lambda for Bernoulli and CB), and from the prior at one fixed key ``sample_mean`` and
  ``sample`` (a decoder draw). Written next to eval.json, so reports never reload a model."""
  x = data.fixed_inputs(run.config, np.asarray(test_u8)[:num])
  z = run.encode(x)[0]
  out = {"data": np.asarray(x), "mean": np.asarray(run.decode(z).mean())}
  name = run.model.likelihood.display_name
  if name != "mean":
    out[f"display_{name}"] = np.asarray(run.display(z))
  key = jax.random.PRNGKey(0)
  out["sample_mean"] = np.asarray(run.sample(key, num))
  out["sample"] = np.asarray(run.sample(key, num, from_decoder=True))
  return {k: v.astype(np.float32) for k, v in out.items()}


def write_panels(out_dir: str, run, test_u8) -> None:
  """``panels`` saved as ``out_dir/panels.npz`` (atomically)."""
  buffer = io.BytesIO()
  np.savez_compressed(buffer, **panels(run, test_u8))
  wd.write_bytes(os.path.join(out_dir, PANELS_FILE), buffer.getvalue())


def eval_figures(out_dir: str, ctx, intensity: dict | None = None) -> None:
  """reconstructions.png, samples.png and intensity.png for the seed of a ``measures.Context``;
  ``intensity``: that seed's ``intensity/mean`` result, if the measure ran (else computed)."""
  plt = pyplot()
  run = ctx.run
  x = np.asarray(ctx.x[:NUM_SHOWN])
  name = run.model.likelihood.display_name
  panels = {"data": x, "reconstruction mean": ctx.recon_mean[:NUM_SHOWN]}
  if name != "mean":
    panels[f"reconstruction {name}"] = ctx.recon_display[:NUM_SHOWN]
  images.save_panels(os.path.join(out_dir, "reconstructions.png"), panels)
  gen = ctx.generated
  if gen is None:
    key = jax.random.PRNGKey(0)
    gen = {
      "means": np.asarray(run.sample(key, NUM_SHOWN)),
      "draws": np.asarray(run.sample(key, NUM_SHOWN, from_decoder=True)),
    }
  images.save_panels(
    os.path.join(out_dir, "samples.png"),
    {"sample mean": gen["means"][:NUM_SHOWN], "sample": gen["draws"][:NUM_SHOWN]},
  )
  fig, axes = plt.subplots(1, 2, figsize=(10, 3.6))
  report = intensity if intensity is not None else intensity_report(ctx.x, ctx.recon_mean)
  intensity_axes(axes, {run.config.likelihood: report})
  fig.tight_layout()
  fig.savefig(os.path.join(out_dir, "intensity.png"), dpi=110)
  plt.close(fig)


def intensity_axes(axes, reports: dict, data_label: str = "data") -> None:
  """Left: mean signed reconstruction error by true intensity; right: intensity histograms."""
  ax_err, ax_hist = axes
  first = next(iter(reports.values()))
  edges = np.asarray(first["error_by_intensity"]["bin_edges"])
  centers = (edges[:-1] + edges[1:]) / 2
  for label, rep in reports.items():
    ax_err.plot(
      centers, rep["error_by_intensity"]["mean_signed_error"], marker="o", ms=3, label=label
    )
  ax_err.axhline(0, color="k", lw=0.6)
  ax_err.set(
    xlabel="true pixel intensity",
    ylabel="mean signed error (recon - x)",
    title="reconstruction error by intensity",
  )
  h_edges = np.asarray(first["histogram"]["bin_edges"])
  ax_hist.stairs(first["histogram"]["data"], h_edges, label=data_label, color="k", lw=1.5)
  for label, rep in reports.items():
    ax_hist.stairs(rep["histogram"]["reconstruction"], h_edges, label=label)
  ax_hist.set(yscale="log", xlabel="intensity", ylabel="density", title="reconstructed intensities")
  for ax in axes:
    ax.legend(fontsize=7)
