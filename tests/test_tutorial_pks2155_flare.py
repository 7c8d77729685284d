"""The notebook of the PKS 2155-304 flare tutorial (needs $GAMMAPY_DATA): its numbers and flux points."""

import numpy as np
from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data
from test_tutorials import execute


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
            "changes": "blocks.change_points",
            "change_time": "blocks.change_times[0].isot",
            "blocks": "[list(blocks.table[name]) for name in ('index', 'index_err', 'ts_change')]",
        },
    )
    assert values["n_bins"] == 24
    assert values["pearson"] < -0.5
    assert (tmp_path / "pks2155_time_resolved.fits").exists()
    assert values["lightcurve"] == 24
    # the index of the night in two blocks: softer from 23:15 UTC on (the 12th bin), a local 3.1 sigma
    assert values["changes"] == [11] and values["change_time"].startswith("2006-07-29T23:15:00")
    index, index_err, ts = values["blocks"]
    assert_allclose(index, [3.575, 3.764], atol=2e-3)
    assert_allclose(index_err, [0.0325, 0.0513], rtol=0.01)
    assert_allclose(ts[1], 9.89, atol=0.02)
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
