"""The Colab notebook executes end to end on CPU with 8 fake devices and tiny settings."""

import os

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NOTEBOOK = os.path.join(ROOT, "experiments", "colab.ipynb")

pytestmark = pytest.mark.e2e


def test_notebook_runs_with_eight_devices(tmp_path, monkeypatch):
  nb = nbformat.read(NOTEBOOK, as_version=4)
  params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
  assert len(params) == 1, "the notebook needs exactly one cell tagged 'parameters'"
  params[0].source += (
    f"\nINSTALL = False\nTINY = True\nWORKDIR = {str(tmp_path)!r}"
    f"\nDATA_SOURCE = 'idx'\nNUM_EPOCHS = 1\nMATMUL_PRECISION = 'highest'\n"
  )
  monkeypatch.setenv("XLA_FLAGS", "--xla_force_host_platform_device_count=8")
  monkeypatch.setenv("JAX_PLATFORMS", "cpu")
  monkeypatch.setenv("MPLBACKEND", "Agg")
  NotebookClient(
    nb, timeout=1200, kernel_name="python3", resources={"metadata": {"path": ROOT}}
  ).execute()
  printed = "".join(
    o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
  )
  assert "8 devices, backend cpu" in printed
  assert "test ELBO" in printed and "importance-weighted log-likelihood" in printed
  assert os.path.exists(tmp_path / "study" / "REPORT.md")
  assert (tmp_path / "continuous_bernoulli" / "checkpoints").is_dir()
