"""Measures the continuous Bernoulli's Taylor window: error of log C, mean and variance vs mpmath.

    uv run python tests/measure_cb_window.py            # series length as shipped
    uv run python tests/measure_cb_window.py --terms 4  # the original 4-term series

For each candidate window (in logit space; the lambda windows (0.499, 0.501) and (0.49, 0.51) are
|eta| < logit(0.501) and |eta| < logit(0.51)) it sets ``likelihoods.continuous_bernoulli.TAYLOR_WINDOW``
(read at call time; nothing here is jit-compiled, so nothing is cached across windows) and prints the
largest absolute error over a dense logit grid in [-50, 50] (tiny logits, and points just inside and
outside every candidate boundary included) against closed forms evaluated by mpmath at 50 digits, at
the exact float32 / float64 value of each grid point. Not a test: tests/test_continuous_bernoulli.py
asserts the shipped window's errors.
"""

from __future__ import annotations

import argparse
import math

import jax
import jax.numpy as jnp
import mpmath
import numpy as np

import likelihoods.continuous_bernoulli as cb

WINDOWS = {
  "lambda (0.499, 0.501)": math.log(0.501 / 0.499),
  "lambda (0.49, 0.51)": math.log(0.51 / 0.49),
  "|eta| < 0.1": 0.1,
  "|eta| < 0.2": 0.2,
  "|eta| < 0.3": 0.3,
  "|eta| < 0.5": 0.5,
  "|eta| < 1": 1.0,
  "|eta| < 2": 2.0,
}


def grid() -> np.ndarray:
  pos = [np.geomspace(1e-12, 1e-2, 200), np.linspace(1e-2, 3.0, 1500), np.linspace(3.0, 50.0, 400)]
  for w in WINDOWS.values():
    pos.append(w * (1 + np.linspace(-0.02, 0.02, 81)))
  pos = np.concatenate(pos)
  return np.unique(np.concatenate([-pos, [0.0], pos]))


def oracle(eta: float) -> tuple[float, float, float]:
  """(log C, mean, variance) at the exact binary value eta, to 50 digits, rounded to float64."""
  with mpmath.workdps(50):
    e = mpmath.mpf(eta)
    if e == 0:
      return math.log(2), 0.5, 1 / 12
    t, s = mpmath.tanh(e / 2), mpmath.sinh(e / 2)
    return (
      float(mpmath.log(e / t)),
      float(mpmath.mpf(1) / 2 + 1 / (2 * t) - 1 / e),
      float(1 / e**2 - 1 / (4 * s * s)),
    )


def max_errors(etas: np.ndarray, reference: np.ndarray) -> list[float]:
  fns = (cb.log_normalizer, cb.mean_from_logits, cb.variance_from_logits)
  got = np.stack([np.asarray(f(jnp.asarray(etas)), np.float64) for f in fns], axis=1)
  assert got.dtype == np.float64 and np.all(np.isfinite(got))
  return list(np.max(np.abs(got - reference), axis=0))


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--terms", type=int, default=cb.TAYLOR_TERMS, help="Taylor terms per series")
  args = parser.parse_args()
  cb.TAYLOR_TERMS = args.terms
  etas = grid()
  data = {dt: etas.astype(dt) for dt in (np.float32, np.float64)}
  refs = {dt: np.array([oracle(float(e)) for e in g]) for dt, g in data.items()}
  print(
    f"{len(etas)} logits in [-50, 50]; {args.terms} Taylor terms; max |error| vs mpmath (50 digits)"
  )
  print(
    f"{'window':24s} {'|eta|<':>9s} | {'f32 log C':>9s} {'f32 mean':>9s} {'f32 var':>9s}"
    f" | {'f64 log C':>9s} {'f64 mean':>9s} {'f64 var':>9s}"
  )
  with jax.enable_x64(True):
    for label, w in WINDOWS.items():
      cb.TAYLOR_WINDOW = w
      row = max_errors(data[np.float32], refs[np.float32]) + max_errors(
        data[np.float64], refs[np.float64]
      )
      cells = [f"{v:9.1e}" for v in row]
      print(f"{label:24s} {w:9.4g} | {' '.join(cells[:3])} | {' '.join(cells[3:])}")


if __name__ == "__main__":
  main()
