"""The catalogue of bad inputs: every mistake a one-line message, nothing locked, nothing lost.

Each case runs the real command line and asserts: a non-zero exit, exactly one ``error:`` line on
stderr naming the bad value, no Python traceback, the workdir unchanged (or not created), and the
workdir still usable with the corrected value.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import vae
from tests import helpers
from vae import workdir as wd

pytestmark = pytest.mark.e2e  # the commands read the real MNIST

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TINY = helpers.TINY_FLAGS
EVAL_TINY = [
  "--eval.num_importance_samples=10",
  "--eval.chunk=10",
  "--eval.test_size=200",
  "--eval.knn_train_size=500",
  "--eval.sample_quality=False",
  "--eval.progress_bar=False",
]


def _run(args, env=None, timeout=240):
  return subprocess.run(
    [sys.executable, "-m", *args],
    cwd=ROOT,
    env={**os.environ, "JAX_PLATFORMS": "cpu", **(env or {})},
    capture_output=True,
    text=True,
    timeout=timeout,
  )


def _train(workdir, *extra, config="experiments/configs/continuous_bernoulli.py", env=None):
  return _run(["experiments.train", "--config", config, f"--workdir={workdir}", *TINY, *extra], env)


def _snapshot(folder) -> dict:
  """path -> (size, sha256) of every file under ``folder`` (empty if it does not exist)."""
  out = {}
  for dirpath, _, files in os.walk(folder):
    for name in files:
      path = os.path.join(dirpath, name)
      with open(path, "rb") as f:
        out[os.path.relpath(path, folder)] = hashlib.sha256(f.read()).hexdigest()
  return out


def _assert_one_line_error(proc, *needles):
  assert proc.returncode not in (0, None), proc.stdout + proc.stderr
  assert "Traceback" not in proc.stderr, proc.stderr
  errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
  assert len(errors) == 1, proc.stderr
  for needle in needles:
    assert needle in errors[0], errors[0]
  return errors[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
  """A tiny continuous-Bernoulli run (2 epochs) and one evaluation of it."""
  workdir = str(tmp_path_factory.mktemp("trained"))
  proc = _train(workdir)
  assert proc.returncode == 0, proc.stderr
  proc = _run(["experiments.evaluate", f"--workdir={workdir}", *EVAL_TINY])
  assert proc.returncode == 0, proc.stderr
  return workdir


# ------------------------------------------------------------------- train: a new workdir


FRESH_TRAIN_CASES = [
  (["--config.batch_size=4096"], ["batch_size=4096", "larger than the 256 training images"]),
  (["--config.data.train_size=70000"], ["data.train_size=70000", "[0, 60000]"]),
  (["--config.optimizer.name=adamm"], ["optimizer.name='adamm'"]),
  (["--config.data.gamma=0.7"], ["data.gamma=0.7", "[-0.5, 0.5]"]),
  (["--config.model.latent_dim=0"], ["model.latent_dim=0", ">= 1"]),
  (["--config.optimizer.learning_rate=nan"], ["learning_rate=nan", "> 0"]),
  (["--config.optimizer.learning_rate=-1e-3"], ["learning_rate=-0.001", "> 0"]),
  (["--config.optimizer.learning_rate=0"], ["learning_rate=0", "> 0"]),
  (["--config.foo=1"], ["no field 'foo'", "--config.foo=1"]),
  (["--config.likelihood_options.sigma=optimal"], ["no field 'sigma'"]),
  (["--config.data.protocol=jpeg"], ["data.protocol='jpeg'", "dequantized"]),
  (["--config.model.arch=transformer"], ["model.arch='transformer'", "mlp"]),
  (["--config.num_seeds=0"], ["num_seeds=0", ">= 1"]),
  (["--config.kl_weight=-1"], ["kl_weight=-1", ">= 0"]),
  (["--config.eval_batch_size=0"], ["eval_batch_size=0"]),
  (["--config.data.source=web"], ["data.source='web'", "idx"]),
  (["--config.model.dropout=1.0"], ["model.dropout=1.0", "[0, 1)"]),
]


@pytest.mark.parametrize("extra,needles", FRESH_TRAIN_CASES, ids=lambda v: str(v)[:40])
def test_train_rejects_a_bad_value_before_writing_anything(tmp_path, extra, needles):
  workdir = tmp_path / "run"
  _assert_one_line_error(_train(workdir, *extra), *needles)
  assert not workdir.exists()  # nothing written: the corrected command starts cleanly


def test_a_rejected_value_leaves_an_existing_workdir_as_it_was(trained):
  before = _snapshot(trained)
  for extra, needles in (
    (["--config.batch_size=4096"], ["batch_size=4096"]),
    (["--config.model.latent_dim=8"], ["model.latent_dim: 4 in the workdir, 8 now"]),
    (["--config.optimizer.learning_rate=nan"], ["learning_rate=nan"]),
  ):
    _assert_one_line_error(_train(trained, *extra), *needles)
    assert _snapshot(trained) == before
  proc = _train(trained)  # the corrected command: nothing left to train
  assert proc.returncode == 0 and "done at epoch 2" in proc.stdout, proc.stderr


def test_missing_config_file_and_a_workdir_that_is_a_file(tmp_path):
  _assert_one_line_error(
    _train(tmp_path / "w", config="experiments/configs/nothere.py"), "nothere.py"
  )
  a_file = tmp_path / "file"
  a_file.write_text("not a folder")
  _assert_one_line_error(_train(a_file), str(a_file), "is a file")
  assert a_file.read_text() == "not a folder"


def test_missing_and_truncated_mnist(tmp_path):
  _assert_one_line_error(
    _train(tmp_path / "w", env={"MNIST_DIR": str(tmp_path / "nowhere")}), "nowhere", "MNIST_DIR"
  )
  broken = tmp_path / "mnist"
  shutil.copytree(os.environ["MNIST_DIR"], broken)
  name = broken / "t10k-labels-idx1-ubyte.gz"
  name.write_bytes(name.read_bytes()[:500])
  line = _assert_one_line_error(_train(tmp_path / "w", env={"MNIST_DIR": str(broken)}))
  assert "t10k-labels-idx1-ubyte.gz" in line and "truncated" in line
  assert not (tmp_path / "w").exists()


# ------------------------------------------------------------------------------ evaluate


EVAL_CASES = [
  (["--eval.num_importance_samples=0"], ["num_importance_samples=0", ">= 1"]),
  (["--eval.batch_size=0"], ["batch_size=0", ">= 1"]),
  (["--eval.num_importance_samples=100", "--eval.chunk=30"], ["multiple of eval.chunk=30"]),
  (['--eval.measures=("elbo","fid")'], ["'fid'", "knn_accuracy"]),
  (["--eval.test_size=20000"], ["eval.test_size=20000", "[0, 10000]"]),
  (["--step=7"], ["epoch 7", "available: [1, 2]"]),
  (["--eval.foo=1"], ["no field 'foo'"]),
]


@pytest.mark.parametrize("extra,needles", EVAL_CASES, ids=lambda v: str(v)[:40])
def test_evaluate_rejects_a_bad_value_and_keeps_the_evaluation(trained, extra, needles):
  before = _snapshot(trained)
  cmd = ["experiments.evaluate", f"--workdir={trained}", *EVAL_TINY, *extra]
  _assert_one_line_error(_run(cmd), *needles)
  assert _snapshot(trained) == before


def test_evaluate_a_workdir_that_is_not_one(tmp_path):
  _assert_one_line_error(
    _run(["experiments.evaluate", f"--workdir={tmp_path / 'none'}"]), "config.json", "none"
  )


def test_sigterm_during_evaluation_stops_cleanly_and_keeps_the_previous(trained):
  before = _snapshot(trained)
  proc = subprocess.Popen(
    [sys.executable, "-m", "experiments.evaluate", f"--workdir={trained}", *EVAL_TINY,
     "--eval.num_importance_samples=2000", "--eval.chunk=100", "--eval.progress_bar=True"],
    cwd=ROOT, env={**os.environ, "JAX_PLATFORMS": "cpu"}, stdout=subprocess.PIPE,
    stderr=subprocess.PIPE, text=True,
  )  # fmt: skip
  time.sleep(15)  # loading, compiling or estimating: any moment will do
  proc.send_signal(signal.SIGTERM)
  out, err = proc.communicate(timeout=120)
  assert proc.returncode == 0 and "Traceback" not in err, err
  assert "stopped by SIGTERM" in out
  assert _snapshot(trained) == before


# A stop while XLA compiles or computes. A handler that raised and left through sys.exit tore the
# runtime down under XLA's still-busy threads (a segfault in CI); experiments.cli now exits at once.
_BUSY_ENTRY_POINT = """
import os, signal, sys, threading
import jax, jax.numpy as jnp
from experiments import cli

def main(argv):
  def chain(x):  # long to trace, compile and run: the signal lands in one of them
    for k in range(300):
      x = jnp.sin(x @ x + k)
    return x
  sig = getattr(signal, sys.argv[1])
  threading.Timer(float(sys.argv[2]), os.kill, (os.getpid(), sig)).start()
  jax.jit(chain)(jnp.ones((800, 800)) / 800).block_until_ready()
  print("finished before the signal")

cli.run(main)
"""


@pytest.mark.parametrize(
  "sig,status,after", [("SIGTERM", 0, 0.5), ("SIGTERM", 0, 2.5), ("SIGINT", 130, 1.5)]
)
def test_a_stop_while_xla_compiles_or_computes_exits_cleanly(sig, status, after):
  proc = subprocess.run(
    [sys.executable, "-c", _BUSY_ENTRY_POINT, sig, str(after)], cwd=ROOT,
    env={**os.environ, "JAX_PLATFORMS": "cpu"}, capture_output=True, text=True, timeout=120,
  )  # fmt: skip
  if "finished before the signal" in proc.stdout:
    pytest.skip("this machine computed the chain before the signal arrived")
  assert proc.returncode == status, proc.stderr[-2000:]
  assert "nothing half-written" in proc.stdout
  assert "Traceback" not in proc.stderr and "Fatal Python error" not in proc.stderr


# --------------------------------------------------------------------------------- study


def _study(workdir, *extra):
  return _run(
    ["experiments.study", "--config", "experiments/configs/study.py:smoke",
     f"--workdir={workdir}", *extra]
  )  # fmt: skip


def test_study_bad_variant_decoder_and_settings(tmp_path):
  _assert_one_line_error(
    _run(["experiments.study", "--config", "experiments/configs/study.py:gpu",
          f"--workdir={tmp_path / 's'}"]),
    "'gpu'",
  )  # fmt: skip
  _assert_one_line_error(_study(tmp_path / "s", '--config.decoders=("laplace",)'), "'laplace'")
  _assert_one_line_error(_study(tmp_path / "s", "--config.per_decoder.beta=1"), "per_decoder")
  assert not (tmp_path / "s").exists()


def test_study_with_other_settings_is_refused_and_a_new_grid_extends_it(tmp_path):
  study = tmp_path / "s"
  assert _study(study, '--config.decoders=("bernoulli",)').returncode == 0
  first_report = (study / "REPORT.md").read_text()
  before = _snapshot(study)
  _assert_one_line_error(
    _study(study, '--config.decoders=("bernoulli",)', "--config.train.kl_weight=0.5"),
    "other train/eval settings",
  )
  assert _snapshot(study) == before
  proc = _study(study, '--config.decoders=("bernoulli","gaussian_fixed")')
  assert proc.returncode == 0, proc.stderr
  assert "| gaussian_fixed |" in (study / "REPORT.md").read_text()
  kept = os.listdir(study / "previous_reports")
  assert len(kept) == 1
  assert (study / "previous_reports" / kept[0] / "REPORT.md").read_text() == first_report


def test_reproduce_unknown_anchor(tmp_path):
  _assert_one_line_error(
    _run(["experiments.reproduce", "--config", "experiments/configs/reproduce.py:sigma_vae",
          f"--workdir={tmp_path / 'r'}"]),
    "'sigma_vae'",
  )  # fmt: skip


# ------------------------------------------------------------------------------ vae.load


def test_load_bad_inputs(trained, tmp_path):
  with pytest.raises(FileNotFoundError, match="config.json"):
    vae.load(str(tmp_path / "nowhere"))
  with pytest.raises(ValueError, match="seed=5 is not one of this run's seeds 0..0"):
    vae.load(trained, seed=5)
  with pytest.raises(ValueError, match="no checkpoint for epoch 7.*available: \\[1, 2\\]"):
    vae.load(trained, step=7)


# -------------------------------------------------------------- damaged files are repaired


def test_a_corrupted_latest_checkpoint_falls_back_and_a_torn_metrics_line_is_repaired(tmp_path):
  workdir = tmp_path / "run"
  assert _train(workdir).returncode == 0
  # Damage every array file of the latest checkpoint, and tear the last metrics line.
  for dirpath, _, files in os.walk(workdir / "checkpoints" / "2"):
    for name in files:
      if "manifest" in name or name.endswith(".zarray") or "ocdbt" in dirpath:
        path = os.path.join(dirpath, name)
        with open(path, "r+b") as f:
          f.truncate(max(os.path.getsize(path) // 3, 1))
  metrics = workdir / wd.METRICS_FILE
  metrics.write_text(metrics.read_text() + '{"epoch": 3, "tr')
  # Reading the run (read-only) falls back too, and leaves the damaged checkpoint in place.
  assert vae.load(str(workdir)).epoch == 1 and (workdir / "checkpoints" / "2").is_dir()
  proc = _train(workdir, "--config.num_epochs=3")
  assert proc.returncode == 0, proc.stderr
  assert "epoch 2" in proc.stderr and "does not read back" in proc.stderr
  assert "resuming from epoch 1" in proc.stderr
  assert "line 3 is not JSON" in proc.stderr
  rows = wd.read_metrics(str(workdir))
  assert [r["epoch"] for r in rows] == [1, 2, 3]
  assert os.listdir(workdir / "unreadable_checkpoints")  # kept, not deleted
  json.loads(metrics.read_text().splitlines()[-1])
  assert vae.load(str(workdir)).epoch == 3


def test_no_temporary_folders_are_left_behind(tmp_path):
  import tempfile

  tmp = tempfile.gettempdir()
  before = {n for n in os.listdir(tmp) if n.endswith("tfds")}
  proc = _run(
    ["experiments.train", "--config", "experiments/configs/bernoulli.py",
     f"--workdir={tmp_path / 'w'}", *TINY, "--config.num_epochs=1", "--config.data.source=tfds"],
    env={"TFDS_DATA_DIR": str(tmp_path / "tfds")},
  )  # fmt: skip
  assert proc.returncode == 0, proc.stderr
  assert {n for n in os.listdir(tmp) if n.endswith("tfds")} == before
