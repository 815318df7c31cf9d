r"""256-way categorical decoder: a softmax over the 8-bit levels (PixelRNN/PixelCNN), natively 8-bit.

A pmf on the 8-bit levels :math:`k \in \{0, \dots, 255\}`, per pixel :math:`i`, with no assumption
of order or smoothness between levels:

.. math::
   P(k) = \operatorname{softmax}(\ell_i)_k = \frac{e^{\ell_{ik}}}{\sum_{j=0}^{255} e^{\ell_{ij}}},
   \qquad \log P(k) = \ell_{ik} - \operatorname{logsumexp}_j \ell_{ij},

the normalizer being the log-sum-exp over the 256 levels.

**Parametrization** (``CategoricalLikelihood``, option ``rank``). A full 256 logits per pixel
from the decoder's last 500-unit layer is a 500 x (784 x 256) matrix, 100 M weights: too heavy
for this project's CPU study. With ``rank`` r > 0 (default 4) the decoder outputs r features
:math:`f_i(z) \in \mathbb R^r` per pixel and

.. math:: \ell_{ik} = W_k^\top f_i(z) + b_{ik},

with :math:`W \in \mathbb R^{256 \times r}` an embedding of the levels shared by all pixels and
:math:`b \in \mathbb R^{28 \times 28 \times 256}` a per-pixel bias, both learned parameters of the
likelihood module (``weight``, ``bias``), not outputs of the decoder. The bias alone can fit any
per-pixel marginal of the levels; the latent moves each pixel's logits within an r-dimensional
subspace, in which W can learn the levels' order (nearby levels, nearby embeddings) if the data
ask for it. Weights: 500 x 784 r + 256 r + 784 x 256 (r = 4: 1.8 M, against the Bernoulli's
0.4 M). ``rank = 0``: the decoder outputs the 256 logits itself (no W, no b).

**Training on 8-bit data.** Presented as the piecewise-constant density
:math:`p(x) = 256\,P(\lfloor 256 x\rfloor)` on [0, 1] (``base.PixelPmf``; bins
:math:`[k/256, (k+1)/256)`, the dequantization's, where PixelCNN-style models score the integer
levels directly); on the default ``dequantized`` protocol :math:`x = (k + u)/256` lies in bin k,
so training on it is training on the integer images (log P(k) + log 256 per pixel; the encoder
alone sees the noise). The common measure is log P(k) + log 256 per pixel at the dequantized test
set; the ``discretized`` measure is this pmf (``log_prob_8bit``).

**Mean and variance** of the density, :math:`c_k = (k + 1/2)/256`:
:math:`\mathbb E x = \sum_k P(k)\, c_k`,
:math:`\operatorname{Var} x = \sum_k P(k)(c_k - \mathbb E x)^2 + 1/(12 \cdot 256^2)`; ``sample``
draws k by inverting the cumulative sum of P at one uniform per pixel and returns
:math:`(k + u)/256`.

Numerically delicate regions and how they are handled:

* **the normalizer**: ``logsumexp`` subtracts the largest logit, so logits of any finite size
  (tested to 1e4 and spreads of 1e4 between levels) give finite log-probabilities and finite
  gradients (softmax - one-hot); a level e^-1000 below the mode costs its 1000 nats, it is never
  floored (log P is a difference of logits, not a log of a probability).
* **cost**: the normalizer touches all 256 levels of every pixel, in the forward pass and again
  in the gradient: 200,704 logits per image against the Bernoulli's 784 values. Measured on the
  2-core CPU on 2026-11-22 (one seed, the default 784-500-500-20 model, batch 128; shared with a
  training job,
  so absolute times are about 3x the quiet machine's), seconds per epoch of 12,800 images:
  Bernoulli 3.0-3.8, rank 1 17.5, rank 4 30.4, rank 16 45 -- the ~14 s from the Bernoulli to
  rank 1 is the 256-level normalizer, which no rank removes; of all 60,000 images: Bernoulli
  16-17, rank 4 124 (7x). Rank 1 fits poorly (train ELBO after 300 steps 958, against 3367 at
  rank 4 and 3501 at rank 16); the default, rank 4, is the cheapest measured that fits about as
  well as the discretized logistic mixture there (3369).
* **memory and speed**: an importance-weighted evaluation of 100 latent samples x 100 images
  would hold 8 GB of logits at once. ``log_prob_8bit``, the moments and sampling run in chunks of
  the images (``discretization.map_in_chunks``, rematerialized in the gradient): on a CPU one
  image's 784 x 256 logits at a time, which fit the cache (a training batch's log-likelihood and
  gradient: 0.15-0.23 s, against 0.9-1.1 s in one 100 MB piece); on an accelerator at most 2^25
  values at once (a training batch in one piece).
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from likelihoods import discretization as disc
from likelihoods.base import Likelihood, PixelPmf, distribution_dataclass, float_dtype

DEFAULT_RANK = 4


@distribution_dataclass
class Categorical(PixelPmf):
  """Softmax over the 256 levels per pixel, logits = features @ weight.T + bias.

  ``features``: [..., r] (the decoder's per-pixel features), or the logits themselves [..., 256]
  when ``weight`` is None; ``weight``: [256, r] shared by all pixels (or None); ``bias``:
  broadcastable to [..., 256] (per pixel and level; or None). ``Categorical.from_logits(l)`` is
  the plain categorical.
  """

  features: jax.Array
  weight: jax.Array | None = None
  bias: jax.Array | None = None

  cache_sized_chunks = True  # on a CPU, one image's 784 x 256 logits at a time: 4-5x faster

  @classmethod
  def from_logits(cls, logits) -> "Categorical":
    return cls(features=jnp.asarray(logits))

  @property
  def batch_shape(self) -> tuple[int, ...]:
    shapes = [jnp.shape(self.features)[:-1]]
    if self.bias is not None:
      shapes.append(jnp.shape(self.bias)[:-1])
    return jnp.broadcast_shapes(*shapes)

  @property
  def dtype(self):
    return float_dtype(*(a for a in (self.features, self.weight, self.bias) if a is not None))

  def _chunking(self):
    batch = self.batch_shape
    # The leading batch axes the bias lacks (latent samples, images) are split; the bias and the
    # embedding are shared by every chunk.
    shared_ndim = 0 if self.bias is None else max(jnp.ndim(self.bias) - 1, 0)
    lead = len(batch) - min(shared_ndim, len(batch))
    features = jnp.broadcast_to(self.features, batch + jnp.shape(self.features)[-1:])
    inner = 1
    for n in batch[lead:]:
      inner *= n
    return lead, {"features": jnp.asarray(features, self.dtype)}, inner

  def _expand(self, shape):
    shape = tuple(shape)
    return self.replace(features=jnp.broadcast_to(self.features, shape + self.features.shape[-1:]))

  def logits(self) -> jax.Array:
    """The 256 logits per pixel, [..., 256] (materialized: for small batches)."""
    dtype = self.dtype
    f = jnp.asarray(self.features, dtype)
    logits = f if self.weight is None else f @ jnp.asarray(self.weight, dtype).T
    return logits if self.bias is None else logits + jnp.asarray(self.bias, dtype)

  def _log_prob_8bit(self, levels):
    logits = self.logits()
    picked = jnp.take_along_axis(logits, jnp.asarray(levels)[..., None], axis=-1)[..., 0]
    return picked - jax.nn.logsumexp(logits, axis=-1)

  def probs_8bit(self):
    return jax.nn.softmax(self.logits(), axis=-1)

  def sample_8bit(self, key, sample_shape=()):
    """k = #{j : F(j) < u} (clipped to 255), u uniform: the inverse of the cumulative sum of P."""
    dist = self._expand(tuple(sample_shape) + self.batch_shape) if sample_shape else self
    u = jax.random.uniform(key, dist.batch_shape, self.dtype)

    def draw(d, u):
      cdf = jnp.cumsum(d.probs_8bit(), axis=-1)
      return jnp.minimum(jnp.sum(cdf < u[..., None], axis=-1), disc.NUM_LEVELS - 1)

    return dist._map(draw, u).astype(jnp.int32)


class CategoricalLikelihood(Likelihood):
  """``categorical``: a 256-way softmax per pixel, logits from ``rank`` features per pixel.

  ``rank`` r > 0 (default 4): the decoder outputs r values per pixel, mapped to 256 logits by a
  learned [256, r] level embedding shared over pixels plus a learned per-pixel bias [28, 28, 256]
  (parameters ``weight`` and ``bias`` of this module). ``rank = 0``: the decoder outputs the 256
  logits (a 500 x 200,704 last layer for the default model). See the module docstring."""

  rank: int = DEFAULT_RANK

  display_name = "mean"
  registry_name = "categorical"
  distribution_type = Categorical

  def outputs_per_pixel(self) -> int:
    r = self.rank
    if not isinstance(r, int) or isinstance(r, bool) or r < 0:
      raise ValueError(f"categorical: rank={r!r} must be an integer >= 0 (0: 256 logits)")
    return r if r > 0 else disc.NUM_LEVELS

  def pixel_matmuls(self):
    """The level embedding, features [rank] -> logits [256] per pixel (none at rank 0)."""
    self.outputs_per_pixel()  # validates rank
    return ((self.rank, disc.NUM_LEVELS),) if self.rank > 0 else ()

  @nn.compact
  def distribution(self, raw, x=None, *, train=False):
    if self.rank == 0:
      return Categorical(features=raw)
    event_shape = raw.shape[raw.ndim - 1 - self.event_ndims : -1]
    weight = self.param(
      "weight", nn.initializers.normal(stddev=self.rank**-0.5), (disc.NUM_LEVELS, self.rank)
    )
    bias = self.param("bias", nn.initializers.zeros, (*event_shape, disc.NUM_LEVELS))
    return Categorical(features=raw, weight=weight.astype(raw.dtype), bias=bias.astype(raw.dtype))
