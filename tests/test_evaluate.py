"""Evaluation: known answers for each measure (unit), and end-to-end runs on tiny trained models
(``e2e``: they train on real MNIST subsets)."""

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import likelihoods
import vae
from tests import helpers
from tests.helpers import run, tiny_config
from vae import evaluation, objective
from vae import workdir as wd
from vae.evaluation import discretized, evaluator, latents, measures, per_image, scores
from vae.evaluation.intensity import intensity_report

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


tiny_eval_config = helpers.tiny_eval_config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  workdir = tmp_path_factory.mktemp("run")
  c = tiny_config("gaussian", sigma="optimal")
  c.num_seeds = 2
  run(c, workdir)
  return str(workdir)


# ------------------------------------------------------------------------ known answers


@pytest.mark.e2e
def test_iw_bound_with_one_sample_equals_the_elbo_estimate(trained):
  r = vae.load(trained)
  x = jnp.asarray(np.random.default_rng(0).uniform(size=(100, 28, 28)), jnp.float32)
  key = jax.random.PRNGKey(3)
  out = r.pieces(x, key, 1, score=scores.own_density, target=x)
  np.testing.assert_allclose(objective.iwae_bound(out), objective.mc_elbo(out), rtol=1e-6)
  # The chunked estimator with K = 1 draws z with key -> fold_in(batch 0) -> split(1)[0].
  k = jax.random.split(jax.random.fold_in(key, 0), 1)[0]
  expected = objective.mc_elbo(r.pieces(x, k, 1, score=scores.own_density, target=x))
  got = r.log_likelihood(x, key, 1, score=scores.own_density, target=x, chunk=1)
  np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-3)
  # More samples tighten the bound (on average over images).
  k50 = r.log_likelihood(x, key, 50, score=scores.own_density, target=x, chunk=10)
  assert k50.mean() > got.mean()


def test_iw_bound_is_the_log_mean_of_the_weights():
  lw = jnp.asarray(np.random.default_rng(1).normal(size=(7, 3)) * 10)
  out = {"log_px_z": lw, "log_pz": jnp.zeros_like(lw), "log_qz_x": jnp.zeros_like(lw)}
  expected = np.log(np.mean(np.exp(np.asarray(lw, np.float64)), 0))
  np.testing.assert_allclose(objective.iwae_bound(out), expected, rtol=1e-5)


@pytest.mark.parametrize(
  "dist",
  [
    likelihoods.Normal(jnp.array([0.3, -0.4, 1.4, 0.5]), jnp.array([0.1, 0.01, 0.2, 3.0])),
    likelihoods.ContinuousBernoulli(jnp.array([0.0, 3.0, -40.0, 1e4])),
    likelihoods.Beta(jnp.array([0.3, 2.0, 50.0, 1.0]), jnp.array([0.5, 5.0, 2.0, 1.0])),
  ],
  ids=["normal", "cb", "beta"],
)
def test_discretized_probabilities_sum_to_one(dist):
  levels = jnp.arange(256.0)[:, None]
  probs = np.exp(np.asarray(discretized.discretized_log_probs(dist, levels), np.float64))
  np.testing.assert_allclose(probs.sum(0), 1.0, atol=2e-5)
  assert (probs >= 0).all()


def test_discretized_gaussian_folds_its_tails_into_the_edge_bins():
  dist = likelihoods.Normal(jnp.array([-0.5, 1.5]), jnp.array([0.05, 0.05]))
  lp = discretized.discretized_log_probs(dist, jnp.array([[0.0, 255.0]]))
  np.testing.assert_allclose(lp, 0.0, atol=1e-6)


def test_bits_per_dim_of_the_uniform_density_is_eight():
  assert float(objective.bits_per_dim(jnp.float32(0.0))) == pytest.approx(8.0)


def test_knn_on_a_separable_toy_set():
  rng = np.random.default_rng(0)
  centers = np.eye(3) * 20
  train_y = rng.integers(0, 3, 300)
  test_y = rng.integers(0, 3, 100)
  train = centers[train_y] + rng.normal(size=(300, 3))
  test = centers[test_y] + rng.normal(size=(100, 3))
  assert latents.knn_accuracy(train, train_y, test, test_y, k=15) == 1.0


def test_knn_matches_brute_force():
  rng = np.random.default_rng(1)
  train, labels = rng.normal(size=(200, 5)), rng.integers(0, 10, 200)
  queries = rng.normal(size=(30, 5))
  d = ((queries[:, None] - train[None]) ** 2).sum(-1)
  nearest = labels[np.argsort(d, 1)[:, :15]]
  expected = [np.bincount(row, minlength=10).argmax() for row in nearest]
  np.testing.assert_array_equal(latents.knn_predict(train, labels, queries, k=15), expected)
  with pytest.raises(ValueError, match="k=500"):
    latents.knn_predict(train, labels, queries, k=500)


def test_active_units_counts_the_dimensions_that_vary():
  rng = np.random.default_rng(0)
  means = np.concatenate([rng.normal(size=(1000, 3)), 0.01 * rng.normal(size=(1000, 5))], 1)
  assert latents.active_units(means) == 3


def test_intensity_report_known_cases():
  x = np.random.default_rng(0).uniform(size=(20, 28, 28))
  same = intensity_report(x, x)
  assert same["mse"]["mean"] == 0 and same["shift_toward_half"]["mean"] == 0
  assert same["sharpness_ratio"]["mean"] == pytest.approx(1.0)
  grey = intensity_report(x, np.full_like(x, 0.5))
  assert grey["shift_toward_half"]["mean"] == pytest.approx(np.abs(x - 0.5).mean())
  assert grey["sharpness_ratio"]["mean"] == 0
  errs = grey["error_by_intensity"]["mean_signed_error"]
  assert errs[0] > 0 > errs[-1]


# ----------------------------------------------------------------------------- end to end


@pytest.mark.e2e
def test_end_to_end_evaluation_of_a_tiny_run(trained, monkeypatch):
  ckpt_dir = os.path.join(trained, "checkpoints")
  before = {p: os.path.getmtime(os.path.join(ckpt_dir, p)) for p in os.listdir(ckpt_dir)}
  result = evaluation.evaluate_workdir(trained, None, tiny_eval_config())
  assert result["epoch"] == 2 and len(result["per_seed"]) == 2
  head = evaluation.headline(result)
  for name in (
    "elbo",
    "iw_log_likelihood",
    "common_bits_per_dim",
    "discretized_nll",
    "knn_accuracy",
    "active_units",
    "recon_mse",
    "shift_toward_half",
    "sharpness_ratio",
    "elbo_kl",
    "calibration_toward_half",
    "calibration_toward_half_grey",
    "error_extremes_abs",
    "error_midtones_abs",
  ):
    assert np.isfinite(head[name]["mean"]), name
    assert len(head[name]["per_seed"]) == 2
  seed0 = result["per_seed"][0]
  assert seed0["elbo"]["n"] == 200 and seed0["elbo"]["stderr"] > 0
  assert seed0["iw_log_likelihood"]["mean"] >= seed0["elbo"]["mean"] - 1.0
  assert head["common_bits_per_dim"]["mean"] == pytest.approx(
    np.mean(
      [objective.bits_per_dim(s["common/log_likelihood"]["mean"]) for s in result["per_seed"]]
    ),
    rel=1e-6,
  )
  assert set(seed0["timings_seconds"]) == set(evaluator.DEFAULT_MEASURES)
  for name in ("eval.json", "reconstructions.png", "samples.png", "intensity.png"):
    assert os.path.exists(os.path.join(trained, "eval", "epoch_0002", name)), name
  assert json.load(open(os.path.join(trained, "eval.json")))["epoch"] == 2
  assert {p: os.path.getmtime(os.path.join(ckpt_dir, p)) for p in os.listdir(ckpt_dir)} == before
  _check_per_image(trained, result)
  # The same settings again: the stored result, not a recomputation.
  again = evaluation.evaluate_workdir(trained, None, tiny_eval_config())
  assert again["seconds"] == result["seconds"]
  # Other settings: a new evaluation; the old one is kept under a time-stamped name.
  epoch_dir = os.path.join(trained, "eval", "epoch_0002")
  first = open(os.path.join(epoch_dir, "eval.json")).read()
  # A failing evaluation (here: a measure that raises) leaves the previous one in place.
  other = tiny_eval_config()
  other.num_importance_samples = 10
  real = measures.MEASURES["knn_accuracy"]

  def broken(ctx, key):
    raise RuntimeError("a measure failed")

  monkeypatch.setitem(measures.MEASURES, "knn_accuracy", broken)
  with pytest.raises(RuntimeError, match="a measure failed"):
    evaluation.evaluate_workdir(trained, None, other)
  assert open(os.path.join(epoch_dir, "eval.json")).read() == first
  assert not [f for f in os.listdir(epoch_dir) if f.startswith("kept-")]
  monkeypatch.setitem(measures.MEASURES, "knn_accuracy", real)
  # Other settings: a new evaluation; the old one is kept with its figures in kept-<time>/.
  evaluation.evaluate_workdir(trained, None, other)
  kept = sorted(f for f in os.listdir(epoch_dir) if f.startswith("kept-"))
  assert len(kept) == 1
  assert open(os.path.join(epoch_dir, kept[0], "eval.json")).read() == first
  assert os.path.exists(os.path.join(epoch_dir, kept[0], "reconstructions.png"))
  # An evaluation by other measures (an older MEASURES_VERSION) is redone, within the same
  # second too, and again nothing is overwritten.
  monkeypatch.setattr(evaluator, "MEASURES_VERSION", evaluator.MEASURES_VERSION + 1)
  redone = evaluation.evaluate_workdir(trained, None, other)
  assert redone["measures_version"] == evaluator.MEASURES_VERSION
  kept = sorted(f for f in os.listdir(epoch_dir) if f.startswith("kept-"))
  assert len(kept) == 2
  assert os.path.exists(os.path.join(epoch_dir, kept[-1], per_image.FILE))  # kept with its JSON
  # An eval.json of version 4 (no per_image.npz, the first test images) is redone, not reused.
  monkeypatch.undo()
  old = json.load(open(os.path.join(epoch_dir, "eval.json")))
  old["measures_version"] = 4
  del old["per_image"], old["test_set"], old["eval_config"]["test_subset_seed"]
  wd.write_json(os.path.join(epoch_dir, "eval.json"), old)
  os.remove(os.path.join(epoch_dir, per_image.FILE))
  redone = evaluation.evaluate_workdir(trained, None, other)
  assert redone["measures_version"] == evaluator.MEASURES_VERSION == 5
  assert redone["seconds"] != old["seconds"]
  assert len([f for f in os.listdir(epoch_dir) if f.startswith("kept-")]) == 3
  _check_per_image(trained, redone)
  # Evaluating an older epoch does not replace WORKDIR/eval.json, the latest epoch's.
  older = evaluation.evaluate_workdir(trained, 1, other)
  assert older["epoch"] == 1
  assert json.load(open(os.path.join(trained, "eval.json")))["epoch"] == 2
  assert evaluation.evaluate_workdir(trained, None, other)["seconds"] == redone["seconds"]
  # WORKDIR/per_image.npz stays the latest epoch's, as eval.json does
  _check_per_image(trained, redone)


def _check_per_image(workdir: str, result: dict) -> None:
  """per_image.npz of ``result`` (a tiny evaluation: 2 seeds, 200 test images): in the epoch's
  folder and published in WORKDIR, [seeds, images] arrays whose means are eval.json's, the random
  test subset's indices; and no array in eval.json."""
  epoch_dir = os.path.join(workdir, "eval", f"epoch_{result['epoch']:04d}")
  values = per_image.load(workdir)
  assert set(values) == set(per_image.load(epoch_dir))
  indices = values["test_indices"]
  assert indices.shape == (200,) and (np.diff(indices) > 0).all() and indices[-1] < 10_000
  assert not np.array_equal(indices, np.arange(200))  # a random subset, not the first images
  np.testing.assert_array_equal(indices, evaluator.test_indices(10_000, 200, 0))
  assert result["test_set"]["size"] == 200 and result["test_set"]["of"] == 10_000
  for name in (
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
    "intensity/error_midtones_abs",
    "intensity/display/calibration_toward_half",
    "knn_accuracy/correct",
  ):
    assert values[name].shape == (2, 200) and values[name].dtype == np.float32, name
  for s, seed in enumerate(result["per_seed"]):  # the accuracy is the mean of the correct ones
    assert np.mean(values["knn_accuracy/correct"][s]) == pytest.approx(
      seed["knn_accuracy"], abs=1e-7
    )
  assert result["per_image"]["shape"] == [2, 200]
  assert sorted(result["per_image"]["arrays"]) == sorted(k for k in values if k != "test_indices")
  for s, seed in enumerate(result["per_seed"]):
    for column in measures.columns().values():
      number = column.value(seed)
      if column.per_image_key is not None and number is not None:
        got = np.nanmean(values[column.per_image_key][s].astype(np.float64))
        assert got == pytest.approx(number, rel=1e-5, abs=1e-6), column.key
  text = open(os.path.join(workdir, "eval.json")).read()
  assert 'test_indices"' not in text and len(text) < 200_000

  def longest_list(obj) -> int:
    if isinstance(obj, dict):
      return max((longest_list(v) for v in obj.values()), default=0)
    if isinstance(obj, list):
      return max([len(obj), *(longest_list(v) for v in obj)])
    return 0

  assert longest_list(json.loads(text)) < 100  # tables of bins, never per-image values


@pytest.mark.e2e
def test_bernoulli_run_reports_the_cb_protocol_and_no_discretized_measure(tmp_path):
  c = tiny_config("bernoulli")
  c.num_epochs = 1
  run(c, tmp_path)
  seed0 = evaluation.evaluate_workdir(str(tmp_path), None, tiny_eval_config())["per_seed"][0]
  assert "not a density" in seed0["cross_entropy/measure"]
  assert "inverse-mean" in seed0["common/measure"]
  assert np.isfinite(seed0["readings/cb_lambda/log_likelihood"]["mean"])
  assert "no continuous cdf" in seed0["discretized/not_applicable"]


@pytest.mark.e2e
def test_load_api_and_bad_inputs(trained):
  r = vae.load(trained, seed=1)
  assert r.seed == 1 and r.config.likelihood == "gaussian"
  images = r.sample(jax.random.PRNGKey(0), 5)
  assert images.shape == (5, 28, 28)
  assert r.sample(jax.random.PRNGKey(0), 5, from_decoder=True).shape == (5, 28, 28)
  with pytest.raises(ValueError, match="seed=5"):
    r.with_seed(5)
  with pytest.raises(ValueError, match="epoch 7"):
    vae.load(trained, step=7)
  with pytest.raises(FileNotFoundError, match="config.json"):
    vae.load(os.path.join(trained, "nowhere"))
