"""One record per run: its evaluation, metrics, convergence and headline, read from disk once.

    records = build({"bernoulli": result, ...}, convergence.default_config())

A study's or a sweep's report is written from records only: the sections (``vae.study.sections``)
and the figures (``vae.study.figures``) take records and the arrays they hold, and never read a
file or load a model again. ``result`` is an evaluation as ``evaluation.evaluate_workdir`` returns
it (with ``workdir`` a path that opens from here); the record reads the run's ``metrics.jsonl``
and the evaluation's ``panels.npz`` (the images the figures show; absent for results committed
without their eval folder, and then those figures are left out).
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from vae import evaluation
from vae import workdir as wd
from vae.evaluation import measures
from vae.evaluation.columns import Column
from vae.study import convergence

# Columns of a run that come from its training metrics, not from a measure.
RUN_COLUMNS = {
  "test_kl": Column(
    "test_kl", (), "KL (curve)", "{:.1f}", None,
    "KL(q(z|x) || p(z)) at the last epoch, nats per image on the held-out inputs of the "
    "learning curve (the validation split where the run has one)",
    show=("sweep",),
  ),
  "train_seconds": Column(
    "train_seconds", (), "train time (s)", "{:.0f}", None,
    "wall time of training, every seed vmapped in one program (compilation included)",
    show=("study",),
  ),
}  # fmt: skip


def columns(show: str) -> dict[str, Column]:
  """The columns a report shows (``show``: "study" or "sweep"): the measures' declarations, then
  the run's own (``RUN_COLUMNS``)."""
  return {
    **measures.columns(show),
    **{k: c for k, c in RUN_COLUMNS.items() if show in c.show},
  }


def all_columns() -> dict[str, Column]:
  return {**measures.columns(), **RUN_COLUMNS}


@dataclasses.dataclass
class Record:
  """A trained and evaluated run as the reports see it."""

  name: str  # how the report names it: the decoder, or "<point> <decoder>" in a sweep
  decoder: str
  workdir: str  # the run's folder, a path that opens from here
  evaluation: dict  # eval.json
  metrics: list[dict]  # metrics.jsonl, one row per epoch
  convergence: dict  # ``convergence.assess``: {"converged", "flags", ...}
  headline: dict  # column key -> {"mean", "std", "per_seed"}
  panels: dict  # name -> images [N, 28, 28] (``vae.evaluation.figures.panels``); may be empty

  @property
  def flags(self) -> list[str]:
    return self.convergence["flags"]

  @property
  def tests(self) -> list[dict]:
    """The per-epoch held-out rows of the learning curve, with their epoch: the validation split
    where the run has one, else the test images (``workdir.held_out_rows``)."""
    return wd.held_out_rows(self.metrics)

  def last_test(self, key: str) -> float | None:
    """``key`` of the last test row that has it (the learned scale, the KL, ...), or None."""
    for row in reversed(self.tests):
      if key in row:
        return row[key]
    return None


def _stats(values: list[float]) -> dict:
  return {
    "mean": float(np.mean(values)),
    "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
    "per_seed": [float(v) for v in values],
  }


def run_headline(result: dict, metrics: list[dict]) -> dict:
  """The headline of a run: its measures' columns (``evaluation.headline``) and its own."""
  row = evaluation.headline(result)
  secs = sum(r["seconds"] + r.get("compile_seconds", 0.0) for r in metrics)
  if metrics:
    row["train_seconds"] = {"mean": secs, "std": 0.0, "per_seed": [secs]}
  tests = wd.held_out_rows(metrics)
  if tests and "kl" in tests[-1]:
    per_seed = tests[-1].get("per_seed", {}).get("kl", [tests[-1]["kl"]])
    row["test_kl"] = _stats(per_seed)
  return row


def read_panels(result: dict) -> dict:
  """The images of an evaluation's ``panels.npz`` (next to its eval.json), or {} if absent."""
  path = os.path.join(
    result["workdir"], "eval", f"epoch_{result['epoch']:04d}", evaluation.figures.PANELS_FILE
  )
  if not os.path.exists(path):
    return {}
  with np.load(path) as f:
    return {k: f[k] for k in f.files}


def build(results: dict, criteria, decoder_of=None) -> dict:
  """name -> Record for ``results`` (name -> evaluation). ``decoder_of(name)`` gives a name's
  decoder (default: the name itself; a sweep's names are (point, decoder) pairs)."""
  out = {}
  for name, result in results.items():
    metrics = wd.read_metrics(result["workdir"])
    decoder = decoder_of(name) if decoder_of else name
    out[name] = Record(
      name=" ".join(map(str, name)) if isinstance(name, tuple) else str(name),
      decoder=decoder,
      workdir=result["workdir"],
      evaluation=result,
      metrics=metrics,
      convergence=convergence.assess(metrics, criteria),
      headline=run_headline(result, metrics),
      panels=read_panels(result),
    )
  return out
