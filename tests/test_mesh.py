"""The seeds x data mesh and multi-process runs: results do not depend on the device layout.

JAX fixes the number of (fake) CPU devices when it starts, so the runs on 8 devices, and the run
as 2 processes x 4 devices (JAX's CPU collectives, gloo), are ``python -m experiments.train``
subprocesses; the 1-device reference is trained here.

Tolerance: on 8 devices each device runs its one seed as a plain matmul where the 1-device
program runs 8 seeds as one batched matmul; the float32 sums differ in order, by at most a few
ulps per step (max |difference| of any parameter after 8 steps: 4.8e-7). We allow 1e-5 on
parameters and 1e-3 nats on the test ELBO. The 2-process run executes exactly the 8-device
program, and is compared bit for bit.
"""

import os
import socket
import subprocess
import sys

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import vae
from tests import helpers
from vae import evaluation
from vae import workdir as wd
from vae.mesh import mesh_shape
from vae.training import checks

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARAM_ATOL = 1e-5
ELBO_ATOL = 1e-3


# ------------------------------------------------------------------------------- the layout


@pytest.mark.parametrize(
  "layout, seeds, devices, expected",
  [
    ("auto", 8, 8, (8, 1)),  # a multiple of the device count: all on seeds
    ("auto", 16, 8, (8, 1)),
    ("auto", 1, 8, (1, 8)),  # one seed: all on data
    ("auto", 3, 8, (1, 8)),
    ("auto", 4, 8, (4, 2)),  # in between: both
    ("auto", 3, 1, (1, 1)),
    ("seeds", 8, 4, (4, 1)),
    ("data", 8, 4, (1, 4)),
    ("2x4", 2, 8, (2, 4)),
  ],
)
def test_mesh_shape(layout, seeds, devices, expected):
  assert mesh_shape(layout, seeds, devices) == expected


@pytest.mark.parametrize(
  "layout, seeds, devices, names",
  [
    ("seeds", 3, 8, ["mesh='seeds'", "num_seeds=3"]),
    ("2x2", 2, 8, ["mesh='2x2'", "4 devices", "there are 8"]),
    ("rows", 2, 8, ["mesh='rows'", "'auto'", "SxD"]),
    ("3x1", 4, 3, ["num_seeds=4"]),
  ],
)
def test_mesh_shape_refuses(layout, seeds, devices, names):
  with pytest.raises(ValueError) as e:
    mesh_shape(layout, seeds, devices)
  for name in names:
    assert name in str(e.value)


def test_batch_must_split_over_the_data_axis():
  """The CB paper's batch of 50 on 8 devices: refused with one seed (all 8 on data), fine with
  8 seeds (all on seeds: each device takes whole batches)."""
  c = helpers.tiny_config()
  c.batch_size, c.num_seeds, c.mesh = 50, 1, "data"
  with pytest.raises(ValueError, match=r"batch_size=50 .* 8 device\(s\) .*data axis"):
    checks.validate(c, 8)
  c.num_seeds = 8  # auto: all 8 devices on seeds, the batch is not split
  c.mesh = "auto"
  checks.validate(c, 8)


def test_old_config_without_mesh_resumes(tmp_path):
  """A workdir written before ``mesh`` existed resumes (it ran on the data axis: any layout
  gives the same numbers, so ``mesh`` may change on resume)."""
  c = helpers.tiny_config()
  d = wd.config_to_dict(c)
  del d["mesh"]
  wd.write_json(os.path.join(tmp_path, wd.CONFIG_FILE), d)
  wd.check_or_write_config(str(tmp_path), c)
  c.mesh = "data"
  wd.check_or_write_config(str(tmp_path), c)


# ------------------------------------------------------------------------------- the runs

TINY = ["--config=experiments/configs/default.py", *helpers.TINY_FLAGS]


def _env(devices: int) -> dict:
  env = dict(os.environ, JAX_PLATFORMS="cpu", PYTHONPATH=ROOT)
  env["XLA_FLAGS"] = f"{env.get('XLA_FLAGS', '')} --xla_force_host_platform_device_count={devices}"
  return env


def _train(workdir, devices: int, *args: str, extra_env=None):
  cmd = [sys.executable, "-m", "experiments.train", *TINY, f"--workdir={workdir}", *args]
  return subprocess.Popen(
    cmd,
    cwd=ROOT,
    env={**_env(devices), **(extra_env or {})},
    stdout=subprocess.PIPE,
    stderr=subprocess.STDOUT,
    text=True,
  )


def _finish(proc, timeout=300) -> str:
  out, _ = proc.communicate(timeout=timeout)
  assert proc.returncode == 0, out[-3000:]
  return out


def _free_port() -> int:
  with socket.socket() as s:
    s.bind(("localhost", 0))
    return s.getsockname()[1]


def _per_seed_elbo(workdir) -> np.ndarray:
  return np.array([r["test"]["per_seed"]["elbo"] for r in wd.read_metrics(str(workdir))])


def _assert_close(a_dir, b_dir, atol):
  a, b = helpers.final_arrays(a_dir), helpers.final_arrays(b_dir)
  assert len(a) == len(b)
  for x, y in zip(a, b):
    x, y = np.asarray(x), np.asarray(y)
    assert x.shape == y.shape
    if atol == 0 or x.dtype.kind != "f":
      np.testing.assert_array_equal(x, y)
    else:
      np.testing.assert_allclose(x, y, rtol=0, atol=atol)
  elbo_atol = ELBO_ATOL if atol else 0
  np.testing.assert_allclose(_per_seed_elbo(a_dir), _per_seed_elbo(b_dir), rtol=0, atol=elbo_atol)


@pytest.fixture(scope="module")
def eight_seeds(tmp_path_factory, mnist_dir):
  """8 seeds trained on 1 device here, and on 8 fake devices (all on seeds) in a subprocess."""
  del mnist_dir
  base = tmp_path_factory.mktemp("mesh")
  proc = _train(base / "seeds8", 8, "--config.num_seeds=8", "--config.mesh=seeds")
  c = helpers.tiny_config()
  c.num_seeds = 8
  helpers.run(c, base / "one_device")
  _finish(proc)
  return base


@pytest.mark.e2e
def test_seeds_over_8_devices_equal_one_device(eight_seeds):
  _assert_close(eight_seeds / "seeds8", eight_seeds / "one_device", PARAM_ATOL)


@pytest.mark.e2e
def test_two_processes_equal_one_process(eight_seeds, tmp_path):
  """2 processes x 4 fake devices (jax.distributed, gloo) run the 8-device program: the same
  numbers bit for bit; process 0 alone writes the files; the checkpoint they wrote together
  restores here, in one process on one device (``helpers.final_arrays``)."""
  port = _free_port()
  procs = [
    _train(
      tmp_path / "two",
      4,
      "--config.num_seeds=8",
      "--config.mesh=seeds",
      "--distributed",
      f"--coordinator_address=localhost:{port}",
      "--num_processes=2",
      f"--process_id={i}",
    )
    for i in range(2)
  ]
  outs = [_finish(p) for p in procs]
  assert all("done at epoch 2" in out for out in outs)
  _assert_close(tmp_path / "two", eight_seeds / "seeds8", 0)
  assert len(wd.read_metrics(str(tmp_path / "two"))) == 2  # one writer: one row per epoch


@pytest.fixture(scope="module")
def data_axis(tmp_path_factory, mnist_dir):
  """One seed trained on 1 device here, and on 8 fake devices (all on data) in a subprocess."""
  del mnist_dir
  base = tmp_path_factory.mktemp("data_axis")
  proc = _train(base / "data8", 8, "--config.mesh=data")
  helpers.run(helpers.tiny_config(), base / "one_device")
  _finish(proc)
  return base


@pytest.mark.e2e
def test_data_axis_over_8_devices_equals_one_device(data_axis):
  """One seed, its batch of 64 split over 8 fake devices (8 images each, gradients summed
  across devices), against the same seed on one device."""
  _assert_close(data_axis / "data8", data_axis / "one_device", PARAM_ATOL)


@pytest.mark.e2e
def test_checkpoint_from_eight_devices_restores_and_evaluates_on_one(data_axis):
  """The checkpoint written under 8 devices opens here, on one, and is evaluated."""
  assert len(jax.devices()) == 1
  r = vae.load(str(data_axis / "data8"))
  assert r.epoch == 2
  assert r.reconstruct(jnp.full((4, 28, 28), 0.3)).mean().shape == (4, 28, 28)
  c = helpers.tiny_eval_config()
  c.measures = ("common",)  # every measure on a tiny run: tests/test_evaluate.py
  result = evaluation.evaluate_workdir(str(data_axis / "data8"), None, c)
  assert np.isfinite(evaluation.headline(result)["common_bits_per_dim"]["mean"])
