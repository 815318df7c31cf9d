r"""The exact 8-bit likelihood of a decoder: what its distribution says a pixel's level costs.

``Distribution.log_prob_8bit`` (``likelihoods.base``) is log P(pixel = k) on the levels
k = 0 .. 255 with bins [k/256, (k+1)/256) (the dequantization's). A decoder with a continuous cdf
gets the cdf discretized, P(k) = F((k+1)/256) - F(k/256) with the edges folded, in log space
(``likelihoods.discretization.log_probs_from_tails``: a pixel e^-450 deep in a decoder's tail
costs its 450 nats, not float32's floor of 87); a natively 8-bit decoder (discretized logistic,
categorical) gives its own pmf; a Bernoulli raises NotImplementedError (``has_pmf_8bit()`` is
false). The math lives in ``likelihoods``; this module keeps the evaluation's name for it.
"""

from __future__ import annotations

from likelihoods.discretization import FLAT_BIN, log1mexp, log_probs_from_tails

__all__ = ["FLAT_BIN", "discretized_log_probs", "log1mexp", "log_probs_from_tails"]


def discretized_log_probs(dist, pixels):
  """log P(pixel = k) per pixel under the decoder distribution ``dist``
  (``dist.log_prob_8bit(pixels)``)."""
  return dist.log_prob_8bit(pixels)
