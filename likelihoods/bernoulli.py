r"""Bernoulli decoder: binary cross-entropy, the tutorials' default on grey pixels.

Density (a probability mass function on {0, 1}), with logit :math:`\eta` and
:math:`\lambda = \sigma(\eta)`:

.. math::  \log p(x \mid \eta) = x \log\lambda + (1 - x)\log(1 - \lambda)
                                = x\eta - \operatorname{softplus}(\eta).

Mean :math:`\lambda`, variance :math:`\lambda(1-\lambda)`.

Applied to grey pixels :math:`x \in [0, 1]` the same formula is the (negative) binary
cross-entropy. It is **not a normalized density on [0, 1]**:
:math:`\int_0^1 \lambda^x(1-\lambda)^{1-x}\,dx = 1/C(\lambda) < 1` unless :math:`x` is binary (see
``continuous_bernoulli``). It is maximized over :math:`\lambda` at :math:`\lambda = x` but is
asymmetric around it (target 0.2: 0.5448 nats at 0.1, 0.5261 at 0.3), which is the seeds'
"bias toward 0.5" argument.

What the evaluation reads it as (``as_density``, ``reading``): the CB paper's protocol
for a Bernoulli VAE on grey pixels is to read its lambda as a continuous Bernoulli, either as the CB
parameter itself (the reading ``cb_lambda``) or through the inverse-mean map, the CB whose *mean*
is lambda: exactly (``as_density``: the stand-in density of the common measure,
``logits_from_mean``), or through the approximate map of the paper's code, linear interpolation
between 100 knots (the reading ``cb_mean_knots``, ``logits_from_mean_knots``; up to 0.006 off in
lambda, 0.12 in the mean). With ``lambda_clip`` (the CB paper's notebooks: 1e-4, off by default)
the decoder's lambda is clipped to [c, 1 - c], and so is every continuous Bernoulli it is read as:
the ones from the inverse-mean maps after the map.

Numerics: everything is computed from the logit. ``softplus`` is exact for all finite logits, so
``log_prob`` is finite with finite gradients for |logit| up to float max; nothing is clamped
unless ``lambda_clip`` asks for it.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp

from likelihoods.base import Distribution, Likelihood, distribution_dataclass, float_dtype
from likelihoods.continuous_bernoulli import (
  ContinuousBernoulli,
  clip_logits,
  logits_from_mean,
  logits_from_mean_knots,
)


@distribution_dataclass
class Bernoulli(Distribution):
  """Bernoulli(sigmoid(logits)), elementwise. ``log_prob`` accepts any x in [0, 1] (cross-entropy)."""

  logits: jax.Array
  # lambda clip of the continuous Bernoullis it is read as (``clip_logits``; 0: none).
  lambda_clip: float = flax.struct.field(pytree_node=False, default=0.0)

  support = "binary"
  stand_in = (
    "lambda read as the mean of a continuous Bernoulli (the CB paper's inverse-mean map; with "
    "lambda_clip, the mapped logit is clipped too, as the paper's evaluation does, which caps "
    "the mean away from 0 and 1)"
  )
  readings = {
    "cb_lambda": "lambda read as the continuous Bernoulli parameter (the CB paper)",
    "cb_mean_knots": (
      "lambda read as the continuous Bernoulli mean through the CB paper code's map: linear "
      "interpolation between 100 knots (cont_bern_lam; with lambda_clip, clipped after the map)"
    ),
  }

  @property
  def probs(self) -> jax.Array:
    return jax.nn.sigmoid(self.logits)

  def as_density(self) -> ContinuousBernoulli:
    """The continuous Bernoulli whose mean is lambda (the CB paper's inverse-mean map), its logit
    clipped by ``lambda_clip`` after the map (so with c = 1e-4 its mean lies in [0.109, 0.891])."""
    return ContinuousBernoulli(logits=clip_logits(logits_from_mean(self.probs), self.lambda_clip))

  def reading(self, name: str) -> ContinuousBernoulli:
    """``cb_lambda``: CB(lambda); ``cb_mean_knots``: the CB whose lambda is the paper code's
    approximate inverse mean map at lambda (``logits_from_mean_knots``); each logit clipped by
    ``lambda_clip``."""
    if name == "cb_lambda":
      return ContinuousBernoulli(logits=clip_logits(self.logits, self.lambda_clip))
    if name == "cb_mean_knots":
      logits = logits_from_mean_knots(self.probs)
      return ContinuousBernoulli(logits=clip_logits(logits, self.lambda_clip))
    return super().reading(name)

  def log_prob(self, x):
    logits = jnp.asarray(self.logits)
    x = jnp.asarray(x, float_dtype(logits, x))
    return x * logits - jax.nn.softplus(logits)

  def mean(self):
    return self.probs

  def variance(self):
    return jax.nn.sigmoid(self.logits) * jax.nn.sigmoid(-self.logits)

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    return jax.random.bernoulli(key, self.probs, shape).astype(
      jnp.result_type(self.logits, jnp.float32)
    )

  def cdf(self, x):
    """P(X <= x): 0 below 0, 1 - lambda on [0, 1), 1 from 1 on."""
    x = jnp.asarray(x, float_dtype(self.logits, x))
    q = jax.nn.sigmoid(-self.logits)
    return jnp.where(x < 0, 0.0, jnp.where(x < 1, q, 1.0)).astype(x.dtype)


class BernoulliLikelihood(Likelihood):
  """``bernoulli``: one logit per pixel; ``log_likelihood`` is minus the summed binary cross-entropy.

  ``lambda_clip`` (default 0, off): lambda clipped to [c, 1 - c] as in the CB paper's notebooks
  (c = 1e-4), in the decoder and in every continuous Bernoulli it is read as."""

  lambda_clip: float = 0.0

  num_outputs = 1
  display_name = "lambda"
  registry_name = "bernoulli"
  distribution_type = Bernoulli

  def distribution(self, raw, x=None, *, train=False):
    logits = clip_logits(raw[..., 0], self.lambda_clip)
    return Bernoulli(logits=logits, lambda_clip=self.lambda_clip)

  def display(self, raw):
    return jax.nn.sigmoid(clip_logits(raw[..., 0], self.lambda_clip))

  def at_prediction(self, p, scale):
    """lambda = p (the binary cross-entropy against the target)."""
    p = jnp.asarray(p)
    return Bernoulli(clip_logits(jnp.log(p) - jnp.log1p(-p), self.lambda_clip), self.lambda_clip)
