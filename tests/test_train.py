"""End-to-end training on real MNIST subsets: every likelihood, resume, seeds, devices, errors."""

import json
import os
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from tests.helpers import final_arrays, metrics_without_timing, run, tiny_config
from vae import checkpoints, training
from vae import workdir as wd
from vae.training import programs

pytestmark = pytest.mark.e2e  # trains on real MNIST subsets

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

LIKELIHOODS = [
  ("bernoulli", {}),
  ("continuous_bernoulli", {}),
  ("beta", {}),
  ("gaussian", {"sigma": "fixed"}),
  ("gaussian", {"sigma": "shared"}),
  ("gaussian", {"sigma": "per_pixel"}),
  ("gaussian", {"sigma": "decoder"}),
  ("gaussian", {"sigma": "optimal", "mean": "identity"}),
]


@pytest.mark.parametrize("name,options", LIKELIHOODS, ids=lambda v: str(v))
def test_one_epoch_per_likelihood(tmp_path, name, options):
  c = tiny_config(name, **options)
  c.num_epochs = 1
  result = run(c, tmp_path)
  row = result.metrics[-1]
  assert row["epoch"] == 1 and row["step"] == 256 // 64
  assert np.isfinite(row["train"]["loss"]) and np.isfinite(row["test"]["elbo"])
  assert row["test"]["elbo"] == pytest.approx(row["test"]["recon"] - row["test"]["kl"], rel=1e-5)
  assert os.path.exists(tmp_path / "images" / "epoch_0001.png")
  assert json.load(open(tmp_path / "config.json"))["likelihood"] == name
  assert any(f.startswith("events") for f in os.listdir(tmp_path / "tensorboard"))
  assert checkpoints.manager(str(tmp_path), read_only=True).latest_step() == 1


def test_training_improves_the_elbo(tmp_path):
  c = tiny_config("continuous_bernoulli")
  c.num_epochs = 4
  rows = run(c, tmp_path).metrics
  assert rows[-1]["test"]["elbo"] > rows[0]["test"]["elbo"] + 10


def test_resume_is_bit_identical(tmp_path):
  c = tiny_config("gaussian", sigma="optimal")
  c.num_epochs = 3
  run(c, tmp_path / "straight")
  c.num_epochs = 1
  run(c, tmp_path / "resumed")
  c.num_epochs = 3
  result = run(c, tmp_path / "resumed")
  assert result.epoch == 3 and not result.interrupted
  for a, b in zip(final_arrays(tmp_path / "straight"), final_arrays(tmp_path / "resumed")):
    np.testing.assert_array_equal(a, b)
  assert metrics_without_timing(tmp_path / "straight") == metrics_without_timing(
    tmp_path / "resumed"
  )


def test_rerun_of_a_finished_run_changes_nothing(tmp_path):
  c = tiny_config()
  run(c, tmp_path)
  before = final_arrays(tmp_path)
  result = run(c, tmp_path)
  assert result.epoch == 2
  for a, b in zip(before, final_arrays(tmp_path)):
    np.testing.assert_array_equal(a, b)
  assert len(wd.read_metrics(tmp_path)) == 2


def test_resume_with_a_different_model_is_refused(tmp_path):
  c = tiny_config()
  c.num_epochs = 1
  run(c, tmp_path)
  c.model.latent_dim = 8
  with pytest.raises(wd.ConfigMismatchError, match="model.latent_dim"):
    run(c, tmp_path)
  c.model.latent_dim = 4
  c.likelihood = "beta"
  with pytest.raises(wd.ConfigMismatchError, match="likelihood"):
    run(c, tmp_path)
  assert wd.load_config(str(tmp_path)).likelihood == "bernoulli"


def test_non_finite_loss_stops_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
  c = tiny_config()
  c.num_epochs = 1
  run(c, tmp_path)
  good = final_arrays(tmp_path)
  real = programs.make_train_epoch

  def poisoned(*args, **kwargs):
    fn = real(*args, **kwargs)

    def epoch(state, images):
      state, metrics = fn(state, images)
      return state, {**metrics, "loss": metrics["loss"] * np.nan}

    return jax.jit(epoch, donate_argnums=0)

  monkeypatch.setattr(programs, "make_train_epoch", poisoned)
  c.num_epochs = 3
  with pytest.raises(training.NonFiniteLossError, match="epoch 2.*last good checkpoint is epoch 1"):
    run(c, tmp_path)
  assert checkpoints.manager(str(tmp_path), read_only=True).all_steps() == [1]
  for a, b in zip(good, final_arrays(tmp_path)):
    np.testing.assert_array_equal(a, b)


def test_a_learned_sigma_is_logged_with_its_optimum_at_test_and_as_trained(tmp_path):
  c = tiny_config("gaussian", sigma="shared")
  assert c.model.dropout > 0
  run(c, tmp_path / "dropout")
  test = wd.read_metrics(str(tmp_path / "dropout"))[-1]["test"]
  # dropped units reconstruct worse: the trained objective's optimum is the larger sigma
  assert test["scale_optimal_train"] > test["scale_optimal"] > 0 and test["scale"] > 0
  c.model.dropout = 0.0
  run(c, tmp_path / "no_dropout")
  test = wd.read_metrics(str(tmp_path / "no_dropout"))[-1]["test"]
  assert "scale_optimal" in test and "scale_optimal_train" not in test


def test_vmapped_seeds_equal_separate_runs(tmp_path):
  c = tiny_config("continuous_bernoulli")
  c.num_seeds = 2
  together = run(c, tmp_path / "both").metrics[-1]
  for s in range(2):
    c.num_seeds, c.seed = 1, s
    alone = run(c, tmp_path / f"seed{s}").metrics[-1]
    for split in ("train", "test"):
      for k, v in alone[split]["per_seed"].items():
        assert together[split]["per_seed"][k][s] == pytest.approx(v[0], rel=2e-5, abs=1e-4), k
  assert together["test"]["per_seed"]["elbo"][0] != together["test"]["per_seed"]["elbo"][1]


def _train_cmd(workdir, *overrides):
  return [
    sys.executable,
    "-m",
    "experiments.train",
    "--config",
    "experiments/configs/default.py",
    f"--workdir={workdir}",
    "--config.model.hidden=(32,)",
    "--config.model.latent_dim=4",
    "--config.data.test_size=200",
    "--config.eval_batch_size=40",
    "--config.progress_bar=False",
    *overrides,
  ]


INTERRUPTED_ARGS = [
  "--config.data.train_size=6400",
  "--config.batch_size=64",
  "--config.num_epochs=4",
]


@pytest.fixture(scope="module")
def straight(tmp_path_factory):
  """The uninterrupted run that both interrupted ones must equal."""
  workdir = tmp_path_factory.mktemp("straight")
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  subprocess.run(
    _train_cmd(workdir, *INTERRUPTED_ARGS), cwd=ROOT, env=env, check=True, capture_output=True
  )
  return workdir


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "kill9"])
def test_interrupted_and_resumed_equals_uninterrupted(tmp_path, straight, sig):
  args = INTERRUPTED_ARGS
  env = {**os.environ, "JAX_PLATFORMS": "cpu"}
  proc = subprocess.Popen(
    _train_cmd(tmp_path / "cut", *args),
    cwd=ROOT,
    env=env,
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
  )
  metrics = tmp_path / "cut" / wd.METRICS_FILE
  deadline = time.time() + 120
  while not (metrics.exists() and metrics.read_text().strip()) and time.time() < deadline:
    time.sleep(0.05)
  proc.send_signal(sig)
  out = proc.communicate(timeout=120)[0].decode()
  if sig == signal.SIGTERM:
    assert proc.returncode == 0, out
    assert "interrupted (SIGTERM)" in out
    assert checkpoints.manager(str(tmp_path / "cut"), read_only=True).latest_step() < 4
  subprocess.run(
    _train_cmd(tmp_path / "cut", *args), cwd=ROOT, env=env, check=True, capture_output=True
  )
  for a, b in zip(final_arrays(straight), final_arrays(tmp_path / "cut")):
    np.testing.assert_array_equal(a, b)
  assert metrics_without_timing(straight) == metrics_without_timing(tmp_path / "cut")


def test_bad_config_values_are_named(tmp_path):
  c = tiny_config()
  c.data.protocol = "jpeg"
  with pytest.raises(ValueError, match="data.protocol='jpeg'"):
    run(c, tmp_path / "a")
  c = tiny_config()
  c.batch_size = 100000
  with pytest.raises(ValueError, match="batch_size=100000"):
    run(c, tmp_path / "b")
  c = tiny_config()
  c.optimizer.name = "adamm"
  with pytest.raises(ValueError, match="adamm"):
    run(c, tmp_path / "c")


def test_a_workdir_of_the_previous_version_loads_and_resumes(tmp_path):
  """config.json files written before the KL weight was renamed (``beta``) still work."""
  import vae

  c = tiny_config("gaussian", sigma="optimal")
  c.num_epochs, c.kl_weight = 1, 0.5
  run(c, tmp_path)
  path = tmp_path / wd.CONFIG_FILE
  old = json.loads(path.read_text())
  old["beta"] = old.pop("kl_weight")
  path.write_text(json.dumps(old))
  loaded = vae.load(str(tmp_path))
  assert loaded.config.kl_weight == 0.5 and loaded.epoch == 1
  c.num_epochs = 2
  assert run(c, tmp_path).epoch == 2
  assert json.loads(path.read_text())["kl_weight"] == 0.5


def test_the_held_out_rows_carry_every_decoders_squared_error(tmp_path):
  """``mse`` of a held-out row: the decoder mean's squared error summed over an image's pixels
  (the learning curves of folk claim F6), for every decoder. Oracle: a fixed-sigma Gaussian's
  reconstruction term at the same latent draw, -mse / (2 sigma^2) - D/2 log(2 pi sigma^2)."""
  c = tiny_config("gaussian", sigma="fixed")
  c.num_epochs = 2
  rows = run(c, tmp_path / "gaussian").metrics
  sigma = np.sqrt(0.5)  # the default fixed_sigma
  for row in rows:
    test = row["test"]
    expected = -test["mse"] / (2 * sigma**2) - 784 / 2 * np.log(2 * np.pi * sigma**2)
    assert test["recon"] == pytest.approx(expected, rel=1e-4)
    assert len(test["per_seed"]["mse"]) == c.num_seeds
  c = tiny_config("bernoulli")
  c.num_epochs = 1
  test = run(c, tmp_path / "bernoulli").metrics[-1]["test"]
  assert 0 < test["mse"] < 784  # a mean in [0, 1] against pixels in [0, 1]
