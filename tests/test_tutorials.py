"""The tutorials' notebooks are up to date with their sources, and execute in a Jupyter kernel
(those on PKS 2155-304 need $GAMMAPY_DATA); the numbers they quote are checked."""

import json
import sys
import numpy as np
from pathlib import Path
import pytest
from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data

TUTORIALS = Path(__file__).parent.parent / "tutorials"
sys.path.insert(0, str(TUTORIALS))
import make_notebooks  # noqa: E402 -- from the tutorials folder

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")


def test_notebooks_are_generated_from_the_tutorials():
    scripts = sorted(TUTORIALS.glob("plot_*.py"))
    assert len(scripts) == 3
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


SED_PULLS = (
    "[float(p) for idx, m in enumerate(result.models) for p in "
    "((sed.dnde.quantity[idx, :, 0, 0] - m.spectral_model(sed.geom.axes['energy'].center))"
    " / sed.dnde_err.quantity[idx, :, 0, 0])[~sed.is_ul.data[idx, :, 0, 0]].to_value('')]"
)


@requires_data()
def test_pks2155_flare_notebook(tmp_path):
    values = execute(
        "pks2155_flare",
        tmp_path,
        {
            "n_bins": "result.n_bins",
            "pearson": "correlation['pearson']",
            "sed": "sed.geom.data_shape",
            "edges": "list(sed.geom.axes['energy'].edges.to_value('TeV'))",
            "first": "sed.dnde.quantity[0, 0, 0, 0].to_value('cm-2 s-1 TeV-1')",
            "pulls": SED_PULLS,
            "lightcurve": "lightcurve.geom.axes['time'].nbin",
        },
    )
    assert values["n_bins"] == 24
    assert values["pearson"] < -0.5
    assert (tmp_path / "pks2155_time_resolved.fits").exists()
    assert values["lightcurve"] == 24
    # Four energy bins per 15-minute bin (the edges snap to those of the datasets), and each bin's
    # power law within its flux points' errors: 62 points, 34 upper limits at the highest energies
    assert values["sed"] == [24, 4, 1, 1]
    assert_allclose(values["edges"], [0.5915, 1.2935, 2.8284, 6.1850, 20], rtol=1e-4)
    assert_allclose(values["first"], 1.6628e-10, rtol=1e-3)
    pulls = np.array(values["pulls"])
    assert len(pulls) == 62
    assert np.all(np.abs(pulls) < 3)
    assert_allclose(np.mean(np.abs(pulls) < 1), 0.742, atol=0.01)  # nominal 0.68
    assert_allclose([np.mean(pulls), np.std(pulls)], [0.148, 0.924], atol=0.01)


@requires_data()
def test_pks2155_curvature_notebook(tmp_path):
    """The numbers quoted in the tutorial and the statistics page (log-parabola, 1 TeV)."""
    values = execute(
        "pks2155_curvature",
        tmp_path,
        {
            "shared": "[shared.shared_parameters['name'][0], float(shared.shared_parameters['value'][0]), "
            "float(shared.shared_parameters['error'][0])]",
            "lrt_beta": "[lrt_beta['dof'], lrt_beta['ts']]",
            "lrt_alpha": "[lrt_alpha['dof'], lrt_alpha['ts'], lrt_alpha['significance']]",
            "states": "[list(states.table['beta']), list(states.table['beta_err'])]",
        },
    )
    name, value, error = values["shared"]
    assert name == "beta"
    # a direct joint fit of the 24 bins (73 parameters, 10 minutes) gives 0.4714 +- 0.0636
    assert_allclose(value, 0.4714, atol=0.002)
    assert_allclose(error, 0.0636, atol=0.001)
    assert values["lrt_beta"][0] == 23 and values["lrt_alpha"][0] == 23
    assert_allclose(values["lrt_beta"][1], 17.93, atol=0.05)
    assert_allclose(values["lrt_alpha"][1], 55.83, atol=0.1)
    assert_allclose(values["lrt_alpha"][2], 3.79, atol=0.02)
    beta, beta_err = values["states"]
    assert_allclose(beta, [0.402, 0.510, 0.367], atol=0.002)
    assert_allclose(beta_err, [0.174, 0.120, 0.067], atol=0.002)
