"""Speed benchmark (not a test): compile time, seconds per epoch and images per second.

    uv run python -m experiments.benchmark --config experiments/configs/pytorch_example.py
    uv run python -m experiments.benchmark --config experiments/configs/default.py --epochs 3

Times the compiled epoch exactly as ``train_and_evaluate`` runs it (data on device, one call per
epoch), without evaluation, checkpoints or images. Prints one JSON line per configuration.

``cpu_steal_percent`` is the share of CPU time the hypervisor took from this machine during the
timed epochs (Linux /proc/stat; null elsewhere): on a shared cloud VM, figures taken with more
than a few percent of steal are not the machine's speed.
"""

import json
import statistics
import time

import jax
import jax.numpy as jnp
from absl import flags
from ml_collections import config_flags

from experiments import cli
from vae import data
from vae.model import build_model
from vae.training import checks, programs
from vae.training.loop import images_per_second
from vae.training.mesh import make_mesh, replicate
from vae.training.optimizer import make_optimizer
from vae.training.state import init_states

FLAGS = flags.FLAGS
config_flags.DEFINE_config_file("config", "experiments/configs/pytorch_example.py", "Config file.")
flags.DEFINE_integer("epochs", 3, "Timed epochs (after one warm-up epoch).")


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


def benchmark(config, epochs: int) -> dict:
  mesh = make_mesh()
  checks.validate(config, mesh.size)
  model = build_model(config)
  train_images = data.training_images(config)
  per_epoch = checks.steps_per_epoch(config, len(train_images))
  tx = make_optimizer(config, per_epoch)
  state = replicate(init_states(model, tx, config), mesh)
  images = replicate(jnp.asarray(train_images), mesh)
  t = time.perf_counter()
  epoch_fn = programs.make_train_epoch(model, tx, config, mesh).lower(state, images).compile()
  compile_s = time.perf_counter() - t
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
    "devices": f"{mesh.size} x {jax.devices()[0].platform}",
    "compile_seconds": round(compile_s, 2),
    "seconds_per_epoch": round(seconds, 3),
    "epoch_times": [round(x, 3) for x in times],
    "images_per_second": round(
      images_per_second(config.num_seeds, per_epoch, config.batch_size, seconds)
    ),
    "cpu_steal_percent": steal,
    "final_train_loss": float(metrics["loss"][:, -1].mean()),
  }


def main(argv):
  del argv
  print(json.dumps(benchmark(FLAGS.config, FLAGS.epochs)))


if __name__ == "__main__":
  cli.run(main)
