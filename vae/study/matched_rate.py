"""Decoders compared at the same rate: a measure read off each decoder's rate-distortion curve.

On a rate axis (``config.kl_weights``) every decoder is trained at every KL weight w, and each run
has a rate R (its mean test KL per image, nats) and a value of every per-image measure m. Along
the weights, the decoder's points (R_w, m_w), each a mean over its seeds, trace its curve; its
value **at rate R*** is the curve read at R* by linear interpolation in log R between the two
neighbouring points (none beyond the ends: a decoder that never reaches R* has no value there).
The rates compared are fixed by a rule, not chosen after looking: for a comparison of decoders A
and B, the common range is [the larger of their lowest rates, the smaller of their highest], and
``rate_fractions`` (a config field) gives the points as fractions of that range in log R (default
the quartiles 0.25, 0.5, 0.75). Each pair has its own range, so that a decoder far from the
others (the unclipped continuous Bernoulli) narrows no other comparison.

A matched-rate comparison (``config.rate_comparisons``, the same fields as ``verdicts.Comparison``)
is judged at each common rate like a named-pair verdict (``vae.study.verdicts``): the estimate is
A(R*) - B(R*), each decoder's curve read at R*, from per-image means over the same test images;
the interval is the same two-level bootstrap (test images drawn once
for every decoder, weight and seed; each decoder's seeds drawn on their own, their spread
inflated; every replicate re-reads both the rates and the measure on the drawn images, so the
rate's own uncertainty is in the interval; more than 5% of replicates that put R* beyond a
curve's end give no verdict); the rule is the same (holds / does not hold / no difference
detected).
"""

from __future__ import annotations

import numpy as np

from vae.study import verdicts

RATE_KEY = "elbo/kl"  # the per-image KL of the final evaluation: the rate
DEFAULT_FRACTIONS = (0.25, 0.5, 0.75)


def curve_at(rates: np.ndarray, values: np.ndarray, target: float) -> float:
  """A curve (``rates``[W], ``values``[W] over the KL weights) read at ``target`` by linear
  interpolation in log rate; NaN outside the curve's range of rates."""
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


def pair_rates(arrays: dict, a: str, b: str, fractions=DEFAULT_FRACTIONS) -> tuple[float, ...]:
  """The common rates of decoders ``a`` and ``b`` (``common_rates`` of the two), from their
  stacked arrays (decoder -> {"rate": [W, S, N], ...}); empty if either is missing."""
  if a not in arrays or b not in arrays:
    return ()
  means = {d: np.nanmean(arrays[d]["rate"], axis=(1, 2)) for d in (a, b)}
  return common_rates(means, fractions)


def _seed_curves(rate: np.ndarray, value: np.ndarray, images: np.ndarray) -> tuple:
  """Per seed, the mean over ``images`` of the rate and of the value at each weight: [W, S]
  each (no NaN: restrict to ``verdicts.common_images`` first)."""
  return rate[:, :, images].mean(-1), value[:, :, images].mean(-1)


def decoder_at(rate: np.ndarray, value: np.ndarray, target: float, images, seeds=None) -> float:
  """A decoder's value at rate ``target``: its curve (at each KL weight, the mean over its
  (drawn) ``seeds`` of the rate and of the value, each a mean over ``images``) read there; the
  seed draw's spread inflated as in ``verdicts.inflated``. ``rate``, ``value``: per-image arrays
  [W, S, N] over the KL weights."""
  r, v = _seed_curves(rate, value, images)
  if seeds is not None:
    count = r.shape[1]
    r = verdicts.inflated(r[:, seeds].mean(1), r.mean(1), count)
    v = verdicts.inflated(v[:, seeds].mean(1), v.mean(1), count)
    return curve_at(r, v, target)
  return curve_at(r.mean(1), v.mean(1), target)


def judge_at(comparison, arrays: dict, target: float, config) -> dict:
  """One matched-rate comparison at rate ``target``. ``arrays``: decoder -> {"rate": [W, S, N],
  measure: [W, S, N], optionally "test_indices"} (stacked over the KL weights, the same test
  images). Images missing a value for either decoder at any weight or seed are left out for
  both (``verdicts.common_images``); a decoder needs ``verdicts.MIN_SEEDS`` seeds."""
  sides = []
  for name in (comparison.a, comparison.b):
    d = arrays.get(name)
    if d is None:
      return {"verdict": None, "why": f"`{name}` is not on this rate axis"}
    if comparison.measure not in d:
      return {"verdict": None, "why": f"`{name}` has no per-image `{comparison.measure}`"}
    if d["rate"].shape[1] < verdicts.MIN_SEEDS:
      return {"verdict": None, "why": f"`{name}` has {d['rate'].shape[1]} seed"}
    sides.append((np.asarray(d["rate"], np.float64), np.asarray(d[comparison.measure], np.float64)))
  if sides[0][0].shape[-1] != sides[1][0].shape[-1]:
    return {"verdict": None, "why": "the decoders were evaluated on different numbers of images"}
  indices = [arrays[n].get("test_indices") for n in (comparison.a, comparison.b)]
  if all(i is not None for i in indices) and not np.array_equal(*indices):
    return {"verdict": None, "why": "the two decoders were evaluated on different test images"}
  keep = verdicts.common_images(*(x for side in sides for x in side))
  if not keep.any():
    return {"verdict": None, "why": f"no test image has `{comparison.measure}` for both"}
  sides = [(r[..., keep], v[..., keep]) for r, v in sides]
  n = int(keep.sum())
  every = np.arange(n)
  a, b = (decoder_at(r, v, target, every) for r, v in sides)
  if np.isnan(a) or np.isnan(b):
    return {"verdict": None, "why": f"a decoder's curve does not reach {target:.1f} nats"}
  rng = np.random.default_rng(config.seed)
  reps = np.empty(config.num_bootstrap)
  for i in range(config.num_bootstrap):
    images = rng.integers(0, n, n)
    means = []
    for r, v in sides:
      seeds = rng.integers(0, r.shape[1], r.shape[1])
      means.append(decoder_at(r, v, target, images, seeds))
    reps[i] = means[0] - means[1]
  missed = int(np.isnan(reps).sum())
  if missed > 0.05 * len(reps):
    return {
      "verdict": None,
      "why": f"{missed} of {len(reps)} replicates put {target:.1f} nats beyond a curve's end",
    }
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
    "n": n,
    "of": int(keep.size),
    "seeds": (int(sides[0][0].shape[1]), int(sides[1][0].shape[1])),
    "missed": missed,
  }


def stack(per_weight: dict, measures) -> dict | None:
  """{"rate": [W, S, N], measure: [W, S, N]} from weight -> per-image arrays (None if a weight
  has none), the weights in ascending order; None when any weight lacks the arrays."""
  weights = sorted(per_weight)
  if any(per_weight[w] is None for w in weights):
    return None
  indices = [per_weight[w].get("test_indices") for w in weights]
  if any(i is not None and not np.array_equal(i, indices[0]) for i in indices):
    raise ValueError("the runs of one decoder were evaluated on different test images")
  out = {"rate": np.stack([per_weight[w][RATE_KEY] for w in weights])}
  if indices[0] is not None:
    out["test_indices"] = indices[0]
  for m in measures:
    if all(m in per_weight[w] for w in weights):
      out[m] = np.stack([per_weight[w][m] for w in weights])
  return out
