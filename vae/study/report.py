"""The study report: REPORT.md with the table, figures and findings computed from the results.

Nothing in the findings is written by hand: every sentence is generated from the measured numbers
(``findings``), and says "holds" or "does not hold" by an explicit, printed criterion.
"""

from __future__ import annotations

import math
import os

import numpy as np

from likelihoods import decoders
from vae import evaluation
from vae import workdir as wd
from vae.study import convergence, figures

# column -> (header, format, better: "max" | "min" | "one" | "zero" | None = not comparable)
COLUMNS = {
  "elbo": ("ELBO (own lik.)", "{:.1f}", None),
  "iw_log_likelihood": ("IW log-lik. (own)", "{:.1f}", None),
  "common_bits_per_dim": ("bits/dim (common)", "{:.3f}", "min"),
  "discretized_nll": ("8-bit NLL", "{:.1f}", "min"),
  "knn_accuracy": ("15-NN acc.", "{:.4f}", "max"),
  "active_units": ("active units", "{:.1f}", "max"),
  "inception_score_samples": ("IS (samples)", "{:.2f}", "max"),
  "frechet_samples": ("FD (samples)", "{:.2f}", "min"),
  "inception_score_means": ("IS (means)", "{:.2f}", "max"),
  "inception_score_parameters": ("IS (params)", "{:.2f}", "max"),
  "frechet_means": ("FD (means)", "{:.2f}", "min"),
  "recon_mse": ("recon. MSE", "{:.2f}", "min"),
  "shift_toward_half": ("shift to 0.5", "{:.4f}", "zero"),
  "sharpness_ratio": ("sharpness", "{:.3f}", "one"),
  "train_seconds": ("train time (s)", "{:.0f}", None),
}


def summarize(results: dict) -> dict:
  """decoder -> headline numbers (mean/std over seeds), plus training time from metrics.jsonl."""
  table = {}
  for decoder, result in results.items():
    row = evaluation.headline(result)
    rows = wd.read_metrics(result["workdir"])
    secs = sum(r["seconds"] + r.get("compile_seconds", 0.0) for r in rows)
    row["train_seconds"] = {"mean": secs, "std": 0.0, "per_seed": [secs]}
    table[decoder] = row
  return table


def _cell(row: dict, column: str) -> str:
  if column not in row:
    return "n/a"
  fmt = COLUMNS[column][1]
  m, s = row[column]["mean"], row[column]["std"]
  return fmt.format(m) + (" ± " + fmt.format(s) if len(row[column]["per_seed"]) > 1 else "")


def winners(table: dict) -> dict:
  """column -> (best decoder, its mean) for the comparable columns."""
  out = {}
  for column, (_, _, better) in COLUMNS.items():
    vals = {d: row[column]["mean"] for d, row in table.items() if column in row}
    if better is None or not vals:
      continue
    key = {
      "max": lambda v: -v,
      "min": lambda v: v,
      "one": lambda v: abs(v - 1),
      "zero": lambda v: abs(v),
    }[better]
    best = min(vals, key=lambda d: key(vals[d]))
    out[column] = (best, vals[best])
  return out


def markdown_table(table: dict, flagged: dict | None = None) -> str:
  """The table; with ``flagged`` (decoder -> reasons), a last column says whether it converged."""
  cols = list(COLUMNS)
  extra = flagged is not None
  lines = [
    "| decoder | "
    + " | ".join(COLUMNS[c][0] for c in cols)
    + (" | converged |" if extra else " |"),
    "|---|" + "---|" * (len(cols) + extra),
  ]
  for decoder, row in table.items():
    cells = [_cell(row, c) for c in cols]
    if extra:
      cells.append("**no**" if decoder in flagged else "yes")
    lines.append(f"| {decoder} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


# --------------------------------------------------------------------------------- findings


def findings(table: dict, checks: dict, flagged: dict | None = None) -> list[str]:
  """Sentences generated from the numbers; each claim with its criterion and verdict.

  ``flagged``: decoder -> reasons its run is not converged (``convergence.assess``); a finding
  that rests on such a run gives no verdict and says which runs."""
  flagged = flagged or {}

  def verdict(holds, rests_on) -> str:
    unconverged = [d for d in rests_on if d in flagged]
    if unconverged:
      runs = ", ".join(f"`{d}`" for d in unconverged)
      return f"No verdict: rests on run(s) not converged ({runs})"
    return _verdict(holds)

  out = []
  names = {c: COLUMNS[c][0] for c in COLUMNS}
  for column, (best, value) in winners(table).items():
    compared = [d for d, row in table.items() if column in row]
    unconverged = [d for d in compared if d in flagged]
    text = f"**{names[column]}**: best is `{best}` ({COLUMNS[column][1].format(value)})"
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
  if "mse_identity" in checks:
    gap = checks["mse_identity"]
    out.append(
      f"Claim *MSE is a Gaussian with fixed sigma*: for the trained `{mse}` "
      f"decoder (sigma^2 = 1/2), -log p(x|z) - [sum of squared errors + 392 log pi] has "
      f"largest absolute value {gap:.2e} nats per image over the shown test images. "
      f"Criterion: below 1e-2 (float32 rounding). **{_verdict(gap < 1e-2)}**."
    )
  fixed = table.get(mse)
  learned = {d: r for d, r in table.items() if d in decoders.with_role("learned_sigma")}
  if fixed and learned and "kl" in checks:
    kl = checks["kl"]
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
    header, fmt, better = COLUMNS[column]
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


def _per_decoder_text(config) -> str:
  """The settings that differ for some of the grid's decoders (``config.per_decoder``; entries
  for decoders outside ``config.decoders`` are not run, so not mentioned), in words."""
  per = config.get("per_decoder") or {}
  per = per.to_dict() if hasattr(per, "to_dict") else dict(per)
  items = []
  for decoder in config.decoders:  # in the grid's order
    overrides = per.get(decoder)
    if not overrides:
      continue
    settings = ", ".join(f"{k} = {v}" for k, v in wd.flatten(overrides).items())
    items.append(f"`{decoder}`: {settings}")
  return (" Except, per decoder: " + "; ".join(items) + ".") if items else ""


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
  """Writes REPORT.md and its figures into ``workdir``; returns the report's path."""
  table = summarize(results)
  criteria = config.get("convergence") or convergence.default_config()
  assessed = {
    d: convergence.assess(wd.read_metrics(r["workdir"]), criteria) for d, r in results.items()
  }
  flagged = {d: a["flags"] for d, a in assessed.items() if a["flags"]}
  checks = figures.image_figures(workdir, results)
  figures.sigma_figure(os.path.join(workdir, "sigma.png"), results)
  figures.intensity_figure(os.path.join(workdir, "intensity.png"), results)
  figures.learning_curves_figure(os.path.join(workdir, "learning_curves.png"), results)
  figures.loss_geometry_figure(
    os.path.join(workdir, "loss_geometry.png"), checks.get("sigma_shared")
  )
  t, e = config.train, config.eval
  lines = [
    f"# Decoder study: `{config.variant}`",
    "",
    f"Command: `python -m experiments.study --config experiments/configs/study.py:{config.variant} "
    f"--workdir {workdir}`",
    "",
    f"Budget, the same for every decoder: {t.model.arch} {list(t.model.hidden)} latent "
    f"{t.model.latent_dim}, {t.data.protocol} MNIST ({t.data.train_size or 60000} training "
    f"images), {t.num_epochs} epochs, batch {t.batch_size}, {t.optimizer.name} "
    f"lr {t.optimizer.learning_rate}, {t.num_seeds} seeds (mean ± std over seeds). Evaluation on "
    f"{e.test_size or 10000} test images, K = {e.num_importance_samples} importance samples."
    + _per_decoder_text(config),
    "",
    "## Table",
    "",
    markdown_table(table, flagged),
    "",
    "Columns: *ELBO* and *IW log-lik.* are under each decoder's own likelihood (nats, higher is "
    "better) and are **not comparable across decoders** (a Bernoulli on grey pixels is not a "
    "density). *bits/dim (common)*: every decoder's importance-weighted density at the same "
    "dequantized test set ((pixel + u)/256, one fixed noise seed), lower is better; for the "
    "Bernoulli decoder its lambda is read as the mean of a continuous Bernoulli (the CB paper's "
    "inverse-mean map). *8-bit NLL*: exact discretized likelihood of the integer test images "
    "(nats; decoders with an 8-bit pmf: a cdf discretized, or native). *IS/FD*: inception score and Frechet distance in the features "
    "of this project's MNIST classifier, of images from the prior: decoder samples, decoder "
    "means, and decoder parameters (lambda for Bernoulli and CB, the CB paper's choice; the mean "
    "otherwise). *converged*: see Convergence below. *recon. MSE*: summed squared error of the "
    "reconstruction mean. *shift to 0.5*: mean over pixels of sign(0.5 - x)(recon - x). "
    "*sharpness*: image-gradient energy of reconstructions over the data's (1 = as sharp).",
    "",
    "## Findings (generated from the numbers above)",
    "",
    *[f"- {s}" for s in findings(table, checks, flagged)],
    "",
    "## Convergence",
    "",
    f"A run is flagged when its test ELBO still rose over the last {100 * criteria.window:.0f}% "
    f"of its epochs by more than {criteria.max_elbo_rise_nats:g} nats per image, or a learned "
    f"sigma is more "
    f"than {100 * criteria.max_sigma_gap:.0f}% from its analytic optimum (the root mean squared "
    "error of the decoder mean as trained: with dropout on, where the run logged it; runs "
    "logged before it was, at test); findings that rest on a flagged run give no verdict.",
    "",
    *[
      f"- `{d}`: "
      + ("; ".join(a["flags"]) if a["flags"] else "converged")
      + (f" (ELBO rise over the window {a['elbo_rise']:+.1f} nats)" if "elbo_rise" in a else "")
      for d, a in assessed.items()
    ],
    "",
    "## Figures",
    "",
    "![reconstructions](reconstructions.png)",
    "",
    "The same test digits reconstructed by each decoder: its mean, and for Bernoulli and "
    "continuous Bernoulli also lambda.",
    "",
    "![samples](samples.png)",
    "",
    "![intensity](intensity.png)",
    "",
    "![loss geometry](loss_geometry.png)",
    "",
    "Per-pixel negative log-likelihood against the prediction for three targets; the dot marks "
    "each minimum (BCE's is at the target but asymmetric; the CB's lambda minimum is not the "
    "target, its mean is). The 8-bit discretized logistic (as the density 256 P(bin)) is "
    "quadratic near the target and linear away from it: its slope is bounded by 1/s, a robust "
    "loss, where the Gaussian's grows without bound.",
    "",
    "![learning curves](learning_curves.png)",
    "",
    "![sigma](sigma.png)",
    "",
    figures.SIGMA_CAPTION,
    "",
    "Runs: " + ", ".join(f"[{d}](runs/{d}/eval.json)" for d in results),
    "",
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
