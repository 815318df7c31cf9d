"""Verdicts between two named decoders, with an interval over seeds and test images.

A *comparison* (``config.comparisons``, fixed in the study config before the run) names a claim,
a per-image measure (a key of the evaluation's ``per_image.npz``: ``vae.evaluation.per_image``),
two decoders ``a`` and ``b`` and the direction the claim asserts: ``"greater"`` (a's value is
larger than b's) or ``"less"``. Its estimate is A - B, each decoder's mean over its seeds of its mean over the
test images; the test images are the same for both (a paired comparison).

**Interval**: a two-level bootstrap (``config.verdict``: ``num_bootstrap`` replicates, ``level``).
Each replicate draws the test images with replacement, once for both decoders and all their
seeds (paired), and each decoder's seeds with replacement on their own (independent trainings),
and takes A - B over the draws; the interval is the replicates' central ``level`` quantiles. With
3 seeds the seed level is coarse (10 distinct draws) but it keeps training noise in the interval.

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


def bootstrap_interval(a: np.ndarray, b: np.ndarray, config) -> tuple[float, float, float]:
  """(estimate, low, high) of A - B, where A is the mean over a's seeds of the mean over the test
  images of ``a`` [Sa, N] (NaN: the image is left out of that seed's mean) and B likewise for
  ``b`` [Sb, N] on the same N images, by the two-level bootstrap of the docstring: the images
  drawn once per replicate for both (paired), each decoder's seeds drawn on their own (the two
  decoders' seeds are independent trainings)."""
  a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
  if a.shape[1] != b.shape[1]:
    raise ValueError(f"paired comparison over {a.shape[1]} and {b.shape[1]} test images")
  n = a.shape[1]
  parts = [(np.where(np.isnan(v), 0.0, v), ~np.isnan(v)) for v in (a, b)]
  estimate = float(np.mean(_seed_means(*parts[0])) - np.mean(_seed_means(*parts[1])))
  rng = np.random.default_rng(config.seed)
  reps = np.empty(config.num_bootstrap)
  for i in range(config.num_bootstrap):
    images = rng.integers(0, n, n)
    means = []
    for values, valid in parts:
      per_seed = _seed_means(values[:, images], valid[:, images])
      means.append(np.mean(per_seed[rng.integers(0, len(per_seed), len(per_seed))]))
    reps[i] = means[0] - means[1]
  tail = (1 - config.level) / 2
  low, high = np.nanquantile(reps, [tail, 1 - tail])
  return estimate, float(low), float(high)


def _seed_means(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
  count = valid.sum(-1)
  return np.where(count > 0, values.sum(-1) / np.maximum(count, 1), np.nan)


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
  "seeds"} or {"verdict": None, "why": ...} when it cannot be computed."""
  arrays = []
  for name in (comparison.a, comparison.b):
    if name not in per_image:
      return {"verdict": None, "why": f"`{name}` is not among this study's decoders"}
    values = (per_image.get(name) or {}).get(comparison.measure)
    if values is None:
      return {"verdict": None, "why": f"`{name}` has no per-image `{comparison.measure}`"}
    arrays.append(np.asarray(values, np.float64))
  a, b = arrays
  estimate, low, high = bootstrap_interval(a, b, config)
  return {
    "estimate": estimate,
    "low": low,
    "high": high,
    "verdict": verdict(low, high, comparison.direction),
    "a_mean": float(np.nanmean(a)),
    "b_mean": float(np.nanmean(b)),
    "n": int(a.shape[1]),
    "seeds": (int(a.shape[0]), int(b.shape[0])),
  }


def across_budgets(results: dict) -> str:
  """budget -> ``judge`` result: the verdict over budgets ("budget-dependent" when they differ)."""
  found = [r["verdict"] for r in results.values() if r.get("verdict")]
  if not found:
    return "not computed"
  if len(set(found)) == 1:
    return found[0] + (" (stable)" if len(found) > 1 else "")
  return "budget-dependent"
