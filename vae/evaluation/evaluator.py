"""Evaluate a checkpoint with measures that are fair across decoders; write eval.json and figures.

    from vae import evaluation
    result = evaluation.evaluate_workdir("runs/cb", step=None, config=evaluation.default_config())

Runs the measures the eval config names (``config.measures``; see ``vae.evaluation.measures``)
on every seed of the run, writes ``WORKDIR/eval/epoch_XXXX/{eval.json, *.png}`` and copies the
JSON to ``WORKDIR/eval.json`` (the latest evaluation). Checkpoints are opened read-only. An
existing evaluation of the same epoch with the same settings and ``MEASURES_VERSION`` is returned
as it is (the study relies on this to resume); any other is kept, renamed with a time stamp, never
silently overwritten.
"""

from __future__ import annotations

import logging
import os
import time

import jax
import ml_collections
import numpy as np

from vae import data, hosts
from vae import workdir as wd
from vae.evaluation import figures, measures
from vae.evaluation.run import load

log = logging.getLogger(__name__)

# Raised whenever a measure's definition, numerics or randomness change; an evaluation written by
# another version is redone (the old file kept, time-stamped), never reused. 2: the 8-bit
# discretized likelihood in log space (version 1 floored each pixel's probability at float32's
# 1e-38). 3: measures chosen by name, each with its own key derived from its name; flat results.
# 4: sample quality of the decoder's display parameters (the CB paper's "decoder parameters").
MEASURES_VERSION = 4

# The measures the default eval config runs (``measure(..., default=True)``), in their order.
DEFAULT_MEASURES = measures.default_names()


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.measures = DEFAULT_MEASURES  # names from vae.evaluation.measures.MEASURES
  c.num_importance_samples = 1000  # K of the importance-weighted estimates (up to 5000)
  c.chunk = 100  # importance samples per compiled chunk (bounds memory)
  c.batch_size = 100  # test images per compiled call
  c.test_size = 0  # first N test images (0: all 10000)
  c.knn_k = 15
  c.knn_train_size = 0  # training images the kNN classifier is fit on (0: all)
  c.sample_quality = True  # load (or train) the classifier of the sample_quality measure
  c.num_generated = 10000  # generated images for sample quality
  c.classifier_dir = ""  # "" -> $MNIST_CLASSIFIER_DIR or the user cache
  c.classifier_min_accuracy = 0.99  # refuse a cached classifier below this test accuracy
  c.seed = 0  # randomness of the estimates (z draws, samples); each measure folds in its name
  c.figures = True
  c.progress_bar = True  # progress with an ETA per seed and measure (stderr)
  return c


def settings_of(config) -> dict:
  """The eval config as stored in eval.json and compared on reuse, without the fields that change
  no number (``workdir.NUMBER_FREE_FIELDS``: its progress bar)."""
  d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  d = {k: v for k, v in d.items() if k not in wd.NUMBER_FREE_FIELDS}
  d["measures"] = list(d.get("measures", DEFAULT_MEASURES))
  return d


def check_config(config) -> None:
  """ValueError naming the bad eval setting and what is allowed, before anything runs."""
  unknown = [m for m in config.measures if m not in measures.MEASURES]
  if unknown:
    raise ValueError(f"eval.measures: unknown measure(s) {unknown}; available: {measures.names()}")
  k, chunk = config.num_importance_samples, config.chunk
  for field, value, low in (
    ("num_importance_samples", k, 1),
    ("chunk", chunk, 1),
    ("batch_size", config.batch_size, 1),
    ("knn_k", config.knn_k, 1),
    ("test_size", config.test_size, 0),
    ("knn_train_size", config.knn_train_size, 0),
    ("num_generated", config.num_generated, 2),
  ):
    if not isinstance(value, int) or value < low:
      raise ValueError(f"eval.{field}={value!r} must be an integer >= {low}")
  if k % min(chunk, k):
    raise ValueError(
      f"eval.num_importance_samples={k} must be a multiple of eval.chunk={chunk} (or below it)"
    )
  if config.test_size and config.test_size < 2:
    raise ValueError(f"eval.test_size={config.test_size} must be 0 (all) or >= 2")


def evaluate_seed(ctx: measures.Context) -> dict:
  """The flat results of the eval config's measures for the seed in ``ctx``, with timings."""
  base = jax.random.PRNGKey(ctx.config.seed)
  result, timings = {}, {}
  for name in ctx.config.measures:
    t = time.perf_counter()
    ctx.measure = name
    result.update(measures.MEASURES[name](ctx, measures.key_for(base, name)))
    timings[name] = time.perf_counter() - t
    if ctx.config.get("progress_bar", False):
      log.info("%s %s: %.1f s", ctx.label, name, timings[name])
  result["timings_seconds"] = timings
  return result


def evaluate_workdir(
  workdir: str,
  step: int | None = None,
  config=None,
  *,
  force: bool = False,
  relative_to: str | None = None,
) -> dict:
  """Evaluates every seed of the run in ``workdir`` at ``step`` (default: latest complete).

  The result's ``workdir`` is ``workdir`` as an absolute path, or relative to ``relative_to`` (a
  study records its runs relative to the study's folder, so its results can be committed).
  """
  config = config or default_config()
  check_config(config)
  run = load(workdir, step)
  out_dir = os.path.join(workdir, "eval", f"epoch_{run.epoch:04d}")
  out_path = os.path.join(out_dir, "eval.json")
  settings = settings_of(config)
  previous = wd.read_json(out_path) if os.path.exists(out_path) else None
  if previous is not None:
    same = settings_of(previous.get("eval_config", {})) == settings
    if same and previous.get("measures_version") == MEASURES_VERSION and not force:
      log.info("%s already evaluated with these settings: %s", workdir, out_path)
      if hosts.is_writer() and not os.path.exists(os.path.join(out_dir, figures.PANELS_FILE)):
        # an evaluation written before reports read their images from it
        test_u8, _ = data.split(run.config, "test", figures.NUM_PANELS, "eval.test_size")
        figures.write_panels(out_dir, run, test_u8)
      _publish(workdir, out_path, run.epoch)
      return previous

  test_u8, test_labels = data.split(run.config, "test", config.test_size, "eval.test_size")
  train_u8, train_labels = data.split(
    run.config, "train", config.knn_train_size, "eval.knn_train_size"
  )
  classifier = real = None
  if config.sample_quality and "sample_quality" in config.measures:
    from vae.evaluation import classifier as classifier_lib

    classifier = classifier_lib.get_classifier(
      config.classifier_dir or None, min_accuracy=config.classifier_min_accuracy
    )
    real = measures.real_reference(classifier, test_u8, train_u8, progress_bar=config.progress_bar)
  t0 = time.perf_counter()
  per_seed, first = [], None
  for s in range(run.num_seeds):
    ctx = measures.Context(
      run.with_seed(s), config, test_u8, test_labels, train_u8, train_labels, classifier, real
    )
    ctx.label = f"seed {s + 1}/{run.num_seeds}"
    per_seed.append(evaluate_seed(ctx))
    first = first or ctx
  result = {
    "workdir": os.path.relpath(workdir, relative_to) if relative_to else os.path.abspath(workdir),
    "epoch": run.epoch,
    "likelihood": run.config.likelihood,
    "likelihood_options": run.config.likelihood_options.to_dict(),
    "protocol": run.config.data.protocol,
    "num_seeds": run.num_seeds,
    "eval_config": settings,
    "measures_version": MEASURES_VERSION,
    "per_seed": per_seed,
    "seconds": time.perf_counter() - t0,
    "devices": str(jax.devices()),
  }
  if not hosts.is_writer():  # a multi-process run: every process evaluates, process 0 writes
    hosts.barrier("evaluation written")
    return result
  # Only now, with the new evaluation complete, is the previous one of this epoch set aside
  # (its eval.json and figures together, in kept-<time>/): a failing evaluation loses nothing.
  if os.path.isdir(out_dir) and os.listdir(out_dir):
    kept = wd.keep_aside_files(out_dir, ("eval.json", figures.PANELS_FILE, *figures.FILES))
    log.warning("kept the previous evaluation of epoch %d in %s", run.epoch, kept)
  os.makedirs(out_dir, exist_ok=True)
  if config.figures:
    figures.eval_figures(out_dir, first, per_seed[0].get("intensity/mean"))
  figures.write_panels(out_dir, run, test_u8)
  wd.write_json(out_path, result, indent=1)
  _publish(workdir, out_path, run.epoch)
  hosts.barrier("evaluation written")
  return result


def _publish(workdir: str, path: str, epoch: int) -> None:
  """Copies an evaluation to WORKDIR/eval.json unless that holds a later epoch's: it is always
  the evaluation of the latest evaluated epoch."""
  target = os.path.join(workdir, "eval.json")
  if os.path.exists(target):
    try:
      if wd.read_json(target).get("epoch", -1) > epoch:
        return
    except ValueError:  # unreadable: replaced
      pass
  wd.copy_file(path, target)


def headline(result: dict) -> dict:
  """{column key: {"mean", "std", "per_seed"}} over the run's seeds, for every column the
  measures declare (``measures.columns()``) that every seed has."""
  out = {}
  for key, column in measures.columns().items():
    values = [column.value(res) for res in result["per_seed"]]
    if values and all(v is not None for v in values):
      out[key] = {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "per_seed": values,
      }
  return out
