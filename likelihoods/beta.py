r"""Beta decoder: a proper density on (0, 1) with a free mean and a free concentration.

.. math::
   \log p(x \mid \alpha, \beta) = (\alpha - 1)\log x + (\beta - 1)\log(1 - x) - \log B(\alpha, \beta),

   F(x) = I_x(\alpha, \beta) \text{ (regularized incomplete beta)}, \quad
   \mathbb E x = \frac{\alpha}{\alpha + \beta}, \quad
   \operatorname{Var} x = \frac{\alpha\beta}{(\alpha+\beta)^2(\alpha+\beta+1)}.

Numerically delicate regions and how they are handled:

* **pixels exactly 0 or 1** (MNIST is mostly exact zeros): the density is 0 or infinite there, and
  ``(alpha - 1) * log(0)`` is NaN at alpha = 1. Policy, visible in the API: ``log_prob`` evaluates
  the density at ``clip(x, pixel_eps, 1 - pixel_eps)``; ``pixel_eps`` is a field of ``Beta`` and an
  option of the likelihood (default 1e-4, the CB paper's code). Set ``pixel_eps=0`` to get the raw
  density (and -inf/NaN at the edges). In float32 ``1 - pixel_eps`` must differ from 1
  (pixel_eps >= 6e-8); this is checked.
* **concentrations near 0**: the likelihood maps raw outputs through ``softplus(raw) + floor`` with
  a named ``concentration_floor`` (default 1e-3), so alpha, beta > 0 always and ``betaln`` stays
  finite with finite gradients.
* **log B(alpha, beta)** is computed by ``likelihoods.special.betaln``, not with ``jax.scipy.special.betaln``: for
  max(alpha, beta) >= 8 that one (jax <= 0.10 at least) evaluates the Stirling-difference series at
  the wrong point (x = h/(1+h) instead of 1/(1+h), h = min/max), and is off by up to ~1e-6 even in
  float64 (betaln(1, 8) = -log 8 + 9.3e-7). ``betaln`` agrees with mpmath to ~20 eps.
* **far tails of the cdf**: ``cdf`` (jax's ``betainc``) underflows below e^-87 in float32;
  ``log_cdf`` (``likelihoods.special.log_betainc``) never exponentiates, for the 8-bit
  discretized likelihood of pixels deep in a tail.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc

from likelihoods.base import Distribution, Likelihood, distribution_dataclass, float_dtype
from likelihoods.special import betaln, log_betainc

DEFAULT_PIXEL_EPS = 1e-4


@distribution_dataclass
class Beta(Distribution):
  """Beta(concentration1 = alpha, concentration0 = beta), elementwise, with the pixel clamp policy."""

  concentration1: jax.Array
  concentration0: jax.Array
  pixel_eps: float = flax.struct.field(pytree_node=False, default=DEFAULT_PIXEL_EPS)

  support = "unit_interval"
  has_cdf = True

  def _clip(self, x):
    x = jnp.asarray(x, float_dtype(self.concentration1, self.concentration0, x))
    if self.pixel_eps == 0:
      return x
    if (
      not 0 < self.pixel_eps < 0.5
      or np.asarray(1, x.dtype) - np.asarray(self.pixel_eps, x.dtype) == 1
    ):
      raise ValueError(
        f"Beta: pixel_eps={self.pixel_eps} must be 0 or in (0, 0.5) and "
        f"representable next to 1 in {x.dtype}"
      )
    return jnp.clip(x, self.pixel_eps, 1 - self.pixel_eps)

  def log_prob(self, x):
    a, b = self.concentration1, self.concentration0
    x = self._clip(x)
    return jax.scipy.special.xlogy(a - 1, x) + jax.scipy.special.xlog1py(b - 1, -x) - betaln(a, b)

  def mean(self):
    a, b = self.concentration1, self.concentration0
    return jnp.broadcast_to(a / (a + b), self.batch_shape)

  def variance(self):
    a, b = self.concentration1, self.concentration0
    s = a + b
    return a * b / (s * s * (s + 1))

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    dtype = float_dtype(self.concentration1, self.concentration0)
    return jax.random.beta(key, self.concentration1, self.concentration0, shape, dtype=dtype)

  def cdf(self, x):
    """I_x(alpha, beta) at the unclipped x (0 at x <= 0, 1 at x >= 1)."""
    a, b = self.concentration1, self.concentration0
    x = jnp.clip(jnp.asarray(x, float_dtype(a, b, x)), 0.0, 1.0)
    return betainc(a, b, x)

  def log_cdf(self, x):
    """log I_x(alpha, beta), without underflow far in the lower tail (``special.log_betainc``)."""
    a, b = self.concentration1, self.concentration0
    x = jnp.clip(jnp.asarray(x, float_dtype(a, b, x)), 0.0, 1.0)
    return log_betainc(a, b, x)

  def log_survival(self, x):
    """log P(X > x) = log I_{1-x}(beta, alpha): 1 - X is Beta(beta, alpha)."""
    return self.log_tail(x, True)

  def log_tail(self, x, upper):
    """Both tails in one ``log_betainc`` evaluation, of the reflected Beta where ``upper``."""
    a, b = self.concentration1, self.concentration0
    x = jnp.asarray(x, float_dtype(a, b, x))
    reflected = Beta(jnp.where(upper, b, a), jnp.where(upper, a, b), self.pixel_eps)
    return reflected.log_cdf(jnp.where(upper, 1 - x, x))


class BetaLikelihood(Likelihood):
  """``beta``: two outputs per pixel, alpha = softplus(raw0) + floor, beta = softplus(raw1) + floor."""

  concentration_floor: float = 1e-3
  pixel_eps: float = DEFAULT_PIXEL_EPS

  num_outputs = 2
  registry_name = "beta"
  distribution_type = Beta

  def distribution(self, raw, x=None, *, train=False):
    if not self.concentration_floor >= 0:
      raise ValueError(f"beta: concentration_floor={self.concentration_floor} must be >= 0")
    a = jax.nn.softplus(raw[..., 0]) + self.concentration_floor
    b = jax.nn.softplus(raw[..., 1]) + self.concentration_floor
    return Beta(concentration1=a, concentration0=b, pixel_eps=self.pixel_eps)

  def at_prediction(self, p, scale):
    """Mean p with alpha + beta = 10 (the concentration is learned per pixel; 10 shows its shape)."""
    p = jnp.asarray(p)
    return Beta(10 * p, 10 * (1 - p), pixel_eps=self.pixel_eps)
