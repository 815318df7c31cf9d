"""A sweep's report: REPORT.md, sweep.json and figures, every headline measure against the axis.

Per measure and decoder, the mean over seeds at each value of the axis with the spread over seeds
(the figures' bands span the seeds' minimum to maximum; the tables give mean ± std). Nothing in the
findings is written by hand: ``findings`` computes, per comparable measure, the order of the
decoders at each value and where along the axis it changes (``ordering_changes``), says whether
each change is clear of the seeds' spread, and names the points whose runs are flagged not
converged (``convergence.assess``) that a statement rests on.

For the warped protocol, the columns that say nothing about warped data (``Column.warped``: the
common dequantized density, the 8-bit likelihood, the Frechet distances to un-warped images) are
left out.
"""

from __future__ import annotations

import os

from vae import workdir as wd
from vae.evaluation import columns as cols
from vae.study import convergence, figures, records, sections
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


def ranking(curve: dict, index: int, better: str) -> list[str]:
  """The decoders with a value at ``index``, best first (tied decoders in the table's order;
  ``columns.order`` groups them)."""
  present = {d: points[index]["mean"] for d, points in curve.items() if points[index] is not None}
  return [d for group in cols.order(present, better) for d in group]


def _seed_range(point: dict, better: str) -> tuple[float, float]:
  """(best, worst) of the seeds, in the sort key (smaller is better)."""
  key = cols.sort_key(better)
  keys = [key(v) for v in point.get("per_seed", [point["mean"]])]
  return min(keys), max(keys)


def ordering_changes(curve: dict, better: str) -> list[dict]:
  """Where the order of the decoders on one measure changes along the axis.

  ``curve``: decoder -> per value None or {"mean", "per_seed"} (``curves``). For each pair of
  decoders, walking the values where both were measured (ties skipped), every change of which
  one is strictly better: {"index": the last value before the change, "next": the value where
  the other is better, "winner": the decoder better from "next" on, "loser", "before": (winner's
  mean, loser's mean) at "index", "after": the same at "next", "clear": whether at both values
  every seed of the better one beats every seed of the other}, in the order of the axis."""
  key = cols.sort_key(better)
  decoders = list(curve)
  out = []
  for a_pos, a in enumerate(decoders):
    for b in decoders[a_pos + 1 :]:
      last = None  # (index, a is better)
      for i, (pa, pb) in enumerate(zip(curve[a], curve[b])):
        if pa is None or pb is None or key(pa["mean"]) == key(pb["mean"]):
          continue
        a_better = key(pa["mean"]) < key(pb["mean"])
        if last is not None and last[1] != a_better:
          j = last[0]
          winner, loser = (a, b) if a_better else (b, a)
          p_w, p_l, q_w, q_l = curve[winner][j], curve[loser][j], curve[winner][i], curve[loser][i]
          clear = (
            _seed_range(p_l, better)[1] < _seed_range(p_w, better)[0]
            and _seed_range(q_w, better)[1] < _seed_range(q_l, better)[0]
          )
          out.append(
            {
              "index": j,
              "next": i,
              "winner": winner,
              "loser": loser,
              "before": (p_w["mean"], p_l["mean"]),
              "after": (q_w["mean"], q_l["mean"]),
              "clear": clear,
            }
          )
        last = (i, a_better)
  return sorted(out, key=lambda c: (c["index"], c["next"]))


# ----------------------------------------------------------------------------------- findings


def _unconverged(cells, flagged: dict, value_texts: list[str], axis: str) -> str:
  """' (rests on run(s) not converged: `d` at gamma = -0.5, +0.25; ...)' for the flagged
  ``cells`` ((value index, decoder) pairs), or ''."""
  by_decoder = {}
  for i, d in sorted({c for c in cells if c in flagged}, key=lambda c: (c[1], c[0])):
    by_decoder.setdefault(d, []).append(value_texts[i])
  if not by_decoder:
    return ""
  runs = "; ".join(f"`{d}` at {axis} = {', '.join(v)}" for d, v in by_decoder.items())
  return f" (rests on run(s) not converged: {runs})"


def _ties(curve: dict, n: int, value_texts: list[str], axis: str) -> str:
  """'; tied at gamma = +0.25: `a`, `b`' for decoders with equal means at a value, or ''."""
  out = []
  for i in range(n):
    means = {}
    for d, points in curve.items():
      if points[i] is not None:
        means.setdefault(points[i]["mean"], []).append(d)
    out += [
      f"tied at {axis} = {value_texts[i]}: {_order_text(group)}"
      for group in means.values()
      if len(group) > 1
    ]
  return "".join(f"; {t}" for t in out)


def _order_text(order: list[str]) -> str:
  return ", ".join(f"`{d}`" for d in order)


def measure_finding(
  name: str,
  better: str,
  curve: dict,
  value_texts: list[str],
  axis: str,
  flagged: dict | None = None,
  fmt: str = "{:.4g}",
) -> str | None:
  """The finding of one comparable measure: the order of the decoders at the first value, each
  change of order along the axis (clear of the seeds' spread or not; resting on runs not
  converged or not), the order at the last value and the best decoder at each value. ``flagged``:
  (value index, decoder) -> reasons. None if fewer than two decoders were measured."""
  flagged = flagged or {}
  n = len(value_texts)
  if sum(1 for points in curve.values() if any(p is not None for p in points)) < 2:
    return None
  everywhere = [(i, d) for d, points in curve.items() for i in range(n) if points[i] is not None]
  head = f"**{name}** ({cols.BETTER_WORDS[better]})"
  changes = ordering_changes(curve, better)
  shared = [i for i in range(n) if len(ranking(curve, i, better)) >= 2]
  if not shared:
    return None
  first = shared[0]
  if not changes:
    orders = {tuple(ranking(curve, i, better)) for i in range(n) if ranking(curve, i, better)}
    order = _order_text(ranking(curve, first, better))
    text = f"{head}: the same order at every {axis}, best first: {order}"
    if len(orders) > 1:  # decoders missing at some values: no pair swaps, but not one order
      text = f"{head}: no two decoders swap places along {axis}"
    text += _ties(curve, n, value_texts, axis)
    return text + _unconverged(everywhere, flagged, value_texts, axis) + "."
  order = _order_text(ranking(curve, first, better))
  parts = [f"{head}: at {axis} = {value_texts[first]}, best first: {order}"]
  for c in changes:
    i, j = c["index"], c["next"]
    w, lo = c["winner"], c["loser"]
    numbers = (
      f"{fmt.format(c['before'][0])} vs {fmt.format(c['before'][1])} at {value_texts[i]}, "
      f"{fmt.format(c['after'][0])} vs {fmt.format(c['after'][1])} at {value_texts[j]}"
    )
    spread = "" if c["clear"] else "; within the seeds' spread"
    cells = [(i, w), (i, lo), (j, w), (j, lo)]
    parts.append(
      f"between {value_texts[i]} and {value_texts[j]} `{w}` overtakes `{lo}` "
      f"({numbers}{spread})" + _unconverged(cells, flagged, value_texts, axis)
    )
  last = max(i for i in range(n) if ranking(curve, i, better))
  parts.append(f"at {axis} = {value_texts[last]}: {_order_text(ranking(curve, last, better))}")
  best = {}
  for i in range(n):
    order = ranking(curve, i, better)
    if order:
      best.setdefault(order[0], []).append(value_texts[i])
  parts.append(
    "best: "
    + ", ".join(f"`{d}` ({axis} = {', '.join(texts)})" for d, texts in best.items())
    + _unconverged(
      [(i, ranking(curve, i, better)[0]) for i in range(n) if ranking(curve, i, better)],
      flagged,
      value_texts,
      axis,
    )
  )
  return "; ".join(parts) + _ties(curve, n, value_texts, axis) + "."


def findings(
  curves_: dict, value_texts: list[str], axis: str, flagged: dict, shown: list[str]
) -> list[str]:
  """The report's findings: one per comparable measure of ``measures`` (``measure_finding``), and
  the points flagged not converged."""
  out = []
  declared = records.all_columns()
  for measure in shown:
    column = declared[measure]
    if column.better is None or measure not in curves_:
      continue
    text = measure_finding(
      column.header, column.better, curves_[measure], value_texts, axis, flagged, column.fmt
    )
    if text:
      out.append(text)
  if flagged:
    by_decoder = {}
    for i, d in sorted(flagged, key=lambda c: (c[1], c[0])):
      by_decoder.setdefault(d, []).append(value_texts[i])
    out.append(
      "Not converged (see Convergence): "
      + "; ".join(f"`{d}` at {axis} = {', '.join(v)}" for d, v in by_decoder.items())
      + ". Every statement above that rests on one of them says so."
    )
  else:
    out.append("Every run passed the convergence check.")
  return out


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
    "unless lambda is clipped (log C(lambda) grows like log|logit|). Such runs are flagged by "
    "the rising test ELBO and the findings on them say so.",
  ]


def write_report(workdir: str, config, results: dict) -> str:
  """Writes REPORT.md, sweep.json and the figures into ``workdir``; returns the report's path.
  ``results``: (point label, decoder) -> evaluation (``sweep.run_sweep_grid``)."""
  axis = axis_of(config)
  name = config.sweep.axis
  values = values_of(config)
  labels = [point_label(config, v) for v in values]
  texts = [format_value(axis, v) for v in values]
  decoders = list(config.decoders)
  criteria = config.get("convergence") or convergence.default_config()
  runs = records.build(results, criteria, decoder_of=lambda key: key[1])
  index = {label: i for i, label in enumerate(labels)}
  flagged = {(index[lab], d): r.flags for (lab, d), r in runs.items() if r.flags}
  data = curves(runs, labels, decoders)
  protocol = config.train.data.protocol
  shown = reported_measures(data, protocol)
  declared = measures()
  comparable = [m for m in shown if declared[m].better is not None]
  own = [m for m in shown if declared[m].better is None]
  excluded = [m for m in data if m not in shown]

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
    row["seconds"] + row.get("compile_seconds", 0.0) for r in runs.values() for row in r.metrics
  )
  wd.write_json(
    os.path.join(workdir, "sweep.json"),
    {
      "axis": name,
      "field": f"train.{axis.field}",
      "values": list(values),
      "labels": labels,
      "decoders": decoders,
      "measures": {m: data[m] for m in shown},
      "not_converged": {f"{labels[i]}/{d}": reasons for (i, d), reasons in flagged.items()},
    },
    indent=1,
  )

  seeds = config.train.num_seeds
  kl_weight = "swept" if name == "kl_weight" else None
  lines = [
    f"# Sweep over the {axis.label}: `{config.variant}`",
    "",
    f"Command: `python -m experiments.sweep --config experiments/configs/sweep.py:"
    f"{config.variant} --workdir {workdir}`",
    "",
    f"Swept `train.{axis.field}` over {', '.join(texts)} for the decoders "
    + ", ".join(f"`{d}`" for d in decoders)
    + f"; each point is one run of {seeds} seed(s), at every point the same budget. "
    + sections.budget(config, kl_weight=kl_weight)
    + f" Training took {total / 60:.1f} minutes in all (the sum over runs).",
    "",
    "Each figure shows the mean over seeds against the axis, with a band from the seeds' minimum "
    "to their maximum; an open marker is a point whose run is flagged not converged. The tables "
    "give mean ± std over seeds, † marking a run not converged.",
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
    "## Findings (generated from the numbers below)",
    "",
    *[f"- {s}" for s in findings(data, texts, name, flagged, comparable)],
    "",
    "## Figures",
    "",
    "![measures against the axis](measures.png)",
    "",
    "![likelihoods against the axis](likelihoods.png)",
    "",
    "Each decoder's own likelihood (nats per image, higher is better): not comparable across "
    "decoders (a Bernoulli on grey pixels is not a density; densities of warped data with atoms "
    "are unbounded).",
    "",
    "## Tables",
    "",
  ]
  for m in shown:
    column = declared[m]
    lines += [f"### {column.header} ({column.better_words})", "",
              measure_table(m, data[m], texts, flagged), ""]  # fmt: skip
  lines += [
    *sections.column_definitions({m: declared[m] for m in shown}),
    "",
    "## Convergence",
    "",
    sections.convergence_rule(criteria, withholds=True),
    "",
    "| decoder | " + " | ".join(texts) + " |",
    "|---|" + "---|" * len(texts),
    *[
      f"| {d} | "
      + " | ".join("**no**" if (i, d) in flagged else "yes" for i in range(len(texts)))
      + " |"
      for d in decoders
    ],
    "",
    *[
      f"- `{d}` at {name} = {texts[index[lab]]}: " + "; ".join(r.flags)
      for (lab, d), r in runs.items()
      if r.flags
    ],
    *_atoms_note(config),
    "",
    "## Reconstructions and samples at each value",
    "",
    *[
      f"- {name} = {text}: [reconstructions](points/{label}/reconstructions.png), "
      f"[samples](points/{label}/samples.png)"
      for label, text in zip(labels, texts)
    ],
    "",
    *sections.figure("learning_curves.png"),
    *sections.figure("sigma.png", figures.SCALE_CAPTION),
    *sections.runs({f"{lab} {d}": f"runs/{lab}/{d}" for lab, d in runs}),
    "Numbers: [sweep.json](sweep.json) (per measure, decoder and value: mean, std, min, max and "
    "every seed).",
    "",
  ]
  path = os.path.join(workdir, "REPORT.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
