"""Entry points (``python -m experiments.<job>``) and their config files (``experiments/configs``)."""

import logging
import os


def setup() -> None:
  """Common set-up of every entry point: quiet library logs, and a persistent XLA cache.

  The compilation cache (``$JAX_COMPILATION_CACHE_DIR``, default ``~/.cache/decoder_vae/xla``)
  makes a resumed run, an evaluation or a study skip the compiles it has already paid for.
  """
  logging.getLogger().setLevel(logging.WARNING)
  logging.getLogger("absl").setLevel(logging.ERROR)  # orbax's per-checkpoint chatter
  logging.getLogger("vae").setLevel(logging.INFO)
  import jax

  cache = os.environ.get("JAX_COMPILATION_CACHE_DIR") or os.path.expanduser(
    "~/.cache/decoder_vae/xla"
  )
  jax.config.update("jax_compilation_cache_dir", cache)
  if "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS" not in os.environ:
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.5)
