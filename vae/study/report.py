"""The study report: REPORT.md with the table, figures and findings computed from the results.

Nothing in the verdicts is written by hand: each row is generated from the per-image numbers
of two named decoders (``vae.study.verdicts``: a comparison fixed in the config, a bootstrap
interval, a printed rule), at every budget of the study.
"""

from __future__ import annotations

import os

import numpy as np

from likelihoods import decoders
from vae import workdir as wd
from vae.evaluation import per_image
from vae.study import convergence, figures, records, sections, verdicts


def columns() -> dict:
  """The study table's columns: every column a measure declares for it, then the run's own."""
  return records.columns("study")


# --------------------------------------------------------------------------------- verdicts


def _per_image(runs: dict) -> dict:
  """decoder -> its evaluation's per-image arrays (``vae.evaluation.per_image``), or None."""
  out = {}
  for decoder, record in runs.items():
    try:
      out[decoder] = per_image.load(record.workdir)
    except FileNotFoundError:
      out[decoder] = None
  return out


def judge_all(config, runs_by_budget: dict) -> list[dict]:
  """Every comparison of the config at every budget: [{"comparison", "by_budget": {budget:
  ``verdicts.judge``}, "overall"}], with each decoder's rate (mean test KL per image) beside."""
  settings = config.get("verdict") or verdicts.default_config()
  arrays = {b: _per_image(runs) for b, runs in runs_by_budget.items()}
  out = []
  for c in verdicts.comparisons(config):
    by_budget = {}
    for b in sorted(runs_by_budget):
      r = verdicts.judge(c, arrays[b], settings)
      for side, name in (("a", c.a), ("b", c.b)):
        kl = (arrays[b].get(name) or {}).get(RATE_KEY)
        if kl is not None:
          r[f"{side}_rate"] = float(np.nanmean(kl))
      by_budget[b] = r
    out.append(
      {"comparison": c, "by_budget": by_budget, "overall": verdicts.across_budgets(by_budget)}
    )
  return out


RATE_KEY = "elbo/kl"  # the per-image KL of the final evaluation: the rate beside every verdict


def verdict_lines(judged: list[dict], settings) -> list[str]:
  """The verdict table: per comparison and budget, A and B, A - B with its interval and the
  verdict, each decoder's rate; the overall verdict across budgets."""
  if not judged:
    return []
  budgets = sorted(judged[0]["by_budget"])
  head = " | ".join(
    f"{b} epochs: A, B; A - B [{100 * settings.level:.0f}% interval]; rate A, B" for b in budgets
  )
  lines = [
    "| claim | statement | measure | A vs B | " + head + " | verdict |",
    "|---|---|---|---|" + "---|" * len(budgets) + "---|",
  ]
  for item in judged:
    c = item["comparison"]
    cells = [sections.verdict_cell(item["by_budget"][b]) for b in budgets]
    arrow = ">" if c.direction == "greater" else "<"
    lines.append(
      f"| {c.claim} | {c.statement} | `{c.measure}` | `{c.a}` {arrow} `{c.b}` | "
      + " | ".join(cells)
      + f" | **{item['overall']}** |"
    )
  lines += [
    "",
    f"Rule, fixed before the runs (vae/study/verdicts.py): the claim is that A {'>'} or {'<'} B "
    f"as the arrow says; A and B are each decoder's mean over its seeds of its mean over the "
    f"same test images; the interval is a {100 * settings.level:.0f}% two-level bootstrap "
    f"({settings.num_bootstrap} replicates: test images drawn with replacement once for both "
    f"decoders, each decoder's seeds drawn on their own, their spread inflated by sqrt(S/(S-1)); "
    f"images one decoder lacks the number on are left out for both; a decoder with one seed "
    f"gets no verdict). **holds**: the interval lies wholly on "
    f"the claimed side of 0; **does not hold**: wholly on the other side; **no difference "
    f"detected**: it contains 0. Over the budgets: the same verdict at each is *stable*, "
    f"different ones are **budget-dependent** (both numbers shown). KL: each decoder's rate, "
    f"nats per test image: a reconstruction measure means little without it.",
  ]
  return lines


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
  ``results``: (budget, decoder) -> its evaluation, or decoder -> its evaluation for a study of
  one budget (``grid.run_grid``)."""
  criteria = config.get("convergence") or convergence.default_config()
  by_budget = {}
  for key, result in results.items():
    budget, decoder = key if isinstance(key, tuple) else (config.train.num_epochs, key)
    by_budget.setdefault(budget, {})[decoder] = result
  runs = {b: records.build(r, criteria) for b, r in sorted(by_budget.items())}
  return write_records(workdir, config, runs, criteria)


def write_records(workdir: str, config, runs_by_budget: dict, criteria) -> str:
  """REPORT.md and its figures from ``runs_by_budget`` (budget -> decoder -> ``records.Record``):
  the table, figures and drift of the largest budget, the verdicts at every budget."""
  final = max(runs_by_budget)
  runs = runs_by_budget[final]
  settings = config.get("verdict") or verdicts.default_config()
  judged = judge_all(config, runs_by_budget)
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
    sections.budget(config, budgets=sorted(runs_by_budget)),
    "",
    "## Verdicts (generated from the numbers; the comparisons are fixed in the config)",
    "",
    *(verdict_lines(judged, settings) or ["No comparisons in the config (`comparisons`)."]),
    "",
    f"## Table ({final} epochs)",
    "",
    *sections.table(runs, shown, converged=False),
    "",
    *sections.column_definitions(shown),
    "",
  ]
  for budget in sorted(runs_by_budget)[:-1]:
    lines += [
      f"### Table at {budget} epochs",
      "",
      *sections.table(runs_by_budget[budget], shown, converged=False),
      "",
    ]
  lines += [
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
    *sections.runs(
      {
        (d if len(runs_by_budget) == 1 else f"{d} ({b} epochs)"): os.path.relpath(
          r.workdir, workdir
        )
        for b, rs in runs_by_budget.items()
        for d, r in rs.items()
      }
    ),
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
