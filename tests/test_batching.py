"""The one batching helper: pad the last batch, loop, trim."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from vae import batching


def test_map_batches_equals_the_function_on_everything():
  x = np.arange(23 * 3, dtype=np.float32).reshape(23, 3)
  t = np.arange(23)
  seen, progress = [], []

  def fn(i, xb, tb):
    seen.append((i, xb.shape, tb.shape))
    return {"sum": xb.sum(1) + tb, "twice": (2 * xb, -xb)}

  out = batching.map_batches(fn, x, t, batch_size=10, progress=progress.append)
  np.testing.assert_array_equal(out["sum"], x.sum(1) + t)
  np.testing.assert_array_equal(out["twice"][0], 2 * x)
  assert [s[1] for s in seen] == [(10, 3)] * 3  # the last batch padded: one shape, one compile
  assert [s[0] for s in seen] == [0, 1, 2] and progress == [10, 10, 3]


def test_map_batches_passes_none_and_checks_its_inputs():
  x = jnp.ones((5, 2))
  out = batching.map_batches(lambda i, xb, tb: xb[:, 0] * (tb is None), x, None, batch_size=4)
  np.testing.assert_array_equal(out, np.ones(5))
  with pytest.raises(ValueError, match="batch_size=0"):
    batching.map_batches(lambda i, xb: xb, x, batch_size=0)
  with pytest.raises(ValueError, match="lengths \\[3, 5\\]"):
    batching.map_batches(lambda i, a, b: a, x, jnp.ones(3), batch_size=2)


def test_split_batches_inside_jit():
  x = jnp.arange(7.0)
  xb, mask = jax.jit(batching.split_batches, static_argnums=1)(x, 3)
  assert xb.shape == (3, 3) and mask.shape == (3, 3)
  np.testing.assert_array_equal(xb[mask], x)
  assert int(mask.sum()) == 7 and float(xb[~mask].sum()) == 0
