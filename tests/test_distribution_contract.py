"""The distribution contract: every registered decoder distribution through the same checks.

``EXAMPLES`` holds, per distribution class, a few parameter sets, the numerically hard ones
included (logits near 0, +-1e-3, +-30, +-1e4; tiny and huge concentrations; small, huge and
floored scales). Every check runs on every example, in float32 and in float64 (``dtype``):

* the declared properties agree (``support``, ``is_density``, ``has_cdf``, ``has_pmf_8bit``, the
  stand-in density of a non-density);
* normalization: the quadrature of exp(log_prob) over the support is 1 (the mass beyond the grid
  from the distribution's own ``log_tail``), a binary pmf sums to 1 over {0, 1}, an 8-bit pmf's
  density to 1 over [0, 1], and every ``log_prob_8bit`` over the 256 levels;
* where ``has_cdf``: ``log_cdf`` and ``log_survival`` against the integral of the density,
  relative however deep in the tail (where the grid resolves it), and ``cdf`` absolute;
  ``log_tail`` is the one or the other, and both tails are finite far beyond;
* ``mean``, ``variance`` and ``stddev`` against quadrature (or summation);
* samples lie in the support and have the mean and the variance (5 standard errors) and the
  distribution: Kolmogorov-Smirnov against the own cdf, chi-square against the own 8-bit pmf;
* the gradient of log_prob with respect to the parameters is finite wherever log_prob is, at
  pixels from 0 to 1; through every named decoder's likelihood module, the gradient with respect
  to the raw decoder outputs is finite at raw outputs from -1e6 to 1e6;
* ``jit`` of ``vmap`` gives the eager values, in the example's dtype.

A registered likelihood whose distribution class has no entry here fails
``test_every_registered_distribution_has_examples`` with one message (and no generic check runs
on it): add parameter sets to ``_EXAMPLES``. Raw decoder outputs need no entry: they are made from
``outputs_per_pixel()``. Oracle checks (scipy, mpmath, closed forms, published numbers) and
distribution-specific behaviour stay in the per-distribution test files.

Quadrature, exact up to rounding: composite Romberg (6 levels: 65 nodes per panel, positive
weights) on panels of [0, 1] that are dyadic toward 0 (to 2^-61) and toward 1 (to 2^-44 in
float64, 2^-15 in float32, so that every node is a float of the dtype), and that cover the mean
+- 40 standard deviations on the real line in steps of a power of 2; each in 8. Sums are correctly
rounded (``math.fsum``) in float64 and in log space, so a tail of e^-5000 keeps its digits.
Tolerances are ``C * eps(dtype) * (1 + terms)``, ``terms`` (per example, or per parameter set)
the size of the log density's terms where the mass lies: what rounding alone costs.

Cost: the parameter sets of a class share their shapes (rows cycled), so each class is compiled
once per dtype and check, and evaluated eagerly once per dtype (all its examples together; eager,
every operation is compiled on its own); the persistent XLA cache of ``tests/conftest.py`` keeps
the compilations (the module takes ~2 minutes on 2 busy cores with an empty cache, ~40 s with it).
"""

from __future__ import annotations

import dataclasses
import functools
import math
from fractions import Fraction
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import scipy.special
import scipy.stats

import likelihoods
from likelihoods import (
  Bernoulli,
  Beta,
  Categorical,
  ContinuousBernoulli,
  DiscretizedLogistic,
  Distribution,
  Laplace,
  Normal,
  PixelPmf,
  decoders,
)
from likelihoods.discretization import FLAT_BIN
from tests import helpers

KEY = jax.random.key(0)  # threefry: the Beta's gamma sampler runs 4x faster than with rbg
LEVELS = np.arange(256)
H = 1 / 256  # an 8-bit bin's width
CENTERS = (LEVELS + 0.5) * H
PIXELS = np.array([0.0, 1e-4, H, 0.3, 0.5, 1 - 2 * H, 0.9999, 1.0])  # edge bins included
N_SAMPLES = 20_000


def eps(dtype) -> float:
  return float(np.finfo(dtype).eps)


def _np(a) -> np.ndarray:
  return np.asarray(a, np.float64)


# ------------------------------------------------------------------------------------ examples


@dataclasses.dataclass(frozen=True, eq=False)
class Example:
  """One distribution of batch shape (n,): its parameter arrays (float64 values, cast to the
  test's dtype; their rows cycled to the most rows of an example of the class, so that one
  compilation serves them all; ``shared`` names those without the batch axis), its non-array
  fields (``static``), and ``terms``: per row (or one for all), the size of log_prob's terms where
  the mass lies, beyond 1 -- what rounding alone costs, the scale of the tolerances."""

  cls: type
  name: str
  params: dict[str, Any]
  static: dict[str, Any] = dataclasses.field(default_factory=dict)
  terms: Any = 0.0
  shared: tuple[str, ...] = ()

  @property
  def id(self) -> str:
    return f"{self.cls.__name__}-{self.name}"

  @property
  def rows(self) -> int:
    return min(len(v) for k, v in self.params.items() if k not in self.shared)

  def _cycled(self, a) -> np.ndarray:
    a = _np(a)
    return a[np.arange(max(e.rows for e in EXAMPLES[self.cls])) % a.shape[0]]

  def build(self, dtype) -> Distribution:
    arrays = {
      k: jnp.asarray(_np(v) if k in self.shared else self._cycled(v), dtype)
      for k, v in self.params.items()
    }
    return self.cls(**arrays, **self.static)

  def tol(self, dtype, c: float) -> np.ndarray:
    """c eps (1 + terms), per row."""
    return c * eps(dtype) * (1 + self._cycled(np.atleast_1d(self.terms)))

  def mass_tol(self, dtype) -> np.ndarray:
    """eps max(8, 2 terms), per row: what the total mass may be off by."""
    return eps(dtype) * np.maximum(8, 2 * self._cycled(np.atleast_1d(self.terms)))


def _logit(p):
  p = _np(p)
  return np.log(p) - np.log1p(-p)


def _beta(a, b):
  """Beta parameters with pixel_eps=0, the density itself (the default evaluates it at
  clip(x, 1e-4, 1 - 1e-4)), and the rounding budget a + b + |log B(a, b)| of log p."""
  a, b = _np(a), _np(b)
  return {
    "params": {"concentration1": a, "concentration0": b},
    "static": {"pixel_eps": 0.0},
    # (at least 9: the bound of 4e-15 on the mass of the former test_beta.py)
    "terms": np.maximum(a + b + np.abs(scipy.special.betaln(a, b)), 9),
  }


def _three_components(params):
  """The same mixtures with 3 components, the last split in equal parts (its logit less log of
  the parts): one shape, one compilation, for all the discretized logistic examples."""
  parts = 4 - params["logits"].shape[-1]
  logits = np.asarray(params["logits"], np.float64)
  split = np.repeat(logits[:, -1:] - math.log(parts), parts, axis=-1)
  return {
    "logits": np.concatenate([logits[:, :-1], split], -1),
    "loc": np.concatenate([params["loc"]] + [np.asarray(params["loc"])[:, -1:]] * (parts - 1), -1),
    "log_scale": np.concatenate(
      [params["log_scale"]] + [np.asarray(params["log_scale"])[:, -1:]] * (parts - 1), -1
    ),
  }


def _dl_params(k, extreme):
  """12 mixtures of k logistics (the points of test_discretized_logistic.py): typical, or with
  log scales at the floor -8 and of 6 (flat on [0, 1]), means of +-1e3 and logits of +-1e4."""
  logits, loc, log_scale = helpers.logistic_mixture_params(np.random.default_rng(k), 12, k, extreme)
  return _three_components({"logits": logits, "loc": loc, "log_scale": log_scale})


def _categorical_logits():
  """Uniform; logits of size 1e-3, 1, 30 and 3e3 (levels e^-1e4 below the mode); one level with
  all the mass (a logit of 1e4). Terms: the logits where the mass lies (log P = logit - lse)."""
  rng = np.random.default_rng(0)
  logits = rng.normal(size=(6, 256)) * np.array([0.0, 1e-3, 1.0, 30.0, 3e3, 3.0])[:, None]
  logits[-1, 17] = 1e4
  return {"params": {"features": logits}, "terms": [0, 0, 3, 90, 0, 0]}


def _low_rank():
  """Low-rank logits: features of size 1e4, 1, 1e-30 and 1e3, a level embedding shared by the
  pixels, and a per-pixel bias of size 1e3."""
  rng = np.random.default_rng(7)
  return {
    "features": rng.normal(size=(4, 3)) * np.array([[1e4], [1.0], [1e-30], [1e3]]),
    "weight": rng.normal(size=(256, 3)),
    "bias": rng.normal(size=(4, 256)) * 1e3,
  }


_EXAMPLES = (
  Example(Bernoulli, "near_half", {"logits": [0.0, 1e-6, -1e-6, 1e-3, -1e-3, 0.5, -2.0, 2.0]}),
  Example(
    Bernoulli, "extreme", {"logits": [5.0, -13.8, 30.0, -30.0, 100.0, -100.0, 1e4, -1e4]}, terms=1e4
  ),
  # The Taylor window |logit| < 1 and both sides of its edge; lambda = 0.4999, 1/2, 0.5001.
  Example(
    ContinuousBernoulli,
    "taylor_window",
    {"logits": [0.0, 1e-30, 1e-5, -1e-3, *_logit([0.4999, 0.5001]), -0.999, 1.0, 1.001]},
  ),
  # lambda from 1e-6 to 1 - 1e-6.
  Example(
    ContinuousBernoulli,
    "lambda_range",
    {"logits": [*_logit([1e-6, 1e-3, 0.1, 0.9, 1 - 1e-6]), -2.0, 0.5, 8.0]},
  ),
  # The mass within 1e-4 of 0, and of 1.
  Example(ContinuousBernoulli, "mass_at_0", {"logits": [-30.0, -100.0, -1e4]}),
  # (x eta and softplus(eta) of 1e4 cancel: the density's terms are 1e4 where the mass lies)
  Example(ContinuousBernoulli, "mass_at_1", {"logits": [30.0, 100.0, 1e4]}, terms=1e4),
  Example(
    Normal,
    "small_scale",
    {"loc": [0.5, 0.3, 1e-6, -1e-3, 0.0], "scale": [0.0025, 1e-3, 0.3, 0.05, 1.0]},
  ),
  Example(Normal, "wide_and_far", {"loc": [-5.0, 1e4, -30.0, 0.6], "scale": [30.0, 2.0, 7.0, 0.2]}),
  # As GaussianLikelihood builds it: with log_scale (its floor -6, 0 and 3).
  Example(
    Normal,
    "log_scale",
    {"loc": [0.2, 0.7, 0.5], "scale": np.exp([-6.0, 0.0, 3.0]), "log_scale": [-6.0, 0.0, 3.0]},
  ),
  # Medians on multiples of the grid's step (the density's kink on a panel edge: ``_edges``).
  Example(
    Laplace,
    "small_scale",
    {"loc": [0.5, 0.296875, 0.0, -(2.0**-8), 0.0], "scale": [0.0025, 1e-3, 0.3, 0.05, 1.0]},
  ),
  Example(
    Laplace, "wide_and_far", {"loc": [-5.0, 1e4, -30.0, 0.625], "scale": [30.0, 2.0, 7.0, 0.2]}
  ),
  # As LaplaceLikelihood builds it: with log_scale (its floor -6, 0 and 3).
  Example(
    Laplace,
    "log_scale",
    {"loc": [0.25, 0.75, 0.5], "scale": np.exp([-6.0, 0.0, 3.0]), "log_scale": [-6.0, 0.0, 3.0]},
  ),
  Example(
    Beta,
    "moderate",
    **_beta([0.3, 0.5, 1, 0.8, 2, 50, 2.5, 0.5, 0.3], [0.5, 0.5, 1, 3, 5, 60, 0.7, 2, 0.7]),
  ),
  Example(Beta, "lopsided", **_beta([0.1, 30, 1e3, 1e4], [30, 2, 1e4, 1e3])),
  # The likelihood's floor 1e-3: most of the mass below 2^-61 or above 1 - 2^-44. (Their upper
  # tail of 1e-3 at 1/4 is the complement of the lower one: eps / 1e-3 relative, terms of 1e3.)
  Example(Beta, "tiny", **{**_beta([1e-3, 1e-3, 0.1], [1, 2, 1e-3]), "terms": 1e3}),
  # One logistic (as three equal parts), and mixtures of three.
  Example(DiscretizedLogistic, "typical_k1", _dl_params(1, False)),
  # (and the mixture of the former chi-square test of test_discretized_logistic.py)
  Example(
    DiscretizedLogistic,
    "typical_k3",
    {
      k: np.concatenate([v, [row]])
      for (k, v), row in zip(
        _dl_params(3, False).items(), ([0.3, -0.5, 1.0], [-0.02, 0.4, 0.93], [-4.0, -3.0, -5.0])
      )
    },
  ),
  Example(DiscretizedLogistic, "extreme_k1", _dl_params(1, True)),
  Example(DiscretizedLogistic, "extreme_k3", _dl_params(3, True)),
  # Logits and means of 1e4 and 1e6, log scales at the floor -8 and of 20 and 80, means on the
  # edge bins; sure of level 0, of level 255, of the two bins around 1/2.
  Example(
    DiscretizedLogistic,
    "edges",
    _three_components(
      {
        "logits": _np([[0, 1e4], [-1e4, 0], [3, -2], [0, 0], [0, 0], [30, -30], [0, 0], [0, 0]]),
        "loc": _np(
          [[0.5, -1e6], [1e6, 0.3], [-50, 51], [0, 1], [0.5, 0.5], [H, 1 - H], [-5, -5], [6, 6]]
        ),
        "log_scale": _np(
          [[-8, -8], [-8, 0], [2, -8], [-8, -8], [20, 80], [-8, -8], [-8, -8], [-8, -8]]
        ),
      }
    ),
  ),
  Example(Categorical, "logits", **_categorical_logits()),
  Example(Categorical, "low_rank", _low_rank(), shared=("weight",)),
)

# What each class declares, as its examples' author expects: (support, has_cdf). The checks
# below follow the declarations; this says they are the intended ones.
DECLARED = {
  Bernoulli: ("binary", False),
  ContinuousBernoulli: ("unit_interval", True),
  Normal: ("real", True),
  Laplace: ("real", True),
  Beta: ("unit_interval", True),
  DiscretizedLogistic: ("unit_interval", False),
  Categorical: ("unit_interval", False),
}

EXAMPLES: dict[type, tuple[Example, ...]] = {}
for _example in _EXAMPLES:
  EXAMPLES[_example.cls] = EXAMPLES.get(_example.cls, ()) + (_example,)
ALL = [pytest.param(e, id=e.id) for e in _EXAMPLES]
WITH_CDF = [pytest.param(e, id=e.id) for e in _EXAMPLES if e.cls.has_cdf]


def test_every_registered_distribution_has_examples():
  """Derived from the registry: a new likelihood's distribution class needs examples here."""
  registered = {name: likelihoods.get(name).distribution_type for name in likelihoods.available()}
  missing = {name: c for name, c in registered.items() if not EXAMPLES.get(c) or c not in DECLARED}
  assert not missing, (
    "no example of "
    + ", ".join(f"{c.__module__}.{c.__qualname__} (likelihood {n!r})" for n, c in missing.items())
    + ": add parameter sets, numerically hard ones included, to _EXAMPLES in "
    "tests/test_distribution_contract.py, and its support and has_cdf to DECLARED there (every "
    "generic check then runs on them)"
  )


def _check(what: str, err, bound, where=None):
  """err <= bound elementwise (NaN fails), naming the failing elements."""
  err, bound = np.broadcast_arrays(_np(err), _np(bound))
  bad = ~(err <= bound)
  if bad.any():
    at = "" if where is None else f" at {np.broadcast_to(where, bad.shape)[bad][:8]}"
    raise AssertionError(f"{what}: error {err[bad][:8]} above {bound[bad][:8]}{at}")


# --------------------------------------------------------------------------------- quadrature

ROMBERG_LEVELS = 6
STEPS = 2**ROMBERG_LEVELS  # steps per panel
SUBPANELS = 8  # panels per dyadic interval of [0, 1] (per 128 steps h on the real line)
RESOLVED = 0.06  # nats of log p per step below which a panel's integral is good to 1e-16


def _romberg_weights() -> np.ndarray:
  """Romberg's rule with 2^6 steps on [0, 1]: Richardson extrapolation of the trapezoid rules with
  1, 2, 4, ..., 64 steps, one linear rule in the 65 values; exact rationals, rounded once."""
  table = []
  for k in range(ROMBERG_LEVELS + 1):
    t = np.array([Fraction(0)] * (STEPS + 1))
    t[:: STEPS >> k] = Fraction(1, 2**k)
    t[0] = t[-1] = Fraction(1, 2 ** (k + 1))
    row = [t]
    for j in range(1, k + 1):
      row.append(row[j - 1] + (row[j - 1] - table[k - 1][j - 1]) / (4**j - 1))
    table.append(row)
  assert all(w > 0 for w in table[-1][-1]) and sum(table[-1][-1]) == 1
  return np.array([float(w) for w in table[-1][-1]])


LOG_ROMBERG = np.log(_romberg_weights())


def _log_sum(log_terms: np.ndarray) -> np.ndarray:
  """log sum exp over the last axis, the sum correctly rounded (math.fsum): numpy's sums over
  10^4-10^5 terms lose up to 1e-14, more than the checks allow."""
  m = np.max(log_terms, axis=-1, keepdims=True)
  m = np.where(np.isfinite(m), m, 0.0)
  flat = np.exp(log_terms - m).reshape(-1, log_terms.shape[-1])
  with np.errstate(divide="ignore"):
    return np.log([math.fsum(row) for row in flat]).reshape(m.shape[:-1]) + m[..., 0]


def _edges(d, dtype, mean, var) -> np.ndarray:
  """Panel edges [P + 1, n]: on [0, 1] dyadic toward 0 (to 2^-61) and toward 1 (to 2^-(U+1),
  U = 43 in float64 and 14 in float32: the nodes' spacing there is the dtype's), on the real line
  mean +- 40 sd in steps of 128 h from the mean rounded to a multiple of h, h a power of 2 in
  (sd/64, sd/32]; each in SUBPANELS."""
  n = d.batch_shape[0]
  if d.support == "unit_interval":
    upper = 43 if dtype == np.float64 else 14
    edges = [2.0**-k for k in range(61, 0, -1)] + [1 - 2.0**-k for k in range(2, upper + 2)]
    edges = np.array(edges)[:, None] * np.ones(n)
  else:
    # Centred on the mean rounded to a multiple of h, so that a kink there (a Laplace's median)
    # is a panel edge when the mean is such a multiple (the examples' are).
    s = np.sqrt(var)
    h = 2.0 ** np.floor(np.log2(s / 32))
    edges = np.round(mean / h) * h + (np.arange(43)[:, None] - 21) * 128 * h
    assert np.all(edges[0] <= mean - 40 * s) and np.all(edges[-1] >= mean + 40 * s)
  step = (edges[1:] - edges[:-1])[:, None] / SUBPANELS
  fine = edges[:-1, None] + step * np.arange(SUBPANELS)[:, None]
  return np.concatenate([fine.reshape(-1, n), edges[-1:]])


@dataclasses.dataclass
class Integrals:
  """What quadrature says about a continuous distribution, per batch element, in float64."""

  edges: np.ndarray  # [P + 1, n]: the panel edges
  log_mass: np.ndarray  # log of the total mass (0)
  log_cdf: np.ndarray  # [P + 1, n]: log P(X <= edge), of the total mass
  log_sf: np.ndarray  # [P + 1, n]: log P(X > edge)
  resolved: np.ndarray  # [P + 1, n]: whether log_cdf and log_sf at the edge are good to 1e-16
  mean: np.ndarray
  variance: np.ndarray
  fourth: np.ndarray  # the fourth central moment
  slack: tuple[np.ndarray, np.ndarray]  # what the tails beyond the grid may add to mean, variance


def _integrals(d, edges, log_p, log_lo, log_hi) -> Integrals:
  """Composite Romberg on the panels between ``edges`` from log p at their nodes [P * 65, n],
  plus the mass beyond them, log_lo and log_hi (from the distribution's own tails)."""
  n = edges.shape[1]
  lo, hi = edges[:-1].T[:, :, None], edges[1:].T[:, :, None]  # [n, P, 1]
  x = lo + (hi - lo) * np.arange(STEPS + 1) / STEPS  # [n, P, 65]
  log_p = log_p.T.reshape(x.shape)
  terms = LOG_ROMBERG + np.log(hi - lo) + log_p
  panels = _log_sum(terms)  # [n, P]
  # A panel is resolved where log p changes by under RESOLVED per step (Romberg on e^(-r j): 2e-17
  # relative at r = 0.06, 2e-13 at 0.1, 4e-8 at 0.3): a tail far from the mass (e^-2500 at 1/4
  # for a logit of -1e4) is not, on this grid; its log_cdf / log_sf are not compared.
  with np.errstate(invalid="ignore"):
    step = np.abs(np.diff(log_p, axis=-1))
  step = np.where(np.isneginf(log_p[..., 1:]) & np.isneginf(log_p[..., :-1]), 0.0, step)
  coarse = np.max(np.nan_to_num(step, nan=np.inf), axis=-1) > RESOLVED
  unresolved = np.where(coarse, panels, -np.inf)
  none = np.full((n, 1), -np.inf)
  log_mass = _log_sum(np.concatenate([log_lo[:, None], panels, log_hi[:, None]], axis=1))
  log_cdf = np.logaddexp.accumulate(np.concatenate([log_lo[:, None], panels], 1), axis=1)
  log_sf = np.logaddexp.accumulate(np.concatenate([log_hi[:, None], panels[:, ::-1]], 1), 1)
  log_sf = log_sf[:, ::-1]
  bad_cdf = np.logaddexp.accumulate(np.concatenate([none, unresolved], 1), axis=1)
  bad_sf = np.logaddexp.accumulate(np.concatenate([none, unresolved[:, ::-1]], 1), 1)[:, ::-1]
  resolved = (bad_cdf - log_cdf < math.log(1e-17)) & (bad_sf - log_sf < math.log(1e-17))
  # The moments of the normalized density (the mass's own rounding is the normalization check's),
  # with the tails' mass at the grid's ends, and bounds on what that misplaces.
  w = np.exp(terms - log_mass[:, None, None])
  tail_lo, tail_hi = np.exp(log_lo - log_mass), np.exp(log_hi - log_mass)
  lo, hi = edges[0], edges[-1]
  mean = np.array([math.fsum(v) for v in (w * x).reshape(n, -1)]) + tail_lo * lo + tail_hi * hi
  dev = (w * (x - mean[:, None, None]) ** 2).reshape(n, -1)
  var = np.array([math.fsum(v) for v in dev]) + tail_lo * (lo - mean) ** 2
  var = var + tail_hi * (hi - mean) ** 2
  fourth = np.array([math.fsum(v) for v in (w * (x - mean[:, None, None]) ** 4).reshape(n, -1)])
  fourth = fourth + tail_lo * (lo - mean) ** 4 + tail_hi * (hi - mean) ** 4
  ends = (0.0, 1.0) if d.support == "unit_interval" else (lo, hi)  # (real: e^-800 beyond)
  slack_mean = tail_lo * np.abs(lo - ends[0]) + tail_hi * np.abs(ends[1] - hi)
  slack_var = tail_lo * np.abs((ends[0] - mean) ** 2 - (lo - mean) ** 2)
  slack_var = slack_var + tail_hi * np.abs((ends[1] - mean) ** 2 - (hi - mean) ** 2)
  return Integrals(
    edges=edges,
    log_mass=log_mass,
    log_cdf=log_cdf.T - log_mass,
    log_sf=log_sf.T - log_mass,
    resolved=resolved.T,
    mean=mean,
    variance=var,
    fourth=fourth,
    slack=(slack_mean, slack_var),
  )


# ------------------------------------------------------------------------------ evaluation


@jax.jit
def _moments(d):
  return d.mean(), d.variance(), d.stddev()


@jax.jit
def _evaluate(d, points, tail_points, tail_upper, cdf_points):
  """Everything the deterministic checks read, in one compilation per class and dtype: log_prob
  at ``points`` [M, n], log_tail at ``tail_points`` [K, n], the tails and cdf at ``cdf_points``,
  and the 8-bit pmf."""
  out = {"log_prob": d.log_prob(points)}
  if d.has_cdf:
    out["log_tail"] = d.log_tail(tail_points, tail_upper)
    out["log_cdf"] = d.log_cdf(cdf_points)
    out["log_survival"] = d.log_survival(cdf_points)
    out["cdf"] = d.cdf(cdf_points)
  if d.has_pmf_8bit():
    out["log_prob_8bit"] = d.log_prob_8bit(jnp.asarray(LEVELS[:, None]))
  if isinstance(d, PixelPmf):
    out["probs_8bit"] = d.probs_8bit()
  return out


@dataclasses.dataclass
class Values:
  """An example's values (float64) and what quadrature or summation says they should be."""

  mean: np.ndarray
  variance: np.ndarray
  stddev: np.ndarray
  dtypes: tuple  # of mean, variance, stddev
  binary_pmf: np.ndarray | None = None  # [2, n]: p(0), p(1)
  centers_density: np.ndarray | None = None  # [256, n]: p at the bin centers (8-bit pmfs)
  pmf_8bit: np.ndarray | None = None  # [256, n]: exp(log_prob_8bit)
  probs_8bit: np.ndarray | None = None  # [256, n]
  integrals: Integrals | None = None
  midpoint_allowance: np.ndarray | None = None
  cdf_edges: np.ndarray | None = None  # [E, n]: the dyadic edges (every SUBPANELS-th)
  log_cdf: np.ndarray | None = None  # at cdf_edges
  log_survival: np.ndarray | None = None
  cdf: np.ndarray | None = None
  log_tail_edges: np.ndarray | None = None  # [2, E, n]: upper False, True
  log_tail_far: np.ndarray | None = None  # [2, F, n]: far beyond the grid
  far: np.ndarray | None = None
  atoms: np.ndarray | None = None  # [n]: mass the dtype holds only as atoms at 0 or 1 (> 1e-6)


@functools.lru_cache(maxsize=None)
def _values(example: Example, dtype) -> Values:
  d = example.build(dtype)
  n = d.batch_shape[0]
  moments = _moments(d)
  mean, var, sd = (_np(m) for m in moments)
  v = Values(mean, var, sd, tuple(m.dtype for m in moments))
  ones = np.ones(n)
  points, tails, uppers = [], [], []  # blocks of [rows, n]

  def take(blocks, rows):
    blocks.append(np.asarray(rows, np.float64)[:, None] * ones if np.ndim(rows) == 1 else rows)
    return sum(len(b) for b in blocks[:-1]), len(blocks[-1])

  def tail(rows, upper):
    at = take(tails, rows)
    uppers.append(np.broadcast_to(upper, tails[-1].shape))
    return at

  grid = allowance = edges_at = far_at = atoms_at = None
  if d.support == "binary":
    binary = take(points, [0.0, 1.0])
  elif isinstance(d, PixelPmf):
    centers = take(points, CENTERS)
  else:
    edges = _edges(d, dtype, mean, var)
    x = (
      edges[:-1, None] + (edges[1:] - edges[:-1])[:, None] * (np.arange(STEPS + 1) / STEPS)[:, None]
    )
    assert np.array_equal(np.asarray(x, dtype).astype(np.float64), x), "nodes must be exact"
    grid = take(points, x.reshape(-1, n))
    ends = tail(edges[:1], False), tail(edges[-1:], True)
  if d.has_cdf:
    bin_edges = np.arange(257) * H
    allowance = take(points, np.concatenate([bin_edges, CENTERS]))
    upper = CENTERS[:, None] > mean
    near = np.where(upper, bin_edges[1:, None], bin_edges[:-1, None]) * ones
    far_edge = np.where(upper, bin_edges[:-1, None], bin_edges[1:, None]) * ones
    near_at, far_edge_at = tail(near, upper), tail(far_edge, upper)
    cdf_edges = edges[SUBPANELS:-1:SUBPANELS]
    edges_at = tail(cdf_edges, False), tail(cdf_edges, True)
    if d.support == "unit_interval":
      far = np.array([1e-30, 2.0**-70, 1 - 2.0**-20])[:, None] * ones
    else:
      far = mean + sd * np.array([-1e3, -60.0, 60.0, 1e3])[:, None]
    far_at = tail(far, False), tail(far, True)
    atoms_at = tail([np.finfo(dtype).tiny], False), tail([1 - eps(dtype) / 2], True)
  cast = lambda blocks: jnp.asarray(np.concatenate(blocks), dtype) if blocks else None  # noqa: E731
  out = _evaluate(
    d,
    cast(points),
    cast(tails),
    jnp.asarray(np.concatenate(uppers)) if uppers else None,
    jnp.asarray(cdf_edges, dtype) if d.has_cdf else None,
  )
  out = {k: _np(a) for k, a in out.items()}
  rows = lambda key, at: out[key][at[0] : at[0] + at[1]]  # noqa: E731
  if d.support == "binary":
    v.binary_pmf = np.exp(rows("log_prob", binary))
  elif isinstance(d, PixelPmf):
    v.centers_density = np.exp(rows("log_prob", centers))
    v.probs_8bit = out["probs_8bit"].T
  if d.has_pmf_8bit():
    v.pmf_8bit = np.exp(out["log_prob_8bit"])
  if grid is not None:
    log_lo, log_hi = (rows("log_tail", e)[0] for e in ends) if d.has_cdf else (-np.inf * ones,) * 2
    v.integrals = _integrals(d, edges, rows("log_prob", grid), log_lo, log_hi)
  if d.has_cdf:
    f = np.exp(rows("log_prob", allowance))
    error = np.abs(f[:256] - 2 * f[257:] + f[1:257]) * H / 6  # h^3 p'' / 24, p'' by differences
    flat = rows("log_tail", near_at) - rows("log_tail", far_edge_at) > -2 * FLAT_BIN
    v.midpoint_allowance = 2 * np.sum(np.where(flat & np.isfinite(error), error, 0.0), axis=0)
    v.cdf_edges, v.log_cdf, v.log_survival, v.cdf = (
      cdf_edges,
      out["log_cdf"],
      out["log_survival"],
      out["cdf"],
    )
    v.log_tail_edges = np.stack([rows("log_tail", e) for e in edges_at])
    v.far, v.log_tail_far = far, np.stack([rows("log_tail", e) for e in far_at])
    v.atoms = np.zeros(n, bool)
    if d.support == "unit_interval":
      v.atoms = np.maximum(*(rows("log_tail", e)[0] for e in atoms_at)) > math.log(1e-6)
  return v


# ------------------------------------------------------------------------- declared properties


@pytest.mark.parametrize("cls", list(EXAMPLES), ids=lambda c: c.__name__)
def test_declared_properties_agree(cls):
  assert issubclass(cls, Distribution)
  assert (cls.support, cls.has_cdf) == DECLARED[cls]
  assert cls.support in ("binary", "unit_interval", "real"), cls.support
  assert cls.is_density() == (cls.support != "binary")
  # An 8-bit pmf needs a continuous cdf to discretize, or is the distribution itself.
  assert cls.has_pmf_8bit() == (cls.has_cdf or issubclass(cls, PixelPmf))
  if issubclass(cls, PixelPmf):
    assert cls.support == "unit_interval" and not cls.has_cdf
  d = EXAMPLES[cls][0].build(np.float32)
  if cls.is_density():
    assert d.as_density() is d and cls.readings == {}
  else:  # a non-density names the densities it is read as
    assert d.as_density().is_density() and cls.stand_in != Distribution.stand_in
    for name in cls.readings:
      assert d.reading(name).is_density()
  if not cls.has_pmf_8bit():
    with pytest.raises(NotImplementedError, match="no 8-bit pmf"):
      d.log_prob_8bit(jnp.zeros(d.batch_shape, jnp.int32))


# ------------------------------------------------------------------------------ normalization


@pytest.mark.parametrize("example", ALL)
def test_normalized(example, dtype):
  """The density integrates to 1 over its support (a binary pmf sums to 1 over {0, 1}), and
  every 8-bit pmf sums to 1 over the 256 levels."""
  v = _values(example, dtype)
  if v.binary_pmf is not None:
    _check("sum over {0, 1}", np.abs(v.binary_pmf.sum(0) - 1), example.mass_tol(dtype))
  elif v.centers_density is not None:
    # The piecewise-constant density 256 P(floor(256 x)): one node per bin is exact.
    _check("integral", np.abs(H * v.centers_density.sum(0) - 1), example.mass_tol(dtype))
    # The linear-space pmf (moments, sampling) is the same, relative to the rounding of log P
    # (but below 1e8 tiny: 2e-300 in float64).
    log_pmf = np.log(np.maximum(v.pmf_8bit, 1e-300))
    bound = example.tol(dtype, 16) * (1 + np.abs(log_pmf)) * v.pmf_8bit + 1e8 * np.finfo(dtype).tiny
    _check("probs_8bit", np.abs(v.probs_8bit - v.pmf_8bit), bound)
  else:
    _check("integral", np.abs(np.expm1(v.integrals.log_mass)), example.mass_tol(dtype))
  if v.pmf_8bit is not None:
    bound = example.mass_tol(dtype) * 2
    if v.midpoint_allowance is not None:
      bound = bound + v.midpoint_allowance
    _check("sum of the 8-bit pmf", np.abs(v.pmf_8bit.sum(0) - 1), bound)


# --------------------------------------------------------------------------- cdf and the tails


@pytest.mark.parametrize("example", WITH_CDF)
def test_cdf_and_both_tails_against_the_integral_of_the_density(example, dtype):
  """At the dyadic panel edges: log_cdf and log_survival against the integral of the density,
  relative however deep in the tail, where the grid resolves it; cdf absolute; log_tail is the one
  or the other; both tails finite and not positive far beyond the grid."""
  v = _values(example, dtype)
  q, edges = v.integrals, v.cdf_edges
  coarse = slice(SUBPANELS, -1, SUBPANELS)
  want_cdf, want_sf, resolved = q.log_cdf[coarse], q.log_sf[coarse], q.resolved[coarse]
  tol = example.tol(dtype, 64)
  # Relative (the terms' rounding, and the log's own), the upper tail where 1 - x is exact: for
  # x < eps / 2, 1 - x == 1 and the reflection X -> 1 - X sees P(X > 0) = 1, off by P(X <= x).
  exact = (1 - np.asarray(1 - edges, dtype).astype(np.float64)) == edges
  err_cdf = np.where(resolved, np.abs(v.log_cdf - want_cdf), 0)
  err_sf = np.where(resolved & exact, np.abs(v.log_survival - want_sf), 0)
  _check("log_cdf", err_cdf, tol * (1 + np.abs(want_cdf)), edges)
  _check("log_survival", err_sf, tol * (1 + np.abs(want_sf)), edges)
  _check("cdf", np.abs(v.cdf - np.exp(want_cdf)), tol, edges)
  both = np.stack([v.log_cdf, v.log_survival])
  _check("log_tail", _difference(v.log_tail_edges, both), 4 * eps(dtype) * (1 + np.abs(both)))
  t = v.log_tail_far
  assert np.all(np.isfinite(t)) and np.all(t <= 0), (v.far, t)


# ----------------------------------------------------------------------------------- moments


@pytest.mark.parametrize("example", ALL)
def test_mean_and_variance_against_the_density(example, dtype):
  v = _values(example, dtype)
  assert v.dtypes == (dtype,) * 3
  _check("stddev", np.abs(v.stddev - np.sqrt(v.variance)), 2 * eps(dtype) * np.sqrt(v.variance))
  slack = (0.0, 0.0)
  if v.binary_pmf is not None:
    p = v.binary_pmf / v.binary_pmf.sum(0)
    want_mean, want_var = p[1], p[0] * p[1]
    tol = example.tol(dtype, 4)
  elif v.pmf_8bit is not None and v.integrals is None:  # exact: a piecewise-constant density
    p = v.pmf_8bit / v.pmf_8bit.sum(0)
    want_mean = np.sum(p * CENTERS[:, None], 0)
    want_var = np.sum(p * (CENTERS[:, None] - want_mean) ** 2, 0) + H**2 / 12
    tol = example.tol(dtype, 16)
  else:
    q = v.integrals
    want_mean, want_var, slack = q.mean, q.variance, q.slack
    tol = example.tol(dtype, 16)
  tiny = np.finfo(dtype).tiny  # (subnormal results have fewer digits)
  mean_bound = tol * (np.abs(want_mean) + np.sqrt(want_var)) + slack[0] + tiny
  _check("mean", np.abs(v.mean - want_mean), mean_bound)
  _check("variance", np.abs(v.variance - want_var), tol * want_var + slack[1] + tiny)


# ---------------------------------------------------------------------------------- sampling


@jax.jit
def _sample(d, key):
  samples = d.sample(key, (N_SAMPLES,))
  return samples, (d.cdf(samples) if d.has_cdf else None)


@pytest.mark.parametrize("example", ALL)
def test_samples(example, dtype):
  """In the support, with the mean and the variance (5 standard errors); and the distribution:
  Kolmogorov-Smirnov against the own cdf (where the dtype holds no mass as atoms at 0 or 1),
  chi-square against the own 8-bit pmf (binary: the mean's z is that test)."""
  d = example.build(dtype)
  v = _values(example, dtype)
  samples, own_cdf = _sample(d, KEY)
  assert samples.dtype == dtype and samples.shape == (N_SAMPLES,) + d.batch_shape
  s = _np(samples)
  if d.support == "binary":
    assert np.all((s == 0) | (s == 1))
  elif d.support == "unit_interval":
    assert np.all((s >= 0) & (s <= 1))
    assert not isinstance(d, PixelPmf) or np.all(s < 1)  # (k + u) / 256 with u < 1
  else:
    assert np.all(np.isfinite(s))
  mean, var = v.mean, v.variance
  z_mean = (s.mean(0) - mean) / np.sqrt(np.maximum(var, 1e-300) / N_SAMPLES)
  _check("z of the sample mean", np.abs(z_mean), 5.0)
  if d.support != "binary":  # (a binary variable's variance is its mean's function)
    # Var(sample variance) = (mu4 - var^2) / n to first order: 0 for a symmetric two-point
    # distribution (half the mass in each edge bin), where it is ~2 var^2 / n^2.
    # where the sample variance is near normal: a kurtosis under n / 100 (a pixel nearly sure of
    # one level draws its other levels a few times in 20,000: their count is Poisson).
    fourth = _fourth_moment(v)
    spread = np.maximum(fourth - var**2, 2 * var**2 / N_SAMPLES) / N_SAMPLES
    z_var = (s.var(0) - var) / np.sqrt(np.maximum(spread, 1e-300))
    normal = fourth <= var**2 * N_SAMPLES / 100
    _check("z of the sample variance", np.where(normal, np.abs(z_var), 0), 5.0)
  if isinstance(d, PixelPmf):
    _chi_square_against_the_pmf(np.floor(s * 256).astype(int), v.pmf_8bit)
  elif own_cdf is not None:
    own = _np(own_cdf)  # column j: the cdf of element j at its samples
    pvalues = np.array([_ks_pvalue(np.sort(own[:, j])) for j in np.flatnonzero(~v.atoms)])
    _check("1e-3 / Kolmogorov-Smirnov p-value", 1e-3 / pvalues, 1.0)


def _fourth_moment(v: Values) -> np.ndarray:
  """E (X - mean)^4 from the density (quadrature, or the 8-bit pmf with a uniform in each bin)."""
  if v.integrals is not None:
    return v.integrals.fourth
  p = v.pmf_8bit / v.pmf_8bit.sum(0)
  d = CENTERS[:, None] - v.mean
  return np.sum(p * (d**4 + d**2 * H**2 / 2 + H**4 / 80), 0)


def _ks_pvalue(cdf_sorted) -> float:
  """Kolmogorov-Smirnov p-value of samples whose own cdf values, sorted, are ``cdf_sorted``."""
  n = cdf_sorted.size
  i = np.arange(1, n + 1)
  stat = max(np.max(i / n - cdf_sorted), np.max(cdf_sorted - (i - 1) / n))
  return float(scipy.stats.kstwo.sf(stat, n))


def _chi_square_against_the_pmf(levels, pmf):
  pvalues = []
  for j in range(levels.shape[1]):
    counts = np.bincount(levels[:, j], minlength=256)
    expected = N_SAMPLES * pmf[:, j]
    never = expected < 1e-100
    assert not np.any(counts[never]), (j, np.flatnonzero(counts * never))
    # 5 expected counts per cell: the levels with fewer are one cell, merged into the smallest
    # other if it still has fewer.
    big = expected >= 5
    obs, exp = counts[big], expected[big]
    if expected[~big].sum() >= 5:
      obs, exp = np.append(obs, counts[~big].sum()), np.append(exp, expected[~big].sum())
    else:
      obs[np.argmin(exp)] += counts[~big].sum()
      exp[np.argmin(exp)] += expected[~big].sum()
    if obs.size > 1:
      pvalues.append(scipy.stats.chisquare(obs, exp * obs.sum() / exp.sum()).pvalue)
  _check("1e-3 / chi-square p-value", 1e-3 / np.array(pvalues), 1.0)


# --------------------------------------------------------------------------------- gradients


@jax.jit
def _log_prob_and_grads(d, xs):
  log_p = jax.vmap(d.log_prob)(xs[:, None])  # [pixels, n]
  grad = jax.grad(lambda d, x: jnp.sum(d.log_prob(x)))
  return log_p, jax.vmap(grad, in_axes=(None, 0))(d, xs)


@pytest.mark.parametrize("example", ALL)
def test_gradients_wrt_the_parameters_are_finite(example, dtype):
  """d log_prob(x) / d parameters at pixels from 0 to 1 (the edge bins included): finite
  wherever log_prob is, and log_prob finite inside (0, 1)."""
  d = example.build(dtype)
  log_p, grads = _log_prob_and_grads(d, jnp.asarray(PIXELS, dtype))
  log_p = _np(log_p)
  assert np.all(np.isfinite(log_p[(PIXELS > 0) & (PIXELS < 1)])), log_p
  finite = np.all(np.isfinite(log_p), axis=1)
  for path, leaf in jax.tree_util.tree_leaves_with_path(grads):
    leaf = _np(leaf)[finite]
    assert np.all(np.isfinite(leaf)), (jax.tree_util.keystr(path), PIXELS[finite], leaf)


# Raw decoder outputs: all of a pixel's outputs at one value, or alternating in sign, or normal
# noise; 0, +-1e-3, +-30, +-1e4 and +-1e6 reach every parameter's extremes (logits, means, log
# scales, concentrations, level features).
RAW_VALUES = (0.0, 1e-3, -1e-3, 30.0, -30.0, 1e4, -1e4, 1e6, -1e6)


def _raw_outputs(outputs, dtype):
  rng = np.random.default_rng(0)
  alternating = (-1.0) ** np.arange(outputs)
  rows = [np.full(outputs, v) for v in RAW_VALUES] + [v * alternating for v in RAW_VALUES[1:]]
  rows += [rng.normal(size=outputs) * 3 for _ in range(4 - len(rows) % 4)]
  return jnp.asarray(np.stack(rows).reshape(-1, 2, 2, outputs), dtype)  # [images, 2, 2, outputs]


def _modules() -> dict[str, likelihoods.Likelihood]:
  """Every named decoder, and every registered likelihood with its defaults (the table names
  them all; a new one counts before it is in the table)."""
  built = {name: decoders.get(name).build() for name in decoders.names()}
  for name in likelihoods.available():
    built.setdefault(f"{name}_defaults", likelihoods.get(name))
  return built


@pytest.mark.parametrize("decoder", sorted(_modules()))
def test_module_gradients_at_extreme_raw_outputs_are_finite(decoder, dtype):
  """Through the likelihood module (train=False): log_prob at pixels from 0 to 1 and its gradient
  with respect to the raw decoder outputs, at raw outputs from -1e6 to 1e6, finite."""
  lik = _modules()[decoder]
  raw = _raw_outputs(lik.outputs_per_pixel(), dtype)
  x = jnp.asarray(np.resize(PIXELS, raw.shape[:-1]), dtype)
  variables = lik.init(jax.random.PRNGKey(0), raw, x, method=type(lik).distribution)

  def total(raw):
    d = lik.apply(variables, raw, x, method=type(lik).distribution)
    return jnp.sum(d.log_prob(x)), d

  (value, d), grad = jax.jit(jax.value_and_grad(total, has_aux=True))(raw)
  assert type(d) is lik.distribution_type
  assert grad.dtype == dtype and np.isfinite(float(value)), float(value)
  bad = ~np.isfinite(_np(grad))
  assert not bad.any(), _np(raw)[bad.any(-1)]


# ------------------------------------------------------------------------------ jit and vmap


def _everything(d, x, key):
  """What the API computes, at pixels x [pixels, n]."""
  out = {"log_prob": d.log_prob(x), "mean": d.mean(), "variance": d.variance()}
  if d.has_cdf:
    out["cdf"] = d.cdf(x)
    out["log_tail"] = d.log_tail(x, x > 0.5)
  if d.has_pmf_8bit():
    out["log_prob_8bit"] = d.log_prob_8bit(jnp.floor(x * 255).astype(jnp.int32))
  out["sample"] = d.sample(key, (2,))
  return out


# jit of vmap over two copies of the distribution and the pixels (one compilation for both).
_everything_jit_vmap = jax.jit(jax.vmap(_everything, in_axes=(0, 0, None)))


def _groups() -> dict[str, list[Example]]:
  """The examples of a class with the same parameter arrays: their rows make one distribution
  (one eager evaluation per class and dtype: eager, every operation is compiled on its own)."""
  groups = {}
  for e in _EXAMPLES:
    groups.setdefault((e.cls, tuple(sorted(e.params))), []).append(e)
  return {
    e[0].cls.__name__
    + ("" if len(e) == len(EXAMPLES[e[0].cls]) else "-" + "+".join(x.name for x in e)): e
    for e in groups.values()
  }


GROUPS = _groups()


@pytest.mark.parametrize("group", sorted(GROUPS))
def test_jit_and_vmap_give_the_eager_values(group, dtype):
  """Eager evaluation against jit of vmap over two copies (each copy is the distribution; the key
  is shared, so each copy draws the eager samples), on every example of the class at once. (Every
  other check runs jitted.)"""
  examples = GROUPS[group]
  built = [e.build(dtype) for e in examples]
  d = jax.tree.map(lambda *a: jnp.concatenate(a) if len(a) > 1 else a[0], *built)
  tol = np.concatenate([e.tol(dtype, 16) for e in examples])  # (fused, XLA may round otherwise)
  x = jnp.asarray(np.broadcast_to(PIXELS[:, None], (PIXELS.size,) + d.batch_shape), dtype)
  eager = _everything(d, x, KEY)
  pair = jax.tree.map(lambda a: jnp.stack([a, a]), (d, x))
  mapped = _everything_jit_vmap(*pair, KEY)
  for name, want in eager.items():
    assert want.dtype == dtype and mapped[name].dtype == dtype, name
    want = _np(want)
    for copy in _np(mapped[name]):
      _check(f"jit of vmap: {name}", _difference(copy, want), tol * (1 + np.abs(want)))


def _difference(a, b):
  """|a - b|, 0 where they are equal (infinities included)."""
  with np.errstate(invalid="ignore"):
    return np.where(a == b, 0.0, np.abs(a - b))
