"""The decoder table: every named decoder the configs and the study use, defined once.

A *decoder* is a likelihood module with fixed options, under a name the study's table shows:

>>> from likelihoods import decoders
>>> decoders.get("gaussian_shared")
Decoder(name='gaussian_shared', module=<class 'likelihoods.gaussian.GaussianLikelihood'>, ...)
>>> decoders.get("gaussian_shared").likelihood
'gaussian'
>>> decoders.with_role("learned_sigma")
('gaussian_shared', 'gaussian_per_pixel', 'gaussian_decoder', 'gaussian_optimal')

The Gaussian and the Laplace decoders are one per scale mode of ``likelihoods.scales.SCALE_MODES``. *Roles* say
what a decoder stands for in the study's findings (``bce``: the tutorials' binary cross-entropy;
``mse``: "MSE", a Gaussian with sigma^2 = 1/2; ``mae``: "MAE", a Laplace with b = 1; ``learned_sigma``; ``shared_sigma``; ``native_8bit``: a pmf on the 256 pixel levels, not a
density on [0, 1]), so no code
outside ``likelihoods/`` compares names.

``in_study`` (default True) puts a decoder in the study's grid (``in_study()``; the Gaussian whose
sigma the decoder outputs is left out: the CB paper's ``paper`` variant names it).

Adding a decoder: a module in ``likelihoods/`` (distribution + likelihood module, with its
``registry_name``) and one ``Decoder`` row in ``TABLE`` below (the registry is built from the
table); see the README.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

from likelihoods.base import Likelihood
from likelihoods.bernoulli import BernoulliLikelihood
from likelihoods.beta import BetaLikelihood
from likelihoods.categorical import CategoricalLikelihood
from likelihoods.continuous_bernoulli import ContinuousBernoulliLikelihood
from likelihoods.discretized_logistic import DiscretizedLogisticLikelihood
from likelihoods.gaussian import SIGMA_MODES, GaussianLikelihood
from likelihoods.laplace import SCALE_MODES, LaplaceLikelihood

ROLES = ("bce", "mse", "mae", "learned_sigma", "shared_sigma", "native_8bit")


@dataclasses.dataclass(frozen=True)
class Decoder:
  """A named decoder: the likelihood ``module`` with ``options``; the module is registered under
  its ``registry_name`` by the table (``likelihoods.registry``)."""

  name: str
  module: type[Likelihood]
  options: Mapping[str, object]
  description: str
  roles: tuple[str, ...] = ()
  in_study: bool = True  # trained by the study's variants that run "every decoder"

  @property
  def likelihood(self) -> str:
    """The registry's name of the module (``config.likelihood``)."""
    return self.module.registry_name

  def build(self) -> Likelihood:
    """The likelihood module with the decoder's options (``likelihoods.get(likelihood,
    **options)``)."""
    return self.module(**self.options)


_GAUSSIAN = {
  "fixed": ("Gaussian, sigma^2 = 1/2 fixed: 'MSE'", ("mse",)),
  "shared": ("Gaussian, one learned sigma (sigma-VAE)", ("learned_sigma", "shared_sigma")),
  "per_pixel": ("Gaussian, a learned sigma per pixel", ("learned_sigma",)),
  "decoder": ("Gaussian, sigma per pixel output by the decoder", ("learned_sigma",)),
  "optimal": ("Gaussian, sigma^2 = batch MSE (sigma-VAE's analytic sigma)", ("learned_sigma",)),
}
assert tuple(_GAUSSIAN) == SIGMA_MODES, "one Gaussian decoder per sigma mode"

# (description, roles, in the study's grid): the study runs the fixed ("MAE"), shared and optimal
# scales; per pixel and from the decoder are there for single runs and sweeps.
_LAPLACE = {
  "fixed": ("Laplace, b = 1 fixed: 'MAE' (summed absolute error)", ("mae",), True),
  "shared": ("Laplace, one learned scale b", (), True),
  "per_pixel": ("Laplace, a learned scale per pixel", (), False),
  "decoder": ("Laplace, scale per pixel output by the decoder", (), False),
  "optimal": ("Laplace, b = batch mean absolute error (its ML scale)", (), True),
}
assert tuple(_LAPLACE) == SCALE_MODES, "one Laplace decoder per scale mode"

TABLE = (
  Decoder(
    "bernoulli", BernoulliLikelihood, {}, "Bernoulli: binary cross-entropy on grey pixels", ("bce",)
  ),
  Decoder("continuous_bernoulli", ContinuousBernoulliLikelihood, {}, "continuous Bernoulli"),
  *(
    Decoder(
      f"gaussian_{mode}",
      GaussianLikelihood,
      {"sigma": mode},
      description,
      roles,
      mode != "decoder",
    )
    for mode, (description, roles) in _GAUSSIAN.items()
  ),  # fmt: skip
  *(
    Decoder(f"laplace_{mode}", LaplaceLikelihood, {"scale": mode}, description, roles, study)
    for mode, (description, roles, study) in _LAPLACE.items()
  ),
  Decoder("beta", BetaLikelihood, {}, "Beta, alpha and beta from the decoder"),
  Decoder(
    "discretized_logistic",
    DiscretizedLogisticLikelihood,
    {},
    "discretized logistic mixture (PixelCNN++): a pmf on the 256 levels, natively 8-bit",
    ("native_8bit",),
  ),
  Decoder(
    "categorical",
    CategoricalLikelihood,
    {},
    "256-way softmax per pixel, low-rank logits: a pmf on the 256 levels, natively 8-bit",
    ("native_8bit",),
  ),
)
DECODERS: dict[str, Decoder] = {d.name: d for d in TABLE}


def names() -> tuple[str, ...]:
  """The decoder names, in table order."""
  return tuple(DECODERS)


def get(name: str) -> Decoder:
  """The decoder ``name``; a ValueError lists the names allowed."""
  if name not in DECODERS:
    raise ValueError(f"unknown decoder {name!r}; available: {names()}")
  return DECODERS[name]


def with_role(role: str) -> tuple[str, ...]:
  """The names of the decoders that play ``role`` (one of ``ROLES``), in table order."""
  if role not in ROLES:
    raise ValueError(f"unknown decoder role {role!r}; roles: {ROLES}")
  return tuple(d.name for d in TABLE if role in d.roles)


def in_study(*, native_8bit: bool | None = None) -> tuple[str, ...]:
  """The decoders the study runs (``Decoder.in_study``), in table order; ``native_8bit`` True or
  False keeps only the pmfs on the 256 levels (role ``native_8bit``) or only the others (the
  densities on [0, 1], and the Bernoulli)."""
  return tuple(
    d.name
    for d in TABLE
    if d.in_study and (native_8bit is None or ("native_8bit" in d.roles) == native_8bit)
  )


def name_of(likelihood: str, options: Mapping[str, object]) -> str | None:
  """The table's name for ``likelihood`` with ``options`` (defaults filled in), or None."""
  modules = {d.likelihood: d.module for d in TABLE}
  if likelihood not in modules:
    return None
  defaults = modules[likelihood].options()
  full = {**defaults, **dict(options)}
  for d in TABLE:
    if d.likelihood == likelihood and {**defaults, **d.options} == full:
      return d.name
  return None
