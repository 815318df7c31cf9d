"""Decoder distributions for the VAE, one module each, and the registry that configs use.

Distributions (elementwise, torch.distributions/TFP conventions): ``Bernoulli``,
``ContinuousBernoulli``, ``Normal``, ``Laplace``, ``Beta``, and the natively 8-bit ``DiscretizedLogistic`` and
``Categorical`` (pmfs on the 256 levels, read as piecewise-constant densities: ``PixelPmf``).
Likelihood modules (Flax decoder heads): ``likelihoods.get(name, **options)`` with ``name`` in
``likelihoods.available()``. Named decoders (a likelihood with fixed options, as the study's table
shows them): ``likelihoods.decoders``.
"""

from likelihoods import decoders
from likelihoods.base import Distribution, Likelihood, PixelPmf, sum_event
from likelihoods.bernoulli import Bernoulli, BernoulliLikelihood
from likelihoods.beta import Beta, BetaLikelihood
from likelihoods.categorical import Categorical, CategoricalLikelihood
from likelihoods.continuous_bernoulli import (
  ContinuousBernoulli,
  ContinuousBernoulliLikelihood,
  logits_from_mean,
)
from likelihoods.discretized_logistic import DiscretizedLogistic, DiscretizedLogisticLikelihood
from likelihoods.gaussian import GaussianLikelihood, Normal
from likelihoods.laplace import Laplace, LaplaceLikelihood
from likelihoods.registry import available, get, options

__all__ = [
  "Bernoulli",
  "BernoulliLikelihood",
  "Beta",
  "BetaLikelihood",
  "Categorical",
  "CategoricalLikelihood",
  "ContinuousBernoulli",
  "ContinuousBernoulliLikelihood",
  "DiscretizedLogistic",
  "DiscretizedLogisticLikelihood",
  "Distribution",
  "GaussianLikelihood",
  "Laplace",
  "LaplaceLikelihood",
  "Likelihood",
  "Normal",
  "PixelPmf",
  "available",
  "decoders",
  "get",
  "logits_from_mean",
  "options",
  "sum_event",
]
