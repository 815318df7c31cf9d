"""The registry: configs choose a likelihood module by name (its ``registry_name``).

Built from the decoder table (``likelihoods.decoders.TABLE``): a module is registered by the
decoders that use it, so adding a decoder is its module and its table row.

>>> import likelihoods
>>> likelihoods.available()  # doctest: +NORMALIZE_WHITESPACE
('bernoulli', 'beta', 'categorical', 'continuous_bernoulli', 'discretized_logistic', 'gaussian',
 'laplace')
>>> lik = likelihoods.get("gaussian", sigma="optimal")
"""

from __future__ import annotations

from likelihoods.base import Likelihood
from likelihoods.decoders import TABLE

# name -> module class, from the decoder table: a likelihood module is registered by the decoders
# that use it (``likelihoods/decoders.py``), under its ``registry_name``.
_REGISTRY: dict[str, type[Likelihood]] = {d.module.registry_name: d.module for d in TABLE}


for _name, _cls in _REGISTRY.items():
  assert _name, f"{_cls.__name__}: set registry_name"
  assert _cls.distribution_type is not None, f"{_name}: set distribution_type"


def available() -> tuple[str, ...]:
  """The registered likelihood names, sorted."""
  return tuple(sorted(_REGISTRY))


def options(name: str) -> dict[str, object]:
  """The options ``get(name, ...)`` accepts, with their defaults."""
  return _lookup(name).options()


def get(name: str, **opts) -> Likelihood:
  """Builds the likelihood module ``name`` with ``opts``; unknown names/options list what is allowed."""
  cls = _lookup(name)
  allowed = options(name)
  unknown = sorted(set(opts) - set(allowed))
  if unknown:
    raise ValueError(f"likelihood {name!r} has no option(s) {unknown}; allowed: {sorted(allowed)}")
  for key, value in opts.items():
    choices = cls.option_choices.get(key)
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
