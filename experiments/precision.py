"""How much do TPU matmul precisions move the reported nats? An emulation on any device.

    uv run python -m experiments.precision --workdir runs/cb [--num_images 2000]

A TPU's default matmul precision rounds both operands to bfloat16 and accumulates in float32;
"highest" keeps float32. This script evaluates the test ELBO of a trained run twice on the same
images and latent draws: with float32 matmuls, and with every dense layer's operands rounded to
bfloat16 (the TPU default, emulated by patching the dot product Flax's Dense layers call), and
prints both and their difference in nats per image.
"""

import contextlib
import json

import flax.linen.linear as flax_linear
import jax
import jax.numpy as jnp
import numpy as np
from absl import flags

import vae
from experiments import cli
from vae import batching, data, objective

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training workdir.")
flags.DEFINE_integer("num_images", 2000, "Test images.")
flags.mark_flag_as_required("workdir")


def _bf16_operands_dot(lhs, rhs, *args, **kwargs):
  kwargs.pop("preferred_element_type", None)
  out = jax.lax.dot_general(
    lhs.astype(jnp.bfloat16),
    rhs.astype(jnp.bfloat16),
    *args,
    preferred_element_type=jnp.float32,
    **kwargs,
  )
  return out.astype(lhs.dtype)


class _LaxWithBf16Dot:
  def __getattr__(self, name):
    return _bf16_operands_dot if name == "dot_general" else getattr(jax.lax, name)


@contextlib.contextmanager
def bf16_matmuls():
  original = flax_linear.lax
  flax_linear.lax = _LaxWithBf16Dot()
  try:
    yield
  finally:
    flax_linear.lax = original


def elbo_per_image(run, x, key) -> np.ndarray:
  """Per-image ELBO in batches of 500, every batch with the same latent key."""
  pieces = jax.jit(lambda v, xb, k: run.model.apply(v, xb, rngs={"sample": k}))
  return batching.map_batches(
    lambda i, xb: objective.elbo(pieces(run.variables, xb, key)), x, batch_size=500
  )


def main(argv):
  del argv
  run = vae.load(FLAGS.workdir)
  test_u8, _ = data.split(run.config, "test", FLAGS.num_images)
  x = data.fixed_inputs(run.config, test_u8)
  key = jax.random.PRNGKey(0)
  full = elbo_per_image(run, x, key)
  with bf16_matmuls():
    low = elbo_per_image(run, x, key)
  diff = low - full
  print(
    json.dumps(
      {
        "workdir": FLAGS.workdir,
        "likelihood": run.config.likelihood,
        "elbo_float32": float(full.mean()),
        "elbo_bf16_operands": float(low.mean()),
        "mean_difference": float(diff.mean()),
        "mean_abs_difference": float(np.abs(diff).mean()),
        "max_abs_difference": float(np.abs(diff).max()),
      }
    )
  )


if __name__ == "__main__":
  cli.run(main)
