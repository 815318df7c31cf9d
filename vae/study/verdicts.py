"""Verdicts between two named decoders, with an interval over seeds and test images.

A *comparison* (``config.comparisons``, fixed in the study config before the run) names a claim,
a per-image measure (a key of the evaluation's ``per_image.npz``: ``vae.evaluation.per_image``),
two decoders ``a`` and ``b`` and the direction the claim asserts: ``"greater"`` (a's value is
larger than b's) or ``"less"``. Its estimate is A - B, each decoder's mean over its seeds of its mean over the
test images; the test images are the same for both (a paired comparison).

**Interval**: a two-level bootstrap (``config.verdict``: ``num_bootstrap`` replicates, ``level``).
Each replicate draws the test images with replacement, once for both decoders and all their
seeds (paired), and each decoder's seeds with replacement on their own (independent trainings;
the draw's spread inflated by sqrt(S / (S - 1)), undoing the plug-in bootstrap's shrinkage of a
mean over S seeds), and takes A - B over the draws; the interval is the replicates' central
``level`` quantiles. With 3 seeds the seed level is coarse (10 distinct draws) but it keeps
training noise in the interval; a decoder with one seed gets no verdict (``MIN_SEEDS``). Images
where either decoder lacks the number for some seed (a grey-prediction measure on an image its
prediction has no grey pixel in) are left out for both, so both sides average the same images.

**Verdict**, by the rule fixed here, before any run: "holds" when the whole interval lies on the
claimed side of 0, "does not hold" when it lies wholly on the other side, "no difference detected"
when it contains 0 (ties are ties). At two budgets (``budgets.py``) the verdict is "stable" when
both agree, else "budget-dependent", with both numbers. Nothing is withheld: a comparison whose
measure a decoder lacks (not applicable) says so.
"""

from __future__ import annotations

import dataclasses

import ml_collections
import numpy as np

VERDICTS = ("holds", "does not hold", "no difference detected")
DIRECTIONS = ("greater", "less")


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.level = 0.95  # coverage of the bootstrap interval
  c.num_bootstrap = 2000  # replicates
  c.seed = 0  # the bootstrap's draws
  return c


@dataclasses.dataclass(frozen=True)
class Comparison:
  """A claim as a test between two named decoders on one per-image measure."""

  claim: str  # a label of ../shared/docs/folk-claims.md (F3, ...) or a short name
  statement: str  # the claim in words, as the report prints it
  measure: str  # a key of per_image.npz, e.g. "intensity/calibration_toward_half"
  a: str  # decoder names of the study's grid
  b: str
  direction: str = "greater"  # "greater": a > b; "less": a < b

  @classmethod
  def from_config(cls, entry) -> "Comparison":
    d = entry.to_dict() if hasattr(entry, "to_dict") else dict(entry)
    unknown = sorted(set(d) - {f.name for f in dataclasses.fields(cls)})
    if unknown:
      raise ValueError(
        f"comparisons: unknown field(s) {unknown}; a comparison has "
        f"{[f.name for f in dataclasses.fields(cls)]}"
      )
    c = cls(**d)
    if c.direction not in DIRECTIONS:
      raise ValueError(
        f"comparisons: direction={c.direction!r} (claim {c.claim}) is not one of {DIRECTIONS}"
      )
    if c.a == c.b:
      raise ValueError(f"comparisons: claim {c.claim} compares {c.a!r} with itself")
    return c


def comparisons(config) -> tuple[Comparison, ...]:
  """The study config's comparisons, checked (a ValueError names a bad field). A comparison that
  names a decoder outside ``config.decoders`` is kept: the report says it was not judged."""
  return tuple(Comparison.from_config(e) for e in (config.get("comparisons") or ()))


MIN_SEEDS = 2  # below this a decoder's training noise cannot be estimated: no verdict


def common_images(*arrays: np.ndarray) -> np.ndarray:
  """The test images (last axis) where every array has a value for every seed (and weight): a
  boolean mask. A number NaN on an image (no grey prediction, no mid-tone) leaves that image out
  for every decoder compared, so that both sides are means over the same images (paired)."""
  mask = np.ones(arrays[0].shape[-1], bool)
  for a in arrays:
    mask &= ~np.isnan(a).reshape(-1, a.shape[-1]).any(0)
  return mask


def inflated(draw: float, full: float, seeds: int) -> float:
  """A seed-resampled mean with the plug-in bootstrap's shrinkage undone: its spread around the
  full mean scaled by sqrt(S / (S - 1)), so that its variance is the unbiased s^2 / S (the plain
  bootstrap's is (S - 1) / S of it: a third too small at 3 seeds)."""
  return full + np.sqrt(seeds / (seeds - 1)) * (draw - full)


def bootstrap_interval(a: np.ndarray, b: np.ndarray, config) -> tuple[float, float, float]:
  """(estimate, low, high) of A - B, where A is the mean over a's seeds of the mean over the test
  images of ``a`` [Sa, N] and B likewise for ``b`` [Sb, N] on the same N images (no NaN: restrict
  to ``common_images`` first), by the two-level bootstrap of the docstring: the images drawn once
  per replicate for both (paired), each decoder's seeds drawn on their own (independent
  trainings, at least ``MIN_SEEDS``; the draw's spread inflated, ``inflated``)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f"paired comparison over {a.shape[1]} and {b.shape[1]} test images")
  n = a.shape[1]
  estimate = float(a.mean() - b.mean())
  rng = np.random.default_rng(config.seed)
  reps = np.empty(config.num_bootstrap)
  for i in range(config.num_bootstrap):
    images = rng.integers(0, n, n)
    means = []
    for v in (a, b):
      per_seed = v[:, images].mean(-1)
      draw = per_seed[rng.integers(0, len(per_seed), len(per_seed))].mean()
      means.append(inflated(draw, per_seed.mean(), len(per_seed)))
    reps[i] = means[0] - means[1]
  tail = (1 - config.level) / 2
  low, high = np.quantile(reps, [tail, 1 - tail])
  return estimate, float(low), float(high)


def verdict(low: float, high: float, direction: str) -> str:
  """The rule of the module docstring, for an interval of a - b."""
  sign = 1.0 if direction == "greater" else -1.0
  lo, hi = sorted((sign * low, sign * high))
  if lo > 0:
    return "holds"
  if hi < 0:
    return "does not hold"
  return "no difference detected"


def judge(comparison: Comparison, per_image: dict, config) -> dict:
  """The comparison at one budget. ``per_image``: decoder -> its per-image arrays (``None`` if
  the run has none). Returns {"estimate", "low", "high", "verdict", "a_mean", "b_mean", "n",
  "of", "seeds"} (``n`` of the ``of`` test images have the number for both decoders and every
  seed), or {"verdict": None, "why": ...} when it cannot be judged."""
  arrays = []
  for name in (comparison.a, comparison.b):
    if name not in per_image:
      return {"verdict": None, "why": f"`{name}` is not among this study's decoders"}
    values = (per_image.get(name) or {}).get(comparison.measure)
    if values is None:
      return {"verdict": None, "why": f"`{name}` has no per-image `{comparison.measure}`"}
    values = np.asarray(values, np.float64)
    if values.shape[0] < MIN_SEEDS:
      return {
        "verdict": None,
        "why": f"`{name}` has {values.shape[0]} seed (its training noise cannot be estimated; "
        f"a verdict needs {MIN_SEEDS})",
      }
    arrays.append(values)
  indices = [(per_image[name] or {}).get("test_indices") for name in (comparison.a, comparison.b)]
  if all(i is not None for i in indices) and not np.array_equal(*indices):
    return {"verdict": None, "why": "the two evaluations used different test images"}
  a, b = arrays
  if a.shape[1] != b.shape[1]:
    return {"verdict": None, "why": f"{a.shape[1]} and {b.shape[1]} test images"}
  keep = common_images(a, b)
  if not keep.any():
    return {"verdict": None, "why": f"no test image has `{comparison.measure}` for both"}
  a, b = a[:, keep], b[:, keep]
  estimate, low, high = bootstrap_interval(a, b, config)
  return {
    "estimate": estimate,
    "low": low,
    "high": high,
    "verdict": verdict(low, high, comparison.direction),
    "a_mean": float(a.mean()),
    "b_mean": float(b.mean()),
    "n": int(keep.sum()),
    "of": int(keep.size),
    "seeds": (int(a.shape[0]), int(b.shape[0])),
  }


def across_budgets(results: dict) -> str:
  """budget -> ``judge`` result: the verdict over budgets: one verdict, "(stable)" when every
  budget gives it, "budget-dependent" when they differ, and which budgets only where some could
  not be judged."""
  found = {b: r["verdict"] for b, r in results.items() if r.get("verdict")}
  if not found:
    return "not computed"
  verdicts_ = set(found.values())
  if len(verdicts_) > 1:
    return "budget-dependent"
  (only,) = verdicts_
  if len(found) < len(results):
    return f"{only} at {', '.join(f'{b} epochs' for b in found)} only"
  return only + (" (stable)" if len(found) > 1 else "")
