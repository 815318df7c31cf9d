"""The study end to end on the smoke variant (a subset of decoders, two budgets), and its report
with its verdicts."""

import json
import os
import shutil

import pytest

from experiments.configs import study as study_configs
from vae import checkpoints, study
from vae.study import report, sections


def smoke(decoders=("bernoulli", "gaussian_fixed", "gaussian_shared")):
  c = study_configs.get_config("smoke")
  c.decoders = decoders
  return c


@pytest.mark.e2e
def test_smoke_study_writes_a_report_with_verdicts_at_two_budgets_and_resumes(tmp_path):
  c = smoke()
  assert c.budgets == (1, 2) and c.comparisons
  path = study.run_study(c, str(tmp_path))
  text = open(path).read()
  runs = {(b, d): f"runs/epochs={b}/{d}" for b in c.budgets for d in c.decoders}
  for (budget, decoder), run in runs.items():
    assert f"| {decoder} |" in text
    # the run's path relative to the study folder: committed results carry no absolute paths
    assert json.load(open(tmp_path / run / "eval.json"))["workdir"] == run
    assert json.load(open(tmp_path / run / "config.json"))["num_epochs"] == budget
  for fig in (
    "reconstructions.png",
    "samples.png",
    "intensity.png",
    "loss_geometry.png",
    "learning_curves.png",
    "sigma.png",
  ):
    assert os.path.getsize(tmp_path / fig) > 1000, fig
    assert f"({fig})" in text
  # A verdict row per comparison: computed where both decoders ran, named where one did not.
  assert "## Verdicts" in text and "1 epochs: A, B; A - B [95% interval]" in text
  rows = [
    line for line in text.splitlines() if line.startswith("| F") or line.startswith("| 8-bit")
  ]
  assert len(rows) == len(c.comparisons)
  computed = [r for r in rows if "`bernoulli` > `gaussian_fixed`" in r]
  assert computed and all("not computed" not in r for r in computed)
  overall = ("**holds", "**does not hold", "**no difference detected", "**budget-dependent**")
  assert all(any(v in r for v in overall) for r in computed)
  assert any("`laplace_fixed` is not among this study's decoders" in r for r in rows)
  assert "## Drift (information)" in text and "| converged |" not in text
  assert "### Table at 1 epochs" in text and "## Table (2 epochs)" in text
  assert "± " in text  # two seeds: mean ± std
  # Every column the table shows is defined under it, with its direction.
  for column in report.columns().values():
    assert f"| {column.header} |" in text or f"| {column.header} | " in text
    assert f"- *{column.header}*: {column.definition} ({column.better_words})" in text
  # The report is written from the records alone: without any checkpoint (a committed result
  # keeps eval.json, per_image.npz, metrics.jsonl, config.json and the eval folder), the same
  # report again.
  copy = tmp_path / "copy"
  shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("checkpoints", "copy"))
  results = {
    key: {**json.load(open(copy / run / "eval.json")), "workdir": str(copy / run)}
    for key, run in runs.items()
  }
  rewritten = open(report.write_report(str(copy), c, results)).read()
  assert rewritten == text.replace(str(tmp_path), str(copy))
  assert os.path.getsize(copy / "reconstructions.png") > 1000
  # Resume: nothing is retrained or re-evaluated.
  mtimes = {k: os.path.getmtime(tmp_path / r / "eval.json") for k, r in runs.items()}
  steps_before = {
    k: checkpoints.manager(str(tmp_path / r), read_only=True).all_steps() for k, r in runs.items()
  }
  study.run_study(c, str(tmp_path))
  assert mtimes == {k: os.path.getmtime(tmp_path / r / "eval.json") for k, r in runs.items()}
  assert steps_before == {
    k: checkpoints.manager(str(tmp_path / r), read_only=True).all_steps() for k, r in runs.items()
  }


def test_a_single_budget_keeps_the_runs_folder_of_each_decoder():
  from vae.study import grid

  c = smoke()
  c.budgets = ()
  assert grid.budgets(c) == (c.train.num_epochs,)
  assert grid.cell_dir("S", c, 1, "beta") == os.path.join("S", "runs", "beta")
  c.budgets = (20, 10)
  assert grid.budgets(c) == (10, 20)
  assert grid.cell_dir("S", c, 10, "beta") == os.path.join("S", "runs", "epochs=10", "beta")
  assert grid.run_config(c, "beta", 20).num_epochs == 20
  c.budgets = (10, 0)
  with pytest.raises(ValueError, match=r"budgets=\(10, 0\): each budget must be"):
    grid.budgets(c)


def test_per_decoder_settings_and_the_paper_variant():
  c = study_configs.get_config("paper")
  assert c.decoders == ("bernoulli", "continuous_bernoulli", "gaussian_decoder", "beta")
  runs = {d: study.run_config(c, d) for d in c.decoders}
  assert {d: r.batch_size for d, r in runs.items()} == dict.fromkeys(c.decoders, 50)
  assert all(r.optimizer.clip_value == 1.0 and r.num_epochs == 100 for r in runs.values())
  assert runs["gaussian_decoder"].optimizer.learning_rate == 1e-4
  assert runs["beta"].optimizer.learning_rate == 1e-3
  assert runs["bernoulli"].likelihood_options.lambda_clip == 1e-4
  assert dict(runs["gaussian_decoder"].likelihood_options) == {"sigma": "decoder"}
  c.per_decoder["beta"] = {"optimizer": {"learning_rat": 1.0}}
  with pytest.raises(ValueError, match="per_decoder.beta.optimizer.learning_rat"):
    study.run_config(c, "beta")


def test_the_report_names_the_per_decoder_settings_of_the_decoders_it_ran():
  c = study_configs.get_config("cpu")
  assert {d: study.run_config(c, d).num_seeds for d in c.decoders} == {
    **dict.fromkeys(study_configs.CONTINUOUS_DECODERS, 3),
    "discretized_logistic": 2,
    "categorical": 1,
  }
  text = sections.per_decoder_text(c)
  assert "`discretized_logistic`: num_seeds = 2; `categorical`: num_seeds = 1." in text
  c.decoders = ("bernoulli", "gaussian_fixed")  # a grid without them: their entries not run
  assert sections.per_decoder_text(c) == ""


def test_unknown_study_variant_is_named():
  with pytest.raises(ValueError, match="'gpu'"):
    study_configs.get_config("gpu")


def test_a_study_keeps_the_settings_that_change_numbers_and_ignores_the_others():
  """Studies and sweeps compare configs with one function and one list of fields that change no
  number (``workdir.NUMBER_FREE_FIELDS``): a study accepts another device layout, as its runs do."""
  from vae import workdir as wd
  from vae.study import grid

  old = wd.config_to_dict(smoke())
  c = smoke()
  c.train.mesh, c.train.data.data_dir, c.eval.progress_bar = "data", "/elsewhere", False
  c.per_decoder["bernoulli"] = {"mesh": "seeds"}
  c.decoders = ("bernoulli", "beta")  # extends the grid: not a difference
  assert grid.differences(old, wd.config_to_dict(c)) == []
  c.train.kl_weight = 0.5
  c.per_decoder["bernoulli"] = {"num_seeds": 1}
  assert grid.differences(old, wd.config_to_dict(c)) == [
    "per_decoder.bernoulli.num_seeds: '<absent>' there, 1 now",
    "train.kl_weight: 1.0 there, 0.5 now",
  ]


def test_a_field_an_axis_sets_for_every_run_is_not_a_difference():
  """With budgets, train.num_epochs changes no run (each runs a budget); on a rate axis,
  train.kl_weight neither: a study resumed with another value of them is the same study."""
  from vae import workdir as wd
  from vae.study import grid

  old = wd.config_to_dict(smoke())
  c = smoke()
  c.train.num_epochs = 7
  assert grid.differences(old, wd.config_to_dict(c)) == []
  c.budgets = ()
  # (without budgets it counts again: the old study's runs had no such field to compare)
  assert grid.differences(old, wd.config_to_dict(c)) == [
    "train.num_epochs: '<absent>' there, 7 now"
  ]
  rate = study_configs.get_config("rate_smoke")
  old = wd.config_to_dict(rate)
  rate.train.kl_weight = 0.3
  assert grid.differences(old, wd.config_to_dict(rate)) == []


def test_a_decoder_may_take_more_kl_weights_than_the_axis():
  """``extra_kl_weights``: a decoder's own KL weights beside the axis's (the unclipped continuous
  Bernoulli reaches the others' rates only at weights above 1); checked before anything runs."""
  from vae.study import grid

  c = study_configs.get_config("rate_smoke")
  c.extra_kl_weights["gaussian_fixed"] = (3.0, 0.5)
  assert grid.kl_weights(c) == (0.01, 0.1, 1.0)
  assert grid.kl_weights(c, "gaussian_fixed") == (0.01, 0.1, 0.5, 1.0, 3.0)
  assert grid.kl_weights(c, "bernoulli") == (0.01, 0.1, 1.0)
  assert study_configs.get_config("rate").extra_kl_weights["continuous_bernoulli"] == (3.0, 10.0, 30.0)  # fmt: skip
  c.extra_kl_weights["gaussian_fixed"] = (0.1,)
  with pytest.raises(ValueError, match="repeats a weight"):
    grid.kl_weights(c, "gaussian_fixed")
  c.extra_kl_weights = {"beta": (2.0,)}
  with pytest.raises(ValueError, match=r"extra_kl_weights names \['beta'\], not among"):
    grid.check_grid(c)
  c = smoke()
  c.extra_kl_weights = {"bernoulli": (2.0,)}
  with pytest.raises(ValueError, match="needs a rate axis"):
    grid.kl_weights(c, "bernoulli")
