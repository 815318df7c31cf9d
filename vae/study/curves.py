"""Statistics of rate-distortion curves, with their intervals.

A decoder on a rate axis has, per KL weight, arrays [W, S, N] (weights x seeds x test images) of
its rate (test KL) and of each measure (``rate_report.arrays_of``). Its *curve* is, per weight,
the mean over seeds of each seed's mean over the images; a statistic of several decoders' curves
(a difference read at a rate, the weight at which a curve reaches a rate, ...) gets its interval
from the two-level bootstrap of ``vae.study.verdicts``: each replicate draws the test images once
for every decoder, weight and seed (paired), and each decoder's seeds on their own, their spread
inflated (``verdicts.inflated``); a replicate whose statistic is undefined (a rate beyond a
curve's end) is counted, and more than 5% of them give no interval. ``vae.study.claims`` states
its claims as such statistics.
"""

from __future__ import annotations

import numpy as np

from vae.study import matched_rate, verdicts


def means_of(arrays: dict, image_weights=None, seeds=None) -> dict:
  """name -> [W]: each seed's mean over the (weighted) test images, then the mean over the
  (drawn, inflated) seeds."""
  out = {}
  for k, v in arrays.items():
    if np.ndim(v) != 3:  # test_indices
      continue
    per_seed = v @ image_weights if image_weights is not None else v.mean(-1)  # [W, S]
    full = per_seed.mean(1)
    if seeds is None:
      out[k] = full
    else:
      out[k] = verdicts.inflated(per_seed[:, seeds].mean(1), full, per_seed.shape[1])
  return out


def select(arrays: dict, wanted: dict) -> tuple[dict | None, str]:
  """{decoder: {name: [W, S, N]}} of the ``wanted`` {decoder: names} (the rate always), on the
  test images every one of them has a number for; (None, why) when something is missing."""
  out = {}
  for d, names in wanted.items():
    if d not in arrays:
      return None, f"`{d}` is not on this rate axis"
    missing = [n for n in names if n not in arrays[d]]
    if missing:
      return None, f"`{d}` has no `{missing[0]}`"
    if arrays[d]["rate"].shape[1] < verdicts.MIN_SEEDS:
      return None, f"`{d}` has {arrays[d]['rate'].shape[1]} seed"
    out[d] = {n: np.asarray(arrays[d][n], np.float64) for n in ("rate", *names)}
  keep = verdicts.common_images(*(v for a in out.values() for v in a.values()))
  if not keep.any():
    return None, "no test image has every number"
  return {d: {n: v[..., keep] for n, v in a.items()} for d, a in out.items()}, ""


def bootstrap_stat(arrays: dict, stat, settings) -> dict:
  """A statistic of the decoders' curves with its interval: ``stat(means)`` where means is
  {decoder: {name: [W]}} (``means_of``); its value on all images and seeds, and the central
  ``level`` quantiles over ``num_bootstrap`` two-level replicates. NaN (a rate beyond a curve's
  end) in more than 5% of the replicates gives no interval."""
  n = next(iter(next(iter(arrays.values())).values())).shape[-1]
  estimate = float(stat({d: means_of(a) for d, a in arrays.items()}))
  if not np.isfinite(estimate):
    return {"estimate": estimate, "why": "not defined on these curves (a rate beyond an end)"}
  rng = np.random.default_rng(settings.seed)
  reps = np.empty(settings.num_bootstrap)
  for i in range(settings.num_bootstrap):
    weights = np.bincount(rng.integers(0, n, n), minlength=n) / n
    means = {}
    for d in sorted(arrays):
      s = arrays[d]["rate"].shape[1]
      means[d] = means_of(arrays[d], weights, rng.integers(0, s, s))
    reps[i] = stat(means)
  missed = int(np.isnan(reps).sum())
  if missed > 0.05 * len(reps):
    return {"estimate": estimate, "why": f"{missed} of {len(reps)} replicates beyond a curve's end"}
  tail = (1 - settings.level) / 2
  low, high = np.nanquantile(reps, [tail, 1 - tail])
  return {"estimate": estimate, "low": float(low), "high": float(high), "missed": missed}


def judged(result: dict, direction: str) -> dict:
  """``result`` with its verdict (None without an interval)."""
  v = verdicts.verdict(result["low"], result["high"], direction) if "low" in result else None
  return {**result, "verdict": v}


def text(r: dict, fmt: str = "{:.4g}") -> str:
  if "low" not in r:
    return f"not computed: {r.get('why', '?')}"
  out = f"{fmt.format(r['estimate'])} [{fmt.format(r['low'])}, {fmt.format(r['high'])}]"
  return out + (f": {r['verdict']}" if r.get("verdict") else "")


# ----------------------------------------------------------------------------- curve readings


def read(means: dict, name: str, rate: float) -> float:
  return matched_rate.curve_at(means["rate"], means[name], rate)


def weight_at_rate(means: dict, weights: np.ndarray, rate: float) -> float:
  """The KL weight at which a curve has ``rate``: log w linear in log rate; NaN beyond its ends."""
  return float(np.exp(matched_rate.curve_at(means["rate"], np.log(weights), rate)))


def rate_at_weight(means: dict, weights: np.ndarray, weight: float) -> float:
  """A curve's rate at KL weight ``weight`` (log rate linear in log w); NaN beyond its ends."""
  lw = np.log(weights)
  t = np.log(weight)
  if not lw[0] <= t <= lw[-1]:
    return float("nan")
  return float(np.exp(np.interp(t, lw, np.log(means["rate"]))))
