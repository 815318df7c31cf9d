"""The study report: REPORT.md with the table, figures and findings computed from the results.

Nothing in the findings is written by hand: every sentence is generated from the measured numbers
(``findings``), and says "holds" or "does not hold" by an explicit, printed criterion.
"""

from __future__ import annotations

import math
import os

import numpy as np

from likelihoods import decoders
from vae import workdir as wd
from vae.evaluation import columns as cols
from vae.study import convergence, figures, records, sections


def columns() -> dict:
  """The study table's columns: every column a measure declares for it, then the run's own."""
  return records.columns("study")


def winners(table: dict) -> dict:
  """column -> (best decoders, their value) for the comparable columns; several decoders when
  they tie (``columns.best``)."""
  out = {}
  for key, column in columns().items():
    vals = {d: row[key]["mean"] for d, row in table.items() if key in row}
    if column.better is None or not vals:
      continue
    best = cols.best(vals, column.better)
    if best:
      out[key] = (best, vals[best[0]])
  return out


# --------------------------------------------------------------------------------- findings


def findings(table: dict, flagged: dict | None = None) -> list[str]:
  """Sentences generated from the numbers; each claim with its criterion and verdict.

  ``table``: decoder -> headline row (``records.run_headline``); ``flagged``: decoder -> reasons
  its run is not converged (``convergence.assess``); a finding that rests on such a run gives no
  verdict and says which runs."""
  flagged = flagged or {}
  shown = columns()

  def verdict(holds, rests_on) -> str:
    unconverged = [d for d in rests_on if d in flagged]
    if unconverged:
      runs = ", ".join(f"`{d}`" for d in unconverged)
      return f"No verdict: rests on run(s) not converged ({runs})"
    return _verdict(holds)

  out = []
  for key, (best, value) in winners(table).items():
    column = shown[key]
    compared = [d for d, row in table.items() if key in row]
    unconverged = [d for d in compared if d in flagged]
    who = f"`{best[0]}`" if len(best) == 1 else "a tie of " + ", ".join(f"`{d}`" for d in best)
    text = f"**{column.header}**: best is {who} ({column.format(value)})"
    if unconverged:
      text += " (no verdict: " + ", ".join(f"`{d}`" for d in unconverged) + " not converged)"
    out.append(text + ".")
  bce = _first(table, "bce")
  others = {d: r for d, r in table.items() if d != bce}
  b = table.get(bce)
  if b and others and "shift_toward_half" in b:
    shift = b["shift_toward_half"]["mean"]
    rest = np.median([r["shift_toward_half"]["mean"] for r in others.values()])
    holds = shift > 0 and shift > rest
    out.append(
      f"Claim *BCE is biased toward 0.5*: Bernoulli reconstructions move toward 0.5 by "
      f"{shift:+.4f} per pixel on average (median of the other decoders {rest:+.4f}). "
      f"Criterion: positive and above the others' median. **{verdict(holds, table)}**."
    )
  if b and others and "sharpness_ratio" in b:
    sharp = b["sharpness_ratio"]["mean"]
    rest = np.median([r["sharpness_ratio"]["mean"] for r in others.values()])
    out.append(
      f"Claim *BCE blurs*: the Bernoulli mean keeps {sharp:.3f} of the data's "
      f"image-gradient energy (median of the others {rest:.3f}). Criterion: below the "
      f"others' median. **{verdict(sharp < rest, table)}**."
    )
  mse = _first(table, "mse")
  fixed = table.get(mse)
  learned = {d: r for d, r in table.items() if d in decoders.with_role("learned_sigma")}
  if fixed and learned and "recon_mse" in fixed:
    kl = {d: r["test_kl"]["mean"] for d, r in table.items() if "test_kl" in r}
    better_mse = all(r["recon_mse"]["mean"] < fixed["recon_mse"]["mean"] for r in learned.values())
    more_kl = all(kl.get(d, -math.inf) > kl.get(mse, math.inf) for d in learned)
    detail = ", ".join(
      f"`{d}` MSE {r['recon_mse']['mean']:.2f} / KL {kl.get(d, math.nan):.1f}"
      for d, r in learned.items()
    )
    out.append(
      f"Claim *a learned sigma fixes the reconstruction/KL balance*: fixed sigma has "
      f"reconstruction MSE {fixed['recon_mse']['mean']:.2f} and test KL "
      f"{kl.get(mse, math.nan):.1f} nats; {detail}. Criterion: every learned sigma has a "
      f"lower MSE and a larger KL (uses its latents more). "
      f"**{verdict(better_mse and more_kl, [mse, *learned])}**."
    )
  out.extend(_continuous_against_8bit(table, verdict))
  return out


# The measures on which the continuous decoders meet the natively 8-bit ones.
MEASURES_8BIT = ("discretized_nll", "inception_score_samples", "frechet_samples")


def _continuous_against_8bit(table: dict, verdict) -> list[str]:
  """Does any density on [0, 1] match a decoder of the 256 levels (role ``native_8bit``)? For
  each of ``MEASURES_8BIT``: the best continuous decoder against the best 8-bit one. "Matches":
  better, or worse by no more than the sum of the two standard deviations over seeds."""
  native = set(decoders.with_role("native_8bit"))
  out = []
  for column in MEASURES_8BIT:
    spec = columns()[column]
    header, fmt, better = spec.header, spec.fmt, spec.better
    sign = 1.0 if better == "max" else -1.0  # sign * value: higher is better
    rows = {d: r[column] for d, r in table.items() if column in r}
    cont = {d: v for d, v in rows.items() if d not in native}
    disc = {d: v for d, v in rows.items() if d in native}
    if not cont or not disc:
      continue
    c = max(cont, key=lambda d: sign * cont[d]["mean"])
    n = max(disc, key=lambda d: sign * disc[d]["mean"])
    cv, nv = cont[c], disc[n]
    gap = sign * (cv["mean"] - nv["mean"])  # > 0: the continuous decoder is better
    noise = cv["std"] + nv["std"]
    out.append(
      f"Claim *a density on [0, 1] matches a decoder of the 256 levels* on **{header}**: best "
      f"continuous `{c}` {fmt.format(cv['mean'])} ± {fmt.format(cv['std'])}, best 8-bit `{n}` "
      f"{fmt.format(nv['mean'])} ± {fmt.format(nv['std'])} (the continuous one is "
      f"{'better' if gap > 0 else 'worse'} by {fmt.format(abs(gap))}). Criterion: better, or "
      f"worse by at most the sum of the two standard deviations over seeds "
      f"({fmt.format(noise)}). **{verdict(gap >= -noise, [c, n])}**."
    )
  return out


def _first(table: dict, role: str) -> str | None:
  """The first decoder of the table that plays ``role`` (``likelihoods.decoders.ROLES``)."""
  return next((d for d in decoders.with_role(role) if d in table), None)


def _verdict(holds) -> str:
  return "Holds" if bool(holds) else "Does not hold"


# ----------------------------------------------------------------------------------- report


PREVIOUS_DIR = "previous_reports"
FILES = (
  "REPORT.md",
  "reconstructions.png",
  "samples.png",
  "sigma.png",
  "intensity.png",
  "learning_curves.png",
  "loss_geometry.png",
)


def keep_previous(workdir: str, files=FILES) -> str | None:
  """Moves the current REPORT.md and its figures (``files``: the study's, or a sweep's) into
  previous_reports/<time>/ (if any)."""
  if not os.path.exists(os.path.join(workdir, "REPORT.md")):
    return None
  os.makedirs(os.path.join(workdir, PREVIOUS_DIR), exist_ok=True)
  kept = wd.keep_aside_files(workdir, files)
  target = os.path.join(workdir, PREVIOUS_DIR, os.path.basename(kept).removeprefix("kept-"))
  os.replace(kept, target)
  return target


def write_report(workdir: str, config, results: dict) -> str:
  """Writes REPORT.md and its figures into ``workdir``; returns the report's path.
  ``results``: decoder -> its evaluation (``grid.run_grid``)."""
  criteria = config.get("convergence") or convergence.default_config()
  runs = records.build(results, criteria)
  return write_records(workdir, config, runs, criteria)


def write_records(workdir: str, config, runs: dict, criteria) -> str:
  """REPORT.md and its figures from ``runs`` (decoder -> ``records.Record``)."""
  table = {d: r.headline for d, r in runs.items()}
  flagged = {d: r.flags for d, r in runs.items() if r.flags}
  shared = next(
    (r.last_test("scale") for d, r in runs.items() if d in decoders.with_role("shared_sigma")), None
  )
  images = figures.image_figures(workdir, runs)
  figures.scale_figure(os.path.join(workdir, "sigma.png"), runs)
  has_intensity = figures.intensity_figure(os.path.join(workdir, "intensity.png"), runs)
  figures.learning_curves_figure(os.path.join(workdir, "learning_curves.png"), runs)
  figures.loss_geometry_figure(os.path.join(workdir, "loss_geometry.png"), shared)
  shown = columns()
  lines = [
    f"# Decoder study: `{config.variant}`",
    "",
    f"Command: `python -m experiments.study --config experiments/configs/study.py:{config.variant} "
    f"--workdir {workdir}`",
    "",
    sections.budget(config),
    "",
    "## Table",
    "",
    *sections.table(runs, shown),
    "",
    *sections.column_definitions(shown),
    "- *converged*: see Convergence below.",
    "",
    "## Findings (generated from the numbers above)",
    "",
    *[f"- {s}" for s in findings(table, flagged)],
    "",
    *sections.convergence(runs, criteria),
    "",
    "## Figures",
    "",
  ]
  if images:
    lines += sections.figure(
      "reconstructions.png",
      "The same test digits reconstructed by each decoder: its mean, and for Bernoulli and "
      "continuous Bernoulli also lambda.",
    )
    lines += sections.figure("samples.png")
  if has_intensity:
    lines += sections.figure("intensity.png")
  lines += [
    *sections.figure("loss_geometry.png", figures.LOSS_GEOMETRY_CAPTION),
    *sections.figure("learning_curves.png"),
    *sections.figure("sigma.png", figures.SCALE_CAPTION),
    *sections.runs({d: f"runs/{d}" for d in runs}),
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
