"""The study: every decoder of the table x seeds, trained, evaluated and reported.

``grid`` runs the grid (resumable), ``report`` writes REPORT.md (table and generated findings),
``figures`` its figures.
"""

from vae.study.grid import run_config, run_grid, run_study

__all__ = ["run_config", "run_grid", "run_study"]
