"""Has a run converged? Flags from its learning curve and, for a learned sigma, its trajectory.

A run is flagged when, with the thresholds of the study config's ``convergence`` section,

* its test ELBO (per image, on the fixed test inputs) still rose over the last ``window`` (10%)
  of its epochs by more than ``max_elbo_rise_nats`` (3 nats: 0.0055 bits/dim, more than the
  table's third decimal): its numbers still depend on the step budget. (A threshold relative to
  the rise since the first epoch would flag nearly every run: for a curve like log(epoch), the
  last 10% of 100 epochs still holds 2.3% of the rise); or
* it has a learned scale (a Gaussian's sigma) and that scale (``scale``: its summary over the
  test pixels, the root mean square for a sigma) is more than ``max_scale_gap`` (10%) away from
  its optimum given the means (``Distribution.scale_terms``: for a sigma, the root mean squared
  error of the reconstructions) as they are in training (``scale_optimal_train``: with dropout,
  units dropped), else at test (``scale_optimal``; ``vae.training.programs.make_test_elbo``).
  With dropout the scale that maximizes the trained objective is the larger of the two (the
  study's ``cpu`` Gaussian with one learned sigma: 0.113 against 0.100 at test), so measuring the
  gap at test would flag a converged scale.

A finding of the report that rests on a flagged run gives no verdict.
"""

from __future__ import annotations

import math

import ml_collections

from vae import workdir as wd


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.window = 0.1  # the last fraction of the epochs whose ELBO rise is checked
  c.max_elbo_rise_nats = 3.0  # per image over the window (3 nats = 0.0055 bits/dim)
  c.max_scale_gap = 0.1  # |scale / scale_optimal - 1|
  return c


def assess(rows: list[dict], config) -> dict:
  """{"converged", "flags": [sentences], "elbo_rise", "scale_gap"} of a run from its
  metrics.jsonl rows (per-seed means)."""
  tests = [(r["epoch"], r) for r in wd.held_out_rows(rows)]
  out = {"flags": []}
  if len(tests) < 2:
    out["flags"].append("fewer than two evaluated epochs: no learning curve")
    out["converged"] = False
    return out
  last_epoch, last = tests[-1]
  start = last_epoch - max(1, math.ceil(config.window * last_epoch))
  before = [t for e, t in tests if e <= start]
  reference = before[-1] if before else tests[0][1]
  rise = last["elbo"] - reference["elbo"]
  out["elbo_rise"] = rise
  if rise > config.max_elbo_rise_nats:
    out["flags"].append(
      f"test ELBO still rose by {rise:.1f} nats over the last {last_epoch - start} of "
      f"{last_epoch} epochs (threshold {config.max_elbo_rise_nats:g})"
    )
  optimum = last.get("scale_optimal_train", last.get("scale_optimal"))
  if "scale" in last and optimum is not None:
    gap = last["scale"] / optimum - 1
    out["scale_gap"] = gap
    if abs(gap) > config.max_scale_gap:
      where = " (dropout on, as in training)" if "scale_optimal_train" in last else ""
      out["flags"].append(
        f"scale {last['scale']:.3f} is {100 * gap:+.0f}% from its optimum "
        f"{optimum:.3f}{where} (threshold {100 * config.max_scale_gap:.0f}%)"
      )
  out["converged"] = not out["flags"]
  return out
