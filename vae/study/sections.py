"""The sections a report is made of, rendered from records (``vae.study.records``) as Markdown.

The study report and a sweep's report are lists of these sections: the settings (budget and
per-decoder settings), a table of columns, the column definitions, the convergence check, the
figures and the runs. Each function returns a list of lines; none reads a file.
"""

from __future__ import annotations

from vae import workdir as wd
from vae.evaluation.columns import Column
from vae.training.optimizer import DECAYING


def cell(stats: dict | None, column: Column, flag: bool = False) -> str:
  """'mean ± std' (± only with several seeds), 'n/a' without a value; † marks a flagged run."""
  if stats is None:
    return "n/a"
  text = column.format(stats["mean"])
  if len(stats["per_seed"]) > 1:
    text += " ± " + column.format(stats["std"])
  return text + (" †" if flag else "")


def table(records: dict, columns: dict[str, Column], *, converged: bool = True) -> list[str]:
  """One row per record, one column per ``columns`` entry, and whether the run converged."""
  lines = [
    "| decoder | " + " | ".join(c.header for c in columns.values()) + (" | converged |" if converged else " |"),
    "|---|" + "---|" * (len(columns) + converged),
  ]  # fmt: skip
  for record in records.values():
    cells = [cell(record.headline.get(k), c) for k, c in columns.items()]
    if converged:
      cells.append("**no**" if record.flags else "yes")
    lines.append(f"| {record.name} | " + " | ".join(cells) + " |")
  return lines


def column_definitions(columns: dict[str, Column], *, warped: bool = False) -> list[str]:
  """Each column's header, its one-line definition and which direction is better."""
  out = ["Columns (mean ± std over seeds):", ""]
  for c in columns.values():
    note = f"; on warped data: {c.warped}" if warped and c.warped else ""
    out.append(f"- *{c.header}*: {c.definition} ({c.better_words}{note}).")
  return out


def number(v: float) -> str:
  """A number of a verdict cell: 4 significant digits, or one decimal above 10^4."""
  return f"{v:.4g}" if abs(v) < 1e4 else f"{v:.1f}"


def verdict_cell(r: dict) -> str:
  """One budget's cell of a named-pair verdict (``verdicts.judge``'s result): A, B; A - B
  [interval]: verdict; each decoder's KL; seeds when they differ; the images compared when not
  all; or why it was not computed."""
  if r.get("verdict") is None:
    return f"not computed: {r.get('why', '')}"
  rate = f"; KL {r['a_rate']:.1f}, {r['b_rate']:.1f}" if "a_rate" in r and "b_rate" in r else ""
  seeds = "" if r["seeds"][0] == r["seeds"][1] else f" ({r['seeds'][0]}/{r['seeds'][1]} seeds)"
  images = (
    f" (on the {r['n']} of {r['of']} images that have it for both)" if r["n"] < r["of"] else ""
  )
  return (
    f"{number(r['a_mean'])}, {number(r['b_mean'])}; {number(r['estimate'])} "
    f"[{number(r['low'])}, {number(r['high'])}]: {r['verdict']}{rate}{seeds}{images}"
  )


def per_decoder_text(config) -> str:
  """The settings that differ for some of the grid's decoders (``config.per_decoder``; entries
  for decoders outside ``config.decoders`` are not run, so not mentioned), in words."""
  per = config.get("per_decoder") or {}
  per = per.to_dict() if hasattr(per, "to_dict") else dict(per)
  items = []
  for decoder in config.decoders:  # in the grid's order
    overrides = per.get(decoder)
    if not overrides:
      continue
    settings = ", ".join(f"{k} = {v}" for k, v in wd.flatten(overrides).items())
    items.append(f"`{decoder}`: {settings}")
  return (" Except, per decoder: " + "; ".join(items) + ".") if items else ""


def budget(config, *, kl_weight: str | None = None, budgets=None) -> str:
  """The budget every decoder gets, in one sentence, and the evaluation's size. ``budgets``: the
  epochs of each budget of a study run at several (else ``train.num_epochs``)."""
  t, e = config.train, config.eval
  kl = kl_weight if kl_weight is not None else f"{t.kl_weight:g}"
  epochs = " and ".join(str(b) for b in budgets) if budgets else str(t.num_epochs)
  opt = t.optimizer
  schedule = opt.get("schedule", "constant")
  if schedule in DECAYING:
    warm = opt.get("warmup_epochs", 0.0)
    schedule += (
      f" to 0 at the budget's end (warm-up {warm:g} epochs)"
      if warm
      else " to 0 at the budget's end"
    )
  kl_warm = t.get("kl_warmup_epochs", 0.0)
  val = t.data.get("validation_size", 0)
  test = e.test_size or 10000
  return (
    f"Budget, the same for every decoder: {t.model.arch} {list(t.model.hidden)} latent "
    f"{t.model.latent_dim}, {t.data.protocol} MNIST ({t.data.train_size or 60000 - val} training "
    f"images" + (f", {val} more held out for validation" if val else "") + f"), {epochs} epochs, "
    f"batch {t.batch_size}, {opt.name} lr {opt.learning_rate} ({schedule}), KL weight {kl}"
    + (f" (warmed up from 0 over {kl_warm:g} epochs)" if kl_warm else "")
    + f", {t.num_seeds} seeds. Evaluation on {test} test images"
    + (" (a seeded random subset)" if e.test_size else "")
    + f", K = {e.num_importance_samples} importance samples."
    + per_decoder_text(config)
  )


def convergence_rule(criteria) -> str:
  """The drift rule in words: information only (a verdict is never withheld)."""
  lead = (
    "Information only (a verdict is never withheld: budget robustness is judged by running "
    "two budgets)."
  )
  return lead + (
    f" A run is marked when its held-out ELBO (the validation split where there is one) "
    f"still rose over the last {100 * criteria.window:.0f}% of its epochs by more than "
    f"{criteria.max_elbo_rise_nats:g} nats per image, or a learned scale is more than "
    f"{100 * criteria.max_scale_gap:.0f}% from its optimum given the decoder means (as trained: "
    "with dropout on, where the run logged it; at test otherwise; vae/study/convergence.py)."
  )


def convergence(records: dict, criteria) -> list[str]:
  """The rule, then one line per record: no drift, or which."""
  lines = ["## Drift (information)", "", convergence_rule(criteria), ""]
  for record in records.values():
    a = record.convergence
    rise = f" (ELBO rise over the window {a['elbo_rise']:+.1f} nats)" if "elbo_rise" in a else ""
    lines.append(f"- `{record.name}`: " + ("; ".join(a["flags"]) or "no drift") + rise)
  return lines


def figure(file: str, caption: str | None = None) -> list[str]:
  name = file.rsplit(".", 1)[0].replace("_", " ")
  return [f"![{name}]({file})", ""] + ([caption, ""] if caption else [])


def runs(links: dict) -> list[str]:
  """'Runs: [name](path/eval.json), ...' from name -> the run's folder relative to the report."""
  return ["Runs: " + ", ".join(f"[{name}]({path}/eval.json)" for name, path in links.items()), ""]
