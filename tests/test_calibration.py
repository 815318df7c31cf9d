"""The calibration toward 0.5 (binned by the prediction) and the error by true-intensity stratum,
on synthetic predictors with known answers; the per-image values the evaluator keeps, their
names and file; the seeded random test subset. No MNIST, no training."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from vae import workdir as wd
from vae.evaluation import evaluator, measures, per_image, stats
from vae.evaluation.intensity import calibration, error_strata, intensity_report, reliability

NUM_IMAGES = 2000


def mnist_like_probabilities(rng, n=NUM_IMAGES):
  """[n, 28, 28] pixel probabilities shaped like MNIST's intensities: most near 0, some near 1,
  a few grey."""
  kind = rng.choice(3, size=(n, 28, 28), p=[0.75, 0.15, 0.10])
  near_zero = rng.beta(0.5, 30, size=kind.shape)
  near_one = 1 - rng.beta(0.5, 30, size=kind.shape)
  grey = rng.uniform(0.1, 0.9, size=kind.shape)
  return np.choose(kind, [near_zero, near_one, grey])


def within(summary: dict, value: float, num_stderr: float = 4.0) -> bool:
  return abs(summary["mean"] - value) < num_stderr * summary["stderr"]


@pytest.mark.parametrize("noise", ["bernoulli", "beta"])
def test_a_calibrated_predictor_has_no_calibration_bias_but_a_shift_toward_half(noise):
  """x drawn with mean r per pixel: E[x | r] = r, so the bias binned by the prediction is zero
  (within a few standard errors), while the old shift, binned by the truth, is clearly > 0:
  regression to the mean, not a pull toward 0.5."""
  rng = np.random.default_rng(0)
  r = mnist_like_probabilities(rng)
  if noise == "bernoulli":
    x = (rng.uniform(size=r.shape) < r).astype(np.float64)
  else:
    m = np.clip(r, 0.01, 0.99)
    x, r = rng.beta(5 * m, 5 * (1 - m)), m
  report = intensity_report(x, r)
  assert within(report["calibration_toward_half"], 0.0)
  assert within(report["calibration_toward_half_grey"], 0.0)
  assert report["calibration_toward_half_grey"]["n"] == NUM_IMAGES  # every image has grey r
  shift = report["shift_toward_half"]
  assert shift["mean"] > 20 * shift["stderr"] and shift["mean"] > 0.01
  table = report["reliability"]
  for count, pred, truth in zip(table["count"], table["mean_prediction"], table["mean_data"]):
    assert count > 10_000 and truth == pytest.approx(pred, abs=0.01)


def test_a_predictor_shrunk_toward_half_has_a_positive_calibration_bias():
  """r = 0.5 + 0.7 (p - 0.5) with x ~ Bernoulli(p): E[x | r] - r = (r - 0.5) (1 / 0.7 - 1), so
  the bias is E|r - 0.5| * 3/7 > 0, and the reliability table shows the truth beyond r."""
  rng = np.random.default_rng(1)
  p = mnist_like_probabilities(rng)
  x = (rng.uniform(size=p.shape) < p).astype(np.float64)
  r = 0.5 + 0.7 * (p - 0.5)
  report = intensity_report(x, r)
  bias = report["calibration_toward_half"]
  assert bias["mean"] > 20 * bias["stderr"]
  assert within(bias, np.abs(r - 0.5).mean() * 3 / 7)
  grey = report["calibration_toward_half_grey"]
  assert grey["mean"] > 20 * grey["stderr"]
  table = report["reliability"]
  lows = [(pred, truth) for pred, truth in zip(table["mean_prediction"], table["mean_data"])][:4]
  assert all(truth < pred for pred, truth in lows if pred is not None)
  # a predictor pushed away from 0.5 is biased the other way
  away = intensity_report(x, np.clip(0.5 + 1.3 * (p - 0.5), 0, 1))["calibration_toward_half"]
  assert away["mean"] < -20 * away["stderr"]


def test_hand_made_two_by_two_images():
  x = np.array([[[0.0, 0.5], [0.95, 0.2]], [[0.0, 1.0], [1.0, 0.0]]])
  r = np.array([[[0.1, 0.3], [0.9, 0.6]], [[0.2, 0.8], [0.5, 0.5]]])
  strata = {k: v.values for k, v in error_strata(x, r).items()}
  # image 0: near-binary x = 0 (error 0.1) and 0.95 (-0.05); mid-tones 0.5 (-0.2) and 0.2 (0.4)
  np.testing.assert_allclose(strata["error_extremes_abs"], [0.075, 0.35])
  np.testing.assert_allclose(strata["error_extremes_sq"], [0.00625, (0.04 * 2 + 0.25 * 2) / 4])
  np.testing.assert_allclose(strata["error_midtones_abs"], [0.3, np.nan])
  np.testing.assert_allclose(strata["error_midtones_sq"], [0.1, np.nan])
  # t = sign(r - 0.5)(x - r): image 0: 0.1, -0.2, 0.05, -0.4; grey r (0.1 < r < 0.9): 0.3, 0.6.
  # image 1: 0.2, 0.2 and r = 0.5 exactly: sign 0; all four predictions grey
  calib = {k: v.values for k, v in calibration(x, r).items()}
  np.testing.assert_allclose(calib["calibration_toward_half"], [-0.1125, 0.1])
  np.testing.assert_allclose(calib["calibration_toward_half_grey"], [-0.3, 0.1])
  report = intensity_report(x, r)
  assert report["error_midtones_abs"]["mean"] == pytest.approx(0.3)
  assert report["error_midtones_abs"]["n"] == 1  # the image without mid-tones is left out
  assert report["error_extremes_abs"]["mean"] == pytest.approx((0.075 + 0.35) / 2)
  assert report["error_extremes_abs"]["n"] == 2
  table = reliability(x, r, bins=2)
  assert table["count"] == [3, 5]  # r < 0.5: 0.1, 0.3, 0.2; r >= 0.5: 0.9, 0.6, 0.8, 0.5, 0.5
  assert table["mean_prediction"][0] == pytest.approx(0.2)
  assert table["mean_data"][0] == pytest.approx(0.5 / 3)
  assert reliability(x, r, bins=10)["mean_data"][0] is None  # an empty bin


def test_empty_strata_are_nan_per_image_and_left_out_of_the_summary():
  binary = np.random.default_rng(2).integers(0, 2, size=(5, 28, 28)).astype(np.float64)
  confident = np.where(binary > 0, 0.97, 0.02)
  values = error_strata(binary, confident)["error_midtones_abs"]
  assert np.isnan(values.values).all()
  assert values.summary()["n"] == 0 and np.isnan(values.summary()["mean"])
  report = intensity_report(binary, confident)
  assert report["calibration_toward_half_grey"]["n"] == 0
  assert report["error_extremes_abs"]["n"] == 5
  # a NaN where the number is not allowed to be empty stays visible
  failed = stats.PerImage(np.array([1.0, np.nan, 3.0]))
  assert np.isnan(failed.summary()["mean"]) and failed.summary()["n"] == 3
  assert stats.PerImage(np.array([1.0, np.nan, 3.0]), empty_is_nan=True).summary() == {
    "mean": 2.0,
    "stderr": pytest.approx(1.0),
    "n": 2,
  }


def test_split_names_per_image_values_by_their_path_and_keeps_them_out_of_the_summary():
  result = {
    "elbo": stats.PerImage(np.array([1.0, 2.0])),
    "intensity/display": {"mse": stats.PerImage(np.array([3.0, 5.0])), "table": [1, 2]},
    "intensity/mean": {"mse": stats.PerImage(np.array([1.0, 1.0]), name="intensity/mse")},
    "note": "text",
    "reading": stats.PerImage(np.array([0.0, 2.0]), extra={"measure": "a reading"}),
  }
  summary, arrays = stats.split(result)
  assert set(arrays) == {"elbo", "intensity/display/mse", "intensity/mse", "reading"}
  assert summary["intensity/display"] == {
    "mse": stats.mean_and_stderr([3.0, 5.0]),
    "table": [1, 2],
  }
  assert summary["reading"]["measure"] == "a reading" and summary["reading"]["mean"] == 1.0
  assert summary["note"] == "text"
  json.dumps(summary)  # JSON-ready: no arrays
  with pytest.raises(ValueError, match="one per image"):
    stats.PerImage(np.zeros((2, 3)))
  with pytest.raises(ValueError, match=r"named twice: \['elbo'\]"):
    stats.split({"elbo": result["elbo"], "other": stats.PerImage(np.zeros(2), name="elbo")})


def test_every_column_of_a_mean_over_images_names_its_per_image_values():
  columns = measures.columns()
  assert columns["elbo"].per_image_key == "elbo"
  assert columns["elbo_kl"].per_image_key == "elbo/kl"
  assert columns["recon_mse"].per_image_key == "intensity/mse"
  assert columns["calibration_toward_half"].per_image_key == "intensity/calibration_toward_half"
  assert columns["discretized_nll"].per_image_key == "discretized/nll"
  assert columns["calibration_toward_half_grey_display"].per_image_key == (
    "intensity/display/calibration_toward_half_grey"
  )
  assert columns["knn_accuracy"].per_image_key is None
  assert columns["inception_score_samples"].per_image_key is None


def test_the_random_test_subset_is_seeded_sorted_nested_and_not_the_first_images():
  a = evaluator.test_indices(10_000, 500, 0)
  assert len(a) == 500 and len(set(a.tolist())) == 500
  assert (np.diff(a) > 0).all() and 0 <= a[0] and a[-1] < 10_000
  assert not np.array_equal(a, np.arange(500))
  assert a[-1] > 5000  # spread over the whole test set, not its start
  np.testing.assert_array_equal(a, evaluator.test_indices(10_000, 500, 0))  # seeded
  assert not np.array_equal(a, evaluator.test_indices(10_000, 500, 1))
  assert set(a) <= set(evaluator.test_indices(10_000, 2000, 0))  # nested
  np.testing.assert_array_equal(evaluator.test_indices(10_000, 0, 3), np.arange(10_000))
  np.testing.assert_array_equal(evaluator.test_indices(10_000, 10_000, 3), np.arange(10_000))
  with pytest.raises(ValueError, match=r"eval.test_size=20000 must be in \[0, 10000\]"):
    evaluator.test_indices(10_000, 20_000, 0)
  c = evaluator.default_config()
  assert c.test_subset_seed == 0
  c.test_subset_seed = -1
  with pytest.raises(ValueError, match="eval.test_subset_seed=-1"):
    evaluator.check_config(c)
  # an eval config from before the field reads as today's default (its numbers are redone anyway,
  # by MEASURES_VERSION)
  old = {k: v for k, v in evaluator.settings_of(evaluator.default_config()).items()}
  del old["test_subset_seed"]
  assert evaluator.settings_of(old) == evaluator.settings_of(evaluator.default_config())


def test_per_image_file_round_trip_and_its_check_against_eval_json(tmp_path):
  rng = np.random.default_rng(0)
  indices = np.array([3, 17, 40])
  seeds = [
    {"elbo": rng.normal(size=3), "intensity/mse": rng.uniform(size=3)},
    {"elbo": rng.normal(size=3)},  # a seed without one: NaN there
  ]
  arrays = per_image.stack(seeds, indices)
  record = per_image.write(str(tmp_path), arrays)
  assert record["shape"] == [2, 3] and record["arrays"] == ["elbo", "intensity/mse"]
  wd.write_json(str(tmp_path / "eval.json"), {"per_image": record})
  loaded = per_image.load(str(tmp_path))
  assert set(loaded) == {"elbo", "intensity/mse", "test_indices"}
  assert loaded["elbo"].shape == (2, 3) and loaded["elbo"].dtype == np.float32
  np.testing.assert_allclose(loaded["elbo"][1], seeds[1]["elbo"], rtol=1e-6)
  assert np.isnan(loaded["intensity/mse"][1]).all()
  np.testing.assert_array_equal(loaded["test_indices"], indices)
  assert loaded["test_indices"].dtype == np.int64
  assert set(per_image.load(str(tmp_path / per_image.FILE))) == set(loaded)
  # another evaluation's eval.json beside it: refused, not mixed
  wd.write_json(str(tmp_path / "eval.json"), {"per_image": {**record, "sha256": "0" * 64}})
  with pytest.raises(ValueError, match="not the per-image file"):
    per_image.load(str(tmp_path))
  os.remove(tmp_path / per_image.FILE)
  with pytest.raises(FileNotFoundError, match="MEASURES_VERSION 5"):
    per_image.load(str(tmp_path))
  with pytest.raises(ValueError, match="not one per test image"):
    per_image.stack([{"elbo": np.zeros(4)}], indices)
