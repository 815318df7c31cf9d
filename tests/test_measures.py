"""The named measures on an untrained tiny model and synthetic images (no MNIST, no training):
each measure's output keys, applicability by what the distribution says, and keys per name."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from vae import evaluation
from vae.evaluation import evaluator, measures, scores
from vae.evaluation.run import Run
from vae.model import build_model, init_variables


def _run(decoder: str) -> Run:
  c = default.for_decoder(decoder)
  c.model.hidden, c.model.latent_dim = (16,), 3
  model = build_model(c)
  variables = init_variables(model, jax.random.PRNGKey(0))
  stats = {k: v for k, v in variables.items() if k != "params"}
  stacked = jax.tree.map(lambda a: a[None], {"params": variables["params"], "stats": stats})
  return Run(c, model, variables, epoch=0, seed=0, workdir="", all_variables=stacked)


def _context(decoder: str, names) -> measures.Context:
  rng = np.random.default_rng(0)
  images = lambda n: (rng.uniform(size=(n, 28, 28)) ** 4 * 256).astype(np.uint8)
  c = evaluation.default_config()
  c.measures = tuple(names)
  c.num_importance_samples, c.chunk, c.batch_size, c.knn_k = 4, 2, 16, 3
  return measures.Context(
    _run(decoder), c, images(20), rng.integers(0, 10, 20), images(30), rng.integers(0, 10, 30)
  )


@pytest.mark.parametrize(
  "decoder",
  ["bernoulli", "continuous_bernoulli", "gaussian_optimal", "discretized_logistic", "categorical"],
)
def test_every_measure_returns_flat_keys_under_its_name(decoder):
  names = (*evaluator.DEFAULT_MEASURES, "reading_elbos")
  result = evaluator.evaluate_seed(_context(decoder, names))
  timings = result.pop("timings_seconds")
  assert list(timings) == list(names)
  for key in result:
    assert any(key == m or key.startswith(m + "/") for m in names), key
  assert result["elbo"]["n"] == 20 and np.isfinite(result["iw_log_likelihood"]["mean"])
  assert np.isfinite(result["common/bits_per_dim"]["mean"])
  assert 0 <= result["knn_accuracy"] <= 1 and 0 <= result["active_units"] <= 3
  assert "sample_quality/not_applicable" in result  # no classifier given
  if decoder == "bernoulli":  # no density: read as continuous Bernoullis, no 8-bit likelihood
    assert "inverse-mean map" in result["common/measure"]
    assert np.isfinite(result["cross_entropy"]["mean"])
    assert np.isfinite(result["readings/cb_lambda/log_likelihood"]["mean"])
    assert "no continuous cdf" in result["discretized/not_applicable"]
    assert result["intensity/display_parameter"] == "lambda"
    # log CB(x | lambda) = the cross-entropy + log C(lambda) >= it + log 2 per pixel
    gain = result["reading_elbos/cb_lambda"]["mean"] - result["elbo"]["mean"]
    assert gain > 784 * np.log(2) - 20
    assert "inverse-mean" in result["reading_elbos/as_density"]["measure"]
  else:
    assert "reading_elbos/not_applicable" in result
    assert "cross_entropy/not_applicable" in result and "readings/not_applicable" in result
    assert np.isfinite(result["discretized/nll"]["mean"])
  head = evaluation.headline({"per_seed": [result]})
  assert head["common_bits_per_dim"]["per_seed"] == [result["common/bits_per_dim"]["mean"]]


def test_a_measure_draws_from_its_own_key():
  alone = evaluator.evaluate_seed(_context("gaussian_shared", ["common"]))
  among = evaluator.evaluate_seed(_context("gaussian_shared", ["elbo", "discretized", "common"]))
  assert alone["common/log_likelihood"] == among["common/log_likelihood"]
  base = jax.random.PRNGKey(0)
  keys = {name: tuple(np.asarray(measures.key_for(base, name))) for name in measures.names()}
  assert len(set(keys.values())) == len(keys)
  assert keys["elbo"] == tuple(np.asarray(measures.key_for(base, "elbo")))


def test_unknown_measures_are_named():
  c = evaluation.default_config()
  c.measures = ("elbo", "fid_inception_v3")
  with pytest.raises(ValueError, match="'fid_inception_v3'.*available: .*knn_accuracy"):
    evaluator.check_config(c)
  evaluator.check_config(evaluation.default_config())


@pytest.mark.parametrize("decoder", ["discretized_logistic", "categorical"])
def test_a_natively_8bit_decoder_is_its_8bit_likelihood_at_the_dequantized_test_set(decoder):
  """The common measure's density at (pixel + u)/256 is the 8-bit pmf plus 784 log 256 per image:
  the same number, image by image and latent sample by sample."""
  ctx = _context(decoder, ["common"])
  z = jax.random.normal(jax.random.PRNGKey(3), (2, 20, 3))
  dist = ctx.run.decode(z)
  common = np.asarray(scores.as_density(dist, ctx.x_tilde), np.float64)
  eight_bit = np.asarray(scores.discretized(dist, jnp.asarray(ctx.test_u8)), np.float64)
  # float32 sums of 784 terms of a few nats (the log 256 added per pixel or once): ~1e-4 apart
  np.testing.assert_allclose(common, eight_bit + 784 * np.log(256), rtol=0, atol=2e-3)


@pytest.mark.parametrize("decoder", ["continuous_bernoulli", "gaussian_optimal"])
def test_every_mean_over_images_keeps_its_per_image_values(decoder):
  """Each column that is a mean over test images (``Column.per_image_key``) has its per-image
  values in ``ctx.per_image``, one per test image, whose mean is the column's number; the KL,
  the calibration and the strata are among them, for the mean and the display parameter."""
  ctx = _context(decoder, evaluator.DEFAULT_MEASURES)
  result = evaluator.evaluate_seed(ctx)
  values = ctx.per_image
  for name, column in measures.columns().items():
    number = column.value(result)
    if column.per_image_key is None or number is None:
      continue
    v = values[column.per_image_key]
    assert v.shape == (20,), name
    assert np.nanmean(v) == pytest.approx(number, rel=1e-12, abs=1e-12, nan_ok=True), name
  for key in (
    "elbo",
    "elbo/kl",
    "iw_log_likelihood",
    "common/log_likelihood",
    "discretized/nll",
    "discretized/log_likelihood",
    "intensity/mse",
    "intensity/sharpness_ratio",
    "intensity/calibration_toward_half",
    "intensity/calibration_toward_half_grey",
    "intensity/error_extremes_abs",
    "intensity/error_midtones_sq",
    "intensity/display/calibration_toward_half",
  ):
    assert key in values, key
  assert (values["elbo/kl"] >= 0).all()
  assert np.isfinite(values["elbo"]).all() and np.isfinite(values["iw_log_likelihood"]).all()
  if decoder == "continuous_bernoulli":  # lambda is not the CB's mean: a different number
    assert result["intensity/display_parameter"] == "lambda"
    assert not np.allclose(
      values["intensity/display/calibration_toward_half"],
      values["intensity/calibration_toward_half"],
    )
  table = result["intensity/mean"]["reliability"]
  assert sum(table["count"]) == 20 * 784


@pytest.mark.parametrize("decoder", ["gaussian_optimal", "bernoulli"])
def test_an_images_inputs_do_not_depend_on_the_test_subset(decoder):
  """With a subset of the test split, the inputs are made for the whole split and selected: an
  image gets the same input noise, and the same per-image numbers, in any subset."""
  full = _context(decoder, ["elbo", "intensity"])
  indices = np.array([1, 4, 5, 11, 19])
  sub = measures.Context(
    full.run, full.config, full.test_u8[indices], full.test_labels[indices], full.train_u8,
    full.train_labels, full_test_u8=full.test_u8, test_indices=indices,
  )  # fmt: skip
  np.testing.assert_array_equal(np.asarray(sub.x), np.asarray(full.x)[indices])
  np.testing.assert_array_equal(np.asarray(sub.x_tilde), np.asarray(full.x_tilde)[indices])
  evaluator.evaluate_seed(full)
  evaluator.evaluate_seed(sub)
  for name in ("intensity/calibration_toward_half", "intensity/mse"):
    np.testing.assert_allclose(sub.per_image[name], full.per_image[name][indices], rtol=1e-6)
