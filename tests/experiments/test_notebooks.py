"""Every notebook under experiments/notebooks runs top to bottom (nbclient), outputs stripped."""

import glob
import os

import nbformat
from nbclient import NotebookClient
import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NOTEBOOKS = sorted(glob.glob(os.path.join(REPO, "experiments", "notebooks", "*.ipynb")))


def test_there_are_notebooks():
  assert {os.path.basename(p) for p in NOTEBOOKS} >= {"quickstart.ipynb", "baselines.ipynb",
                                                      "ride.ipynb"}


@pytest.mark.parametrize("path", NOTEBOOKS, ids=os.path.basename)
def test_notebook_runs_and_is_stored_without_outputs(path):
  nb = nbformat.read(path, as_version=4)
  assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code")
  # The kernel is a fresh process: give it one CPU device and the repo on its path.
  env_backup = dict(os.environ)
  os.environ["XLA_FLAGS"] = ""
  os.environ["PYTHONPATH"] = REPO + os.pathsep + os.environ.get("PYTHONPATH", "")
  try:
    NotebookClient(nb, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": REPO}}).execute()
  finally:
    os.environ.clear()
    os.environ.update(env_backup)
