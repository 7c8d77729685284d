"""The tutorials execute (the PKS 2155-304 one needs $GAMMAPY_DATA)."""

import runpy
from pathlib import Path
import matplotlib
import matplotlib.pyplot as plt
import pytest
from gammapy.utils.testing import requires_data

TUTORIALS = Path(__file__).parent.parent / "tutorials"


@pytest.fixture(autouse=True)
def no_windows(monkeypatch, tmp_path):
    matplotlib.use("Agg")
    monkeypatch.setattr(plt, "show", lambda: plt.close("all"))
    monkeypatch.chdir(tmp_path)


@requires_data()
def test_pks2155_flare(tmp_path):
    namespace = runpy.run_path(str(TUTORIALS / "plot_pks2155_flare.py"))
    assert namespace["result"].n_bins == 24
    assert (tmp_path / "pks2155_time_resolved.fits").exists()
    assert namespace["correlation"]["pearson"] < -0.5


def test_simulated_flare():
    namespace = runpy.run_path(str(TUTORIALS / "plot_simulated_flare.py"))
    assert namespace["result"].n_bins == 120
    assert namespace["result"].success.all()


@requires_data()
def test_pks2155_curvature():
    """The numbers quoted in the tutorial and the statistics page (log-parabola, 1 TeV)."""
    from numpy.testing import assert_allclose

    namespace = runpy.run_path(str(TUTORIALS / "plot_pks2155_curvature.py"))
    table = namespace["shared"].shared_parameters
    assert table["name"][0] == "beta"
    # a direct joint fit of the 24 bins (73 parameters, 10 minutes) gives 0.4714 +- 0.0636
    assert_allclose(table["value"][0], 0.4714, atol=0.002)
    assert_allclose(table["error"][0], 0.0636, atol=0.001)
    lrt_beta, lrt_alpha = namespace["lrt_beta"], namespace["lrt_alpha"]
    assert lrt_beta["dof"] == 23 and lrt_alpha["dof"] == 23
    assert_allclose(lrt_beta["ts"], 17.93, atol=0.05)
    assert_allclose(lrt_alpha["ts"], 55.83, atol=0.1)
    assert_allclose(lrt_alpha["significance"], 3.79, atol=0.02)
    states = namespace["states"]
    assert_allclose(states.table["beta"], [0.402, 0.510, 0.367], atol=0.002)
    assert_allclose(states.table["beta_err"], [0.174, 0.120, 0.067], atol=0.002)
