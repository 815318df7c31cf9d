"""Devices: the mesh the batch is sharded over, and placing arrays on it."""

from __future__ import annotations

import jax
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P


def make_mesh() -> Mesh:
  """All devices on one ``data`` axis: the batch is split over them, parameters replicated."""
  return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def replicate(tree, mesh: Mesh):
  """``tree`` placed on every device of ``mesh``."""
  return jax.device_put(tree, replicated(mesh))


def shard_batch(x, mesh: Mesh):
  """Inside ``jit``: x's leading (batch) axis split over the ``data`` axis of ``mesh``."""
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P("data")))
