"""The training state: everything that changes during training, one pytree, seeds stacked."""

from __future__ import annotations

from typing import Any

import flax.struct
import jax
import jax.numpy as jnp
import optax

from vae.model import VAE, init_variables


@flax.struct.dataclass
class TrainState:
  """Everything that changes during training (a pytree; leading seed axis when vmapped).

  The checkpoint of a workdir is this pytree (``vae.checkpoints``); ``vae.load`` reads back only
  ``params`` and ``stats``.
  """

  epoch: jax.Array  # completed epochs
  step: jax.Array  # completed optimizer steps
  params: Any
  stats: Any  # non-trainable collections ({"likelihood_stats": ...} or {})
  opt_state: Any
  key: jax.Array  # raw uint32[2] PRNG key, split once per epoch


def seed_keys(config) -> jax.Array:
  """The raw keys of ``config.num_seeds`` seeds: seed s of a run uses key(config.seed + s)."""
  return jnp.stack([jax.random.PRNGKey(config.seed + s) for s in range(config.num_seeds)])


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


def init_states(model: VAE, tx, config, sharding=None) -> TrainState:
  """``config.num_seeds`` fresh states stacked on a leading axis (``seed_keys``), placed with
  ``sharding`` (``mesh.seed_sharded``: each device, of any process, makes its own seeds)."""
  init = jax.vmap(lambda k: init_state(model, tx, k))
  return jax.jit(init, out_shardings=sharding)(seed_keys(config))
