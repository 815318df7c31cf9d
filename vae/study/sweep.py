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

from vae import data, evaluation, hosts
from vae import workdir as wd
from vae.study import grid, report, sweep_report
from vae.study.axes import axis_of, point_label, values_of

log = logging.getLogger(__name__)

SWEEP_CONFIG_FILE = "sweep_config.json"
RUNS_DIR = "runs"


# Fields of a sweep's config that may differ on a re-run: presentation, where MNIST is read from,
# the device layout and how often checkpoints are kept (none changes a number). ``decoders`` and
# ``sweep.axis_values`` extend the sweep; ``convergence`` only changes the report.
IGNORED_ON_RESUME = tuple(
  f"train.{field}"
  for field in (
    "progress_bar",
    "data.source",
    "data.data_dir",
    "mesh",
    "keep_checkpoints",
    "checkpoint_every_epochs",
  )
)


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


def _settings(d: dict, decoders) -> dict:
  """What a resumed sweep must keep, flattened: the train, per-decoder and eval settings and the
  axis (not the decoders or values, which extend it, nor presentation). Per-decoder settings
  count for ``decoders`` only (those with runs; an entry for another decoder was never used)."""
  per = d.get("per_decoder") or {}
  sections = {
    "train": wd.migrate_config(d.get("train", {})),
    "per_decoder": {k: v for k, v in per.items() if k in decoders},
    "eval": evaluation.evaluator.settings_of(d.get("eval", {})),
    "sweep": {"axis": d.get("sweep", {}).get("axis")},
  }
  flat = wd.flatten(sections)
  return {k: v for k, v in flat.items() if k not in IGNORED_ON_RESUME}


def differences(old: dict, new: dict) -> list[str]:
  """The settings (``_settings``) that differ between two sweep configs, as 'field: A there,
  B now'; per-decoder settings are compared for the decoders ``old`` ran."""
  ran = set(old.get("decoders", []))
  a, b = _settings(old, ran), _settings(new, ran)
  out = []
  for key in sorted(set(a) | set(b)):
    x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
    if x != y and not (isinstance(x, float) and isinstance(y, float) and x != x and y != y):
      out.append(f"{key}: {x!r} there, {y!r} now")
  return out


def _check_sweep_config(config, workdir: str) -> None:
  """Refuses other settings in an existing sweep (one line naming them); other decoders or
  values extend it: its previous report is kept when the new one is written."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f"--workdir {workdir!r} is a file, not a directory")
  path = os.path.join(workdir, SWEEP_CONFIG_FILE)
  new = wd.config_to_dict(config)
  if os.path.exists(path):
    old = wd.read_json(path)
    changed = differences(old, new)
    if changed:
      shown = "; ".join(changed[:6]) + (
        f"; and {len(changed) - 6} more" if len(changed) > 6 else ""
      )
      raise wd.ConfigMismatchError(
        f"sweep workdir {workdir!r} was made with other settings ({shown}); use a new --workdir, "
        f"or the settings of {path} to resume (decoders and sweep.axis_values may change: that "
        f"extends the sweep)"
      )
    old_values = sorted(float(v) for v in old.get("sweep", {}).get("axis_values", []))
    new_values = sorted(float(v) for v in new["sweep"]["axis_values"])
    if list(old.get("decoders", [])) != list(new["decoders"]) or old_values != new_values:
      log.warning(
        "the sweep's grid changed from decoders %s x %s %s to %s x %s: extending the sweep "
        "(finished runs are reused); the report is rewritten for the new grid and the previous "
        "one kept in %s/",
        old.get("decoders"),
        config.sweep.axis,
        old_values,
        new["decoders"],
        new_values,
        report.PREVIOUS_DIR,
      )
      if hosts.is_writer():
        report.keep_previous(workdir, sweep_report.FILES)
  if hosts.is_writer():  # one process of a multi-process run writes (vae.hosts)
    os.makedirs(workdir, exist_ok=True)
    wd.write_json(path, new, sort_keys=True)
  hosts.barrier("sweep config written")


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
