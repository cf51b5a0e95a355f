"""examples/induction_heads.ipynb runs top to bottom, as a reader would run it, on the tests'
`tiny` suite (`INDUCTIONSCOPE_SUITE`, so it is not trained a second time)."""

import re
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOK = Path(__file__).resolve().parents[2] / "examples" / "induction_heads.ipynb"


def printed(nb) -> str:
    return "".join(o.get("text", "") for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs)


def test_the_example_notebook_runs_top_to_bottom(tiny_suite, monkeypatch):
    monkeypatch.setenv("INDUCTIONSCOPE_SUITE", str(tiny_suite))
    nb = nbformat.read(NOTEBOOK, as_version=4)
    # a cell that raises (the notebook asserts that its re-measured prefix-matching scores equal
    # the stored ones) fails the test with that cell's traceback
    client = NotebookClient(
        nb, timeout=900, startup_timeout=300, resources={"metadata": {"path": str(NOTEBOOK.parent)}}
    )
    client.execute()
    text = printed(nb)
    assert str(tiny_suite) in text
    assert "largest difference from the stored scores" in text
    assert re.search(r"L\dH\d: ICL score -?\d+\.\d+ -> -?\d+\.\d+ nats", text)  # the ablation's answer
    figures = [
        o for cell in nb.cells for o in cell.get("outputs", []) if "application/vnd.plotly.v1+json" in o.get("data", {})
    ]
    assert len(figures) == 4  # phase change (2), prefix matching over training, loss by position
