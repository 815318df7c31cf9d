"""Sweeps: the study along one axis, the warping gamma of warped MNIST or the KL weight.

    from vae.study import sweep
    sweep.run_sweep(config, "runs/sweep_cpu")      # config: experiments/configs/sweep.py

A sweep config is a study config (``decoders``, ``train``, ``per_decoder``, ``eval``,
``convergence``: experiments/configs/study.py) with a ``sweep`` section: ``axis``, a name of
``axes.AXES`` ("gamma" sets ``train.data.gamma`` and needs the "warped" protocol; "kl_weight" sets
``train.kl_weight``), and ``values``. Each point (value, decoder) is a cell of the study: one
training workdir with every seed vmapped, trained and evaluated by ``grid.run_cells``
(``train_and_evaluate``, then ``evaluation.evaluate_workdir``). Layout of the sweep workdir:

    SWEEP/sweep_config.json                 the sweep's config (a resumed sweep must match it)
    SWEEP/runs/<axis>=<value>/<decoder>/    one training workdir per point, with its eval/
    SWEEP/REPORT.md, sweep.json, *.png      the report (``vae.study.sweep_report``)
    SWEEP/points/<axis>=<value>/*.png       reconstructions and samples at each value

Resumable like the study: a finished run is not retrained, a finished evaluation is reused, and
the report is rebuilt from the files. A re-run with other train or eval settings, per-decoder
settings or another axis is refused with one line naming the differences; other ``decoders`` or
``values`` extend the sweep (the runs already made are reused, the report is rewritten for the
new grid and the previous one kept in ``previous_reports/<time>/``).
"""

from __future__ import annotations

import copy
import logging
import os

import ml_collections

from vae import data, hosts
from vae import workdir as wd
from vae.study import grid, sweep_report
from vae.study.axes import axis_of, point_label, values_of

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


def cells(config, workdir: str) -> dict:
  """(point label, decoder) -> (run folder, training config), values first, then decoders."""
  out = {}
  for value in values_of(config):
    point = point_config(config, value)
    label = point_label(config, value)
    for decoder in config.decoders:
      run_dir = os.path.join(workdir, RUNS_DIR, label, decoder)
      out[(label, decoder)] = (run_dir, grid.run_config(point, decoder))
  return out


def check_sweep(config) -> None:
  """Every point built and checked (``grid.check_grid``) and the data readable: a ValueError
  naming the bad setting, before anything is trained or written."""
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
    ),
    report_files=sweep_report.FILES,
  )


def run_sweep_grid(config, workdir: str) -> dict | None:
  """Trains and evaluates every point (resuming); (point label, decoder) -> its evaluation (None
  if interrupted). Each evaluation's ``workdir`` is the run's folder as a path from here."""
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
