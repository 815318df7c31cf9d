"""``train_and_evaluate(config, workdir)``: the training loop, callable from a script or a notebook.

Per epoch: one compiled call trains every seed over the whole epoch (``vae.steps``), then the
host does what needs a host, once: checks the loss is finite, evaluates the test set (another
compiled call), writes metrics (JSON lines + TensorBoard), an image grid and a checkpoint.

Re-running with the same workdir resumes from the latest complete checkpoint; a run interrupted
at any point and resumed ends bit-identical to an uninterrupted one (on CPU). SIGTERM finishes
the epoch in flight, saves a checkpoint and returns.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import tqdm
from tensorboardX import SummaryWriter

from vae import checkpoints as ckpt
from vae import data as data_lib
from vae import images as images_lib
from vae import objective, steps
from vae.model import build_model

log = logging.getLogger(__name__)

TEST_KEY_SEED = 1234  # fixed preprocessing noise of the per-epoch test set (same for all runs)
SHOW_KEY_SEED = 4321  # fixed latent draws of the per-epoch image grids


@dataclasses.dataclass
class TrainResult:
  """What ``train_and_evaluate`` returns: the final state and how the run ended."""

  state: steps.TrainState
  epoch: int
  interrupted: bool
  metrics: list[dict]


def load_data(config) -> tuple[np.ndarray, np.ndarray]:
  """(train images prepared for the protocol, test images uint8) on the host."""
  d = config.data
  kwargs = dict(source=d.source, data_dir=d.data_dir or None)
  train, _ = data_lib.load_mnist("train", **kwargs)
  test, _ = data_lib.load_mnist("test", **kwargs)
  for name, size, total in (
    ("train_size", d.train_size, len(train)),
    ("test_size", d.test_size, len(test)),
  ):
    if not 0 <= size <= total:
      raise ValueError(f"data.{name}={size} must be in [0, {total}] (0: all)")
  train = train[: d.train_size or None]
  test = test[: d.test_size or None]
  return data_lib.prepare_images(train, d.protocol, seed=0), test


def test_inputs(config, test_uint8: np.ndarray, *, static_seed: int = 1) -> jax.Array:
  """The per-epoch test set: the protocol applied once with a fixed key (identical across runs).

  ``static_seed`` seeds the one fixed binarization of ``binarized_static`` (the training set uses
  0, so a test image never shares its training counterpart's noise)."""
  images = data_lib.prepare_images(test_uint8, config.data.protocol, seed=static_seed)
  return jax.jit(
    lambda im: data_lib.preprocess(
      jax.random.PRNGKey(TEST_KEY_SEED), im, config.data.protocol, gamma=config.data.gamma
    )
  )(images)


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str) -> TrainResult:
  """Trains (or resumes) the run described by ``config`` in ``workdir``; see the module docstring."""
  mesh = steps.make_mesh()
  steps.validate(config, mesh.size)
  model = build_model(config)
  ckpt.check_or_write_config(workdir, config)

  train_images, test_images = load_data(config)
  per_epoch = steps.steps_per_epoch(config, len(train_images))
  tx = steps.make_optimizer(config, per_epoch)

  state = steps.replicate(steps.init_states(model, tx, config), mesh)
  mngr = ckpt.manager(workdir, config.keep_checkpoints)
  start = 0
  if mngr.latest_step() is not None:
    start, state = ckpt.restore(mngr, state)
    log.info("resumed %s from the checkpoint of epoch %d", workdir, start)
  ckpt.truncate_metrics(workdir, start)

  if start >= config.num_epochs:
    log.info("%s already finished %d epochs: nothing to train", workdir, start)
    mngr.close()
    return TrainResult(
      state=state, epoch=start, interrupted=False, metrics=ckpt.read_metrics(workdir)
    )
  images_dev = steps.replicate(jnp.asarray(train_images), mesh)
  x_test = steps.replicate(test_inputs(config, test_images), mesh)
  t0 = time.perf_counter()
  train_epoch = steps.make_train_epoch(model, tx, config, mesh).lower(state, images_dev).compile()
  compile_seconds = time.perf_counter() - t0
  evaluate = steps.make_evaluate(model, config, mesh)
  show = steps.make_show(model)
  eval_key = jax.random.PRNGKey(TEST_KEY_SEED + 1)
  show_x = x_test[:32]

  writer = SummaryWriter(os.path.join(workdir, "tensorboard"), purge_step=start + 1)
  os.makedirs(os.path.join(workdir, "images"), exist_ok=True)
  bar = tqdm.tqdm(
    range(start, config.num_epochs),
    initial=start,
    total=config.num_epochs,
    desc=f"{config.likelihood}",
    unit="epoch",
    disable=not config.progress_bar,
  )
  epoch, interrupted = start, False
  with steps.SigtermFlag() as sigterm:
    for epoch in bar:
      epoch += 1
      t = time.perf_counter()
      state, train_metrics = train_epoch(state, images_dev)
      train_metrics = jax.device_get(train_metrics)  # the one host transfer per epoch
      seconds = time.perf_counter() - t
      if not all(np.isfinite(v).all() for v in train_metrics.values()):
        mngr.wait_until_finished()
        bad = {k: int((~np.isfinite(v)).sum()) for k, v in train_metrics.items()}
        raise steps.NonFiniteLossError(
          f"non-finite training values in epoch {epoch} (counts of NaN/inf per metric: {bad}); "
          f"stopped without saving. The last good checkpoint is epoch {mngr.latest_step()} in "
          f"{workdir}; lower the learning rate or check the likelihood options."
        )
      row = {
        "epoch": epoch,
        "step": int(jax.device_get(state.step[0])),
        "seconds": seconds,
        "images_per_second": steps.images_per_second(
          config.num_seeds, per_epoch, config.batch_size, seconds
        ),
      }
      if epoch == start + 1:
        row["compile_seconds"] = compile_seconds
      row["train"] = steps.mean_over_seeds({k: v.mean(-1) for k, v in train_metrics.items()})
      last = epoch == config.num_epochs or sigterm.raised
      if epoch % config.eval_every_epochs == 0 or last:
        test = jax.device_get(evaluate(state, x_test, eval_key))
        if config.data.protocol == "dequantized" and config.likelihood != "bernoulli":
          # a bound on a density of (pixel + u)/256: bits/dim apply (a Bernoulli is no density)
          test["bits_per_dim"] = objective.bits_per_dim(np.asarray(test["elbo"]))
        row["test"] = steps.mean_over_seeds(test)
      _log_epoch(writer, row)
      if config.image_every_epochs and (epoch % config.image_every_epochs == 0 or last):
        _save_images(workdir, epoch, show(state, show_x, jax.random.PRNGKey(SHOW_KEY_SEED)), show_x)
      ckpt.append_metrics(workdir, row)
      if epoch % config.checkpoint_every_epochs == 0 or last:
        ckpt.save(mngr, epoch, state)
      bar.set_postfix(
        loss=f"{row['train']['loss']:.2f}",
        elbo=f"{row['train']['elbo']:.2f}",
        test_elbo=f"{row.get('test', {}).get('elbo', float('nan')):.2f}",
      )
      if sigterm.raised:
        interrupted = True
        log.warning(
          "stopped by SIGTERM after epoch %d; checkpoint saved in %s; run the same "
          "command again to resume",
          epoch,
          workdir,
        )
        break
  mngr.wait_until_finished()
  mngr.close()
  writer.close()
  return TrainResult(
    state=state, epoch=epoch, interrupted=interrupted, metrics=ckpt.read_metrics(workdir)
  )


def _log_epoch(writer: SummaryWriter, row: dict) -> None:
  for split in ("train", "test"):
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
  images_lib.save_panels(os.path.join(workdir, "images", f"epoch_{epoch:04d}.png"), panels)
