r"""How a measure's numbers are shown and compared: one ``Column`` per number, declared by the measure.

A measure (``vae.evaluation.measures``) declares the columns it produces next to its code; the
evaluator's headline, the study table and its column definitions, the sweep's measures and its
warped filter are all derived from these declarations, so adding a measure is one file.

What "better" means is said once, by ``Column.better``:

==========  =====================================================================================
``"max"``   higher is better (a log-likelihood, an accuracy, an inception score)
``"min"``   lower is better (bits/dim, a negative log-likelihood, a distance, an error)
``"one"``   closer to 1 is better (a ratio to the data's own value)
``"zero"``  closer to 0 is better (a signed bias)
``None``    not comparable across decoders (each decoder's own likelihood)
==========  =====================================================================================

``order`` ranks values by it, best first, and keeps equal values together as a tie: a ranking
never decides a tie by the order the decoders happen to be listed in.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Callable, Hashable, Mapping

BETTER = ("max", "min", "one", "zero")
BETTER_WORDS = {
  "max": "higher is better",
  "min": "lower is better",
  "one": "closer to 1 is better",
  "zero": "closer to 0 is better",
  None: "not comparable across decoders",
}


@dataclasses.dataclass(frozen=True)
class Column:
  """One number a measure produces, as reports show and compare it.

  ``path``: the flat key of one seed's result and the keys into its value (``("intensity/mean",
  "mse", "mean")``); ``warped``: why the number says nothing about warped data (it is measured
  on, or against, un-warped images), or None if it does; ``show``: the reports that show it
  (``"study"``: the study's table; ``"sweep"``: a sweep's measures; the headline always has it);
  ``per_image``: the name of its per-image values in per_image.npz where it is not the one
  derived from ``path`` (``per_image_key``).
  """

  key: str
  path: tuple[str, ...]
  header: str
  fmt: str
  better: str | None
  definition: str
  warped: str | None = None
  show: tuple[str, ...] = ("study", "sweep")
  per_image: str | None = None

  def __post_init__(self):
    if self.better not in (*BETTER, None):
      raise ValueError(
        f"column {self.key!r}: better={self.better!r} is not one of {BETTER} or None"
      )

  def value(self, result: Mapping):
    """This column's number in one seed's flat result, or None if the measure did not give it."""
    v = result
    for k in self.path:
      v = v.get(k) if isinstance(v, Mapping) else None
    return float(v) if isinstance(v, int | float) and not isinstance(v, bool) else None

  @property
  def per_image_key(self) -> str | None:
    """The name of this column's per-image values in per_image.npz (``vae.evaluation.
    per_image``): ``per_image`` if given, else, the column being their mean over images, its path
    without the last "mean" joined by "/" (``("elbo/kl", "mean")`` -> ``"elbo/kl"``); None for a
    number that is not a mean over images (an accuracy, an inception score)."""
    if self.per_image is not None:
      return self.per_image
    if len(self.path) < 2 or self.path[-1] != "mean":
      return None
    return "/".join(self.path[:-1])

  def format(self, value: float) -> str:
    return self.fmt.format(value)

  @property
  def better_words(self) -> str:
    return BETTER_WORDS[self.better]


def sort_key(better: str) -> Callable[[float], float]:
  """A number to sort by, smaller is better, for ``better`` (one of ``BETTER``)."""
  if better not in BETTER:
    raise ValueError(f"better={better!r} is not one of {BETTER}: such a column is not ranked")
  return {
    "max": lambda v: -v,
    "min": lambda v: v,
    "one": lambda v: abs(v - 1),
    "zero": lambda v: abs(v),
  }[better]


def order(values: Mapping[Hashable, float], better: str) -> list[list[Hashable]]:
  """The names of ``values`` best first, grouped: names whose values are equal under ``better``
  (equal numbers; for "one" and "zero" equally far from the target) form one group, a tie.
  NaN values are left out."""
  key = sort_key(better)
  kept = {n: key(v) for n, v in values.items() if not math.isnan(v)}
  groups: list[list[Hashable]] = []
  for name in sorted(kept, key=kept.get):
    if groups and kept[groups[-1][0]] == kept[name]:
      groups[-1].append(name)
    else:
      groups.append([name])
  return groups


def best(values: Mapping[Hashable, float], better: str) -> list[Hashable]:
  """The best name(s): more than one when they tie (``order``'s first group)."""
  groups = order(values, better)
  return groups[0] if groups else []
