"""The folk-claims table (vae.study.claims) and the curve statistics it is made of
(vae.study.curves): each claim's statistic on synthetic curves whose answer is known by
construction, the optimal-sigma ELBO against scipy, the per-seed numbers of a run
(vae.study.per_run), and the table's references to unit tests that exist."""

from __future__ import annotations

import json
import os

import ml_collections
import numpy as np
import pytest
import scipy.optimize

from vae import workdir as wd
from vae.study import claims, curves, per_run, verdicts

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WEIGHTS = np.array([0.01, 0.1, 1.0])
SIGMA0 = np.sqrt(0.5)


def settings(n=300):
  c = verdicts.default_config()
  c.num_bootstrap = n
  return c


def curve(rates, values: dict, *, seeds=3, images=200, noise=0.05, seed=0) -> dict:
  """Stacked arrays [W, S, N] of one decoder: the rate and each measure at every weight, with
  zero-mean noise over images and a small seed offset."""
  rng = np.random.default_rng(seed)
  shape = (len(rates), seeds, images)
  out = {"rate": np.asarray(rates, float)[:, None, None] * (1 + 0.002 * rng.standard_normal(shape))}
  for name, v in values.items():
    v = np.asarray(v, float)[:, None, None]
    out[name] = v + noise * rng.standard_normal(shape) + 0.001 * rng.standard_normal(shape[:2])[..., None]  # fmt: skip
  return out


def test_a_difference_of_curves_at_a_matched_rate_is_found_with_its_interval():
  # measure = 2 log(rate) + offset: linear in log rate, so a curve read between weights is exact
  rates_a, rates_b = np.array([80.0, 30.0, 12.0]), np.array([60.0, 20.0, 8.0])
  arrays = {
    "a": curve(rates_a, {"m": 2 * np.log(rates_a) + 1.0}, seed=1),
    "b": curve(rates_b, {"m": 2 * np.log(rates_b)}, seed=2),
  }
  r = curves.bootstrap_stat(
    arrays, lambda m: curves.read(m["a"], "m", 25.0) - curves.read(m["b"], "m", 25.0), settings()
  )
  assert r["estimate"] == pytest.approx(1.0, abs=0.02)
  assert r["low"] < 1.0 < r["high"] and r["low"] > 0.9
  assert curves.judged(r, "greater")["verdict"] == "holds"
  # beyond a curve's end: no interval, and why
  far = curves.bootstrap_stat(arrays, lambda m: curves.read(m["b"], "m", 70.0), settings())
  assert "low" not in far and "beyond" in far["why"]


def test_a_curve_read_between_weights_and_rates():
  means = {"rate": 10 * WEIGHTS**-0.5}  # log rate linear in log w
  assert curves.weight_at_rate(means, WEIGHTS, 10 * 0.3**-0.5) == pytest.approx(0.3, rel=1e-12)
  assert curves.rate_at_weight(means, WEIGHTS, 0.05) == pytest.approx(10 * 0.05**-0.5, rel=1e-12)
  assert np.isnan(curves.rate_at_weight(means, WEIGHTS, 2.0))
  assert np.isnan(curves.weight_at_rate(means, WEIGHTS, 5.0))


def test_the_optimal_sigma_elbo_is_the_best_gaussian_elbo_over_sigma():
  """Oracle: the mean over images of -SSE/(2 s^2) - D/2 log(2 pi s^2) - KL maximised over s by
  scipy, from the per-image ELBO and KL a fixed-sigma_0 run reports."""
  rng = np.random.default_rng(0)
  sse, kl = rng.uniform(5, 40, 500), rng.uniform(10, 30, 500)
  d = claims.PIXELS
  elbo = -sse / (2 * SIGMA0**2) - d / 2 * np.log(2 * np.pi * SIGMA0**2) - kl

  def negative(log_s):
    s2 = np.exp(2 * log_s)
    return -np.mean(-sse / (2 * s2) - d / 2 * np.log(2 * np.pi * s2) - kl)

  best = scipy.optimize.minimize_scalar(negative, bounds=(-6, 1), method="bounded",
                                        options={"xatol": 1e-10})  # fmt: skip
  got = claims.optimal_sigma_elbo({"elbo": np.array([elbo.mean()]), "elbo/kl": np.array([kl.mean()])}, SIGMA0)  # fmt: skip
  assert got[0] == pytest.approx(-best.fun, rel=1e-9)
  assert got[0] > elbo.mean()  # sigma_0 = 0.71 is far from the optimum for errors this small


def test_f8_the_rate_at_weight_one_the_matching_weight_and_no_difference_there():
  # MSE: rate 10 w^-1/2 (log-linear); BCE at weight 1 sits at 20 nats, reached by MSE at w = 1/4;
  # the measure is one function of the rate for both: "it does not matter" finds no difference
  mse_rates, bce_rates = 10 * WEIGHTS**-0.5, np.array([70.0, 40.0, 20.0])
  arrays = {
    "bernoulli": curve(bce_rates, {"intensity/mse": 50 - 5 * np.log(bce_rates)}, seed=3),
    "gaussian_fixed": curve(mse_rates, {"intensity/mse": 50 - 5 * np.log(mse_rates)}, seed=4),
  }
  comparisons = [
    verdicts.Comparison("F13", "lower error", "intensity/mse", "bernoulli", "gaussian_fixed")
  ]
  a = claims.f8_answer({10: arrays}, {10: dict.fromkeys(arrays, WEIGHTS)}, comparisons, settings())
  text = "\n".join(a.evidence)
  assert a.verdict == "(a) holds; (c) no difference detected", text
  assert "(a) at KL weight 1" in text and "10 epochs: 10 [" in text  # 20 - 10 nats
  line_b = a.evidence[1]
  w_star = float(line_b.split("10 epochs: ")[1].split(" ")[0])
  assert w_star == pytest.approx(0.25, rel=0.02)


def _f12_arrays(shared_elbo_shift=0.0):
  d = claims.PIXELS
  mse_rates = 10 * WEIGHTS**-0.5  # 100, 31.6, 10
  sse = np.array([18.0, 20.0, 22.0])  # the optimal-sigma ELBO is best at w = 0.1
  recon = -sse / (2 * SIGMA0**2) - d / 2 * np.log(2 * np.pi * SIGMA0**2)
  fixed_mse = 40 - 6 * np.log(mse_rates)
  fixed = curve(mse_rates, {"intensity/mse": fixed_mse, "elbo": recon - mse_rates,
                            "elbo/kl": mse_rates}, noise=0.01, seed=5)  # fmt: skip
  best = claims.optimal_sigma_elbo({"elbo": recon - mse_rates, "elbo/kl": mse_rates}, SIGMA0)
  assert np.argmax(best) == 1
  # the learned sigma at weight 1: at the curve's w = 0.1 point, on the curve, at its best ELBO
  rates = np.array([300.0, 120.0, mse_rates[1]])
  shared = curve(rates, {
    "intensity/mse": 40 - 6 * np.log(rates),
    "elbo": np.array([0.0, 0.0, best[1] + shared_elbo_shift]),
    "elbo/kl": rates,
    "curves/held_out_scale_final": np.full(3, np.sqrt(0.1) * SIGMA0),
    "curves/held_out_scale_optimal_final": np.full(3, 0.3),
  }, noise=0.01, seed=6)  # fmt: skip
  shared["curves/held_out_scale_final"][:] = np.sqrt(0.1) * SIGMA0  # one number per seed
  return {"gaussian_fixed": fixed, "gaussian_shared": shared}


def test_f12_a_learned_sigma_on_the_curve_at_its_best_is_found_there():
  arrays = _f12_arrays()
  a = claims.f12_answer({10: arrays}, {10: dict.fromkeys(arrays, WEIGHTS)}, SIGMA0, settings())
  text = "\n".join(a.evidence)
  assert a.verdict == "(a) no difference detected; (b) no difference detected; (c) no difference detected", text  # fmt: skip
  assert "w_L = 0.1" in text and "best at 10 epochs: w = 0.1" in text
  assert "10 epochs: sigma_L = 0.224, optimum 0.3" in text
  worse = claims.f12_answer(
    {10: _f12_arrays(-5.0)}, {10: dict.fromkeys(arrays, WEIGHTS)}, SIGMA0, settings()
  )
  assert worse.verdict.endswith("(c) does not hold"), "\n".join(worse.evidence)
  assert claims.f12_answer({}, {}, None, settings()).verdict == "not computed"


def test_f14_a_difference_that_shrinks_with_the_rate_and_one_that_does_not():
  rates = np.array([100.0, 31.6, 10.0])
  base = 30 - 4 * np.log(rates)
  measures = dict.fromkeys(claims.F14_MEASURES)
  bce = {m: base + np.array([0.5, 2.0, 4.0]) for m in measures}  # gap 4 at 10 nats, 0.5 at 100
  bce["intensity/error_extremes_abs"] = base + 2.0  # a constant gap
  arrays = {
    "bernoulli": curve(rates, bce, seed=7),
    "gaussian_fixed": curve(rates, dict.fromkeys(measures, base), seed=8),
  }
  a = claims.f14_answer({10: arrays}, settings())
  assert a.verdict == "holds", a.evidence
  extremes = [line for line in a.evidence if "error_extremes_abs" in line][0]
  assert "**no difference detected**" in extremes
  assert a.where == "10 epochs: 17.8 -> 56.2 nats"  # the quartiles of the pair's log range


def test_a_matched_rate_claim_takes_its_primary_at_the_middle_rate():
  first = verdicts.Comparison("F4", "blurrier", "intensity/sharpness_ratio", "bernoulli", "gaussian_fixed")  # fmt: skip
  other = verdicts.Comparison("F4", "other", "intensity/mse", "bernoulli", "gaussian_fixed")

  def row(rate, v):
    return {"rate": rate, "verdict": v, "estimate": 1.0, "low": 0.5, "high": 1.5, "a_mean": 2.0,
            "b_mean": 1.0}  # fmt: skip

  items = [
    {"comparison": first, "rows": {(5, i): row(10.0 * (i + 1), "holds") for i in range(3)},
     "overall": {0: "does not hold", 1: "holds (stable)", 2: "holds (stable)"}},
    {"comparison": other, "rows": {(5, i): row(10.0 * (i + 1), "holds") for i in range(3)},
     "overall": {0: "no difference detected", 1: "no difference detected", 2: "holds"}},
  ]  # fmt: skip
  a = claims.matched_rate_answer("F4", items)
  assert a.verdict == "holds (stable) at the middle rate; differs with rate"
  assert a.evidence[0].startswith("**primary** blurrier")
  assert "5 epochs at 20.0 nats" in a.evidence[0]
  assert a.where == "the primary pair's middle common rate (5 epochs: 20.0 nats)"
  assert claims.matched_rate_answer("F4", []).verdict == "not computed"


def test_every_claim_is_answered_in_order_and_every_named_test_exists():
  config = ml_collections.ConfigDict({"verdict": settings(50)})
  found = claims.answers(config, [], {}, {}, None)
  assert [a.claim for a in found] == [f"F{i}" for i in range(1, 15)]
  named = [line.strip("`") for a in found for line in a.evidence if line.startswith("`tests/")] + [
    claims.F6_MECHANISM
  ]
  assert len(named) >= 5
  for ref in named:
    path, test = ref.split("::")
    assert f"def {test}(" in open(os.path.join(ROOT, path)).read(), ref
  lines = claims.table_lines(found, config.verdict)
  assert lines[0].startswith("| claim | verdict |") and len(lines) == 16


def test_a_runs_per_seed_numbers_are_read_as_per_image_arrays(tmp_path):
  rows = [
    {"epoch": 1, "validation": {"mse": 30.0, "per_seed": {"mse": [31.0, 29.0]}}},
    {"epoch": 2, "validation": {"mse": 20.0, "scale": 0.2, "scale_optimal": 0.1,
                                "scale_optimal_train": 0.12,
                                "per_seed": {"mse": [21.0, 19.0], "scale": [0.19, 0.21],
                                             "scale_optimal": [0.1, 0.1],
                                             "scale_optimal_train": [0.11, 0.13]}}},
  ]  # fmt: skip
  for r in rows:
    wd.append_metrics(str(tmp_path), r)
  seeds = [
    {"active_units": 7, "sample_quality/decoder_means": {"frechet_distance": 50.0, "inception_score": 8.0},
     "sample_quality/decoder_samples": {"frechet_distance": 90.0}},
    {"active_units": 9, "sample_quality/decoder_means": {"frechet_distance": 70.0, "inception_score": 7.0},
     "sample_quality/decoder_samples": {"frechet_distance": 95.0}},
  ]  # fmt: skip
  with open(tmp_path / "eval.json", "w") as f:
    json.dump({"per_seed": seeds}, f)
  got = per_run.load(str(tmp_path), 4)
  assert set(got) == set(per_run.NAMES)
  assert all(v.shape == (2, 4) for v in got.values())
  np.testing.assert_array_equal(got["curves/held_out_mse_epoch_1"][:, 0], [31.0, 29.0])
  np.testing.assert_array_equal(got["curves/held_out_mse_final"][:, 3], [21.0, 19.0])
  np.testing.assert_array_equal(got["curves/held_out_scale_final"][:, 0], [0.19, 0.21])
  # the optimum of the objective trained (units dropped), where the run logs it
  np.testing.assert_array_equal(got["curves/held_out_scale_optimal_final"][:, 0], [0.11, 0.13])
  np.testing.assert_array_equal(got["samples/frechet_distance_samples"][:, 0], [90.0, 95.0])
  np.testing.assert_array_equal(got["latents/active_units"][:, 1], [7, 9])
  assert per_run.load(str(tmp_path / "missing"), 4) == {}
