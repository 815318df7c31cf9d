"""Convergence flags from a run's learning curve and its sigma trajectory."""

from __future__ import annotations

from vae.study import convergence


def _rows(elbos, sigma=None):
  rows = []
  for epoch, elbo in enumerate(elbos, 1):
    test = {"elbo": elbo}
    if sigma is not None:
      test["scale"], test["scale_optimal"] = sigma[epoch - 1]
    rows.append({"epoch": epoch, "test": test})
  return rows


def test_a_flat_tail_is_converged_and_a_rising_one_flagged():
  config = convergence.default_config()
  flat = [-200 + 100 * (1 - 0.5**e) for e in range(1, 21)]  # last 2 epochs rise ~1e-4 nats
  out = convergence.assess(_rows(flat), config)
  assert out["converged"] and out["flags"] == [] and 0 < out["elbo_rise"] < 1e-3
  rising = [float(e) * 2 for e in range(1, 21)]  # +2 nats per epoch: +4 over the last 2 of 20
  out = convergence.assess(_rows(rising), config)
  assert not out["converged"] and out["elbo_rise"] == 4.0
  assert "rose by 4.0 nats over the last 2 of 20 epochs (threshold 3)" in out["flags"][0]


def test_the_window_is_at_least_one_epoch():
  out = convergence.assess(_rows([0.0, 1.0, 5.0]), convergence.default_config())
  assert out["elbo_rise"] == 4.0 and not out["converged"]


def test_a_sigma_far_from_its_optimum_is_flagged():
  config = convergence.default_config()
  elbos = [10.0] * 10
  near = [(0.165, 0.16)] * 10
  assert convergence.assess(_rows(elbos, near), config)["converged"]
  far = [(0.465, 0.16)] * 10  # the unconverged shared sigma
  out = convergence.assess(_rows(elbos, far), config)
  assert not out["converged"] and abs(out["scale_gap"] - (0.465 / 0.16 - 1)) < 1e-12
  assert "scale 0.465 is +191% from its optimum 0.160" in out["flags"][0]


def test_with_dropout_the_sigma_is_judged_against_the_trained_objective():
  """A converged sigma sits at the root mean squared error of the reconstructions as trained
  (units dropped), above the test one: the gap is measured to the former when it is logged."""
  rows = _rows([10.0] * 10, [(0.113, 0.100)] * 10)
  assert not convergence.assess(rows, convergence.default_config())["converged"]  # +13% at test
  for r in rows:
    r["test"]["scale_optimal_train"] = 0.1135
  out = convergence.assess(rows, convergence.default_config())
  assert out["converged"] and abs(out["scale_gap"] - (0.113 / 0.1135 - 1)) < 1e-12
  for r in rows:
    r["test"]["scale_optimal_train"] = 0.2
  out = convergence.assess(rows, convergence.default_config())
  assert (
    "scale 0.113 is -44% from its optimum 0.200 (dropout on, as in training)" in out["flags"][0]
  )


def test_no_learning_curve_is_a_flag():
  out = convergence.assess(_rows([3.0]), convergence.default_config())
  assert not out["converged"] and "fewer than two" in out["flags"][0]


def test_metrics_written_with_the_old_sigma_names_read_as_scales(tmp_path):
  """metrics.jsonl rows of runs trained before the scale diagnostics moved into the distributions
  (``sigma_rms``, ``sigma_optimal``, ``sigma_optimal_train``) read back under today's names, so
  committed results are still judged."""
  import json

  from vae import workdir as wd

  row = {
    "epoch": 1,
    "test": {
      "elbo": 1.0,
      "sigma_rms": 0.11,
      "sigma_optimal": 0.10,
      "sigma_optimal_train": 0.113,
      "per_seed": {"elbo": [1.0], "sigma_rms": [0.11]},
    },
  }
  (tmp_path / "metrics.jsonl").write_text(json.dumps(row) + "\n")
  (test,) = [r["test"] for r in wd.read_metrics(str(tmp_path))]
  assert (test["scale"], test["scale_optimal"], test["scale_optimal_train"]) == (0.11, 0.10, 0.113)
  assert test["per_seed"] == {"elbo": [1.0], "scale": [0.11]}
  assert not any(k.startswith("sigma") for k in test)
