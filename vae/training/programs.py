"""The compiled programs of training: one function per epoch, seeds split over the ``seeds`` mesh
axis, each seed's batch over the ``data`` axis (``vae.mesh``).

The shape that makes it fast on accelerators, from the start:

* the training images live on the device (uint8, replicated); each epoch shuffles them on device,
  preprocesses each minibatch on device (fresh dequantization noise or binarization; the noise
  and the dropout masks are 16-bit values, four per Threefry evaluation, ``vae.noise``) and runs
  ``lax.scan`` over the minibatches: **one jitted call per epoch, no Python per step**;
* ``config.num_seeds`` independent runs are trained by the same program (each seed's numbers
  equal training it alone): ``vmap``ped on accelerators, one after another inside the program on
  the CPU, where batched matmuls are slower (``over_seeds``);
* the seed axis is split over the ``seeds`` mesh axis (``vmap``'s ``spmd_axis_name``): each
  device trains its own seeds, with no communication between devices; each seed's minibatch is
  split over the ``data`` axis (parameters replicated along it): data parallelism without any
  pmap bookkeeping. Metrics come back replicated (small), so every process can read them;
* the state is donated to the epoch function, and everything random comes from the key in the
  state, so a run is a pure function of its config: resumed runs are bit-identical on CPU.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax
from jax.sharding import Mesh

from vae import batching, objective
from vae.data import preprocess
from vae.mesh import replicated, seed_sharded, shard_batch
from vae.model import VAE
from vae.training.state import TrainState


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


def kl_warmup_steps(config, steps_per_epoch: int) -> int:
  """Optimizer steps of the KL-weight warm-up: ``round(kl_warmup_epochs * steps_per_epoch)``
  (0: off, also when the fraction of an epoch rounds to no step)."""
  return round(config.get("kl_warmup_epochs", 0.0) * steps_per_epoch)


def kl_weight_at(step, config, steps_per_epoch: int):
  """The KL weight of the training loss at global optimizer step ``step`` (0-based; a Python or
  traced integer): ``kl_weight * min(1, step / warmup_steps)`` during the KL warm-up
  (``kl_warmup_epochs``), ``kl_weight`` itself (the Python float, unchanged) when it is off."""
  warmup = kl_warmup_steps(config, steps_per_epoch)
  if warmup == 0:
    return config.kl_weight
  return config.kl_weight * jnp.minimum(1.0, step / warmup)


def make_train_epoch(model: VAE, tx, config, mesh: Mesh) -> Callable:
  """(states [S, ...], images uint8 [N, 28, 28]) -> (states, per-step metrics [S, steps]); jitted.

  The metric ``loss`` is the objective optimized, with the KL weight of its step
  (``kl_weight_at``); ``elbo``, ``recon`` and ``kl`` are the unweighted terms."""
  batch, protocol, gamma = config.batch_size, config.data.protocol, config.data.gamma
  iw = config.num_importance_samples > 1

  def one_seed(state: TrainState, images):
    key, k_perm, k_steps = jax.random.split(state.key, 3)
    steps = images.shape[0] // batch
    order = jax.random.permutation(k_perm, images.shape[0])[: steps * batch].reshape(steps, batch)
    # Decided here, at trace time: without a warm-up the step index is not even scanned over,
    # and the loss is the program it always was.
    warm = kl_warmup_steps(config, steps) > 0

    def step(carry, inputs):
      params, stats, opt_state = carry
      if warm:
        idx, k, i = inputs
        kl_weight = kl_weight_at(state.step + i, config, steps)
      else:
        (idx, k), kl_weight = inputs, config.kl_weight
      k_data, k_sample, k_dropout = jax.random.split(k, 3)
      x = shard_batch(preprocess(k_data, images[idx], protocol, gamma=gamma, packed=True), mesh)

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
        loss = objective.training_loss(out, kl_weight=kl_weight, importance_weighted=iw)
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
    xs = (order, jax.random.split(k_steps, steps))
    if warm:
      xs += (jnp.arange(steps, dtype=state.step.dtype),)
    (params, stats, opt_state), metrics = jax.lax.scan(step, carry, xs)
    new = state.replace(
      epoch=state.epoch + 1,
      step=state.step + steps,
      params=params,
      stats=stats,
      opt_state=opt_state,
      key=key,
    )
    return new, metrics

  return jax.jit(
    over_seeds(one_seed, (0, None), mesh),
    in_shardings=(seed_sharded(mesh), replicated(mesh)),
    out_shardings=(seed_sharded(mesh), replicated(mesh)),
    donate_argnums=0,
  )


def make_test_elbo(model: VAE, config, mesh: Mesh) -> Callable:
  """(states, x float [N, 28, 28] preprocessed, key) -> per-seed test means of elbo/recon/kl,
  and ``mse``: the squared error of the decoder's mean summed over an image's pixels, at the same
  latent draw as the scale terms (a measure every decoder shares: the learning curves of F6).

  For a decoder with a learned scale (``Likelihood.has_learned_scale``) also ``scale``, its scale
  summarized over the test pixels, and ``scale_optimal``, the maximum-likelihood scale of one
  shared scale given the means (a Gaussian: the root mean square sigma and the root mean squared
  error; the distribution says which, ``Distribution.scale_terms`` and ``scale_power``), both at
  the same latent draw as the ELBO. With dropout, also ``scale_optimal_train``: the same with
  units dropped as in training, the optimum of the objective that is trained (dropped units make
  worse reconstructions, so a converged scale sits above ``scale_optimal``;
  ``vae.study.convergence`` checks against this one).
  """
  eb = config.eval_batch_size
  scale = model.likelihood.has_learned_scale()
  power = model.likelihood.distribution_type.scale_power
  dropout = scale and config.model.dropout > 0

  def one_seed(state: TrainState, x, key):
    xb, mask = batching.split_batches(x, eb)

    def body(totals, inputs):
      xi, mi, k = inputs
      xi = shard_batch(xi, mesh)
      out = _apply(model, state.params, state.stats, xi, (k, k), train=False, num_samples=1)
      values = {"elbo": objective.elbo(out), "recon": out["log_px_z"][0], "kl": out["kl"]}
      dist = model.apply(
        {"params": state.params, **state.stats},
        xi,
        method=VAE.sampled_reconstruction,
        rngs={"sample": k},
      )
      values["mse"] = jnp.sum((dist.mean() - xi) ** 2, (-2, -1))
      if scale:
        scale_term, error_term = dist.scale_terms(xi)
        values["scale_term"] = jnp.mean(scale_term, (-2, -1))
        values["error_term"] = jnp.mean(error_term, (-2, -1))
      if dropout:
        dist = model.apply(
          {"params": state.params, **state.stats},
          xi,
          dropout=True,
          method=VAE.sampled_reconstruction,
          rngs={"sample": k, "dropout": jax.random.fold_in(k, 1)},
        )
        values["error_term_train"] = jnp.mean(dist.scale_terms(xi)[1], (-2, -1))
      return {
        name: totals[name] + jnp.sum(jnp.where(mi, v, 0.0)) for name, v in values.items()
      }, None

    names = ("elbo", "recon", "kl", "mse") + (("scale_term", "error_term") if scale else ())
    names += ("error_term_train",) if dropout else ()
    zero = jnp.zeros((), jnp.float32)
    totals, _ = jax.lax.scan(
      body, dict.fromkeys(names, zero), (xb, mask, jax.random.split(key, len(xb)))
    )
    means = {name: total / x.shape[0] for name, total in totals.items()}
    if scale:
      means["scale"] = means.pop("scale_term") ** (1 / power)
      means["scale_optimal"] = means.pop("error_term") ** (1 / power)
    if dropout:
      means["scale_optimal_train"] = means.pop("error_term_train") ** (1 / power)
    return means

  return jax.jit(
    over_seeds(one_seed, (0, None, None), mesh),
    in_shardings=(seed_sharded(mesh), replicated(mesh), replicated(mesh)),
    out_shardings=replicated(mesh),
  )


def over_seeds(fn: Callable, in_axes: tuple, mesh: Mesh) -> Callable:
  """``fn`` over the leading seed axis of the arguments whose ``in_axes`` entry is 0, split over
  the ``seeds`` mesh axis (each device its own block of seeds).

  How a device runs its seeds depends on the platform:

  * accelerators ``vmap`` them: one batched program, wider matmuls;
  * the CPU runs them one after another inside the compiled program (``lax.map``): XLA's CPU
    backend runs batched matmuls markedly slower than plain ones (1.2-1.6x per seed at 3 seeds,
    ``experiments/speed_table.py``), and looping costs each seed exactly what one seed costs.
    Each seed then runs the single-seed program itself: its numbers are those of training it
    alone.

  With one seed the seed axis is indexed away (the single-seed program, unbatched). Inputs and
  outputs keep the seed axis either way.
  """
  devices = mesh.shape["seeds"]
  loop = mesh.devices.flat[0].platform == "cpu"
  seeded = [ax == 0 for ax in in_axes]

  def looped(*args):
    """The seeds of ``args`` (leading axis) one after another."""
    shared = [a for a, s in zip(args, seeded) if not s]

    def one(seed_args):
      it, rest = iter(seed_args), iter(shared)
      return fn(*(next(it) if s else next(rest) for s in seeded))

    return jax.lax.map(one, [a for a, s in zip(args, seeded) if s])

  per_device = jax.vmap(looped if loop else fn, in_axes=in_axes, spmd_axis_name="seeds")

  def run(*args):
    (num,) = {jax.tree.leaves(a)[0].shape[0] for a, s in zip(args, seeded) if s}
    if num == 1:
      squeezed = [jax.tree.map(lambda a: a[0], a) if s else a for a, s in zip(args, seeded)]
      return jax.tree.map(lambda a: a[None], fn(*squeezed))
    if not loop:
      return per_device(*args)
    if devices == 1:
      return looped(*args)
    # [seeds] -> [devices, seeds per device]: vmapped over the devices, looped on each
    blocks = lambda a: a.reshape(devices, num // devices, *a.shape[1:])
    split = [jax.tree.map(blocks, a) if s else a for a, s in zip(args, seeded)]
    return jax.tree.map(lambda a: a.reshape(num, *a.shape[2:]), per_device(*split))

  return run


def make_show(model: VAE, mesh: Mesh, num: int = 32) -> Callable:
  """(states, x [num, 28, 28], key) -> seed 0's reconstruction means, sample means and samples."""

  def show(state: TrainState, x, key):
    state = jax.tree.map(lambda a: a[0], state)
    variables = {"params": state.params, **state.stats}
    mean, _ = model.apply(variables, x, method=VAE.encode)
    recon = model.apply(variables, mean, method=VAE.decode).mean()
    z = jax.random.normal(key, (num, model.encoder.latent_dim))
    dist = model.apply(variables, z, method=VAE.decode)
    return recon, dist.mean(), dist.sample(jax.random.fold_in(key, 1))

  return jax.jit(show, out_shardings=replicated(mesh))
