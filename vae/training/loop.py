"""``train_and_evaluate(config, workdir)``: the training loop, callable from a script or a notebook.

Per epoch: one compiled call trains every seed over the whole epoch (``vae.training.programs``), then the
host does what needs a host, once: checks the loss is finite, evaluates the held-out images (the
validation split, ``data.validation_size``, or else the first ``data.test_size`` test images;
another compiled call), writes metrics (JSON lines + TensorBoard), an image grid and a checkpoint.

Re-running with the same workdir resumes from the latest complete checkpoint; a run interrupted
at any point and resumed ends bit-identical to an uninterrupted one (on CPU). SIGTERM finishes
the epoch in flight, saves a checkpoint and returns.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import signal
import time

import jax
import ml_collections
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

from vae import checkpoints, data, hosts, images, objective
from vae import workdir as wd
from vae.mesh import make_mesh, replicate, seed_sharded
from vae.model import build_model
from vae.training import checks, programs
from vae.training.optimizer import make_optimizer
from vae.training.state import TrainState, init_states

log = logging.getLogger(__name__)

TEST_ELBO_KEY = data.inputs.FIXED_INPUTS_KEY + 1  # latent draws of the per-epoch test ELBO
SHOW_KEY = 4321  # fixed latent draws of the per-epoch image grids
DIVERGENCE_NATS = 50.0  # a fall of the training ELBO from its best epoch that warns of divergence


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or inf; the last checkpoint on disk is the last good state."""


@dataclasses.dataclass
class TrainResult:
  """What ``train_and_evaluate`` returns: the final state and how the run ended."""

  state: TrainState
  epoch: int
  interrupted: str | bool  # False, or the signal that stopped it ("SIGTERM", "SIGINT")
  metrics: list[dict]


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainResult:
  """Trains (or resumes) the run described by ``config`` in ``workdir``; see the module docstring."""
  # Every value is checked, and the data loaded, before anything is written: a rejected command
  # leaves the workdir as it was (or absent).
  checks.validate(config, jax.device_count())
  mesh = make_mesh(config)
  model = build_model(config)
  train_images = data.training_images(config)
  # The per-epoch curves' held-out images: the validation split if the run has one (the test set
  # is then left to the final evaluation), else the first data.test_size test images (the
  # metrics row says which: "validation" or "test").
  held_out_images = data.validation_images(config)
  held_out = "validation" if held_out_images is not None else "test"
  if held_out_images is None:
    held_out_images, _ = data.split(config, "test", config.data.test_size, "data.test_size")
  per_epoch = checks.steps_per_epoch(config, len(train_images))
  tx = make_optimizer(config, per_epoch)
  writer = hosts.is_writer()  # with several processes, only process 0 writes files
  wd.check_or_write_config(workdir, config, write=writer)
  hosts.barrier("config written")

  state = init_states(model, tx, config, seed_sharded(mesh))
  mngr = checkpoints.manager(workdir, config.keep_checkpoints)
  start = 0
  if mngr.latest_step() is not None:
    start, state = checkpoints.restore_latest_readable(mngr, state)
    log.info("resumed %s from the checkpoint of epoch %d", workdir, start)
  if writer:
    wd.repair_metrics(workdir, start)

  if start >= config.num_epochs:
    log.info("%s already finished %d epochs: nothing to train", workdir, start)
    mngr.close()
    hosts.barrier("metrics repaired")
    return TrainResult(
      state=state, epoch=start, interrupted=False, metrics=wd.read_metrics(workdir)
    )
  images_dev = replicate(train_images, mesh)
  x_test_host = np.asarray(data.fixed_inputs(config, held_out_images))
  x_test, show_x = replicate(x_test_host, mesh), replicate(x_test_host[:32], mesh)
  t0 = time.perf_counter()
  train_epoch = (
    programs.make_train_epoch(model, tx, config, mesh).lower(state, images_dev).compile()
  )
  compile_seconds = time.perf_counter() - t0
  test_elbo = programs.make_test_elbo(model, config, mesh)
  show = programs.make_show(model, mesh)
  test_key = replicate(np.asarray(jax.random.PRNGKey(TEST_ELBO_KEY)), mesh)
  show_key = replicate(np.asarray(jax.random.PRNGKey(SHOW_KEY)), mesh)

  events = (
    SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start + 1) if writer else None
  )
  if writer:
    os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
  bar = tqdm.tqdm(
    range(start, config.num_epochs),
    initial=start,
    total=config.num_epochs,
    desc=f"{config.likelihood}",
    unit="epoch",
    disable=not (config.progress_bar and writer),
  )
  epoch, interrupted, best = start, False, None
  with StopFlag() as stop:
    for epoch in bar:
      epoch += 1
      t = time.perf_counter()
      state, train_metrics = train_epoch(state, images_dev)
      train_metrics = jax.device_get(train_metrics)  # the one host transfer per epoch
      seconds = time.perf_counter() - t
      if not all(np.isfinite(v).all() for v in train_metrics.values()):
        mngr.wait_until_finished()
        bad = {k: int((~np.isfinite(v)).sum()) for k, v in train_metrics.items()}
        raise NonFiniteLossError(
          f"non-finite training values in epoch {epoch} (counts of NaN/inf per metric: {bad}); "
          f"stopped without saving. The last good checkpoint is epoch {mngr.latest_step()} in "
          f"{workdir}; lower the learning rate or check the likelihood options."
        )
      elbo = float(np.mean(train_metrics["elbo"]))
      if best is not None and elbo < best[1] - DIVERGENCE_NATS:
        log.warning(
          "the training ELBO fell from %.1f (epoch %d) to %.1f nats (epoch %d), by more than %g: "
          "diverging? Lower optimizer.learning_rate (now %g).",
          best[1], best[0], elbo, epoch, DIVERGENCE_NATS, config.optimizer.learning_rate,
        )  # fmt: skip
      if best is None or elbo > best[1]:
        best = (epoch, elbo)
      row = {
        "epoch": epoch,
        "step": epoch * per_epoch,  # every epoch runs per_epoch steps
        "seconds": seconds,
        "images_per_second": images_per_second(
          config.num_seeds, per_epoch, config.batch_size, seconds
        ),
      }
      if epoch == start + 1:
        row["compile_seconds"] = compile_seconds
      row["train"] = mean_over_seeds({k: v.mean(-1) for k, v in train_metrics.items()})
      if hosts.any_process(stop.raised) and not stop.raised:
        stop.raised = "a signal to another process"
      last = epoch == config.num_epochs or stop.raised
      if epoch % config.eval_every_epochs == 0 or last:
        test = jax.device_get(test_elbo(state, x_test, test_key))
        if (
          config.data.protocol == "dequantized" and model.likelihood.distribution_type.is_density()
        ):
          # a bound on a density of (pixel + u)/256: bits/dim apply (a Bernoulli is no density)
          test["bits_per_dim"] = objective.bits_per_dim(np.asarray(test["elbo"]))
        row[held_out] = mean_over_seeds(test)
      if config.image_every_epochs and (epoch % config.image_every_epochs == 0 or last):
        shown = show(state, show_x, show_key)
        if writer:
          _save_images(workdir, epoch, shown, x_test_host[:32])
      if writer:
        _log_epoch(events, row)
        wd.append_metrics(workdir, row)
      if epoch % config.checkpoint_every_epochs == 0 or last:
        checkpoints.save(mngr, epoch, state)
      bar.set_postfix(
        loss=f"{row['train']['loss']:.2f}",
        elbo=f"{row['train']['elbo']:.2f}",
        **{f"{held_out}_elbo": f"{row.get(held_out, {}).get('elbo', float('nan')):.2f}"},
      )
      if stop.raised:
        interrupted = stop.raised
        log.warning(
          "stopped by %s after epoch %d; checkpoint saved in %s; run the same "
          "command again to resume",
          stop.raised,
          epoch,
          workdir,
        )
        break
  mngr.wait_until_finished()
  mngr.close()
  if events is not None:
    events.close()
  hosts.barrier("metrics written")
  return TrainResult(
    state=state, epoch=epoch, interrupted=interrupted, metrics=wd.read_metrics(workdir)
  )


def _log_epoch(writer: SummaryWriter, row: dict) -> None:
  for split in ("train", "validation", "test"):
    for name, value in row.get(split, {}).items():
      if name != "per_seed":
        writer.add_scalar(f"{split}/{name}", value, row["epoch"])
  writer.add_scalar("perf/seconds_per_epoch", row["seconds"], row["epoch"])
  writer.add_scalar("perf/images_per_second", row["images_per_second"], row["epoch"])
  writer.flush()


def _save_images(workdir: str, epoch: int, shown, show_x) -> None:
  recon, sample_mean, sample = (np.asarray(a) for a in jax.device_get(shown))
  panels = {
    "data": np.asarray(show_x),
    "reconstruction mean": recon,
    "sample mean": sample_mean,
    "sample": sample,
  }
  images.save_panels(os.path.join(workdir, "images", f"epoch_{epoch:04d}.png"), panels)


class StopFlag:
  """Turns SIGTERM and Ctrl-C (SIGINT) into a flag checked between epochs: the epoch in flight
  finishes, a checkpoint is saved and training returns. A second Ctrl-C stops at once (the last
  checkpoint on disk is complete: Orbax writes atomically)."""

  SIGNALS = {signal.SIGTERM: "SIGTERM", signal.SIGINT: "SIGINT"}

  def __init__(self):
    self.raised: str | bool = False
    self._previous = {}

  def __enter__(self):
    for sig in self.SIGNALS:
      try:
        self._previous[sig] = signal.signal(sig, self._handle)
      except ValueError:  # not the main thread (e.g. some notebook kernels): no handler
        pass
    return self

  def _handle(self, signum, frame):
    del frame
    if self.raised and signum == signal.SIGINT:
      raise KeyboardInterrupt
    self.raised = self.SIGNALS[signum]
    log.warning("%s received: finishing this epoch, saving a checkpoint, exiting", self.raised)

  def __exit__(self, *exc):
    for sig, previous in self._previous.items():
      signal.signal(sig, previous)


def mean_over_seeds(tree) -> dict:
  """Per-seed host values -> {"name": mean, "per_seed": {"name": [...]}} for metrics.jsonl."""
  flat = {k: np.asarray(v, np.float64) for k, v in tree.items()}
  row = {k: float(v.mean()) for k, v in flat.items()}
  row["per_seed"] = {k: [float(x) for x in np.atleast_1d(v)] for k, v in flat.items()}
  return row


def images_per_second(num_seeds: int, steps: int, batch: int, seconds: float) -> float:
  return num_seeds * steps * batch / max(seconds, 1e-9)
