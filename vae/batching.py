"""Fixed-size batches: pad the last one, loop, trim. Written once, used everywhere.

Every compiled function sees batches of one shape, so it compiles once for any number of examples:

* ``map_batches(fn, *arrays, batch_size=B)`` on the host: ``fn(index, *batches)`` on consecutive
  batches of B rows (the last one zero-padded), outputs trimmed and concatenated (any pytree);
* ``split_batches(x, B)`` inside ``jit``: x reshaped to ``[steps, B, ...]`` (zero-padded) and the
  mask of real rows, for a ``lax.scan`` over batches.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np


def pad_to(a, size: int):
  """``a`` zero-padded along axis 0 to ``size`` rows (numpy stays numpy, jax stays jax)."""
  n = a.shape[0]
  if n == size:
    return a
  if n > size:
    raise ValueError(f"cannot pad {n} rows to {size}")
  widths = [(0, size - n)] + [(0, 0)] * (a.ndim - 1)
  return np.pad(a, widths) if isinstance(a, np.ndarray) else jnp.pad(jnp.asarray(a), widths)


def map_batches(fn: Callable, *arrays, batch_size: int, progress: Callable | None = None):
  """Concatenation over batches of ``fn(i, *batches)`` for rows ``i*B .. (i+1)*B`` of ``arrays``.

  Arrays share their first axis (None entries are passed through as None); the last batch is
  zero-padded to ``batch_size`` and the outputs (any pytree of arrays with a leading batch axis)
  are trimmed to the real rows and returned as numpy. ``progress(n)`` is called after each batch
  with the number of its real rows.
  """
  if batch_size < 1:
    raise ValueError(f"batch_size={batch_size} must be >= 1")
  sizes = {a.shape[0] for a in arrays if a is not None}
  if len(sizes) != 1:
    raise ValueError(f"arrays must share their first axis, got lengths {sorted(sizes)}")
  (n,) = sizes
  outs = []
  for i, start in enumerate(range(0, n, batch_size)):
    real = min(batch_size, n - start)
    batch = [None if a is None else pad_to(a[start : start + real], batch_size) for a in arrays]
    out = jax.tree.map(lambda o: np.asarray(o)[:real], fn(i, *batch))
    outs.append(out)
    if progress is not None:
      progress(real)
  return jax.tree.map(lambda *parts: np.concatenate(parts), *outs)


def split_batches(x: jax.Array, batch_size: int) -> tuple[jax.Array, jax.Array]:
  """(x as ``[steps, batch_size, ...]`` zero-padded, mask ``[steps, batch_size]`` of real rows)."""
  n = x.shape[0]
  steps = -(-n // batch_size)
  padded = pad_to(x, steps * batch_size)
  mask = (jnp.arange(steps * batch_size) < n).reshape(steps, batch_size)
  return padded.reshape(steps, batch_size, *x.shape[1:]), mask
