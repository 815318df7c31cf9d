"""The decoder table (likelihoods.decoders): one definition of every named decoder."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import pytest

import likelihoods
from experiments.configs import default, gaussian, laplace
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
  assert decoders.with_role("mae") == ("laplace_fixed",)
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


def test_one_laplace_decoder_per_scale_mode():
  laplaces = [d for d in decoders.DECODERS.values() if d.likelihood == "laplace"]
  assert [d.options["scale"] for d in laplaces] == list(SIGMA_MODES)
  assert [d.name for d in laplaces] == [f"laplace_{m}" for m in SIGMA_MODES]


def test_unknown_decoder_lists_the_table():
  with pytest.raises(ValueError, match="unknown decoder 'cauchy'.*gaussian_optimal"):
    decoders.get("cauchy")


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
  for mode in SIGMA_MODES:
    c = laplace.get_config(mode)
    assert decoders.name_of(c.likelihood, dict(c.likelihood_options)) == f"laplace_{mode}"
  with pytest.raises(ValueError, match="laplace config variant 'wide'.*fixed"):
    laplace.get_config("wide")
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


def test_the_study_takes_its_decoders_from_the_table():
  """A decoder added to the table joins the study (``in_study``), continuous or 8-bit by its role."""
  assert study_configs.ALL_DECODERS == decoders.in_study()
  assert study_configs.get_config("cpu").decoders == decoders.in_study()
  native = set(decoders.with_role("native_8bit"))
  assert set(study_configs.NATIVE_8BIT_DECODERS) == native & set(decoders.in_study())
  assert not set(study_configs.CONTINUOUS_DECODERS) & native
  assert set(decoders.names()) - set(decoders.in_study()) == {
    "gaussian_decoder",
    "laplace_per_pixel",
    "laplace_decoder",
  }
  # F13's three Laplace decoders, F7's "MAE" among them
  assert {"laplace_fixed", "laplace_shared", "laplace_optimal"} <= set(decoders.in_study())


def test_mse_is_a_gaussian_with_sigma_squared_one_half():
  """The identity behind "MSE": for the ``mse`` decoder, -log p(x | mean) = sum (x - mean)^2 +
  (D / 2) log pi exactly (D = 784 pixels), so its ELBO is a beta-VAE's with beta = 2 sigma^2 = 1."""
  import math

  import numpy as np

  (name,) = decoders.with_role("mse")
  lik = decoders.get(name).build()
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (3, 28, 28)))
    mean = jnp.asarray(rng.uniform(0, 1, (3, 28, 28)))
    dist = lik.at_prediction(mean, 0.1)  # fixed: the scale is its own, not the one given
    nll = -np.asarray(jnp.sum(dist.log_prob(x), (-2, -1)))
    sse = np.asarray(jnp.sum((x - mean) ** 2, (-2, -1)))
  np.testing.assert_allclose(nll, sse + 392 * math.log(math.pi), rtol=1e-13)


def test_mae_is_a_laplace_with_scale_one():
  """The identity behind "MAE" (F7): for the ``mae`` decoder, -log p(x | mean) = sum |x - mean| +
  D log 2 exactly, so its ELBO is the summed L1 loss plus the KL (a beta-VAE on L1 with beta = b)."""
  import math

  import numpy as np

  (name,) = decoders.with_role("mae")
  lik = decoders.get(name).build()
  with jax.enable_x64(True):
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.uniform(0, 1, (3, 28, 28)))
    mean = jnp.asarray(rng.uniform(0, 1, (3, 28, 28)))
    dist = lik.at_prediction(mean, 0.1)  # fixed: the scale is its own, not the one given
    nll = -np.asarray(jnp.sum(dist.log_prob(x), (-2, -1)))
    sae = np.asarray(jnp.sum(jnp.abs(x - mean), (-2, -1)))
  np.testing.assert_allclose(nll, sae + 784 * math.log(2), rtol=1e-13)


def test_a_learned_scale_reports_its_optimum_given_the_means():
  """``scale_terms``: a Gaussian's summaries are the root mean square sigma and the root mean
  squared error, the maximum-likelihood value of one shared sigma given the means."""
  import numpy as np

  rng = np.random.default_rng(1)
  x, mean = rng.uniform(0, 1, (2, 5)), rng.uniform(0, 1, (2, 5))
  dist = likelihoods.Normal(jnp.asarray(mean), jnp.full((2, 5), 0.3))
  scale_term, error_term = dist.scale_terms(jnp.asarray(x))
  power = likelihoods.Normal.scale_power
  assert np.isclose(np.mean(scale_term) ** (1 / power), 0.3)
  rmse = np.sqrt(np.mean((x - mean) ** 2))
  assert np.isclose(np.mean(error_term) ** (1 / power), rmse, rtol=1e-6)

  # the optimum: no other shared sigma gives these means a higher likelihood
  def ll(s):
    return float(jnp.sum(likelihoods.Normal(jnp.asarray(mean), s).log_prob(jnp.asarray(x))))

  assert ll(rmse) > max(ll(rmse * 0.99), ll(rmse * 1.01))
  for name in decoders.names():
    lik = decoders.get(name).build()
    if not lik.has_learned_scale():
      continue
    assert lik.distribution_type.scale_terms is not likelihoods.Distribution.scale_terms, name
  with pytest.raises(NotImplementedError, match="Bernoulli has no scale"):
    likelihoods.Bernoulli(jnp.zeros(2)).scale_terms(jnp.zeros(2))


def test_f6_a_sigmoid_saturates_the_gaussian_gradient_not_the_bernoulli():
  """The mechanism of folk claim F6, as an identity: through a sigmoid output s = sigmoid(l), the
  gradient of BCE's -log p(x | l) in the logit is s - x (about -1 for a dark prediction of a
  bright pixel, however saturated), while "MSE"'s (a Gaussian, sigma^2 = 1/2) is
  -2 (x - s) s (1 - s), which vanishes as the sigmoid saturates. Oracle: these closed forms."""
  import numpy as np

  logits = np.array([-12.0, -6.0, -2.0, 0.0, 2.0, 6.0, 12.0])
  x = np.ones_like(logits)  # a bright pixel, predicted dark at negative logits
  s = 1 / (1 + np.exp(-logits))
  with jax.enable_x64(True):
    grads = {}
    for name in ("bernoulli", decoders.with_role("mse")[0]):
      lik = decoders.get(name).build()
      raw = jnp.asarray(logits).reshape(1, 1, -1, 1)
      xs = jnp.asarray(x).reshape(1, 1, -1)
      variables = lik.init(jax.random.PRNGKey(0), raw, xs, method=type(lik).distribution)

      def nll(r, lik=lik, variables=variables, xs=xs):
        return -jnp.sum(lik.apply(variables, r, xs, method=type(lik).distribution).log_prob(xs))

      grads[name] = np.asarray(jax.grad(nll)(raw)).ravel()
  np.testing.assert_allclose(grads["bernoulli"], s - x, rtol=1e-12, atol=1e-15)
  mse = grads[decoders.with_role("mse")[0]]
  np.testing.assert_allclose(mse, -2 * (x - s) * s * (1 - s), rtol=1e-10, atol=1e-15)
  # at logit -12 BCE still pulls with -1.0; MSE with about -1.2e-5: 80,000 times weaker
  assert grads["bernoulli"][0] < -0.9999 and abs(mse[0]) < 2e-5
