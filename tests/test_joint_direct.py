"""Several shared parameters: the profile fit equals Gammapy's direct joint fit with the parameters
linked, on simulated flares and on real data (H.E.S.S. and MAGIC Crab runs cut into bins).

The direct fits find their minimum on the compiled engine's `FastFit` (the same statistic as
Gammapy's `Fit`, fifty times faster); that of three strongly correlated parameters takes its
covariance from Gammapy's `Fit`. The full study, every direct fit on Gammapy's `Fit`, is
``benchmarks/joint_direct.py``, quoted in the statistics docs.
"""

import logging
import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.datasets import SpectrumDataset
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel, LogParabolaSpectralModel, SkyModel
from gammapy.utils.testing import requires_data
from regions import PointSkyRegion
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
from gammapy_trs.binning import fixed_width_intervals
from gammapy_trs.engine.fast_fit import FastFit
from gammapy_trs.samples.joint import direct_joint_fit
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, make_intervals

CRAB = SkyCoord(83.633, 22.014, unit="deg")


def log_parabola():
    return SkyModel(
        spectral_model=LogParabolaSpectralModel(alpha=2.5, beta=0.1, amplitude=3e-11 * AMPLITUDE_UNIT), name="crab"
    )


def cutoff(alpha_free=False):
    spectral = ExpCutoffPowerLawSpectralModel(index=2.2, lambda_="0.2 TeV-1", amplitude=1e-10 * AMPLITUDE_UNIT)
    spectral.alpha.frozen = not alpha_free
    spectral.alpha.min, spectral.alpha.max = 0.2, 5
    return SkyModel(spectral_model=spectral, name="crab")


def assert_equals_the_direct_fit(datasets, intervals, model, shared, value_sigma=0.05, error_rtol=0.05, fit=None, start_fit=None):
    direct = direct_joint_fit(datasets, intervals, model, shared, fit=FastFit() if fit is None else fit, start_fit=start_fit)
    assert direct["success"]
    datasets.models = model.copy(name=model.name)
    logging.disable(logging.WARNING)
    try:
        result = TimeResolvedSpectrumEstimator(time_intervals=intervals, shared_parameters=shared).run(datasets)
    finally:
        logging.disable(logging.NOTSET)
    table = result.shared_parameters
    assert result.meta["shared_success"]
    for row in table:
        value, error = direct["values"][row["name"]], direct["errors"][row["name"]]
        assert abs(row["value"] - value) < value_sigma * error, (row["name"], row["value"], value, error)
        assert abs(row["error"] / error - 1) < error_rtol, (row["name"], row["error"], error)
    assert result.meta["stat_joint"] < direct["stat"] + 0.01
    return result, direct


def test_two_shared_parameters_on_a_simulated_flare():
    truth = [LogParabolaSpectralModel(alpha=2.3, beta=0.2, amplitude=a * AMPLITUDE_UNIT) for a in (5e-11, 1e-10, 2e-10, 1e-10, 5e-11, 3e-11)]
    intervals = make_intervals(6)
    datasets = simulate_onoff_datasets(intervals, truth, random_state=21)
    assert_equals_the_direct_fit(datasets, intervals, log_parabola(), ["alpha", "beta"])


def test_three_shared_parameters_on_a_simulated_flare():
    """Index, cut-off and its exponent of a bright flare (correlations of 0.96 to 0.99): the
    direct fit's minimum found by the compiled engine, its covariance Gammapy's."""
    from gammapy.modeling import Fit

    truth = [
        ExpCutoffPowerLawSpectralModel(index=2.0, lambda_="0.5 TeV-1", amplitude=a * AMPLITUDE_UNIT)
        for a in (1e-8, 2e-8, 4e-8, 3e-8, 2e-8, 1e-8)
    ]
    intervals = make_intervals(6)
    datasets = simulate_onoff_datasets(intervals, truth, random_state=22)
    model = cutoff(alpha_free=True)
    model.spectral_model.alpha.value, model.spectral_model.lambda_.value = 1.2, 0.4
    assert_equals_the_direct_fit(
        datasets, intervals, model, ["index", "lambda_", "alpha"], fit=Fit(), start_fit=FastFit()
    )


# Gammapy's direct joint fit of the flare below (benchmarks/joint_direct.py, seed 12): value, error
DIRECT_SEED_12 = dict(
    index=(1.9824208186677632, 0.05690424143215515),
    lambda_=(0.5044943856986793, 0.0702324316332984),
    alpha=(1.0050415755130075, 0.07223870683326097),
)
DIRECT_SEED_12_STAT = 48.47045916969892


def test_a_shared_fit_stuck_at_the_stacked_values_starts_again_from_the_model():
    """The bins stacked fit a cut-off at zero (lambda_ 9e-16 +- 7e-18, a degenerate corner): the
    shared fit from there does not converge; from the model's own start values
    it finds the direct fit's minimum."""
    rng = np.random.RandomState(12)
    amplitudes = 10 ** rng.uniform(-8.3, -7.7, 6)
    truth = [
        ExpCutoffPowerLawSpectralModel(index=2.0, lambda_="0.5 TeV-1", amplitude=a * AMPLITUDE_UNIT) for a in amplitudes
    ]
    intervals = make_intervals(6)
    datasets = simulate_onoff_datasets(intervals, truth, random_state=12)
    model = cutoff(alpha_free=True)
    model.spectral_model.alpha.value, model.spectral_model.lambda_.value = 1.2, 0.4
    model.spectral_model.amplitude.value = 3e-11
    datasets.models = model
    logging.disable(logging.WARNING)
    try:
        result = TimeResolvedSpectrumEstimator(
            time_intervals=intervals, shared_parameters=["index", "lambda_", "alpha"]
        ).run(datasets)
    finally:
        logging.disable(logging.NOTSET)
    table = result.shared_parameters
    assert table["value_stacked"][1] < 1e-10  # the stacked fit's corner
    assert result.meta["shared_success"]
    for row in table:
        value, error = DIRECT_SEED_12[row["name"]]
        assert abs(row["value"] - value) < 0.05 * error, row["name"]
        assert abs(row["error"] / error - 1) < 0.05, row["name"]
    assert result.meta["stat_joint"] < DIRECT_SEED_12_STAT + 0.01


@requires_data()
def test_shared_parameters_on_the_hess_crab_runs():
    """The four H.E.S.S. DR1 Crab runs cut into twelve bins."""
    from gammapy.data import DataStore
    from gammapy_trs.samples.spectrum_setup import empty_spectrum_dataset, on_region, reflected_region_makers

    observations = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1").get_observations([23523, 23526, 23559, 23592])
    intervals = [
        interval
        for obs in observations
        for interval in fixed_width_intervals(obs.gti.time_start[0], obs.gti.time_stop[-1], 9.4 * u.min)
    ]
    empty = empty_spectrum_dataset(
        on_region(CRAB, "0.11 deg"),
        MapAxis.from_energy_bounds("0.5 TeV", "40 TeV", nbin=12),
        MapAxis.from_energy_bounds("0.2 TeV", "100 TeV", nbin=30, name="energy_true"),
    )
    makers = reflected_region_makers(containment_correction=True, aeff_percent=10)
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    assert len(datasets) == 12
    assert_equals_the_direct_fit(datasets, intervals, log_parabola(), ["alpha", "beta"])
    assert_equals_the_direct_fit(datasets, intervals, cutoff(), ["index", "lambda_"])
    # one spectrum for the whole period: all three shared, a fit of all datasets
    assert_equals_the_direct_fit(datasets, intervals, log_parabola(), ["alpha", "beta", "amplitude"])


@requires_data()
def test_shared_parameters_on_the_magic_crab_runs():
    from gammapy.data import DataStore
    from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker, WobbleRegionsFinder

    observations = DataStore.from_dir("$GAMMAPY_DATA/magic/rad_max/data").get_observations(required_irf="point-like")
    intervals = [
        interval
        for obs in observations
        for interval in fixed_width_intervals(obs.gti.time_start[0], obs.gti.time_stop[-1], 5 * u.min)
    ]
    geom = RegionGeom.create(region=PointSkyRegion(CRAB), axes=[MapAxis.from_energy_bounds("0.08 TeV", "20 TeV", nbin=10)])
    empty = SpectrumDataset.create(
        geom=geom, energy_axis_true=MapAxis.from_energy_bounds("0.05 TeV", "30 TeV", nbin=20, name="energy_true")
    )
    makers = [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(region_finder=WobbleRegionsFinder(n_off_regions=3)),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    assert len(datasets) >= 6
    model = log_parabola()
    model.spectral_model.reference.quantity = 0.4 * u.TeV
    result, _ = assert_equals_the_direct_fit(datasets, intervals, model, ["alpha", "beta"])
    assert np.all(result.success)
