r"""Importance-weighted estimates of log p(x) (Burda et al. 2016), streamed over samples.

.. math::  \log p(x) \gtrsim \log \frac1K \sum_{k=1}^K \frac{p(x|z_k)\,p(z_k)}{q(z_k|x)},
           \qquad z_k \sim q(z|x),

with K split into chunks of ``chunk`` samples combined by a running ``logaddexp``, so memory stays
bounded for K = 5000; images go in fixed-size batches (``vae.batching``). ``score`` (see
``vae.evaluation.scores``) says what p(x | z) is.
"""

from __future__ import annotations

import functools
import math
from typing import Callable

import jax
import jax.numpy as jnp
import numpy as np

from vae import batching


@functools.partial(jax.jit, static_argnames=("pieces", "chunk", "num_chunks", "score"))
def _iw_batch(pieces, variables, x, key, target, chunk, num_chunks, score):
  def body(acc, k):
    out = pieces(variables, x, k, chunk, score, target)
    lw = out["log_px_z"] + out["log_pz"] - out["log_qz_x"]
    return jnp.logaddexp(acc, jax.nn.logsumexp(lw, axis=0)), None

  init = jnp.full(x.shape[:1], -jnp.inf, jnp.float32)
  acc, _ = jax.lax.scan(body, init, jax.random.split(key, num_chunks))
  return acc - math.log(chunk * num_chunks)


def iw_log_likelihood(
  pieces: Callable,
  variables,
  x,
  key,
  num_samples: int,
  *,
  score=None,
  target=None,
  chunk: int = 100,
  batch_size: int = 100,
  progress: Callable | None = None,
) -> np.ndarray:
  """log (1/K) sum_k w_k per image of x [N, 28, 28] (K = num_samples); numpy [N].

  ``pieces(variables, x, key, n, score, target)`` is ``vae.Run``'s jitted model call. K is
  processed in chunks of ``chunk`` samples; images in batches of ``batch_size``; batch i draws
  its samples with ``fold_in(key, i)``. ``progress(n)`` is called after each batch of n images.
  """
  if num_samples < 1:
    raise ValueError(f"num_samples={num_samples} must be >= 1")
  chunk = min(chunk, num_samples)
  if chunk < 1 or num_samples % chunk:
    raise ValueError(f"num_samples={num_samples} must be a multiple of chunk={chunk}")

  def one_batch(i, xb, tb):
    k = jax.random.fold_in(key, i)
    return _iw_batch(pieces, variables, xb, k, tb, chunk, num_samples // chunk, score)

  return batching.map_batches(one_batch, x, target, batch_size=batch_size, progress=progress)
