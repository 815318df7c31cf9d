"""Learning-rate schedules by name (warm-up, decay to 0 at the end of the budget), the KL-weight
warm-up, their checks, and workdirs written before either existed."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from experiments.configs import default
from tests.helpers import run, tiny_config
from vae import data
from vae import workdir as wd
from vae.mesh import make_mesh, replicate, seed_sharded
from vae.model import build_model
from vae.training import checks, programs
from vae.training.optimizer import DECAYING, SCHEDULES, make_optimizer
from vae.training.state import init_states

LR = 3e-3


def _config(schedule="constant", warmup_epochs=0.0, num_epochs=10, name="sgd"):
  c = default.get_config()
  c.optimizer.name, c.optimizer.learning_rate = name, LR
  c.optimizer.schedule, c.optimizer.warmup_epochs = schedule, warmup_epochs
  c.num_epochs = num_epochs
  return c


def _lr_at(tx, step: int) -> float:
  """The learning rate plain SGD ``tx`` takes at optimizer step ``step`` (its update of a
  gradient of 1, negated), with the schedule's step count set to ``step``."""
  state = tx.init(jnp.zeros(()))
  if step:
    state = optax.tree_utils.tree_set(state, count=jnp.asarray(step, jnp.int32))
  return -float(tx.update(jnp.ones(()), state)[0])


@pytest.mark.parametrize("schedule", DECAYING)
def test_a_decaying_schedule_warms_up_then_decays_to_exactly_zero_at_the_end(schedule):
  per_epoch = 8
  tx = make_optimizer(_config(schedule, warmup_epochs=1.25), per_epoch)
  warmup, total = 10, 80  # round(1.25 * 8); 10 epochs of 8 steps
  decay = {
    "warmup_cosine": lambda t: LR / 2 * (1 + math.cos(math.pi * t)),
    "linear": lambda t: LR * (1 - t),
  }[schedule]

  def expected(step):
    if step < warmup:
      return LR * step / warmup
    return decay(min(1.0, (step - warmup) / (total - warmup)))

  for step in (0, 1, warmup // 2, warmup - 1, warmup, warmup + 1, 45, total - 1, total):
    # float32: near the end 1 - t and 1 + cos(pi t) cancel, so an absolute bound of a few ulps of LR
    np.testing.assert_allclose(_lr_at(tx, step), expected(step), rtol=1e-6, atol=1e-6 * LR)
  assert _lr_at(tx, 0) == 0.0
  assert _lr_at(tx, warmup) == pytest.approx(LR, rel=1e-7)
  assert _lr_at(tx, 45) == pytest.approx(LR / 2, rel=1e-6)  # the middle of the decay
  assert _lr_at(tx, total - 1) > 0.0  # the last update still moves
  assert _lr_at(tx, total) == 0.0 and _lr_at(tx, total + 7) == 0.0  # exactly, and stays


@pytest.mark.parametrize("schedule", DECAYING)
def test_no_warmup_starts_at_the_full_rate_and_the_end_follows_the_budget(schedule):
  tx = make_optimizer(_config(schedule), 8)
  assert _lr_at(tx, 0) == pytest.approx(LR, rel=1e-7)
  assert _lr_at(tx, 40) == pytest.approx(LR / 2, rel=1e-6)
  assert _lr_at(tx, 80) == 0.0
  longer = make_optimizer(_config(schedule, num_epochs=20), 8)  # another budget, another run
  assert _lr_at(longer, 80) == pytest.approx(LR / 2, rel=1e-6) and _lr_at(longer, 160) == 0.0


def test_constant_and_iwae_are_unchanged():
  rng = np.random.default_rng(0)
  grads = [jnp.asarray(rng.normal(size=(5,)), jnp.float32) for _ in range(3)]
  c = _config("constant", name="adam")
  ours, reference = make_optimizer(c, 8), optax.adam(LR, b1=0.9, b2=0.999, eps=1e-8)
  params = jnp.zeros((5,))
  s_ours, s_ref = ours.init(params), reference.init(params)
  for g in grads:
    u_ours, s_ours = ours.update(g, s_ours, params)
    u_ref, s_ref = reference.update(g, s_ref, params)
    np.testing.assert_array_equal(u_ours, u_ref)
  # IWAE (Burda et al. 2016): 3^i epochs at lr * 10^(-i/7)
  per_epoch = 2
  tx = make_optimizer(_config("iwae"), per_epoch)
  epochs = [0, 1, 4, 13, 40, 121, 364, 1093]  # the first epoch at each rate
  for i, epoch in enumerate(epochs):
    step = epoch * per_epoch
    np.testing.assert_allclose(_lr_at(tx, step), LR * 10 ** (-i / 7), rtol=1e-6)
    if step:
      np.testing.assert_allclose(_lr_at(tx, step - 1), LR * 10 ** (-(i - 1) / 7), rtol=1e-6)


def test_the_kl_weight_rises_linearly_over_the_warmup_then_holds():
  c = default.get_config()
  c.kl_weight, c.kl_warmup_epochs = 0.5, 1.5
  per_epoch = 4  # a warm-up of 6 steps
  assert programs.kl_warmup_steps(c, per_epoch) == 6
  for step, w in [(0, 0.0), (1, 0.5 / 6), (3, 0.25), (5, 0.5 * 5 / 6), (6, 0.5), (100, 0.5)]:
    np.testing.assert_allclose(programs.kl_weight_at(step, c, per_epoch), w, rtol=1e-6)
    np.testing.assert_allclose(
      programs.kl_weight_at(jnp.asarray(step, jnp.int32), c, per_epoch), w, rtol=1e-6
    )
  c.kl_warmup_epochs = 0.0  # off: the config's own weight, as a Python float (no traced multiply)
  assert programs.kl_weight_at(3, c, per_epoch) is c.kl_weight
  c.kl_warmup_epochs = 0.1  # rounds to no step: off too
  assert programs.kl_warmup_steps(c, per_epoch) == 0
  assert programs.kl_weight_at(0, c, per_epoch) is c.kl_weight


# ------------------------------------------------------------------------------------ checks


def _check(config):
  checks.validate(config, 1)


@pytest.mark.parametrize("value", [-1.0, float("nan"), float("inf")])
def test_a_bad_warmup_is_refused_naming_it(value):
  for field, config in [
    ("optimizer.warmup_epochs", _config("warmup_cosine", warmup_epochs=value)),
    ("kl_warmup_epochs", default.get_config()),
  ]:
    if field == "kl_warmup_epochs":
      config.kl_warmup_epochs = value
    with pytest.raises(ValueError, match=f"{field}={value!r} must be a finite number >= 0") as e:
      _check(config)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("schedule", DECAYING)
def test_a_warmup_as_long_as_the_run_is_refused(schedule):
  for value in (10.0, 12.5):
    with pytest.raises(ValueError, match=rf"warmup_epochs={value!r} must be less than num_epochs"):
      _check(_config(schedule, warmup_epochs=value))
  _check(_config(schedule, warmup_epochs=9.5))
  # within the epochs, but rounding to every step of the run (9.99 * 10 steps -> 100 of 100)
  with pytest.raises(ValueError, match=r"warmup_epochs=9\.99 is 100 of the run's 100 steps"):
    make_optimizer(_config(schedule, warmup_epochs=9.99), 10)


@pytest.mark.parametrize("schedule", ["constant", "iwae"])
def test_a_warmup_of_a_schedule_without_one_is_refused(schedule):
  with pytest.raises(ValueError, match=r"warmup_epochs=1\.0 must be 0 with schedule"):
    _check(_config(schedule, warmup_epochs=1.0))


def test_an_unknown_schedule_lists_the_known_ones():
  for check in (_check, lambda c: make_optimizer(c, 8)):
    with pytest.raises(ValueError, match="optimizer.schedule='cosine' is not one of") as e:
      check(_config("cosine"))
    assert all(name in str(e.value) for name in SCHEDULES)


def test_a_kl_warmup_of_the_importance_weighted_bound_is_refused():
  c = default.get_config()
  c.kl_warmup_epochs, c.num_importance_samples = 2.0, 5
  with pytest.raises(ValueError, match=r"kl_warmup_epochs=2\.0 needs num_importance_samples=1"):
    _check(c)


# ---------------------------------------------------------------------------- old workdirs


def _without_new_fields(config) -> dict:
  """config.json as versions before the warm-ups wrote it."""
  d = wd.config_to_dict(config)
  del d["kl_warmup_epochs"], d["optimizer"]["warmup_epochs"]
  return d


def test_a_config_written_before_the_warmups_reads_as_without_them(tmp_path):
  c = default.get_config()
  old = _without_new_fields(c)
  (tmp_path / wd.CONFIG_FILE).write_text(json.dumps(old))
  loaded = wd.load_config(str(tmp_path))
  assert loaded.kl_warmup_epochs == 0.0 and loaded.optimizer.warmup_epochs == 0.0
  assert "warmup_epochs" not in old["optimizer"]  # the migration copies, never edits
  wd.check_or_write_config(str(tmp_path), c)  # the same run
  (tmp_path / wd.CONFIG_FILE).write_text(json.dumps(old))
  c.kl_warmup_epochs = 1.0
  with pytest.raises(wd.ConfigMismatchError, match="kl_warmup_epochs: 0.0 in the workdir, 1.0"):
    wd.check_or_write_config(str(tmp_path), c)
  c.kl_warmup_epochs, c.optimizer.schedule, c.optimizer.warmup_epochs = 0.0, "linear", 1.0
  with pytest.raises(wd.ConfigMismatchError, match="optimizer.warmup_epochs: 0.0 in the work"):
    wd.check_or_write_config(str(tmp_path), c)


# ------------------------------------------------------------------------------- training


@pytest.mark.e2e
def test_the_training_loss_weighs_the_kl_of_each_step(tmp_path):
  """Per step, loss = -(recon - w KL) with w = kl_weight_at(global step), across epochs."""
  c = tiny_config()
  c.kl_weight, c.kl_warmup_epochs = 0.5, 1.5  # 4 steps per epoch: warm over steps 0..5
  mesh = make_mesh(c)
  model = build_model(c)
  images = data.training_images(c)
  per_epoch = checks.steps_per_epoch(c, len(images))
  assert per_epoch == 4
  tx = make_optimizer(c, per_epoch)
  state = init_states(model, tx, c, seed_sharded(mesh))
  epoch = programs.make_train_epoch(model, tx, c, mesh)
  images = replicate(images, mesh)
  for e in range(2):
    state, metrics = epoch(state, images)
    m = {k: np.asarray(v[0], np.float64) for k, v in jax.device_get(metrics).items()}
    w = np.array([programs.kl_weight_at(e * per_epoch + i, c, per_epoch) for i in range(4)])
    np.testing.assert_allclose(w, 0.5 * np.minimum(1, np.arange(e * 4, e * 4 + 4) / 6))
    np.testing.assert_allclose(m["loss"], -(m["recon"] - w * m["kl"]), rtol=2e-6)
    np.testing.assert_allclose(m["elbo"], m["recon"] - m["kl"], rtol=2e-6)
  assert int(state.step[0]) == 8


@pytest.mark.e2e
def test_a_run_with_both_warmups_trains_and_an_old_workdir_resumes(tmp_path):
  c = tiny_config()
  c.optimizer.schedule, c.optimizer.warmup_epochs, c.kl_warmup_epochs = "warmup_cosine", 0.5, 1.0
  result = run(c, tmp_path / "warm")
  assert result.epoch == 2 and np.isfinite(result.metrics[-1]["train"]["loss"])
  # A run of the version before the warm-ups (its config.json without them) resumes.
  c = tiny_config()
  c.num_epochs = 1
  run(c, tmp_path / "old")
  path = tmp_path / "old" / wd.CONFIG_FILE
  path.write_text(json.dumps(_without_new_fields(c)))
  c.num_epochs = 2
  assert run(c, tmp_path / "old").epoch == 2
  assert json.loads(path.read_text())["kl_warmup_epochs"] == 0.0


@pytest.mark.e2e
def test_a_run_on_a_decaying_schedule_is_not_extended(tmp_path):
  """Its learning rate reached 0 at the end of num_epochs: resuming it with more epochs would
  continue on another curve; refused with one line naming num_epochs."""
  from tests.helpers import tiny_config
  from vae import training
  from vae import workdir as wd

  c = tiny_config()
  c.num_epochs, c.optimizer.schedule = 1, "warmup_cosine"
  training.train_and_evaluate(c, str(tmp_path))
  c.num_epochs = 2
  with pytest.raises(wd.ConfigMismatchError, match="num_epochs: 1 in the workdir, 2 now"):
    training.train_and_evaluate(c, str(tmp_path))


def test_the_workdir_knows_the_decaying_schedules():
  from vae import workdir as wd
  from vae.training import optimizer

  assert tuple(optimizer.DECAYING) == tuple(wd.DECAYING_SCHEDULES)
