"""Entry points (``python -m experiments.<job>``) and their config files (``experiments/configs``)."""

import contextlib
import logging
import os
import signal
import sys


def leave(message: str, status: int):
  """Prints ``message`` and ends the process now, skipping the interpreter's teardown (what a
  stop by signal does: ``experiments.cli``). Exiting at once is what ``kill -9`` does, which the
  workdirs survive by design: every file is written atomically, and Orbax ignores a checkpoint
  whose save was cut short."""
  with contextlib.suppress(Exception):  # a stream closed or mid-write must not stop the exit
    sys.stderr.flush()
    sys.stdout.flush()
  with contextlib.suppress(Exception):
    os.write(sys.stdout.fileno(), f"{message}\n".encode())
  os._exit(status)


def _stopped_while_starting(signum, frame):
  """SIGTERM or Ctrl-C while the entry point is still importing: nothing is written yet."""
  del frame
  name = "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"
  leave(
    f"stopped by {name} while starting; nothing written; run the same command again",
    0 if signum == signal.SIGTERM else 130,
  )


# Launched as ``python -m experiments.<job>`` (argv[0] is "-m" while the package is imported):
# until experiments.cli.run takes over after the imports (seconds), a stop is a clean exit.
# Imported by a notebook or the tests, nothing is changed.
if sys.argv[:1] == ["-m"] and signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
  signal.signal(signal.SIGTERM, _stopped_while_starting)
  signal.signal(signal.SIGINT, _stopped_while_starting)


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
