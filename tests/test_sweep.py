"""Sweeps: the smoke sweep end to end (report, figures, resume, refusal, extension), its configs,
and the findings on synthetic numbers."""

import hashlib
import json
import os
import subprocess
import sys

import pytest

from experiments.configs import sweep as sweep_configs
from vae import checkpoints
from vae import workdir as wd
from vae.study import report, sweep, sweep_report
from vae.study.axes import format_value, point_label, values_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _point(mean, seeds=None):
  seeds = seeds if seeds is not None else [mean]
  return {"mean": mean, "std": 0.0, "min": min(seeds), "max": max(seeds), "per_seed": seeds}


# ----------------------------------------------------------------------- findings (pure)


def test_ordering_changes_on_synthetic_numbers():
  curve = {  # 15-NN accuracy along four values of gamma, higher is better
    "b": [_point(0.95, [0.94, 0.96]), _point(0.93), _point(0.90), _point(0.88)],
    "cb": [_point(0.90, [0.89, 0.91]), _point(0.92), _point(0.91), _point(0.92)],
    "g": [_point(0.80), None, _point(0.85), _point(0.93)],
  }
  changes = sweep_report.ordering_changes(curve, "max")
  assert [(c["index"], c["next"], c["winner"], c["loser"]) for c in changes] == [
    (1, 2, "cb", "b"),  # b ahead at the first two values, cb from the third on
    (2, 3, "g", "b"),  # g has no value at index 1: compared where both were measured
    (2, 3, "g", "cb"),
  ]
  first = changes[0]
  assert first["before"] == (0.92, 0.93) and first["after"] == (0.91, 0.90)
  assert first["clear"]  # one seed each: 0.93 vs 0.92, then 0.91 vs 0.90
  # Lower is better reverses every change; a tie is skipped, not a change.
  flipped = sweep_report.ordering_changes(curve, "min")
  assert [(c["winner"], c["loser"]) for c in flipped] == [("b", "cb"), ("b", "g"), ("cb", "g")]
  tied = {
    "x": [_point(1.0), _point(2.0), _point(3.0)],
    "y": [_point(2.0), _point(2.0), _point(1.0)],
  }
  assert [(c["index"], c["next"]) for c in sweep_report.ordering_changes(tied, "max")] == [(0, 2)]
  # "closer to 0 is better" ranks by the absolute value; overlapping seeds are not clear.
  shift = {
    "x": [_point(0.01, [0.0, 0.02]), _point(-0.05, [-0.06, -0.04])],
    "y": [_point(-0.03, [-0.03, -0.03]), _point(0.015, [0.0, 0.03])],
  }
  (change,) = sweep_report.ordering_changes(shift, "zero")
  assert (change["winner"], change["loser"], change["clear"]) == ("y", "x", True)
  shift["y"][1] = _point(0.015, [0.0, 0.03, -0.045])
  assert not sweep_report.ordering_changes(shift, "zero")[0]["clear"]
  assert sweep_report.ranking(curve, 1, "max") == ["b", "cb"]


def test_findings_say_where_the_order_changes_and_which_runs_are_flagged():
  texts = ["-0.5", "-0.25", "+0", "+0.25"]
  knn = {
    "bernoulli": [_point(0.95, [0.94, 0.96]), _point(0.93), _point(0.90), _point(0.88)],
    "continuous_bernoulli": [_point(0.90, [0.89, 0.91]), _point(0.92), _point(0.91), _point(0.92)],
  }
  mse = {
    "bernoulli": [_point(v) for v in (20.0, 21.0, 22.0, 23.0)],
    "continuous_bernoulli": [_point(v) for v in (25.0, 26.0, 27.0, 28.0)],
  }
  curves = {"knn_accuracy": knn, "recon_mse": mse, "elbo": mse}
  measures = ["elbo", "knn_accuracy", "recon_mse"]
  out = sweep_report.findings(curves, texts, "gamma", {}, measures)
  assert len(out) == 3  # the ELBO is not comparable across decoders: no finding
  assert out[0].startswith("**15-NN acc.** (higher is better): at gamma = -0.5, best first: ")
  assert (
    "between -0.25 and +0 `continuous_bernoulli` overtakes `bernoulli` "
    "(0.9200 vs 0.9300 at -0.25, 0.9100 vs 0.9000 at +0)" in out[0]
  )
  assert (
    "best: `bernoulli` (gamma = -0.5, -0.25), `continuous_bernoulli` (gamma = +0, +0.25)"
    in (out[0])
  )
  assert "rests on" not in out[0] and "within the seeds' spread" not in out[0]
  assert out[1] == (
    "**recon. MSE** (lower is better): the same order at every gamma, best first: "
    "`bernoulli`, `continuous_bernoulli`."
  )
  assert out[2] == "Every run passed the convergence check."
  mse["continuous_bernoulli"][3] = _point(23.0)  # equal means are a tie, not an order
  out = sweep_report.findings(curves, texts, "gamma", {}, measures)
  assert out[1].endswith(
    "best first: `bernoulli`, `continuous_bernoulli`; tied at gamma = +0.25: `bernoulli`, "
    "`continuous_bernoulli`."
  )
  flagged = {(2, "bernoulli"): ["test ELBO still rose"], (0, "continuous_bernoulli"): ["..."]}
  out = sweep_report.findings(curves, texts, "gamma", flagged, measures)
  assert "(rests on run(s) not converged: `bernoulli` at gamma = +0)" in out[0]
  assert out[1].endswith(
    "(rests on run(s) not converged: `bernoulli` at gamma = +0; `continuous_bernoulli` at "
    "gamma = -0.5)."
  )
  assert out[2].startswith(
    "Not converged (see Convergence): `bernoulli` at gamma = +0; `continuous_bernoulli` at "
    "gamma = -0.5."
  )
  # Seeds that overlap at either end of a change: said so.
  knn["bernoulli"][1] = _point(0.93, [0.90, 0.96])
  out = sweep_report.findings(curves, texts, "gamma", {}, measures)
  assert "0.9100 vs 0.9000 at +0; within the seeds' spread)" in out[0]


def test_measures_of_the_unwarped_data_are_not_reported_for_warped_data():
  curves = dict.fromkeys(("elbo", "common_bits_per_dim", "knn_accuracy", "frechet_samples"), {})
  assert sweep_report.reported_measures(curves, "warped") == ["elbo", "knn_accuracy"]
  assert sweep_report.reported_measures(curves, "dequantized") == [
    "elbo",
    "common_bits_per_dim",
    "knn_accuracy",
    "frechet_samples",
  ]


# ------------------------------------------------------------------------------- configs


def test_variants_labels_and_bad_settings():
  c = sweep_configs.get_config("cpu")
  assert c.sweep.axis == "gamma" and values_of(c) == (-0.5, -0.25, 0.0, 0.25, 0.45)
  assert c.train.data.protocol == "warped" and c.decoders == sweep_configs.CPU_DECODERS
  assert {"laplace_fixed", "laplace_shared"} <= set(c.decoders)
  assert not {"common", "discretized", "cross_entropy", "readings"} & set(c.eval.measures)
  assert [point_label(c, v) for v in values_of(c)] == [
    "gamma=-0.5",
    "gamma=-0.25",
    "gamma=+0",
    "gamma=+0.25",
    "gamma=+0.45",
  ]
  cells = sweep.cells(c, "S")
  assert len(cells) == 5 * len(sweep_configs.CPU_DECODERS)
  run_dir, train = cells[("gamma=+0.25", "continuous_bernoulli")]
  assert run_dir == os.path.join("S", "runs", "gamma=+0.25", "continuous_bernoulli")
  assert train.data.gamma == 0.25 and train.likelihood_options.lambda_clip == 1e-4
  assert c.train.data.gamma == 0.0  # the sweep config itself is not changed
  paper = sweep_configs.get_config("paper")
  assert (
    values_of(paper)[0] == -0.5 and values_of(paper)[-1] == 0.45 and len(values_of(paper)) == 11
  )
  assert paper.train.num_epochs == 100 and paper.train.num_seeds == 10
  kl = sweep_configs.get_config("kl_weight")
  assert kl.train.data.protocol == "dequantized" and "common" in kl.eval.measures
  assert point_label(kl, 0.25) == "kl_weight=0.25"
  assert sweep.cells(kl, "S")[("kl_weight=2", "gaussian_shared")][1].kl_weight == 2.0
  assert format_value(kl, 0.1 + 0.2) == "0.30000000000000004"  # exact: no two values share a folder
  with pytest.raises(ValueError, match="'gpu'"):
    sweep_configs.get_config("gpu")

  def refused(match, **changes):
    c = sweep_configs.get_config("smoke")
    for field, value in changes.items():
      *parents, leaf = field.split("__")
      section = c
      for p in parents:
        section = section[p]
      section[leaf] = value
    with pytest.raises(ValueError, match=match):
      sweep.check_sweep(c)

  refused("repeats", sweep__axis_values=(0.25, -0.5, 0.25))
  refused("not a finite number", sweep__axis_values=(0.25, float("nan")))
  refused("non-empty", sweep__axis_values=())
  refused("sweep.axis='lr' is not one of", sweep__axis="lr")
  refused("only the 'warped' protocol uses", train__data__protocol="dequantized")
  refused(r"data.gamma=0.7 must be in \[-0.5, 0.5\]", sweep__axis_values=(0.0, 0.7))
  refused("unknown decoder 'laplace'", decoders=("bernoulli", "laplace"))
  c = sweep_configs.get_config("smoke")
  c.per_decoder["bernoulli"] = {"data": {"gamma": 0.1}}
  with pytest.raises(ValueError, match="per_decoder.bernoulli.data.gamma would override"):
    sweep.check_sweep(c)


def test_differences_name_each_changed_setting():
  old = wd.config_to_dict(sweep_configs.get_config("smoke"))
  c = sweep_configs.get_config("smoke")
  c.train.num_epochs = 3
  c.eval.num_importance_samples = 20
  c.decoders = ("bernoulli",)  # extends: not a difference
  c.sweep.axis_values = (0.0,)
  c.train.progress_bar = True  # presentation: not a difference
  c.train.mesh = "data"  # the device layout changes no number (workdir.NUMBER_FREE_FIELDS)
  c.train.keep_checkpoints = 1
  assert sweep.differences(old, wd.config_to_dict(c)) == [
    "eval.num_importance_samples: 10 there, 20 now",
    "train.num_epochs: 2 there, 3 now",
  ]


def test_per_decoder_settings_count_for_the_decoders_that_ran():
  old = wd.config_to_dict(sweep_configs.get_config("smoke"))  # bernoulli, gaussian_shared
  c = sweep_configs.get_config("smoke")
  c.per_decoder["categorical"] = {"num_seeds": 1}  # never run here: not a difference
  assert sweep.differences(old, wd.config_to_dict(c)) == []
  c.per_decoder["gaussian_shared"] = {"num_seeds": 1}  # it ran with the study's seeds
  assert sweep.differences(old, wd.config_to_dict(c)) == [
    "per_decoder.gaussian_shared.num_seeds: '<absent>' there, 1 now"
  ]


# ------------------------------------------------------------------------------ end to end


def _smoke():
  c = sweep_configs.get_config("smoke")
  c.progress_bar = False
  c.eval.progress_bar = False
  return c


def _snapshot(folder) -> dict:
  out = {}
  for dirpath, _, files in os.walk(folder):
    for name in files:
      with open(os.path.join(dirpath, name), "rb") as f:
        out[os.path.relpath(os.path.join(dirpath, name), folder)] = hashlib.sha256(
          f.read()
        ).hexdigest()
  return out


@pytest.mark.e2e
def test_every_variant_passes_its_checks(mnist_dir):
  for variant in sweep_configs.VARIANTS:  # every point built and checked, the data read
    sweep.check_sweep(sweep_configs.get_config(variant))


@pytest.mark.e2e
def test_smoke_sweep_reports_resumes_refuses_and_extends(tmp_path, mnist_dir):
  c = _smoke()
  path = sweep.run_sweep(c, str(tmp_path))
  text = open(path).read()
  labels = ["gamma=-0.5", "gamma=+0.25"]
  for fig in ("measures.png", "likelihoods.png", "learning_curves.png", "sigma.png"):
    assert os.path.getsize(tmp_path / fig) > 1000, fig
    assert f"({fig})" in text
  for label in labels:
    for fig in ("reconstructions.png", "samples.png"):
      assert os.path.getsize(tmp_path / "points" / label / fig) > 1000
      assert f"(points/{label}/{fig})" in text
  for label in labels:
    for decoder in c.decoders:
      run = tmp_path / "runs" / label / decoder
      assert json.load(open(run / "eval.json"))["workdir"] == f"runs/{label}/{decoder}"
      assert wd.load_config(str(run)).data.gamma == float(label.split("=")[1])
  numbers = json.load(open(tmp_path / "sweep.json"))
  assert numbers["values"] == [-0.5, 0.25] and numbers["field"] == "train.data.gamma"
  assert len(numbers["measures"]["knn_accuracy"]["bernoulli"]) == 2
  assert "common_bits_per_dim" not in numbers["measures"]  # not run on warped data
  assert "| decoder | -0.5 | +0.25 |" in text and "± " in text  # two seeds
  assert "**15-NN acc.** (higher is better)" in text and "## Convergence" in text
  # 2 epochs: every run is flagged, and the findings say so.
  assert "Not converged (see Convergence): `bernoulli` at gamma = -0.5, +0.25" in text
  assert "rests on run(s) not converged" in text

  # Resume: nothing is retrained or re-evaluated.
  runs = [tmp_path / "runs" / label / d for label in labels for d in c.decoders]
  before = {
    str(r): (
      (r / "metrics.jsonl").read_bytes(),
      os.path.getmtime(r / "eval.json"),
      checkpoints.manager(str(r), read_only=True).all_steps(),
    )
    for r in runs
  }
  assert sweep.run_sweep(_smoke(), str(tmp_path)) == path
  assert before == {
    str(r): (
      (r / "metrics.jsonl").read_bytes(),
      os.path.getmtime(r / "eval.json"),
      checkpoints.manager(str(r), read_only=True).all_steps(),
    )
    for r in runs
  }

  # Other settings: refused in one line naming the difference; the workdir is untouched.
  snapshot = _snapshot(tmp_path)
  other = _smoke()
  other.train.num_epochs = 3
  with pytest.raises(wd.ConfigMismatchError, match=r"\(train.num_epochs: 2 there, 3 now\)"):
    sweep.run_sweep(other, str(tmp_path))
  assert _snapshot(tmp_path) == snapshot
  proc = subprocess.run(
    [sys.executable, "-m", "experiments.sweep", "--config", "experiments/configs/sweep.py:smoke",
     f"--workdir={tmp_path}", "--config.train.num_epochs=3"],
    cwd=ROOT, capture_output=True, text=True, timeout=240,
    env={**os.environ, "JAX_PLATFORMS": "cpu", "MNIST_DIR": mnist_dir},
  )  # fmt: skip
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
  assert "train.num_epochs: 2 there, 3 now" in errors[0]
  assert _snapshot(tmp_path) == snapshot

  # Another grid (here a subset of the values): extends the sweep, the previous report is kept.
  fewer = _smoke()
  fewer.sweep.axis_values = (0.25,)
  sweep.run_sweep(fewer, str(tmp_path))
  kept = os.listdir(tmp_path / report.PREVIOUS_DIR)
  assert len(kept) == 1
  assert (tmp_path / report.PREVIOUS_DIR / kept[0] / "REPORT.md").read_text() == text
  assert (tmp_path / report.PREVIOUS_DIR / kept[0] / "points" / "gamma=-0.5").is_dir()
  assert "| decoder | +0.25 |" in (tmp_path / "REPORT.md").read_text()
  assert (tmp_path / "runs" / "gamma=-0.5" / "bernoulli" / "eval.json").exists()  # kept
