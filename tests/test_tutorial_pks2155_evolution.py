"""The notebook of the tutorial "When did the spectrum of PKS 2155-304 change?" (needs $GAMMAPY_DATA):
the numbers it quotes, also quoted in the statistics page."""

from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data
from test_tutorials import execute


def _law(name):
    return (
        f"[list({name}.coefficients['value']), list({name}.coefficients['error']), "
        f"{name}.meta['TS_SHARED'], {name}.meta['SIG_SHARED'], {name}.meta['TS_FREE'], {name}.meta['P_FREE']]"
    )


@requires_data()
def test_pks2155_evolution_notebook(tmp_path):
    values = execute(
        "pks2155_evolution",
        tmp_path,
        {
            "chi2": "[chi2_index['chi2'], chi2_index['p_value']]",
            "correlation": "[correlation['pearson_p_value'], correlation['spearman_p_value']]",
            "variable": "variable['ts']",
            "law": _law("law"),
            "drift": _law("drift"),
            "beta_law": _law("beta_law"),
            "changes": "blocks.change_points",
            "index_blocks": "[list(blocks.table['index']), list(blocks.table['index_err'])]",
            "beta_blocks": "[len(beta_blocks), float(beta_blocks.table['beta'][0]), float(beta_blocks.table['beta_err'][0])]",
        },
    )
    # harder when brighter: index = a + b log10(N / N0), b at 3.2 sigma from zero
    (a, b), (a_err, b_err), ts, sigma, ts_free, p_free = values["law"]
    assert_allclose([a, b], [3.683, -0.351], atol=2e-3)
    assert_allclose([a_err, b_err], [0.0294, 0.1002], rtol=0.01)
    assert_allclose([ts, sigma], [10.49, 3.24], atol=0.02)
    assert_allclose([ts_free, p_free], [31.70, 0.083], atol=0.02)
    # the law's two tests add up to the variability test of the index (shared against free)
    assert_allclose(ts + ts_free, values["variable"], atol=2e-3)
    assert_allclose(values["variable"], 42.195, atol=0.01)
    # a drift in time explains less: 2.2 sigma
    (_, drift), (_, drift_err), ts, sigma, _, _ = values["drift"]
    assert_allclose([drift, drift_err, sigma], [0.0397, 0.0185, 2.17], atol=2e-3)
    # the curvature: one block for the night, and no law of the flux (b within 0.5 sigma of zero)
    (_, b), (_, b_err), ts, sigma, ts_free, _ = values["beta_law"]
    assert_allclose([b, b_err, ts], [0.111, 0.229, 0.21], atol=0.01)
    assert values["beta_blocks"][0] == 1
    assert_allclose(values["beta_blocks"][1:], [0.4713, 0.0627], atol=2e-3)
    # the index in two blocks, softer from the 12th bin on
    assert values["changes"] == [11]
    assert_allclose(values["index_blocks"][0], [3.575, 3.764], atol=2e-3)
    # the per-bin tests
    assert_allclose(values["chi2"][0], 39.8, atol=0.05)
    assert_allclose(values["chi2"][1], 0.0161, atol=5e-4)
    assert_allclose(values["correlation"], [0.0028, 0.00053], rtol=0.05)
