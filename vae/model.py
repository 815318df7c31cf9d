r"""The VAE: Gaussian encoder q(z|x), standard-normal prior p(z), decoder + likelihood module p(x|z).

The model returns the *pieces* of the bounds, per example and per latent sample, so every
objective (ELBO, beta-ELBO, importance-weighted bound) is a few lines in ``vae.objective``:

* ``log_px_z``  [K, B]  log p(x | z_k), summed over pixels (the likelihood module's sum),
* ``log_pz``    [K, B]  log N(z_k; 0, I),
* ``log_qz_x``  [K, B]  log q(z_k | x),
* ``kl``        [B]     KL(q(z|x) || p(z)) in closed form.

Architectures (``config.model.arch``):

* ``mlp`` (default: the continuous-Bernoulli paper's 784-500-500 encoder and 20-500-500 decoder,
  ReLU, dropout 0.1; reference-protocols.md), widths from ``model.hidden``;
* ``conv``: two stride-2 4x4 convolutions (32, 64 channels) and a dense layer each way.

The encoder's standard deviation is ``softplus(.) + 1e-6`` as in the CB paper.
"""

from __future__ import annotations

from typing import Callable, Sequence

import flax.linen as nn
import jax
import jax.numpy as jnp

import likelihoods
from likelihoods.gaussian import Normal
from vae import noise

ACTIVATIONS: dict[str, Callable] = {
  "relu": nn.relu,
  "tanh": nn.tanh,
  "elu": nn.elu,
  "gelu": nn.gelu,
  "softplus": nn.softplus,
  "swish": nn.swish,
}
ARCHITECTURES = ("mlp", "conv")
KERNEL_INITS = {"lecun": nn.initializers.lecun_normal(), "glorot": nn.initializers.glorot_uniform()}
IMAGE_SHAPE = (28, 28)


class Dropout(nn.Module):
  """Inverted dropout with 16-bit masks (``vae.noise.dropout``: the rate rounded to a multiple of
  2^-16, four mask values per Threefry evaluation); RNG stream ``dropout``."""

  rate: float

  @nn.compact
  def __call__(self, x, *, train: bool):
    if not train or self.rate == 0:
      return x
    return noise.dropout(self.make_rng("dropout"), x, self.rate)


class MLP(nn.Module):
  """Dense layers with an activation and dropout after each."""

  widths: Sequence[int]
  activation: str = "relu"
  dropout: float = 0.0
  kernel_init: str = "lecun"

  @nn.compact
  def __call__(self, h, *, train: bool):
    for width in self.widths:
      h = nn.Dense(width, kernel_init=KERNEL_INITS[self.kernel_init])(h)
      h = ACTIVATIONS[self.activation](h)
      if self.dropout > 0:
        h = Dropout(self.dropout)(h, train=train)
    return h


class Encoder(nn.Module):
  """x [..., 28, 28] -> (mean, std) of the diagonal Gaussian q(z | x), each [..., latent_dim]."""

  arch: str
  hidden: Sequence[int]
  latent_dim: int
  activation: str = "relu"
  dropout: float = 0.0
  kernel_init: str = "lecun"

  @nn.compact
  def __call__(self, x, *, train: bool):
    batch = x.shape[:-2]
    h = x.reshape((-1, *IMAGE_SHAPE, 1))  # leading axes flattened: see Decoder
    if self.arch == "conv":
      for channels in (32, 64):
        h = ACTIVATIONS[self.activation](nn.Conv(channels, (4, 4), strides=2, padding="SAME")(h))
    h = MLP(self.hidden, self.activation, self.dropout, self.kernel_init)(
      h.reshape(h.shape[0], -1), train=train
    )
    out = nn.Dense(2 * self.latent_dim, kernel_init=KERNEL_INITS[self.kernel_init])(h)
    mean, raw_std = jnp.split(out.reshape(batch + out.shape[-1:]), 2, axis=-1)
    return mean, nn.softplus(raw_std) + 1e-6


class Decoder(nn.Module):
  """z [..., latent_dim] -> raw decoder output [..., 28, 28, outputs_per_pixel]."""

  arch: str
  hidden: Sequence[int]
  outputs_per_pixel: int
  activation: str = "relu"
  dropout: float = 0.0
  kernel_init: str = "lecun"

  @nn.compact
  def __call__(self, z, *, train: bool):
    # The leading axes ([K, B] latent samples) are flattened into one: with a rank-3 input the
    # weight gradients contract two axes, and XLA's CPU backend then transposes the output
    # gradient and recomputes the likelihood's elementwise math in extra fusions (2.7 -> 2.1 s
    # per epoch of the 784-400-20 MLP, benchmark.py).
    batch = z.shape[:-1]
    z = z.reshape(-1, z.shape[-1])
    h = MLP(self.hidden, self.activation, self.dropout, self.kernel_init)(z, train=train)
    p = self.outputs_per_pixel
    if self.arch == "conv":
      h = ACTIVATIONS[self.activation](nn.Dense(7 * 7 * 64)(h)).reshape((-1, 7, 7, 64))
      h = ACTIVATIONS[self.activation](
        nn.ConvTranspose(32, (4, 4), strides=(2, 2), padding="SAME")(h)
      )
      raw = nn.ConvTranspose(p, (4, 4), strides=(2, 2), padding="SAME")(h)
    else:
      raw = nn.Dense(
        IMAGE_SHAPE[0] * IMAGE_SHAPE[1] * p, kernel_init=KERNEL_INITS[self.kernel_init]
      )(h)
    return raw.reshape(batch + IMAGE_SHAPE + (p,))


class VAE(nn.Module):
  """Encoder, prior, decoder and likelihood module; see the module docstring for the outputs.

  RNG streams: ``sample`` (latent draws) and ``dropout`` (only when ``train`` and dropout > 0).
  """

  encoder: Encoder
  decoder: Decoder
  likelihood: likelihoods.Likelihood

  def __call__(self, x, *, train: bool = False, num_samples: int = 1, score=None, target=None):
    """The bound's pieces for x [B, 28, 28]. ``score(dist, target) -> [K, B]`` replaces
    log p(x | z) (evaluation under another measure: a discretized likelihood of the 8-bit
    ``target``, a reinterpreted decoder); the encoder still sees ``x``."""
    mean, std = self.encode(x, train=train)
    q = Normal(loc=mean, scale=std)
    z = q.sample(self.make_rng("sample"), (num_samples,))  # [K, B, L]
    raw = self.decoder(z, train=train)  # [K, B, 28, 28, P]
    if score is None:
      log_px_z = self.likelihood.log_likelihood(raw, x, train=train)  # [K, B]
    else:
      log_px_z = score(self.likelihood(raw, train=False), target)
    log_pz = jnp.sum(Normal(jnp.zeros((), z.dtype), jnp.ones((), z.dtype)).log_prob(z), -1)
    log_qz_x = jnp.sum(q.log_prob(z), -1)
    kl = 0.5 * jnp.sum(jnp.square(mean) + jnp.square(std) - 1.0 - 2.0 * jnp.log(std), -1)
    return {"log_px_z": log_px_z, "log_pz": log_pz, "log_qz_x": log_qz_x, "kl": kl}

  def encode(self, x, *, train: bool = False):
    return self.encoder(x, train=train)

  def decode(self, z, *, train: bool = False):
    """The decoder distribution p(x | z) (evaluation mode of the likelihood's statistics)."""
    return self.likelihood(self.decoder(z, train=train), train=False)

  def sampled_reconstruction(self, x, *, dropout: bool = False):
    """p(x | z) at one z ~ q(z | x) (RNG stream ``sample``), evaluation mode; ``dropout``: the
    encoder and decoder drop units as in training (RNG stream ``dropout``)."""
    mean, std = self.encode(x, train=dropout)
    z = Normal(loc=mean, scale=std).sample(self.make_rng("sample"))
    return self.decode(z, train=dropout)

  def decode_display(self, z):
    """The likelihood's display parameter for z (Bernoulli/CB: lambda; others: the mean)."""
    return self.likelihood.display(self.decoder(z, train=False))


def build_model(config) -> VAE:
  """The VAE described by ``config.model`` and ``config.likelihood[_options]``."""
  m = config.model
  if m.arch not in ARCHITECTURES:
    raise ValueError(f"model.arch={m.arch!r} is not one of {ARCHITECTURES}")
  if m.activation not in ACTIVATIONS:
    raise ValueError(f"model.activation={m.activation!r} is not one of {sorted(ACTIVATIONS)}")
  if m.kernel_init not in KERNEL_INITS:
    raise ValueError(f"model.kernel_init={m.kernel_init!r} is not one of {sorted(KERNEL_INITS)}")
  if not 0 <= m.dropout < 1:
    raise ValueError(f"model.dropout={m.dropout} must be in [0, 1)")
  lik = likelihoods.registry.from_config(config.likelihood, dict(config.likelihood_options))
  common = dict(arch=m.arch, activation=m.activation, dropout=m.dropout, kernel_init=m.kernel_init)
  encoder = Encoder(hidden=tuple(m.hidden), latent_dim=m.latent_dim, **common)
  decoder = Decoder(
    hidden=tuple(reversed(m.hidden)), outputs_per_pixel=lik.outputs_per_pixel(), **common
  )
  return VAE(encoder=encoder, decoder=decoder, likelihood=lik)


def init_variables(model: VAE, key: jax.Array, batch_size: int = 2) -> dict:
  """All variable collections (``params``, and ``likelihood_stats`` where the likelihood has them)."""
  x = jnp.full((batch_size, *IMAGE_SHAPE), 0.5, jnp.float32)
  k_params, k_sample = jax.random.split(key)
  variables = model.init({"params": k_params, "sample": k_sample}, x, train=False)
  return jax.tree.map(jnp.asarray, dict(variables))
