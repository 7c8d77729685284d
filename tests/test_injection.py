"""Injection and recovery: are the per-bin values, errors and tests calibrated?

On-off spectra are simulated from analytic IRFs (no data files) for many
independent flares with a known light curve and a known index evolution
(harder when brighter), and fitted with the estimator.
"""

import numpy as np
import astropy.units as u
import pytest
from gammapy.datasets import Datasets
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, T0, make_intervals, power_law_model

N_FLARES, N_BINS = 25, 16  # 400 bins
BIN_WIDTH = 20 * u.min


def flare_truth(n_bins):
    """Gaussian flare in amplitude, index from 3.4 (faint) to 2.6 (peak)."""
    amplitude = 4e-11 + 1.6e-10 * np.exp(-0.5 * np.linspace(-2, 2, n_bins) ** 2)
    index = 3.4 - 0.8 * (amplitude - amplitude.min()) / np.ptp(amplitude)
    return index, amplitude


def simulate_flares(n_flares, n_bins, index, amplitude, seed):
    """One flare a day; returns datasets (with the fit model) and the intervals."""
    datasets, intervals = Datasets(), []
    truth = [
        PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT)
        for i, a in zip(np.broadcast_to(index, n_bins), amplitude)
    ]
    for k in range(n_flares):
        flare_intervals = make_intervals(n_bins, width=BIN_WIDTH, t0=T0 + k * u.d)
        datasets.extend(
            simulate_onoff_datasets(
                flare_intervals, truth, random_state=seed + k, name_prefix=f"flare{k}"
            )
        )
        intervals += flare_intervals
    datasets.models = power_law_model()
    return datasets, intervals


@pytest.fixture(scope="module")
def recovered():
    index, amplitude = flare_truth(N_BINS)
    datasets, intervals = simulate_flares(N_FLARES, N_BINS, index, amplitude, seed=100)
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals, selection_optional=["errn-errp"], n_jobs=1
    )
    result = estimator.run(datasets)
    truth = dict(index=np.tile(index, N_FLARES), amplitude=np.tile(amplitude, N_FLARES))
    return result, truth


@pytest.mark.parametrize("name", ["index", "amplitude"])
def test_pulls(recovered, name):
    result, truth = recovered
    assert result.n_bins == N_FLARES * N_BINS
    assert result.success.all()
    value = result[name].data.ravel()
    pull = (value - truth[name]) / result[f"{name}_err"].data.ravel()
    assert abs(pull.mean()) < 0.1
    assert 0.9 < pull.std(ddof=1) < 1.1


@pytest.mark.parametrize("name", ["index", "amplitude"])
def test_profile_interval_coverage(recovered, name):
    result, truth = recovered
    value = result[name].data.ravel()
    lower = value - result[f"{name}_errn"].data.ravel()
    upper = value + result[f"{name}_errp"].data.ravel()
    coverage = np.mean((truth[name] >= lower) & (truth[name] <= upper))
    assert abs(coverage - 0.6827) < 0.05
