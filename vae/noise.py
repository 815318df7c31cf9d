"""Training's random numbers, cheap: 16-bit values, four per Threefry evaluation.

Every training step draws about 356,000 random values (dropout masks for four 500-unit layers
and the dequantization noise of 128 images). ``jax.random.bits`` and ``jax.random.bernoulli``
spend one Threefry-2x32 evaluation (20 rounds on two 32-bit words) per 32-bit value and, in
jax's default partitionable mode, keep one word of its two; on a 2-core CPU that was about a
quarter of the Bernoulli decoder's epoch. Neither use needs more than 16 bits:

* the dequantization noise u is on the 2^-16 grid anyway (``(pixel + u) / 256`` is then exact in
  float32, ``vae.data.protocols``);
* a dropout mask keeps a unit where a 16-bit value is below ``round((1 - rate) 2^16)``: the rate
  is rounded to a multiple of 2^-16 (0.1 becomes 0.1000061, a change no experiment can see; the
  kept units are scaled by the inverse of the exact keep probability, so E[output] = input).

``bits16`` takes all 64 bits of each evaluation, as four 16-bit values, from the same Threefry
hash ``jax.random`` uses (``jax.extend.random.threefry2x32_p``), keyed by the given key and
counting through an ``iota``: a pure function of (key, shape), elementwise in the counter, so it
partitions over devices like ``jax.random``'s partitionable mode and gives the same values under
any sharding. The values are uniform on {0, ..., 2^16 - 1} and independent as far as Threefry's
are (``tests/test_noise.py`` checks the uniformity of each 16-bit lane, of their pairs, the
dropout rate and the dequantization noise per pixel bin).
"""

from __future__ import annotations

import math

import jax
import jax.numpy as jnp
from jax.extend.random import threefry2x32_p

LEVELS = 2**16


def _key_words(key: jax.Array) -> tuple[jax.Array, jax.Array]:
  if jnp.issubdtype(key.dtype, jax.dtypes.prng_key):
    key = jax.random.key_data(key)
  if key.shape != (2,) or key.dtype != jnp.uint32:
    raise ValueError(
      f"vae.noise needs a Threefry key (uint32[2] or a typed threefry key), got {key.dtype}"
      f"{list(key.shape)}"
    )
  return key[0], key[1]


def bits16(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Uniform integers on {0, ..., 2^16 - 1} (uint32) of ``shape``: four per Threefry evaluation."""
  n = math.prod(shape)
  evaluations = -(-n // 4)
  k0, k1 = _key_words(key)
  counter = jax.lax.iota(jnp.uint32, evaluations)
  w0, w1 = threefry2x32_p.bind(k0, k1, counter, jnp.zeros_like(counter))
  mask = jnp.uint32(LEVELS - 1)
  values = jnp.stack([w0 & mask, w0 >> 16, w1 & mask, w1 >> 16], axis=-1)
  return values.reshape(-1)[:n].reshape(shape)


def keep_level(rate: float) -> int:
  """The 16-bit threshold of a dropout mask: a unit is kept where ``bits16 < keep_level``."""
  level = round((1 - rate) * LEVELS)
  if not 0 <= rate < 1 or level < 1:
    raise ValueError(
      f"dropout rate={rate!r} must be in [0, 1 - 2^-17) (the mask keeps a unit with a 16-bit "
      f"probability)"
    )
  return level


def dropout(key: jax.Array, x: jax.Array, rate: float) -> jax.Array:
  """Inverted dropout of x: each value kept with probability keep_level(rate) / 2^16 and scaled by
  its inverse, else 0."""
  level = keep_level(rate)
  if level >= LEVELS:
    return x
  keep = bits16(key, x.shape) < jnp.uint32(level)
  return jnp.where(keep, x * jnp.asarray(LEVELS / level, x.dtype), jnp.zeros((), x.dtype))


def uniform16(key: jax.Array, shape: tuple[int, ...]) -> jax.Array:
  """Uniform on the 2^-16 grid of [0, 1) (float32), exactly: k / 2^16, k = ``bits16``."""
  return bits16(key, shape).astype(jnp.float32) / LEVELS
