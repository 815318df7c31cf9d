"""Evaluate a checkpoint with measures that are fair across decoders; write eval.json and figures.

    from vae import evaluate
    result = evaluate.evaluate_workdir("runs/cb", step=None, config=evaluate.default_config())

Writes ``WORKDIR/eval/epoch_XXXX/{eval.json, *.png}`` and copies the JSON to ``WORKDIR/eval.json``
(the latest evaluation). Checkpoints are opened read-only. An existing evaluation of the same epoch
with the same settings and ``MEASURES_VERSION`` is returned as it is (the study relies on this to
resume); any other is kept, renamed with a time stamp, never silently overwritten.

Every number is per image, in nats unless its name says bits/dim, as {"mean", "stderr", "n"} over
the test images (stderr = std / sqrt(n)). See ``vae.metrics`` for the definitions.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from vae import data as data_lib
from vae import figures, metrics, objective, restore, train
from vae.restore import Run

log = logging.getLogger(__name__)

EVAL_NOISE_SEED = 0  # the dequantization noise of the common measure: the same for all runs
# Raised whenever a measure's definition or numerics change; an evaluation written by another
# version is redone (the old file kept, time-stamped), never reused. 2: the 8-bit discretized
# likelihood in log space (version 1 floored each pixel's probability at float32's 1e-38).
MEASURES_VERSION = 2


def default_config() -> ml_collections.ConfigDict:
  c = ml_collections.ConfigDict()
  c.num_importance_samples = 1000  # K of the importance-weighted estimates (up to 5000)
  c.chunk = 100  # importance samples per compiled chunk (bounds memory)
  c.batch_size = 100  # test images per compiled call
  c.test_size = 0  # first N test images (0: all 10000)
  c.knn_k = 15
  c.knn_train_size = 0  # training images the kNN classifier is fit on (0: all)
  c.sample_quality = True  # inception score / Frechet distance (needs the classifier)
  c.num_generated = 10000  # generated images for sample quality
  c.classifier_dir = ""  # "" -> $MNIST_CLASSIFIER_DIR or the user cache
  c.classifier_min_accuracy = 0.99  # refuse a cached classifier below this test accuracy
  c.seed = 0  # randomness of the estimates (z draws, samples)
  c.figures = True
  return c


def _stat(values) -> dict:
  return metrics.mean_and_stderr(values)


def evaluate_run(
  run: Run, config, test_u8, test_labels, train_u8, train_labels, classifier=None, real=None
) -> tuple[dict, dict]:
  """All measures for one seed of a run. Arrays are the uint8 MNIST splits (already subset)."""
  key = jax.random.PRNGKey(config.seed)
  keys = dict(zip(("elbo", "iw", "common", "disc", "cb", "cbm", "gen"), jax.random.split(key, 7)))
  K, timings, res = config.num_importance_samples, {}, {}
  iw = dict(chunk=config.chunk, batch_size=config.batch_size)

  # 1. The run's own objective on its own test inputs (the protocol applied with a fixed key).
  x = train.test_inputs(run.config, test_u8)
  t = time.perf_counter()
  bs = config.batch_size
  res["elbo"] = _stat(
    _batched(lambda xb, i: run.elbo(xb, jax.random.fold_in(keys["elbo"], i)), x, bs)
  )
  # score=own_density is log p(x|z) of the run's likelihood (eval mode): the same compiled program
  # as the common measure below, which only changes the data.
  res["iw_log_likelihood"] = _stat(
    run.log_likelihood(x, keys["iw"], K, score=metrics.own_density, target=x, **iw)
  )
  timings["iw_log_likelihood"] = time.perf_counter() - t

  # 2. The common measure: every decoder's density at the same dequantized test set.
  x_tilde = jnp.asarray(data_lib.dequantized_test_set(test_u8, seed=EVAL_NOISE_SEED))
  is_bernoulli = run.config.likelihood == "bernoulli"
  t = time.perf_counter()
  if is_bernoulli:
    ce = run.log_likelihood(
      x_tilde, keys["common"], K, score=metrics.own_density, target=x_tilde, **iw
    )
    res["bernoulli_cross_entropy"] = {**_stat(ce), "note": "not a density on [0,1]: not comparable"}
    cb = run.log_likelihood(
      x_tilde, keys["cb"], K, score=metrics.continuous_bernoulli_of, target=x_tilde, **iw
    )
    res["bernoulli_as_cb"] = {**_stat(cb), "bits_per_dim": _stat(objective.bits_per_dim(cb))}
    common = run.log_likelihood(
      x_tilde, keys["cbm"], K, score=metrics.continuous_bernoulli_of_mean, target=x_tilde, **iw
    )
    note = (
      "Bernoulli lambda read as the mean of a continuous Bernoulli (CB paper's inverse-mean map)"
    )
  else:
    common = run.log_likelihood(
      x_tilde, keys["common"], K, score=metrics.own_density, target=x_tilde, **iw
    )
    note = "the decoder's own density at the dequantized test set"
  res["common"] = {
    "log_likelihood": _stat(common),
    "bits_per_dim": _stat(objective.bits_per_dim(common)),
    "measure": note,
  }
  timings["common"] = time.perf_counter() - t

  # 3. The exact discretized likelihood of the 8-bit test set, for decoders with a cdf.
  dist_type = type(run.decode(jnp.zeros((1, run.config.model.latent_dim))))
  if metrics.has_discretization(dist_type):
    t = time.perf_counter()
    disc = run.log_likelihood(
      x_tilde, keys["disc"], K, score=metrics.discretized, target=jnp.asarray(test_u8), **iw
    )
    res["discretized"] = {"nll": _stat(-disc), "bits_per_dim": _stat(-disc / (784 * np.log(2)))}
    timings["discretized"] = time.perf_counter() - t
  else:
    res["discretized"] = {"note": f"{dist_type.__name__} has no continuous cdf: not applicable"}

  # 4. Latent quality.
  t = time.perf_counter()
  test_means = np.asarray(_batched(lambda xb, i: run.encode(xb)[0], x, bs))
  train_means = np.asarray(
    _batched(
      lambda xb, i: run.encode(xb)[0], train.test_inputs(run.config, train_u8, static_seed=0), bs
    )
  )
  res["knn_accuracy"] = metrics.knn_accuracy(
    train_means, train_labels, test_means, test_labels, config.knn_k
  )
  res["active_units"] = metrics.active_units(test_means)
  timings["latents"] = time.perf_counter() - t

  # 5. The seeds' question: intensity bias and blur, for the mean and the display parameter.
  recon_mean = np.asarray(_batched(lambda xb, i: run.decode(run.encode(xb)[0]).mean(), x, bs))
  recon_disp = np.asarray(_batched(lambda xb, i: run.display(run.encode(xb)[0]), x, bs))
  res["intensity"] = {
    "mean": metrics.intensity_report(x, recon_mean),
    "display": metrics.intensity_report(x, recon_disp),
    "display_parameter": run.model.likelihood.display_name,
  }

  # 6. Sample quality in the features of the project's MNIST classifier.
  gen = None
  if classifier is not None:
    t = time.perf_counter()
    gen = _generate(run, keys["gen"], config.num_generated)
    res["sample_quality"] = _sample_quality(classifier, real, gen, recon_mean)
    timings["sample_quality"] = time.perf_counter() - t
  res["timings_seconds"] = timings
  return res, {
    "x": np.asarray(x),
    "recon_mean": recon_mean,
    "recon_display": recon_disp,
    "generated": gen,
  }


def _batched(fn, x, batch_size: int):
  """fn over fixed-size batches of x (the last one padded), so each function compiles once."""
  n = x.shape[0]
  outs = [
    np.asarray(fn(metrics.pad_to(x[s : s + batch_size], batch_size), i))[: min(batch_size, n - s)]
    for i, s in enumerate(range(0, n, batch_size))
  ]
  return np.concatenate(outs)


def _generate(run: Run, key, num: int) -> dict:
  chunks = [
    (
      run.sample(jax.random.fold_in(key, i), 1000),
      run.sample(jax.random.fold_in(key, i), 1000, from_decoder=True),
    )
    for i in range(-(-num // 1000))
  ]
  means = np.concatenate([np.asarray(m) for m, _ in chunks])[:num]
  draws = np.concatenate([np.asarray(d) for _, d in chunks])[:num]
  return {"means": np.clip(means, 0, 1), "draws": np.clip(draws, 0, 1)}


def real_reference(classifier, test_u8, train_u8) -> dict:
  """Sample-quality numbers of real images: training-set feature statistics (the reference of
  every Frechet distance) and the test set's inception score and Frechet distance to it."""
  from vae import sample_quality as sq

  test = np.asarray(test_u8, np.float32) / 255
  train_stats = sq.feature_stats(classifier.features(np.asarray(train_u8, np.float32) / 255))
  return {
    "train_stats": train_stats,
    "test_inception_score": sq.inception_score(classifier.logits(test))[0],
    "test_frechet_distance": sq.frechet_from_stats(
      *sq.feature_stats(classifier.features(test)), *train_stats
    ),
  }


def _sample_quality(classifier, real, gen, recon_mean) -> dict:
  from vae import sample_quality as sq

  out = {}
  for name, images in (
    ("decoder_means", gen["means"]),
    ("decoder_samples", gen["draws"]),
    ("reconstruction_means", recon_mean),
  ):
    logits, feats = classifier.logits(images), classifier.features(images)
    is_mean, is_std = sq.inception_score(logits)
    out[name] = {
      "inception_score": is_mean,
      "inception_score_std": is_std,
      "frechet_distance": sq.frechet_from_stats(*sq.feature_stats(feats), *real["train_stats"]),
    }
  out["real_test_images"] = {
    "inception_score": real["test_inception_score"],
    "frechet_distance": real["test_frechet_distance"],
  }
  out["classifier_test_accuracy"] = classifier.accuracy
  out["classifier_params_sha256"] = classifier.info.params_sha256
  return out


def evaluate_workdir(
  workdir: str, step: int | None = None, config=None, *, force: bool = False
) -> dict:
  """Evaluates every seed of the run in ``workdir`` at ``step`` (default: latest complete)."""
  config = config or default_config()
  run = restore.load(workdir, step)
  out_dir = os.path.join(workdir, "eval", f"epoch_{run.epoch:04d}")
  out_path = os.path.join(out_dir, "eval.json")
  settings = config.to_dict()
  if os.path.exists(out_path):
    with open(out_path) as f:
      previous = json.load(f)
    same = previous.get("eval_config") == settings
    if same and previous.get("measures_version") == MEASURES_VERSION and not force:
      log.info("%s already evaluated with these settings: %s", workdir, out_path)
      _publish(workdir, out_path)
      return previous
    kept = stamp = f"{out_path}.{time.strftime('%Y%m%d-%H%M%S')}"
    for n in range(1, 1000):  # two in the same second: never replace a kept file
      if not os.path.exists(kept):
        break
      kept = f"{stamp}-{n}"
    os.replace(out_path, kept)
    why = "other settings" if not same else "older measures"
    log.warning("kept the previous evaluation (%s) as %s", why, kept)

  test_u8, test_labels = data_lib.load_mnist("test", **_source(run.config))
  train_u8, train_labels = data_lib.load_mnist("train", **_source(run.config))
  test_u8, test_labels = _subset(test_u8, test_labels, config.test_size)
  train_u8, train_labels = _subset(train_u8, train_labels, config.knn_train_size)
  classifier = real = None
  if config.sample_quality:
    from vae import classifier as classifier_lib

    classifier = classifier_lib.get_classifier(
      config.classifier_dir or None, min_accuracy=config.classifier_min_accuracy
    )
    real = real_reference(classifier, test_u8, train_u8)
  t0 = time.perf_counter()
  per_seed, arrays = [], None
  for s in range(run.config.num_seeds):
    res, arr = evaluate_run(
      run.with_seed(s), config, test_u8, test_labels, train_u8, train_labels, classifier, real
    )
    per_seed.append(res)
    arrays = arrays or arr
  result = {
    "workdir": os.path.abspath(workdir),
    "epoch": run.epoch,
    "likelihood": run.config.likelihood,
    "likelihood_options": run.config.likelihood_options.to_dict(),
    "protocol": run.config.data.protocol,
    "num_seeds": run.config.num_seeds,
    "eval_config": settings,
    "measures_version": MEASURES_VERSION,
    "per_seed": per_seed,
    "seconds": time.perf_counter() - t0,
    "devices": str(jax.devices()),
  }
  os.makedirs(out_dir, exist_ok=True)
  if config.figures:
    figures.eval_figures(out_dir, run, arrays, per_seed[0])
  tmp = out_path + ".tmp"
  with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
  os.replace(tmp, out_path)
  _publish(workdir, out_path)
  return result


def _publish(workdir: str, path: str) -> None:
  """Copies an evaluation to WORKDIR/eval.json (atomically; untouched if already the same)."""
  target = os.path.join(workdir, "eval.json")
  with open(path, "rb") as f:
    new = f.read()
  if os.path.exists(target):
    with open(target, "rb") as f:
      if f.read() == new:
        return
  shutil.copyfile(path, target + ".tmp")
  os.replace(target + ".tmp", target)


def _source(config) -> dict:
  return dict(source=config.data.source, data_dir=config.data.data_dir or None)


def _subset(images, labels, size: int):
  if not 0 <= size <= len(images):
    raise ValueError(f"subset size {size} must be in [0, {len(images)}] (0: all)")
  return (images[:size], labels[:size]) if size else (images, labels)


# name -> path into one seed's result; the study's table uses the same names.
HEADLINE = {
  "elbo": ("elbo", "mean"),
  "iw_log_likelihood": ("iw_log_likelihood", "mean"),
  "common_log_likelihood": ("common", "log_likelihood", "mean"),
  "common_bits_per_dim": ("common", "bits_per_dim", "mean"),
  "discretized_nll": ("discretized", "nll", "mean"),
  "discretized_bits_per_dim": ("discretized", "bits_per_dim", "mean"),
  "knn_accuracy": ("knn_accuracy",),
  "active_units": ("active_units",),
  "inception_score_samples": ("sample_quality", "decoder_samples", "inception_score"),
  "inception_score_means": ("sample_quality", "decoder_means", "inception_score"),
  "frechet_samples": ("sample_quality", "decoder_samples", "frechet_distance"),
  "frechet_means": ("sample_quality", "decoder_means", "frechet_distance"),
  "recon_mse": ("intensity", "mean", "mse", "mean"),
  "shift_toward_half": ("intensity", "mean", "shift_toward_half", "mean"),
  "shift_toward_half_display": ("intensity", "display", "shift_toward_half", "mean"),
  "sharpness_ratio": ("intensity", "mean", "sharpness_ratio", "mean"),
  "sharpness_ratio_display": ("intensity", "display", "sharpness_ratio", "mean"),
  "bernoulli_as_cb_log_likelihood": ("bernoulli_as_cb", "mean"),
  "bernoulli_cross_entropy": ("bernoulli_cross_entropy", "mean"),
}


def headline(result: dict) -> dict:
  """{name: {"mean", "std", "per_seed"}} over the run's seeds, for the measures it has."""
  out = {}
  for name, path in HEADLINE.items():
    values = []
    for res in result["per_seed"]:
      v = res
      for key in path:
        v = v.get(key) if isinstance(v, dict) else None
      if isinstance(v, (int, float)):
        values.append(float(v))
    if len(values) == len(result["per_seed"]) and values:
      out[name] = {
        "mean": float(np.mean(values)),
        "std": float(np.std(values, ddof=1)) if len(values) > 1 else 0.0,
        "per_seed": values,
      }
  return out
