"""The PKS 2155-304 flare of 2006-07-29 in the H.E.S.S. DL3 DR1: the reference set-up."""

import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.estimators import LightCurveEstimator
from gammapy.modeling import Fit
from gammapy.modeling.models import LogParabolaSpectralModel
from gammapy.utils.testing import requires_data
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
from gammapy_trs.samples.pks2155 import (
    reference_dataset,
    reference_intervals,
    reference_makers,
    reference_model,
    reference_observations,
)

pytestmark = requires_data()


@pytest.fixture(scope="module")
def pks2155_datasets():
    """The 34 on-off spectra of the reference workflow, by `TimeResolvedDatasetsMaker` (its
    products equal the workflow's slice-by-slice reduction: ``test_reduction.py``)."""
    return TimeResolvedDatasetsMaker(reference_makers(), reference_intervals()).run(
        reference_dataset(), reference_observations()
    )


@pytest.fixture(scope="module")
def pks2155_result(pks2155_datasets):
    pks2155_datasets.models = reference_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=reference_intervals(), source="pks2155"
    )
    return estimator.run(pks2155_datasets)


def test_reference_numbers(pks2155_datasets, pks2155_result):
    assert len(pks2155_datasets) == 34
    table = pks2155_result.to_table()
    assert len(table) == 24
    assert table["success"].all()
    assert table["time_min"][0].isot == "2006-07-29T20:30:00.000"
    assert table["time_max"][-1].isot == "2006-07-30T02:30:00.000"

    assert_allclose(table["index"][0], 4.009, atol=5e-4)
    assert_allclose(table["index_err"][0], 0.353, atol=5e-4)
    assert_allclose(table["amplitude"][0], 1.022e-10, rtol=1e-3)
    assert_allclose(table["amplitude_err"][0], 1.292e-11, rtol=1e-3)
    # HESSE at the minimum; the reference prints MIGRAD's estimate of the covariance, which
    # approximates it to a few 1e-3 where MIGRAD did not end with HESSE (this bin: 1.0e-3)
    assert_allclose(table["amplitude_err"][-1], 4.5792e-12, rtol=2e-3)
    assert_allclose(table["n_datasets"].sum(), 34)
    assert_allclose(table["stat"][0], 6.003, atol=1e-3)
    # with the analytic gradient, MIGRAD and HESSE evaluate the statistic fewer times than the
    # hand loop (76 evaluations there)
    assert table["nfev"][0] < 76

    model = pks2155_result.models[0]
    integral = model.spectral_model.integral(1 * u.TeV, 10 * u.TeV)
    assert_allclose(integral.to_value("cm-2 s-1"), 3.392e-11, rtol=1e-3)


def test_parity_with_direct_fit(pks2155_datasets, pks2155_result):
    """Every bin within 0.01 sigma of the hand loop of the reference workflow."""
    model = reference_model()
    max_pull = 0.0
    for row, (t_min, t_max) in zip(pks2155_result.to_table(), reference_intervals()):
        selected = pks2155_datasets.select_time(t_min, t_max)
        copies = Datasets([d.copy(name=d.name) for d in selected])
        copies.models = model.copy(name="pks2155")
        result = Fit().run(copies)
        assert result.success
        for name in ("index", "amplitude"):
            par = result.models.parameters[name]
            max_pull = max(max_pull, abs(row[name] - par.value) / par.error)
            # HESSE at the minimum against MIGRAD's estimate of the covariance
            assert_allclose(row[f"{name}_err"], par.error, rtol=1e-3)
    assert max_pull < 0.01


def test_amplitude_matches_lightcurve_estimator(pks2155_datasets):
    model = reference_model()
    model.spectral_model.index.value = 3.6
    model.spectral_model.index.frozen = True
    pks2155_datasets.models = model

    result = TimeResolvedSpectrumEstimator(time_intervals=reference_intervals()).run(
        pks2155_datasets
    )
    lightcurve = LightCurveEstimator(
        time_intervals=reference_intervals(), source="pks2155", energy_edges=[0.4, 20] * u.TeV
    ).run(pks2155_datasets)

    reference = model.spectral_model.amplitude.quantity
    assert_allclose(
        result.quantity("amplitude"), lightcurve.norm.data.ravel() * reference, rtol=1e-3
    )
    assert_allclose(
        result.quantity("amplitude_err"), lightcurve.norm_err.data.ravel() * reference, rtol=1e-3
    )


@pytest.fixture(scope="module")
def pks2155_all(pks2155_datasets):
    pks2155_datasets.models = reference_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=reference_intervals(),
        selection_optional="all",
        compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
    )
    return estimator.run(pks2155_datasets)


def test_reference_statistics(pks2155_all):
    """TS, fluxes, profile errors and the log-parabola test per bin."""
    result = pks2155_all
    assert_allclose(result.quantity("ts")[[0, 4]], [215.978, 3621.89], rtol=1e-3)
    assert_allclose(result.quantity("sqrt_ts").min(), 14.696, rtol=1e-3)
    assert not result.quantity("is_ul").any()
    # 1-10 TeV flux of the first bin: the reference's integral_error, linear propagation
    flux = result.quantity("flux").to_value("cm-2 s-1")
    flux_err = result.quantity("flux_err").to_value("cm-2 s-1")
    assert_allclose([flux[0], flux_err[0]], [3.39200e-11, 4.59498e-12], rtol=1e-4)
    assert_allclose(flux.max(), 8.66067e-11, rtol=1e-4)
    # faint first bin: the index likelihood is asymmetric
    assert_allclose(result.quantity("index_errn")[0], 0.32916, rtol=2e-3)
    assert_allclose(result.quantity("index_errp")[0], 0.38397, rtol=2e-3)
    # curvature is significant only around the peak of the flare
    sigma = result.quantity("compare_sigma")
    assert_allclose(sigma[4], 4.205, rtol=2e-3)
    assert np.sum(sigma > 3) == 3
    # every bin is a detection: its limit (Gammapy's convention: in every bin) at its own shape
    assert np.all(result.quantity("ul_shape") == "bin")
    assert np.all(result.quantity("amplitude_ul") > result.quantity("amplitude"))
    assert result.meta["ul_shape_source"] == "none"  # no bin needed the shape of all bins: not fitted
    assert np.all(result.quantity("quality") == 0)


def test_reference_variability_and_correlation(pks2155_all):
    index = pks2155_all.variability("index")
    assert_allclose([index["chi2"], index["p_value"]], [39.8414, 0.0160099], rtol=1e-3)
    assert index["dof"] == 23
    flux = pks2155_all.variability("flux")
    assert_allclose([flux["chi2"], flux["fvar"], flux["fvar_err"]], [491.26, 0.63514, 0.026879], rtol=1e-3)
    corr = pks2155_all.correlation("flux", "index")
    assert_allclose([corr["pearson"], corr["pearson_p_value"]], [-0.583009, 0.0027901], rtol=1e-3)
    assert_allclose([corr["spearman"], corr["spearman_p_value"]], [-0.64696, 6.3400e-4], rtol=1e-3)
    assert corr["loop_direction"] == "clockwise"

    lightcurve = pks2155_all.to_lightcurve()
    assert_allclose(lightcurve.flux.data.ravel(), pks2155_all.quantity("flux").value, rtol=1e-8)

