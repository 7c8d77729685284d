"""Injection: the chi-square test of a constant index gives uniform p-values (its own module, so
that pytest-xdist can run it beside the pulls study of test_injection.py)."""

import astropy.units as u
from scipy import stats
from gammapy_trs import TimeResolvedSpectrumEstimator
from conftest import T0
from test_injection import BIN_WIDTH, flare_truth, simulate_flares


def test_variability_p_values_uniform_for_a_constant_index():
    """60 flares of 8 bins with a constant index: the index p-values are uniform."""
    n_flares, n_bins = 60, 8
    _, amplitude = flare_truth(n_bins)
    datasets, intervals = simulate_flares(n_flares, n_bins, 3.0, amplitude, seed=1000)
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1).run(datasets)

    duration = n_bins * BIN_WIDTH
    p_values = [
        result.slice_by_time(T0 + k * u.d, T0 + k * u.d + duration).variability("index")["p_value"]
        for k in range(n_flares)
    ]
    assert stats.kstest(p_values, "uniform").pvalue > 0.01
    # the flux does vary: its test must see it in every flare
    flux_p = result.slice_by_time(T0, T0 + duration).variability("amplitude")["p_value"]
    assert flux_p < 1e-6
