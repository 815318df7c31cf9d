"""The report of a study on a rate axis (``config.kl_weights``): the folk claims answered
(``vae.study.claims``), the decoders compared at common rates (``vae.study.matched_rate``) and
every decoder's curves against the rate (``vae.study.rate_figures``).

Written from the runs' files only (metrics.jsonl, eval.json, per_image.npz), like the study's
report.
"""

from __future__ import annotations

import os

import numpy as np

from vae import workdir as wd
from vae.evaluation import measures, per_image
from vae.study import claims, matched_rate, per_run, rate_figures, sections, verdicts

# the rate report's figures, kept with a previous report
FILES = ("rate_distortion.png", "samples_and_latents.png", "learning_curves.png", "sigma_vae.png")


def per_image_names() -> set[str]:
  """The per-image arrays a measure's column declares (``Column.per_image_key``): the names a
  comparison's ``measure`` may take."""
  return {c.per_image_key for c in measures.columns().values() if c.per_image_key}


def check_config(config) -> None:
  """The study's comparisons and rate settings, checked before anything runs: a ValueError names
  a bad field, a fraction outside [0, 1] or a measure no evaluation writes per image (on a rate
  axis, also a run's per-seed numbers: ``vae.study.per_run``)."""
  for field, known in (
    ("comparisons", per_image_names()),
    ("rate_comparisons", per_image_names() | set(per_run.NAMES)),
  ):
    for entry in config.get(field) or ():
      c = verdicts.Comparison.from_config(entry)
      if c.measure not in known:
        raise ValueError(
          f"{field}: claim {c.claim} names measure {c.measure!r}, which no evaluation writes per "
          f"image; measures: {sorted(known)}"
        )
  fractions = tuple(config.get("rate_fractions") or ())
  if any(not 0 <= f <= 1 for f in fractions):
    raise ValueError(f"rate_fractions={fractions!r}: each must be in [0, 1] (of the common range)")


def by_budget_and_weight(results: dict) -> dict:
  """(budget, weight, decoder) -> result as budget -> decoder -> weight -> result."""
  out = {}
  for (budget, weight, decoder), result in results.items():
    out.setdefault(budget, {}).setdefault(decoder, {})[weight] = result
  return out


def arrays_of(grid: dict, names) -> dict:
  """decoder -> ``matched_rate.stack`` of its runs' per-image arrays and per-seed numbers
  (``per_run``, repeated over the images), weights ascending."""
  out = {}
  for decoder, runs in grid.items():
    per_weight = {}
    for weight, result in runs.items():
      try:
        arrays = per_image.load(result["workdir"])
      except FileNotFoundError:
        per_weight[weight] = None
        continue
      n = arrays[matched_rate.RATE_KEY].shape[-1]
      per_weight[weight] = {**arrays, **per_run.load(result["workdir"], n)}
    stacked = matched_rate.stack(per_weight, names)
    if stacked is not None:
      out[decoder] = stacked
  return out


def judge_all(config, grids: dict) -> tuple[list[dict], dict, dict]:
  """Every rate comparison at every budget and common rate; budget -> (a, b) -> the pair's
  common rates; budget -> decoder -> its stacked per-image arrays (``arrays_of``)."""
  settings = config.get("verdict") or verdicts.default_config()
  fractions = tuple(config.get("rate_fractions") or matched_rate.DEFAULT_FRACTIONS)
  comparisons = tuple(
    verdicts.Comparison.from_config(e) for e in config.get("rate_comparisons") or ()
  )
  wanted = (
    {c.measure for c in comparisons}
    | {m for m, _ in rate_figures.RECONSTRUCTION_CURVES + rate_figures.SAMPLE_AND_LATENT_CURVES}
    | set(per_run.NAMES)
    | {"elbo", "elbo/kl"}
  )
  rates, arrays = {}, {}
  for budget, grid in grids.items():
    arrays[budget] = arrays_of(grid, wanted)
    rates[budget] = {
      (c.a, c.b): matched_rate.pair_rates(arrays[budget], c.a, c.b, fractions) for c in comparisons
    }
  judged = []
  for c in comparisons:
    rows = {}
    for budget in sorted(grids):
      targets = rates[budget][(c.a, c.b)]
      if not targets:  # say why there is no common rate, at every point
        missing = [d for d in (c.a, c.b) if d not in arrays[budget]]
        why = (
          f"`{missing[0]}` is not on this rate axis"
          if missing
          else "the two decoders' ranges of rates do not overlap"
        )
        for i in range(len(fractions)):
          rows[(budget, i)] = {"verdict": None, "why": why}
      for i, target in enumerate(targets):
        rows[(budget, i)] = matched_rate.judge_at(c, arrays[budget], target, settings)
    per_point = {}
    for i in range(len(fractions)):
      at = {b: rows[(b, i)] for b in sorted(grids) if (b, i) in rows}
      per_point[i] = verdicts.across_budgets(at)
    judged.append({"comparison": c, "rows": rows, "overall": per_point})
  return judged, rates, arrays


def verdict_lines(judged: list[dict], rates: dict, settings) -> list[str]:
  if not judged:
    return ["No matched-rate comparisons in the config (`rate_comparisons`)."]
  budgets = sorted(rates)
  points = len(judged[0]["overall"])
  lines = []
  pairs = {tuple(sorted(p)): p for p in rates[budgets[0]]}.values()  # each pair once
  for pair in pairs:
    shown = "; ".join(
      f"{b} epochs: " + (", ".join(f"{r:.1f}" for r in rates[b][pair]) + " nats" if rates[b][pair]
                         else "none (their ranges of rates do not overlap)")
      for b in budgets
    )  # fmt: skip
    lines.append(f"- common rates of `{pair[0]}` and `{pair[1]}`: {shown}")
  lines += ["", "| claim | statement | measure | A vs B | point | " + " | ".join(f"{b} epochs" for b in budgets) + " | verdict |",
            "|---|---|---|---|---|" + "---|" * len(budgets) + "---|"]  # fmt: skip
  for item in judged:
    c = item["comparison"]
    arrow = ">" if c.direction == "greater" else "<"
    for i in range(points):
      cells = []
      for b in budgets:
        r = item["rows"].get((b, i))
        if r is None:
          cells.append("no common rate")
        elif r.get("verdict") is None:
          cells.append(f"not computed: {r['why']}")
        else:
          on = f" (on {r['n']} of {r['of']} images)" if r["n"] < r["of"] else ""
          cells.append(
            f"at {r['rate']:.1f} nats: {r['a_mean']:.4g}, {r['b_mean']:.4g}; {r['estimate']:.4g} "
            f"[{r['low']:.4g}, {r['high']:.4g}]: {r['verdict']}{on}"
          )
      lines.append(
        f"| {c.claim} | {c.statement} | `{c.measure}` | `{c.a}` {arrow} `{c.b}` | rate {i + 1} | "
        + " | ".join(cells)
        + f" | **{item['overall'].get(i, 'not computed')}** |"
      )
  lines += [
    "",
    f"Rule (vae/study/matched_rate.py, fixed before the runs): each decoder's value at a rate is "
    f"its curve (per KL weight, the means over its seeds of rate and measure) read there, linear "
    f"in log rate between neighbouring weights; the interval a {100 * settings.level:.0f}% two-level bootstrap "
    f"({settings.num_bootstrap} replicates) that re-reads rates and measure on the drawn test "
    f"images; holds / does not hold / no difference detected as for the named-pair verdicts.",
  ]
  return lines


def sigma0_of(grids: dict) -> float | None:
  """sigma_0 of the fixed-sigma Gaussian's runs (their config.json), or None without one."""
  for grid in grids.values():
    for result in grid.get(claims.MSE, {}).values():
      path = os.path.join(result["workdir"], "config.json")
      if os.path.exists(path):
        return claims.fixed_sigma(wd.read_json(path))
  return None


def write_rate_report(workdir: str, config, results: dict) -> str:
  """REPORT.md and its figures (``FILES``) of a study on a rate axis; returns the report's path."""
  grids = by_budget_and_weight(results)
  settings = config.get("verdict") or verdicts.default_config()
  judged, rates, arrays = judge_all(config, grids)
  weights_of = {b: {d: np.array(sorted(runs)) for d, runs in g.items()} for b, g in grids.items()}
  sigma0 = sigma0_of(grids)
  found = claims.answers(config, judged, arrays, weights_of, sigma0)
  final = max(grids)
  rate_figures.curves_figure(os.path.join(workdir, "rate_distortion.png"), arrays[final])
  rate_figures.curves_figure(
    os.path.join(workdir, "samples_and_latents.png"),
    arrays[final],
    rate_figures.SAMPLE_AND_LATENT_CURVES,
  )
  rate_figures.learning_curves_figure(os.path.join(workdir, "learning_curves.png"), grids[final])
  if sigma0 is not None:
    rate_figures.sigma_vae_figure(
      os.path.join(workdir, "sigma_vae.png"), arrays[final], weights_of[final], sigma0
    )
  shared = sorted(set.intersection(*(set(runs) for g in grids.values() for runs in g.values())))
  extra = {
    d: sorted(set(runs) - set(shared))
    for g in grids.values()
    for d, runs in g.items()
    if set(runs) - set(shared)
  }
  weights = ", ".join(f"{w:g}" for w in shared) + "".join(
    f" (`{d}` also {', '.join(f'{w:g}' for w in ws)})" for d, ws in extra.items()
  )
  lines = [
    f"# Rate-distortion study: `{config.variant}`",
    "",
    f"Command: `python -m experiments.study --config experiments/configs/study.py:{config.variant} "
    f"--workdir {workdir}`",
    "",
    sections.budget(config, budgets=sorted(grids), kl_weight=weights),
    "",
    "## The folk claims",
    "",
    "Each claim of ../shared/docs/folk-claims.md, judged by the rule fixed before the runs "
    "(vae/study/claims.py): a verdict per budget, stable when the budgets agree.",
    "",
    *claims.table_lines(found, settings),
    "",
    "## Decoders at the same rate",
    "",
    *verdict_lines(judged, rates, settings),
    "",
    "## Curves",
    "",
    *sections.figure("rate_distortion.png", rate_figures.CURVES_CAPTION),
    *sections.figure("samples_and_latents.png"),
    *sections.figure("learning_curves.png", rate_figures.LEARNING_CAPTION),
    *(sections.figure("sigma_vae.png", rate_figures.SIGMA_CAPTION) if sigma0 is not None else []),
    *sections.runs(
      {
        f"{d} (kl {w:g}, {b} epochs)": os.path.relpath(r["workdir"], workdir)
        for b, g in sorted(grids.items())
        for d, runs in g.items()
        for w, r in sorted(runs.items())
      }
    ),
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
