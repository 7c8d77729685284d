"""The notebook of the tutorial "Bayesian time-resolved spectroscopy of PKS 2155-304" (needs
$GAMMAPY_DATA and UltraNest): the numbers it shows, also quoted in the statistics page."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data
from test_tutorials import execute

pytest.importorskip("ultranest")


@requires_data()
def test_pks2155_bayesian_notebook(tmp_path):
    values = execute(
        "pks2155_bayesian",
        tmp_path,
        {
            "shift": "float(np.max(np.abs(shift)))",
            "widths": "[float(widths.min()), float(widths.max())]",
            "converged": "int(np.sum(table['sampler_converged']))",
            "population": "{k: population.summary[k] for k in ('mean', 'mean_lo', 'mean_hi', 'scatter', "
            "'scatter_lo', 'scatter_hi', 'scatter_ul', 'log_bayes_factor_scatter')}",
            "shrunk": "list(population.to_table()['index_shrunk'])",
            "medians": "list(population.to_table()['index_median'])",
            "shared": "[float(shared['value'][0]), float(shared['error'][0])]",
            "variability": "[variable['ts'], variable['significance']]",
            "log_bayes_factor": "list(log_bayes_factor)",
            "ts": "list(ts)",
            "n_samples": "len(samples)",
        },
    )
    # bright bins, flat priors: the posterior close to the profile likelihood
    assert values["converged"] == 24 and values["n_samples"] == 1000
    assert values["shift"] < 0.25
    assert 0.85 < values["widths"][0] and values["widths"][1] < 1.15
    # the population of the index, its scatter, and the shared fit and the variability test
    population = values["population"]
    assert_allclose(population["mean"], 3.636, atol=0.01)
    assert_allclose([population["scatter"], population["scatter_ul"]], [0.111, 0.199], atol=0.015)
    assert population["scatter_lo"] > 0.03
    assert_allclose(population["log_bayes_factor_scatter"], -0.40, atol=0.3)
    assert_allclose(values["shared"], [3.633, 0.027], atol=2e-3)
    assert_allclose(values["variability"], [42.195, 2.63], atol=0.01)
    # shrinkage: every bin's index moves towards the population mean (a bin at the mean may end
    # on its other side: its posterior mean is not its median), the spread of the bins shrinks
    medians, shrunk = np.array(values["medians"]), np.array(values["shrunk"])
    assert np.all(np.abs(shrunk - population["mean"]) < np.abs(medians - population["mean"]) + 0.01)
    assert np.std(shrunk) < 0.6 * np.std(medians)
    # the log-parabola: favoured where its TS is large, not where it is zero
    log_bf, ts = np.array(values["log_bayes_factor"]), np.array(values["ts"])
    assert np.all(log_bf[ts > 5] > 2) and np.all(log_bf[ts < 0.5] < 0)
    assert_allclose(log_bf[3], 7.44, atol=0.8)  # the night's bin 4
