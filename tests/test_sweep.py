"""Sweeps: the smoke sweep end to end at two budgets (verdicts and trends with intervals, figures,
resume, refusal, extension), its configs, bad comparisons refused before training, and the
verdict tables on synthetic numbers."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from experiments.configs import sweep as sweep_configs
from vae import checkpoints
from vae import workdir as wd
from vae.study import report, sweep, sweep_report, verdicts
from vae.study.axes import format_value, point_label, values_of

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


# ------------------------------------------------------------------- verdicts (synthetic)


def _settings(n=100):
  c = verdicts.default_config()
  c.num_bootstrap = n
  return c


def _synthetic(values=(-0.5, 0.25), budgets=(1, 2)):
  """budget -> value -> decoder -> per-image arrays: the Bernoulli's 15-NN correctness equal to
  the Gaussian's on binary data and 0.4 lower at gamma = 0.25 (every seed and image alike)."""
  out = {}
  for b in budgets:
    out[b] = {}
    for v in values:
      gap = 0.4 if v > 0 else 0.0
      out[b][v] = {
        "bernoulli": {"knn_accuracy/correct": np.full((2, 6), 0.9 - gap),
                      "elbo/kl": np.full((2, 6), 3.0)},
        "gaussian_shared": {"knn_accuracy/correct": np.full((2, 6), 0.9),
                            "elbo/kl": np.full((2, 6), 8.0)},
      }  # fmt: skip
  return out


def test_verdict_and_trend_tables_give_every_value_and_budget_with_intervals():
  c = sweep_configs.get_config("smoke")
  c.verdict.num_bootstrap = 50
  arrays = _synthetic()
  judged = sweep_report.judge_comparisons(c, arrays, (-0.5, 0.25))
  assert [(j["comparison"].measure, j["value"]) for j in judged] == [
    ("knn_accuracy/correct", -0.5),
    ("knn_accuracy/correct", 0.25),
    ("intensity/mse", -0.5),
    ("intensity/mse", 0.25),
  ]
  knn_binary, knn_grey = judged[0], judged[1]
  assert knn_binary["overall"] == "no difference detected (stable)"
  assert knn_grey["overall"] == "holds (stable)"
  r = knn_grey["by_budget"][1]
  assert r["estimate"] == pytest.approx(-0.4) and (r["a_rate"], r["b_rate"]) == (3.0, 8.0)
  assert judged[2]["by_budget"][1]["verdict"] is None  # no per-image MSE in these arrays
  assert judged[2]["overall"] == "not computed"

  text = lambda v: format_value(c, v)  # noqa: E731
  lines = sweep_report.verdict_lines(judged, [1, 2], "gamma", text, c.verdict)
  assert lines[0].startswith("| claim | statement | measure | A vs B | gamma | 1 epochs: A, B; ")
  grey = next(line for line in lines if "+0.25" in line and "knn_accuracy" in line)
  assert grey.count("-0.4 [-0.4, -0.4]: holds; KL 3.0, 8.0") == 2
  assert grey.endswith("| **holds (stable)** |") and "`bernoulli` < `gaussian_shared`" in grey
  assert "not computed: `bernoulli` has no per-image `intensity/mse`" in lines[4]

  trends = sweep_report.judge_trends(c, arrays, (-0.5, 0.25))
  assert [t["overall"] for t in trends] == ["holds (stable)"]  # 15-NN only (f9_trends)
  r = trends[0]["by_budget"][2]
  assert (r["d_from"], r["d_to"], r["estimate"]) == (0.0, pytest.approx(-0.4), pytest.approx(-0.4))
  lines = sweep_report.trend_lines(trends, [1, 2], "gamma", text, c.verdict)
  assert "| `bernoulli` - `gaussian_shared` (falls) | -0.5 → +0.25 | " in lines[2]
  assert lines[2].count("0, -0.4; -0.4 [-0.4, -0.4]: holds") == 2
  assert lines[2].endswith("| **holds (stable)** |")
  # A budget where the claim holds and one where it does not: budget-dependent.
  arrays[2][0.25]["bernoulli"]["knn_accuracy/correct"] = np.full((2, 6), 0.95)
  judged = sweep_report.judge_comparisons(c, arrays, (-0.5, 0.25))
  assert judged[1]["overall"] == "budget-dependent"
  assert sweep_report.judge_trends(c, arrays, (-0.5, 0.25))[0]["overall"] == "budget-dependent"
  assert sweep_report.verdict_lines([], [1], "gamma", text, c.verdict) == [
    "No comparisons in the config (`comparisons`)."
  ]


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
  # The study's rules: two budgets, each run annealed to its own end, a validation split.
  assert c.budgets == (15, 30) and c.train.num_epochs == 30 and c.train.batch_size == 32
  assert c.train.optimizer.schedule == "warmup_cosine" and c.train.optimizer.warmup_epochs == 1.0
  assert c.train.data.validation_size == 5000
  pairs = {(d["measure"], d["a"], d["b"], d["direction"]) for d in c.comparisons}
  for other in ("continuous_bernoulli", "gaussian_shared"):
    assert ("knn_accuracy/correct", "bernoulli", other, "less") in pairs
    assert ("intensity/mse", "bernoulli", other, "greater") in pairs
  assert {(d["measure"], d["direction"], d["values"]) for d in c.trends} == {
    ("knn_accuracy/correct", "less", (-0.5, 0.25)),
  }
  assert [d["values"] for d in sweep_configs.get_config("paper").trends] == [(-0.5, 0.3)] * 2
  assert [point_label(c, v) for v in values_of(c)] == [
    "gamma=-0.5",
    "gamma=-0.25",
    "gamma=+0",
    "gamma=+0.25",
    "gamma=+0.45",
  ]
  cells = sweep.cells(c, "S")
  assert len(cells) == 2 * 5 * len(sweep_configs.CPU_DECODERS)
  run_dir, train = cells[(15, "gamma=+0.25", "continuous_bernoulli")]
  assert run_dir == os.path.join("S", "runs", "epochs=15", "gamma=+0.25", "continuous_bernoulli")
  assert train.data.gamma == 0.25 and train.likelihood_options.lambda_clip == 1e-4
  assert train.num_epochs == 15 and cells[(30, "gamma=+0.25", "bernoulli")][1].num_epochs == 30
  assert c.train.data.gamma == 0.0  # the sweep config itself is not changed
  smoke = sweep_configs.get_config("smoke")
  assert smoke.budgets == (1, 2) and len(values_of(smoke)) >= 2 and len(smoke.decoders) >= 2
  assert smoke.train.optimizer.schedule == "warmup_cosine" and smoke.comparisons and smoke.trends
  paper = sweep_configs.get_config("paper")
  assert (
    values_of(paper)[0] == -0.5 and values_of(paper)[-1] == 0.45 and len(values_of(paper)) == 11
  )
  assert paper.train.num_epochs == 100 and paper.train.num_seeds == 10 and not paper.budgets
  run_dir, train = sweep.cells(paper, "S")[(100, "gamma=-0.4", "beta")]
  assert run_dir == os.path.join("S", "runs", "gamma=-0.4", "beta") and train.num_epochs == 100
  kl = sweep_configs.get_config("kl_weight")
  assert kl.train.data.protocol == "dequantized" and "common" in kl.eval.measures
  assert not kl.comparisons and not kl.trends
  assert point_label(kl, 0.25) == "kl_weight=0.25"
  assert sweep.cells(kl, "S")[(30, "kl_weight=2", "gaussian_shared")][1].kl_weight == 2.0
  assert format_value(kl, 0.1 + 0.2) == "0.30000000000000004"  # exact: no two values share a folder
  for variant in sweep_configs.VARIANTS:
    sweep.check_comparisons(sweep_configs.get_config(variant))
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
  refused(r"budgets=\(0, 2\)", budgets=(0, 2))
  c = sweep_configs.get_config("smoke")
  c.per_decoder["bernoulli"] = {"data": {"gamma": 0.1}}
  with pytest.raises(ValueError, match="per_decoder.bernoulli.data.gamma would override"):
    sweep.check_sweep(c)


def _bad(field, **changes):
  c = sweep_configs.get_config("smoke")
  entry = dict(c[field][0], **changes)
  c[field] = (entry, *c[field][1:])
  return c


BAD_COMPARISONS = [
  (("comparisons", {"b": "gausian_shared"}), "comparisons: claim F9 names decoder 'gausian_shared', "
   "which is not among the sweep's decoders"),
  (("comparisons", {"b": "continuous_bernoulli"}), "decoder 'continuous_bernoulli', which is not "
   "among"),
  (("comparisons", {"measure": "knn/correct"}), "comparisons: claim F9 names measure "
   "'knn/correct', which no evaluation writes per image"),
  (("comparisons", {"measure": "common/log_likelihood"}), "written by the measure 'common', which "
   "this sweep does not run"),
  (("comparisons", {"side": "up"}), r"unknown field\(s\) \['side'\]"),
  (("trends", {"a": "beta"}), "trends: claim F9 names decoder 'beta'"),
  (("trends", {"measure": "x"}), "trends: claim F9 names measure 'x'"),
  (("trends", {"values": (-0.5, 0.45)}), r"\[0.45\] not among the sweep's axis values"),
]  # fmt: skip


@pytest.mark.parametrize("change, match", BAD_COMPARISONS)
def test_a_bad_comparison_is_refused_in_one_line_before_anything_is_written(
  tmp_path, change, match
):
  c = _bad(change[0], **change[1])
  with pytest.raises(ValueError, match=match) as e:
    sweep.run_sweep(c, str(tmp_path / "sweep"))
  assert "\n" not in str(e.value)
  assert not (tmp_path / "sweep").exists()  # nothing trained or written


def test_differences_name_each_changed_setting():
  old = wd.config_to_dict(sweep_configs.get_config("smoke"))
  c = sweep_configs.get_config("smoke")
  c.train.batch_size = 32
  c.eval.num_importance_samples = 20
  c.train.num_epochs = 3  # the budgets set every run's epochs: not a difference
  c.budgets = (1,)  # extends: not a difference
  c.decoders = ("bernoulli",)  # extends: not a difference
  c.sweep.axis_values = (0.0,)
  c.comparisons, c.trends = (), ()  # the report's only
  c.train.progress_bar = True  # presentation: not a difference
  c.train.mesh = "data"  # the device layout changes no number (workdir.NUMBER_FREE_FIELDS)
  c.train.keep_checkpoints = 1
  assert sweep.differences(old, wd.config_to_dict(c)) == [
    "eval.num_importance_samples: 10 there, 20 now",
    "train.batch_size: 64 there, 32 now",
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
  runs = []
  for budget in (1, 2):
    for label in labels:
      for decoder in c.decoders:
        run = tmp_path / "runs" / f"epochs={budget}" / label / decoder
        runs.append(run)
        assert json.load(open(run / "eval.json"))["workdir"] == (
          f"runs/epochs={budget}/{label}/{decoder}"
        )
        config = wd.load_config(str(run))
        assert config.data.gamma == float(label.split("=")[1]) and config.num_epochs == budget
        assert config.optimizer.schedule == "warmup_cosine"
        assert len(wd.read_metrics(str(run))) == budget

  # The verdicts come first: a row per comparison and gamma, then a row per trend, each budget
  # with an interval and a verdict, and the verdict over the budgets; nothing withheld.
  verdicts_at = text.index("## Verdicts at each gamma")
  assert verdicts_at < text.index("## Trends along gamma") < text.index("## Figures")
  assert "Findings" not in text and "rests on run(s) not converged" not in text
  outcomes = ("holds", "does not hold", "no difference detected")
  rows = [line for line in text.splitlines() if line.startswith("| F9 |")]
  assert len(rows) == len(c.comparisons) * 2 + len(c.trends)
  for comparison in c.comparisons:
    for gamma in ("-0.5", "+0.25"):
      (row,) = [
        r
        for r in rows
        if f"| {comparison['statement']} |" in r and f"| {gamma} |" in r and "→" not in r
      ]
      cells = row.split(" | ")
      assert sum(f"]: {o}" in row for o in outcomes) >= 1 and row.count("[") == 2
      assert any(o in cells[-1] for o in outcomes) or "budget-dependent" in cells[-1]
  trend_rows = [r for r in rows if "→" in r]
  assert len(trend_rows) == len(c.trends)
  for row in trend_rows:
    assert "-0.5 → +0.25" in row and row.count("[") == 2
  assert "1 epochs: A, B; A - B [95% interval]" in text
  assert "2 epochs: d(from), d(to); d(to) - d(from) [95% interval]" in text
  numbers = json.load(open(tmp_path / "sweep.json"))
  assert numbers["values"] == [-0.5, 0.25] and numbers["budgets"] == [1, 2]
  assert numbers["field"] == "train.data.gamma"
  assert len(numbers["verdicts"]) == 2 * len(c.comparisons)
  assert set(numbers["verdicts"][0]["by_budget"]) == {"1", "2"}
  low, high = (numbers["trends"][0]["by_budget"]["2"][k] for k in ("low", "high"))
  assert low <= high
  assert len(numbers["measures"]["knn_accuracy"]["bernoulli"]) == 2
  assert set(numbers["measures_by_budget"]) == {"1", "2"}
  assert "common_bits_per_dim" not in numbers["measures"]  # not run on warped data
  assert "| decoder | -0.5 | +0.25 |" in text and "± " in text  # two seeds
  assert "## Drift (information)" in text and "## Tables at 1 epochs" in text

  # Resume: nothing is retrained or re-evaluated.
  def state():
    return {
      str(r): (
        (r / "metrics.jsonl").read_bytes(),
        os.path.getmtime(r / "eval.json"),
        checkpoints.manager(str(r), read_only=True).all_steps(),
      )
      for r in runs
    }

  before = state()
  assert sweep.run_sweep(_smoke(), str(tmp_path)) == path
  assert state() == before
  assert open(path).read() == text  # the same numbers, the same bootstrap draws

  # Other settings: refused in one line naming the difference; the workdir is untouched.
  snapshot = _snapshot(tmp_path)
  other = _smoke()
  other.train.batch_size = 32
  with pytest.raises(wd.ConfigMismatchError, match=r"\(train.batch_size: 64 there, 32 now\)"):
    sweep.run_sweep(other, str(tmp_path))
  assert _snapshot(tmp_path) == snapshot
  proc = subprocess.run(
    [sys.executable, "-m", "experiments.sweep", "--config", "experiments/configs/sweep.py:smoke",
     f"--workdir={tmp_path}", "--config.eval.num_importance_samples=20"],
    cwd=ROOT, capture_output=True, text=True, timeout=240,
    env={**os.environ, "JAX_PLATFORMS": "cpu", "MNIST_DIR": mnist_dir},
  )  # fmt: skip
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert proc.returncode == 2 and len(errors) == 1 and "Traceback" not in proc.stderr
  assert "eval.num_importance_samples: 10 there, 20 now" in errors[0]
  assert _snapshot(tmp_path) == snapshot

  # Another grid (here a subset of the values and one budget): extends the sweep, the previous
  # report is kept; a trend with one value left says it cannot be read.
  fewer = _smoke()
  fewer.sweep.axis_values, fewer.budgets = (0.25,), (2,)
  # (a trend's fixed values must be on the axis: read this one between the axis's ends)
  fewer.trends = tuple({k: v for k, v in dict(t).items() if k != "values"} for t in fewer.trends)
  sweep.run_sweep(fewer, str(tmp_path))
  kept = os.listdir(tmp_path / report.PREVIOUS_DIR)
  assert len(kept) == 1
  assert (tmp_path / report.PREVIOUS_DIR / kept[0] / "REPORT.md").read_text() == text
  assert (tmp_path / report.PREVIOUS_DIR / kept[0] / "points" / "gamma=-0.5").is_dir()
  new = (tmp_path / "REPORT.md").read_text()
  assert "| decoder | +0.25 |" in new and "no change to read" in new
  assert state() == before  # kept, not retrained
