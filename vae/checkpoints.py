"""Checkpoints: their layout in a workdir, saving, and restoring all or part of them.

    WORKDIR/checkpoints/<epoch>/          Orbax checkpoints of the TrainState (one per kept epoch)
    WORKDIR/unreadable_checkpoints/<epoch>.<time>/   a checkpoint that did not read back, kept

A checkpoint is the whole ``vae.training.state.TrainState`` pytree, every seed stacked on a
leading axis: ``epoch``, ``step``, ``params``, ``stats`` (the likelihood's statistics),
``opt_state`` and ``key``. Training saves and restores all of it (``manager``, ``save``,
``restore_latest_readable``); a trained model needs only ``{"params", "stats"}``
(``variables_shape``, ``restore_variables``), read onto whatever devices are present, so a run
trained on 8 TPU cores or several hosts opens on one CPU. Only complete checkpoints count (Orbax
writes a step's folder atomically); the last ``keep_checkpoints`` are kept.
"""

from __future__ import annotations

import logging
import os

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from vae import workdir as wd
from vae.model import VAE, init_variables

log = logging.getLogger(__name__)

CHECKPOINT_DIR = "checkpoints"
UNREADABLE_DIR = "unreadable_checkpoints"


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


def _check_epoch(mngr: ocp.CheckpointManager, epoch: int | None) -> int:
  epoch = mngr.latest_step() if epoch is None else epoch
  if epoch is None:
    raise FileNotFoundError(f"no complete checkpoint in {mngr.directory}")
  if epoch not in mngr.all_steps():
    raise ValueError(
      f"no checkpoint for epoch {epoch} in {mngr.directory}; available: {sorted(mngr.all_steps())}"
    )
  return epoch


def _abstract(like):
  return jax.tree.map(
    lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=getattr(a, "sharding", None)), like
  )


def restore(mngr: ocp.CheckpointManager, like, epoch: int | None = None):
  """Restores ``epoch`` (default: the latest complete one) onto the sharding of ``like``."""
  epoch = _check_epoch(mngr, epoch)
  return epoch, mngr.restore(epoch, args=ocp.args.StandardRestore(_abstract(like)))


def restore_latest_readable(
  mngr: ocp.CheckpointManager, like, *, subtree: bool = False, set_aside: bool = True
):
  """Restores the latest checkpoint that reads back (only the entries of ``like`` if
  ``subtree``); a corrupted one (a disk error, a file cut by hand) is skipped with a warning
  naming it and the one restored instead. With ``set_aside`` (training) it is moved to
  ``unreadable_checkpoints/`` (kept, never deleted), so that its epoch can be saved again;
  otherwise (reading a run) it is left where it is."""
  epochs = sorted(mngr.all_steps(), reverse=True)
  if not epochs:
    raise FileNotFoundError(f"no complete checkpoint in {mngr.directory}")
  for i, epoch in enumerate(epochs):
    try:
      restored = (restore_subtree if subtree else restore)(mngr, like, epoch)
    except Exception as e:  # Orbax/tensorstore raise many types for a damaged checkpoint
      if i + 1 == len(epochs):
        raise ValueError(
          f"no checkpoint in {mngr.directory} reads back (epochs {epochs}); the last error: "
          f"{' '.join(str(e).split())[:300]}"
        ) from e
      kept = f"moved to {_set_aside(mngr, epoch)}" if set_aside else "left in place"
      log.warning(
        "the checkpoint of epoch %d in %s does not read back (%s); %s; resuming from epoch %d",
        epoch,
        mngr.directory,
        " ".join(str(e).split())[:200],
        kept,
        epochs[i + 1],
      )
      continue
    if i and set_aside:
      mngr.reload()
    return restored
  raise FileNotFoundError(f"no complete checkpoint in {mngr.directory}")


def _set_aside(mngr: ocp.CheckpointManager, epoch: int) -> str:
  """Moves an unreadable checkpoint out of the manager's folder (kept, never deleted)."""
  folder = os.path.join(os.path.dirname(os.fspath(mngr.directory)), UNREADABLE_DIR)
  os.makedirs(folder, exist_ok=True)
  target = wd.stamped(os.path.join(folder, f"{epoch}."))
  os.replace(os.path.join(os.fspath(mngr.directory), str(epoch)), target)
  return target


def restore_subtree(mngr: ocp.CheckpointManager, like: dict, epoch: int | None = None):
  """Restores only the top-level entries of the checkpointed state that ``like`` names.

  ``like`` is a dict such as ``{"params": ..., "stats": ...}`` of arrays or ShapeDtypeStructs
  (with the shardings wanted); the other entries (the optimizer state, say) are not read.
  """
  epoch = _check_epoch(mngr, epoch)
  abstract = _abstract(like)
  restore_args = jax.tree.map(lambda a: ocp.ArrayRestoreArgs(sharding=a.sharding), abstract)
  args = ocp.args.PyTreeRestore(item=abstract, restore_args=restore_args, partial_restore=True)
  return epoch, mngr.restore(epoch, args=args)


def read_checkpoint(workdir: str, epoch: int | None = None) -> dict:
  """The checkpointed state of ``epoch`` (default: the latest) as a plain dict of numpy arrays,
  read from the checkpoint's own metadata, onto this process's first device, whatever devices
  wrote it (for inspection and comparisons; ``vae.load`` for a usable model)."""
  mngr = manager(workdir, read_only=True)
  try:
    epoch = _check_epoch(mngr, epoch)
    item = os.path.join(os.fspath(mngr.directory), str(epoch), "default")
    tree = ocp.StandardCheckpointer().metadata(item).item_metadata.tree
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(lambda m: jax.ShapeDtypeStruct(m.shape, m.dtype, sharding=device), tree)
    restored = mngr.restore(epoch, args=ocp.args.StandardRestore(abstract))
    return jax.tree.map(np.asarray, restored)
  finally:
    mngr.close()


def variables_shape(model: VAE, num_seeds: int) -> dict:
  """ShapeDtypeStructs of ``{"params": ..., "stats": ...}`` with the seed axis, as checkpointed:
  what a trained model needs, nothing of the optimizer."""

  def one(key):
    variables = init_variables(model, jax.random.split(key)[0])
    return {"params": variables.pop("params"), "stats": variables}

  keys = jax.ShapeDtypeStruct((num_seeds, 2), jnp.uint32)
  return jax.eval_shape(jax.vmap(one), keys)


def restore_variables(workdir: str, model: VAE, num_seeds: int, sharding, step: int | None = None):
  """(epoch, ``{"params", "stats"}`` of every seed) of the checkpoint ``step`` (default: the
  latest that reads back; an unreadable later one is named in a warning and left in place),
  placed with ``sharding``. Opens the checkpoints read-only."""
  like = jax.tree.map(
    lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding),
    variables_shape(model, num_seeds),
  )
  mngr = manager(workdir, read_only=True)
  try:
    if step is None:
      return restore_latest_readable(mngr, like, subtree=True, set_aside=False)
    return restore_subtree(mngr, like, step)
  finally:
    mngr.close()
