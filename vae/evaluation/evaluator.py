"""Evaluate a checkpoint with measures that are fair across decoders; write eval.json and figures.

    from vae import evaluation
    result = evaluation.evaluate_workdir("runs/cb", step=None, config=evaluation.default_config())

Runs the measures the eval config names (``config.measures``; see ``vae.evaluation.measures``)
on every seed of the run, writes ``WORKDIR/eval/epoch_XXXX/{eval.json, per_image.npz, *.png}``
and copies the JSON and the per-image values to ``WORKDIR/{eval.json, per_image.npz}`` (the
latest evaluation; ``vae.evaluation.per_image.load`` reads the values). Checkpoints are opened
read-only. An existing evaluation of the same epoch with the same settings and
``MEASURES_VERSION`` is returned as it is (the study relies on this to resume); any other is kept,
renamed with a time stamp, never silently overwritten.

The test images: all 10,000, or with ``eval.test_size`` = N a seeded random subset of N of them
(``test_indices``: sorted, the same for every run with the same ``eval.test_subset_seed``), read
after the whole split; each image's inputs are made on the whole split and then selected, so they
do not depend on which other images are evaluated.
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
from vae.evaluation import figures, measures, per_image, stats
from vae.evaluation.run import load

log = logging.getLogger(__name__)

# Raised whenever a measure's definition, numerics or randomness change; an evaluation written by
# another version is redone (the old file kept, time-stamped), never reused. 2: the 8-bit
# discretized likelihood in log space (version 1 floored each pixel's probability at float32's
# 1e-38). 3: measures chosen by name, each with its own key derived from its name; flat results.
# 4: sample quality of the decoder's display parameters (the CB paper's "decoder parameters").
# 5: eval.test_size picks a seeded random subset of the test images (eval.test_subset_seed), not
# the first N, with each image's inputs made on the whole test split; the per-image values kept in
# per_image.npz; intensity adds the calibration toward 0.5 binned by the prediction (all pixels,
# grey predictions), a reliability table and the error by true-intensity stratum; elbo adds the KL.
MEASURES_VERSION = 5

# The measures the default eval config runs (``measure(..., default=True)``), in their order.
DEFAULT_MEASURES = measures.default_names()


MNIST_TEST_IMAGES = 10000


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.measures = DEFAULT_MEASURES  # names from vae.evaluation.measures.MEASURES
  c.num_importance_samples = 1000  # K of the importance-weighted estimates (up to 5000)
  c.chunk = 100  # importance samples per compiled chunk (bounds memory)
  c.batch_size = 100  # test images per compiled call
  c.test_size = 0  # a random subset of N test images (0: all 10000), see test_subset_seed
  # The subset's seed: the same N images for every run (paired comparisons need the same images);
  # the subsets of one seed are nested (the first N of one fixed permutation, sorted).
  c.test_subset_seed = 0
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


# Eval config fields added since the first eval.json, at the value that reads an older config as
# today's (what an older study config resumes with; its evaluations are redone anyway, by
# MEASURES_VERSION, so a number of the older meaning is never reused).
ADDED_FIELDS = {"test_subset_seed": 0}


def settings_of(config) -> dict:
  """The eval config as stored in eval.json and compared on reuse, without the fields that change
  no number (``workdir.NUMBER_FREE_FIELDS``: its progress bar), with the fields added since at
  their value (``ADDED_FIELDS``)."""
  d = config.to_dict() if hasattr(config, "to_dict") else dict(config)
  d = {k: v for k, v in d.items() if k not in wd.NUMBER_FREE_FIELDS}
  for field, value in ADDED_FIELDS.items():
    d.setdefault(field, value)
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
    ("test_subset_seed", config.test_subset_seed, 0),
    ("knn_train_size", config.knn_train_size, 0),
    ("num_generated", config.num_generated, 2),
  ):
    if not isinstance(value, int) or value < low:
      raise ValueError(f"eval.{field}={value!r} must be an integer >= {low}")
  if k % min(chunk, k):
    raise ValueError(
      f"eval.num_importance_samples={k} must be a multiple of eval.chunk={chunk} (or below it)"
    )
  if config.test_size and not 2 <= config.test_size <= MNIST_TEST_IMAGES:
    raise ValueError(
      f"eval.test_size={config.test_size} must be in [0, {MNIST_TEST_IMAGES}] (0: all; a subset "
      f"needs at least 2)"
    )


def test_indices(total: int, size: int, seed: int) -> np.ndarray:
  """Which of ``total`` test images an evaluation of ``size`` (0: all) uses, sorted: the first
  ``size`` of one permutation drawn with ``seed`` (numpy's PCG64), so a larger subset of the same
  seed holds every image of a smaller one. ValueError names ``eval.test_size`` if out of range."""
  if not isinstance(size, int) or not 0 <= size <= total:
    raise ValueError(f"eval.test_size={size!r} must be in [0, {total}] (0: all)")
  if size in (0, total):
    return np.arange(total)
  return np.sort(np.random.default_rng(seed).permutation(total)[:size])


def evaluate_seed(ctx: measures.Context) -> dict:
  """The flat results of the eval config's measures for the seed in ``ctx``, with timings; the
  per-image values the measures return (``stats.PerImage``) are summarized in the results and
  kept in ``ctx.per_image`` (flat name -> [num_test_images])."""
  base = jax.random.PRNGKey(ctx.config.seed)
  result, timings = {}, {}
  for name in ctx.config.measures:
    t = time.perf_counter()
    ctx.measure = name
    summary, values = stats.split(measures.MEASURES[name](ctx, measures.key_for(base, name)))
    for key, v in values.items():
      if v.shape != (len(ctx.test_u8),):
        raise ValueError(
          f"measure {name!r}: per-image values {key!r} of shape {v.shape}, not one per test "
          f"image ({len(ctx.test_u8)})"
        )
    result.update(summary)
    ctx.per_image.update(values)
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
    complete = os.path.exists(os.path.join(out_dir, per_image.FILE))
    if same and complete and previous.get("measures_version") == MEASURES_VERSION and not force:
      log.info("%s already evaluated with these settings: %s", workdir, out_path)
      if hosts.is_writer() and not os.path.exists(os.path.join(out_dir, figures.PANELS_FILE)):
        # an evaluation written before reports read their images from it
        test_u8, _ = data.split(run.config, "test", figures.NUM_PANELS, "eval.test_size")
        figures.write_panels(out_dir, run, test_u8)
      _publish(workdir, out_path, run.epoch)
      return previous

  full_u8, full_labels = data.split(run.config, "test")
  indices = test_indices(len(full_u8), config.test_size, config.test_subset_seed)
  test_u8, test_labels = full_u8[indices], full_labels[indices]
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
  per_seed, per_seed_values, first = [], [], None
  for s in range(run.num_seeds):
    ctx = measures.Context(
      run.with_seed(s), config, test_u8, test_labels, train_u8, train_labels, classifier, real,
      full_test_u8=full_u8, test_indices=indices,
    )  # fmt: skip
    ctx.label = f"seed {s + 1}/{run.num_seeds}"
    per_seed.append(evaluate_seed(ctx))
    per_seed_values.append(ctx.per_image)
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
    "test_set": {
      "size": len(indices),
      "of": len(full_u8),
      "selection": (
        "all test images"
        if len(indices) == len(full_u8)
        else f"a random subset, eval.test_subset_seed = {config.test_subset_seed} (test_indices "
        f"in {per_image.FILE})"
      ),
    },
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
    kept = wd.keep_aside_files(
      out_dir, ("eval.json", per_image.FILE, figures.PANELS_FILE, *figures.FILES)
    )
    log.warning("kept the previous evaluation of epoch %d in %s", run.epoch, kept)
  os.makedirs(out_dir, exist_ok=True)
  if config.figures:
    figures.eval_figures(out_dir, first, per_seed[0].get("intensity/mean"))
  figures.write_panels(out_dir, run, full_u8)  # the first test images, whatever the subset
  result["per_image"] = per_image.write(out_dir, per_image.stack(per_seed_values, indices))
  wd.write_json(out_path, result, indent=1)
  _publish(workdir, out_path, run.epoch)
  hosts.barrier("evaluation written")
  return result


def _publish(workdir: str, path: str, epoch: int) -> None:
  """Copies an evaluation (its eval.json at ``path`` and the per_image.npz beside it) to
  WORKDIR/ unless WORKDIR/eval.json holds a later epoch's: they are always the evaluation of the
  latest evaluated epoch. The per-image file goes first; eval.json, which records its sha256
  (``per_image.load`` checks it), last."""
  target = os.path.join(workdir, "eval.json")
  if os.path.exists(target):
    try:
      if wd.read_json(target).get("epoch", -1) > epoch:
        return
    except ValueError:  # unreadable: replaced
      pass
  values = os.path.join(os.path.dirname(path), per_image.FILE)
  values_target = os.path.join(workdir, per_image.FILE)
  if os.path.exists(values):
    wd.copy_file(values, values_target)
  elif os.path.exists(values_target):  # an evaluation without one: no other's values beside it
    os.remove(values_target)
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
