"""Trend verdicts: does the difference between two named decoders change along a sweep's axis?

A *trend* (``config.trends`` of a sweep config, fixed before any run) is a comparison
(``verdicts.Comparison``: claim, statement, per-image measure, decoders ``a`` and ``b``,
direction) read between two values of the axis, ``values = (from, to)`` (default: the sweep's
smallest and largest). With d(v) = A(v) - B(v), each decoder's mean over its seeds of its mean
over the test images at value v (``verdicts``' estimate), its estimate is

    d(to) - d(from)

and the claim is that it is > 0 (``direction="greater"``) or < 0 (``"less"``). Folk claim F9
("MNIST is nearly binary, so a Bernoulli fits it well; on truly grey data it does not") reads:
BCE's deficit against a density decoder grows as the warping gamma moves from -0.5 (binary
data) toward grey data; on 15-NN accuracy (higher is better), A = the Bernoulli, B = the other
decoder, d falls: ``"less"``.

**Interval**: the two-level bootstrap of ``verdicts`` over four trainings (two decoders at two
values). Each replicate draws the test images with replacement once, shared by both decoders at
both values (every run of a sweep is evaluated on the same seeded test subset: the pairing that
removes the images' own spread, across decoders and across the axis), and the seeds of each
(decoder, value) on their own (independent trainings; the draw's spread inflated by
sqrt(S / (S - 1)), ``verdicts.inflated``); the interval is the replicates' central ``level``
quantiles. Images where any of the four lacks the number for some seed are left out for all four.
**Verdict**: ``verdicts.verdict`` (the interval against 0 on the claimed side); over budgets,
``verdicts.across_budgets``. A run with one seed gives no verdict (``verdicts.MIN_SEEDS``).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from vae.study import verdicts


@dataclasses.dataclass(frozen=True)
class Trend:
  """A comparison read as a change along the axis, from ``values[0]`` to ``values[1]``."""

  comparison: verdicts.Comparison
  values: tuple[float, ...] = ()  # (from, to); (): the axis's smallest and largest

  @classmethod
  def from_config(cls, entry) -> "Trend":
    d = entry.to_dict() if hasattr(entry, "to_dict") else dict(entry)
    values = tuple(float(v) for v in (d.pop("values", None) or ()))
    if values and (len(values) != 2 or values[0] == values[1]):
      raise ValueError(
        f"trends: claim {d.get('claim')!r} has values={values!r}; give two different axis "
        "values (from, to), or none for the axis's smallest and largest"
      )
    try:
      comparison = verdicts.Comparison.from_config(d)
    except (TypeError, ValueError) as e:
      raise ValueError(f"trends: {str(e).removeprefix('comparisons: ')}") from None
    return cls(comparison, values)

  def ends(self, axis_values) -> tuple[float, float]:
    """(from, to): ``values``, or the smallest and largest of ``axis_values``."""
    if self.values:
      return self.values
    return (min(axis_values), max(axis_values))


def trends(config) -> tuple[Trend, ...]:
  """The config's trends (``config.trends``), checked: a ValueError names a bad field."""
  return tuple(Trend.from_config(e) for e in (config.get("trends") or ()))


def _mean(values: np.ndarray, images: np.ndarray, rng) -> float:
  """One replicate of a training's mean: its seeds' means over ``images``, the seeds drawn with
  replacement and the draw's spread inflated (``verdicts.inflated``)."""
  per_seed = values[:, images].mean(-1)
  draw = per_seed[rng.integers(0, len(per_seed), len(per_seed))].mean()
  return verdicts.inflated(draw, per_seed.mean(), len(per_seed))


def bootstrap_interval(a_from, b_from, a_to, b_to, config) -> tuple[float, float, float]:
  """(estimate, low, high) of d(to) - d(from), d = A - B, from four arrays [S, N] (seeds, the
  same N test images, no NaN: restrict to ``verdicts.common_images`` first), by the bootstrap of
  the module docstring: the images drawn once per replicate for all four, each array's seeds on
  their own."""
  arrays = [np.asarray(v, np.float64) for v in (a_from, b_from, a_to, b_to)]
  sizes = {v.shape[1] for v in arrays}
  if len(sizes) != 1:
    raise ValueError(f"a trend needs the same test images at both values; got {sorted(sizes)}")
  (n,) = sizes
  af, bf, at, bt = (v.mean() for v in arrays)
  estimate = float((at - bt) - (af - bf))
  rng = np.random.default_rng(config.seed)
  reps = np.empty(config.num_bootstrap)
  for i in range(config.num_bootstrap):
    images = rng.integers(0, n, n)
    af, bf, at, bt = (_mean(v, images, rng) for v in arrays)
    reps[i] = (at - bt) - (af - bf)
  tail = (1 - config.level) / 2
  low, high = np.quantile(reps, [tail, 1 - tail])
  return estimate, float(low), float(high)


def judge(trend: Trend, per_image: dict, config, axis_values) -> dict:
  """The trend at one budget. ``per_image``: axis value -> decoder -> its per-image arrays
  (``None`` if the run has none); ``axis_values``: the sweep's values. Returns {"estimate",
  "low", "high", "verdict", "from", "to", "d_from", "d_to", "n", "of", "seeds"} (``seeds``: of
  a and b at from, then at to), or {"verdict": None, "why": ...} when it cannot be judged."""
  c = trend.comparison
  start, end = trend.ends(axis_values)
  if start == end:
    return {"verdict": None, "why": f"the sweep has one value ({start:g}): no change to read"}
  arrays, indices = [], []
  for value in (start, end):
    if value not in per_image:
      return {"verdict": None, "why": f"the sweep has no runs at {value:g}"}
    for name in (c.a, c.b):
      if name not in per_image[value]:
        return {"verdict": None, "why": f"`{name}` is not among this sweep's decoders"}
      found = per_image[value].get(name) or {}
      values = found.get(c.measure)
      if values is None:
        return {"verdict": None, "why": f"`{name}` at {value:g} has no per-image `{c.measure}`"}
      values = np.asarray(values, np.float64)
      if values.shape[0] < verdicts.MIN_SEEDS:
        return {
          "verdict": None,
          "why": f"`{name}` at {value:g} has {values.shape[0]} seed (a verdict needs "
          f"{verdicts.MIN_SEEDS})",
        }
      arrays.append(values)
      indices.append(found.get("test_indices"))
  known = [i for i in indices if i is not None]
  if len({a.shape[1] for a in arrays}) != 1 or any(
    not np.array_equal(known[0], i) for i in known[1:]
  ):
    return {"verdict": None, "why": "the four evaluations used different test images"}
  keep = verdicts.common_images(*arrays)
  if not keep.any():
    return {"verdict": None, "why": f"no test image has `{c.measure}` in all four runs"}
  arrays = [a[:, keep] for a in arrays]
  estimate, low, high = bootstrap_interval(*arrays, config)
  a_from, b_from, a_to, b_to = (float(a.mean()) for a in arrays)
  return {
    "estimate": estimate,
    "low": low,
    "high": high,
    "verdict": verdicts.verdict(low, high, c.direction),
    "from": start,
    "to": end,
    "d_from": a_from - b_from,
    "d_to": a_to - b_to,
    "n": int(keep.sum()),
    "of": int(keep.size),
    "seeds": tuple(int(a.shape[0]) for a in arrays),
  }
