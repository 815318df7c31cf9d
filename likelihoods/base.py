"""What every decoder distribution and likelihood module shares.

Two layers, as in torch.distributions / TFP on one side and a Flax decoder head on the other:

* A *distribution* (``Bernoulli``, ``ContinuousBernoulli``, ``Normal``, ``Beta``) is an immutable
  pytree of parameter arrays. Everything is elementwise and broadcasts like numpy; ``log_prob``
  returns one value per pixel. Distributions are safe to create and return under ``jit``, ``vmap``
  and ``grad`` and keep the dtype of their parameters (float32 or float64).
* A *likelihood module* is a ``flax.linen`` module that turns the decoder's raw output (and its own
  learned parameters, if any) into a distribution, and sums the per-pixel log density into one
  reconstruction log-likelihood per example, in nats. Never a mean over pixels: the ELBO is a sum.

Decoder output layout: ``raw`` has shape ``batch + event_shape + (num_outputs,)`` (channels last),
``x`` has shape ``batch + event_shape``; ``event_ndims`` (default 2: a 28x28 image) says how many
trailing axes of ``x`` make one example.
"""

from __future__ import annotations

import math
from typing import ClassVar

import flax.linen as nn
import jax
import jax.numpy as jnp

LOG2 = math.log(2.0)


def float_dtype(*arrays) -> jnp.dtype:
  """The floating dtype the arrays promote to (at least float32; float64 when x64 is on)."""
  return jnp.result_type(*arrays, jnp.float32)


class Distribution:
  """Base class: elementwise distribution over pixel values.

  Subclasses are ``flax.struct.dataclass``es holding parameter arrays and implement ``log_prob``,
  ``mean``, ``variance``, ``sample`` and, where one exists in closed form, ``cdf``, ``log_cdf``
  and ``log_survival`` (or ``log_tail``, both tails in one evaluation).

  What callers ask instead of checking a distribution's type:

  * ``support``: ``"binary"`` ({0, 1}), ``"unit_interval"`` ([0, 1]) or ``"real"``;
  * ``is_density``: whether ``log_prob`` is a normalized density on a continuum containing [0, 1],
    so that its value at grey pixels is a log-likelihood comparable across decoders (its integral
    over [0, 1] is at most 1). False for the Bernoulli, whose ``log_prob`` at grey pixels is a
    cross-entropy;
  * ``as_density()``: the density that stands in for this distribution where one is needed (the
    distribution itself if ``is_density``; the Bernoulli names the continuous Bernoulli with its
    mean, the CB paper's protocol; ``stand_in`` says it in words), and ``readings`` /
    ``reading(name)``: the other densities a published protocol reads a non-density as.
  """

  #: The set the distribution lives on: "binary", "unit_interval" or "real".
  support: ClassVar[str] = "real"
  #: Whether it has a continuous cdf with ``log_cdf``/``log_survival``/``log_tail`` (the 8-bit
  #: discretized likelihood needs one).
  has_cdf: ClassVar[bool] = False
  #: What ``as_density`` returns, in words, for a distribution that is no density.
  stand_in: ClassVar[str] = "the distribution itself"
  #: name -> description of the other densities a published protocol reads a non-density as
  #: (``reading(name)``), besides ``as_density``; empty for a density (read as itself).
  readings: ClassVar[dict[str, str]] = {}

  @classmethod
  def is_density(cls) -> bool:
    """Whether ``log_prob`` is a normalized density on a continuum containing [0, 1]."""
    return cls.support in ("unit_interval", "real")

  def log_prob(self, x):
    raise NotImplementedError

  def mean(self):
    raise NotImplementedError

  def variance(self):
    raise NotImplementedError

  def stddev(self):
    return jnp.sqrt(self.variance())

  def sample(self, key: jax.Array, sample_shape=()):
    raise NotImplementedError

  def cdf(self, x):
    raise NotImplementedError(f"{type(self).__name__} has no closed-form cdf")

  def log_cdf(self, x):
    """log P(X <= x), finite however deep in the lower tail."""
    raise NotImplementedError(
      f"{type(self).__name__} (support {self.support!r}) has no log cdf; the 8-bit discretized "
      f"likelihood needs one"
    )

  def log_survival(self, x):
    """log P(X > x), finite however deep in the upper tail."""
    raise NotImplementedError(
      f"{type(self).__name__} (support {self.support!r}) has no log survival function; the "
      f"8-bit discretized likelihood needs one"
    )

  def log_tail(self, x, upper):
    """log P(X > x) where ``upper``, else log P(X <= x), elementwise.

    Subclasses compute it with ONE log-cdf evaluation of a reflected distribution (the upper tail
    of X is the lower tail of -X, or of 1 - X on [0, 1]); this default evaluates both tails.
    """
    return jnp.where(upper, self.log_survival(x), self.log_cdf(x))

  def as_density(self) -> "Distribution":
    """The density that stands in for this distribution on [0, 1]: itself if it is one."""
    if not self.is_density():
      raise NotImplementedError(
        f"{type(self).__name__} is not a density on [0, 1] and names no density to stand in for it"
      )
    return self

  def reading(self, name: str) -> "Distribution":
    """The density this distribution is read as under ``name`` (one of ``readings``)."""
    raise ValueError(
      f"{type(self).__name__} has no reading {name!r}; readings: {sorted(self.readings)}"
    )

  @property
  def batch_shape(self) -> tuple[int, ...]:
    leaves = jax.tree_util.tree_leaves(self)
    return jnp.broadcast_shapes(*(jnp.shape(leaf) for leaf in leaves))


def sum_event(values: jax.Array, event_ndims: int) -> jax.Array:
  """Sums the trailing ``event_ndims`` axes: per-pixel values -> one value per example."""
  if event_ndims == 0:
    return values
  return jnp.sum(values, axis=tuple(range(-event_ndims, 0)))


class Likelihood(nn.Module):
  """A decoder head: raw decoder output -> distribution over pixels -> log p(x | z) per example.

  Subclasses set ``num_outputs`` (raw decoder values per pixel) and implement ``distribution``.
  ``train`` matters only to likelihoods with batch statistics (``gaussian`` with ``sigma='optimal'``).
  """

  event_ndims: int = 2
  # Decoder outputs per pixel; a property in subclasses whose count depends on their options.
  num_outputs: ClassVar[int] = 1
  # The parameter a plot shows for this decoder besides its mean (Bernoulli's lambda, say): name.
  display_name: ClassVar[str] = "mean"
  # The distribution class ``distribution`` returns: callers ask it (``is_density``, ``support``)
  # without building one. Every registered likelihood sets it (the registry checks).
  distribution_type: ClassVar[type[Distribution] | None] = None

  def distribution(
    self, raw: jax.Array, x: jax.Array | None = None, *, train: bool = False
  ) -> Distribution:
    raise NotImplementedError

  def __call__(
    self, raw: jax.Array, x: jax.Array | None = None, *, train: bool = False
  ) -> Distribution:
    expected = self.outputs_per_pixel()
    if raw.shape[-1] != expected:
      raise ValueError(
        f"{type(self).__name__} expects {expected} decoder output(s) per pixel "
        f"(last axis), got raw of shape {raw.shape}"
      )
    return self.distribution(raw, x, train=train)

  def outputs_per_pixel(self) -> int:
    return self.num_outputs

  def has_learned_sigma(self) -> bool:
    """Whether the decoder has a Gaussian sigma that is learned or computed (every sigma mode but
    ``fixed``): training then logs its trajectory against its analytic optimum."""
    return False

  def log_likelihood(self, raw: jax.Array, x: jax.Array, *, train: bool = False) -> jax.Array:
    """log p(x | decoder output), summed over the pixels of each example (nats)."""
    return sum_event(self(raw, x, train=train).log_prob(x), self.event_ndims)

  def display(self, raw: jax.Array) -> jax.Array:
    """The image a figure shows besides the mean (Bernoulli/CB: lambda). Default: the mean."""
    return self(raw).mean()
