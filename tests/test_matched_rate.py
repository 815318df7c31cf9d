"""Decoders compared at the same rate (vae/study/matched_rate.py), and the rate axis of the study
end to end on its smoke variant."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from experiments.configs import study as study_configs
from vae import study
from vae.study import matched_rate, rate_report, verdicts


def settings(n=300):
  c = verdicts.default_config()
  c.num_bootstrap = n
  return c


def test_a_curve_is_read_linearly_in_log_rate_and_not_beyond_its_ends():
  rates, values = np.array([1.0, 10.0, 100.0]), np.array([0.0, 1.0, 3.0])
  assert matched_rate.curve_at(rates, values, 10.0) == pytest.approx(1.0)
  assert matched_rate.curve_at(rates, values, np.sqrt(10.0)) == pytest.approx(0.5)
  assert matched_rate.curve_at(rates[::-1], values[::-1], 31.6227766) == pytest.approx(2.0)
  assert np.isnan(matched_rate.curve_at(rates, values, 0.5))
  assert np.isnan(matched_rate.curve_at(rates, values, 101.0))


def test_common_rates_are_fractions_of_the_overlap_in_log_rate():
  rates = {"a": np.array([1.0, 10.0, 100.0]), "b": np.array([4.0, 40.0, 400.0])}
  got = matched_rate.common_rates(rates, (0.0, 0.5, 1.0))
  assert got == pytest.approx((4.0, 20.0, 100.0))
  assert matched_rate.common_rates({"a": np.array([1.0, 2.0]), "b": np.array([3.0, 4.0])}) == ()


def _decoder(rng, weights, offset, rate_scale, seeds=3, n=400):
  """Per-image arrays [W, S, N] of a synthetic decoder whose measure is log(rate) + offset: the
  same curve for every offset, each decoder at its own rates for the same weights."""
  image = rng.normal(0, 0.3, n)
  rate = np.stack([rate_scale / w * np.exp(rng.normal(0, 0.05, (seeds, n))) for w in weights])
  value = np.log(rate) + offset + image + rng.normal(0, 0.05, rate.shape)
  return {"rate": rate, "m": value}


def test_at_matched_rate_a_difference_of_curves_is_found_and_a_difference_of_rates_is_not():
  """Two decoders on the same curve, measure = log(rate), at different rates for the same KL
  weights (a fixed-sigma Gaussian's scale is a KL weight): compared at the same weight they
  differ, at the same rate they do not; a third decoder, 0.5 above the curve, differs at every
  rate."""
  rng = np.random.default_rng(0)
  weights = (0.1, 0.3, 1.0, 3.0)
  arrays = {
    "a": _decoder(rng, weights, 0.0, 10.0),
    "b": _decoder(rng, weights, 0.0, 40.0),
    "c": _decoder(rng, weights, 0.5, 10.0),
  }
  means = {d: np.nanmean(x["rate"], axis=(1, 2)) for d, x in arrays.items()}
  targets = matched_rate.common_rates(means)
  assert len(targets) == 3
  same_curve = verdicts.Comparison("F", "s", "m", "a", "b")
  above = verdicts.Comparison("F", "s", "m", "c", "a")
  for target in targets:
    r = matched_rate.judge_at(same_curve, arrays, target, settings())
    assert r["verdict"] == "no difference detected", r
    assert abs(r["estimate"]) < 0.05
    r = matched_rate.judge_at(above, arrays, target, settings())
    assert r["verdict"] == "holds" and r["estimate"] == pytest.approx(0.5, abs=0.05)
  # At the same weight, "a" and "b" differ by log 4: what a comparison at unmatched rates reports.
  naive = np.nanmean(arrays["b"]["m"][1]) - np.nanmean(arrays["a"]["m"][1])
  assert naive == pytest.approx(np.log(4.0), abs=0.1)


def test_judge_at_names_what_it_could_not_compare():
  rng = np.random.default_rng(1)
  arrays = {"a": _decoder(rng, (0.1, 1.0), 0.0, 10.0)}
  c = verdicts.Comparison("F", "s", "m", "a", "b")
  assert (
    "`b` is not on this rate axis" in matched_rate.judge_at(c, arrays, 20.0, settings(5))["why"]
  )
  arrays["b"] = _decoder(rng, (0.1, 1.0), 0.0, 10.0)
  assert "does not reach 500.0 nats" in matched_rate.judge_at(c, arrays, 500.0, settings(5))["why"]
  c = verdicts.Comparison("F", "s", "other", "a", "b")
  assert "no per-image `other`" in matched_rate.judge_at(c, arrays, 20.0, settings(5))["why"]


@pytest.mark.e2e
def test_a_tiny_rate_study_writes_curves_and_matched_rate_verdicts(tmp_path):
  c = study_configs.get_config("rate_smoke")
  c.budgets = (1,)
  c.verdict.num_bootstrap = 50
  c.extra_kl_weights["gaussian_fixed"] = (0.003,)  # one decoder's curve longer than the others'
  path = study.run_study(c, str(tmp_path))
  text = open(path).read()
  assert text.startswith("# Rate-distortion study: `rate_smoke`")
  for w in c.kl_weights:
    for d in c.decoders:
      assert os.path.exists(tmp_path / "runs" / "epochs=1" / f"kl={w:g}" / d / "per_image.npz")
  assert os.path.exists(tmp_path / "runs" / "epochs=1" / "kl=0.003" / "gaussian_fixed" / "per_image.npz")  # fmt: skip
  assert not os.path.exists(tmp_path / "runs" / "epochs=1" / "kl=0.003" / "bernoulli")
  assert "- common rates of `bernoulli` and `gaussian_fixed`: 1 epochs:" in text
  claims_table = text.split("## The folk claims")[1].split("## Decoders at the same rate")[0]
  answered = [line.split(" | ")[0] for line in claims_table.splitlines() if line.startswith("| F")]
  assert answered == [f"| F{i}" for i in range(1, 15)]  # every folk claim, in order
  assert "| F7 | **identity: unit test** |" in claims_table
  assert re.search(
    r"\| F8 \| \*\*\(a\) (holds|does not hold|no difference detected|not computed)", claims_table
  )
  rows = [line for line in text.splitlines() if line.startswith("| ") and "| rate " in line]
  assert len(rows) == 3 * len(c.rate_comparisons)  # three common rates each
  # Each cell of a comparison between two decoders on the axis is computed (the rate, both
  # values, the interval and the verdict) or says why not: at this size the seeds' rates differ
  # by up to 2x, so most bootstrap replicates may miss a common rate (the synthetic tests above
  # check the numbers).
  judged = [r for r in rows if "`bernoulli` > `gaussian_fixed`" in r]
  computed = re.compile(
    r"at [\d.]+ nats: \S+, \S+; \S+ \[\S+, \S+\]: (holds|does not hold|no diff)"
  )
  why = re.compile(r"not computed: (\d+ of 50 replicates put|a decoder's curve does not reach)")
  assert judged and all(computed.search(r) or why.search(r) for r in judged), judged
  assert any("`laplace_fixed` is not on this rate axis" in r for r in rows)
  for figure in rate_report.FILES:
    assert os.path.getsize(tmp_path / figure) > 1000, figure
