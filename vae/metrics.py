r"""Evaluation measures that are fair across decoders. Pure functions; all jit-compiled.

Likelihoods (per image, nats; "higher is better"):

* ``iw_log_likelihood``: Burda et al.'s importance-weighted estimate of log p(x) with K samples,
  streamed in chunks of K (a running ``logaddexp``) so memory stays bounded for K = 5000.
* Scores that change *what* is measured while keeping the same encoder proposal q(z | x):
  ``own_density`` (the run's likelihood at the data), ``continuous_bernoulli_of`` and
  ``continuous_bernoulli_of_mean`` (the CB paper's protocol for a Bernoulli decoder: its lambda read
  as a CB parameter, or mapped so that the CB *mean* is lambda), and ``discretized``: the exact
  probability of the 8-bit image, P(k) = F((k+1)/256) - F(k/256), with the edges folded (F(0^-) = 0
  at k = 0 and F(1) = 1 at k = 255, so a Gaussian's tails land in the edge bins). Differences of
  cdfs are taken in whichever tail is smaller (survival functions above the median), so bins far in
  the upper tail keep their relative accuracy.

Latent quality: ``knn_accuracy`` (15 nearest neighbours on encoder means, fit on train, scored on
test: the CB paper's protocol) and ``active_units`` (Burda et al.: Cov_x(E_q[z_u]) > 0.01).

The seeds' question, per image: ``intensity_report`` (reconstruction error against true intensity,
histograms, the mean signed shift toward 0.5, and the sharpness ratio of image-gradient energies).
"""

from __future__ import annotations

import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

import likelihoods
from likelihoods import ContinuousBernoulli, sum_event
from likelihoods.gaussian import Normal

# ------------------------------------------------------------------------------------ scores


def own_density(dist, x):
  """log p(x | z) of the run's own decoder at x, summed over pixels: [K, B]."""
  return sum_event(dist.log_prob(x), 2)


def continuous_bernoulli_of(dist, x):
  """A Bernoulli decoder's lambda used as a continuous Bernoulli parameter (CB paper)."""
  return sum_event(ContinuousBernoulli(logits=dist.logits).log_prob(x), 2)


def continuous_bernoulli_of_mean(dist, x):
  """The CB whose mean equals the Bernoulli decoder's lambda (the paper's inverse-mean map)."""
  eta = likelihoods.logits_from_mean(jax.nn.sigmoid(dist.logits))
  return sum_event(ContinuousBernoulli(logits=eta).log_prob(x), 2)


FLAT_BIN = 1e-2  # |log(T_near / T_far)| below which a bin is integrated by the midpoint rule


def log_tail_probability(dist, x, upper):
  """log P(X > x) where ``upper``, else log P(X <= x): ONE log-cdf evaluation per element.

  The upper tail is the lower tail of the reflected distribution (-X for a Normal, 1 - X on
  [0, 1]), whose parameters are selected elementwise, so a bin far in either tail keeps its
  relative accuracy, and logs never underflow: a pixel e^-450 deep in a decoder's tail costs
  450 nats, not float32's floor of 87 (the (expensive, for Beta) cdf also runs once, not twice).
  """
  if isinstance(dist, Normal):
    z = (x - dist.loc) / dist.scale
    return Normal(jnp.zeros((), z.dtype), jnp.ones((), z.dtype)).log_cdf(jnp.where(upper, -z, z))
  if isinstance(dist, ContinuousBernoulli):
    eta = jnp.where(upper, -dist.logits, dist.logits)
    return ContinuousBernoulli(logits=eta).log_cdf(jnp.where(upper, 1 - x, x))
  if isinstance(dist, likelihoods.Beta):
    a, b = dist.concentration1, dist.concentration0
    reflected = likelihoods.Beta(jnp.where(upper, b, a), jnp.where(upper, a, b), dist.pixel_eps)
    return reflected.log_cdf(jnp.where(upper, 1 - x, x))
  raise TypeError(f"no cdf-based discretization for {type(dist).__name__}")


def has_discretization(dist_type) -> bool:
  """Whether ``discretized`` applies: a continuous cdf on [0, 1] or on the real line."""
  return dist_type in (Normal, ContinuousBernoulli, likelihoods.Beta)


def discretized_log_probs(dist, pixels):
  """log P(pixel = k) per pixel, P(k) = F((k+1)/256) - F(k/256) with folded edges, in log space.

  In the tail nearer the bin (lower: F, upper: the survival function S), with T_far >= T_near
  the tail probabilities at the bin's two edges, log P = log T_far + log1p(-T_near / T_far).
  """
  k = jnp.asarray(pixels).astype(jnp.float32)
  lo, hi = k / 256, (k + 1) / 256
  upper = (lo + hi) / 2 > dist.mean()
  log_lo, log_hi = log_tail_probability(dist, lo, upper), log_tail_probability(dist, hi, upper)
  # Folded edges: F(0-) = 0 and F(1) = 1, i.e. S(0-) = 1 and S(1) = 0.
  log_lo = jnp.where(k <= 0, jnp.where(upper, 0.0, -jnp.inf), log_lo)
  log_hi = jnp.where(k >= 255, jnp.where(upper, -jnp.inf, 0.0), log_hi)
  far, near = jnp.where(upper, log_lo, log_hi), jnp.where(upper, log_hi, log_lo)
  d = jnp.where(jnp.isneginf(near), -jnp.inf, near - far)
  # A bin holding under 1% of its tail (a density flat on the bin's scale: a wide Gaussian): the
  # difference of tails would lose eps * |far| / |d| to cancellation (or round to log 0), while
  # the midpoint rule is good to (h^2 / 24) f''/f, ~1e-5 or better there; use the better one.
  flat = dist.log_prob((lo + hi) / 2) - math.log(256.0)
  return jnp.where(d < -FLAT_BIN, far + _log1mexp(jnp.minimum(d, 0.0)), flat)


def _log1mexp(d):
  """log(1 - e^d) for d <= 0, accurate on both sides of -log 2 (-inf at d = 0, 0 at d = -inf)."""
  near_zero = d > -0.6931471805599453
  return jnp.where(
    near_zero,
    jnp.log(-jnp.expm1(jnp.where(near_zero, d, -1.0))),
    jnp.log1p(-jnp.exp(jnp.where(near_zero, -1.0, d))),
  )


def discretized(dist, pixels):
  """log P(8-bit image | z), summed over pixels: [K, B]."""
  return sum_event(discretized_log_probs(dist, pixels), 2)


# --------------------------------------------------------------------- importance weighting


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
  pieces,
  variables,
  x,
  key,
  num_samples: int,
  *,
  score=None,
  target=None,
  chunk: int = 100,
  batch_size: int = 100,
) -> np.ndarray:
  """log (1/K) sum_k w_k per image of x [N, 28, 28] (K = num_samples); numpy [N].

  ``pieces(variables, x, key, n, score, target)`` is ``vae.Run``'s jitted model call. K is
  processed in chunks of ``chunk`` samples; images in batches of ``batch_size``.
  """
  chunk = min(chunk, num_samples)
  if num_samples % chunk:
    raise ValueError(f"num_samples={num_samples} must be a multiple of chunk={chunk}")
  n = x.shape[0]
  out = []
  for i, start in enumerate(range(0, n, batch_size)):
    xb = pad_to(x[start : start + batch_size], batch_size)
    tb = None if target is None else pad_to(target[start : start + batch_size], batch_size)
    ll = _iw_batch(
      pieces, variables, xb, jax.random.fold_in(key, i), tb, chunk, num_samples // chunk, score
    )
    out.append(np.asarray(ll)[: min(batch_size, n - start)])
  return np.concatenate(out)


def pad_to(a, size):
  """a padded with zeros along axis 0 to ``size`` rows."""
  a = jnp.asarray(a)
  return a if a.shape[0] == size else jnp.pad(a, [(0, size - a.shape[0])] + [(0, 0)] * (a.ndim - 1))


# ------------------------------------------------------------------------------- latents


@functools.partial(jax.jit, static_argnames=("k", "num_classes"))
def _knn_chunk(train, train_labels, queries, k, num_classes):
  d = jnp.sum(queries**2, -1, keepdims=True) - 2 * queries @ train.T + jnp.sum(train**2, -1)[None]
  _, idx = jax.lax.top_k(-d, k)
  votes = jax.nn.one_hot(train_labels[idx], num_classes).sum(1)
  return jnp.argmax(votes, -1)  # ties: the smallest label


def knn_predict(
  train, train_labels, queries, k: int = 15, num_classes: int = 10, chunk: int = 500
) -> np.ndarray:
  """Majority label of the k nearest (Euclidean) training points, for each query."""
  if not 1 <= k <= len(train):
    raise ValueError(f"k={k} must be in [1, {len(train)}] (the number of training points)")
  train, labels = jnp.asarray(train, jnp.float32), jnp.asarray(train_labels, jnp.int32)
  preds = [
    np.asarray(
      _knn_chunk(
        train,
        labels,
        pad_to(jnp.asarray(queries[s : s + chunk], jnp.float32), chunk),
        k,
        num_classes,
      )
    )
    for s in range(0, len(queries), chunk)
  ]
  return np.concatenate(preds)[: len(queries)]


def knn_accuracy(train, train_labels, test, test_labels, k: int = 15) -> float:
  return float(np.mean(knn_predict(train, train_labels, test, k) == np.asarray(test_labels)))


def active_units(posterior_means, threshold: float = 0.01) -> int:
  """Number of latent units u with Var_x(E_q[z_u | x]) > threshold (Burda et al. 2016)."""
  return int(np.sum(np.var(np.asarray(posterior_means, np.float64), axis=0) > threshold))


# ---------------------------------------------------------------------- intensity and blur


def gradient_energy(images):
  """Per image: mean squared finite difference along rows and columns."""
  images = jnp.asarray(images, jnp.float32)
  dx = jnp.diff(images, axis=-1)
  dy = jnp.diff(images, axis=-2)
  return jnp.mean(dx**2, (-2, -1)) + jnp.mean(dy**2, (-2, -1))


def intensity_report(x, recon, *, error_bins: int = 10, hist_bins: int = 32) -> dict:
  """How reconstructions ``recon`` of ``x`` (both [N, 28, 28] in [0, 1]) depart from the data.

  * ``error_by_intensity``: per bin of the true intensity, the mean absolute and mean signed
    error (recon - x), and the pixel count;
  * ``histogram``: densities of data and reconstructed intensities over [0, 1];
  * per image (mean and standard error over images): ``mse`` (summed squared error),
    ``shift_toward_half`` (mean over pixels of sign(0.5 - x) (recon - x): > 0 means pulled toward
    0.5), ``sharpness_ratio`` (gradient energy of recon over that of x; < 1 means blurrier).
  """
  x = np.asarray(x, np.float64)
  r = np.asarray(recon, np.float64)
  err = r - x
  edges = np.linspace(0, 1, error_bins + 1)
  which = np.clip(np.digitize(x.ravel(), edges) - 1, 0, error_bins - 1)
  count = np.bincount(which, minlength=error_bins)
  safe = np.maximum(count, 1)
  by_bin = {
    "bin_edges": edges.tolist(),
    "count": count.tolist(),
    "mean_abs_error": (np.bincount(which, np.abs(err).ravel(), error_bins) / safe).tolist(),
    "mean_signed_error": (np.bincount(which, err.ravel(), error_bins) / safe).tolist(),
  }
  hist_edges = np.linspace(0, 1, hist_bins + 1)
  hist = {
    "bin_edges": hist_edges.tolist(),
    "data": np.histogram(np.clip(x, 0, 1), hist_edges, density=True)[0].tolist(),
    "reconstruction": np.histogram(np.clip(r, 0, 1), hist_edges, density=True)[0].tolist(),
  }
  per_image = {
    "mse": np.sum(err**2, (-2, -1)),
    "shift_toward_half": np.mean(np.sign(0.5 - x) * err, (-2, -1)),
    "sharpness_ratio": np.asarray(gradient_energy(r))
    / np.maximum(np.asarray(gradient_energy(x)), 1e-12),
  }
  return {
    "error_by_intensity": by_bin,
    "histogram": hist,
    **{k: mean_and_stderr(v) for k, v in per_image.items()},
  }


def mean_and_stderr(values) -> dict:
  """{"mean", "stderr", "n"} of per-image values (stderr = std / sqrt(n))."""
  v = np.asarray(values, np.float64).ravel()
  return {
    "mean": float(v.mean()),
    "stderr": float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else float("nan"),
    "n": int(len(v)),
  }
