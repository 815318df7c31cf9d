"""REPRODUCTION.md: published numbers next to ours, with tolerances fixed before the run.

The anchors and their tolerances are configs (``experiments/configs/reproduce.py``); this module
only compares. A row's measure is a column key (``vae.evaluation.headline``) or, for a number no
measure declares a column for (the ELBO under one of a decoder's ``readings``), a flat key of one
seed's result whose value has a "mean" (``"reading_elbos/cb_mean_knots"``), aggregated over the
seeds as the headline does. A row whose decoder has no run in the study says "needs an
accelerator"; a measure the evaluation did not compute says "not measured".
"""

from __future__ import annotations

import os

import numpy as np

from vae import evaluation
from vae import workdir as wd
from vae.study import grid

NEEDS_ACCELERATOR = "needs an accelerator"


def _result_key(result: dict, key: str) -> dict | None:
  """{"mean", "std", "per_seed"} over the run's seeds of the flat result key ``key`` (its value's
  "mean", or the value itself if a number), as ``evaluation.headline`` aggregates a column; None
  unless every seed has it."""
  values = []
  for res in result.get("per_seed", []):
    v = res.get(key)
    v = v.get("mean") if isinstance(v, dict) else v
    if not isinstance(v, int | float) or isinstance(v, bool):
      return None
    values.append(float(v))
  if not values:
    return None
  return {
    "mean": float(np.mean(values)),
    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
    "per_seed": values,
  }


def _value(table: dict, decoder: str, measure: str, negate: bool = False):
  """(mean, std, per_seed) of ``measure`` (a column key, or a flat result key: see ``_table``)
  for ``decoder``, or None."""
  entry = table.get(decoder, {}).get(measure)
  if entry is None:
    return None
  sign = -1.0 if negate else 1.0
  return sign * entry["mean"], entry["std"], [sign * v for v in entry["per_seed"]]


def _table(config, results: dict) -> dict:
  """{decoder: {measure: {"mean", "std", "per_seed"}}}: the headline's columns, plus every flat
  result key a row names (a measure with a "/" that is no column key)."""
  table = {d: evaluation.headline(r) for d, r in results.items()}
  for spec in config.rows:
    measure, decoder = spec["measure"], spec["decoder"]
    if decoder in results and measure not in table[decoder] and "/" in measure:
      entry = _result_key(results[decoder], measure)
      if entry is not None:
        table[decoder][measure] = entry
  return table


def compare(config, results: dict) -> tuple[list[dict], list[dict]]:
  """(rows, orderings): each published number or ordering with ours and a verdict."""
  table = _table(config, results)
  rows = []
  for spec in config.rows:
    row = dict(spec)
    if spec["decoder"] not in results:
      row["verdict"] = NEEDS_ACCELERATOR
    elif (value := _value(table, spec["decoder"], spec["measure"], spec["negate"])) is None:
      row["verdict"] = f"not measured ({spec['measure']} is not in the evaluation)"
    else:
      mean, std, per_seed = value
      result = results[spec["decoder"]]
      diff = mean - spec["published"]
      row.update(
        ours=mean,
        std=std,
        seeds=len(per_seed),
        epochs=result["epoch"],
        difference=diff,
        verdict="reproduced" if abs(diff) <= spec["tolerance"] else "not reproduced",
      )
    rows.append(row)
  orderings = []
  for spec in config.get("orderings", []):
    row = dict(spec)
    measure = spec["measure"]
    names = [*spec["above"], *spec["below"]]
    missing = [d for d in names if d not in results]
    values = {
      d: _value(table, d, measure[d] if isinstance(measure, dict) else measure)
      for d in names
      if d not in missing
    }
    if missing:
      row["verdict"] = f"{NEEDS_ACCELERATOR} (no run of {', '.join(missing)})"
    elif any(v is None for v in values.values()):
      row["verdict"] = "not measured"
    else:
      means = {d: v[0] for d, v in values.items()}
      holds = min(means[d] for d in spec["above"]) > max(means[d] for d in spec["below"])
      row.update(values=means, verdict="holds" if holds else "does not hold")
    orderings.append(row)
  return rows, orderings


def results_from_files(workdir: str, config) -> dict:
  """decoder -> the evaluation its run left in ``workdir`` (runs/<decoder>/eval.json), for every
  decoder of the anchor's study that has one: the study's results as they were, read from a
  folder whose checkpoints are gone (a committed results folder). FileNotFoundError if none;
  ConfigMismatchError if the config's settings differ from the folder's study_config.json, or a
  run's number of seeds from the config's (the report would describe another protocol)."""
  saved = os.path.join(workdir, grid.STUDY_CONFIG_FILE)
  if os.path.exists(saved):
    changed = grid.differences(wd.read_json(saved), wd.config_to_dict(config.study))
    if changed:
      raise wd.ConfigMismatchError(
        f"--workdir {workdir!r} was made with other settings ({'; '.join(changed[:6])}); give "
        f"the settings of {saved} (e.g. the same --config.study.* overrides as its command)"
      )
  results = {}
  for decoder in config.study.decoders:
    path = os.path.join(grid.cell_dir(workdir, config.study, None, decoder), "eval.json")
    if os.path.exists(path):
      results[decoder] = wd.read_json(path)
      seeds = grid.run_config(config.study, decoder).num_seeds
      if results[decoder].get("num_seeds") != seeds:
        raise wd.ConfigMismatchError(
          f"{path} has {results[decoder].get('num_seeds')} seed(s), the config {seeds}: give "
          f"--config.study.train.num_seeds={results[decoder].get('num_seeds')}"
        )
  if not results:
    raise FileNotFoundError(
      f"--workdir {workdir!r} holds no evaluated run of the decoders "
      f"{list(config.study.decoders)} (runs/<decoder>/eval.json): run the reproduction first, "
      "without --from_files"
    )
  return results


def _fmt(x: float) -> str:
  return f"{x:.4f}" if abs(x) < 10 else f"{x:.1f}"


def write(workdir: str, config, results: dict, command: str) -> str:
  """Writes WORKDIR/REPRODUCTION.md; returns its path."""
  rows, orderings = compare(config, results)
  t = config.study.train
  lines = [
    f"# Reproduction: {config.title}",
    "",
    f"Command: `{command}`",
    "",
    f"Protocol: `experiments/configs/study.py:{config.study.variant}` with {t.num_epochs} epochs, "
    f"batch {t.batch_size}, {t.num_seeds} seed(s) per decoder; decoders run: "
    + (", ".join(f"`{d}`" for d in results) or "none")
    + ". Tolerances were fixed in `experiments/configs/reproduce.py` before the runs. A row "
    f"whose decoder was not run here (its protocol is too long for this machine) says "
    f'"{NEEDS_ACCELERATOR}".',
    "",
    "| published number | decoder | published | ours (mean ± std) | seeds | epochs | difference "
    "| tolerance | verdict |",
    "|---|---|---|---|---|---|---|---|---|",
  ]
  for r in rows:
    if "ours" in r:
      std = f"{r['std']:.1f}" if abs(r["ours"]) >= 10 else f"{r['std']:.4f}"
      ours = f"{_fmt(r['ours'])} ± {std}"
      cells = [ours, str(r["seeds"]), str(r["epochs"]), f"{r['difference']:+.1f}"]
    else:
      cells = ["—", "—", "—", "—"]
    lines.append(
      f"| {r['name']} | `{r['decoder']}` | {_fmt(r['published'])} | "
      + " | ".join(cells)
      + f" | ± {_fmt(r['tolerance'])} | **{r['verdict']}** |"
    )
  if orderings:
    lines += ["", "| published ordering | ours | verdict |", "|---|---|---|"]
    for r in orderings:
      ours = ", ".join(f"`{d}` {_fmt(v)}" for d, v in r.get("values", {}).items()) or "—"
      lines.append(f"| {r['name']} | {ours} | **{r['verdict']}** |")
  deviations = list(config.get("deviations", []))
  runs = config.get("published_runs", 1)
  if t.num_seeds < runs and results:
    deviations.insert(0, f"{t.num_seeds} seed(s) per decoder; the paper averages {runs} runs.")
  lines += ["", "## Deviations from the published protocol", ""]
  lines += [f"- {d}" for d in deviations] or ["- none"]
  lines += ["", "Sources: " + "; ".join(sorted({r["source"] for r in rows})), ""]
  path = os.path.join(workdir, "REPRODUCTION.md")
  wd.write_bytes(path, "\n".join(lines).encode())
  return path
