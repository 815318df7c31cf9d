"""Load a trained run from its workdir, for notebooks and evaluation.

    import vae
    run = vae.load("runs/cb")                  # latest complete checkpoint, seed 0
    mean, std = run.encode(x)                  # x: [B, 28, 28] in [0, 1]
    dist = run.decode(z)                       # a likelihoods.Distribution over pixels
    recon = run.reconstruct(x).mean()
    images = run.sample(jax.random.PRNGKey(0), 64)            # decoder means at z ~ p(z)
    ll = run.log_likelihood(x, jax.random.PRNGKey(1), num_samples=1000)  # IW estimate, nats

Only the model's variables are read from the checkpoint (the optimizer state is not), placed
replicated on whatever devices are present: a checkpoint written on a TPU or under 8 devices
restores on one CPU.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import ml_collections

from vae import checkpoints, objective
from vae import workdir as wd
from vae.evaluation import importance
from vae.mesh import local_mesh, replicated
from vae.model import VAE, build_model


@dataclasses.dataclass
class Run:
  """A trained model: config, model and the variables of one seed, with jitted helpers."""

  config: ml_collections.ConfigDict
  model: VAE
  variables: dict  # {"params": ..., "likelihood_stats": ...} of the selected seed
  epoch: int
  seed: int
  workdir: str
  all_variables: dict  # {"params": ..., "stats": ...} of all seeds (leading axis), as restored

  @property
  def num_seeds(self) -> int:
    return jax.tree.leaves(self.all_variables["params"])[0].shape[0]

  def with_seed(self, seed: int) -> "Run":
    """The same run, another of its vmapped seeds (0 .. num_seeds - 1)."""
    return dataclasses.replace(self, seed=seed, variables=_seed_variables(self.all_variables, seed))

  def encode(self, x):
    """(mean, std) of q(z | x)."""
    return _compiled(self.model)[0](self.variables, x)

  def decode(self, z):
    """p(x | z) as a distribution (mean(), sample(key), log_prob(x), cdf(x) where it exists)."""
    return _compiled(self.model)[1](self.variables, z)

  def display(self, z):
    """The decoder's display parameter (lambda for Bernoulli/CB, else the mean)."""
    return _compiled(self.model)[2](self.variables, z)

  def reconstruct(self, x):
    """p(x | z = E_q[z | x]): the decoder distribution at the posterior mean."""
    return self.decode(self.encode(x)[0])

  def sample(self, key, num: int, *, from_decoder: bool = False):
    """Images from the prior: decoder means at z ~ p(z), or draws of p(x | z) if from_decoder."""
    k_z, k_x = jax.random.split(key)
    z = jax.random.normal(k_z, (num, self.config.model.latent_dim))
    dist = self.decode(z)
    return dist.sample(k_x) if from_decoder else dist.mean()

  def elbo(self, x, key, num_samples: int = 1, *, score=None, target=None):
    """Per-image ELBO (analytic KL), nats: under the run's own likelihood, or the ``score``
    (``vae.evaluation.scores``) of ``target``."""
    return objective.elbo(self.pieces(x, key, num_samples, score=score, target=target))

  def log_likelihood(
    self,
    x,
    key,
    num_samples: int = 1000,
    *,
    score=None,
    target=None,
    chunk: int = 100,
    batch_size: int = 100,
    progress=None,
  ):
    """Importance-weighted estimate of log p(x) per image (nats), K = num_samples in chunks.

    ``score``/``target``: evaluate another measure (``vae.evaluation.scores``)."""
    return importance.iw_log_likelihood(
      _compiled(self.model)[3],
      self.variables,
      x,
      key,
      num_samples,
      score=score,
      target=target,
      chunk=chunk,
      batch_size=batch_size,
      progress=progress,
    )

  def pieces(self, x, key, num_samples: int = 1, *, score=None, target=None):
    """The bound's per-sample pieces (see ``vae.model.VAE``)."""
    return _compiled(self.model)[3](self.variables, x, key, num_samples, score, target)


@functools.lru_cache(maxsize=32)
def _compiled(model: VAE):
  """The jitted model calls, shared by every Run (and seed) of the same model."""

  @jax.jit
  def encode(variables, x):
    return model.apply(variables, x, method=VAE.encode)

  @jax.jit
  def decode(variables, z):
    return model.apply(variables, z, method=VAE.decode)

  @jax.jit
  def display(variables, z):
    return model.apply(variables, z, method=VAE.decode_display)

  @functools.partial(jax.jit, static_argnames=("num_samples", "score"))
  def pieces(variables, x, key, num_samples, score=None, target=None):
    return model.apply(
      variables, x, num_samples=num_samples, score=score, target=target, rngs={"sample": key}
    )

  return encode, decode, display, pieces


def _seed_variables(all_variables: dict, seed: int) -> dict:
  num = jax.tree.leaves(all_variables["params"])[0].shape[0]
  if not 0 <= seed < num:
    raise ValueError(f"seed={seed} is not one of this run's seeds 0..{num - 1}")
  pick = lambda tree: jax.tree.map(lambda a: a[seed], tree)
  return {"params": pick(all_variables["params"]), **pick(all_variables["stats"])}


def load(workdir: str, step: int | None = None, seed: int = 0) -> Run:
  """The run in ``workdir`` at epoch ``step`` (default: the latest checkpoint that reads back;
  an unreadable later one is named in a warning and left as it is).

  Reads the config and the model's variables (parameters and likelihood statistics) of every
  seed; nothing of the optimizer or the data is needed.
  """
  config = wd.load_config(workdir)
  model = build_model(config)
  epoch, all_variables = checkpoints.restore_variables(
    workdir, model, config.num_seeds, replicated(local_mesh()), step
  )
  return Run(
    config=config,
    model=model,
    variables=_seed_variables(all_variables, seed),
    epoch=epoch,
    seed=seed,
    workdir=workdir,
    all_variables=all_variables,
  )
