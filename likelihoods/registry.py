"""The registry: configs choose a likelihood module by name.

>>> import likelihoods
>>> likelihoods.available()
('bernoulli', 'beta', 'categorical', 'continuous_bernoulli', 'discretized_logistic', 'gaussian')
>>> lik = likelihoods.get("gaussian", sigma="optimal")
"""

from __future__ import annotations

import dataclasses

from likelihoods.base import Likelihood
from likelihoods.bernoulli import BernoulliLikelihood
from likelihoods.beta import BetaLikelihood
from likelihoods.categorical import CategoricalLikelihood
from likelihoods.continuous_bernoulli import ContinuousBernoulliLikelihood
from likelihoods.discretized_logistic import DiscretizedLogisticLikelihood
from likelihoods.gaussian import MEAN_ACTIVATIONS, SIGMA_MODES, GaussianLikelihood

_REGISTRY: dict[str, type[Likelihood]] = {
  "bernoulli": BernoulliLikelihood,
  "continuous_bernoulli": ContinuousBernoulliLikelihood,
  "gaussian": GaussianLikelihood,
  "beta": BetaLikelihood,
  "discretized_logistic": DiscretizedLogisticLikelihood,
  "categorical": CategoricalLikelihood,
}

# Options whose values come from a fixed set: checked at construction, not at first call.
_CHOICES = {("gaussian", "sigma"): SIGMA_MODES, ("gaussian", "mean"): MEAN_ACTIVATIONS}
_NOT_OPTIONS = {"parent", "name"}


for _name, _cls in _REGISTRY.items():
  assert _cls.distribution_type is not None, f"{_name}: set distribution_type"


def available() -> tuple[str, ...]:
  """The registered likelihood names, sorted."""
  return tuple(sorted(_REGISTRY))


def options(name: str) -> dict[str, object]:
  """The options ``get(name, ...)`` accepts, with their defaults."""
  cls = _lookup(name)
  return {
    f.name: f.default for f in dataclasses.fields(cls) if f.name not in _NOT_OPTIONS and f.init
  }


def get(name: str, **opts) -> Likelihood:
  """Builds the likelihood module ``name`` with ``opts``; unknown names/options list what is allowed."""
  cls = _lookup(name)
  allowed = options(name)
  unknown = sorted(set(opts) - set(allowed))
  if unknown:
    raise ValueError(f"likelihood {name!r} has no option(s) {unknown}; allowed: {sorted(allowed)}")
  for key, value in opts.items():
    choices = _CHOICES.get((name, key))
    if choices is not None and value not in choices:
      raise ValueError(f"likelihood {name!r}: {key}={value!r} is not one of {choices}")
  return cls(**opts)


def from_config(name: str, opts: dict) -> Likelihood:
  """``get(name, **opts)`` for a config's ``likelihood_options``, which may list the options of
  the decoder it was written for: an option ``name`` lacks is ignored if it is off (at the
  default of the likelihood that defines it), and named in a ValueError otherwise."""
  allowed = options(name)
  defaults = {k: v for other in available() for k, v in options(other).items() if k not in allowed}
  foreign = {k: v for k, v in opts.items() if k not in allowed}
  bad = sorted(k for k, v in foreign.items() if k not in defaults or v != defaults[k])
  if bad:
    raise ValueError(
      f"likelihood {name!r} has no option(s) {bad} (set in likelihood_options); "
      f"allowed: {sorted(allowed)}"
    )
  return get(name, **{k: v for k, v in opts.items() if k in allowed})


def _lookup(name: str) -> type[Likelihood]:
  if name not in _REGISTRY:
    raise ValueError(f"unknown likelihood {name!r}; available: {available()}")
  return _REGISTRY[name]
