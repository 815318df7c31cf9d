"""The workdir: everything a run needs to be resumed or evaluated later.

    WORKDIR/
      config.json          the full config (ml_collections) of the run
      checkpoints/<epoch>/ Orbax checkpoints of the TrainState (the last ``keep_checkpoints``)
      metrics.jsonl        one JSON object per epoch (train and test numbers, timings)
      tensorboard/         TensorBoard event files (tensorboardX, no TensorFlow needed)
      images/epoch_XXXX.png  data | reconstruction mean | sample mean | sample, per epoch
      eval.json, eval/     written by ``python -m experiments.evaluate``

Resuming compares the new config with ``config.json`` and refuses any difference outside
``RESUMABLE_FIELDS`` (fields that change neither the model nor the data nor the optimization), so
a workdir can never silently mix two experiments.
"""

from __future__ import annotations

import json
import os
from typing import Any

import jax
import ml_collections
import orbax.checkpoint as ocp

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.jsonl"
CHECKPOINT_DIR = "checkpoints"

# Fields that may differ between the run in a workdir and a resumed (or evaluated) one.
RESUMABLE_FIELDS = frozenset(
  {
    "num_epochs",
    "keep_checkpoints",
    "checkpoint_every_epochs",
    "eval_every_epochs",
    "image_every_epochs",
    "progress_bar",
    "eval_batch_size",
    "data.source",
    "data.data_dir",
  }
)


class ConfigMismatchError(ValueError):
  """A workdir holds a run whose config differs in a field that changes the model or data."""


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
  flat = {}
  for key, value in d.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict):
      flat.update(_flatten(value, name + "."))
    else:
      flat[name] = list(value) if isinstance(value, tuple) else value
  return flat


def config_to_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def load_config(workdir: str) -> ml_collections.ConfigDict:
  """The config a run in ``workdir`` was started with."""
  path = os.path.join(workdir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f"no {CONFIG_FILE} in workdir {workdir!r}: not a training workdir")
  with open(path) as f:
    d = json.load(f)
  return ml_collections.ConfigDict(_tuplify(d))


def _tuplify(d):
  if isinstance(d, dict):
    return {k: _tuplify(v) for k, v in d.items()}
  if isinstance(d, list):
    return tuple(_tuplify(v) for v in d)
  return d


def check_or_write_config(workdir: str, config: ml_collections.ConfigDict) -> None:
  """Writes config.json in a new workdir; in an existing one, refuses incompatible changes."""
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, CONFIG_FILE)
  new = config_to_dict(config)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    old_flat, new_flat = _flatten(old), _flatten(new)
    changed = sorted(
      k
      for k in set(old_flat) | set(new_flat)
      if old_flat.get(k, "<absent>") != new_flat.get(k, "<absent>") and k not in RESUMABLE_FIELDS
    )
    if changed:
      details = "; ".join(
        f"{k}: {old_flat.get(k, '<absent>')!r} in the workdir, {new_flat.get(k, '<absent>')!r} now"
        for k in changed
      )
      raise ConfigMismatchError(
        f"workdir {workdir!r} holds a run with a different config ({details}). These fields "
        f"change the model, data or optimization, so it cannot be resumed; use a new --workdir. "
        f"Fields that may change on resume: {sorted(RESUMABLE_FIELDS)}"
      )
  tmp = path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(new, f, indent=2, sort_keys=True)
  os.replace(tmp, path)


def manager(workdir: str, keep: int = 3, *, read_only: bool = False) -> ocp.CheckpointManager:
  """Orbax manager over WORKDIR/checkpoints; steps are epochs. Only complete checkpoints count."""
  options = ocp.CheckpointManagerOptions(
    max_to_keep=keep, create=not read_only, read_only=read_only
  )
  return ocp.CheckpointManager(
    os.path.abspath(os.path.join(workdir, CHECKPOINT_DIR)), options=options
  )


def save(mngr: ocp.CheckpointManager, epoch: int, state) -> None:
  mngr.save(epoch, args=ocp.args.StandardSave(state), force=True)


def restore(mngr: ocp.CheckpointManager, like, epoch: int | None = None):
  """Restores ``epoch`` (default: the latest complete one) onto the sharding of ``like``."""
  epoch = mngr.latest_step() if epoch is None else epoch
  if epoch is None:
    raise FileNotFoundError(f"no complete checkpoint in {mngr.directory}")
  if epoch not in mngr.all_steps():
    raise ValueError(
      f"no checkpoint for epoch {epoch} in {mngr.directory}; available: {sorted(mngr.all_steps())}"
    )
  abstract = jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)), like
  )
  return epoch, mngr.restore(epoch, args=ocp.args.StandardRestore(abstract))


def read_metrics(workdir: str) -> list[dict]:
  path = os.path.join(workdir, METRICS_FILE)
  if not os.path.exists(path):
    return []
  with open(path) as f:
    return [json.loads(line) for line in f if line.strip()]


def truncate_metrics(workdir: str, last_epoch: int) -> None:
  """Drops metric lines of epochs after ``last_epoch`` (they are recomputed after a resume)."""
  rows = [r for r in read_metrics(workdir) if r["epoch"] <= last_epoch]
  path = os.path.join(workdir, METRICS_FILE)
  if os.path.exists(path):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
      f.writelines(json.dumps(r) + "\n" for r in rows)
    os.replace(tmp, path)


def append_metrics(workdir: str, row: dict) -> None:
  with open(os.path.join(workdir, METRICS_FILE), "a") as f:
    f.write(json.dumps(row) + "\n")
