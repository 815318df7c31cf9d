r"""Sample-quality scores from a classifier: inception score and Frechet distance (numpy, float64).

Both were defined with the ImageNet Inception network; on MNIST the features come from our own
classifier (``vae.evaluation.classifier``), as the continuous-Bernoulli paper does for its "inception score"
(reference-protocols.md).  Numbers are therefore comparable within this project only.

* Inception score (Salimans et al. 2016, "Improved techniques for training GANs"):

      IS = exp( E_x KL( p(y|x) || p(y) ) ),   p(y) = E_x p(y|x),

  computed on each of ``num_splits`` consecutive equal parts of the set (the marginal p(y) per
  part) and reported as the mean and standard deviation over the parts.  1 <= IS <= #classes:
  1 when every prediction is the same, #classes for confident predictions spread evenly.

* Frechet distance (Heusel et al. 2017, "GANs trained by a two time-scale update rule", FID) between
  Gaussians fitted to two feature sets:

      d^2 = ||mu_a - mu_b||^2 + Tr( S_a + S_b - 2 (S_a S_b)^{1/2} ).

  ``feature_stats`` / ``frechet_from_stats`` split the computation so the statistics of the real
  data can be computed once and cached.
"""

from __future__ import annotations

import numpy as np
from scipy import special


def _log_probs(logits_or_probs, kind: str) -> np.ndarray:
  """Normalized log p(y|x), float64 [N, K], from logits (log-softmax) or probabilities."""
  a = np.asarray(logits_or_probs, np.float64)
  if a.ndim != 2 or a.shape[1] < 2:
    raise ValueError(f"expected [N, num_classes >= 2] logits or probabilities, got {a.shape}")
  if not np.all(np.isfinite(a)):
    raise ValueError("logits/probabilities contain NaN or inf")
  if kind == "auto":
    is_probs = np.all((a >= 0) & (a <= 1)) and np.allclose(a.sum(1), 1.0, atol=1e-3)
    kind = "probs" if is_probs else "logits"
  if kind == "logits":
    return special.log_softmax(a, axis=1)
  if kind == "probs":
    if np.any(a < 0):
      raise ValueError("probabilities must be non-negative")
    with np.errstate(divide="ignore"):
      return np.log(a / a.sum(1, keepdims=True))  # exact zeros -> -inf, handled by the caller
  raise ValueError(f"kind={kind!r} is not one of ('auto', 'logits', 'probs')")


def inception_score(
  logits_or_probs, num_splits: int = 10, *, kind: str = "auto"
) -> tuple[float, float]:
  r"""(mean, std) over ``num_splits`` parts of exp(E_x KL(p(y|x) || p(y))); see the module doc.

  ``logits_or_probs`` [N, K]: classifier logits or probabilities; ``kind="auto"`` takes rows of
  values in [0, 1] summing to 1 as probabilities, anything else as logits.  Computed in float64
  from log p(y|x) (log-softmax for logits); log p(y) = logsumexp_x log p(y|x) - log n per part.
  """
  log_p = _log_probs(logits_or_probs, kind)
  if not 1 <= num_splits <= len(log_p):
    raise ValueError(f"num_splits={num_splits} must be in [1, N={len(log_p)}]")
  scores = []
  for part in np.array_split(log_p, num_splits):
    log_marginal = special.logsumexp(part, axis=0) - np.log(len(part))
    p = np.exp(part)
    with np.errstate(invalid="ignore"):  # -inf - -inf where p(y) = 0, masked: 0 log 0 = 0
      kl = np.sum(np.where(p > 0, p * (part - log_marginal), 0.0), axis=1)
    scores.append(np.exp(np.mean(kl)))
  return float(np.mean(scores)), float(np.std(scores))


def feature_stats(feats) -> tuple[np.ndarray, np.ndarray]:
  """(mean [D], covariance [D, D]) of features [N, D] in float64 (unbiased covariance, N - 1)."""
  f = np.asarray(feats, np.float64)
  if f.ndim != 2 or f.shape[0] < 2:
    raise ValueError(f"expected features [N >= 2, D], got {f.shape}")
  return f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
  """Symmetric square root of a PSD matrix via eigh (tiny negative eigenvalues clipped to 0)."""
  w, v = np.linalg.eigh((sigma + sigma.T) / 2)
  return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def frechet_from_stats(mu_a, sigma_a, mu_b, sigma_b) -> float:
  r"""||mu_a - mu_b||^2 + Tr(S_a) + Tr(S_b) - 2 Tr((S_a S_b)^{1/2}), in float64.

  S_a S_b is not symmetric, but it is similar to M = S_a^{1/2} S_b S_a^{1/2} (symmetric PSD), so
  Tr((S_a S_b)^{1/2}) = sum_i sqrt(lambda_i(M)) = sum_i sigma_i(S_a^{1/2} S_b^{1/2}), the singular
  values of the product of the two symmetric square roots (from ``eigh``, tiny negative
  eigenvalues clipped to 0).  Taking singular values instead of square roots of eigenvalues of M
  keeps the small terms accurate to ~eps * ||S|| rather than ~sqrt(eps) * ||S||; no complex
  ``sqrtm`` is involved, and rank-deficient covariances are fine.
  """
  mu_a, mu_b = np.asarray(mu_a, np.float64), np.asarray(mu_b, np.float64)
  sigma_a, sigma_b = np.asarray(sigma_a, np.float64), np.asarray(sigma_b, np.float64)
  d = mu_a.shape[0]
  if mu_a.shape != (d,) or mu_b.shape != (d,) or sigma_a.shape != (d, d) or sigma_b.shape != (d, d):
    raise ValueError(
      f"inconsistent shapes: mu {mu_a.shape}, {mu_b.shape}; sigma {sigma_a.shape}, {sigma_b.shape}"
    )
  tr_sqrt = np.sum(np.linalg.svd(_psd_sqrt(sigma_a) @ _psd_sqrt(sigma_b), compute_uv=False))
  diff = mu_a - mu_b
  return float(diff @ diff + np.trace(sigma_a) + np.trace(sigma_b) - 2.0 * tr_sqrt)


def frechet_distance(feats_a, feats_b) -> float:
  """Frechet distance between Gaussians fitted to two feature sets [N_a, D], [N_b, D]."""
  return frechet_from_stats(*feature_stats(feats_a), *feature_stats(feats_b))
