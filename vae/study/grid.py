"""The study: train and evaluate every decoder of ``config.decoders`` (seeds vmapped), then report.

    from vae import study
    study.run_study(config, "runs/study_cpu")      # config: experiments/configs/study.py

``config.decoders`` are names from the decoder table (``likelihoods.decoders``). Layout of the
study workdir:

    STUDY/study_config.json   the study's config (a resumed study must match it)
    STUDY/runs/<decoder>/     one training workdir per decoder (vae.training), with its eval/
    STUDY/runs/epochs=<T>/<decoder>/   the same per budget, when ``config.budgets`` is set (T
                              and 2T epochs, say: each run's schedule anneals to its own end,
                              and each verdict is checked at both)
    STUDY/runs/epochs=<T>/kl=<w>/<decoder>/   on a rate axis (``config.kl_weights``): each
                              decoder at each KL weight, its rate-distortion curve
    STUDY/REPORT.md, *.png    the report (vae.study.report)

Resumable at every level: a finished run is not retrained (``train_and_evaluate`` resumes or
returns at once), a finished evaluation is not recomputed (``evaluate_workdir`` reuses an
evaluation of the same epoch with the same settings), and the report is rebuilt from the files.
``check_grid`` (every run's config checked) and ``run_cells`` (train, then evaluate, each cell)
serve the sweeps too (``vae.study.sweep``).
"""

from __future__ import annotations

import logging
import os
import time

import ml_collections
import tqdm

from likelihoods import decoders
from vae import evaluation, hosts
from vae import workdir as wd
from vae.mesh import make_mesh
from vae.model import build_model
from vae.study import rate_report, report, verdicts
from vae.training import checks, train_and_evaluate

log = logging.getLogger(__name__)

STUDY_CONFIG_FILE = "study_config.json"


def budgets(config) -> tuple[int, ...]:
  """The study's budgets in epochs, ascending: ``config.budgets`` (each run trains that many
  epochs, its learning-rate schedule annealed to its own end), or ``train.num_epochs`` alone."""
  given = tuple(config.get("budgets") or ())
  for b in given:
    if not isinstance(b, int) or b < 1:
      raise ValueError(f"budgets={given!r}: each budget must be a whole number of epochs >= 1")
  if len(set(given)) != len(given):
    raise ValueError(f"budgets={given!r} repeats a budget")
  return tuple(sorted(given)) or (config.train.num_epochs,)


def kl_weights(config, decoder: str | None = None) -> tuple[float, ...]:
  """The study's KL weights (beta-VAE's beta), ascending: ``config.kl_weights`` (a rate axis:
  each decoder trained at each, so that its rate-distortion curve is measured) and, for
  ``decoder``, its entry of ``config.extra_kl_weights`` (a decoder whose rates lie far from the
  others' reaches theirs there); or ``train.kl_weight`` alone."""
  extra = config.get("extra_kl_weights") or {}
  unknown = sorted(set(extra.keys()) - set(config.decoders))
  if unknown:
    raise ValueError(
      f"extra_kl_weights names {unknown}, not among the study's decoders {list(config.decoders)}"
    )
  given = tuple(float(w) for w in (config.get("kl_weights") or ()))
  if extra and not given:
    raise ValueError("extra_kl_weights needs a rate axis (kl_weights)")
  if decoder is not None:
    given += tuple(float(w) for w in (extra.get(decoder) or ()))
  for w in given:
    if not w > 0 or w != w or w == float("inf"):
      raise ValueError(f"kl_weights={given!r}: each KL weight must be a finite number > 0")
  if len({f"{w:g}" for w in given}) != len(given):
    raise ValueError(f"kl_weights={given!r} repeats a weight (to 6 significant digits)")
  return tuple(sorted(given)) or (float(config.train.kl_weight),)


def cell_dir(workdir: str, config, budget: int, decoder: str, kl_weight=None) -> str:
  """A run's folder: runs/<decoder>; runs/epochs=<budget>/<decoder> with several budgets;
  runs/epochs=<budget>/kl=<weight>/<decoder> on a rate axis (``kl_weights``)."""
  if config.get("kl_weights"):
    return os.path.join(workdir, "runs", f"epochs={budget}", f"kl={kl_weight:g}", decoder)
  if len(budgets(config)) == 1 and not config.get("budgets"):
    return os.path.join(workdir, "runs", decoder)
  return os.path.join(workdir, "runs", f"epochs={budget}", decoder)


def run_config(
  config, decoder: str, budget: int | None = None, kl_weight: float | None = None
) -> ml_collections.ConfigDict:
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
  if budget is not None:
    c.num_epochs = budget
  if kl_weight is not None:
    c.kl_weight = kl_weight
  return c


def _merge(c: ml_collections.ConfigDict, overrides: dict, decoder: str, prefix: str = "") -> None:
  """``overrides`` set over ``c``; ``likelihood_options`` may add options, no other field."""
  for key, value in overrides.items():
    name = f"{prefix}{key}"
    if name == "likelihood_options":
      c.likelihood_options.update(value)
    elif key not in c:
      raise ValueError(f"per_decoder.{decoder}.{name}: the training config has no {name!r}")
    elif isinstance(value, dict):
      _merge(c[key], value, decoder, name + ".")
    else:
      c[key] = value


def settings(d: dict, decoders) -> dict:
  """What a resumed study or sweep must keep, flattened: its train, per-decoder and eval settings
  and a sweep's axis, without the fields that change no number (``workdir.NUMBER_FREE_FIELDS``), the
  grid (``decoders``, a sweep's values: they extend it) or ``convergence`` (the report's only).
  Per-decoder settings count for ``decoders`` (those with runs; another entry was never used)."""
  per = d.get("per_decoder") or {}
  sections = {
    "train": wd.migrate_config(d.get("train", {})),
    "per_decoder": {k: v for k, v in per.items() if k in decoders},
    "eval": evaluation.evaluator.settings_of(d.get("eval", {})),
  }
  if "sweep" in d:
    sections["sweep"] = {"axis": d["sweep"].get("axis")}
  # Fields an axis of the grid sets for every run (its budgets, its KL weights) change no number.
  overridden = {"num_epochs"} if d.get("budgets") else set()
  overridden |= {"kl_weight"} if d.get("kl_weights") else set()
  return {
    k: v
    for k, v in wd.flatten(sections).items()
    if _field(k) not in wd.NUMBER_FREE_FIELDS and _field(k) not in overridden
  }


def _field(key: str) -> str | None:
  """The training config field a flattened key of ``settings`` names ("train.mesh",
  "per_decoder.<decoder>.mesh" -> "mesh"), or None for an eval or sweep setting."""
  section, _, rest = key.partition(".")
  if section == "per_decoder":
    return rest.partition(".")[2] or None
  return rest if section == "train" else None


def differences(old: dict, new: dict) -> list[str]:
  """The settings (``settings``) that differ between two study or sweep configs, as 'field: A
  there, B now'; per-decoder settings are compared for the decoders ``old`` ran."""
  ran = set(old.get("decoders", []))
  a, b = settings(old, ran), settings(new, ran)
  out = []
  for key in sorted(set(a) | set(b)):
    x, y = a.get(key, "<absent>"), b.get(key, "<absent>")
    if x != y and not (isinstance(x, float) and isinstance(y, float) and x != x and y != y):
      out.append(f"{key}: {x!r} there, {y!r} now")
  return out


def check_workdir_config(config, workdir: str, file: str, *, grid_of, report_files) -> None:
  """Refuses other settings in an existing study or sweep (one line naming them, ``differences``);
  another grid (``grid_of(config dict)``: the decoders, a sweep's values) extends it, and its
  previous report (``report_files``) is kept when the new one is written. Then writes ``file``."""
  if os.path.exists(workdir) and not os.path.isdir(workdir):
    raise NotADirectoryError(f"--workdir {workdir!r} is a file, not a directory")
  path = os.path.join(workdir, file)
  new = wd.config_to_dict(config)
  kind = file.split("_")[0]
  if os.path.exists(path):
    old = wd.read_json(path)
    changed = differences(old, new)
    if changed:
      shown = "; ".join(changed[:6]) + (
        f"; and {len(changed) - 6} more" if len(changed) > 6 else ""
      )
      raise wd.ConfigMismatchError(
        f"{kind} workdir {workdir!r} was made with other train/eval settings ({shown}); use a "
        f"new --workdir, or the settings of {path} to resume (the grid may change: that "
        f"extends the {kind})"
      )
    if grid_of(old) != grid_of(new):
      log.warning(
        "the %s's grid changed from %s to %s: extending it (finished runs are reused); the "
        "report is rewritten for the new grid and the previous one kept in %s/",
        kind,
        grid_of(old),
        grid_of(new),
        report.PREVIOUS_DIR,
      )
      if hosts.is_writer():
        report.keep_previous(workdir, report_files)
  if hosts.is_writer():  # one process of a multi-process run writes (vae.hosts)
    os.makedirs(workdir, exist_ok=True)
    wd.write_json(path, new, sort_keys=True)
  hosts.barrier(f"{kind} config written")


def _check_study_config(config, workdir: str) -> None:
  check_workdir_config(
    config,
    workdir,
    STUDY_CONFIG_FILE,
    grid_of=lambda d: (
      list(d.get("decoders", [])),
      list(d.get("budgets") or []),
      list(d.get("kl_weights") or []),
      {k: list(v) for k, v in (d.get("extra_kl_weights") or {}).items()},
    ),
    report_files=report.FILES + rate_report.FILES,
  )


def run_study(config: ml_collections.ConfigDict, workdir: str) -> str:
  """Trains, evaluates and reports; returns the path of REPORT.md ("" if interrupted)."""
  results = run_grid(config, workdir)
  if results is None:
    return ""
  path = os.path.join(workdir, "REPORT.md")
  if hosts.is_writer():
    write = rate_report.write_rate_report if config.get("kl_weights") else report.write_report
    path = write(workdir, config, results)
    log.info("report: %s", path)
  hosts.barrier("report written")
  return path


def check_grid(config: ml_collections.ConfigDict) -> None:
  """Every run of the study built and checked, and the eval settings and comparisons: a
  ValueError naming the bad name or setting, before anything is trained or written (a sweep
  checks each of its points)."""
  for decoder in config.decoders:  # fail fast on a bad name or setting, before any training
    for budget in budgets(config) if config.get("budgets") else (None,):
      for weight in kl_weights(config, decoder) if config.get("kl_weights") else (None,):
        c = run_config(config, decoder, budget, weight)
        checks.validate(c, make_mesh().size)
        for field, axis in (("num_epochs", "budgets"), ("kl_weight", "kl_weights")):
          if config.get(axis) and field in wd.flatten(
            dict(config.get("per_decoder", {}).get(decoder) or {})
          ):
            raise ValueError(
              f"per_decoder.{decoder}.{field} would be overridden by the study's {axis}; remove it"
            )
    build_model(c)
  evaluation.evaluator.check_config(config.eval)
  verdicts.comparisons(config)
  rate_report.check_config(config)


def run_grid(config: ml_collections.ConfigDict, workdir: str) -> dict | None:
  """Trains and evaluates every decoder at every budget and KL weight (resuming); (budget, KL
  weight, decoder) -> its evaluation on a rate axis (``config.kl_weights``), (budget, decoder) ->
  its evaluation with ``config.budgets``, else decoder -> its evaluation (None if interrupted).
  Each evaluation's ``workdir`` is the run's folder as a path from here."""
  check_grid(config)
  _check_study_config(config, workdir)
  rate_axis = bool(config.get("kl_weights"))
  cells = {
    (budget, weight, decoder): (
      cell_dir(workdir, config, budget, decoder, weight),
      run_config(
        config,
        decoder,
        budget if config.get("budgets") else None,
        weight if rate_axis else None,
      ),
    )
    for budget in budgets(config)
    for weight in sorted({w for d in config.decoders for w in kl_weights(config, d)})
    for decoder in config.decoders
    if weight in kl_weights(config, decoder)
  }
  results = run_cells(cells, config.eval, workdir, progress_bar=config.get("progress_bar", False))
  if results is None or rate_axis:
    return results
  if config.get("budgets"):
    return {(budget, decoder): r for (budget, _, decoder), r in results.items()}
  return {decoder: r for (_, _, decoder), r in results.items()}


def run_cells(
  cells: dict, eval_config, workdir: str, *, desc: str = "study", progress_bar: bool = False
) -> dict | None:
  """Trains (resuming) and evaluates each cell, ``name -> (run folder, training config)``, in
  order: the study's decoders, a sweep's (value, decoder) points. Returns name -> its evaluation,
  or None if interrupted (the same call resumes). Each evaluation records its run's folder
  relative to ``workdir``; the returned ``workdir`` is a path that opens from here."""
  results = {}
  n = len(cells)
  bar = tqdm.tqdm(total=2 * n, desc=desc, unit="job", disable=not progress_bar)
  with bar:
    for i, (name, (run_dir, train_config)) in enumerate(cells.items()):
      label = " ".join(map(str, name)) if isinstance(name, tuple) else str(name)
      bar.set_postfix_str(f"[{i + 1}/{n}] {label}: training")
      log.info("[%d/%d] %s: training", i + 1, n, label)
      t = time.perf_counter()
      outcome = train_and_evaluate(train_config, run_dir)
      if outcome.interrupted:
        log.warning("%s interrupted during %s; run the same command again to resume", desc, label)
        return None
      bar.update()
      bar.set_postfix_str(f"[{i + 1}/{n}] {label}: evaluating")
      log.info("[%d/%d] %s: trained (%.0f s); evaluating", i + 1, n, label, time.perf_counter() - t)
      result = evaluation.evaluate_workdir(run_dir, None, eval_config, relative_to=workdir)
      results[name] = {**result, "workdir": run_dir}  # in memory: a path that opens from here
      bar.update()
  return results
