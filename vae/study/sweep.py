"""Sweeps: the study along one axis, the warping gamma of warped MNIST or the KL weight.

    from vae.study import sweep
    sweep.run_sweep(config, "runs/sweep_cpu")      # config: experiments/configs/sweep.py

A sweep config is a study config (``decoders``, ``train``, ``per_decoder``, ``eval``,
``convergence``, ``budgets``, ``comparisons``, ``verdict``: experiments/configs/study.py) with a
``sweep`` section: ``axis``, a name of ``axes.AXES`` ("gamma" sets ``train.data.gamma`` and needs
the "warped" protocol; "kl_weight" sets ``train.kl_weight``), and ``axis_values``; and
``trends`` (``vae.study.trend``). Each cell (budget, value, decoder) is one training workdir with
every seed vmapped, trained and evaluated by ``grid.run_cells`` (``train_and_evaluate``, then
``evaluation.evaluate_workdir``); with ``config.budgets`` every (value, decoder) is trained at
each budget, its learning-rate schedule annealed to that budget's end, as in the study. Layout of
the sweep workdir:

    SWEEP/sweep_config.json                 the sweep's config (a resumed sweep must match it)
    SWEEP/runs/epochs=<T>/<axis>=<value>/<decoder>/   one training workdir per cell, with its
                                            eval/ (without ``budgets``: runs/<axis>=<value>/...)
    SWEEP/REPORT.md, sweep.json, *.png      the report (``vae.study.sweep_report``): the named-pair
                                            verdicts at each value and budget, the trends
    SWEEP/points/<axis>=<value>/*.png       reconstructions and samples at each value (largest
                                            budget)

The comparisons (``config.comparisons``, judged at every value and budget with
``verdicts.judge``) and trends (``config.trends``) are checked before anything trains: a field,
a decoder outside ``config.decoders``, a measure no evaluation of this sweep writes per image, or
a trend's value off the axis is refused with one line naming it.

Resumable like the study: a finished run is not retrained, a finished evaluation is reused, and
the report is rebuilt from the files. A re-run with other train or eval settings, per-decoder
settings or another axis is refused with one line naming the differences; other ``decoders``,
``axis_values`` or ``budgets`` extend the sweep (the runs already made are reused, the report is
rewritten for the new grid and the previous one kept in ``previous_reports/<time>/``).
"""

from __future__ import annotations

import copy
import logging
import os

import ml_collections

from vae import data, hosts
from vae import workdir as wd
from vae.evaluation import measures
from vae.study import grid, rate_report, sweep_report, trend, verdicts
from vae.study.axes import axis_of, format_value, point_label, values_of

log = logging.getLogger(__name__)

SWEEP_CONFIG_FILE = "sweep_config.json"
RUNS_DIR = "runs"


def default_config() -> ml_collections.ConfigDict:
  """The ``sweep`` section of a sweep config."""
  c = ml_collections.ConfigDict()
  c.axis = "gamma"  # a name of AXES
  c.axis_values = (0.0,)  # the axis's values (run and reported in increasing order)
  return c


def point_config(config, value: float) -> ml_collections.ConfigDict:
  """The study config of one value: ``config`` with the axis's training field set to it."""
  c = copy.deepcopy(config)
  *parents, leaf = axis_of(config).field.split(".")
  section = c.train
  for name in parents:
    section = section[name]
  with c.unlocked():
    section[leaf] = float(value)
  return c


def budgets(config) -> tuple[int, ...]:
  """The sweep's budgets in epochs, ascending (``grid.budgets``: ``config.budgets``, or
  ``train.num_epochs`` alone)."""
  return grid.budgets(config)


def cell_dir(workdir: str, config, budget: int, label: str, decoder: str) -> str:
  """A run's folder: runs/epochs=<budget>/<label>/<decoder>, or runs/<label>/<decoder> for a
  sweep without ``budgets``."""
  if config.get("budgets"):
    return os.path.join(workdir, RUNS_DIR, f"epochs={budget}", label, decoder)
  return os.path.join(workdir, RUNS_DIR, label, decoder)


def cells(config, workdir: str) -> dict:
  """(budget, point label, decoder) -> (run folder, training config): budgets first (ascending),
  then values, then decoders."""
  out = {}
  given = bool(config.get("budgets"))
  for budget in budgets(config):
    for value in values_of(config):
      point = point_config(config, value)
      label = point_label(config, value)
      for decoder in config.decoders:
        out[(budget, label, decoder)] = (
          cell_dir(workdir, config, budget, label, decoder),
          grid.run_config(point, decoder, budget if given else None),
        )
  return out


def _measure_of_key() -> dict[str, str]:
  """per-image array name -> the measure that writes it (``Column.per_image_key``)."""
  return {
    c.per_image_key: m.name
    for m in measures.MEASURES.values()
    for c in m.columns
    if c.per_image_key
  }


def check_comparisons(config) -> None:
  """The comparisons and trends of a sweep config, checked before anything trains: a ValueError
  (one line) naming a bad field, a decoder outside ``config.decoders``, a measure that no
  evaluation of this sweep writes per image, or a trend's value that is not on the axis."""
  known = rate_report.per_image_names()
  writer = _measure_of_key()
  run = tuple(config.eval.measures)
  values = values_of(config)
  entries = [("comparisons", c, ()) for c in verdicts.comparisons(config)]
  entries += [("trends", t.comparison, t.values) for t in trend.trends(config)]
  for field, c, ends in entries:
    for name in (c.a, c.b):
      if name not in config.decoders:
        raise ValueError(
          f"{field}: claim {c.claim} names decoder {name!r}, which is not among the sweep's "
          f"decoders {tuple(config.decoders)}"
        )
    if c.measure not in known:
      raise ValueError(
        f"{field}: claim {c.claim} names measure {c.measure!r}, which no evaluation writes per "
        f"image (vae/evaluation/per_image.py; e.g. 'knn_accuracy/correct', 'intensity/mse')"
      )
    if writer.get(c.measure) not in run:
      raise ValueError(
        f"{field}: claim {c.claim} names measure {c.measure!r}, written by the measure "
        f"{writer.get(c.measure)!r}, which this sweep does not run (eval.measures)"
      )
    off = [v for v in ends if float(v) not in values]
    if off:
      raise ValueError(
        f"{field}: claim {c.claim} reads values {tuple(ends)}; {off} not among the sweep's "
        f"axis values {tuple(format_value(config, v) for v in values)}"
      )


def check_sweep(config) -> None:
  """Every point built and checked (``grid.check_grid``), the comparisons and trends
  (``check_comparisons``) and the data readable: a ValueError naming the bad setting, before
  anything is trained or written."""
  axis = axis_of(config)
  values = values_of(config)
  if axis.protocol and config.train.data.protocol != axis.protocol:
    raise ValueError(
      f"sweep.axis={config.sweep.axis!r} sets train.{axis.field}, which only the "
      f"{axis.protocol!r} protocol uses; train.data.protocol is {config.train.data.protocol!r}"
    )
  per = config.get("per_decoder") or {}
  for decoder, overrides in (per.to_dict() if hasattr(per, "to_dict") else dict(per)).items():
    if axis.field in wd.flatten(dict(overrides)):
      raise ValueError(
        f"per_decoder.{decoder}.{axis.field} would override the sweep's axis "
        f"(sweep.axis={config.sweep.axis!r}); remove it"
      )
  if config.sweep.axis == "gamma" and 0.5 in values:
    log.warning("gamma = 0.5 maps every image to the constant 0.5: that point has no digits")
  budgets(config)  # a bad budget is named before the decoders' settings
  check_comparisons(config)
  for value in values:
    grid.check_grid(point_config(config, value))
  first = grid.run_config(point_config(config, values[0]), config.decoders[0])
  data.split(first, "train", first.data.train_size, "train.data.train_size")
  data.split(first, "test", first.data.test_size, "train.data.test_size")


differences = grid.differences  # the settings a resumed sweep must keep (the study's too)


def _check_sweep_config(config, workdir: str) -> None:
  grid.check_workdir_config(
    config,
    workdir,
    SWEEP_CONFIG_FILE,
    grid_of=lambda d: (
      list(d.get("decoders", [])),
      sorted(float(v) for v in d.get("sweep", {}).get("axis_values", [])),
      sorted(d.get("budgets") or []),
    ),
    report_files=sweep_report.FILES,
  )


def run_sweep_grid(config, workdir: str) -> dict | None:
  """Trains and evaluates every cell (resuming); (budget, point label, decoder) -> its
  evaluation (None if interrupted). Each evaluation's ``workdir`` is the run's folder as a path
  from here."""
  check_sweep(config)
  _check_sweep_config(config, workdir)
  return grid.run_cells(
    cells(config, workdir),
    config.eval,
    workdir,
    desc="sweep",
    progress_bar=config.get("progress_bar", False),
  )


def run_sweep(config, workdir: str) -> str:
  """Trains, evaluates and reports; returns the path of REPORT.md ("" if interrupted)."""
  results = run_sweep_grid(config, workdir)
  if results is None:
    return ""
  path = os.path.join(workdir, "REPORT.md")
  if hosts.is_writer():  # one process of a multi-process run writes (vae.hosts)
    path = sweep_report.write_report(workdir, config, results)
    log.info("report: %s", path)
  hosts.barrier("report written")
  return path
