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
* **log B(alpha, beta)** is computed here (``_betaln``), not with ``jax.scipy.special.betaln``: for
  max(alpha, beta) >= 8 that one (jax <= 0.10 at least) evaluates the Stirling-difference series at
  the wrong point (x = h/(1+h) instead of 1/(1+h), h = min/max), and is off by up to ~1e-6 even in
  float64 (betaln(1, 8) = -log 8 + 9.3e-7). ``_betaln`` agrees with mpmath to ~20 eps.
"""

from __future__ import annotations

import flax.struct
import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import betainc, digamma

from likelihoods.base import Distribution, Likelihood, float_dtype

DEFAULT_PIXEL_EPS = 1e-4

# Stirling series of log Gamma: Delta(x) = sum_k B_2k / (2k (2k - 1) x^(2k - 1)), k = 1..7.
_STIRLING = (1 / 12, -1 / 360, 1 / 1260, -1 / 1680, 1 / 1188, -691 / 360360, 1 / 156)
_STIRLING_MIN = 8.0  # the series (7 terms) is good to ~1e-16 from here on


def _log_gamma_ratio(a, b):
  r"""log Gamma(b) - log Gamma(a + b) for 0 < a <= b, b >= 8, without cancellation.

  With Stirling, log Gamma(x) = (x - 1/2) log x - x + log(2 pi)/2 + Delta(x), and h = a / b:

  .. math::  -a(\log b - 1) - (b + a - 1/2)\,\mathrm{log1p}(h) + [\Delta(b) - \Delta(a + b)],

  where :math:`\Delta(b) - \Delta(a+b) = \sum_k c_k b^{-(2k-1)} (1 - x^{2k-1})` with
  :math:`x = 1/(1+h)`, and :math:`1 - x^n = (1 - x)(1 + x + \dots + x^{n-1})`, :math:`1 - x = h/(1+h)`
  (the ALGDIV scheme of Didonato & Morris, TOMS 708).
  """
  h = a / b
  x = 1 / (1 + h)
  x2 = x * x
  geometric = [jnp.ones_like(x)]  # (1 - x^n) / (1 - x) for n = 1, 3, 5, ...
  for _ in _STIRLING[1:]:
    geometric.append(1 + x + x2 * geometric[-1])
  t = 1 / (b * b)
  series = _STIRLING[-1] * geometric[-1]
  for c, g in zip(reversed(_STIRLING[:-1]), reversed(geometric[:-1])):
    series = c * g + t * series
  w = series * (h / (1 + h)) / b
  u = (b + (a - 0.5)) * jnp.log1p(h)
  v = a * (jnp.log(b) - 1)
  return jnp.where(u <= v, (w - v) - u, (w - u) - v)


@jax.custom_jvp
def _betaln(a, b):
  """log B(a, b) = log Gamma(a) + log Gamma(b) - log Gamma(a + b), accurately for a, b > 0.

  Derivatives psi(a) - psi(a + b) and psi(b) - psi(a + b), directly (cheaper to compile and more
  accurate than differentiating both branches' lgammas).
  """
  lo, hi = jnp.minimum(a, b), jnp.maximum(a, b)
  small = hi < _STIRLING_MIN
  hi_big = jnp.where(small, _STIRLING_MIN, hi)  # the safe-where: no NaN from the unused branch
  direct = jax.lax.lgamma(lo) + (jax.lax.lgamma(hi) - jax.lax.lgamma(lo + hi))
  return jnp.where(small, direct, jax.lax.lgamma(lo) + _log_gamma_ratio(lo, hi_big))


@_betaln.defjvp
def _betaln_jvp(primals, tangents):
  a, b = primals
  da, db = tangents
  psi_ab = digamma(a + b)
  return _betaln(a, b), (digamma(a) - psi_ab) * da + (digamma(b) - psi_ab) * db


@flax.struct.dataclass
class Beta(Distribution):
  """Beta(concentration1 = alpha, concentration0 = beta), elementwise, with the pixel clamp policy."""

  concentration1: jax.Array
  concentration0: jax.Array
  pixel_eps: float = flax.struct.field(pytree_node=False, default=DEFAULT_PIXEL_EPS)

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
    return jax.scipy.special.xlogy(a - 1, x) + jax.scipy.special.xlog1py(b - 1, -x) - _betaln(a, b)

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


class BetaLikelihood(Likelihood):
  """``beta``: two outputs per pixel, alpha = softplus(raw0) + floor, beta = softplus(raw1) + floor."""

  concentration_floor: float = 1e-3
  pixel_eps: float = DEFAULT_PIXEL_EPS

  num_outputs = 2

  def distribution(self, raw, x=None, *, train=False):
    if not self.concentration_floor >= 0:
      raise ValueError(f"beta: concentration_floor={self.concentration_floor} must be >= 0")
    a = jax.nn.softplus(raw[..., 0]) + self.concentration_floor
    b = jax.nn.softplus(raw[..., 1]) + self.concentration_floor
    return Beta(concentration1=a, concentration0=b, pixel_eps=self.pixel_eps)
