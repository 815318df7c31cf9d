r"""Laplace decoder: "MAE" (L1) and its calibrated versions.

Density on the real line, elementwise, with location :math:`\mu` and scale :math:`b > 0`:

.. math::
   \log \mathrm{Laplace}(x \mid \mu, b) = -\frac{|x - \mu|}{b} - \log 2b, \qquad
   F(x) = \begin{cases} \tfrac12 e^{z} & z < 0 \\ 1 - \tfrac12 e^{-z} & z \ge 0 \end{cases},
   \quad z = \frac{x - \mu}{b}.

The normalizer is :math:`2b`; mean and median :math:`\mu`, variance :math:`2b^2`. The negative
log-likelihood of an image of D pixels is :math:`\sum_i |x_i - \mu_i| / b + D \log 2b`: an L1 loss
("MAE", summed over pixels) divided by the scale, plus its log.

**Fixed scale, b = 1** (``fixed_scale``, the default of ``scale='fixed'``): the NLL is exactly the
summed absolute error plus :math:`D \log 2`, so the ELBO is the L1 autoencoder loss plus the KL
with weight 1 -- what a tutorial writes when it swaps BCE for "MAE". It plays the role sigma^2 = 1/2
plays for the Gaussian ("MSE" = summed squared error). A fixed b is a beta-VAE on the L1 loss:
:math:`b\,(-\mathrm{ELBO}) = \sum|x - \mu| + b\,\mathrm{KL} + \mathrm{const}`, so
beta = b; the Gaussian's fixed sigma is beta = 2 sigma^2 on the squared error.

Scale modes of ``LaplaceLikelihood`` (the ``scale`` option; ``likelihoods.scales``, shared with the
Gaussian): ``fixed``, ``shared`` (one learned b, the L1 loss over a learned scale plus its log, as
image autoencoders train it), ``per_pixel``, ``decoder`` (a second output channel) and ``optimal``
(b = the batch mean absolute error: the maximum-likelihood b given the means, as sigma-VAE's
sigma^2 is the batch MSE; a debiased running average of it evaluates).

Numerically delicate regions:

* **The tails.** ``log_cdf`` is :math:`\log\tfrac12 + z` below the median and
  :math:`\log(1 - \tfrac12 e^{-z})` above it (``log1mexp(-z - log 2)``); ``log_survival`` mirrors it.
  Both branches are evaluated on clamped arguments (``min(z, 0)``, ``max(z, 0)``), so neither
  overflows and no NaN reaches a gradient; each is exact to a few ulp however deep the tail (a
  pixel 1e4 scales away costs its 1e4 nats), so the 8-bit likelihood is exact to the last nat.
* **The kink at the median.** ``log_prob`` has a kink at :math:`x = \mu`; its derivative in
  :math:`\mu` there is 0 (the subgradient of the median's optimality; ``jnp.abs`` would give 1).
  The 8-bit likelihood of the bin holding the median is a difference of cdfs, or, where the bin
  is flat on the dtype's scale, the midpoint rule on each side of the kink (``Distribution.kink``,
  ``likelihoods.discretization``).
* **Scale collapse and huge log scales**: as the Gaussian's (``likelihoods.scales``): the soft
  lower bound on every learned log b, and ``log_prob`` from ``log_scale`` (no exp overflow).
* ``icdf``: :math:`\mu + b \log 2u` below 1/2 and :math:`\mu - b \log 2(1 - u)` above
  (2 - 2u is exact there; ``log1p(1 - 2u)`` near 1/2): relative accuracy in both tails of u.
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp

from likelihoods import scales
from likelihoods.base import Distribution, distribution_dataclass, float_dtype
from likelihoods.discretization import LOG1P_SAFE, log1mexp

LOG2 = math.log(2.0)
SCALE_MODES = scales.SCALE_MODES
MEAN_ACTIVATIONS = scales.MEAN_ACTIVATIONS


def _log_cdf_standard(z):
  """log F(z) of the standard Laplace, exact in both tails: log(1/2) + z below 0,
  log(1 - e^-(z + log 2)) above (``log1mexp``); both on clamped arguments: no overflow, no NaN
  gradient."""
  below = z < 0
  # where(), not minimum/maximum: their gradient at a tie (z = 0) is 1/2, which would halve
  # d log F / dx at the median.
  return jnp.where(
    below, jnp.where(below, z, 0.0) - LOG2, log1mexp(-jnp.where(below, 0.0, z) - LOG2)
  )


@distribution_dataclass
class Laplace(Distribution):
  """Laplace(loc, scale), elementwise (see the module docstring).

  ``log_scale`` (optional, = log(scale)) lets ``log_prob`` work from the log, finite where
  ``scale = exp(log_scale)`` overflows; ``LaplaceLikelihood`` passes it.
  """

  loc: jax.Array
  scale: jax.Array
  log_scale: jax.Array | None = None

  support = "real"
  has_cdf = True
  scale_power = 1  # the scale diagnostics average b and |x - mu| (the ML b is their mean)

  def _z(self, x):
    x = jnp.asarray(x, float_dtype(self.loc, self.scale, x))
    if self.log_scale is None:
      return (x - self.loc) / self.scale
    return (x - self.loc) * jnp.exp(-self.log_scale)

  def log_prob(self, x):
    log_scale = jnp.log(self.scale) if self.log_scale is None else self.log_scale
    z = self._z(x)
    # |z| as z sign(z): the same value, and the derivative 0 at the median (jnp.abs's is 1 there).
    return -z * jnp.sign(z) - log_scale - LOG2

  def mean(self):
    return jnp.broadcast_to(self.loc, self.batch_shape)

  def variance(self):
    return jnp.broadcast_to(2 * jnp.square(self.scale), self.batch_shape)

  def kink(self):
    """The median: the density's derivative jumps from 1/b to -1/b there."""
    return self.mean()

  def scale_terms(self, x):
    """(b, |x - mu|): their means are the mean scale and its maximum-likelihood value given the
    means, the mean absolute error (``scale_power`` = 1)."""
    return (
      jnp.broadcast_to(self.scale, self.batch_shape),
      jnp.abs(jnp.asarray(x, self.loc.dtype) - self.mean()),
    )

  def sample(self, key, sample_shape=()):
    shape = tuple(sample_shape) + self.batch_shape
    eps = jax.random.laplace(key, shape, dtype=float_dtype(self.loc, self.scale))
    return self.loc + self.scale * eps

  def cdf(self, x):
    z = self._z(x)
    half_tail = 0.5 * jnp.exp(-jnp.abs(z))
    return jnp.where(z < 0, half_tail, 1 - half_tail)

  def log_cdf(self, x):
    """log P(X <= x): log(1/2) + z below the median, log(1 - e^-z / 2) above; exact in both."""
    return _log_cdf_standard(self._z(x))

  def log_survival(self, x):
    """log P(X > x) = log F(-z) (the standard Laplace is symmetric)."""
    return _log_cdf_standard(-self._z(x))

  def log_tail(self, x, upper):
    """Both tails in one evaluation: the upper tail of z is the lower tail of -z."""
    z = self._z(x)
    return _log_cdf_standard(jnp.where(upper, -z, z))

  def icdf(self, u):
    """mu + b log(2u) below 1/2; above, mu - b log(2 (1 - u)) (2 - 2u is exact there), by
    log1p(1 - 2u) within 1/8 of 1/2, where the log is small: relative accuracy in both tails."""
    u = jnp.asarray(u, float_dtype(self.loc, self.scale, u))
    below = u < 0.5
    near = ~below & (u < 0.5 + LOG1P_SAFE / 2)
    z_below = jnp.log(2 * jnp.where(below, u, 0.5))
    z_near = jnp.log1p(1 - 2 * jnp.where(near, u, 0.5))
    z_above = jnp.log(2 - 2 * jnp.where(below | near, 0.75, u))
    z = jnp.where(below, z_below, -jnp.where(near, z_near, z_above))
    return self.loc + self.scale * z


class LaplaceLikelihood(scales.LocationScaleLikelihood):
  """``laplace``: Laplace(mean(raw), b) with b chosen by ``scale`` (see the module docstring)."""

  scale: str = "shared"
  mean: str = "sigmoid"
  fixed_scale: float = 1.0
  log_scale_min: float = -6.0
  init_log_scale: float = 0.0  # b = 1, the fixed scale (as the Gaussian starts at sigma = 1)
  stats_momentum: float = 0.99

  display_name = "mean"
  registry_name = "laplace"
  option_choices = {"scale": SCALE_MODES, "mean": MEAN_ACTIVATIONS}
  distribution_type = Laplace
  scale_fields = ("scale", "fixed_scale", "log_scale_min", "init_log_scale")
  scale_names = ("log_scale", "mae")
