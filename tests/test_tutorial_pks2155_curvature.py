"""The notebook of the tutorial "Is the curvature of PKS 2155-304 variable?" (needs $GAMMAPY_DATA):
the numbers it quotes, also quoted in the statistics page."""

from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data
from test_tutorials import execute


@requires_data()
def test_pks2155_curvature_notebook(tmp_path):
    """The numbers quoted in the tutorial and the statistics page (log-parabola, 1 TeV)."""
    values = execute(
        "pks2155_curvature",
        tmp_path,
        {
            "shared": "[shared.shared_parameters['name'][0], float(shared.shared_parameters['value'][0]), "
            "float(shared.shared_parameters['error'][0])]",
            "stacked": "[float(shared.shared_parameters[c][0]) for c in ('value_stacked', 'error_stacked')]",
            "lrt_beta": "[lrt_beta['dof'], lrt_beta['ts']]",
            "lrt_alpha": "[lrt_alpha['dof'], lrt_alpha['ts'], lrt_alpha['significance']]",
            "states": "[list(states.table['beta']), list(states.table['beta_err'])]",
            "blocks": "[list(blocks.table['bins']), list(blocks.table['beta']), list(blocks.table['beta_err'])]",
        },
    )
    name, value, error = values["shared"]
    assert name == "beta"
    # a direct joint fit of the 24 bins (73 parameters, 10 minutes) gives 0.4714 +- 0.0636
    assert_allclose(value, 0.4714, atol=0.002)
    assert_allclose(error, 0.0636, atol=0.001)
    # the 24 bins stacked, one log-parabola fitted
    assert_allclose(values["stacked"][0], 0.4375, atol=0.002)
    assert_allclose(values["stacked"][1], 0.0554, atol=0.001)
    assert values["lrt_beta"][0] == 23 and values["lrt_alpha"][0] == 23
    assert_allclose(values["lrt_beta"][1], 17.93, atol=0.05)
    assert_allclose(values["lrt_alpha"][1], 55.83, atol=0.1)
    assert_allclose(values["lrt_alpha"][2], 3.79, atol=0.02)
    beta, beta_err = values["states"]
    assert_allclose(beta, [0.402, 0.510, 0.367], atol=0.002)
    assert_allclose(beta_err, [0.174, 0.120, 0.067], atol=0.002)
    bins, beta, beta_err = values["blocks"]
    assert bins == ["11,12,13,14,15,16,17,18,19,20,21,22,23", "0,1", "7,8,9,10", "2,3,4,5,6"]
    assert_allclose(beta, [0.427, -0.057, 0.289, 0.350], atol=0.002)
    assert_allclose(beta_err, [0.119, 0.233, 0.104, 0.075], atol=0.002)
