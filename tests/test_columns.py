"""A measure declares its columns; the headline, the study table, the sweep's measures and its
warped filter derive from them, and one ordering says what "better" means, ties as ties."""

from __future__ import annotations

import math

import pytest

from experiments.configs import sweep as sweep_configs
from vae import evaluation
from vae.evaluation import columns, evaluator, measures
from vae.study import records, report, sweep_report


def test_order_groups_ties_and_knows_each_direction():
  values = {"a": 20.0, "b": 20.0, "c": 13.3, "d": 20.0}
  assert columns.order(values, "max") == [["a", "b", "d"], ["c"]]
  assert columns.best(values, "max") == ["a", "b", "d"]  # a tie, never the first listed
  assert columns.order(values, "min") == [["c"], ["a", "b", "d"]]
  assert columns.order({"x": 1.25, "y": 0.75, "z": 1.0}, "one") == [["z"], ["x", "y"]]
  assert columns.order({"x": -0.25, "y": 0.125, "z": 0.25}, "zero") == [["y"], ["x", "z"]]
  assert columns.order({"x": math.nan, "y": 1.0}, "max") == [["y"]]
  assert columns.best({}, "max") == []
  with pytest.raises(ValueError, match="better='up' is not one of"):
    columns.sort_key("up")
  with pytest.raises(ValueError, match="column 'x': better='higher'"):
    columns.Column("x", ("x",), "X", "{:.1f}", "higher", "an x")


def test_every_report_derives_its_columns_from_the_measures():
  declared = measures.columns()
  # the headline has every declared column of a result that holds it
  result = {"per_seed": [{"knn_accuracy": 0.9, "intensity/mean": {"mse": {"mean": 3.0}}}] * 2}
  head = evaluation.headline(result)
  assert set(head) == {"knn_accuracy", "recon_mse"}
  assert head["recon_mse"] == {"mean": 3.0, "std": 0.0, "per_seed": [3.0, 3.0]}
  # the study table: the columns declared for it, then the run's own
  assert list(report.columns()) == [k for k, c in declared.items() if "study" in c.show] + [
    k for k, c in records.RUN_COLUMNS.items() if "study" in c.show
  ]
  # the sweep: its columns; for warped data only those meaningful on it
  sweep = sweep_report.measures()
  assert "elbo_cb_lambda" in sweep and "train_seconds" not in sweep
  curves = dict.fromkeys(sweep, {})
  warped = sweep_report.reported_measures(curves, "warped")
  assert (
    {m for m in sweep if m not in warped}
    == {k for k, c in sweep.items() if c.warped is not None}
    == {"common_bits_per_dim", "discretized_nll", "frechet_samples", "frechet_means"}
  )
  # the measures the sweep runs on warped data: each measure says whether it applies
  assert sweep_configs.get_config("cpu").eval.measures == measures.on_warped(
    evaluator.DEFAULT_MEASURES
  )
  assert "reading_elbos" in sweep_configs.get_config("paper").eval.measures
  for c in declared.values():
    assert c.definition and c.header and c.fmt.format(1.0)


def test_a_new_measure_is_one_declaration(monkeypatch):
  """Registering a measure with a column is all it takes: it runs by name, its number reaches
  the headline, the study table and the sweeps, and its warped note reaches the filter."""
  monkeypatch.setattr(measures, "MEASURES", dict(measures.MEASURES))
  column = columns.Column(
    "toy_score", ("toy/score",), "toy score", "{:.2f}", "max", "a toy", warped="a toy on unwarped"
  )

  @measures.measure("toy", (column,), warped="defined on unwarped images")
  def toy(ctx, key):
    return {"toy/score": 1.5}

  assert "toy" in evaluator.DEFAULT_MEASURES or "toy" in measures.default_names()
  assert measures.on_warped(("elbo", "toy")) == ("elbo",)
  assert evaluation.headline({"per_seed": [{"toy/score": 1.5}]})["toy_score"]["mean"] == 1.5
  assert "toy_score" in report.columns() and "toy_score" in sweep_report.measures()
  assert sweep_report.reported_measures({"toy_score": {}}, "warped") == []
