"""Latent quality: k-nearest-neighbour accuracy on encoder means, and active units.

* ``knn_accuracy``: the majority label of the k = 15 nearest (Euclidean) training encoder means,
  scored on the test set (the continuous-Bernoulli paper's protocol);
* ``active_units``: the number of latent units u with Cov_x(E_q[z_u | x]) > 0.01 (Burda et al.).
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from vae import batching


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def _knn_chunk(train, train_labels, queries, k, num_classes):
  d = jnp.sum(queries**2, -1, keepdims=True) - 2 * queries @ train.T + jnp.sum(train**2, -1)[None]
  _, idx = jax.lax.top_k(-d, k)
  votes = jax.nn.one_hot(train_labels[idx], num_classes).sum(1)
  return jnp.argmax(votes, -1)  # ties: the smallest label


def knn_predict(
  train, train_labels, queries, k: int = 15, num_classes: int = 10, chunk: int = 500,
  progress=None,
) -> np.ndarray:  # fmt: skip
  """Majority label of the k nearest (Euclidean) training points, for each query."""
  if not 1 <= k <= len(train):
    raise ValueError(f"k={k} must be in [1, {len(train)}] (the number of training points)")
  train, labels = jnp.asarray(train, jnp.float32), jnp.asarray(train_labels, jnp.int32)
  queries = np.asarray(queries, np.float32)
  return batching.map_batches(
    lambda i, q: _knn_chunk(train, labels, q, k, num_classes),
    queries,
    batch_size=chunk,
    progress=progress,
  )


def knn_accuracy(train, train_labels, test, test_labels, k: int = 15, progress=None) -> float:
  predicted = knn_predict(train, train_labels, test, k, progress=progress)
  return float(np.mean(predicted == np.asarray(test_labels)))


def active_units(posterior_means, threshold: float = 0.01) -> int:
  """Number of latent units u with Var_x(E_q[z_u | x]) > threshold (Burda et al. 2016)."""
  return int(np.sum(np.var(np.asarray(posterior_means, np.float64), axis=0) > threshold))
