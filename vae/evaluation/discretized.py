r"""The exact 8-bit likelihood of a decoder with a continuous cdf, in log space.

P(pixel = k) = F((k+1)/256) - F(k/256), with the edges folded (F(0^-) = 0 at k = 0 and F(1) = 1
at k = 255, so a Gaussian's tails land in the edge bins). Differences of cdfs are taken in
whichever tail is smaller (``Distribution.log_tail``: survival functions above the mean), so bins
far in the upper tail keep their relative accuracy, and logs never underflow: a pixel e^-450 deep
in a decoder's tail costs its 450 nats, not float32's floor of 87.
"""

from __future__ import annotations

import math

import jax.numpy as jnp

FLAT_BIN = 1e-2  # |log(T_near / T_far)| below which a bin is integrated by the midpoint rule


def discretized_log_probs(dist, pixels):
  """log P(pixel = k) per pixel, P(k) = F((k+1)/256) - F(k/256) with folded edges, in log space.

  In the tail nearer the bin (lower: F, upper: the survival function S), with T_far >= T_near
  the tail probabilities at the bin's two edges, log P = log T_far + log1p(-T_near / T_far).
  ``dist`` must have a continuous cdf (``log_tail``); a Bernoulli raises NotImplementedError.
  """
  k = jnp.asarray(pixels).astype(jnp.float32)
  lo, hi = k / 256, (k + 1) / 256
  upper = (lo + hi) / 2 > dist.mean()
  log_lo, log_hi = dist.log_tail(lo, upper), dist.log_tail(hi, upper)
  # Folded edges: F(0-) = 0 and F(1) = 1, i.e. S(0-) = 1 and S(1) = 0.
  log_lo = jnp.where(k <= 0, jnp.where(upper, 0.0, -jnp.inf), log_lo)
  log_hi = jnp.where(k >= 255, jnp.where(upper, -jnp.inf, 0.0), log_hi)
  far, near = jnp.where(upper, log_lo, log_hi), jnp.where(upper, log_hi, log_lo)
  d = jnp.where(jnp.isneginf(near), -jnp.inf, near - far)
  # A bin holding under 1% of its tail (a density flat on the bin's scale: a wide Gaussian): the
  # difference of tails would lose eps * |far| / |d| to cancellation (or round to log 0), while
  # the midpoint rule is good to (h^2 / 24) f''/f, ~1e-5 or better there; use the better one.
  flat = dist.log_prob((lo + hi) / 2) - math.log(256.0)
  return jnp.where(d < -FLAT_BIN, far + log1mexp(jnp.minimum(d, 0.0)), flat)


def log1mexp(d):
  """log(1 - e^d) for d <= 0, accurate on both sides of -log 2 (-inf at d = 0, 0 at d = -inf)."""
  near_zero = d > -0.6931471805599453
  return jnp.where(
    near_zero,
    jnp.log(-jnp.expm1(jnp.where(near_zero, d, -1.0))),
    jnp.log1p(-jnp.exp(jnp.where(near_zero, -1.0, d))),
  )
