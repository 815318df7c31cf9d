"""Training's cheap random numbers (``vae.noise``): the same distributions as ``jax.random``'s.

Each check is a chi-square or binomial test at a fixed key whose threshold (p > 1e-4, or 5
standard errors) a correct generator passes with near certainty and a wrong one (a lane stuck, a
biased threshold, a mask off by one level) fails by orders of magnitude.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

from vae import noise
from vae.data.protocols import preprocess
from vae.model import Dropout

KEY = jax.random.PRNGKey(20261202)


def _chi2_p(counts: np.ndarray) -> float:
  return stats.chisquare(counts.ravel()).pvalue


def test_bits16_shape_dtype_range_and_determinism():
  b = noise.bits16(KEY, (3, 5, 7))  # 105 values: not a multiple of four
  assert b.shape == (3, 5, 7) and b.dtype == jnp.uint32
  assert int(b.max()) < 2**16
  np.testing.assert_array_equal(b, noise.bits16(KEY, (3, 5, 7)))
  np.testing.assert_array_equal(b, jax.jit(noise.bits16, static_argnums=1)(KEY, (3, 5, 7)))
  assert not np.array_equal(b, noise.bits16(jax.random.fold_in(KEY, 1), (3, 5, 7)))
  # a typed key gives the values of its raw key data
  np.testing.assert_array_equal(b, noise.bits16(jax.random.wrap_key_data(KEY), (3, 5, 7)))


def test_bits16_is_uniform_in_each_lane_and_lanes_are_independent():
  """Four 16-bit lanes come from one Threefry evaluation: each lane uniform over all 2^16
  values, and consecutive lanes independent (their top 5 bits jointly uniform)."""
  b = np.asarray(noise.bits16(KEY, (2**21,))).reshape(-1, 4)
  for lane in range(4):
    assert _chi2_p(np.bincount(b[:, lane], minlength=2**16)) > 1e-4, lane
  pairs = {f"lanes {i},{j}": (b[:, i], b[:, j]) for i in range(4) for j in range(i + 1, 4)}
  pairs["lane 3, next lane 0"] = (b[:-1, 3], b[1:, 0])
  for name, (u, v) in pairs.items():
    joint = np.bincount((u >> 11) * 32 + (v >> 11), minlength=1024)
    assert _chi2_p(joint) > 1e-4, name


@pytest.mark.parametrize("rate", [0.1, 0.5, 0.03])
def test_dropout_keeps_its_rate_and_the_mean(rate):
  x = jnp.ones((1000, 1000), jnp.float32)
  out = np.asarray(noise.dropout(KEY, x, rate))
  level = noise.keep_level(rate)
  keep = level / 2**16
  assert abs(keep - (1 - rate)) <= 2**-17  # the rate, rounded to a multiple of 2^-16
  kept = out != 0
  se = np.sqrt(keep * (1 - keep) / out.size)
  assert abs(kept.mean() - keep) < 5 * se
  np.testing.assert_allclose(out[kept], 1 / keep, rtol=1e-6)  # inverted dropout: E[out] = x
  assert abs(out.mean() - 1) < 5 * se / keep
  # masks of different rows are not copies of each other
  assert np.mean(kept[0] == kept[1]) < 0.99


def test_dropout_rate_limits_and_module():
  assert noise.keep_level(0.0) == 2**16
  np.testing.assert_array_equal(noise.dropout(KEY, jnp.arange(5.0), 0.0), jnp.arange(5.0))
  for bad in (1.0, -0.1, 1 - 2**-18):
    with pytest.raises(ValueError, match="dropout rate"):
      noise.keep_level(bad)
  x = jnp.ones((4, 8))
  module = Dropout(0.5)
  assert module.apply({}, x, train=False) is x
  out = module.apply({}, x, train=True, rngs={"dropout": KEY})
  assert set(np.unique(np.asarray(out))) <= {0.0, 2.0}


def test_packed_dequantization_noise_is_uniform_in_each_pixel_bin():
  """(pixel + u) / 256 with packed u: exactly in the pixel's bin, u uniform on the 2^-16 grid
  (64 sub-bins per level, over every level), as the unpacked noise of the fixed test inputs."""
  images = jnp.tile(jnp.arange(256, dtype=jnp.uint8), (4096, 1)).reshape(-1, 16, 16)
  x = np.asarray(jax.jit(lambda k, im: preprocess(k, im, "dequantized", packed=True))(KEY, images))
  scaled = x.astype(np.float64) * 256
  levels = np.floor(scaled)
  np.testing.assert_array_equal(levels, np.asarray(images))
  u = scaled - levels
  np.testing.assert_array_equal(u * 2**16, np.round(u * 2**16))  # on the 2^-16 grid, exactly
  sub = (u * 64).astype(int)
  for level in (0, 1, 128, 255):
    assert _chi2_p(np.bincount(sub[levels == level], minlength=64)) > 1e-4, level
  assert _chi2_p(np.bincount(sub.ravel(), minlength=64)) > 1e-4
  # the unpacked default (the fixed test inputs) is unchanged: jax.random.bits' uint16 stream
  default = preprocess(KEY, images[:2], "dequantized")
  u16 = jax.random.bits(KEY, images[:2].shape, jnp.uint16).astype(jnp.float32) / 2.0**16
  np.testing.assert_array_equal(default, (images[:2].astype(jnp.float32) + u16) / 256.0)


def test_bits16_refuses_a_key_it_cannot_read():
  with pytest.raises(ValueError, match="Threefry key"):
    noise.bits16(jnp.zeros((4,), jnp.uint32), (2,))
