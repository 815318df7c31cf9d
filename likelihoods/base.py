"""What every decoder distribution and likelihood module shares.

Two layers, as in torch.distributions / TFP on one side and a Flax decoder head on the other:

* A *distribution* (``Bernoulli``, ``ContinuousBernoulli``, ``Normal``, ``Beta``,
  ``DiscretizedLogistic``, ``Categorical``) is an immutable pytree of parameter arrays. Everything
  is elementwise and broadcasts like numpy; ``log_prob`` returns one value per pixel.
  Distributions are safe to create and return under ``jit``, ``vmap`` and ``grad`` and keep the
  dtype of their parameters (float32 or float64).
* A *likelihood module* is a ``flax.linen`` module that turns the decoder's raw output (and its own
  learned parameters, if any) into a distribution, and sums the per-pixel log density into one
  reconstruction log-likelihood per example, in nats. Never a mean over pixels: the ELBO is a sum.

Decoder output layout: ``raw`` has shape ``batch + event_shape + (num_outputs,)`` (channels last),
``x`` has shape ``batch + event_shape``; ``event_ndims`` (default 2: a 28x28 image) says how many
trailing axes of ``x`` make one example.

The 8-bit pixels behind the data are part of the API: ``Distribution.log_prob_8bit(pixels)`` is
log P(pixel = k) on the levels k = 0 .. 255, whose bins [k/256, (k+1)/256) are the dequantization's
(``likelihoods.discretization``). A density with a continuous cdf gets it by discretizing the cdf;
the natively 8-bit distributions (``PixelPmf``: the discretized logistic mixture, the 256-way
categorical) *are* a pmf, and present it as the piecewise-constant density 256 P(floor(256 x)).
"""

from __future__ import annotations

import dataclasses
import math
from typing import ClassVar

import flax.linen as nn
import flax.struct
import jax
import jax.numpy as jnp

from likelihoods import discretization

LOG2 = math.log(2.0)


def distribution_dataclass(cls):
  """``flax.struct.dataclass`` for a distribution, with its class name as a static field ``kind``.

  jax 0.10's PyTreeDefs of two flax dataclasses with the same number of fields compare equal
  whatever their classes (``Normal(loc, scale)`` and ``Laplace(loc, scale)``; their hashes
  differ), so a ``jit`` cache could hand one distribution's compiled program to the other when
  their hashes share a bucket: it did, intermittently, in the contract tests. The static ``kind``
  is part of the tree's node data, which the comparison does check."""
  cls.__annotations__ = {**cls.__dict__.get("__annotations__", {}), "kind": "str"}
  cls.kind = flax.struct.field(pytree_node=False, default=cls.__name__)
  return flax.struct.dataclass(cls)


def float_dtype(*arrays) -> jnp.dtype:
  """The floating dtype the arrays promote to (at least float32; float64 when x64 is on)."""
  return jnp.result_type(*arrays, jnp.float32)


class Distribution:
  """Base class: elementwise distribution over pixel values.

  Subclasses are ``distribution_dataclass``es (flax dataclasses) holding parameter arrays and implement ``log_prob``,
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
    ``reading(name)``: the other densities a published protocol reads a non-density as;
  * ``has_pmf_8bit()`` / ``log_prob_8bit(pixels)``: whether the distribution says how probable an
    8-bit pixel is, and log P(pixel = k). By default the cdf discretized on the dequantization's
    bins (needs ``has_cdf``); a natively 8-bit distribution returns its own pmf.
  """

  #: The set the distribution lives on: "binary", "unit_interval" or "real".
  support: ClassVar[str] = "real"
  #: Whether it has a continuous cdf with ``log_cdf``/``log_survival``/``log_tail`` (what the
  #: default ``log_prob_8bit`` discretizes).
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

  @classmethod
  def has_pmf_8bit(cls) -> bool:
    """Whether ``log_prob_8bit`` is defined: a continuous cdf to discretize, or a native pmf."""
    return cls.has_cdf

  def log_prob_8bit(self, pixels):
    """log P(pixel = k) per pixel, for 8-bit levels k in {0, ..., 255} (any integer dtype or
    integer-valued floats), broadcasting against the batch.

    Default: the cdf discretized on the bins [k/256, (k+1)/256), the edges folded (the tails of a
    density on the real line land in bins 0 and 255), in log space
    (``likelihoods.discretization.log_probs_from_tails``). A distribution without a continuous
    cdf (the Bernoulli) raises NotImplementedError; a natively 8-bit one overrides it."""
    if not self.has_cdf:
      raise NotImplementedError(
        f"{type(self).__name__} (support {self.support!r}) has no 8-bit pmf: no continuous cdf "
        f"to discretize"
      )
    return discretization.log_probs_from_tails(self, pixels)

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

  def kink(self) -> jax.Array | None:
    """Where the density has a kink (its derivative jumps: a Laplace's median), per element, or
    None if it is smooth on its support. Where the 8-bit likelihood uses the midpoint rule, it
    splits the bin holding a kink there (``likelihoods.discretization``)."""
    return None

  # How ``scale_terms`` are summarized: scale = mean(term) ** (1 / scale_power) over pixels and
  # images (2: a root mean square, as a Gaussian's sigma; 1: a plain mean, as a Laplace's b).
  scale_power: ClassVar[int] = 2

  def scale_terms(self, x) -> tuple[jax.Array, jax.Array]:
    """Per-pixel terms of the scale diagnostics: (the distribution's scale raised to
    ``scale_power``, the same power of the error whose mean is the maximum-likelihood scale given
    the means). For a Normal: (sigma^2, (x - mu)^2), so the optimum of one shared sigma is the
    root mean squared error. A distribution without a scale parameter raises."""
    raise NotImplementedError(f"{type(self).__name__} has no scale parameter")

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


class PixelPmf(Distribution):
  r"""Base of the natively 8-bit distributions: a pmf on the levels, read as a density on [0, 1].

  A subclass is a probability mass function :math:`P(k)` on the 8-bit levels
  :math:`k \in \{0, \dots, 255\}` (``log_prob_8bit``, ``probs_8bit``, ``sample_8bit``). The rest of
  the code sees it as the piecewise-constant density on [0, 1] that spreads each level's mass
  uniformly over its bin :math:`[k/256, (k+1)/256)` (``likelihoods.discretization``: the
  dequantization's bins):

  .. math::
     p(x) = 256\, P(\lfloor 256 x \rfloor), \qquad
     \log p(x) = \log P(\lfloor 256 x\rfloor) + \log 256,

  with x = 1 in bin 255 and p = 0 outside [0, 1]. It integrates to :math:`\sum_k P(k) = 1`, so
  ``support`` is ``"unit_interval"`` and ``is_density()`` holds: its value at the common measure's
  dequantized test set is comparable with every other decoder's, and equals its 8-bit likelihood
  plus 784 log 256 per image. ``mean``, ``variance`` and ``sample`` are those of this density:

  .. math::
     \mathbb E x = \sum_k P(k)\, c_k, \quad
     \operatorname{Var} x = \sum_k P(k)\,(c_k - \mathbb E x)^2 + \frac{h^2}{12}, \quad
     c_k = \frac{k + 1/2}{256},\ h = \frac1{256},

  and a sample is :math:`(k + u)/256` with :math:`k \sim P` and u uniform on [0, 1) (the
  dequantization's 2^-16 grid, so the sample lies in bin k exactly). There is no closed-form
  ``log_cdf`` (``has_cdf`` is false; no caller needs one: ``log_prob_8bit`` is the pmf itself).

  Memory: work over all 256 levels (moments, sampling the categorical, its normalizer) runs in
  chunks of the leading batch axes (``discretization.map_in_chunks``), so an evaluation over
  100 latent samples x 100 images never holds 8 GB of per-level values.
  """

  support = "unit_interval"
  #: Levels per pixel that ``_log_prob_8bit`` touches (the categorical's normalizer: all 256; a
  #: closed-form pmf: 1): sets the chunk size of ``log_prob_8bit``.
  levels_in_log_prob: ClassVar[int] = discretization.NUM_LEVELS
  #: Whether its work over the levels runs in cache-sized chunks on a CPU
  #: (``discretization.chunk_budget``); else chunks only bound memory.
  cache_sized_chunks: ClassVar[bool] = False

  @classmethod
  def has_pmf_8bit(cls) -> bool:
    return True

  # ------------------------------------------------------------------ what subclasses provide

  @property
  def dtype(self) -> jnp.dtype:
    """The floating dtype of the parameters."""
    raise NotImplementedError

  def _chunking(self) -> tuple[int, dict, int]:
    """(lead_ndim, mapped fields, values per item and level): the fields with the leading
    ``lead_ndim`` batch axes in front (broadcast to them), which ``map_in_chunks`` splits, and how
    many values one item of those axes holds per level; the other fields are shared by all."""
    raise NotImplementedError

  def _log_prob_8bit(self, levels):
    """log P(k) for int32 ``levels`` of the batch shape (unchunked)."""
    raise NotImplementedError

  def probs_8bit(self) -> jax.Array:
    """P(k) for all 256 levels, shape ``batch_shape + (256,)`` (unchunked: for small batches)."""
    raise NotImplementedError

  def sample_8bit(self, key: jax.Array, sample_shape=()) -> jax.Array:
    """Levels k ~ P (int32), shape ``sample_shape + batch_shape``."""
    raise NotImplementedError

  # ------------------------------------------------------------------------ the shared part

  def _map(self, fn, *arrays, levels: int = discretization.NUM_LEVELS):
    """``fn(dist_chunk, *array_chunks)`` over chunks of the leading batch axes, ``fn`` touching
    ``levels`` levels per pixel; ``arrays`` have the batch shape (broadcast to it here)."""
    lead, mapped, per_level = self._chunking()
    per_item = per_level * levels
    batch = self.batch_shape
    arrays = tuple(jnp.broadcast_to(a, batch) for a in arrays)
    names = tuple(mapped)

    def chunk_fn(*chunks):
      dist = self.replace(**dict(zip(names, chunks[: len(names)])))
      return fn(dist, *chunks[len(names) :])

    budget = discretization.chunk_budget(self.cache_sized_chunks)
    return discretization.map_in_chunks(
      chunk_fn, tuple(mapped.values()) + arrays, lead, per_item, budget
    )

  def log_prob_8bit(self, pixels):
    """log P(pixel = k), the distribution's own pmf (exact; see the subclass's docstring)."""
    levels = discretization.as_levels(pixels)
    batch = jnp.broadcast_shapes(self.batch_shape, levels.shape)
    dist = self if batch == self.batch_shape else self._expand(batch)
    return dist._map(lambda d, k: d._log_prob_8bit(k), levels, levels=self.levels_in_log_prob)

  def log_prob(self, x):
    """log p(x) = log P(floor(256 x)) + log 256 on [0, 1] (x = 1 in bin 255), -inf outside."""
    x = jnp.asarray(x, jnp.result_type(self.dtype, x))
    inside = (x >= 0) & (x <= 1)
    log_p = self.log_prob_8bit(discretization.bin_of(x)) + discretization.LOG_NUM_LEVELS
    return jnp.where(inside, log_p, -jnp.inf)

  def _moments(self):
    return self._map(lambda d: discretization.moments_of_pmf(d.probs_8bit(), d.dtype))

  def mean(self):
    """E x = sum_k P(k) (k + 1/2)/256: the mean of the piecewise-constant density."""
    return self._moments()[0]

  def variance(self):
    """sum_k P(k) (c_k - E x)^2 + (1/256)^2 / 12 (the last term: the uniform within a bin)."""
    return self._moments()[1]

  def sample(self, key, sample_shape=()):
    """(k + u)/256 in [0, 1): k ~ P, u uniform on the 2^-16 grid (so floor(256 x) == k)."""
    k_level, k_u = jax.random.split(key)
    levels = self.sample_8bit(k_level, sample_shape)
    u = discretization.uniform_on_grid(k_u, levels.shape, self.dtype)
    return (levels.astype(self.dtype) + u) / discretization.NUM_LEVELS

  def _expand(self, shape) -> "PixelPmf":
    """The same distribution with batch shape ``shape`` (a broadcast of ``batch_shape``)."""
    raise NotImplementedError


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
  # The name configs choose it by (``config.likelihood``; ``likelihoods.get(name)``).
  registry_name: ClassVar[str] = ""
  # Options whose values come from a fixed set: option -> the allowed values, checked when the
  # module is built (``likelihoods.get``), not at its first call.
  option_choices: ClassVar[dict] = {}
  # Decoder outputs per pixel; a property in subclasses whose count depends on their options.
  num_outputs: ClassVar[int] = 1
  # The parameter a plot shows for this decoder besides its mean (Bernoulli's lambda, say): name.
  display_name: ClassVar[str] = "mean"
  # The distribution class ``distribution`` returns: callers ask it (``is_density``, ``support``)
  # without building one. Every registered likelihood sets it (the registry checks).
  distribution_type: ClassVar[type[Distribution] | None] = None

  @classmethod
  def options(cls) -> dict[str, object]:
    """The options the module takes (its dataclass fields but Flax's own), with their defaults."""
    return {
      f.name: f.default
      for f in dataclasses.fields(cls)
      if f.name not in ("parent", "name") and f.init
    }

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

  def pixel_matmuls(self) -> tuple[tuple[int, int], ...]:
    """The matmuls the module itself does per pixel, as (inputs, outputs) (the categorical's
    level embedding: (rank, 256)); none by default. The speed table's matmul chain adds them to
    the decoder's dense layers (``experiments/speed_table.py``)."""
    return ()

  def has_learned_scale(self) -> bool:
    """Whether the decoder's distribution has a scale that is learned or computed (a Gaussian's
    sigma in every mode but ``fixed``): training then logs it, per epoch, against its optimum
    given the means (``Distribution.scale_terms``), and the study's convergence check compares
    the two."""
    return False

  def at_prediction(self, p: jax.Array, scale: float) -> Distribution | None:
    """The distribution this likelihood puts on a pixel whose prediction is ``p`` in (0, 1) (its
    mean, or its lambda for Bernoulli and CB), with ``scale`` where the scale is learned and its
    own otherwise: what the loss-geometry figure draws. None where no single prediction
    describes it (a 256-way categorical)."""
    return None

  def log_likelihood(self, raw: jax.Array, x: jax.Array, *, train: bool = False) -> jax.Array:
    """log p(x | decoder output), summed over the pixels of each example (nats)."""
    return sum_event(self(raw, x, train=train).log_prob(x), self.event_ndims)

  def display(self, raw: jax.Array) -> jax.Array:
    """The image a figure shows besides the mean (Bernoulli/CB: lambda). Default: the mean."""
    return self(raw).mean()
