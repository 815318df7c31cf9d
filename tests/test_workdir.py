"""The workdir module: config migration, atomic writes, kept files, partial checkpoint restores."""

from __future__ import annotations

import json
import os

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.configs import default
from vae import checkpoints
from vae import workdir as wd


def _old_format(config) -> dict:
  """config.json as versions before the restructure wrote it (the KL weight named ``beta``)."""
  d = wd.config_to_dict(config)
  d["beta"] = d.pop("kl_weight")
  return d


def test_an_old_config_json_migrates_on_read(tmp_path):
  c = default.get_config()
  c.kl_weight = 0.5
  (tmp_path / wd.CONFIG_FILE).write_text(json.dumps(_old_format(c)))
  loaded = wd.load_config(str(tmp_path))
  assert loaded.kl_weight == 0.5 and "beta" not in loaded
  # The same run resumes; a changed KL weight is refused by its new name.
  wd.check_or_write_config(str(tmp_path), c)
  assert json.loads((tmp_path / wd.CONFIG_FILE).read_text())["kl_weight"] == 0.5
  (tmp_path / wd.CONFIG_FILE).write_text(json.dumps(_old_format(c)))
  c.kl_weight = 1.0
  with pytest.raises(wd.ConfigMismatchError, match="kl_weight: 0.5 in the workdir, 1.0 now"):
    wd.check_or_write_config(str(tmp_path), c)


def test_an_option_at_its_default_is_the_same_run_as_one_left_out(tmp_path):
  c = default.for_decoder("gaussian_optimal")  # every option listed, at its default
  old = wd.config_to_dict(c)
  old["likelihood_options"] = {"sigma": "optimal", "mean": "sigmoid"}  # as older configs wrote
  (tmp_path / wd.CONFIG_FILE).write_text(json.dumps(old))
  wd.check_or_write_config(str(tmp_path), c)
  c.likelihood_options.stats_momentum = 0.9
  with pytest.raises(wd.ConfigMismatchError, match="likelihood_options.stats_momentum"):
    wd.check_or_write_config(str(tmp_path), c)


def test_atomic_writes_leave_no_temporary_files(tmp_path):
  path = str(tmp_path / "a.json")
  wd.write_json(path, {"x": [1, 2]})
  wd.write_json(path, {"x": [3]})
  assert wd.read_json(path) == {"x": [3]}
  target = str(tmp_path / "b.json")
  wd.copy_file(path, target)
  before = os.stat(target).st_mtime_ns
  wd.copy_file(path, target)  # equal content: untouched
  assert os.stat(target).st_mtime_ns == before
  assert sorted(os.listdir(tmp_path)) == ["a.json", "b.json"]


def test_keep_aside_never_replaces_a_kept_file(tmp_path):
  path = tmp_path / "eval.json"
  kept = []
  for i in range(3):  # within the same second
    path.write_text(str(i))
    kept.append(wd.keep_aside(str(path)))
  assert len(set(kept)) == 3 and not path.exists()
  assert [open(k).read() for k in kept] == ["0", "1", "2"]


def test_restore_subtree_reads_only_what_it_names(tmp_path):
  state = {
    "params": {"w": jnp.arange(6.0).reshape(2, 3)},
    "stats": {},
    "opt_state": {"mu": jnp.ones((2, 3))},
    "epoch": jnp.array([4, 4]),
  }
  mngr = checkpoints.manager(str(tmp_path))
  checkpoints.save(mngr, 4, state)
  mngr.wait_until_finished()
  mngr.close()
  like = {"params": {"w": jax.ShapeDtypeStruct((2, 3), jnp.float32)}, "stats": {}}
  sharding = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  like = jax.tree.map(lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sharding), like)
  mngr = checkpoints.manager(str(tmp_path), read_only=True)
  epoch, restored = checkpoints.restore_subtree(mngr, like)
  mngr.close()
  assert epoch == 4 and set(restored) == {"params", "stats"}
  np.testing.assert_array_equal(restored["params"]["w"], state["params"]["w"])
  full = checkpoints.read_checkpoint(str(tmp_path))
  np.testing.assert_array_equal(full["opt_state"]["mu"], np.ones((2, 3)))
  with pytest.raises(ValueError, match="no checkpoint for epoch 7.*available: \\[4\\]"):
    checkpoints.read_checkpoint(str(tmp_path), 7)
