"""The compiled programs of training: one function per epoch, seeds vmapped, the batch sharded over devices.

The shape that makes it fast on accelerators, from the start:

* the training images live on the device (uint8, replicated); each epoch shuffles them on device,
  preprocesses each minibatch on device (fresh dequantization noise or binarization) and runs
  ``lax.scan`` over the minibatches: **one jitted call per epoch, no Python per step**;
* ``config.num_seeds`` independent runs are ``vmap``ped into the same program (each seed's numbers
  equal training it alone);
* the minibatch is sharded over all local devices along a ``data`` mesh axis (``jax.sharding``,
  parameters replicated): data parallelism without any pmap bookkeeping;
* the state is donated to the epoch function, and everything random comes from the key in the
  state, so a run is a pure function of its config: resumed runs are bit-identical on CPU.
"""

from __future__ import annotations

import inspect
import logging
import signal
from typing import Any, Callable

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from vae import data as data_lib
from vae import objective
from vae.model import VAE, init_variables

log = logging.getLogger(__name__)


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training (a pytree; leading seed axis when vmapped)."""

  epoch: jax.Array  # completed epochs
  step: jax.Array  # completed optimizer steps
  params: Any
  stats: Any  # non-trainable collections ({"likelihood_stats": ...} or {})
  opt_state: Any
  key: jax.Array  # raw uint32[2] PRNG key, split once per epoch


class NonFiniteLossError(FloatingPointError):
  """The loss became NaN or inf; the last checkpoint on disk is the last good state."""


# ----------------------------------------------------------------------------------- optimizer


def make_optimizer(config, steps_per_epoch: int) -> optax.GradientTransformation:
  """The optax optimizer named by ``config.optimizer`` (with its schedule and clipping)."""
  opt = config.optimizer
  lr = opt.learning_rate
  if opt.schedule == "iwae":
    # Burda et al. 2016: 3^i epochs at lr * 10^(-i/7), i = 0..7 (3280 epochs in all).
    boundaries = np.cumsum([3**i for i in range(8)])[:-1] * steps_per_epoch
    lr = optax.piecewise_constant_schedule(lr, {int(b): 10 ** (-1 / 7) for b in boundaries})
  elif opt.schedule != "constant":
    raise ValueError(f"optimizer.schedule={opt.schedule!r} is not one of ('constant', 'iwae')")
  factory = getattr(optax, opt.name, None)
  if factory is None or not callable(factory) or "learning_rate" not in _params(factory):
    raise ValueError(
      f"optimizer.name={opt.name!r} is not an optax optimizer taking learning_rate "
      f"(e.g. 'adam', 'adamw', 'sgd', 'rmsprop')"
    )
  kwargs = {k: opt[k] for k in ("b1", "b2", "eps") if k in _params(factory)}
  tx = factory(learning_rate=lr, **kwargs)
  if opt.clip_value > 0:
    tx = optax.chain(optax.clip(opt.clip_value), tx)
  return tx


def _params(fn: Callable) -> set[str]:
  try:
    return set(inspect.signature(fn).parameters)
  except (TypeError, ValueError):
    return set()


# ------------------------------------------------------------------------- state and programs


def init_state(model: VAE, tx: optax.GradientTransformation, seed_key: jax.Array) -> TrainState:
  """A fresh single-seed state from a raw uint32[2] key."""
  k_init, k_train = jax.random.split(seed_key)
  variables = init_variables(model, k_init)
  params = variables.pop("params")
  return TrainState(
    epoch=jnp.zeros((), jnp.int32),
    step=jnp.zeros((), jnp.int32),
    params=params,
    stats=variables,
    opt_state=tx.init(params),
    key=k_train,
  )


def init_states(model, tx, config) -> TrainState:
  """``config.num_seeds`` fresh states stacked on a leading axis; seed s uses key(seed + s)."""
  keys = jnp.stack([jax.random.PRNGKey(config.seed + s) for s in range(config.num_seeds)])
  return jax.jit(jax.vmap(lambda k: init_state(model, tx, k)))(keys)


def make_mesh() -> Mesh:
  return Mesh(np.asarray(jax.devices()), ("data",))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())


def replicate(tree, mesh: Mesh):
  return jax.device_put(tree, replicated(mesh))


def _shard_batch(x, mesh: Mesh):
  return jax.lax.with_sharding_constraint(x, NamedSharding(mesh, P("data")))


def _apply(model, state_params, stats, x, keys, *, train, num_samples):
  k_sample, k_dropout = keys
  return model.apply(
    {"params": state_params, **stats},
    x,
    train=train,
    num_samples=num_samples,
    rngs={"sample": k_sample, "dropout": k_dropout},
    mutable=["likelihood_stats"] if train else False,
  )


def make_train_epoch(model: VAE, tx, config, mesh: Mesh) -> Callable:
  """(states [S, ...], images uint8 [N, 28, 28]) -> (states, per-step metrics [S, steps]); jitted."""
  batch, protocol, gamma = config.batch_size, config.data.protocol, config.data.gamma
  iw = config.num_importance_samples > 1

  def one_seed(state: TrainState, images):
    key, k_perm, k_steps = jax.random.split(state.key, 3)
    steps = images.shape[0] // batch
    order = jax.random.permutation(k_perm, images.shape[0])[: steps * batch].reshape(steps, batch)

    def step(carry, inputs):
      params, stats, opt_state = carry
      idx, k = inputs
      k_data, k_sample, k_dropout = jax.random.split(k, 3)
      x = _shard_batch(data_lib.preprocess(k_data, images[idx], protocol, gamma=gamma), mesh)

      def loss_fn(p):
        out, new_stats = _apply(
          model,
          p,
          stats,
          x,
          (k_sample, k_dropout),
          train=True,
          num_samples=config.num_importance_samples,
        )
        loss = objective.training_loss(out, beta=config.beta, importance_weighted=iw)
        return loss, (out, dict(new_stats))

      (loss, (out, new_stats)), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
      updates, opt_state = tx.update(grads, opt_state, params)
      params = optax.apply_updates(params, updates)
      metrics = {
        "loss": loss,
        "elbo": jnp.mean(objective.elbo(out)),
        "recon": jnp.mean(out["log_px_z"]),
        "kl": jnp.mean(out["kl"]),
      }
      return (params, new_stats, opt_state), metrics

    carry = (state.params, state.stats, state.opt_state)
    (params, stats, opt_state), metrics = jax.lax.scan(
      step, carry, (order, jax.random.split(k_steps, steps))
    )
    new = state.replace(
      epoch=state.epoch + 1,
      step=state.step + steps,
      params=params,
      stats=stats,
      opt_state=opt_state,
      key=key,
    )
    return new, metrics

  return jax.jit(_over_seeds(one_seed, (0, None)), donate_argnums=0)


def make_evaluate(model: VAE, config, mesh: Mesh) -> Callable:
  """(states, x float [N, 28, 28] preprocessed, key) -> per-seed test means of elbo/recon/kl."""
  eb = config.eval_batch_size

  def one_seed(state: TrainState, x, key):
    n = x.shape[0]
    steps = -(-n // eb)
    pad = steps * eb - n
    xb = jnp.pad(x, ((0, pad), (0, 0), (0, 0))).reshape(steps, eb, *x.shape[1:])
    mask = (jnp.arange(steps * eb) < n).reshape(steps, eb)

    def body(totals, inputs):
      xi, mi, k = inputs
      out = _apply(
        model, state.params, state.stats, _shard_batch(xi, mesh), (k, k), train=False, num_samples=1
      )
      values = {"elbo": objective.elbo(out), "recon": out["log_px_z"][0], "kl": out["kl"]}
      return {
        name: totals[name] + jnp.sum(jnp.where(mi, v, 0.0)) for name, v in values.items()
      }, None

    zero = jnp.zeros((), jnp.float32)
    totals, _ = jax.lax.scan(
      body, {"elbo": zero, "recon": zero, "kl": zero}, (xb, mask, jax.random.split(key, steps))
    )
    return {name: total / n for name, total in totals.items()}

  return jax.jit(_over_seeds(one_seed, (0, None, None)))


def _over_seeds(fn: Callable, in_axes: tuple) -> Callable:
  """``vmap`` over the leading seed axis; with one seed, index it away instead.

  XLA's CPU backend runs batched matmuls markedly slower than plain ones (3.3 s vs 2.3 s per
  epoch of the 784-400-20 MLP), so the single-seed program stays unbatched; its inputs and
  outputs keep the seed axis either way.
  """
  vmapped = jax.vmap(fn, in_axes=in_axes)

  def run(*args):
    seeds = {jax.tree.leaves(a)[0].shape[0] for a, ax in zip(args, in_axes) if ax == 0}
    if seeds != {1}:
      return vmapped(*args)
    squeezed = [jax.tree.map(lambda a: a[0], a) if ax == 0 else a for a, ax in zip(args, in_axes)]
    return jax.tree.map(lambda a: a[None], fn(*squeezed))

  return run


def make_show(model: VAE, num: int = 32) -> Callable:
  """(states, x [num, 28, 28], key) -> seed 0's reconstruction means, sample means and samples."""

  def show(state: TrainState, x, key):
    state = jax.tree.map(lambda a: a[0], state)
    variables = {"params": state.params, **state.stats}
    mean, _ = model.apply(variables, x, method=VAE.encode)
    recon = model.apply(variables, mean, method=VAE.decode).mean()
    z = jax.random.normal(key, (num, model.encoder.latent_dim))
    dist = model.apply(variables, z, method=VAE.decode)
    return recon, dist.mean(), dist.sample(jax.random.fold_in(key, 1))

  return jax.jit(show)


def steps_per_epoch(config, num_train: int) -> int:
  steps = num_train // config.batch_size
  if steps == 0:
    raise ValueError(
      f"batch_size={config.batch_size} is larger than the {num_train} training "
      f"images; lower it or raise data.train_size"
    )
  return steps


def validate(config, num_devices: int) -> None:
  """Checks the fields the program shape depends on; raises ValueError naming the bad value."""
  if config.data.protocol not in data_lib.PROTOCOLS:
    raise ValueError(f"data.protocol={config.data.protocol!r} is not one of {data_lib.PROTOCOLS}")
  for field in ("batch_size", "eval_batch_size"):
    value = config[field]
    if value <= 0 or value % num_devices:
      raise ValueError(
        f"{field}={value} must be a positive multiple of the {num_devices} "
        f"device(s) the batch is sharded over"
      )
  for field in (
    "num_seeds",
    "num_importance_samples",
    "num_epochs",
    "keep_checkpoints",
    "checkpoint_every_epochs",
    "eval_every_epochs",
    "image_every_epochs",
  ):
    if config[field] < (0 if field in ("num_epochs", "image_every_epochs") else 1):
      raise ValueError(f"{field}={config[field]} must be >= 1")
  if config.beta < 0:
    raise ValueError(f"beta={config.beta} must be >= 0")


class SigtermFlag:
  """Turns SIGTERM into a flag checked between epochs (then: checkpoint and a clean exit)."""

  def __init__(self):
    self.raised = False
    self._previous = None

  def __enter__(self):
    try:
      self._previous = signal.signal(signal.SIGTERM, self._handle)
    except ValueError:  # not the main thread (e.g. some notebook kernels): no handler
      self._previous = None
    return self

  def _handle(self, signum, frame):
    del signum, frame
    self.raised = True
    log.warning("SIGTERM received: finishing this epoch, saving a checkpoint, exiting")

  def __exit__(self, *exc):
    if self._previous is not None:
      signal.signal(signal.SIGTERM, self._previous)


def mean_over_seeds(tree) -> dict:
  """Per-seed host values -> {"name": mean, "per_seed": {"name": [...]}} for metrics.jsonl."""
  flat = {k: np.asarray(v, np.float64) for k, v in tree.items()}
  row = {k: float(v.mean()) for k, v in flat.items()}
  row["per_seed"] = {k: [float(x) for x in np.atleast_1d(v)] for k, v in flat.items()}
  return row


def images_per_second(num_seeds: int, steps: int, batch: int, seconds: float) -> float:
  return num_seeds * steps * batch / max(seconds, 1e-9)
