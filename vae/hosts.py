"""Several processes, one run: JAX's multi-controller runtime (``jax.distributed``).

A run on a TPU pod slice or on several GPU nodes is one program launched once per host; every
process runs the same Python, reads the data itself (MNIST is small), and the compiled programs
span the devices of all processes (``vae.mesh``). What differs between processes:

* only process 0 writes files meant for people (``config.json``, ``metrics.jsonl``, TensorBoard
  events, images, evaluations, reports): ``is_writer()``; the others wait where they need what it
  wrote (``barrier``);
* checkpoints are written and read by all processes together (Orbax does the coordination), and
  a checkpoint written by several processes restores in one;
* a decision one process takes (SIGTERM arrived here; stop after this epoch) is taken by all
  (``any_process``), so nobody waits forever on a collective the others left.

``initialize`` is called by the entry points (``--distributed``; see experiments/README.md, "Several
hosts") before anything touches a device.
"""

from __future__ import annotations

import logging

import jax
import numpy as np

log = logging.getLogger(__name__)


def initialize(coordinator_address: str = "", num_processes: int = 0, process_id: int = -1) -> None:
  """``jax.distributed.initialize``: with no arguments JAX detects the cluster (a Cloud TPU pod
  slice, SLURM, Open MPI, Kubernetes); on a plain machine give all three (2 local processes:
  ``localhost:PORT``, 2, and 0 or 1). On CPU the processes' collectives use gloo."""
  kwargs = {}
  if coordinator_address:
    kwargs["coordinator_address"] = coordinator_address
  if num_processes:
    kwargs["num_processes"] = num_processes
  if process_id >= 0:
    kwargs["process_id"] = process_id
  jax.distributed.initialize(**kwargs)
  log.info(
    "process %d of %d: %d local devices, %d in all",
    jax.process_index(),
    jax.process_count(),
    jax.local_device_count(),
    jax.device_count(),
  )


def is_writer() -> bool:
  """Whether this process writes the run's files (process 0; always, with one process)."""
  return jax.process_index() == 0


def barrier(name: str) -> None:
  """Every process waits here until all have arrived (nothing to do with one process)."""
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices(name)


def any_process(flag: bool) -> bool:
  """Whether ``flag`` is true in any process (every process must call it)."""
  if jax.process_count() == 1:
    return bool(flag)
  from jax.experimental import multihost_utils

  flags = multihost_utils.process_allgather(np.asarray([bool(flag)], np.int32))
  return bool(np.any(flags))
