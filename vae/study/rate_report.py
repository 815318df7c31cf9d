"""The report of a study on a rate axis (``config.kl_weights``): every decoder's rate-distortion
curves and the decoders compared at common rates (``vae.study.matched_rate``).

Written from the runs' files only (eval.json, per_image.npz), like the study's report.
"""

from __future__ import annotations

import os

import numpy as np

from vae import workdir as wd
from vae.evaluation import figures as eval_figures
from vae.evaluation import measures, per_image
from vae.study import matched_rate, sections, verdicts

FILES = ("rate_distortion.png",)  # the rate report's figures, kept with a previous report


def per_image_names() -> set[str]:
  """The per-image arrays a measure's column declares (``Column.per_image_key``): the names a
  comparison's ``measure`` may take."""
  return {c.per_image_key for c in measures.columns().values() if c.per_image_key}


def check_config(config) -> None:
  """The study's comparisons and rate settings, checked before anything runs: a ValueError names
  a bad field, a fraction outside [0, 1] or a measure no evaluation writes per image."""
  known = per_image_names()
  for field in ("comparisons", "rate_comparisons"):
    for entry in config.get(field) or ():
      c = verdicts.Comparison.from_config(entry)
      if c.measure not in known:
        raise ValueError(
          f"{field}: claim {c.claim} names measure {c.measure!r}, which no evaluation writes per "
          f"image; per-image measures: {sorted(known)}"
        )
  fractions = tuple(config.get("rate_fractions") or ())
  if any(not 0 <= f <= 1 for f in fractions):
    raise ValueError(f"rate_fractions={fractions!r}: each must be in [0, 1] (of the common range)")


# The per-image measures the curves show: (key of per_image.npz, axis label).
CURVES = (
  ("intensity/calibration_toward_half", "calibration bias toward 0.5 (all pixels)"),
  ("intensity/calibration_toward_half_grey", "calibration bias toward 0.5 (grey predictions)"),
  ("intensity/error_extremes_abs", "mean |error|, near-binary pixels"),
  ("intensity/error_midtones_abs", "mean |error|, mid-tones"),
  ("intensity/mse", "summed squared error"),
  ("intensity/sharpness_ratio", "sharpness (gradient energy ratio)"),
  ("common/log_likelihood", "log-likelihood, common measure (nats)"),
)


def by_budget_and_weight(results: dict) -> dict:
  """(budget, weight, decoder) -> result as budget -> decoder -> weight -> result."""
  out = {}
  for (budget, weight, decoder), result in results.items():
    out.setdefault(budget, {}).setdefault(decoder, {})[weight] = result
  return out


def arrays_of(grid: dict, names) -> dict:
  """decoder -> ``matched_rate.stack`` of its runs' per-image arrays (weights ascending)."""
  out = {}
  for decoder, runs in grid.items():
    per_weight = {}
    for weight, result in runs.items():
      try:
        per_weight[weight] = per_image.load(result["workdir"])
      except FileNotFoundError:
        per_weight[weight] = None
    stacked = matched_rate.stack(per_weight, names)
    if stacked is not None:
      out[decoder] = stacked
  return out


def judge_all(config, grids: dict) -> tuple[list[dict], dict, dict]:
  """Every rate comparison at every budget and common rate; budget -> the common rates; budget
  -> decoder -> its stacked per-image arrays (``arrays_of``)."""
  settings = config.get("verdict") or verdicts.default_config()
  fractions = tuple(config.get("rate_fractions") or matched_rate.DEFAULT_FRACTIONS)
  comparisons = tuple(
    verdicts.Comparison.from_config(e) for e in config.get("rate_comparisons") or ()
  )
  wanted = {c.measure for c in comparisons} | {m for m, _ in CURVES}
  rates, arrays = {}, {}
  for budget, grid in grids.items():
    arrays[budget] = arrays_of(grid, wanted)
    means = {d: np.nanmean(a["rate"], axis=(1, 2)) for d, a in arrays[budget].items()}
    rates[budget] = matched_rate.common_rates(means, fractions) if means else ()
  judged = []
  for c in comparisons:
    rows = {}
    for budget in sorted(grids):
      for i, target in enumerate(rates[budget]):
        rows[(budget, i)] = matched_rate.judge_at(c, arrays[budget], target, settings)
    per_point = {}
    for i in range(len(fractions)):
      at = {b: rows[(b, i)] for b in sorted(grids) if (b, i) in rows}
      per_point[i] = verdicts.across_budgets(at)
    judged.append({"comparison": c, "rows": rows, "overall": per_point})
  return judged, rates, arrays


def curves_figure(path: str, arrays: dict) -> None:
  """One panel per measure of ``CURVES``: each decoder's mean over seeds against its rate, with
  the band of its seeds (min to max of the per-seed means), rate on a log axis."""
  plt = eval_figures.pyplot()
  shown = [(m, label) for m, label in CURVES if any(m in a for a in arrays.values())]
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
  handles, labels = axes[0, 0].get_legend_handles_labels()
  fig.legend(
    handles, labels, loc="lower center", ncol=min(6, len(labels)), fontsize=7, frameon=False
  )
  fig.tight_layout(rect=(0, 0.06, 1, 1))
  fig.savefig(path, dpi=100)
  plt.close(fig)


CURVES_CAPTION = (
  "Each decoder's rate-distortion curves at the largest budget: per KL weight, the measure's mean "
  "over seeds (of each seed's mean over the test images) against the mean test KL, the band the "
  "range over seeds. A reconstruction measure compared across decoders means something only at the "
  "same rate: read the curves at a vertical line."
)


def verdict_lines(judged: list[dict], rates: dict, settings) -> list[str]:
  if not judged:
    return ["No matched-rate comparisons in the config (`rate_comparisons`)."]
  budgets = sorted(rates)
  points = len(judged[0]["overall"])
  lines = []
  for b in budgets:
    shown = (
      ", ".join(f"{r:.1f}" for r in rates[b]) + " nats"
      if rates[b]
      else "none (the decoders' ranges of rates do not overlap)"
    )
    lines.append(f"- common rates at {b} epochs: {shown}")
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


def write_rate_report(workdir: str, config, results: dict) -> str:
  """REPORT.md and rate_distortion.png of a study on a rate axis; returns the report's path."""
  grids = by_budget_and_weight(results)
  settings = config.get("verdict") or verdicts.default_config()
  judged, rates, arrays = judge_all(config, grids)
  final = max(grids)
  curves_figure(os.path.join(workdir, "rate_distortion.png"), arrays[final])
  weights = sorted({w for g in grids.values() for runs in g.values() for w in runs})
  lines = [
    f"# Rate-distortion study: `{config.variant}`",
    "",
    f"Command: `python -m experiments.study --config experiments/configs/study.py:{config.variant} "
    f"--workdir {workdir}`",
    "",
    sections.budget(config, budgets=sorted(grids), kl_weight=", ".join(f"{w:g}" for w in weights)),
    "",
    "## Decoders at the same rate",
    "",
    *verdict_lines(judged, rates, settings),
    "",
    "## Curves",
    "",
    *sections.figure("rate_distortion.png", CURVES_CAPTION),
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
