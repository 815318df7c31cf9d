"""The study end to end on the smoke variant (a subset of decoders), and its report."""

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
def test_smoke_study_writes_a_report_and_resumes(tmp_path):
  c = smoke()
  path = study.run_study(c, str(tmp_path))
  text = open(path).read()
  for decoder in c.decoders:
    assert f"| {decoder} |" in text
    # the run's path relative to the study folder: committed results carry no absolute paths
    assert (
      json.load(open(tmp_path / "runs" / decoder / "eval.json"))["workdir"] == f"runs/{decoder}"
    )
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
  assert "Claim *BCE is biased toward 0.5*" in text
  assert "Claim *a learned sigma fixes the reconstruction/KL balance*" in text
  verdicts = ("**Holds**", "**Does not hold**", "**No verdict: rests on run(s) not converged")
  assert sum(text.count(v) for v in verdicts) == 3
  assert "## Convergence" in text and "| converged |" in text
  assert "± " in text  # two seeds: mean ± std
  # Every column the table shows is defined under it, with its direction.
  for column in report.columns().values():
    assert f"| {column.header} |" in text or f"| {column.header} | " in text
    assert f"- *{column.header}*: {column.definition} ({column.better_words})" in text
  # The report is written from the records alone: without any checkpoint (a committed result
  # keeps eval.json, metrics.jsonl, config.json and the eval folder), the same report again.
  copy = tmp_path / "copy"
  shutil.copytree(tmp_path, copy, ignore=shutil.ignore_patterns("checkpoints", "copy"))
  results = {
    d: {**json.load(open(copy / "runs" / d / "eval.json")), "workdir": str(copy / "runs" / d)}
    for d in c.decoders
  }
  rewritten = open(report.write_report(str(copy), c, results)).read()
  assert rewritten == text.replace(str(tmp_path), str(copy))
  assert os.path.getsize(copy / "reconstructions.png") > 1000
  # Resume: nothing is retrained or re-evaluated.
  mtimes = {d: os.path.getmtime(tmp_path / "runs" / d / "eval.json") for d in c.decoders}
  steps_before = {
    d: checkpoints.manager(str(tmp_path / "runs" / d), read_only=True).all_steps()
    for d in c.decoders
  }
  study.run_study(c, str(tmp_path))
  assert mtimes == {d: os.path.getmtime(tmp_path / "runs" / d / "eval.json") for d in c.decoders}
  assert steps_before == {
    d: checkpoints.manager(str(tmp_path / "runs" / d), read_only=True).all_steps()
    for d in c.decoders
  }


def test_findings_follow_the_numbers():
  def row(shift, sharp, mse, kl):
    return {
      "shift_toward_half": {"mean": shift, "std": 0, "per_seed": [shift]},
      "sharpness_ratio": {"mean": sharp, "std": 0, "per_seed": [sharp]},
      "recon_mse": {"mean": mse, "std": 0, "per_seed": [mse]},
      "test_kl": {"mean": kl, "std": 0, "per_seed": [kl]},
    }

  table = {
    "bernoulli": row(0.05, 0.5, 30, 20),
    "gaussian_fixed": row(0.01, 0.8, 40, 10),
    "gaussian_shared": row(-0.01, 0.9, 20, 25),
  }
  text = "\n".join(report.findings(table))
  assert "BCE is biased toward 0.5*: Bernoulli reconstructions move toward 0.5 by +0.0500" in text
  assert text.count("**Holds**") == 3
  table["bernoulli"] = row(-0.02, 0.95, 30, 20)
  table["gaussian_fixed"] = row(0.01, 0.8, 40, 30)
  text = "\n".join(report.findings(table))
  assert text.count("**Does not hold**") == 3
  assert "**recon. MSE**: best is `gaussian_shared`" in text
  flagged = {"gaussian_shared": ["sigma 0.465 is +191% from its optimum 0.160"]}
  text = "\n".join(report.findings(table, flagged))
  assert text.count("No verdict: rests on run(s) not converged (`gaussian_shared`)") == 3
  assert "best is `gaussian_shared` (20.00) (no verdict: `gaussian_shared` not converged)" in text


def test_findings_compare_the_best_continuous_decoder_with_the_best_8bit_one():
  def row(nll, nll_std, is_samples):
    return {
      "discretized_nll": {"mean": nll, "std": nll_std, "per_seed": [nll - nll_std, nll + nll_std]},
      "inception_score_samples": {"mean": is_samples, "std": 0.0, "per_seed": [is_samples] * 2},
    }

  table = {
    "bernoulli": {},  # no 8-bit pmf: not compared
    "gaussian_shared": row(700.0, 2.0, 6.0),
    "beta": row(650.0, 3.0, 5.0),
    "discretized_logistic": row(646.0, 0.5, 7.0),
    "categorical": row(660.0, 1.0, 8.0),
  }
  text = "\n".join(report.findings(table))
  assert (
    "on **8-bit NLL**: best continuous `beta` 650.0 ± 3.0, best 8-bit `discretized_logistic` "
    "646.0 ± 0.5 (the continuous one is worse by 4.0). Criterion: better, or worse by at most "
    "the sum of the two standard deviations over seeds (3.5). **Does not hold**." in text
  )
  assert "on **IS (samples)**: best continuous `gaussian_shared` 6.00" in text
  assert "best 8-bit `categorical` 8.00" in text
  table["beta"] = row(648.0, 3.0, 5.0)  # worse by 2.0 < 3.5: within the spread over seeds
  text = "\n".join(report.findings(table, {"categorical": ["still rising"]}))
  assert "(the continuous one is worse by 2.0)" in text and "(3.5). **Holds**." in text
  assert "8.00 ± 0.00 (the continuous one is worse by 2.00)" in text
  assert "No verdict: rests on run(s) not converged (`categorical`)" in text


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
