r"""The folk claims F1-F14 (../shared/docs/folk-claims.md) answered from a rate axis: one row each.

How each claim is judged is fixed here and in the config's ``rate_comparisons``, before any run.
Every number is a difference with a two-level bootstrap interval (test images drawn once per
replicate for every decoder, weight and seed; each decoder's seeds drawn on their own, their
spread inflated: ``vae.study.verdicts``), judged by the verdict rule (holds / does not hold / no
difference detected) at each budget and marked stable or budget-dependent (``across_budgets``).

* **Identities** (F1, F2, F7, and F6's mechanism): the unit tests that prove them, by name.
* **Matched rate** (F3, F4, F5, F6, F13): the ``rate_comparisons`` of the claim, each read at the
  common rates (``vae.study.matched_rate``). The claim's verdict is its *first* comparison's (its
  primary; the others are listed beside it) at the middle common rate; where the verdict differs
  at the other common rates the row says so.
* **F8, loss scale.** A fixed-sigma Gaussian at KL weight w is the Gaussian with
  sigma^2 = w sigma_0^2 (a beta-VAE). (a) At weight 1, BCE's rate minus MSE's: "greater" says
  BCE's loss weighs the reconstruction more. (b) The weight w* at which MSE's curve reaches BCE's
  weight-1 rate (log w read linearly in log rate): a quantity with its interval. (c) "It does not
  matter which one you use": at that rate, BCE's run against MSE's curve on every BCE-vs-MSE
  reconstruction comparison; it does not hold when any of them finds a difference.
* **F12, the sigma-VAE test** (Rybkin et al. 2021). The learned shared sigma's run (KL weight 1)
  against the fixed-sigma curve: (a) its squared error against the curve's at its own rate (no
  difference detected: it lies on the curve); (b) its weight w_L = sigma_L^2 / sigma_0^2 (beta =
  2 sigma_L^2 at sigma_0^2 = 1/2): the curve's rate at w_L minus its rate; (c) its ELBO against
  the curve's best, where each run of the curve is scored with its optimal shared sigma, found
  after training: from the per-image reconstruction term of a fixed-sigma Gaussian,
  r = -SSE / (2 sigma_0^2) - D/2 log(2 pi sigma_0^2), the mean squared error per pixel
  s^2 = mean(SSE) / D gives the ELBO :math:`-\tfrac D2 (1 + \log 2\pi s^2) - \mathrm{KL}` (a valid
  bound: any sigma is). "greater": the learned sigma beats every weight of the grid; "no
  difference detected": it is at the curve's best.
* **F14, convex losses alike as reconstructions improve.** For BCE against MSE on a measure,
  |d(R_low)| - |d(R_high)|, d(R) the difference of the two curves at rate R, R_low and R_high the
  lowest and highest common rates: "greater" says the difference shrinks as the rate grows. The
  primary measure is the squared error; the error on near-binary pixels tests "except at the
  extremes".
* **Elsewhere** (F9, F10, F11): the warped-data sweep, the study and the reproduction judge them;
  the row points there.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from likelihoods import registry
from vae.study import matched_rate, verdicts
from vae.study.curves import (
  bootstrap_stat,
  judged,
  means_of,
  rate_at_weight,
  read,
  select,
  text,
  weight_at_rate,
)

PIXELS = 784

IDENTITIES = {
  "F1": (
    "BCE(y, p) is minimised at p = y for every y in [0, 1], its minimum H(y); over targets at E[y]",
    ["tests/test_bernoulli.py::test_f1_every_target_is_the_minimiser_and_the_minimum_is_its_entropy"],
  ),
  "F2": (
    "for y = 0.2, BCE(0.2, 0.1) = 0.5448 > BCE(0.2, 0.3) = 0.5261 nats: asymmetric, tilted to 0.5",
    ["tests/test_bernoulli.py::test_worked_example_cross_entropy_is_asymmetric_and_minimized_at_the_target"],
  ),
  "F7": (
    "-log N(x | m, 1/2) = sum (x - m)^2 + D/2 log pi; -log Laplace(x | m, 1) = sum |x - m| + D log 2",
    [
      "tests/test_decoders.py::test_mse_is_a_gaussian_with_sigma_squared_one_half",
      "tests/test_decoders.py::test_mae_is_a_laplace_with_scale_one",
    ],
  ),
}  # fmt: skip
F6_MECHANISM = (
  "tests/test_decoders.py::test_f6_a_sigmoid_saturates_the_gaussian_gradient_not_the_bernoulli"
)
ELSEWHERE = {
  "F9": "the warped-data sweep (`experiments/configs/sweep.py:cpu`): BCE's deficit against gamma",
  "F10": "the study's F10 row (CB against the Bernoulli's stand-in, common measure) and REPRODUCTION.md",
  "F11": "a reading, not a measurement: a Bernoulli VAE models binary draws; see its samples in the study's figures",
}  # fmt: skip
CLAIM_ORDER = tuple(f"F{i}" for i in range(1, 15))
MATCHED_RATE_CLAIMS = ("F3", "F4", "F5", "F6", "F13")
BCE, MSE, SHARED = "bernoulli", "gaussian_fixed", "gaussian_shared"
F14_MEASURES = ("intensity/mse", "intensity/error_midtones_abs", "intensity/error_extremes_abs")


@dataclasses.dataclass
class Answer:
  claim: str
  verdict: str
  evidence: list[str]  # lines: measure, numbers, intervals
  where: str = ""  # the rate and budgets it was judged at
  figure: str = ""


# ----------------------------------------------------------------------------- F12


def optimal_sigma_elbo(means: dict, sigma0: float) -> np.ndarray:
  """[W]: a fixed-sigma_0 Gaussian curve's ELBO with the optimal shared sigma after training,
  from its mean ELBO and KL (module docstring, F12 (c))."""
  recon = means["elbo"] + means["elbo/kl"]
  sse = -2 * sigma0**2 * (recon + PIXELS / 2 * np.log(2 * np.pi * sigma0**2))
  s2 = np.maximum(sse / PIXELS, 1e-30)
  return -PIXELS / 2 * (1 + np.log(2 * np.pi * s2)) - means["elbo/kl"]


def fixed_sigma(run_config: dict) -> float:
  """sigma_0 of a fixed-sigma Gaussian run (its config.json)."""
  likelihood = registry.from_config(run_config["likelihood"], run_config["likelihood_options"])
  return float(likelihood.fixed_sigma)


# ----------------------------------------------------------------------------- the claims


def _per_budget(results: dict, fmt: str = "{:.4g}") -> str:
  return "; ".join(f"{b} epochs: {text(r, fmt)}" for b, r in sorted(results.items()))


def index_of_one(weights: np.ndarray) -> int | None:
  hits = np.flatnonzero(np.isclose(weights, 1.0))
  return int(hits[0]) if len(hits) else None


def matched_rate_answer(claim: str, items: list[dict]) -> Answer:
  """A claim judged by its ``rate_comparisons`` (module docstring): the primary's verdict at the
  middle common rate."""
  if not items:
    return Answer(claim, "not computed", ["no `rate_comparisons` of this claim in the config"])
  lines = []
  verdict = "not computed"
  for k, item in enumerate(items):
    c = item["comparison"]
    points = sorted(item["overall"])
    if not points:
      lines.append(f"{c.statement}: no common rate")
      continue
    middle = points[len(points) // 2]
    at_middle = item["overall"][middle]
    others = {item["overall"][i] for i in points}
    shown = "; ".join(
      f"{b} epochs at {r['rate']:.1f} nats: `{c.a}` {r['a_mean']:.4g}, `{c.b}` {r['b_mean']:.4g}, "
      f"difference {r['estimate']:.4g} [{r['low']:.4g}, {r['high']:.4g}]"
      if r.get("verdict")
      else f"{b} epochs: not computed ({r.get('why', '?')})"
      for (b, i), r in sorted(item["rows"].items())
      if i == middle
    )
    by_rate = (
      ""
      if len(others) == 1
      else " (at the three common rates: " + ", ".join(item["overall"][i] for i in points) + ")"
    )
    lead = "**primary** " if k == 0 else ""
    lines.append(f"{lead}{c.statement} (`{c.measure}`): **{at_middle}**{by_rate}; {shown}")
    if k == 0:
      verdict = at_middle + (" at the middle rate; differs with rate" if by_rate else "")
  primary = items[0]
  middle = len(primary["overall"]) // 2
  where = "; ".join(
    f"{b} epochs: {r['rate']:.1f} nats"
    for (b, i), r in sorted(primary["rows"].items())
    if i == middle and "rate" in r
  )
  return Answer(
    claim, verdict, lines, f"the primary pair's middle common rate ({where or 'none'})",
    "rate_distortion.png",
  )  # fmt: skip


def f8_answer(arrays: dict, weights: dict, comparisons, settings) -> Answer:
  """F8 (module docstring): (a) BCE's rate minus MSE's at weight 1, (b) the weight at which
  MSE's curve reaches BCE's weight-1 rate, (c) BCE's run against MSE's curve there."""
  parts = {"a": {}, "b": {}, "c": {}}
  pairs = [
    c for c in comparisons if (c.a, c.b) == (BCE, MSE) and not c.measure.startswith("curves/")
  ]  # the reconstruction comparisons (not F6's learning curves)
  for budget, a in arrays.items():
    sel, why = select(a, {BCE: [], MSE: []})
    if sel is None:
      parts["a"][budget] = parts["b"][budget] = {"why": why}
      continue
    w = weights[budget][MSE]
    i1, j1 = index_of_one(weights[budget][BCE]), index_of_one(w)
    if i1 is None or j1 is None:
      parts["a"][budget] = parts["b"][budget] = {"why": "KL weight 1 is not on the axis"}
      continue
    parts["a"][budget] = judged(
      bootstrap_stat(sel, lambda m: m[BCE]["rate"][i1] - m[MSE]["rate"][j1], settings), "greater"
    )
    parts["b"][budget] = bootstrap_stat(
      sel, lambda m: weight_at_rate(m[MSE], w, m[BCE]["rate"][i1]), settings
    )
    for c in pairs:
      sel, why = select(a, {BCE: [c.measure], MSE: [c.measure]})
      if sel is None:
        parts["c"].setdefault(c.statement, {})[budget] = {"why": why}
        continue

      def stat(m, c=c):
        return m[BCE][c.measure][i1] - read(m[MSE], c.measure, m[BCE]["rate"][i1])

      parts["c"].setdefault(c.statement, {})[budget] = {
        **judged(bootstrap_stat(sel, stat, settings), c.direction),
        "measure": c.measure,
      }
  verdict_a = verdicts.across_budgets(parts["a"]) if parts["a"] else "not computed"
  found = [verdicts.across_budgets(r) for r in parts["c"].values()]
  differs = any(v.startswith(("holds", "does not hold")) for v in found)
  none = bool(found) and all(v.startswith("no difference") for v in found)
  verdict_c = "does not hold" if differs else ("no difference detected" if none else "not computed")
  lines = [
    f"(a) at KL weight 1, BCE's rate minus MSE's (nats; greater: BCE weighs reconstruction more): "
    f"**{verdict_a}**; {_per_budget(parts['a'])}",
    f"(b) the KL weight at which MSE's curve reaches BCE's weight-1 rate (its sigma: sigma_0 "
    f"sqrt(w)): {_per_budget(parts['b'])}",
    f"(c) \"it does not matter which one you use\", BCE's run against MSE's curve at that rate: "
    f"**{verdict_c}**",
    *(
      f"  - {s} (`{next(iter(r.values())).get('measure', '')}`): {verdicts.across_budgets(r)}; "
      f"{_per_budget(r)}"
      for s, r in parts["c"].items()
    ),
  ]
  return Answer(
    "F8", f"(a) {verdict_a}; (c) {verdict_c}", lines, "BCE's rate at KL weight 1",
    "rate_distortion.png",
  )  # fmt: skip


def f12_answer(arrays: dict, weights: dict, sigma0: float | None, settings) -> Answer:
  """F12, the sigma-VAE test (module docstring): (a) on the curve, (b) at beta = 2 sigma^2,
  (c) at the curve's best likelihood."""
  if sigma0 is None:
    return Answer("F12", "not computed", [f"no `{MSE}` run on the axis"])
  parts = {"a": {}, "b": {}, "c": {}}
  best_weight = {}
  scale, optimum = "curves/held_out_scale_final", "curves/held_out_scale_optimal_final"
  converged = {}
  for budget, a in arrays.items():
    sel, why = select(a, {SHARED: ["intensity/mse", "elbo", "elbo/kl", scale], MSE: ["intensity/mse", "elbo", "elbo/kl"]})  # fmt: skip
    if sel is None:
      parts["a"][budget] = parts["b"][budget] = parts["c"][budget] = {"why": why}
      continue
    w = weights[budget][MSE]
    i1 = index_of_one(weights[budget][SHARED])
    if i1 is None:
      parts["a"][budget] = parts["b"][budget] = parts["c"][budget] = {"why": "no KL weight 1"}
      continue
    if optimum in a.get(SHARED, {}):
      converged[budget] = (
        float(np.nanmean(a[SHARED][scale][i1])),
        float(np.nanmean(a[SHARED][optimum][i1])),
      )
    on_curve = bootstrap_stat(
      sel,
      lambda m: m[SHARED]["intensity/mse"][i1] - read(m[MSE], "intensity/mse", m[SHARED]["rate"][i1]),
      settings,
    )  # fmt: skip
    parts["a"][budget] = judged(on_curve, "greater")

    def at_beta(m, i1=i1, w=w):
      w_learned = m[SHARED][scale][i1] ** 2 / sigma0**2
      return rate_at_weight(m[MSE], w, w_learned) - m[SHARED]["rate"][i1]

    parts["b"][budget] = {
      **judged(bootstrap_stat(sel, at_beta, settings), "greater"),
      "w_learned": float(np.mean(sel[SHARED][scale][i1]) ** 2 / sigma0**2),
    }

    def at_best(m, i1=i1):
      return m[SHARED]["elbo"][i1] - np.max(optimal_sigma_elbo(m[MSE], sigma0))

    parts["c"][budget] = judged(bootstrap_stat(sel, at_best, settings), "greater")
    best_weight[budget] = float(w[int(np.argmax(optimal_sigma_elbo(means_of(sel[MSE]), sigma0)))])
  va, vb, vc = (verdicts.across_budgets(parts[k]) if parts[k] else "not computed" for k in "abc")
  learned = "; ".join(
    f"{b} epochs: w_L = {r['w_learned']:.3g}" for b, r in sorted(parts["b"].items()) if "w_learned" in r
  )  # fmt: skip
  best = "; ".join(f"{b} epochs: w = {v:g}" for b, v in sorted(best_weight.items()))
  travelled = "; ".join(
    f"{b} epochs: sigma_L = {v:.3g}, optimum {o:.3g}" for b, (v, o) in sorted(converged.items())
  )
  lines = [
    f"the learned sigma at KL weight 1 against the optimum of the objective it trains (the "
    f"decoder means' root mean squared error, units dropped as in training): {travelled or 'n/a'}",
    f"(a) on the curve: the learned sigma's squared error minus the fixed-sigma curve's at its "
    f"rate (`intensity/mse`): **{va}**; {_per_budget(parts['a'])}",
    f"(b) at beta = 2 sigma^2: the curve's rate at w_L = sigma_L^2 / sigma_0^2 ({learned}) minus "
    f"the learned run's rate (nats): **{vb}**; {_per_budget(parts['b'])}",
    f"(c) at the curve's best likelihood: the learned run's ELBO minus the best of the curve's "
    f"ELBOs with their optimal sigma (best at {best}; greater: better than every weight): "
    f"**{vc}**; {_per_budget(parts['c'])}",
  ]
  return Answer(
    "F12", f"(a) {va}; (b) {vb}; (c) {vc}", lines,
    f"the learned sigma's own rate (KL weight 1); sigma_0 = {sigma0:.4g}", "sigma_vae.png",
  )  # fmt: skip


def f14_answer(arrays: dict, settings, fractions=matched_rate.DEFAULT_FRACTIONS) -> Answer:
  """F14 (module docstring): does BCE-vs-MSE's difference shrink from the lowest to the highest
  of their common rates?"""
  rows = {}
  rates = {b: matched_rate.pair_rates(a, BCE, MSE, fractions) for b, a in arrays.items()}
  for measure in F14_MEASURES:
    for budget, a in arrays.items():
      rs = rates.get(budget) or ()
      if len(rs) < 2:
        rows.setdefault(measure, {})[budget] = {"why": "fewer than two common rates"}
        continue
      low_rate, high_rate = rs[0], rs[-1]
      sel, why = select(a, {BCE: [measure], MSE: [measure]})
      if sel is None:
        rows.setdefault(measure, {})[budget] = {"why": why}
        continue

      def stat(m, measure=measure, lo=low_rate, hi=high_rate):
        d_lo = read(m[BCE], measure, lo) - read(m[MSE], measure, lo)
        d_hi = read(m[BCE], measure, hi) - read(m[MSE], measure, hi)
        return abs(d_lo) - abs(d_hi)

      rows.setdefault(measure, {})[budget] = {
        **judged(bootstrap_stat(sel, stat, settings), "greater"),
        "rates": (low_rate, high_rate),
      }
  found = {m: verdicts.across_budgets(r) for m, r in rows.items()}
  lines = [
    f"{'**primary** ' if k == 0 else ''}|BCE - MSE| at the lowest minus at the highest common "
    f"rate, `{m}` (greater: the difference shrinks): **{found[m]}**; {_per_budget(r)}"
    for k, (m, r) in enumerate(rows.items())
  ]
  where = "; ".join(
    f"{b} epochs: {rs[0]:.1f} -> {rs[-1]:.1f} nats" for b, rs in sorted(rates.items()) if len(rs) > 1
  )  # fmt: skip
  primary = found.get(F14_MEASURES[0], "not computed")
  return Answer("F14", primary, lines, where, "rate_distortion.png")


def answers(config, judged_items: list[dict], arrays: dict, weights: dict,
            sigma0: float | None) -> list[Answer]:  # fmt: skip
  """Every claim of ``CLAIM_ORDER``, in order (module docstring). ``arrays``: budget -> decoder
  -> its stacked arrays; ``weights``: budget -> decoder -> its KL weights, ascending."""
  settings = config.get("verdict") or verdicts.default_config()
  fractions = tuple(config.get("rate_fractions") or matched_rate.DEFAULT_FRACTIONS)
  comparisons = [item["comparison"] for item in judged_items]
  out = []
  for claim in CLAIM_ORDER:
    if claim in IDENTITIES:
      what, tests = IDENTITIES[claim]
      out.append(Answer(claim, "identity: unit test", [what, *(f"`{t}`" for t in tests)]))
    elif claim in MATCHED_RATE_CLAIMS:
      a = matched_rate_answer(claim, [i for i in judged_items if i["comparison"].claim == claim])
      if claim == "F6":
        a.evidence.append(f"mechanism, an identity: `{F6_MECHANISM}`")
        a.figure = "learning_curves.png"
      out.append(a)
    elif claim == "F8":
      out.append(f8_answer(arrays, weights, comparisons, settings))
    elif claim == "F12":
      out.append(f12_answer(arrays, weights, sigma0, settings))
    elif claim == "F14":
      out.append(f14_answer(arrays, settings, fractions))
    else:
      out.append(Answer(claim, "judged elsewhere", [ELSEWHERE[claim]]))
  return out


def table_lines(found: list[Answer], settings) -> list[str]:
  """The claims table: claim, verdict, evidence (numbers with their intervals), where, figure."""
  lines = [
    "| claim | verdict | evidence: measure, numbers, "
    f"{100 * settings.level:.0f}% interval | judged at | figure |",
    "|---|---|---|---|---|",
  ]
  for a in found:
    evidence = "<br>".join(a.evidence).replace("|", "\\|")
    figure = f"[{a.figure}]({a.figure})" if a.figure else ""
    lines.append(f"| {a.claim} | **{a.verdict}** | {evidence} | {a.where} | {figure} |")
  return lines
