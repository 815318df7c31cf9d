"""Decoders compared at the same rate: a measure read off each decoder's rate-distortion curve.

On a rate axis (``config.kl_weights``) every decoder is trained at every KL weight w, and each run
has a rate R (its mean test KL per image, nats) and a value of every per-image measure m. Along
the weights, the decoder's points (R_w, m_w), each a mean over its seeds, trace its curve; its
value **at rate R*** is the curve read at R* by linear interpolation in log R between the two
neighbouring points (none beyond the ends: a decoder that never reaches R* has no value there).
The rates compared are fixed by a rule, not chosen after looking: the common range is [the
largest of the decoders' lowest rates, the smallest of their highest], and ``rate_fractions`` (a
config field) gives the points as fractions of that range in log R (default the quartiles 0.25,
0.5, 0.75).

A matched-rate comparison (``config.rate_comparisons``, the same fields as ``verdicts.Comparison``)
is judged at each common rate like a named-pair verdict (``vae.study.verdicts``): the estimate is
A(R*) - B(R*), each decoder's curve read at R*, from per-image means over the same test images;
the interval is the same two-level bootstrap (test images drawn once
for every decoder, weight and seed; each decoder's seeds drawn on their own; every replicate
re-reads both the rates and the measure on the drawn images, so the rate's own uncertainty is in
the interval); the rule is the same (holds / does not hold / no difference detected).
"""

from __future__ import annotations

import numpy as np

from vae.study import verdicts

RATE_KEY = "elbo/kl"  # the per-image KL of the final evaluation: the rate
DEFAULT_FRACTIONS = (0.25, 0.5, 0.75)


def curve_at(rates: np.ndarray, values: np.ndarray, target: float) -> float:
  """A seed's curve (``rates``[W], ``values``[W] over the KL weights) read at ``target`` by
  linear interpolation in log rate; NaN outside the curve's range of rates."""
  rates, values = np.asarray(rates, np.float64), np.asarray(values, np.float64)
  ok = np.isfinite(rates) & np.isfinite(values) & (rates > 0)
  if ok.sum() < 2:
    return float("nan")
  order = np.argsort(rates[ok])
  r, v = np.log(rates[ok][order]), values[ok][order]
  t = np.log(target)
  if t < r[0] or t > r[-1]:
    return float("nan")
  return float(np.interp(t, r, v))


def common_rates(mean_rates: dict, fractions=DEFAULT_FRACTIONS) -> tuple[float, ...]:
  """The rates compared: ``fractions`` of the common range in log rate. ``mean_rates``: decoder
  -> its curve's rates over the weights (means over seeds and test images). Empty if the ranges
  do not overlap."""
  lo = max(float(np.nanmin(r)) for r in mean_rates.values())
  hi = min(float(np.nanmax(r)) for r in mean_rates.values())
  if not 0 < lo < hi:
    return ()
  return tuple(float(np.exp(np.log(lo) + f * (np.log(hi) - np.log(lo)))) for f in fractions)


def _seed_curves(rate: np.ndarray, value: np.ndarray, images: np.ndarray) -> tuple:
  """Per seed, the mean over ``images`` of the rate and of the value at each weight: [W, S] each
  (NaN images left out of a seed's mean)."""
  out = []
  for a in (rate, value):
    a = a[:, :, images]
    valid = ~np.isnan(a)
    count = valid.sum(-1)
    out.append(np.where(count > 0, np.where(valid, a, 0).sum(-1) / np.maximum(count, 1), np.nan))
  return out[0], out[1]


def decoder_at(rate: np.ndarray, value: np.ndarray, target: float, images, seeds=None) -> float:
  """A decoder's value at rate ``target``: its curve (at each KL weight, the mean over its
  (drawn) ``seeds`` of the rate and of the value, each a mean over ``images``) read there.
  ``rate``, ``value``: per-image arrays [W, S, N] over the KL weights."""
  r, v = _seed_curves(rate, value, images)
  if seeds is not None:
    r, v = r[:, seeds], v[:, seeds]
  return curve_at(np.nanmean(r, 1), np.nanmean(v, 1), target)


def judge_at(comparison, arrays: dict, target: float, config) -> dict:
  """One matched-rate comparison at rate ``target``. ``arrays``: decoder -> {"rate": [W, S, N],
  measure: [W, S, N]} (stacked over the KL weights, the same test images)."""
  sides = []
  for name in (comparison.a, comparison.b):
    d = arrays.get(name)
    if d is None:
      return {"verdict": None, "why": f"`{name}` is not on this rate axis"}
    if comparison.measure not in d:
      return {"verdict": None, "why": f"`{name}` has no per-image `{comparison.measure}`"}
    sides.append((d["rate"], d[comparison.measure]))
  n = sides[0][0].shape[-1]
  every = np.arange(n)
  a, b = (decoder_at(r, v, target, every) for r, v in sides)
  if np.isnan(a) or np.isnan(b):
    return {"verdict": None, "why": f"a seed's curve does not reach {target:.1f} nats"}
  rng = np.random.default_rng(config.seed)
  reps = np.empty(config.num_bootstrap)
  for i in range(config.num_bootstrap):
    images = rng.integers(0, n, n)
    means = []
    for r, v in sides:
      seeds = rng.integers(0, r.shape[1], r.shape[1])
      means.append(decoder_at(r, v, target, images, seeds))
    reps[i] = means[0] - means[1]
  tail = (1 - config.level) / 2
  low, high = np.nanquantile(reps, [tail, 1 - tail])
  return {
    "rate": target,
    "estimate": a - b,
    "low": float(low),
    "high": float(high),
    "verdict": verdicts.verdict(low, high, comparison.direction),
    "a_mean": a,
    "b_mean": b,
    "n": int(n),
    "seeds": (int(sides[0][0].shape[1]), int(sides[1][0].shape[1])),
    "missed": int(np.isnan(reps).sum()),
  }


def stack(per_weight: dict, measures) -> dict | None:
  """{"rate": [W, S, N], measure: [W, S, N]} from weight -> per-image arrays (None if a weight
  has none), the weights in ascending order; None when any weight lacks the arrays."""
  weights = sorted(per_weight)
  if any(per_weight[w] is None for w in weights):
    return None
  out = {"rate": np.stack([per_weight[w][RATE_KEY] for w in weights])}
  for m in measures:
    if all(m in per_weight[w] for w in weights):
      out[m] = np.stack([per_weight[w][m] for w in weights])
  return out
