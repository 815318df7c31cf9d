"""Speed benchmark (not a test): compile time, seconds per epoch and images per second.

    uv run python -m experiments.benchmark --config experiments/configs/pytorch_example.py
    uv run python -m experiments.benchmark --config experiments/configs/default.py --epochs 3
    # scaling: every seed count against every device layout (vae.mesh)
    uv run python -m experiments.benchmark --config experiments/configs/default.py \
        --seeds=1,2,4,8,16 --layouts=auto,seeds,data --epochs 2

Times the compiled epoch exactly as ``train_and_evaluate`` runs it (data on device, one call per
epoch), without evaluation, checkpoints or images. Prints one JSON line per (seed count, layout);
a layout that does not fit a seed count is printed with the reason it was skipped, and a last
line compares the final losses of the layouts at each seed count (they must agree: the layout
changes where the work runs, not the numbers). On fake CPU devices
(``XLA_FLAGS=--xla_force_host_platform_device_count=8``) the devices share this machine's cores:
the figures then check that every layout runs and agrees, not its speed (the output says so).

``cpu_steal_percent`` is the share of CPU time the hypervisor took from this machine during the
timed epochs (Linux /proc/stat; null elsewhere): on a shared cloud VM, figures taken with more
than a few percent of steal are not the machine's speed.
"""

import json
import statistics
import time

import jax
import numpy as np
from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae import data
from vae.mesh import make_mesh, replicate, seed_sharded
from vae.model import build_model
from vae.training import checks, programs
from vae.training.loop import images_per_second
from vae.training.optimizer import make_optimizer
from vae.training.state import init_states

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "experiments/configs/pytorch_example.py", "Config file.")
flags.DEFINE_integer("epochs", 3, "Timed epochs (after one warm-up epoch).")
flags.DEFINE_list("seeds", [], "Seed counts to time (default: the config's num_seeds).")
flags.DEFINE_list("layouts", [], "Mesh layouts to time (default: the config's mesh).")


def _cpu_times() -> list[int] | None:
  try:
    with open("/proc/stat") as f:
      return [int(v) for v in f.readline().split()[1:]]
  except (OSError, ValueError):
    return None


def _steal_percent(before, after) -> float | None:
  if not before or not after or len(before) < 8:
    return None
  delta = [b - a for a, b in zip(before, after)]
  return round(100 * delta[7] / max(sum(delta[:8]), 1), 1)


def compiled_epoch(config):
  """(the compiled training epoch, as ``train_and_evaluate`` runs it, its initial state, the
  device-resident images, steps per epoch, compile seconds, the mesh)."""
  checks.validate(config, jax.device_count())
  mesh = make_mesh(config)
  model = build_model(config)
  train_images = data.training_images(config)
  per_epoch = checks.steps_per_epoch(config, len(train_images))
  tx = make_optimizer(config, per_epoch)
  state = init_states(model, tx, config, seed_sharded(mesh))
  images = replicate(train_images, mesh)
  t = time.perf_counter()
  epoch_fn = programs.make_train_epoch(model, tx, config, mesh).lower(state, images).compile()
  return epoch_fn, state, images, per_epoch, time.perf_counter() - t, mesh


def benchmark(config, epochs: int) -> dict:
  epoch_fn, state, images, per_epoch, compile_s, mesh = compiled_epoch(config)
  times, cpu = [], None
  for i in range(epochs + 1):
    if i == 1:
      cpu = _cpu_times()
    t = time.perf_counter()
    state, metrics = epoch_fn(state, images)
    jax.block_until_ready(metrics)
    times.append(time.perf_counter() - t)
  steal = _steal_percent(cpu, _cpu_times())
  seconds = statistics.median(times[1:])
  return {
    "likelihood": config.likelihood,
    "hidden": list(config.model.hidden),
    "arch": config.model.arch,
    "batch_size": config.batch_size,
    "num_seeds": config.num_seeds,
    "mesh": config.mesh,
    "mesh_shape": {"seeds": mesh.shape["seeds"], "data": mesh.shape["data"]},
    "devices": f"{mesh.size} x {jax.devices()[0].device_kind}",
    "compile_seconds": round(compile_s, 2),
    "seconds_per_epoch": round(seconds, 3),
    "epoch_times": [round(x, 3) for x in times],
    "images_per_second": round(
      images_per_second(config.num_seeds, per_epoch, config.batch_size, seconds)
    ),
    "cpu_steal_percent": steal,
    "final_train_loss": [float(v) for v in np.asarray(metrics["loss"][:, -1])],
  }


def scaling(config, epochs: int, seeds: list[int], layouts: list[str]):
  """One ``benchmark`` row per (seed count, layout), a skipped row where a layout does not fit,
  and a last row with the largest final-loss difference between layouts per seed count."""
  if jax.devices()[0].platform == "cpu" and jax.device_count() > 1:
    yield {
      "note": f"{jax.device_count()} fake CPU devices share this machine's cores: the rows check "
      "that every layout runs and gives the same losses; their times are not a speed"
    }
  losses = {}
  for n in seeds:
    for layout in layouts:
      c = config.copy_and_resolve_references()
      c.num_seeds, c.mesh = n, layout
      try:
        checks.validate(c, jax.device_count())
      except ValueError as e:
        yield {"num_seeds": n, "mesh": layout, "skipped": str(e)}
        continue
      row = benchmark(c, epochs)
      losses.setdefault(n, []).append(np.asarray(row["final_train_loss"]))
      yield row
  yield {
    "layouts_agree": {
      str(n): float(max(np.max(np.abs(v - runs[0])) for v in runs)) for n, runs in losses.items()
    },
    "unit": "largest |final train loss difference| between layouts, nats",
  }


def main(argv):
  del argv
  config = FLAGS.config
  if not FLAGS.seeds and not FLAGS.layouts:
    print(json.dumps(benchmark(config, FLAGS.epochs)), flush=True)
    return
  seeds = [int(n) for n in FLAGS.seeds] or [config.num_seeds]
  for row in scaling(config, FLAGS.epochs, seeds, FLAGS.layouts or [config.mesh]):
    print(json.dumps(row), flush=True)


if __name__ == "__main__":
  cli.run(main)
