"""docs/tutorial.ipynb runs top to bottom on the code as it is, and is committed with outputs."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

from .conftest import REPO

TUTORIAL = REPO / "docs" / "tutorial.ipynb"


def test_tutorial_notebook_executes(data_dir, monkeypatch):
    # The kernel inherits this environment; the notebook's own cells assert that
    # the reference, fast NumPy and PyTorch projections agree. nbclient keeps the
    # executed copy in memory: nothing is written into the repository.
    monkeypatch.setenv("LENET_DECONV_DATA", str(data_dir))
    notebook = nbformat.read(TUTORIAL, as_version=4)
    client = NotebookClient(
        notebook, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(REPO)}}
    )
    client.execute()
    assert any(cell.get("outputs") for cell in notebook.cells)


def test_tutorial_is_committed_with_its_outputs():
    # So that it renders, figures and numbers included, where people browse the repo.
    notebook = nbformat.read(TUTORIAL, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(cell.execution_count and cell.outputs for cell in code)
    assert any("image/png" in out.get("data", {}) for cell in code for out in cell.outputs)
    assert TUTORIAL.stat().st_size < 1_500_000
