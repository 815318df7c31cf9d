"""What every entry point shares: flag parsing, one-line errors, and clean interruptions.

``cli.run(main)`` replaces ``absl.app.run(main)``:

* a mistake on the command line (an unknown ``--config.<field>``, a value of the wrong type, a
  missing config file) or in a value (``ValueError``, a missing file or folder, a workdir that is
  not writable, a truncated data file, a config that differs from the workdir's) ends with ONE
  line on stderr, ``error: ...``, naming the value and what is allowed, and exit status 2; no
  Python trace unless ``--debug`` is given;
* ``--distributed`` makes the process one of a multi-process run (``vae.hosts``);
* SIGTERM and Ctrl-C at any moment stop cleanly: inside training the epoch in flight finishes
  and a checkpoint is saved (``vae.training.loop``); anywhere else (compiling, loading data,
  evaluating) nothing is half-written (every file is written atomically), one line says so, and
  the same command resumes. Exit status 0 after SIGTERM (a preempted job stopped as asked), 130
  after Ctrl-C. Outside training the signal handler itself ends the process (``_stop_now``).
"""

from __future__ import annotations

import contextlib
import re
import signal
import sys
import zipfile
import zlib

from absl import app, flags

import experiments

flags.DEFINE_bool("debug", False, "Show Python tracebacks instead of one-line error messages.")
flags.DEFINE_bool(
  "distributed",
  False,
  "One process of a multi-process run (jax.distributed.initialize; see experiments/README.md, 'Several "
  "hosts'): a TPU pod slice, SLURM or Open MPI are detected; elsewhere give the three below.",
)
flags.DEFINE_string("coordinator_address", "", "host:port of process 0 (with --distributed).")
flags.DEFINE_integer("num_processes", 0, "How many processes (with --distributed).")
flags.DEFINE_integer("process_id", -1, "This process's index, 0.. (with --distributed).")

# The errors a user's mistake raises (bad values, missing or unreadable files, a changed config,
# a truncated download): reported in one line. Anything else is a bug and keeps its traceback.
USER_ERRORS = (
  ValueError,
  KeyError,
  OSError,
  EOFError,
  zlib.error,
  zipfile.BadZipFile,
  FloatingPointError,
)


STOPPED = "nothing half-written; run the same command again"


def _stop_now(signum, frame):
  """SIGTERM or Ctrl-C outside the training loop (which handles them itself: the epoch in flight
  finishes, see ``vae.training.loop``): the process ends here, in the handler.

  Raising an exception instead, to unwind to ``main`` and ``sys.exit``, failed in two ways, both
  seen on our CPU: the handler may run inside a garbage-collection callback or a ``__del__``,
  where Python prints the exception and ignores it (JAX's ``_xla_gc_callback``: the evaluation
  then ran to its end); and a compilation or an asynchronously dispatched computation may still be
  running on XLA's threads, so the interpreter's teardown crashed under them (a segfault, in CI).
  """
  del frame
  if signum == signal.SIGTERM:
    experiments.leave(f"stopped by SIGTERM; {STOPPED}", 0)
  experiments.leave(f"interrupted; {STOPPED}", 130)


def fail(message: str, status: int = 2):
  """Ends the program with one line on stderr."""
  print(f"error: {message}", file=sys.stderr, flush=True)
  sys.exit(status)


def _debug(argv) -> bool:
  return any(a in ("--debug", "--debug=true", "--debug=True", "--debug=1") for a in argv)


def _parse(argv):
  """absl's flag parsing, with its errors (and ml_collections' config overrides) as one line."""
  try:
    return flags.FLAGS(argv)
  except Exception as e:  # config_flags reports an unknown field or a bad file in many forms
    if _debug(argv):
      raise
    fail(_describe_flag_error(e, argv[1:]))


def define_config_dict(name: str, config, help_text: str) -> None:
  """``config_flags.DEFINE_config_dict``, which applies ``--<name>.<field>`` overrides as it is
  defined (at import): an unknown field is reported in one line there too."""
  from ml_collections import config_flags

  try:
    config_flags.DEFINE_config_dict(name, config, help_text)
  except Exception as e:
    if _debug(sys.argv):
      raise
    fail(_describe_flag_error(e, sys.argv[1:]))


def _describe_flag_error(e: Exception, args: list[str]) -> str:
  text = str(e).strip().strip("\"'")
  if isinstance(e, AttributeError | KeyError):
    field = text.strip("\"'")
    culprit = next((a for a in args if f".{field}=" in a or a.endswith(f".{field}")), None)
    where = f" in {culprit}" if culprit else ""
    return f"the config has no field {field!r}{where}; --helpfull lists the fields"
  lines = [line.strip() for line in text.splitlines() if line.strip()]
  if not lines:
    return f"bad command line ({type(e).__name__})"
  # absl/config_flags: "flag --config=PATH: <reason, possibly a whole traceback>"; the last line
  # holds the reason (the exception raised while loading the config file, say).
  match = re.match(r"flag (--[\w.]+)=", lines[0])
  flag = match.group(1) if match else "command line"
  reason = lines[-1] if len(lines) > 1 else lines[0].split(": ", 1)[-1]
  return f"{flag}: {reason}"


def _message(e: BaseException) -> str:
  text = str(e).strip()
  if isinstance(e, KeyError):
    text = text.strip("\"'")
  if isinstance(e, OSError) and e.filename and e.strerror:
    text = f"{e.strerror}: {e.filename}"
  if isinstance(e, EOFError | zlib.error | zipfile.BadZipFile):
    text = f"a data file is truncated or corrupted ({text or type(e).__name__})"
  text = " ".join(text.split())
  # ml_collections defers a config file that failed to load to its first use:
  # "... Failed loading config file ... Attempted [Relative path]: PATH REASON"
  missing = re.search(r"Failed loading config file.*?Attempted \[[^\]]*\]: (\S+) (.*)", text)
  if missing:
    text = f"--config {missing.group(1)} could not be loaded: {missing.group(2)}"
  return text or type(e).__name__


def run(main) -> None:
  """``absl.app.run(main)`` with the behaviour described in the module docstring."""

  def wrapped(argv):
    experiments.setup()
    if flags.FLAGS.distributed:
      from vae import hosts

      hosts.initialize(
        flags.FLAGS.coordinator_address, flags.FLAGS.num_processes, flags.FLAGS.process_id
      )
    previous = signal.signal(signal.SIGTERM, _stop_now)
    signal.signal(signal.SIGINT, _stop_now)
    try:
      main(argv)
    except KeyboardInterrupt:  # a second Ctrl-C inside training (vae.training.loop.StopFlag)
      experiments.leave(f"interrupted; {STOPPED}", 130)
    except USER_ERRORS as e:
      if flags.FLAGS.debug:
        raise
      fail(_message(e))
    finally:
      with contextlib.suppress(ValueError):
        signal.signal(signal.SIGTERM, previous)

  app.run(wrapped, flags_parser=_parse)
