r"""Scores: what log p(x | z) means inside an importance-weighted estimate.

A score is a function ``(dist, target) -> [K, B]`` of the decoder distribution at the latent
samples and a target batch, summed over pixels. Changing the score changes *what* is measured
while the encoder proposal q(z | x) stays the same (``VAE.__call__``'s ``score``):

* ``own_density``: the run's own likelihood at the data (a cross-entropy for the Bernoulli);
* ``as_density``: the density that stands in for the decoder (``Distribution.as_density``: the
  decoder itself, or for the Bernoulli the continuous Bernoulli with mean lambda);
* ``Reading(name)``: one of the decoder's ``readings`` (the CB paper's protocol of reading a
  Bernoulli's lambda as a continuous Bernoulli parameter);
* ``discretized``: the exact probability of the 8-bit image (``Distribution.log_prob_8bit``:
  a continuous cdf discretized, or a natively 8-bit decoder's own pmf).

Scores are static arguments of compiled programs, so they are hashable module-level functions or
frozen dataclasses.
"""

from __future__ import annotations

import dataclasses

from likelihoods import sum_event
from vae.evaluation.discretized import discretized_log_probs

EVENT_NDIMS = 2  # a 28 x 28 image


def own_density(dist, x):
  """log p(x | z) of the run's own decoder at x, summed over pixels: [K, B]."""
  return sum_event(dist.log_prob(x), EVENT_NDIMS)


def as_density(dist, x):
  """log of the decoder's stand-in density (``Distribution.as_density``) at x: [K, B]."""
  return sum_event(dist.as_density().log_prob(x), EVENT_NDIMS)


@dataclasses.dataclass(frozen=True)
class Reading:
  """log of the density the decoder is read as under ``name`` (``Distribution.reading``): [K, B]."""

  name: str

  def __call__(self, dist, x):
    return sum_event(dist.reading(self.name).log_prob(x), EVENT_NDIMS)


def discretized(dist, pixels):
  """log P(8-bit image | z), summed over pixels: [K, B]."""
  return sum_event(discretized_log_probs(dist, pixels), EVENT_NDIMS)
