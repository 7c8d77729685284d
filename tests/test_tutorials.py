"""The tutorials' notebooks are up to date with their sources and execute in a Jupyter kernel
(`execute`); those on PKS 2155-304 (they need $GAMMAPY_DATA) are tested in their own modules,
``test_tutorial_*.py``, which pytest-xdist can run on different workers."""

import json
import sys
from pathlib import Path
import pytest

TUTORIALS = Path(__file__).parent.parent / "tutorials"
sys.path.insert(0, str(TUTORIALS))
import make_notebooks  # noqa: E402 -- from the tutorials folder

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_notebooks_are_generated_from_the_tutorials():
    scripts = sorted(TUTORIALS.glob("plot_*.py"))
    assert len(scripts) == 5
    assert make_notebooks.main(["--check"]) == 0
    notebook = json.loads(make_notebooks.notebook_path(scripts[0]).read_text())
    assert notebook["cells"][0]["cell_type"] == "markdown"
    assert notebook["cells"][0]["source"][0].startswith("# ")
    assert {cell["cell_type"] for cell in notebook["cells"]} == {"markdown", "code"}


def execute(name, tmp_path, values):
    """Execute a tutorial's notebook in a kernel, in ``tmp_path``; return ``values`` (expressions
    evaluated at the end, as JSON)."""
    notebook = nbformat.reads(make_notebooks.notebook_path(TUTORIALS / f"plot_{name}.py").read_text(), as_version=4)
    probe = "import json\nprint('VALUES=' + json.dumps({%s}, default=float))" % ", ".join(
        f"{key!r}: {expression}" for key, expression in values.items()
    )
    notebook.cells.append(nbformat.v4.new_code_cell(probe))
    client = nbclient.NotebookClient(
        notebook, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()
    text = "".join(output.get("text", "") for output in notebook.cells[-1].outputs)
    return json.loads(text.split("VALUES=", 1)[1])


def test_simulated_flare_notebook(tmp_path):
    values = execute("simulated_flare", tmp_path, {"n_bins": "result.n_bins", "ok": "bool(result.success.all())"})
    assert values == {"n_bins": 120, "ok": True}
