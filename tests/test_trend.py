"""Trend verdicts along a sweep's axis (vae/study/trend.py): the estimate d(to) - d(from), the
two-level bootstrap shared across the axis, the rule, and bad trends."""

from __future__ import annotations

import numpy as np
import pytest

from vae.study import trend, verdicts


def settings(n=400, level=0.95, seed=0):
  c = verdicts.default_config()
  c.num_bootstrap, c.level, c.seed = n, level, seed
  return c


def _trend(direction="less", values=()):
  return trend.Trend.from_config(
    dict(claim="F9", statement="s", measure="m", a="bernoulli", b="cb", direction=direction,
         values=values)
  )  # fmt: skip


def _runs(a_from, b_from, a_to, b_to, lo=-0.5, hi=0.25):
  return {lo: {"bernoulli": {"m": a_from}, "cb": {"m": b_from}},
          hi: {"bernoulli": {"m": a_to}, "cb": {"m": b_to}}}  # fmt: skip


def test_constant_runs_give_the_exact_change_with_a_zero_width_interval():
  """Every seed and image equal: d(-0.5) = 0.9 - 0.9 = 0, d(0.25) = 0.6 - 0.9 = -0.3; every
  replicate draws the same numbers, so the interval is [-0.3, -0.3]: the deficit grew."""
  full = lambda v: np.full((3, 50), v)  # noqa: E731
  r = trend.judge(_trend("less"), _runs(full(0.9), full(0.9), full(0.6), full(0.9)), settings(50),
                  (-0.5, 0.25))  # fmt: skip
  assert r["estimate"] == pytest.approx(-0.3)
  assert r["low"] == pytest.approx(-0.3) and r["high"] == pytest.approx(-0.3)
  assert (r["d_from"], r["d_to"]) == (pytest.approx(0.0), pytest.approx(-0.3))
  assert r["verdict"] == "holds" and (r["from"], r["to"]) == (-0.5, 0.25)
  assert r["seeds"] == (3, 3, 3, 3) and (r["n"], r["of"]) == (50, 50)
  r = trend.judge(_trend("greater"), _runs(full(0.9), full(0.9), full(0.6), full(0.9)),
                  settings(50), (-0.5, 0.25))  # fmt: skip
  assert r["verdict"] == "does not hold"


def test_the_estimate_is_the_difference_of_the_two_paired_differences():
  rng = np.random.default_rng(0)
  a_from, b_from, a_to, b_to = (rng.normal(size=(3, 40)) + k for k in (1.0, 0.5, 2.0, 0.0))
  est, lo, hi = trend.bootstrap_interval(a_from, b_from, a_to, b_to, settings(200))
  d_from = a_from.mean(0).mean() - b_from.mean(0).mean()
  d_to = a_to.mean(0).mean() - b_to.mean(0).mean()
  assert est == pytest.approx(d_to - d_from) and est == pytest.approx(1.5, abs=0.5)
  assert lo < est < hi


def test_images_are_shared_across_the_axis_so_their_spread_cancels():
  """A large per-image effect common to all four runs (hard digits are hard at every gamma and for
  every decoder) and a true change of -0.2: paired over images at both values, the interval is
  narrow around -0.2 and excludes 0."""
  rng = np.random.default_rng(1)
  image = rng.normal(0, 10.0, 1000)
  noise = lambda: rng.normal(0, 0.05, (3, 1000))  # noqa: E731
  r = trend.judge(_trend("less"),
                  _runs(image + noise(), image + noise(), image - 0.2 + noise(), image + noise()),
                  settings(), (-0.5, 0.25))  # fmt: skip
  assert r["low"] < -0.2 < r["high"] and -0.25 < r["low"] and r["high"] < -0.15
  assert r["verdict"] == "holds"


def test_no_change_along_the_axis_gives_no_difference_detected():
  """The same offset (A ahead by 0.1) at both values: d(to) - d(from) is about 0, and the interval
  contains it although each d alone is clear of 0."""
  rng = np.random.default_rng(2)
  image = rng.normal(0, 1.0, 500)
  noise = lambda: rng.normal(0, 0.3, (3, 500))  # noqa: E731
  runs = _runs(image + 0.1 + noise(), image + noise(), image + 0.1 + noise(), image + noise())
  r = trend.judge(_trend("less"), runs, settings(), (-0.5, 0.25))
  assert r["low"] < 0 < r["high"] and r["verdict"] == "no difference detected"
  assert r["d_from"] == pytest.approx(0.1, abs=0.05) and r["d_to"] == pytest.approx(0.1, abs=0.05)
  at_from = verdicts.bootstrap_interval(runs[-0.5]["bernoulli"]["m"], runs[-0.5]["cb"]["m"],
                                        settings())  # fmt: skip
  assert at_from[1] > 0  # the gap itself is clear at one value; its change is not


def test_the_interval_keeps_the_spread_between_seeds_at_each_value():
  """Seeds of one run that disagree (training noise larger than the change) give no verdict."""
  rng = np.random.default_rng(3)
  steady = lambda v: np.full((3, 300), v) + rng.normal(0, 0.01, (3, 300))  # noqa: E731
  scattered = np.array([[0.0], [1.0], [2.0]]) + rng.normal(0, 0.01, (3, 300))
  r = trend.judge(_trend("less"), _runs(steady(1.0), steady(1.0), scattered, steady(1.2)),
                  settings(), (-0.5, 0.25))  # fmt: skip
  assert r["estimate"] == pytest.approx(-0.2, abs=0.01)
  assert r["low"] < 0 < r["high"]


def test_the_interval_covers_at_about_the_nominal_rate_under_the_null():
  """No trend (four independent runs of the same kind, each seed with its own training offset):
  the 90% interval contains 0 in about 90% of 120 repetitions (fails under 80% or over 98%)."""
  rng = np.random.default_rng(4)
  hits = 0
  for _ in range(120):
    image = rng.normal(0, 1.0, 100)
    runs = [image + rng.normal(0, 0.1, (3, 1)) + rng.normal(0, 1.0, (3, 100)) for _ in range(4)]
    _, lo, hi = trend.bootstrap_interval(*runs, settings(150, 0.9))
    hits += lo <= 0 <= hi
  assert 96 <= hits <= 118, hits


def test_the_ends_default_to_the_axis_extremes_and_may_be_named():
  assert _trend().ends((0.25, -0.5, 0.0)) == (-0.5, 0.25)
  assert _trend(values=(0.0, -0.5)).ends((-0.5, 0.0, 0.25)) == (0.0, -0.5)
  full = lambda v: np.full((2, 4), v)  # noqa: E731
  runs = _runs(full(1.0), full(1.0), full(0.0), full(1.0))
  runs[0.0] = {"bernoulli": {"m": full(0.5)}, "cb": {"m": full(1.0)}}
  r = trend.judge(_trend(values=(-0.5, 0.0)), runs, settings(20), (-0.5, 0.0, 0.25))
  assert r["estimate"] == pytest.approx(-0.5) and (r["from"], r["to"]) == (-0.5, 0.0)


def test_images_missing_in_any_run_are_left_out_for_all_four():
  a = np.array([[1.0, np.nan, 1.0], [1.0, 1.0, 1.0]])
  full = lambda v: np.full((2, 3), v)  # noqa: E731
  b_to = full(0.0)
  b_to[0, 2] = np.nan
  r = trend.judge(_trend(), _runs(a, full(1.0), full(3.0), b_to), settings(20), (-0.5, 0.25))
  assert (r["n"], r["of"]) == (1, 3) and r["estimate"] == pytest.approx(3.0)


def test_what_cannot_be_judged_is_named():
  full = lambda v, s=2: np.full((s, 4), v)  # noqa: E731
  values = (-0.5, 0.25)
  runs = _runs(full(1.0), full(1.0), full(1.0, 1), full(1.0))
  assert "`bernoulli` at 0.25 has 1 seed" in trend.judge(_trend(), runs, settings(5), values)["why"]
  runs = _runs(full(1.0), full(1.0), full(1.0), full(1.0))
  del runs[0.25]["cb"]
  assert "`cb` is not among" in trend.judge(_trend(), runs, settings(5), values)["why"]
  runs[0.25]["cb"] = {"other": full(1.0)}
  assert "has no per-image `m`" in trend.judge(_trend(), runs, settings(5), values)["why"]
  runs[0.25]["cb"] = None
  assert "has no per-image `m`" in trend.judge(_trend(), runs, settings(5), values)["why"]
  assert "one value (0.25): no change" in trend.judge(_trend(), runs, settings(5), (0.25,))["why"]
  assert "no runs at 0.45" in trend.judge(_trend(), runs, settings(5), (-0.5, 0.45))["why"]
  runs = _runs(full(1.0), full(1.0), full(1.0), full(1.0))
  for i, (value, name) in enumerate([(-0.5, "bernoulli"), (-0.5, "cb"), (0.25, "bernoulli")]):
    runs[value][name]["test_indices"] = np.arange(4) + (i == 2)
  assert "different test images" in trend.judge(_trend(), runs, settings(5), values)["why"]
  nan = _runs(full(np.nan), full(1.0), full(1.0), full(1.0))
  assert "no test image has `m`" in trend.judge(_trend(), nan, settings(5), values)["why"]


def test_bad_trends_are_named():
  with pytest.raises(ValueError, match=r"trends: unknown field\(s\) \['side'\]"):
    trend.Trend.from_config(dict(claim="F9", statement="s", measure="m", a="x", b="y", side=1))
  with pytest.raises(ValueError, match="trends: direction='up'"):
    trend.Trend.from_config(dict(claim="F9", statement="s", measure="m", a="x", b="y",
                                 direction="up"))  # fmt: skip
  with pytest.raises(ValueError, match="give two different axis values"):
    _trend(values=(0.25,))
  with pytest.raises(ValueError, match="give two different axis values"):
    _trend(values=(0.25, 0.25))
