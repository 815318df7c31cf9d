"""The workdir: everything a run keeps on disk, and the one place that reads and writes it.

    WORKDIR/
      config.json          the full config (ml_collections) of the run
      checkpoints/<epoch>/ Orbax checkpoints of the TrainState (``vae.checkpoints``)
      metrics.jsonl        one JSON object per epoch (train and test numbers, timings)
      tensorboard/         TensorBoard event files (tensorboardX, no TensorFlow needed)
      images/epoch_XXXX.png  data | reconstruction mean | sample mean | sample, per epoch
      eval.json, eval/     written by ``python -m experiments.evaluate``

Resuming compares the new config with ``config.json`` and refuses any difference outside
``RESUMABLE_FIELDS`` (fields that change neither the model nor the data nor the optimization), so
a workdir can never silently mix two experiments. Config files written by older versions are
migrated on read (``migrate_config``): ``beta`` (the KL weight) became ``kl_weight``.

Every file is written atomically (``write_json``, ``write_bytes``, ``copy_file``: a temporary
file, then ``os.replace``), so a reader never sees half a file; ``keep_aside`` renames a file to a
time-stamped name that never replaces another.
"""

from __future__ import annotations

import json
import logging
import math
import os
import shutil
import time
from typing import Any

import ml_collections

import likelihoods

log = logging.getLogger(__name__)

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"

# The one list of config fields that change no number: how a run is shown, where MNIST is read
# from, the device layout (the same numbers on any: tests/test_mesh.py) and which checkpoints and
# images are kept. Runs, studies, sweeps and evaluations compare configs without them
# (a field of a training config, or of an eval config: ``progress_bar``).
NUMBER_FREE_FIELDS = frozenset(
  {
    "progress_bar",
    "data.source",
    "data.data_dir",
    "mesh",
    "keep_checkpoints",
    "checkpoint_every_epochs",
    "image_every_epochs",
  }
)
# Fields that may also differ when a run resumes: its budget (more epochs extend it) and how often
# and in what batches its learning curve is measured (what is logged, not what is trained).
RESUMABLE_FIELDS = NUMBER_FREE_FIELDS | {"num_epochs", "eval_every_epochs", "eval_batch_size"}
# Learning-rate schedules that decay to 0 at the end of num_epochs (vae.training.optimizer's
# DECAYING; named here, as workdir.py imports nothing of the training): their runs resume only
# with the same num_epochs.
DECAYING_SCHEDULES = ("warmup_cosine", "linear")


# Renamed config fields: old name -> new name (config.json files of older versions).
RENAMED_FIELDS = {"beta": "kl_weight"}
# Fields added since: what a config.json written before them ran with (dotted: nested fields).
ADDED_FIELDS = {
  "mesh": "auto",
  "optimizer.warmup_epochs": 0.0,
  "kl_warmup_epochs": 0.0,
  "data.validation_size": 0,
  "data.validation_seed": 0,
}


class ConfigMismatchError(ValueError):
  """A workdir holds a run whose config differs in a field that changes the model or data."""


# ---------------------------------------------------------------------------- atomic writes


def write_bytes(path: str, payload: bytes) -> None:
  """Writes ``payload`` to ``path`` atomically (a temporary file in the same folder, then rename)."""
  tmp = f"{path}.tmp{os.getpid()}"
  with open(tmp, "wb") as f:
    f.write(payload)
  os.replace(tmp, path)


def write_json(path: str, obj, *, indent: int | None = 2, sort_keys: bool = False) -> None:
  """Writes ``obj`` as JSON to ``path`` atomically."""
  write_bytes(path, json.dumps(obj, indent=indent, sort_keys=sort_keys).encode())


def copy_file(source: str, target: str) -> None:
  """Copies ``source`` to ``target`` atomically; leaves ``target`` untouched if already equal."""
  with open(source, "rb") as f:
    payload = f.read()
  if os.path.exists(target):
    with open(target, "rb") as f:
      if f.read() == payload:
        return
  tmp = f"{target}.tmp{os.getpid()}"
  shutil.copyfile(source, tmp)
  os.replace(tmp, target)


def stamped(base: str) -> str:
  """``base<YYYYmmdd-HHMMSS>``, with ``-n`` appended if needed: a path that does not exist yet,
  so a kept file never replaces another kept within the same second."""
  stamp = kept = f"{base}{time.strftime('%Y%m%d-%H%M%S')}"
  for n in range(1, 10000):
    if not os.path.exists(kept):
      break
    kept = f"{stamp}-{n}"
  return kept


def keep_aside(path: str) -> str:
  """Renames ``path`` to ``path.<YYYYmmdd-HHMMSS>[-n]`` (never replacing a kept file); returns it."""
  kept = stamped(f"{path}.")
  os.replace(path, kept)
  return kept


def keep_aside_files(folder: str, names) -> str:
  """Moves the files ``names`` of ``folder`` that exist into ``folder/kept-<time>[-n]/`` (one
  version of an evaluation together: its JSON and its figures); returns that folder."""
  kept = stamped(os.path.join(folder, "kept-"))
  os.makedirs(kept)
  for name in names:
    if os.path.exists(os.path.join(folder, name)):
      os.replace(os.path.join(folder, name), os.path.join(kept, name))
  return kept


def read_json(path: str):
  with open(path) as f:
    return json.load(f)


# ----------------------------------------------------------------------------------- config


def flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  """{"a": {"b": 1}} -> {"a.b": 1} (tuples as lists)."""
  flat = {}
  for key, value in d.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(flatten(value, name + "."))
    else:
      flat[name] = list(value) if isinstance(value, tuple) else value
  return flat


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def migrate_config(d: dict) -> dict:
  """A config dict of an older version in today's field names (``RENAMED_FIELDS``), with the
  fields added since at the value it ran with (``ADDED_FIELDS``)."""
  d = dict(d)
  for old, new in RENAMED_FIELDS.items():
    if old in d and new not in d:
      d[new] = d.pop(old)
  if "likelihood" in d:  # a training config (not a study's or an evaluation's)
    for field, value in ADDED_FIELDS.items():
      *parents, name = field.split(".")
      section = d
      for parent in parents:  # copied, so the caller's nested dicts stay as they were
        copy = dict(section.get(parent, {}))
        section[parent] = copy
        section = copy
      section.setdefault(name, value)
  return d


def _with_default_options(d: dict) -> dict:
  """``likelihood_options`` with the likelihood's defaults filled in: an option left out and the
  same option at its default are the same run."""
  name = d.get("likelihood")
  if name not in likelihoods.available():
    return d
  return {
    **d,
    "likelihood_options": {**likelihoods.options(name), **d.get("likelihood_options", {})},
  }


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in ``workdir`` was started with (migrated to today's field names)."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {CONFIG_FILE} in workdir {workdir!r}: not a training workdir")
  return ml_collections.ConfigDict(_tuplify(migrate_config(read_json(path))))


def _tuplify(d):
  if isinstance(d, dict):
    return {k: _tuplify(v) for k, v in d.items()}
  if isinstance(d, list):
    return tuple(_tuplify(v) for v in d)
  return d


def check_or_write_config(
  workdir: str, config: ml_collections.ConfigDict, *, write: bool = True
) -> None:
  """Writes config.json in a new workdir; in an existing one, refuses incompatible changes
  (and then writes nothing). With ``write=False`` (the processes of a multi-process run but the
  writer) it only checks."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f"--workdir {workdir!r} is a file, not a directory")
  path = os.path.join(workdir, CONFIG_FILE)
  new = config_to_dict(config)
  if os.path.exists(path):
    old = _with_default_options(migrate_config(read_json(path)))
    old_flat, new_flat = flatten(old), flatten(_with_default_options(new))
    # A schedule that decays to 0 at the end of num_epochs is a function of the budget: a run
    # on it cannot be extended (or shortened) without changing the steps it already took.
    decaying = new_flat.get("optimizer.schedule") in DECAYING_SCHEDULES
    resumable = RESUMABLE_FIELDS - {"num_epochs"} if decaying else RESUMABLE_FIELDS
    changed = sorted(
      k
      for k in set(old_flat) | set(new_flat)
      if not _same(old_flat.get(k, "<absent>"), new_flat.get(k, "<absent>")) and k not in resumable
    )
    if changed:
      details = "; ".join(
        f"{k}: {old_flat.get(k, '<absent>')!r} in the workdir, {new_flat.get(k, '<absent>')!r} now"
        for k in changed
      )
      raise ConfigMismatchError(
        f"workdir {workdir!r} holds a run with a different config ({details}). These fields "
        f"change the model, data or optimization, so it cannot be resumed; use a new --workdir. "
        f"Fields that may change on resume: {sorted(resumable)}"
        + (" (not num_epochs: the learning rate decays to 0 at its end)" if decaying else "")
      )
  if write:
    os.makedirs(workdir, exist_ok=True)
    write_json(path, new, sort_keys=True)


def _same(a, b) -> bool:
  """Equal config values; NaN equals NaN (the same command twice is the same run)."""
  if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
    return True
  return a == b


# ---------------------------------------------------------------------------------- metrics


# Renamed metrics: old name -> new name (metrics.jsonl rows of older versions; a Gaussian's sigma
# became the likelihood's scale when the scale diagnostics moved into the distributions).
RENAMED_METRICS = {
  "sigma_rms": "scale",
  "sigma_optimal": "scale_optimal",
  "sigma_optimal_train": "scale_optimal_train",
}


def _migrate_row(row: dict) -> dict:
  """A metrics row of an older version in today's names (``RENAMED_METRICS``)."""
  test = row.get("test")
  if not isinstance(test, dict) or not any(k in test for k in RENAMED_METRICS):
    return row
  rename = lambda d: {RENAMED_METRICS.get(k, k): v for k, v in d.items()}
  test = rename(test)
  if isinstance(test.get("per_seed"), dict):
    test["per_seed"] = rename(test["per_seed"])
  return {**row, "test": test}


def held_out_key(metrics: list[dict]) -> str:
  """Which held-out split a run's per-epoch rows hold: "validation" (``data.validation_size``)
  or "test" (runs without a validation split, and every run before it existed)."""
  return "validation" if any("validation" in r for r in metrics) else "test"


def held_out_rows(metrics: list[dict]) -> list[dict]:
  """The per-epoch held-out evaluations of metrics rows (``held_out_key``), with their epoch."""
  key = held_out_key(metrics)
  return [{"epoch": r["epoch"], **r[key]} for r in metrics if key in r]


def read_metrics(workdir: str, *, skip_torn: bool = False) -> list[dict]:
  """The rows of WORKDIR/metrics.jsonl (older names migrated, ``RENAMED_METRICS``). A line that
  is not JSON (torn by a crash mid-write) raises a ValueError naming the file and the line, or is
  skipped if ``skip_torn``."""
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  rows = []
  with open(path) as f:
    for number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        rows.append(_migrate_row(json.loads(line)))
      except json.JSONDecodeError as e:
        if not skip_torn:
          raise ValueError(f"{path} line {number} is not JSON ({e.msg}): a torn write?") from e
        log.warning("%s line %d is not JSON (torn by a crash?): dropped", path, number)
  return rows


def repair_metrics(workdir: str, last_epoch: int) -> None:
  """Before a resume: drops torn lines and the rows of epochs after ``last_epoch`` (they are
  recomputed), so metrics.jsonl again has one row per epoch up to the checkpoint."""
  path = os.path.join(workdir, METRICS_FILE)
  if os.path.exists(path):
    rows = [r for r in read_metrics(workdir, skip_torn=True) if r.get("epoch", 0) <= last_epoch]
    write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def append_metrics(workdir: str, row: dict) -> None:
  with open(os.path.join(workdir, METRICS_FILE), "a") as f:
    f.write(json.dumps(row) + "\n")
