"""Speed table of every decoder (not a test): what each costs against the Bernoulli and against
its own arithmetic, in one run.

    uv run python -m experiments.speed_table                      # every decoder: ~11 min, 2 CPUs
    uv run python -m experiments.speed_table --decoders=bernoulli,beta --steps=20

For each decoder (``likelihoods.decoders``, the default config's CB-paper MLP 784-500-500-20,
batch 128, dropout 0.1, dequantized MNIST):

* **training**, at 1 and 3 seeds (``--seeds``): the compiled epoch exactly as training runs it
  (``experiments.benchmark.benchmark``), timed on ``--steps`` minibatches per epoch and scaled to
  a full epoch of 60,000 images (468 steps); its compile time; the ratio to the Bernoulli's
  epoch at one seed; per seed, the ratio of S vmapped seeds to one seed;
* **its matmul chain**: a plain JAX program of the same matmuls, the encoder's and decoder's dense
  layers and the head's own per-pixel matmuls (``Likelihood.pixel_matmuls``), forward and
  backward with a plain SGD step, scanned over the same minibatches and vmapped over the same
  seeds, timed in the same run: ``chain / epoch`` is the share of the epoch's time the matmuls
  alone would take (1.0: the decoder costs nothing beyond its matmuls);
* **evaluation**: the importance-weighted estimate of log p(x) (K = ``--iw_samples``, batches of
  100 images, ``vae.evaluation.importance``) in seconds per 1,000 images, against the forward
  matmuls of the same batches (``IW / matmuls``);
* **random numbers**: the Bernoulli epoch without them (no dropout, no dequantization noise; the
  latent draw stays), and their share ``1 - t(without) / t(with)``.

Every figure is a median over ``--rounds`` rounds after a warm-up one, the variants of a decoder
timed in turn in each round (``interleaved``). The last lines print
the table in Markdown, the machine, and the CPU steal time (figures taken under more than a few
percent of steal are not the machine's speed).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import time
from typing import Callable

import jax
import jax.numpy as jnp
from absl import flags

from experiments import benchmark, cli
from experiments.configs import default
from likelihoods import decoders
from vae import data
from vae.evaluation import importance
from vae.evaluation.run import _compiled
from vae.mesh import make_mesh, replicate
from vae.model import IMAGE_SHAPE, build_model, init_variables
from vae.training import programs

FLAGS = flags.FLAGS
flags.DEFINE_list("decoders", [], "Decoders to time (default: every decoder of the table).")
flags.DEFINE_list("seed_counts", ["1", "3"], "Seed counts to time (vmapped).")
flags.DEFINE_integer("steps", 50, "Minibatches per timed epoch (0: a full epoch).")
flags.DEFINE_integer(
  "rounds", 3, "Timed rounds (each variant one epoch per round) after a warm-up."
)
flags.DEFINE_integer("iw_samples", 100, "K of the importance-weighted estimate.")
flags.DEFINE_integer("iw_images", 300, "Images the importance-weighted estimate is timed on.")

FULL_STEPS = 60_000 // 128  # a full epoch of the default config
REFERENCE = decoders.with_role("bce")[0]  # the Bernoulli: binary cross-entropy


def config_for(name: str, num_seeds: int, steps: int):
  c = default.for_decoder(name)
  c.num_seeds = num_seeds
  c.data.train_size = steps * c.batch_size if steps else 0
  c.progress_bar = False
  return c


def interleaved(runners: dict, rounds: int) -> dict:
  """Median seconds of each ``runner()`` (a call that blocks until its result is ready), the
  runners called in turn for ``rounds`` rounds after one warm-up round: on a VM whose speed drifts
  by tens of percent within minutes, a ratio of two figures taken in the same rounds is stable
  where figures taken minutes apart are not."""
  times = {name: [] for name in runners}
  for r in range(rounds + 1):
    for name, run in runners.items():
      t = time.perf_counter()
      jax.block_until_ready(run())
      if r:
        times[name].append(time.perf_counter() - t)
  return {name: statistics.median(v) for name, v in times.items()}


def epoch_runner(config) -> tuple[Callable, float]:
  """(a call running one compiled training epoch, as ``train_and_evaluate`` does, its compile
  seconds); each call continues from the last one's state."""
  epoch, state, images, _, compile_s, _ = benchmark.compiled_epoch(config)
  box = [state]

  def run():
    box[0], metrics = epoch(box[0], images)
    return metrics

  return run, compile_s


def chain_runner(config) -> Callable:
  """A call running one epoch of the config's matmul chain (``make_chain_epoch``)."""
  images = replicate(data.training_images(config), make_mesh(config))
  epoch, ws = make_chain_epoch(config), init_chain(config, config.num_seeds)
  return lambda: epoch(ws, images)


def layer_shapes(config) -> tuple[list, list, list]:
  """(encoder, decoder, per-pixel head) matmul shapes, (inputs, outputs), of the MLP model."""
  m = config.model
  if m.arch != "mlp":
    raise ValueError(f"model.arch={m.arch!r}: the speed table's matmul chain is for 'mlp' only")
  lik = build_model(config).likelihood
  pixels = IMAGE_SHAPE[0] * IMAGE_SHAPE[1]
  widths = [pixels, *m.hidden, 2 * m.latent_dim]
  enc = list(zip(widths[:-1], widths[1:]))
  widths = [m.latent_dim, *reversed(m.hidden), pixels * lik.outputs_per_pixel()]
  dec = list(zip(widths[:-1], widths[1:]))
  return enc, dec, list(lik.pixel_matmuls())


def _dense(ws, h):
  for i, w in enumerate(ws):
    h = h @ w
    h = jax.nn.relu(h) if i < len(ws) - 1 else h
  return h


def chain_forward(ws, x, latent_dim: int, samples: int = 1):
  """x [B, 784] through the encoder's layers; its first ``latent_dim`` outputs (shifted per
  sample, ``samples`` of them) through the decoder's; then the head's per-pixel matmuls."""
  enc, dec, head = ws
  z = _dense(enc, x)[:, :latent_dim]
  if samples > 1:
    z = (z[None] + 1e-3 * jnp.arange(samples, dtype=z.dtype)[:, None, None]).reshape(-1, latent_dim)
  h = _dense(dec, z)
  for w in head:
    h = h.reshape(-1, w.shape[0]) @ w
  return h


def init_chain(config, num_seeds: int | None):
  key = jax.random.PRNGKey(0)
  lead = () if num_seeds is None else (num_seeds,)
  return tuple(
    [
      jax.random.normal(jax.random.fold_in(key, 10 * g + i), (*lead, a, b)) * a**-0.5
      for i, (a, b) in enumerate(shapes)
    ]
    for g, shapes in enumerate(layer_shapes(config))
  )


def make_chain_epoch(config):
  """(weights [S, ...], images uint8 [N, 28, 28]) -> weights: the matmul chain's epoch, jitted."""
  batch, latent = config.batch_size, config.model.latent_dim

  def one_seed(ws, images):
    steps = images.shape[0] // batch

    def step(ws, idx):
      x = images[idx].reshape(batch, -1).astype(jnp.float32) / 255.0
      loss = lambda ws: jnp.mean(jnp.square(chain_forward(ws, x, latent)))
      grads = jax.grad(loss)(ws)
      return jax.tree.map(lambda w, g: w - 1e-6 * g, ws, grads), None

    return jax.lax.scan(step, ws, jnp.arange(steps * batch).reshape(steps, batch))[0]

  return jax.jit(programs.over_seeds(one_seed, (0, None), make_mesh(config)))


def iw_seconds(config, x, num_samples: int, repeats: int) -> tuple[float, float]:
  """Seconds of (the IW estimate, its forward matmuls) for the images x [N, 28, 28] in batches
  of 100 (N a multiple of 100), K = ``num_samples`` (a multiple of 100 or below it)."""
  model = build_model(config)
  variables = init_variables(model, jax.random.PRNGKey(0))
  pieces = _compiled(model)[3]
  chunk = min(100, num_samples)
  batches = jnp.asarray(x).reshape(-1, 100, *IMAGE_SHAPE)
  ws = init_chain(config, None)
  latent = config.model.latent_dim
  matmuls = jax.jit(
    lambda ws, xb: jnp.sum(chain_forward(ws, xb.reshape(100, -1), latent, num_samples))
  )

  def estimate():
    return [
      importance._iw_batch(
        pieces, variables, xb, jax.random.PRNGKey(i), None, chunk, num_samples // chunk, None
      )
      for i, xb in enumerate(batches)
    ]

  t = interleaved({"iw": estimate, "mm": lambda: [matmuls(ws, xb) for xb in batches]}, repeats)
  return t["iw"], t["mm"]


def _machine() -> str:
  cpu = platform.processor() or platform.machine()
  try:
    with open("/proc/cpuinfo") as f:
      cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
  except (OSError, StopIteration):
    pass
  return f"{jax.devices()[0].device_kind} ({cpu}), {os.cpu_count()} cores, jax {jax.__version__}"


def measure(name: str, seed_counts: list[int], steps: int, rounds: int, iw: tuple, log):
  """One decoder's figures (dict), each printed through ``log`` as it is taken: its epochs and
  matmul chains at every seed count and a one-seed Bernoulli epoch, timed in the same rounds."""
  scale = FULL_STEPS / steps if steps else 1.0
  runners, compile_s = {}, {}
  for s in seed_counts:
    c = config_for(name, s, steps)
    runners[("epoch", s)], compile_s[s] = epoch_runner(c)
    runners[("chain", s)] = chain_runner(c)
  runners[("bernoulli", 1)] = epoch_runner(config_for(REFERENCE, 1, steps))[0]
  t = interleaved(runners, rounds)
  row = {"decoder": name, "bernoulli_s": t[("bernoulli", 1)] * scale}
  for s in seed_counts:
    row[s] = {
      "epoch_s": t[("epoch", s)] * scale,
      "chain_s": t[("chain", s)] * scale,
      "compile_s": compile_s[s],
    }
    log({"decoder": name, "seeds": s, **row[s], "bernoulli_s": row["bernoulli_s"]})
  num_samples, x = iw
  if num_samples:
    t_iw, t_mm = iw_seconds(config_for(name, 1, steps), x, num_samples, rounds)
    row["iw"] = {"iw_s_per_1000": 1000 * t_iw / len(x), "matmul_s_per_1000": 1000 * t_mm / len(x)}
    log({"decoder": name, **row["iw"]})
  return row


def random_number_share(steps: int, rounds: int, log) -> dict:
  """The Bernoulli epoch (one seed) with and without its random numbers, in the same rounds."""
  c = config_for(REFERENCE, 1, steps)
  without = c.copy_and_resolve_references()
  without.model.dropout, without.data.protocol = 0.0, "continuous"
  t = interleaved({"with": epoch_runner(c)[0], "without": epoch_runner(without)[0]}, rounds)
  out = {"with_s": t["with"], "without_s": t["without"], "share": 1 - t["without"] / t["with"]}
  log({"random_numbers": out})
  return out


def table(rows: list[dict], seed_counts: list[int], rng: dict) -> str:
  many = [s for s in seed_counts if s != 1]
  head = ["decoder", "s/epoch, 1 seed", "x Bernoulli", "chain / epoch"]
  for s in many:
    head += [f"per seed, {s} seeds vs 1", f"chain / epoch, {s} seeds"]
  head += [
    "compile s (" + "/".join(map(str, seed_counts)) + " seeds)",
    "IW s/1000 images",
    "IW / matmuls",
  ]
  lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
  for r in rows:
    one = r.get(1)
    cells = [r["decoder"]]
    cells += (
      [
        f"{one['epoch_s']:.2f}",
        f"{one['epoch_s'] / r['bernoulli_s']:.2f}",
        f"{one['chain_s'] / one['epoch_s']:.2f}",
      ]
      if one
      else ["-"] * 3
    )
    for s in many:
      m = r.get(s)
      cells += (
        [
          f"{m['epoch_s'] / s / one['epoch_s']:.2f}" if one else "-",
          f"{m['chain_s'] / m['epoch_s']:.2f}",
        ]
        if m
        else ["-"] * 2
      )
    cells.append("/".join(f"{r[s]['compile_s']:.0f}" for s in seed_counts if s in r))
    iw = r.get("iw")
    cells += (
      [f"{iw['iw_s_per_1000']:.1f}", f"{iw['iw_s_per_1000'] / iw['matmul_s_per_1000']:.2f}"]
      if iw
      else ["-", "-"]
    )
    lines.append("| " + " | ".join(cells) + " |")
  if rng:
    lines.append("")
    lines.append(
      f"Random numbers: {100 * rng['share']:.0f}% of the Bernoulli's one-seed epoch "
      f"({rng['with_s']:.2f} s with them, {rng['without_s']:.2f} s without: no dropout, no "
      f"dequantization noise)."
    )
  return "\n".join(lines)


def main(argv):
  del argv
  names = FLAGS.decoders or list(decoders.names())
  unknown = sorted(set(names) - set(decoders.names()))
  if unknown:
    raise ValueError(f"--decoders: {unknown} are not decoders; choose from {decoders.names()}")
  seed_counts = [int(s) for s in FLAGS.seed_counts]
  if FLAGS.steps < 0 or FLAGS.rounds < 1 or FLAGS.iw_images % 100:
    raise ValueError(
      f"--steps={FLAGS.steps} must be >= 0, --rounds={FLAGS.rounds} >= 1 and "
      f"--iw_images={FLAGS.iw_images} a multiple of 100"
    )
  log = lambda d: print(json.dumps(d, default=float), flush=True)
  log({"machine": _machine(), "steps_per_timed_epoch": FLAGS.steps or FULL_STEPS})
  x = data.fixed_inputs(
    default.get_config(), data.split(default.get_config(), "test", FLAGS.iw_images)[0]
  )
  rng = random_number_share(FLAGS.steps, FLAGS.rounds, log) if REFERENCE in names else {}
  rows = [
    measure(n, seed_counts, FLAGS.steps, FLAGS.rounds, (FLAGS.iw_samples, x), log) for n in names
  ]
  print(
    f"\n{_machine()}; epochs timed on {FLAGS.steps or FULL_STEPS} steps and scaled to "
    f"{FULL_STEPS}; IW: K = {FLAGS.iw_samples}, {FLAGS.iw_images} images\n"
  )
  print(table(rows, seed_counts, rng), flush=True)


if __name__ == "__main__":
  cli.run(main)
