r"""Gaussian decoder: "MSE" and its calibrated versions (Rybkin et al. 2021, sigma-VAE).

Density on the real line, elementwise:

.. math::
   \log \mathcal N(x \mid \mu, \sigma) = -\frac{(x-\mu)^2}{2\sigma^2} - \log\sigma - \tfrac12\log 2\pi,
   \qquad F(x) = \Phi\!\left(\frac{x - \mu}{\sigma}\right).

Mean :math:`\mu`, variance :math:`\sigma^2`. With :math:`\sigma^2 = 1/2` the negative
log-likelihood of an image is exactly the summed squared error plus
:math:`\tfrac D2 \log \pi`: the "MSE" model is a Gaussian with a fixed sigma.

Sigma modes of ``GaussianLikelihood`` (the ``sigma`` option; ``likelihoods.scales``, shared with the
Laplace): ``fixed`` (``fixed_sigma``, default sqrt(1/2)), ``shared``, ``per_pixel``, ``decoder``
and ``optimal`` (sigma^2 = the batch mean squared error over all examples and pixels, the
maximum-likelihood sigma for the batch: sigma-VAE's analytic solution; a debiased running average
of it evaluates).

Numerically delicate regions: **sigma collapse**. Every log sigma but ``fixed``'s (learned, decoder
output, and ``optimal``'s, as in sigma-VAE's code) passes through the sigma-VAE soft lower bound
``min + softplus(v - min)`` with ``min = log_sigma_min`` (default -6, their value), so log sigma
stays above it smoothly, with gradients everywhere. (For ``optimal`` this puts sigma^2 slightly
above the batch MSE: by 5% at an MSE of 0.01, 2% at 0.05.) **Huge log sigma** (a decoder output of
1e4): ``Normal`` gets ``log_scale`` too, so the log-likelihood never goes through exp(log sigma).
The mean is either ``sigmoid``-bounded to (0, 1) or unbounded (``mean='identity'``).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.scipy.special import log_ndtr, ndtr, ndtri

from likelihoods import scales
from likelihoods.base import Distribution, distribution_dataclass, float_dtype

HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)
SIGMA_MODES = scales.SCALE_MODES
MEAN_ACTIVATIONS = scales.MEAN_ACTIVATIONS


@distribution_dataclass
class Normal(Distribution):
  """Normal(loc, scale), elementwise.

  ``log_scale`` (optional, = log(scale)) lets ``log_prob`` work from the log: finite, with finite
  gradients, even where ``scale = exp(log_scale)`` overflows (a decoder log sigma of 1e4, say);
  ``GaussianLikelihood`` passes it.
  """

  loc: jax.Array
  scale: jax.Array
  log_scale: jax.Array | None = None

  support = "real"
  has_cdf = True

  def log_prob(self, x):
    dtype = float_dtype(self.loc, self.scale, x)
    if self.log_scale is None:
      z = (jnp.asarray(x, dtype) - self.loc) / self.scale
      log_scale = jnp.log(self.scale)
    else:
      z = (jnp.asarray(x, dtype) - self.loc) * jnp.exp(-self.log_scale)
      log_scale = self.log_scale
    return -0.5 * z * z - log_scale - HALF_LOG_2PI

  def mean(self):
    return jnp.broadcast_to(self.loc, self.batch_shape)

  def variance(self):
    return jnp.broadcast_to(jnp.square(self.scale), self.batch_shape)

  def scale_terms(self, x):
    """(sigma^2, (x - mu)^2): their means' square roots are the root mean square sigma and its
    maximum-likelihood value given the means, the root mean squared error."""
    return self.variance(), jnp.square(jnp.asarray(x, self.loc.dtype) - self.mean())

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    eps = jax.random.normal(key, shape, dtype=float_dtype(self.loc, self.scale))
    return self.loc + self.scale * eps

  def cdf(self, x):
    return ndtr((jnp.asarray(x, float_dtype(self.loc, self.scale, x)) - self.loc) / self.scale)

  def log_cdf(self, x):
    """log Phi((x - loc) / scale), finite far in the lower tail (jax's ``log_ndtr``)."""
    return log_ndtr((jnp.asarray(x, float_dtype(self.loc, self.scale, x)) - self.loc) / self.scale)

  def log_survival(self, x):
    """log(1 - Phi((x - loc) / scale)) = log Phi((loc - x) / scale), finite far in the upper tail."""
    return self.log_tail(x, True)

  def log_tail(self, x, upper):
    """Both tails in one ``log_ndtr`` evaluation: the upper tail of z is the lower tail of -z."""
    z = (jnp.asarray(x, float_dtype(self.loc, self.scale, x)) - self.loc) / self.scale
    return log_ndtr(jnp.where(upper, -z, z))

  def icdf(self, u):
    return self.loc + self.scale * ndtri(jnp.asarray(u, float_dtype(self.loc, self.scale, u)))


soft_clip_log_sigma = scales.soft_clip_log_scale


class GaussianLikelihood(scales.LocationScaleLikelihood):
  """``gaussian``: Normal(mean(raw), sigma) with sigma chosen by ``sigma`` (see module docstring)."""

  sigma: str = "shared"
  mean: str = "sigmoid"
  fixed_sigma: float = math.sqrt(0.5)
  log_sigma_min: float = -6.0
  init_log_sigma: float = 0.0
  stats_momentum: float = 0.99

  display_name = "mean"
  registry_name = "gaussian"
  option_choices = {"sigma": SIGMA_MODES, "mean": MEAN_ACTIVATIONS}
  distribution_type = Normal
  scale_fields = ("sigma", "fixed_sigma", "log_sigma_min", "init_log_sigma")
  scale_names = ("log_sigma", "mse")
