"""The CB paper code's approximate inverse mean map (``lambda_from_mean_knots``, the Bernoulli's
reading ``cb_mean_knots``) against an independent re-derivation of its construction (knots from
the closed-form CB mean in mpmath, interpolated by ``np.interp``), its measured departure from the
exact map (``logits_from_mean``), its edges and gradients; the measures and the reproduction rows
that pick it up.

The construction (cunningham-lab/cb_and_cc, cb/utils.py): lambda knots ``np.linspace(0, 1 + 1e-4,
100)``, mean knots their CB means in float64 (lambda itself at the end knots 0 and 1.0001), both
rounded to float32; lambda interpolated linearly as a function of the mean, 0 outside the knots.
"""

from __future__ import annotations

import types

import jax
import jax.numpy as jnp
import mpmath
import numpy as np
import pytest

import likelihoods.continuous_bernoulli as cb
from experiments.configs import reproduce
from likelihoods import Bernoulli, ContinuousBernoulli
from vae.evaluation import measures
from vae.study import reproduction

KNOTS_ROW = (
  "B VAE, ELBO under the CB likelihood, inverse-mean map (the paper code's 100-knot interpolation)"
)
EXACT_ROW = "B VAE, ELBO under the CB likelihood, inverse-mean map"
CLIP = 1e-4  # the paper's lambda clip


def _reference_knots() -> tuple[np.ndarray, np.ndarray]:
  """(lambda knots, mean knots) re-derived: mpmath's CB mean mu(l) = l / (2l - 1) + 1 / (2 artanh(1
  - 2l)) at 50 digits, at the float64 grid, both rounded to float32."""
  mpmath.mp.dps = 50
  lam = np.linspace(0.0, 1.0001, 100)
  mean = []
  for v in lam:
    if 0 < v < 1:
      x = mpmath.mpf(float(v))
      mean.append(float(x / (2 * x - 1) + 1 / (2 * mpmath.atanh(1 - 2 * x))))
    else:
      mean.append(float(v))
  return lam.astype(np.float32), np.array(mean).astype(np.float32)


REF_LAMBDA, REF_MEAN = _reference_knots()


def _reference_map(m) -> np.ndarray:
  """np.interp on the reference knots, 0 outside [m_0, m_99) (in float64)."""
  m = np.asarray(m, np.float64)
  lam = np.interp(m, REF_MEAN.astype(np.float64), REF_LAMBDA.astype(np.float64))
  return np.where((m >= REF_MEAN[0]) & (m < REF_MEAN[-1]), lam, 0.0)


def _grid() -> np.ndarray:
  """40,000 means in (0, 1), geometrically spaced toward both ends (the docstring's grid)."""
  side = np.geomspace(1e-8, 0.5, 20000, endpoint=False)
  return np.concatenate([side, 1 - np.geomspace(1e-8, 0.5, 20000)[::-1]])


def _logit(lam):
  return np.log(lam) - np.log1p(-lam)


@pytest.fixture
def x64():
  with jax.enable_x64(True):
    yield


# --------------------------------------------------------------------------- the construction


def test_knots_are_the_paper_codes():
  # 100 knots in lambda, uniform on [0, 1.0001]; the end knots are (0, 0) and (1.0001, 1.0001)
  assert cb.KNOTS_LAMBDA.dtype == cb.KNOTS_MEAN.dtype == np.float32
  assert cb.KNOTS_LAMBDA.shape == cb.KNOTS_MEAN.shape == (100,)
  np.testing.assert_array_equal(cb.KNOTS_LAMBDA, REF_LAMBDA)
  np.testing.assert_array_equal(cb.KNOTS_MEAN, REF_MEAN)
  assert cb.KNOTS_MEAN[0] == 0 and cb.KNOTS_MEAN[-1] == np.float32(1.0001)
  assert np.all(np.diff(cb.KNOTS_MEAN) > 0)
  # the outer segments: means [0, 0.2078] <- lambda [0, 0.0101]; [0.7926, 1.0001] <- [0.99, 1.0001]
  np.testing.assert_allclose(cb.KNOTS_MEAN[[1, 98]], [0.2077985, 0.7925743], rtol=1e-6)
  np.testing.assert_allclose(cb.KNOTS_LAMBDA[[1, 98]], [1.0001 / 99, 98 * 1.0001 / 99], rtol=1e-7)


def test_map_matches_np_interp_on_the_reference_knots(x64):
  m = np.concatenate([_grid(), np.linspace(-0.1, 1.1, 12001)])
  got = np.asarray(cb.lambda_from_mean_knots(jnp.asarray(m)))
  assert got.dtype == np.float64
  np.testing.assert_allclose(got, _reference_map(m), rtol=0, atol=1e-15)


def test_float32_map_matches_the_reference_and_the_right_knot_line_form():
  m = np.linspace(0.0, 1.0, 100001, dtype=np.float32)
  got = np.asarray(jax.jit(cb.lambda_from_mean_knots)(jnp.asarray(m)))
  assert got.dtype == np.float32
  np.testing.assert_allclose(got, _reference_map(m), rtol=0, atol=3e-7)
  # the paper code evaluates segment i as lambda = m / s_i + (lambda_{i+1} - m_{i+1} / s_i), s_i
  # its slope in (lambda, mean), in float32, the segment chosen by m_i <= m < m_{i+1}
  lam, mean = REF_LAMBDA, REF_MEAN
  s = (mean[1:] - mean[:-1]) / (lam[1:] - lam[:-1])
  i = np.clip(np.searchsorted(mean, m, side="right") - 1, 0, 98)
  theirs = m * (np.float32(1) / s[i]) + (-(mean[i + 1] - s[i] * lam[i + 1]) / s[i])
  assert theirs.dtype == np.float32
  np.testing.assert_allclose(got, theirs, rtol=0, atol=3e-7)


# ------------------------------------------------------------------- departure from the exact map


def test_departure_from_the_exact_map_is_what_the_docstring_states(x64):
  m = _grid()
  knots = np.asarray(cb.lambda_from_mean_knots(jnp.asarray(m)))
  exact = np.asarray(jax.nn.sigmoid(cb.logits_from_mean(jnp.asarray(m))))
  err = knots - exact
  worst = np.argmax(np.abs(err))
  assert 0.0059 < abs(err[worst]) <= 0.0060 and 0.142 < m[worst] < 0.144
  valid = (knots > 0) & (knots < 1)
  mean_of_knots = np.asarray(cb.mean_from_logits(jnp.asarray(_logit(knots[valid]))))
  mean_err = mean_of_knots - m[valid]
  assert 0.123 < mean_err.max() <= 0.124  # small means pushed up (at m = 0.020)
  assert -0.122 <= mean_err.min() < -0.121  # large means pushed down (at m = 0.978)
  inner = (m >= cb.KNOTS_MEAN[1]) & (m <= cb.KNOTS_MEAN[98])
  assert np.abs(err[inner]).max() <= 6.3e-4
  assert np.abs(mean_err[inner[valid]]).max() <= 1.8e-3
  # lambda > 1 above m = 0.99805 (the grid runs to 1.0001), never below 0 in (0, 1)
  assert 0.9980 < m[knots > 1].min() < 0.9981 and knots.min() > 0
  # with the paper's clip before and after the map both means lie in [0.1085, 0.8915]
  bound = np.log1p(-CLIP) - np.log(CLIP)
  probs = m[(m >= CLIP) & (m <= 1 - CLIP)]

  def clipped_mean(logits_fn):
    logits = jnp.clip(logits_fn(jnp.asarray(probs)), -bound, bound)
    return np.asarray(cb.mean_from_logits(logits))

  diff = clipped_mean(cb.logits_from_mean_knots) - clipped_mean(cb.logits_from_mean)
  assert 0.076 < np.abs(diff).max() <= 0.078


def test_monotone_nondecreasing_and_strictly_inside(x64):
  m = np.linspace(0.0, 1.0001, 200001)[:-1]
  lam = np.asarray(cb.lambda_from_mean_knots(jnp.asarray(m)))
  assert np.all(np.diff(lam) > 0)
  m32 = np.linspace(0.0, 1.0, 100001, dtype=np.float32)
  lam32 = np.asarray(cb.lambda_from_mean_knots(jnp.asarray(m32)))
  assert np.all(np.diff(lam32) >= 0)


# ----------------------------------------------------------------------------------- the edges


def test_edges(x64):
  f = lambda v: float(cb.lambda_from_mean_knots(jnp.float64(v)))  # noqa: E731
  assert f(0.0) == 0.0 and f(-0.1) == 0.0 and f(1.5) == 0.0
  assert f(float(np.float32(1.0001))) == 0.0  # the last knot is outside (m < m_99)
  assert np.isnan(f(np.nan))
  # near 0: the line through the origin and the first interior knot
  slope0 = float(cb.KNOTS_LAMBDA[1]) / float(cb.KNOTS_MEAN[1])
  np.testing.assert_allclose(f(1e-6), 1e-6 * slope0, rtol=1e-12)
  np.testing.assert_allclose(f(0.1), 0.1 * slope0, rtol=1e-12)
  # near 1/2: the float32 knots miss 1/2 by 1.3e-8
  assert abs(f(0.5) - 0.5) < 2e-8
  assert abs(float(cb.logits_from_mean_knots(jnp.float64(0.5)))) < 1e-7
  # near 1: below 1 up to m = 0.998, above from 0.9981 (1.00009 at 0.9999, 1.000095 at 1)
  assert f(0.998) < 1 < f(0.9981)
  np.testing.assert_allclose(f(0.9999), 1.0000903, rtol=1e-7)
  np.testing.assert_allclose(f(1.0), 1.0000952, rtol=1e-7)


def test_logits_are_finite_everywhere_but_nan():
  m = jnp.array([-1.0, 0.0, 1e-30, 1e-6, 0.5, 0.9981, 0.9999, 1.0, 2.0, jnp.nan], jnp.float32)
  logits = np.asarray(cb.logits_from_mean_knots(m))
  assert np.all(np.isfinite(logits[:-1])) and np.isnan(logits[-1])
  # lambda > 1 (m >= 0.9981) clamped to 1 - epsneg; lambda = 0 (outside the knots) to tiny
  top = np.float64(np.float32(1) - np.finfo(np.float32).epsneg)
  np.testing.assert_allclose(logits[[5, 6, 7]], _logit(top), rtol=1e-6)
  tiny = np.float64(np.finfo(np.float32).tiny)
  np.testing.assert_allclose(logits[[0, 1, 8]], np.log(tiny), rtol=1e-6)
  np.testing.assert_allclose(
    logits[2], np.log(1e-30 * cb.KNOTS_LAMBDA[1] / cb.KNOTS_MEAN[1]), rtol=1e-5
  )


def test_gradients_are_the_segment_slopes_and_finite():
  m = jnp.array([0.0, 1e-4, 0.1, 0.3, 0.5, 0.7, 0.9, 0.9999, 1.0, 1.5], jnp.float32)
  g = np.asarray(jax.vmap(jax.grad(cb.lambda_from_mean_knots))(m))
  i = np.searchsorted(cb.KNOTS_MEAN, np.asarray(m), side="right") - 1
  inside = (i >= 0) & (i < 99)
  j = np.clip(i, 0, 98)
  slope = (cb.KNOTS_LAMBDA[j + 1] - cb.KNOTS_LAMBDA[j]) / (cb.KNOTS_MEAN[j + 1] - cb.KNOTS_MEAN[j])
  np.testing.assert_allclose(g, np.where(inside, slope, 0.0), rtol=1e-5)
  gl = np.asarray(jax.vmap(jax.grad(cb.logits_from_mean_knots))(m))
  assert np.all(np.isfinite(gl))
  for clip in (0.0, CLIP):
    x = jnp.linspace(0.0, 1.0, 7)

    def loss(logits, clip=clip):
      return Bernoulli(logits, lambda_clip=clip).reading("cb_mean_knots").log_prob(x).sum()

    grad = jax.grad(loss)(jnp.array([-30.0, -9.0, -2.0, 0.0, 2.0, 9.0, 30.0]))
    assert np.all(np.isfinite(np.asarray(grad)))


# ----------------------------------------------------------------------------- the reading


def test_bernoulli_reading_cb_mean_knots():
  assert "cb_mean_knots" in Bernoulli.readings and "cb_lambda" in Bernoulli.readings
  assert "100 knots" in Bernoulli.readings["cb_mean_knots"]
  logits = jnp.array([-12.0, -9.0, -4.0, -1.7, 0.0, 1.2, 3.0, 9.0, 12.0], jnp.float32)
  for clip in (0.0, CLIP):
    b = Bernoulli(logits, lambda_clip=clip)
    r = b.reading("cb_mean_knots")
    assert isinstance(r, ContinuousBernoulli) and r.is_density()
    want = cb.clip_logits(cb.logits_from_mean_knots(b.probs), clip)
    np.testing.assert_array_equal(np.asarray(r.logits), np.asarray(want))
    lam = _reference_map(np.asarray(b.probs))
    f32 = np.finfo(np.float32)  # unclipped, lambda > 1 (means above 0.99805) is clamped below 1
    lam = np.clip(lam, clip, 1 - clip) if clip else np.clip(lam, f32.tiny, 1 - f32.epsneg)
    np.testing.assert_allclose(np.asarray(jax.nn.sigmoid(r.logits)), lam, rtol=2e-5, atol=1e-12)
  # it departs from the exact map (the stand-in) in the outer segments, not near 1/2
  b = Bernoulli(jnp.log(jnp.array([0.15, 0.5, 0.85]) / (1 - jnp.array([0.15, 0.5, 0.85]))))
  knots, exact = b.reading("cb_mean_knots").mean(), b.as_density().mean()
  assert float(knots[0] - exact[0]) > 0.04 and float(knots[2] - exact[2]) < -0.04
  assert abs(float(knots[1] - exact[1])) < 1e-6


# ------------------------------------------------------------------- measures and reproduction


def test_measures_name_the_reading():
  """``readings`` and ``reading_elbos`` iterate over ``Bernoulli.readings``: the new reading's
  numbers appear under ``readings/cb_mean_knots/...`` and ``reading_elbos/cb_mean_knots``."""
  x = np.linspace(0.0, 1.0, 3 * 4 * 4).reshape(3, 4, 4).astype(np.float32)
  dist = Bernoulli(jnp.full((1, 1, 4, 4), -1.5), lambda_clip=CLIP)

  def score_of(score, target):
    return np.asarray(score(dist, jnp.asarray(target)))[0]  # [K=1, B] -> [B]

  run = types.SimpleNamespace(elbo=lambda xb, key, score, target: score_of(score, target))
  ctx = types.SimpleNamespace(
    distribution_type=Bernoulli,
    run=run,
    x=x,
    x_tilde=x,
    config=types.SimpleNamespace(batch_size=2),
    iw=lambda key, inputs, score, target: score_of(score, target),
  )
  key = jax.random.key(0)
  elbos = measures.reading_elbos(ctx, key)
  assert {"reading_elbos/as_density", "reading_elbos/cb_lambda", "reading_elbos/cb_mean_knots"} <= (
    set(elbos)
  )
  want = np.asarray(dist.reading("cb_mean_knots").log_prob(x).sum((-2, -1)))[0]
  np.testing.assert_allclose(elbos["reading_elbos/cb_mean_knots"].values, want, rtol=1e-6)
  assert "100 knots" in elbos["reading_elbos/cb_mean_knots"].extra["measure"]
  found = measures.readings(ctx, key)
  assert "readings/cb_mean_knots/log_likelihood" in found
  assert "readings/cb_mean_knots/bits_per_dim" in found


def test_reproduction_lists_both_inverse_mean_map_rows():
  config = reproduce.get_config("cb_paper")
  rows = {r["name"]: r for r in config.rows}
  assert rows[EXACT_ROW]["measure"] == "elbo_as_density"
  assert rows[KNOTS_ROW]["measure"] == "reading_elbos/cb_mean_knots"
  for name in (EXACT_ROW, KNOTS_ROW):
    assert rows[name]["published"] == 1416.0 and rows[name]["tolerance"] == 30.0
    assert rows[name]["decoder"] == "bernoulli"


def _seeds(**values):
  return {
    "epoch": 100,
    "per_seed": [{k: {"mean": v[s]} for k, v in values.items()} for s in range(2)],
  }


def test_reproduction_renders_both_rows(tmp_path):
  config = reproduce.get_config("cb_paper")
  results = {
    "bernoulli": _seeds(
      **{
        "reading_elbos/cb_lambda": (1140.0, 1150.0),
        "reading_elbos/as_density": (1454.0, 1458.0),
        "reading_elbos/cb_mean_knots": (1420.0, 1430.0),
      }
    )
  }
  rows = {r["name"]: r for r in reproduction.compare(config, results)[0]}
  exact, knots = rows[EXACT_ROW], rows[KNOTS_ROW]
  assert exact["ours"] == 1456.0 and exact["verdict"] == "not reproduced"
  assert knots["ours"] == 1425.0 and knots["difference"] == 9.0
  assert knots["verdict"] == "reproduced" and knots["seeds"] == 2
  np.testing.assert_allclose(knots["std"], np.std([1420.0, 1430.0], ddof=1))
  del results["bernoulli"]["per_seed"][1]["reading_elbos/cb_mean_knots"]
  rows = {r["name"]: r for r in reproduction.compare(config, results)[0]}
  assert rows[KNOTS_ROW]["verdict"].startswith("not measured (reading_elbos/cb_mean_knots")
  text = open(reproduction.write(str(tmp_path), config, _with_knots(results), "cmd")).read()
  assert f"| {KNOTS_ROW} | `bernoulli` | 1416.0 | 1425.0 ± 7.1 | 2 | 100 | +9.0 |" in text
  assert f"| {EXACT_ROW} | `bernoulli` | 1416.0 | 1456.0 ± 2.8 | 2 | 100 | +40.0 |" in text


def _with_knots(results):
  results["bernoulli"]["per_seed"][1]["reading_elbos/cb_mean_knots"] = {"mean": 1430.0}
  return results
