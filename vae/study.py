"""The study: train and evaluate every decoder of ``config.decoders`` (seeds vmapped), then report.

    from vae import study
    study.run_study(config, "runs/study_cpu")      # config: experiments/configs/study.py

Layout of the study workdir:

    STUDY/study_config.json   the study's config (a resumed study must match it)
    STUDY/runs/<decoder>/     one training workdir per decoder (vae.train), with its eval/
    STUDY/REPORT.md, *.png    the report (vae.report)

Resumable at every level: a finished run is not retrained (``train_and_evaluate`` resumes or
returns at once), a finished evaluation is not recomputed (``evaluate_workdir`` reuses an
evaluation of the same epoch with the same settings), and the report is rebuilt from the files.
"""

from __future__ import annotations

import json
import logging
import os
import time

import ml_collections

from vae import checkpoints as ckpt
from vae import evaluate, report, train

log = logging.getLogger(__name__)

# Registry of the study's decoders: name -> (likelihood, options).
DECODERS = {
  "bernoulli": ("bernoulli", {}),
  "continuous_bernoulli": ("continuous_bernoulli", {}),
  "gaussian_fixed": ("gaussian", {"sigma": "fixed"}),  # "MSE": sigma^2 = 1/2
  "gaussian_shared": ("gaussian", {"sigma": "shared"}),
  "gaussian_per_pixel": ("gaussian", {"sigma": "per_pixel"}),
  "gaussian_decoder": ("gaussian", {"sigma": "decoder"}),
  "gaussian_optimal": ("gaussian", {"sigma": "optimal"}),
  "beta": ("beta", {}),
}


def run_config(config, decoder: str) -> ml_collections.ConfigDict:
  """The training config of one decoder of the study."""
  if decoder not in DECODERS:
    raise ValueError(
      f"unknown decoder {decoder!r} in config.decoders; available: {sorted(DECODERS)}"
    )
  c = ml_collections.ConfigDict(config.train.to_dict())
  c.likelihood, options = DECODERS[decoder]
  c.likelihood_options = ml_collections.ConfigDict(dict(options))
  return c


def _check_study_config(config, workdir: str) -> None:
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, "study_config.json")
  new = ckpt.config_to_dict(config)
  if os.path.exists(path):
    with open(path) as f:
      old = json.load(f)
    if old.get("train") != new.get("train") or old.get("eval") != new.get("eval"):
      raise ckpt.ConfigMismatchError(
        f"study workdir {workdir!r} was made with other train/eval settings (see "
        f"{path}); use a new --workdir, or the same config to resume"
      )
  with open(path + ".tmp", "w") as f:
    json.dump(new, f, indent=2, sort_keys=True)
  os.replace(path + ".tmp", path)


def run_study(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Trains, evaluates and reports; returns the path of REPORT.md."""
  for decoder in config.decoders:
    run_config(config, decoder)  # fail fast on an unknown name, before any training
  _check_study_config(config, workdir)
  results = {}
  for i, decoder in enumerate(config.decoders):
    run_dir = os.path.join(workdir, "runs", decoder)
    log.info("[%d/%d] %s: training", i + 1, len(config.decoders), decoder)
    t = time.perf_counter()
    outcome = train.train_and_evaluate(run_config(config, decoder), run_dir)
    if outcome.interrupted:
      log.warning("study interrupted during %s; run the same command again to resume", decoder)
      return ""
    log.info(
      "[%d/%d] %s: trained (%.0f s); evaluating",
      i + 1,
      len(config.decoders),
      decoder,
      time.perf_counter() - t,
    )
    results[decoder] = evaluate.evaluate_workdir(run_dir, None, config.eval)
  path = report.write_report(workdir, config, results)
  log.info("report: %s", path)
  return path
