"""The study: train and evaluate every decoder of ``config.decoders`` (seeds vmapped), then report.

    from vae import study
    study.run_study(config, "runs/study_cpu")      # config: experiments/configs/study.py

``config.decoders`` are names from the decoder table (``likelihoods.decoders``). Layout of the
study workdir:

    STUDY/study_config.json   the study's config (a resumed study must match it)
    STUDY/runs/<decoder>/     one training workdir per decoder (vae.training), with its eval/
    STUDY/REPORT.md, *.png    the report (vae.study.report)

Resumable at every level: a finished run is not retrained (``train_and_evaluate`` resumes or
returns at once), a finished evaluation is not recomputed (``evaluate_workdir`` reuses an
evaluation of the same epoch with the same settings), and the report is rebuilt from the files.
"""

from __future__ import annotations

import logging
import os
import time

import ml_collections

from likelihoods import decoders
from vae import evaluation
from vae import workdir as wd
from vae.study import report
from vae.training import train_and_evaluate

log = logging.getLogger(__name__)

STUDY_CONFIG_FILE = "study_config.json"


def run_config(config, decoder: str) -> ml_collections.ConfigDict:
  """The training config of one decoder of the study: ``config.train`` with the decoder's
  likelihood, then the decoder's entry of ``config.per_decoder`` (if any) merged over it (a
  paper's per-decoder settings: the CB paper's Gaussian at learning rate 1e-4, say)."""
  try:
    d = decoders.get(decoder)
  except ValueError as e:
    raise ValueError(f"config.decoders: {e}") from None
  c = ml_collections.ConfigDict(config.train.to_dict())
  c.likelihood = d.likelihood
  c.likelihood_options = ml_collections.ConfigDict(dict(d.options))
  overrides = config.get("per_decoder", {}).get(decoder)
  if overrides:
    _merge(c, overrides.to_dict() if hasattr(overrides, "to_dict") else dict(overrides), decoder)
  return c


def _merge(c: ml_collections.ConfigDict, overrides: dict, decoder: str, prefix: str = "") -> None:
  for key, value in overrides.items():
    name = f"{prefix}{key}"
    if isinstance(value, dict) and key != "likelihood_options":
      if key not in c:
        raise ValueError(f"per_decoder.{decoder}.{name}: the training config has no {name!r}")
      _merge(c[key], value, decoder, name + ".")
    elif key == "likelihood_options":
      c.likelihood_options.update(value)
    elif key not in c:
      raise ValueError(f"per_decoder.{decoder}.{name}: the training config has no {name!r}")
    else:
      c[key] = value


def _migrate(study: dict) -> dict:
  return {**study, "train": wd.migrate_config(study.get("train", {}))}


def _check_study_config(config, workdir: str) -> None:
  os.makedirs(workdir, exist_ok=True)
  path = os.path.join(workdir, STUDY_CONFIG_FILE)
  new = wd.config_to_dict(config)
  if os.path.exists(path):
    old = _migrate(wd.read_json(path))
    if old.get("train") != new.get("train") or _eval_settings(old) != _eval_settings(new):
      raise wd.ConfigMismatchError(
        f"study workdir {workdir!r} was made with other train/eval settings (see "
        f"{path}); use a new --workdir, or the same config to resume"
      )
  wd.write_json(path, new, sort_keys=True)


def _eval_settings(study: dict) -> dict:
  """The eval settings; a config written before ``measures`` existed ran the default ones."""
  e = dict(study.get("eval", {}))
  e.setdefault("measures", list(evaluation.evaluator.DEFAULT_MEASURES))
  e["measures"] = list(e["measures"])
  return e


def run_study(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Trains, evaluates and reports; returns the path of REPORT.md ("" if interrupted)."""
  results = run_grid(config, workdir)
  if results is None:
    return ""
  path = report.write_report(workdir, config, results)
  log.info("report: %s", path)
  return path


def run_grid(config: ml_collections.ConfigDict, workdir: str) -> dict | None:
  """Trains and evaluates every decoder (resuming); decoder -> its evaluation (None if
  interrupted). Each evaluation's ``workdir`` is the run's folder as a path from here."""
  for decoder in config.decoders:
    run_config(config, decoder)  # fail fast on an unknown name, before any training
  evaluation.evaluator.check_config(config.eval)
  _check_study_config(config, workdir)
  results = {}
  for i, decoder in enumerate(config.decoders):
    run_dir = os.path.join(workdir, "runs", decoder)
    log.info("[%d/%d] %s: training", i + 1, len(config.decoders), decoder)
    t = time.perf_counter()
    outcome = train_and_evaluate(run_config(config, decoder), run_dir)
    if outcome.interrupted:
      log.warning("study interrupted during %s; run the same command again to resume", decoder)
      return None
    log.info(
      "[%d/%d] %s: trained (%.0f s); evaluating",
      i + 1,
      len(config.decoders),
      decoder,
      time.perf_counter() - t,
    )
    result = evaluation.evaluate_workdir(run_dir, None, config.eval, relative_to=workdir)
    results[decoder] = {**result, "workdir": run_dir}  # in memory: a path that opens from here
  return results
