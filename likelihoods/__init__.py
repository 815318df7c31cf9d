"""Decoder distributions for the VAE, one module each, and the registry that configs use.

Distributions (elementwise, torch.distributions/TFP conventions): ``Bernoulli``,
``ContinuousBernoulli``, ``Normal``, ``Beta``. Likelihood modules (Flax decoder heads):
``likelihoods.get(name, **options)`` with ``name`` in ``likelihoods.available()``. Named decoders
(a likelihood with fixed options, as the study's table shows them): ``likelihoods.decoders``.
"""

from likelihoods import decoders
from likelihoods.base import Distribution, Likelihood, sum_event
from likelihoods.bernoulli import Bernoulli, BernoulliLikelihood
from likelihoods.beta import Beta, BetaLikelihood
from likelihoods.continuous_bernoulli import (
  ContinuousBernoulli,
  ContinuousBernoulliLikelihood,
  logits_from_mean,
)
from likelihoods.gaussian import GaussianLikelihood, Normal
from likelihoods.registry import available, get, options

__all__ = [
  "Bernoulli",
  "BernoulliLikelihood",
  "Beta",
  "BetaLikelihood",
  "ContinuousBernoulli",
  "ContinuousBernoulliLikelihood",
  "Distribution",
  "GaussianLikelihood",
  "Likelihood",
  "Normal",
  "available",
  "decoders",
  "get",
  "logits_from_mean",
  "options",
  "sum_event",
]
