"""The registry: names, options, and errors that say what was wrong and what is allowed."""

from __future__ import annotations

import re

import pytest

import likelihoods
from likelihoods import (
  BernoulliLikelihood,
  BetaLikelihood,
  CategoricalLikelihood,
  ContinuousBernoulliLikelihood,
  DiscretizedLogisticLikelihood,
  GaussianLikelihood,
  decoders,
)
from likelihoods.gaussian import MEAN_ACTIVATIONS, SIGMA_MODES


def test_available_names_are_the_decoder_tables_modules():
  """Derived from the decoder table: a likelihood is registered, under its module's
  ``registry_name``, by the decoders that use it."""
  names = likelihoods.available()
  assert names == tuple(sorted(set(names)))
  assert set(names) == {d.likelihood for d in decoders.TABLE}
  for d in decoders.TABLE:
    assert type(likelihoods.get(d.likelihood)) is d.module
  assert SIGMA_MODES == ("fixed", "shared", "per_pixel", "decoder", "optimal")
  assert MEAN_ACTIVATIONS == ("sigmoid", "identity")


@pytest.mark.parametrize("name", likelihoods.available())
def test_get_builds_the_module(name):
  lik = likelihoods.get(name)
  assert isinstance(lik, likelihoods.Likelihood) and type(lik).registry_name == name
  assert type(lik).__name__ in likelihoods.__all__
  outputs = lik.outputs_per_pixel()
  assert isinstance(outputs, int) and outputs >= 1
  assert lik.event_ndims == 2
  assert issubclass(lik.distribution_type, likelihoods.Distribution)
  assert likelihoods.options(name) == type(lik).options()


@pytest.mark.parametrize(
  "name,cls,outputs",
  [
    ("bernoulli", BernoulliLikelihood, 1),
    ("beta", BetaLikelihood, 2),
    ("categorical", CategoricalLikelihood, 4),
    ("continuous_bernoulli", ContinuousBernoulliLikelihood, 1),
    ("discretized_logistic", DiscretizedLogisticLikelihood, 15),
    ("gaussian", GaussianLikelihood, 1),
  ],
)
def test_known_modules_and_their_outputs(name, cls, outputs):
  """The known likelihoods' modules and outputs per pixel with their defaults (not a list of all
  of them: a new one needs no line here)."""
  lik = likelihoods.get(name)
  assert type(lik) is cls
  assert lik.outputs_per_pixel() == outputs


def test_options_and_defaults():
  assert likelihoods.options("bernoulli") == {"event_ndims": 2, "lambda_clip": 0.0}
  assert likelihoods.options("continuous_bernoulli") == {"event_ndims": 2, "lambda_clip": 0.0}
  assert likelihoods.options("beta") == {
    "event_ndims": 2,
    "concentration_floor": 1e-3,
    "pixel_eps": 1e-4,
  }
  assert likelihoods.options("discretized_logistic") == {
    "event_ndims": 2,
    "num_mixtures": 5,
    "log_scale_min": -8.0,
  }
  assert likelihoods.options("categorical") == {"event_ndims": 2, "rank": 4}
  gaussian = likelihoods.options("gaussian")
  assert gaussian["sigma"] == "shared" and gaussian["mean"] == "sigmoid"
  assert gaussian["fixed_sigma"] ** 2 == pytest.approx(0.5, rel=1e-15)
  assert gaussian["log_sigma_min"] == -6.0
  assert set(gaussian) == {
    "event_ndims",
    "sigma",
    "mean",
    "fixed_sigma",
    "log_sigma_min",
    "init_log_sigma",
    "stats_momentum",
  }


@pytest.mark.parametrize("sigma", SIGMA_MODES)
@pytest.mark.parametrize("mean", MEAN_ACTIVATIONS)
def test_every_gaussian_mode_builds(sigma, mean):
  lik = likelihoods.get("gaussian", sigma=sigma, mean=mean)
  assert (lik.sigma, lik.mean) == (sigma, mean)
  assert lik.outputs_per_pixel() == (2 if sigma == "decoder" else 1)


def _assert_names_all(message: str, bad: str, allowed):
  assert bad in message, message
  for option in allowed:
    assert re.search(re.escape(str(option)), message), (option, message)


def test_unknown_name():
  with pytest.raises(ValueError) as info:
    likelihoods.get("gausian")
  _assert_names_all(str(info.value), "'gausian'", likelihoods.available())
  with pytest.raises(ValueError) as info:
    likelihoods.options("cauchy")
  _assert_names_all(str(info.value), "'cauchy'", likelihoods.available())


def test_unknown_option():
  with pytest.raises(ValueError) as info:
    likelihoods.get("gaussian", sigmma="fixed")
  _assert_names_all(str(info.value), "sigmma", likelihoods.options("gaussian"))
  with pytest.raises(ValueError) as info:
    likelihoods.get("bernoulli", pixel_eps=1e-4)  # a Beta option, not a Bernoulli one
  _assert_names_all(str(info.value), "pixel_eps", ["event_ndims"])
  # Flax's own constructor arguments are not options.
  with pytest.raises(ValueError, match="parent"):
    likelihoods.get("beta", parent=None)


@pytest.mark.parametrize(
  "option,bad,allowed",
  [
    ("sigma", "learned", SIGMA_MODES),
    ("sigma", "Fixed", SIGMA_MODES),
    ("mean", "tanh", MEAN_ACTIVATIONS),
  ],
)
def test_bad_choice_is_rejected_at_construction(option, bad, allowed):
  with pytest.raises(ValueError) as info:
    likelihoods.get("gaussian", **{option: bad})
  message = str(info.value)
  assert f"{option}={bad!r}" in message
  _assert_names_all(message, repr(bad), allowed)


def test_from_config_ignores_another_decoders_options_when_off():
  # a config written for the Bernoulli lists lambda_clip = 0: Beta ignores it, but not 1e-4
  lik = likelihoods.registry.from_config("beta", {"lambda_clip": 0.0, "pixel_eps": 1e-3})
  assert isinstance(lik, BetaLikelihood) and lik.pixel_eps == 1e-3
  with pytest.raises(ValueError, match="'beta' has no option.*lambda_clip.*allowed"):
    likelihoods.registry.from_config("beta", {"lambda_clip": 1e-4})
  with pytest.raises(ValueError, match="no option.*'sigmaa'"):
    likelihoods.registry.from_config("gaussian", {"sigmaa": "shared"})
