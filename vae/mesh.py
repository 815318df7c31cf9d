"""Devices: a two-axis mesh, ``seeds`` x ``data``, and placing arrays on it.

The models here are small; what grows is the grid of runs. So the first axis is *ensemble
parallelism*: the stacked seeds of a run (``TrainState``'s leading axis) are split over the
``seeds`` axis, and each device trains its own seeds at the full batch, with no communication
between devices. The second axis is *data parallelism*: each seed's minibatch is split over the
``data`` axis (parameters replicated along it, gradients all-reduced by XLA), for one large model
or a batch too big for one device.

``config.mesh`` picks the layout:

* ``"auto"`` (default): as many devices on ``seeds`` as divide both ``num_seeds`` and the device
  count (their gcd), the rest on ``data``: all devices on ``seeds`` when ``num_seeds`` is a
  multiple of the device count, all on ``data`` for one seed (or a seed count sharing no factor
  with it), both in between (4 seeds on 8 devices: 4 x 2). (Fewer on ``seeds`` never helps a
  batch that does not split over the ``data`` axis left: that axis would only grow);
* ``"seeds"``: all devices on ``seeds`` (``num_seeds`` must be a multiple of the device count);
* ``"data"``: all devices on ``data`` (every device runs every seed on its share of the batch);
* ``"SxD"``, e.g. ``"4x2"``: S devices on ``seeds``, D on ``data``, S * D = the device count.

The mesh spans every device of every process (``jax.devices()``); in a multi-process run
(``vae.hosts``) the programs are the same, and each process feeds and reads its own devices.
Results do not depend on the layout (tests/test_mesh.py).
"""

from __future__ import annotations

import math
import re

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

AXES = ("seeds", "data")
LAYOUTS = ("auto", "seeds", "data", "SxD")


def mesh_shape(layout: str, num_seeds: int, num_devices: int) -> tuple[int, int]:
  """(devices on ``seeds``, devices on ``data``) for ``layout`` (see the module docstring); a
  ValueError names a layout that does not fit ``num_seeds`` seeds on ``num_devices`` devices.
  Whether the batches split over the data axis is checked by ``vae.training.checks``."""
  if layout == "auto":
    seeds = math.gcd(num_seeds, num_devices)
  elif layout == "seeds":
    seeds = num_devices
  elif layout == "data":
    seeds = 1
  else:
    match = re.fullmatch(r"(\d+)x(\d+)", str(layout))
    if not match:
      raise ValueError(f"mesh={layout!r} is not one of {LAYOUTS} (SxD: e.g. '4x2')")
    seeds, data = int(match.group(1)), int(match.group(2))
    if seeds * data != num_devices:
      raise ValueError(
        f"mesh={layout!r} has {seeds * data} devices; there are {num_devices} (S x D must equal it)"
      )
  if seeds < 1 or num_seeds % seeds:
    raise ValueError(
      f"mesh={layout!r} puts {seeds} devices on the seeds axis, which does not divide "
      f"num_seeds={num_seeds}; use a multiple of {seeds} seeds, or mesh='auto' or 'data'"
    )
  return seeds, num_devices // seeds


def make_mesh(config=None, devices=None) -> Mesh:
  """The ``seeds`` x ``data`` mesh of ``config`` (``config.mesh``, ``config.num_seeds``) over
  ``devices`` (default: every device of every process). Without a config: one seed, all devices
  on ``data``."""
  devices = np.asarray(jax.devices() if devices is None else devices)
  if config is None:
    shape = (1, devices.size)
  else:
    shape = mesh_shape(config.get("mesh", "auto"), config.num_seeds, devices.size)
  return Mesh(devices.reshape(shape), AXES)


def local_mesh() -> Mesh:
  """This process's devices, all on ``data``: for work every process does on its own (loading a
  run to evaluate it), which never waits on another process."""
  return make_mesh(devices=jax.local_devices())


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def seed_sharded(mesh: Mesh) -> NamedSharding:
  """A leading seed axis split over ``seeds`` (a pytree prefix: every leaf of a stacked state)."""
  return NamedSharding(mesh, P("seeds"))


def put(tree, sharding: NamedSharding):
  """Host values (the same on every process) placed as global arrays with ``sharding``; each
  process fills only its own devices, so it also works when the mesh spans several hosts."""

  def one(x):
    if isinstance(x, jax.Array) and x.is_fully_addressable and x.sharding == sharding:
      return x
    x = np.asarray(x)
    return jax.make_array_from_callback(x.shape, sharding, lambda index: x[index])

  return jax.tree.map(one, tree)


def replicate(tree, mesh: Mesh):
  """``tree`` placed on every device of ``mesh``."""
  return put(tree, replicated(mesh))


def shard_batch(x, mesh: Mesh):
  """Inside ``jit`` (and under ``vmap(..., spmd_axis_name="seeds")``): x's leading (batch) axis
  split over the ``data`` axis of ``mesh``."""
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P("data")))
