r"""Discretized logistic mixture decoder (Salimans et al. 2017, PixelCNN++), natively 8-bit.

A pmf on the 8-bit levels :math:`k \in \{0, \dots, 255\}`: per pixel a mixture of K logistic
distributions with weights :math:`\pi = \operatorname{softmax}(\text{logits})`, means
:math:`\mu_j` and scales :math:`s_j`, integrated over the bins
:math:`[e_k, e_{k+1})`, :math:`e_k = k/256` (the dequantization's bins; see
``likelihoods.discretization``), with the tails folded into the edge bins:

.. math::
   P(k) = \sum_{j=1}^K \pi_j \left[\sigma\!\left(\frac{e_{k+1} - \mu_j}{s_j}\right)
          - \sigma\!\left(\frac{e_k - \mu_j}{s_j}\right)\right],
   \qquad \sigma(\cdot)\text{ at } e_0 \equiv 0,\ e_{256} \equiv 1,

i.e. :math:`P(0) = \sum_j \pi_j \sigma((1/256 - \mu_j)/s_j)` and
:math:`P(255) = \sum_j \pi_j [1 - \sigma((255/256 - \mu_j)/s_j)]`. The sum telescopes to exactly 1:
no normalizer to compute. PixelCNN++ uses bins of width 2/255 on [-1, 1]; ours are those of the
dequantization, so this decoder is scored on the same grid as every continuous one.

**Training on 8-bit data.** The distribution is presented as the piecewise-constant density
:math:`p(x) = 256\,P(\lfloor 256 x \rfloor)` on [0, 1] (``base.PixelPmf``). On the default
``dequantized`` protocol, :math:`x = (k + u)/256` lies in bin k exactly, so
:math:`\log p(x \mid z) = \log P(k \mid z) + \log 256` per pixel: the ELBO trained on the
dequantized images *is* the ELBO of the integer images plus the constant 784 log 256 (only the
encoder sees the noise u); the ``continuous`` protocol's k/255 lands in bin k too. The common
measure's density at the dequantized test set is therefore log P(k) + log 256 per pixel, and the
``discretized`` measure is this pmf itself (``log_prob_8bit``).

**Mean and variance** are those of the piecewise-constant density, with :math:`c_k = (k + 1/2)/256`:
:math:`\mathbb E x = \sum_k P(k)\, c_k` and
:math:`\operatorname{Var} x = \sum_k P(k) (c_k - \mathbb E x)^2 + 1/(12 \cdot 256^2)`;
``sample`` draws a component, a logistic variate from it, its bin k (folded at the edges) -- an
exact draw from P -- and returns :math:`(k + u)/256`.

Numerically delicate regions and how they are handled:

* **differences of sigmoids.** With :math:`a = (e_{k+1} - \mu)/s`, :math:`b = (e_k - \mu)/s` and
  :math:`a - b = d = 1/(256 s)`, the identity

  .. math:: \sigma(a) - \sigma(b) = \sigma(a)\,\sigma(-b)\,(1 - e^{-d})

  gives :math:`\log P_j(k) = \log\sigma(a) + \log\sigma(-b) + \log(1 - e^{-d})`, a sum of three
  terms each computed without cancellation: :math:`\log\sigma(a) = -\operatorname{softplus}(-a)`,
  :math:`\log\sigma(-b) = -\operatorname{softplus}(b)`, and :math:`\log(1 - e^{-d})` by
  ``log1mexp`` (``log(-expm1(-d))`` for small d, ``log1p(-exp(-d))`` for large), or
  :math:`\log d - d/2` once :math:`d < e^{-20}` (the scale so wide that d itself would underflow;
  d is computed from :math:`\log d = -\log s - \log 256`, never from a difference). The edge bins
  are the same formula with the missing factor dropped: :math:`\log P_j(0) = \log\sigma(a)`,
  :math:`\log P_j(255) = \log\sigma(-b)`. So a bin deep in either tail of a component keeps its
  relative accuracy (a bin e^-1000 away costs its 1000 nats), and PixelCNN++'s safeguards for
  the linear-space difference -- ``log(max(delta, 1e-12))``, and the midpoint density times the
  bin width once delta < 1e-5 -- are not needed: the product form is exact in every region.
  The mixture is a ``logsumexp`` of :math:`\log\pi_j + \log P_j(k)`, with :math:`\log \pi` by
  ``log_softmax``.
* **scale collapse.** The likelihood passes the decoder's log scale through the sigma-VAE soft
  lower bound :math:`\log s = m + \operatorname{softplus}(v - m)` with
  ``log_scale_min`` :math:`m = -8` (as the Gaussian's ``log_sigma_min``; smooth, with gradients
  everywhere, unlike PixelCNN++'s hard ``max(log s, -7)``). PixelCNN++'s -7 on [-1, 1] is
  :math:`-7 - \log 2 = -7.7` on [0, 1] (a component centred on an interior bin puts
  :math:`\sigma(4.3) - \sigma(-4.3) = 0.973` of its mass in it); at -8 it puts
  :math:`\sigma(5.8) - \sigma(-5.8) = 0.994` there (log P = -0.006 per pixel): a pixel can be
  near-certain, not a point mass. The edge bins need no small scale (a mean far below 0
  puts P(0) -> 1), which is how MNIST's zero background is fitted.
* **extreme parameters.** Means far outside [0, 1] (:math:`|a|, |b| \approx 3 \cdot 10^9` for a
  mean of 1e6 at the floor) only enter softplus, exact for any finite argument; a huge log scale
  underflows :math:`1/s` to 0 harmlessly (every level's log P stays finite, the edge bins get 1/2
  each). Gradients are finite at k = 0, k = 255 and at all of these
  (``tests/test_discretized_logistic.py``).
* **cost.** The decoder's last layer has 3K outputs per pixel (K = 5: a 500 x 11,760 matrix,
  15x the Bernoulli's), and it dominates a training step. Measured on the 2-core CPU on
  2026-11-22 (one seed, the default 784-500-500-20 model, batch 128; shared with a training job,
  so absolute times are about 3x the quiet machine's), seconds per epoch of 12,800 images:
  Bernoulli 3.0-3.8, K = 1 7.5, K = 3 16.1, K = 5 28.2; of all 60,000 images: Bernoulli 16-17,
  K = 5 100. Train ELBO after 300 steps: K = 1 3353, K = 3 3368, K = 5 3369.
* **memory.** Moments need all 256 levels per pixel and component; they run in chunks
  (``discretization.map_in_chunks``). The pmf over all levels for moments is computed in linear
  space from the same product form, :math:`P_j(k) = \sigma(a)\sigma(-b)(1 - e^{-d})`, so it
  never subtracts either.

Decoder output per pixel: K mixture logits, K means, K unconstrained log scales (3K values;
K = 1 needs no logit: 2 values). The means are the raw outputs (unbounded, as in PixelCNN++: a
mean beyond [0, 1] is how a component puts its mass in an edge bin).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from likelihoods import discretization as disc
from likelihoods.base import Likelihood, PixelPmf, distribution_dataclass, float_dtype
from likelihoods.gaussian import soft_clip_log_sigma

# log d below which log(1 - e^-d) = log d - d/2 (error d^2/24 < 1e-18): d itself may underflow.
_TINY_LOG_WIDTH = -20.0


def log_one_minus_exp_neg(log_d):
  """log(1 - e^{-d}) from log d, for any d > 0 (also where d = exp(log d) underflows)."""
  tiny = log_d < _TINY_LOG_WIDTH
  d = jnp.exp(jnp.where(tiny, _TINY_LOG_WIDTH, log_d))
  return jnp.where(tiny, log_d - jnp.exp(log_d) / 2, disc.log1mexp(-d))


@distribution_dataclass
class DiscretizedLogistic(PixelPmf):
  """Mixture of K discretized logistics on the 8-bit levels, elementwise over the batch.

  ``logits``, ``loc``, ``log_scale``: [..., K] (mixture logits, means on the [0, 1] scale, log
  scales), broadcasting over the batch; K = 1 is a single discretized logistic. See the module
  docstring for the pmf and its numerics.
  """

  logits: jax.Array
  loc: jax.Array
  log_scale: jax.Array

  levels_in_log_prob = 1  # log P(k) in closed form: no sum over the levels

  @property
  def num_components(self) -> int:
    return jnp.broadcast_shapes(*(jnp.shape(a)[-1:] for a in self._params()))[0]

  def _params(self):
    return (self.logits, self.loc, self.log_scale)

  @property
  def batch_shape(self) -> tuple[int, ...]:
    return jnp.broadcast_shapes(*(jnp.shape(a)[:-1] for a in self._params()))

  @property
  def dtype(self):
    return float_dtype(*self._params())

  def _chunking(self):
    shape = self.batch_shape + (self.num_components,)
    fields = ("logits", "loc", "log_scale")
    mapped = {f: jnp.broadcast_to(jnp.asarray(getattr(self, f), self.dtype), shape) for f in fields}
    return len(self.batch_shape), mapped, self.num_components

  def _expand(self, shape):
    shape = tuple(shape) + (self.num_components,)
    return DiscretizedLogistic(*(jnp.broadcast_to(a, shape) for a in self._params()))

  def component_log_probs(self, levels) -> jax.Array:
    """log P_j(k) of each component j for int levels k (batch-shaped): [..., K]."""
    dtype = self.dtype
    levels = jnp.asarray(levels)[..., None]
    k = levels.astype(dtype)
    log_scale = jnp.asarray(self.log_scale, dtype)
    inv_s = jnp.exp(-log_scale)
    upper = ((k + 1) / disc.NUM_LEVELS - self.loc) * inv_s  # a: the bin's upper edge, standardized
    lower = (k / disc.NUM_LEVELS - self.loc) * inv_s  # b: its lower edge
    log_width = log_one_minus_exp_neg(-log_scale - disc.LOG_NUM_LEVELS)  # log(1 - e^{-(a - b)})
    first, last = levels <= 0, levels >= disc.NUM_LEVELS - 1
    return (
      jnp.where(last, 0.0, -jax.nn.softplus(-upper))  # log sigma(a) = log F(e_{k+1})
      + jnp.where(first, 0.0, -jax.nn.softplus(lower))  # log sigma(-b) = log(1 - F(e_k))
      + jnp.where(first | last, 0.0, log_width)
    )

  def _log_prob_8bit(self, levels):
    log_weights = jax.nn.log_softmax(jnp.asarray(self.logits, self.dtype), axis=-1)
    return jax.nn.logsumexp(log_weights + self.component_log_probs(levels), axis=-1)

  def probs_8bit(self):
    """P(k) for all levels, [..., 256], in linear space from sigma(a) sigma(-b) (1 - e^{-d})."""
    dtype = self.dtype
    edges = jnp.arange(1, disc.NUM_LEVELS, dtype=dtype) / disc.NUM_LEVELS  # e_1 .. e_255
    log_scale = jnp.asarray(self.log_scale, dtype)[..., None, :]
    z = (edges[:, None] - jnp.asarray(self.loc, dtype)[..., None, :]) * jnp.exp(-log_scale)
    below, above = jax.nn.sigmoid(z), jax.nn.sigmoid(-z)  # F(e_i), 1 - F(e_i): [..., 255, K]
    width = -jnp.expm1(-jnp.exp(-log_scale - disc.LOG_NUM_LEVELS))  # 1 - e^{-d}
    interior = below[..., 1:, :] * above[..., :-1, :] * width  # levels 1 .. 254
    per_component = jnp.concatenate([below[..., :1, :], interior, above[..., -1:, :]], axis=-2)
    weights = jax.nn.softmax(jnp.asarray(self.logits, dtype), axis=-1)[..., None, :]
    return jnp.sum(weights * per_component, axis=-1)

  def sample_8bit(self, key, sample_shape=()):
    """k ~ P exactly: a component j ~ pi, x ~ Logistic(mu_j, s_j), k = clip(floor(256 x))."""
    shape = tuple(sample_shape) + self.batch_shape
    k_component, k_noise = jax.random.split(key)
    dtype = self.dtype
    logits = jnp.asarray(self.logits, dtype)
    j = jax.random.categorical(k_component, logits, axis=-1, shape=shape)[..., None]
    full = shape + (self.num_components,)
    loc = jnp.take_along_axis(jnp.broadcast_to(self.loc, full), j, -1)[..., 0]
    log_scale = jnp.take_along_axis(jnp.broadcast_to(self.log_scale, full), j, -1)[..., 0]
    x = loc + jnp.exp(log_scale) * jax.random.logistic(k_noise, shape, dtype)
    return disc.bin_of(x)


class DiscretizedLogisticLikelihood(Likelihood):
  """``discretized_logistic``: a mixture of ``num_mixtures`` discretized logistics per pixel.

  Decoder outputs per pixel: ``[logits (K), means (K), log scales (K)]`` (3K; K = 1: ``[mean,
  log scale]``). ``log_scale_min`` (default -8): the soft lower bound of the log scale (see the
  module docstring)."""

  num_mixtures: int = 5
  log_scale_min: float = -8.0

  display_name = "mean"
  registry_name = "discretized_logistic"
  distribution_type = DiscretizedLogistic

  def outputs_per_pixel(self) -> int:
    k = self.num_mixtures
    if not isinstance(k, int) or isinstance(k, bool) or k < 1:
      raise ValueError(f"discretized_logistic: num_mixtures={k!r} must be an integer >= 1")
    if not math.isfinite(self.log_scale_min):
      raise ValueError(
        f"discretized_logistic: log_scale_min={self.log_scale_min!r} must be a finite number"
      )
    return 2 if k == 1 else 3 * k

  def distribution(self, raw, x=None, *, train=False):
    k = self.num_mixtures
    if k == 1:
      logits, loc, v = jnp.zeros_like(raw[..., :1]), raw[..., :1], raw[..., 1:2]
    else:
      logits, loc, v = raw[..., :k], raw[..., k : 2 * k], raw[..., 2 * k :]
    return DiscretizedLogistic(
      logits=logits, loc=loc, log_scale=soft_clip_log_sigma(v, self.log_scale_min)
    )

  def at_prediction(self, p, scale):
    """One component at loc = p with the standard deviation ``scale`` (s = scale sqrt(3) / pi),
    as the density it trains as, 256 P(bin of x)."""
    p = jnp.asarray(p)
    log_s = jnp.full_like(p, math.log(scale * math.sqrt(3) / math.pi))
    return DiscretizedLogistic(jnp.zeros_like(p)[..., None], p[..., None], log_s[..., None])
