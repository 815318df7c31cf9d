"""The study: every decoder of the table x seeds, trained, evaluated and reported.

``grid`` runs the grid (resumable), ``report`` writes REPORT.md (table and generated findings),
``figures`` its figures. ``sweep`` runs the study along an axis (``axes``: the warping gamma, the
KL weight) and ``sweep_report`` writes its report (every measure against the axis).
"""

from vae.study.grid import run_config, run_grid, run_study
from vae.study.sweep import run_sweep

__all__ = ["run_config", "run_grid", "run_study", "run_sweep"]
