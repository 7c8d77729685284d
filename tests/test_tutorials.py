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
    namespace = runpy.run_path(str(TUTORIALS / "plot_pks2155_curvature.py"))
    assert namespace["shared"].shared_parameters["name"][0] == "beta"
    assert namespace["lrt_beta"]["p_value"] > 0.5
    assert namespace["lrt_alpha"]["significance"] > 3.5
