"""A sweep's report: REPORT.md, sweep.json and figures; the verdicts first, then every headline
measure against the axis.

**Verdicts**, generated from the per-image numbers (``vae.evaluation.per_image``) by the study's
rules, none written by hand and none withheld: each named comparison of the config
(``config.comparisons``) judged at every value of the axis and every budget
(``verdicts.judge``: a paired two-level bootstrap interval, the verdict by the interval against
0), marked stable or budget-dependent over the budgets (``verdicts.across_budgets``); and each
trend (``config.trends``, ``vae.study.trend``): whether the difference between two decoders
changes from one value of the axis to another, with an interval of the same kind, at every
budget. The convergence check (``convergence.assess``) is shown as information only: a verdict is
never withheld; the two budgets say whether it depends on the budget.

Then, per measure and decoder at the largest budget, the mean over seeds at each value of the
axis with the spread over seeds (the figures' bands span the seeds' minimum to maximum; the
tables give mean ± std); the smaller budgets' tables follow. For the warped protocol, the columns
that say nothing about warped data (``Column.warped``: the common dequantized density, the 8-bit
likelihood, the Frechet distances to un-warped images) are left out.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vae import workdir as wd
from vae.evaluation import per_image
from vae.study import convergence, figures, records, sections, trend, verdicts
from vae.study.axes import axis_of, format_value, point_label, values_of


def measures() -> dict:
  """The sweep's measures: every column declared for sweeps (``records.columns("sweep")``)."""
  return records.columns("sweep")


FILES = (
  "REPORT.md",
  "sweep.json",
  "measures.png",
  "likelihoods.png",
  "learning_curves.png",
  "sigma.png",
  "points",
)


# ------------------------------------------------------------------------------ the numbers


def curves(runs: dict, labels: list[str], decoders: list[str]) -> dict:
  """measure -> decoder -> per value (``labels``, in order) None or {"mean", "std", "min",
  "max", "per_seed"} over the seeds; ``runs``: (label, decoder) -> ``records.Record``."""
  out = {}
  for measure in measures():
    per_decoder = {}
    for decoder in decoders:
      points = []
      for label in labels:
        record = runs.get((label, decoder))
        entry = record.headline.get(measure) if record else None
        if entry is None:
          points.append(None)
        else:
          seeds = entry["per_seed"]
          points.append({**entry, "min": float(min(seeds)), "max": float(max(seeds))})
      if any(p is not None for p in points):
        per_decoder[decoder] = points
    if per_decoder:
      out[measure] = per_decoder
  return out


def reported_measures(curves_: dict, protocol: str) -> list[str]:
  """The measures of ``curves_`` the report shows: for warped data, those meaningful on it."""
  return [
    m for m, c in measures().items() if m in curves_ and not (protocol == "warped" and c.warped)
  ]


# ------------------------------------------------------------------------------------ report


def measure_table(measure: str, curve: dict, value_texts: list[str], flagged: dict) -> str:
  column = records.all_columns()[measure]
  lines = [
    "| decoder | " + " | ".join(value_texts) + " |",
    "|---|" + "---|" * len(value_texts),
  ]
  for decoder, points in curve.items():
    cells = [sections.cell(p, column, (i, decoder) in flagged) for i, p in enumerate(points)]
    lines.append(f"| {decoder} | " + " | ".join(cells) + " |")
  return "\n".join(lines)


def _log_x(values) -> bool:
  return min(values) > 0 and max(values) / min(values) >= 8


def _atoms_note(config) -> list[str]:
  """Why some density decoders cannot converge on warped data (the protocol has atoms)."""
  if config.train.data.protocol != "warped":
    return []
  return [
    "",
    "Warped MNIST has atoms: for gamma <= 0 many pixels are exactly 0 or 1, for gamma > 0 the "
    "background is exactly gamma (no dequantization noise spreads them). A density decoder "
    "that can put unbounded density on a point keeps raising its likelihood there with any "
    "budget: the Beta (concentrating on the atom; its data clip to [pixel_eps, 1 - pixel_eps] "
    "keeps the atoms), a per-pixel or decoder sigma, and the continuous Bernoulli at 0 and 1 "
    "unless lambda is clipped (log C(lambda) grows like log|logit|). Such runs show a drift "
    "here (information only: no verdict is withheld for it).",
  ]


# ---------------------------------------------------------------------------------- verdicts


RATE_KEY = "elbo/kl"  # the per-image KL: each decoder's rate, printed beside every verdict


def load_per_image(runs_by_budget: dict, values, labels) -> dict:
  """budget -> axis value -> decoder -> the run's per-image arrays (None without them), from
  ``runs_by_budget``: budget -> (label, decoder) -> ``records.Record``."""
  value_of = dict(zip(labels, values))
  out = {}
  for budget, runs in runs_by_budget.items():
    per_value = {v: {} for v in values}
    for (label, decoder), record in runs.items():
      try:
        per_value[value_of[label]][decoder] = per_image.load(record.workdir)
      except FileNotFoundError:
        per_value[value_of[label]][decoder] = None
    out[budget] = per_value
  return out


def judge_comparisons(config, arrays: dict, values) -> list[dict]:
  """Every comparison of the config at every value and budget: [{"comparison", "value",
  "by_budget": {budget: ``verdicts.judge`` with "a_rate", "b_rate"}, "overall"}], comparisons
  first, then values."""
  settings = config.get("verdict") or verdicts.default_config()
  out = []
  for c in verdicts.comparisons(config):
    for value in values:
      by_budget = {}
      for budget in sorted(arrays):
        runs = arrays[budget][value]
        r = verdicts.judge(c, runs, settings)
        for side, name in (("a", c.a), ("b", c.b)):
          kl = (runs.get(name) or {}).get(RATE_KEY)
          if kl is not None:
            r[f"{side}_rate"] = float(np.nanmean(kl))
        by_budget[budget] = r
      out.append(
        {
          "comparison": c,
          "value": value,
          "by_budget": by_budget,
          "overall": verdicts.across_budgets(by_budget),
        }
      )
  return out


def judge_trends(config, arrays: dict, values) -> list[dict]:
  """Every trend of the config at every budget: [{"trend", "by_budget": {budget:
  ``trend.judge``}, "overall"}]."""
  settings = config.get("verdict") or verdicts.default_config()
  out = []
  for t in trend.trends(config):
    by_budget = {b: trend.judge(t, arrays[b], settings, values) for b in sorted(arrays)}
    out.append({"trend": t, "by_budget": by_budget, "overall": verdicts.across_budgets(by_budget)})
  return out


_fmt = sections.number


def _pair(c: verdicts.Comparison) -> str:
  return f"`{c.a}` {'>' if c.direction == 'greater' else '<'} `{c.b}`"


def _interval(r: dict) -> str:
  return f"{_fmt(r['estimate'])} [{_fmt(r['low'])}, {_fmt(r['high'])}]"


def _images(r: dict) -> str:
  return f" (on the {r['n']} of {r['of']} images every run has it for)" if r["n"] < r["of"] else ""


def verdict_lines(judged: list[dict], budgets, axis: str, fmt_value, settings) -> list[str]:
  """The verdict table: per comparison and value of the axis, each budget's A and B, A - B with
  its interval and verdict, and each decoder's KL; the verdict over the budgets."""
  if not judged:
    return ["No comparisons in the config (`comparisons`)."]
  head = " | ".join(
    f"{b} epochs: A, B; A - B [{100 * settings.level:.0f}% interval]: verdict; KL A, B"
    for b in budgets
  )
  lines = [
    f"| claim | statement | measure | A vs B | {axis} | " + head + " | over budgets |",
    "|---|---|---|---|---|" + "---|" * len(budgets) + "---|",
  ]
  for item in judged:
    c = item["comparison"]
    cells = [sections.verdict_cell(item["by_budget"][b]) for b in budgets]
    lines.append(
      f"| {c.claim} | {c.statement} | `{c.measure}` | {_pair(c)} | {fmt_value(item['value'])} | "
      + " | ".join(cells)
      + f" | **{item['overall']}** |"
    )
  return lines


def trend_lines(judged: list[dict], budgets, axis: str, fmt_value, settings) -> list[str]:
  """The trend table: per trend, each budget's d = A - B at both ends and the change with its
  interval and verdict; the verdict over the budgets."""
  if not judged:
    return ["No trends in the config (`trends`)."]
  head = " | ".join(
    f"{b} epochs: d(from), d(to); d(to) - d(from) [{100 * settings.level:.0f}% interval]: verdict"
    for b in budgets
  )
  lines = [
    f"| claim | statement | measure | d = A - B | {axis}: from → to | "
    + head
    + " | over budgets |",
    "|---|---|---|---|---|" + "---|" * len(budgets) + "---|",
  ]
  for item in judged:
    t = item["trend"]
    c = t.comparison
    cells, ends = [], None
    for b in budgets:
      r = item["by_budget"][b]
      if r.get("verdict") is None:
        cells.append(f"not computed: {r.get('why', '')}")
        continue
      ends = (r["from"], r["to"])
      cells.append(
        f"{_fmt(r['d_from'])}, {_fmt(r['d_to'])}; {_interval(r)}: {r['verdict']}{_images(r)}"
      )
    where = f"{fmt_value(ends[0])} → {fmt_value(ends[1])}" if ends else "–"
    arrow = "rises" if c.direction == "greater" else "falls"
    lines.append(
      f"| {c.claim} | {c.statement} | `{c.measure}` | `{c.a}` - `{c.b}` ({arrow}) | {where} | "
      + " | ".join(cells)
      + f" | **{item['overall']}** |"
    )
  return lines


def rule_text(settings, axis: str) -> str:
  level = f"{100 * settings.level:.0f}%"
  return (
    f"Rule, fixed before the runs (vae/study/verdicts.py, vae/study/trend.py): a comparison "
    f"claims A > B or A < B as its arrow says, at every {axis}; A and B are each decoder's mean "
    f"over its seeds of its mean over the same test images (every run of the sweep is evaluated "
    f"on the same seeded test subset). A trend claims that d = A - B rises or falls from one "
    f"{axis} to another: its estimate is d(to) - d(from). Each interval is a {level} two-level "
    f"bootstrap ({settings.num_bootstrap} replicates: the test images drawn with replacement once "
    f"per replicate for every run compared, at both values for a trend; each run's seeds drawn "
    f"on their own, their spread inflated by sqrt(S/(S-1)); images a run lacks the number on are "
    f"left out for all; a run with one seed gets no verdict). **holds**: the interval lies "
    f"wholly on the claimed side of 0; **does not hold**: wholly on the other side; **no "
    f"difference detected**: it contains 0. Over the budgets: the same verdict at each is "
    f"*stable*, different ones are **budget-dependent** (each budget's numbers shown). KL: each "
    f"decoder's rate, nats per test image."
  )


def _jsonable(r: dict) -> dict:
  return {k: (list(v) if isinstance(v, tuple) else v) for k, v in r.items()}


# ------------------------------------------------------------------------------------ report


def write_report(workdir: str, config, results: dict) -> str:
  """Writes REPORT.md, sweep.json and the figures into ``workdir``; returns the report's path.
  ``results``: (budget, point label, decoder) -> evaluation (``sweep.run_sweep_grid``)."""
  axis = axis_of(config)
  name = config.sweep.axis
  values = values_of(config)
  labels = [point_label(config, v) for v in values]
  texts = [format_value(axis, v) for v in values]
  text_of = lambda v: format_value(axis, v)  # noqa: E731
  decoders = list(config.decoders)
  criteria = config.get("convergence") or convergence.default_config()
  settings = config.get("verdict") or verdicts.default_config()
  by_budget = {}
  for (budget, label, decoder), result in results.items():
    by_budget.setdefault(budget, {})[(label, decoder)] = result
  runs_by_budget = {
    b: records.build(r, criteria, decoder_of=lambda key: key[1])
    for b, r in sorted(by_budget.items())
  }
  budgets = sorted(runs_by_budget)
  final = budgets[-1]
  runs = runs_by_budget[final]
  index = {label: i for i, label in enumerate(labels)}
  flagged_by_budget = {
    b: {(index[lab], d): r.flags for (lab, d), r in rs.items() if r.flags}
    for b, rs in runs_by_budget.items()
  }
  flagged = flagged_by_budget[final]
  data_by_budget = {b: curves(rs, labels, decoders) for b, rs in runs_by_budget.items()}
  data = data_by_budget[final]
  protocol = config.train.data.protocol
  shown = reported_measures(data, protocol)
  declared = measures()
  comparable = [m for m in shown if declared[m].better is not None]
  own = [m for m in shown if declared[m].better is None]
  excluded = [m for m in data if m not in shown]

  arrays = load_per_image(runs_by_budget, values, labels)
  judged = judge_comparisons(config, arrays, values)
  trends = judge_trends(config, arrays, values)

  log_x = _log_x(values)
  figures.sweep_figure(
    os.path.join(workdir, "measures.png"),
    {m: data[m] for m in comparable},
    values,
    {m: f"{declared[m].header} ({declared[m].better_words})" for m in comparable},
    flagged,
    axis.label,
    log_x=log_x,
  )
  figures.sweep_figure(
    os.path.join(workdir, "likelihoods.png"),
    {m: data[m] for m in own},
    values,
    {m: declared[m].header for m in own},
    flagged,
    axis.label,
    log_x=log_x,
  )
  ordered = {(lab, d): runs[(lab, d)] for lab in labels for d in decoders if (lab, d) in runs}
  figures.learning_curves_figure(os.path.join(workdir, "learning_curves.png"), ordered)
  figures.scale_figure(os.path.join(workdir, "sigma.png"), ordered)
  for label in labels:
    folder = os.path.join(workdir, "points", label)
    os.makedirs(folder, exist_ok=True)
    figures.image_figures(folder, {d: r for (lab, d), r in ordered.items() if lab == label})

  total = sum(
    row["seconds"] + row.get("compile_seconds", 0.0)
    for rs in runs_by_budget.values()
    for r in rs.values()
    for row in r.metrics
  )
  wd.write_json(
    os.path.join(workdir, "sweep.json"),
    {
      "axis": name,
      "field": f"train.{axis.field}",
      "values": list(values),
      "labels": labels,
      "decoders": decoders,
      "budgets": budgets,
      "verdicts": [
        {
          **dataclasses.asdict(item["comparison"]),
          "value": item["value"],
          "by_budget": {str(b): _jsonable(r) for b, r in item["by_budget"].items()},
          "overall": item["overall"],
        }
        for item in judged
      ],
      "trends": [
        {
          **dataclasses.asdict(item["trend"].comparison),
          "by_budget": {str(b): _jsonable(r) for b, r in item["by_budget"].items()},
          "overall": item["overall"],
        }
        for item in trends
      ],
      "measures": {m: data[m] for m in shown},  # at the largest budget
      "measures_by_budget": {
        str(b): {m: d[m] for m in shown if m in d} for b, d in data_by_budget.items()
      },
      "drift": {
        str(b): {f"{labels[i]}/{d}": reasons for (i, d), reasons in f.items()}
        for b, f in flagged_by_budget.items()
      },
    },
    indent=1,
  )

  seeds = config.train.num_seeds
  kl_weight = "swept" if name == "kl_weight" else None
  budget_words = " and ".join(str(b) for b in budgets)
  lines = [
    f"# Sweep over the {axis.label}: `{config.variant}`",
    "",
    f"Command: `python -m experiments.sweep --config experiments/configs/sweep.py:"
    f"{config.variant} --workdir {workdir}`",
    "",
    f"Swept `train.{axis.field}` over {', '.join(texts)} for the decoders "
    + ", ".join(f"`{d}`" for d in decoders)
    + f"; each point is one run of {seeds} seed(s) at each budget ({budget_words} epochs, each "
    "run's schedule to its own end). "
    + sections.budget(config, kl_weight=kl_weight, budgets=budgets)
    + f" Training took {total / 60:.1f} minutes in all (the sum over runs).",
    "",
    f"## Verdicts at each {name} (generated from the numbers; the comparisons are fixed in the "
    "config)",
    "",
    *verdict_lines(judged, budgets, name, text_of, settings),
    "",
    f"## Trends along {name} (generated from the numbers; the trends are fixed in the config)",
    "",
    *trend_lines(trends, budgets, name, text_of, settings),
    "",
    rule_text(settings, name),
  ]
  if protocol == "warped":
    lines += [
      "",
      "Measures: under each decoder's own likelihood at the warped test images (not comparable "
      "across decoders), and the comparable ones: 15-NN accuracy and active units of the "
      "encoder means of the warped images, sample quality, and the reconstructions' error, "
      "shift toward 0.5 and sharpness against the warped images. Inception scores come from a "
      "classifier trained on un-warped MNIST, so part of their change along gamma is the "
      "classifier's response to the warp itself, common to every decoder.",
    ]
    if excluded:
      lines += [
        "",
        "Left out, as they say nothing about the warped data: "
        + "; ".join(f"*{declared[m].header}* ({declared[m].warped})" for m in excluded)
        + ".",
      ]
  lines += [
    "",
    f"## Figures ({final} epochs)",
    "",
    "![measures against the axis](measures.png)",
    "",
    "Each panel: the mean over seeds against the axis, with a band from the seeds' minimum to "
    "their maximum; an open marker is a run with a drift (see Drift: information only).",
    "",
    "![likelihoods against the axis](likelihoods.png)",
    "",
    "Each decoder's own likelihood (nats per image, higher is better): not comparable across "
    "decoders (a Bernoulli on grey pixels is not a density; densities of warped data with atoms "
    "are unbounded).",
    "",
    f"## Tables ({final} epochs)",
    "",
    "Mean ± std over seeds; † marks a run with a drift (information only).",
    "",
  ]
  for m in shown:
    column = declared[m]
    lines += [f"### {column.header} ({column.better_words})", "",
              measure_table(m, data[m], texts, flagged), ""]  # fmt: skip
  lines += sections.column_definitions({m: declared[m] for m in shown})
  for budget in budgets[:-1]:
    lines += ["", f"## Tables at {budget} epochs", ""]
    for m in shown:
      if m in data_by_budget[budget]:
        column = declared[m]
        lines += [f"### {column.header} ({column.better_words}), {budget} epochs", "",
                  measure_table(m, data_by_budget[budget][m], texts, flagged_by_budget[budget]),
                  ""]  # fmt: skip
  lines += [
    "",
    "## Drift (information)",
    "",
    sections.convergence_rule(criteria),
    "",
  ]
  for budget in budgets:
    marks = flagged_by_budget[budget]
    lines += [
      f"{budget} epochs:",
      "",
      "| decoder | " + " | ".join(texts) + " |",
      "|---|" + "---|" * len(texts),
      *[
        f"| {d} | "
        + " | ".join("drift" if (i, d) in marks else "no drift" for i in range(len(texts)))
        + " |"
        for d in decoders
      ],
      "",
      *[
        f"- `{d}` at {name} = {texts[index[lab]]}, {budget} epochs: " + "; ".join(r.flags)
        for (lab, d), r in runs_by_budget[budget].items()
        if r.flags
      ],
      "",
    ]
  lines += [
    *_atoms_note(config),
    "",
    f"## Reconstructions and samples at each value ({final} epochs)",
    "",
    *[
      f"- {name} = {text}: [reconstructions](points/{label}/reconstructions.png), "
      f"[samples](points/{label}/samples.png)"
      for label, text in zip(labels, texts)
    ],
    "",
    *sections.figure("learning_curves.png"),
    *sections.figure("sigma.png", figures.SCALE_CAPTION),
    *sections.runs(
      {
        f"{lab} {d} ({b} epochs)": os.path.relpath(r.workdir, workdir)
        for b, rs in runs_by_budget.items()
        for (lab, d), r in rs.items()
      }
    ),
    "Numbers: [sweep.json](sweep.json) (every verdict and trend with its interval; per measure, "
    "budget, decoder and value: mean, std, min, max and every seed).",
    "",
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
