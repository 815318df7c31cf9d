"""The decoder table (likelihoods.decoders): one definition of every named decoder."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import likelihoods
from experiments.configs import default, gaussian
from experiments.configs import study as study_configs
from likelihoods import decoders
from likelihoods.gaussian import SIGMA_MODES


def test_every_decoder_builds_its_likelihood_and_names_its_distribution():
  for name in decoders.names():
    d = decoders.get(name)
    lik = d.build()
    assert isinstance(lik, likelihoods.Likelihood)
    raw = jnp.zeros((2, 28, 28, lik.outputs_per_pixel()))
    x = jnp.full((2, 28, 28), 0.25)
    variables = lik.init(jax.random.PRNGKey(0), raw, x, method=type(lik).distribution)
    dist = lik.apply(variables, raw, x, method=type(lik).distribution)
    assert type(dist) is lik.distribution_type, name


def test_one_gaussian_decoder_per_sigma_mode():
  gaussians = [d for d in decoders.DECODERS.values() if d.likelihood == "gaussian"]
  assert [d.options["sigma"] for d in gaussians] == list(SIGMA_MODES)
  assert [d.name for d in gaussians] == [f"gaussian_{m}" for m in SIGMA_MODES]


def test_roles():
  assert decoders.with_role("bce") == ("bernoulli",)
  assert decoders.with_role("mse") == ("gaussian_fixed",)
  assert decoders.with_role("shared_sigma") == ("gaussian_shared",)
  assert set(decoders.with_role("learned_sigma")) == {
    "gaussian_shared",
    "gaussian_per_pixel",
    "gaussian_decoder",
    "gaussian_optimal",
  }
  assert decoders.with_role("native_8bit") == ("discretized_logistic", "categorical")
  with pytest.raises(ValueError, match="unknown decoder role 'fancy'.*learned_sigma"):
    decoders.with_role("fancy")


def test_unknown_decoder_lists_the_table():
  with pytest.raises(ValueError, match="unknown decoder 'laplace'.*gaussian_optimal"):
    decoders.get("laplace")


def test_name_of_inverts_the_table_with_defaults_filled_in():
  for name, d in decoders.DECODERS.items():
    assert decoders.name_of(d.likelihood, d.options) == name
  assert decoders.name_of("gaussian", {"sigma": "optimal", "mean": "sigmoid"}) == "gaussian_optimal"
  assert decoders.name_of("gaussian", {"sigma": "optimal", "mean": "identity"}) is None
  assert decoders.name_of("beta", {"pixel_eps": 1e-4, "concentration_floor": 1e-3}) == "beta"


def test_configs_take_their_decoders_from_the_table():
  for mode in SIGMA_MODES:
    c = gaussian.get_config(mode)
    assert decoders.name_of(c.likelihood, dict(c.likelihood_options)) == f"gaussian_{mode}"
  with pytest.raises(ValueError, match="'sigma2'.*fixed"):
    gaussian.get_config("sigma2")
  c = default.for_decoder("continuous_bernoulli")
  assert (c.likelihood, dict(c.likelihood_options)) == (
    "continuous_bernoulli",
    {"lambda_clip": 0.0},
  )
  assert set(default.for_decoder("gaussian_shared").likelihood_options) == {
    "sigma", "mean", "fixed_sigma", "log_sigma_min", "init_log_sigma", "stats_momentum"
  }  # fmt: skip
  for variant in study_configs.VARIANTS:
    for name in study_configs.get_config(variant).decoders:
      decoders.get(name)
