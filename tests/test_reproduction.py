"""The reproduction report: verdicts from numbers and fixed tolerances (unit), and a
seconds-sized reproduction of the CB-paper anchor end to end (e2e)."""

from __future__ import annotations

import pytest

from experiments.configs import reproduce
from experiments.configs import study as study_configs
from vae import study
from vae.study import reproduction


def _result(epoch=100, **values):
  """An evaluation with two seeds; values: flat key -> (seed 0, seed 1) means."""
  per_seed = [{k: {"mean": v[s]} if "/" in k or k == "elbo" else v[s] for k, v in values.items()}
              for s in range(2)]  # fmt: skip
  return {"epoch": epoch, "num_seeds": 2, "per_seed": per_seed}


def test_verdicts_follow_the_numbers_and_the_tolerances():
  config = reproduce.get_config("cb_paper")
  results = {
    "continuous_bernoulli": _result(elbo=(1480.0, 1490.0), knn_accuracy=(0.95, 0.95)),
    "bernoulli": _result(
      **{"reading_elbos/cb_lambda": (1000.0, 1010.0), "reading_elbos/as_density": (1400.0, 1420.0)},
      knn_accuracy=(0.96, 0.96),
    ),
  }
  rows, orderings = reproduction.compare(config, results)
  by_name = {r["name"]: r for r in rows}
  cb = by_name["CB VAE, test ELBO"]
  assert cb["ours"] == 1485.0 and cb["difference"] == 15.0 and cb["verdict"] == "reproduced"
  assert cb["seeds"] == 2 and cb["epochs"] == 100
  assert by_name["B VAE, ELBO under the CB likelihood"]["verdict"] == "not reproduced"
  assert by_name["B VAE, ELBO under the CB likelihood, inverse-mean map"]["verdict"] == "reproduced"
  verdicts = {o["name"]: o["verdict"] for o in orderings}
  assert verdicts["CB above B on ELBO"] == "holds"  # 1485 > 1005 (B read as a CB)
  assert verdicts["CB above B on 15-NN accuracy"] == "does not hold"
  assert verdicts["CB above B on inception score (samples)"] == "not measured"
  assert verdicts["Beta best on ELBO"].startswith("needs an accelerator (no run of beta")
  iwae_rows, _ = reproduction.compare(reproduce.get_config("iwae"), {})
  assert [r["verdict"] for r in iwae_rows] == ["needs an accelerator"]


def test_a_folder_without_checkpoints_gives_the_same_rows(tmp_path):
  """--from_files: the evaluations a committed folder keeps (runs/<decoder>/eval.json) give the
  rows the in-memory results gave; a decoder without a run says so; an empty folder, a number
  of seeds or a setting other than the folder's are errors that name them."""
  from vae import workdir as wd

  config = reproduce.get_config("cb_paper")
  config.study.decoders = ("bernoulli", "continuous_bernoulli")
  config.study.train.num_seeds = 2
  with pytest.raises(FileNotFoundError, match="holds no evaluated run.*without --from_files"):
    reproduction.results_from_files(str(tmp_path), config)
  results = {
    "bernoulli": _result(**{"reading_elbos/cb_lambda": (1000.0, 1010.0),
                            "reading_elbos/cb_mean_knots": (1400.0, 1420.0)}),
  }  # fmt: skip
  (tmp_path / "runs" / "bernoulli").mkdir(parents=True)
  wd.write_json(str(tmp_path / "runs" / "bernoulli" / "eval.json"), results["bernoulli"])
  read = reproduction.results_from_files(str(tmp_path), config)
  assert read == results
  config.study.train.num_seeds = 10
  with pytest.raises(wd.ConfigMismatchError, match="2 seed.*the config 10.*num_seeds=2"):
    reproduction.results_from_files(str(tmp_path), config)
  wd.write_json(str(tmp_path / "study_config.json"), wd.config_to_dict(config.study))
  config.study.train.batch_size = 64
  with pytest.raises(wd.ConfigMismatchError, match="other settings.*batch_size: 50 there, 64 now"):
    reproduction.results_from_files(str(tmp_path), config)
  config.study.train.batch_size, config.study.train.num_seeds = 50, 2
  rows = {r["name"]: r for r in reproduction.compare(config, read)[0]}
  knots = [r for name, r in rows.items() if "100-knot" in name]
  assert len(knots) == 1 and knots[0]["ours"] == 1410.0 and knots[0]["verdict"] == "reproduced"
  assert rows["CB VAE, test ELBO"]["verdict"] == reproduction.NEEDS_ACCELERATOR


def test_unknown_anchor_is_named():
  with pytest.raises(ValueError, match="'sigma_vae'.*cb_paper"):
    reproduce.get_config("sigma_vae")


@pytest.mark.e2e
def test_a_seconds_sized_reproduction(tmp_path):
  config = reproduce.get_config("cb_paper")
  smoke = study_configs.get_config("smoke")
  config.study.train = smoke.train
  config.study.train.batch_size = 50
  config.study.train.optimizer.clip_value = 1.0
  config.study.eval = smoke.eval
  config.study.eval.measures = (*smoke.eval.measures, "reading_elbos")
  config.study.decoders = ("bernoulli", "continuous_bernoulli")
  results = study.run_grid(config.study, str(tmp_path))
  assert results["bernoulli"]["per_seed"][0]["reading_elbos/cb_lambda"]["n"] == 200
  path = reproduction.write(str(tmp_path), config, results, "python -m experiments.reproduce ...")
  text = open(path).read()
  assert "| CB VAE, test ELBO | `continuous_bernoulli` | 1470.0 |" in text
  assert text.count("**needs an accelerator") == 2  # Beta best; Gaussian below CB and Beta
  assert "2 seed(s) per decoder; the paper averages 10 runs." in text
  assert "Batch size 50" in text
  for row in reproduction.compare(config, results)[0]:
    assert row["verdict"] in ("reproduced", "not reproduced") and row["epochs"] == 1
