"""Verdicts between two named decoders (vae/study/verdicts.py): the rule, the paired two-level
bootstrap interval, budgets, and bad comparisons."""

from __future__ import annotations

import ml_collections
import numpy as np
import pytest

from vae.study import verdicts


def settings(n=400, level=0.95):
  c = verdicts.default_config()
  c.num_bootstrap, c.level = n, level
  return c


def test_the_rule_is_the_interval_against_zero_on_the_claimed_side():
  assert verdicts.verdict(0.1, 0.3, "greater") == "holds"
  assert verdicts.verdict(-0.3, -0.1, "greater") == "does not hold"
  assert verdicts.verdict(-0.1, 0.3, "greater") == "no difference detected"
  assert verdicts.verdict(-0.3, -0.1, "less") == "holds"
  assert verdicts.verdict(0.1, 0.3, "less") == "does not hold"
  assert verdicts.verdict(0.0, 0.3, "greater") == "no difference detected"  # a tie is a tie


def test_pairing_over_images_removes_the_images_own_spread():
  """Two decoders whose per-image values share a large image effect (hard digits are hard for
  both) and differ by a small constant: paired, the interval is narrow and excludes 0; the
  estimate is the difference of the means over seeds of the means over images."""
  rng = np.random.default_rng(0)
  image = rng.normal(0, 10.0, 2000)  # the images' own spread, shared
  a = image + 0.1 + rng.normal(0, 0.05, (3, 2000))
  b = image + rng.normal(0, 0.05, (3, 2000))
  est, lo, hi = verdicts.bootstrap_interval(a, b, settings())
  assert est == pytest.approx(np.mean(a) - np.mean(b))
  assert 0.05 < lo < 0.1 < hi < 0.15
  assert verdicts.verdict(lo, hi, "greater") == "holds"


def test_the_interval_keeps_the_spread_between_seeds():
  """Seeds that disagree (training noise larger than the difference) give no verdict, although
  every seed's own image-level interval would be narrow."""
  rng = np.random.default_rng(1)
  a = np.array([[0.0], [1.0], [2.0]]) + rng.normal(0, 0.01, (3, 1000))
  b = np.full((3, 1000), 0.9) + rng.normal(0, 0.01, (3, 1000))
  est, lo, hi = verdicts.bootstrap_interval(a, b, settings())
  assert lo < 0 < hi and est == pytest.approx(0.1, abs=0.01)


def test_the_interval_covers_at_about_the_nominal_rate_under_the_null():
  """Identical decoders (independent noise, 3 seeds each with its own training offset): the 90%
  interval contains 0 in about 90% of 150 repetitions (binomial: 124-145 holds with probability
  0.998 at 90%; fails if it covers under 83% or over 97%)."""
  rng = np.random.default_rng(2)
  hits = 0
  for _ in range(150):
    image = rng.normal(0, 1.0, 200)
    a = image + rng.normal(0, 0.1, (3, 1)) + rng.normal(0, 1.0, (3, 200))
    b = image + rng.normal(0, 0.1, (3, 1)) + rng.normal(0, 1.0, (3, 200))
    _, lo, hi = verdicts.bootstrap_interval(a, b, settings(200, 0.9))
    hits += lo <= 0 <= hi
  assert 124 <= hits <= 145, hits


def test_images_missing_for_either_decoder_are_left_out_for_both():
  """A grey-prediction measure is NaN where a decoder's own prediction has no grey pixel: the
  comparison keeps the images both decoders have in every seed (paired), and says how many."""
  c = verdicts.Comparison("F3", "s", "m", "a", "b")
  a = np.array([[1.0, np.nan, 3.0, 5.0], [1.0, 2.0, 3.0, 5.0]])
  b = np.array([[0.0, 0.0, np.nan, 1.0], [0.0, 0.0, 0.0, 1.0]])
  r = verdicts.judge(c, {"a": {"m": a}, "b": {"m": b}}, settings(50))
  assert (r["n"], r["of"]) == (2, 4)
  assert r["a_mean"] == pytest.approx(3.0) and r["b_mean"] == pytest.approx(0.5)
  assert r["estimate"] == pytest.approx(2.5)
  r = verdicts.judge(c, {"a": {"m": a * np.nan}, "b": {"m": b}}, settings(10))
  assert r["verdict"] is None and "no test image has `m` for both" in r["why"]


def test_a_decoder_with_one_seed_gets_no_verdict():
  c = verdicts.Comparison("8-bit", "s", "m", "a", "b")
  r = verdicts.judge(c, {"a": {"m": np.ones((1, 5))}, "b": {"m": np.zeros((3, 5))}}, settings(10))
  assert r["verdict"] is None and "`a` has 1 seed" in r["why"]


def test_different_test_images_are_refused():
  c = verdicts.Comparison("F", "s", "m", "a", "b")
  arrays = {
    "a": {"m": np.ones((2, 3)), "test_indices": np.array([0, 1, 2])},
    "b": {"m": np.zeros((2, 3)), "test_indices": np.array([0, 1, 3])},
  }
  assert "different test images" in verdicts.judge(c, arrays, settings(10))["why"]


def test_seed_counts_may_differ_and_image_counts_may_not():
  a = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
  b = np.zeros((3, 3))
  est, lo, hi = verdicts.bootstrap_interval(a, b, settings(50))
  assert est == pytest.approx(2.0)
  with pytest.raises(ValueError, match="3 and 4 test images"):
    verdicts.bootstrap_interval(a, np.zeros((2, 4)), settings(10))


def test_budgets_agree_or_are_budget_dependent():
  holds, none = {"verdict": "holds"}, {"verdict": "no difference detected"}
  assert verdicts.across_budgets({10: holds, 20: holds}) == "holds (stable)"
  assert verdicts.across_budgets({10: holds}) == "holds"
  assert verdicts.across_budgets({10: holds, 20: none}) == "budget-dependent"
  assert verdicts.across_budgets({10: {"verdict": None, "why": "x"}}) == "not computed"
  missing = {"verdict": None, "why": "x"}
  assert verdicts.across_budgets({10: holds, 20: missing}) == "holds at 10 epochs only"


def test_judge_names_what_it_could_not_compare():
  c = verdicts.Comparison("F3", "s", "intensity/x", "bernoulli", "gaussian_fixed")
  arrays = {"bernoulli": {"intensity/x": np.ones((2, 5))}, "gaussian_fixed": {}}
  assert "has no per-image `intensity/x`" in verdicts.judge(c, arrays, settings(10))["why"]
  assert "not among this study's decoders" in verdicts.judge(c, {}, settings(10))["why"]
  arrays["gaussian_fixed"] = {"intensity/x": np.zeros((2, 5))}
  r = verdicts.judge(c, arrays, settings(10))
  assert r["verdict"] == "holds" and r["seeds"] == (2, 2) and (r["n"], r["of"]) == (5, 5)


def test_bad_comparisons_are_named():
  config = ml_collections.ConfigDict({"decoders": ("bernoulli",), "comparisons": ()})
  config.comparisons = (dict(claim="F3", statement="s", measure="m", a="x", b="y", side="up"),)
  with pytest.raises(ValueError, match=r"unknown field\(s\) \['side'\]"):
    verdicts.comparisons(config)
  config.comparisons = (dict(claim="F3", statement="s", measure="m", a="x", b="y", direction="up"),)
  with pytest.raises(ValueError, match="direction='up' .*claim F3.* not one of"):
    verdicts.comparisons(config)
  config.comparisons = (dict(claim="F4", statement="s", measure="m", a="x", b="x"),)
  with pytest.raises(ValueError, match="claim F4 compares 'x' with itself"):
    verdicts.comparisons(config)
