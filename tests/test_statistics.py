"""Variability, correlation and light-curve conversion on the container."""

import numpy as np
import astropy.units as u
import pytest
from scipy import stats
from astropy.table import Table
from numpy.testing import assert_allclose
from gammapy.estimators import FluxPoints
from gammapy.estimators.utils import compute_lightcurve_fvar
from gammapy.stats.utils import ts_to_sigma
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.engine.fluxes import integral_fluxes
from gammapy_trs.utils.significance import chi2_p_value, chi2_significance
from conftest import T0, make_intervals, power_law_model


@pytest.fixture(scope="module")
def result(flare_datasets_session, flare_intervals):
    from gammapy.datasets import Datasets

    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])
    datasets.models = power_law_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals, selection_optional=["flux"]
    )
    return estimator.run(datasets)


def synthetic(x, y, x_err=0.1, y_err=0.1, success=None, is_ul=None):
    """A container with two quantities, built from a table."""
    n = len(x)
    edges = T0 + np.arange(n + 1) * u.h
    table = Table(meta={"PARNAMES": "x,y", "SOURCE": "source"})
    table["time_min"] = edges[:-1]
    table["time_max"] = edges[1:]
    table["success"] = np.ones(n, bool) if success is None else np.array(success)
    table["x"], table["x_err"] = x, np.full(n, x_err)
    table["y"], table["y_err"] = y, np.full(n, y_err)
    if is_ul is not None:
        table["is_ul"] = np.array(is_ul)
    return TimeResolvedSpectrum.from_table(table, models=[power_law_model()] * n)


def test_variability_of_the_index(result):
    var = result.variability("index")
    assert_allclose(var["chi2"], 53.84808, rtol=1e-4)
    assert var["dof"] == 5
    assert_allclose(var["p_value"], 2.252039e-10, rtol=1e-3)
    assert_allclose(var["significance"], 6.343089, rtol=1e-4)
    assert_allclose(var["mean"].value, 2.876206, rtol=1e-5)
    assert np.isnan(var["fvar"])
    assert (var["n_bins"], var["n_excluded"]) == (6, 0)


def test_variability_of_fluxes(result):
    flux = result.variability("flux")
    assert_allclose(flux["chi2"], 318.3954, rtol=1e-4)
    assert_allclose([flux["fvar"], flux["fvar_err"]], [0.823694, 0.03844633], rtol=1e-4)
    assert flux["mean"].unit == u.Unit("cm-2 s-1")
    amplitude = result.variability("amplitude")
    assert_allclose(amplitude["fvar"], 0.6679242, rtol=1e-4)


def test_variability_constant_is_not_significant():
    spectrum = synthetic(x=[1.0, 1.1, 0.9, 1.05, 0.95], y=np.zeros(5))
    var = spectrum.variability("x")
    assert_allclose(var["chi2"], 2.5)
    assert_allclose(var["p_value"], stats.chi2.sf(2.5, 4), rtol=1e-12)
    assert_allclose(var["mean"].value, 1.0)
    assert_allclose(var["mean_err"].value, 0.1 / np.sqrt(5))


def test_failed_and_upper_limit_bins_are_left_out():
    x = [1.0, 5.0, 1.1, 0.9, 9.0]
    spectrum = synthetic(x, np.zeros(5), success=[True, False, True, True, True],
                         is_ul=[False, False, False, False, True])
    var = spectrum.variability("x")
    assert (var["n_bins"], var["n_excluded"]) == (3, 2)
    assert_allclose(var["mean"].value, 1.0)
    with_ul = spectrum.variability("x", exclude_ul=False)
    assert (with_ul["n_bins"], with_ul["n_excluded"]) == (4, 1)


def test_variability_needs_two_bins_and_errors(result):
    spectrum = synthetic([1.0, 2.0], [0.0, 0.0], success=[True, False])
    with pytest.raises(ValueError, match="needs at least 2 usable bins, got 1"):
        spectrum.variability("x")
    with pytest.raises(ValueError, match="'nfev' has no error"):
        result.variability("nfev")


def test_correlation_harder_when_brighter(result):
    corr = result.correlation("flux", "index")
    assert_allclose(corr["pearson"], -0.9264401, rtol=1e-5)
    assert_allclose(corr["pearson_p_value"], 0.007917576, rtol=1e-4)
    assert_allclose(corr["spearman"], -1.0)
    assert corr["n_bins"] == 6


@pytest.mark.parametrize(("sense", "direction"), [(1, "counter-clockwise"), (-1, "clockwise")])
def test_loop_direction(sense, direction):
    phase = np.linspace(0, 2 * np.pi, 12, endpoint=False)
    spectrum = synthetic(np.cos(phase), sense * np.sin(phase), x_err=0.05, y_err=0.05)
    corr = spectrum.correlation("x", "y")
    assert corr["loop_direction"] == direction
    assert_allclose(corr["loop_area"], sense * 6.0, rtol=1e-6)  # 12-gon in standardised units
    assert abs(corr["pearson"]) < 1e-10


def test_correlation_of_a_line_is_one():
    x = np.arange(6.0)
    corr = synthetic(x, 2 * x + 1).correlation("x", "y")
    assert_allclose([corr["pearson"], corr["spearman"]], [1, 1])
    assert corr["pearson_p_value"] < 1e-100


def test_correlation_needs_three_bins():
    with pytest.raises(ValueError, match="needs at least 3 usable bins, got 2"):
        synthetic([1.0, 2.0], [1.0, 2.0]).correlation("x", "y")


def test_chi2_significance():
    assert_allclose(chi2_significance(9.0, 1), 3.0)
    assert_allclose(chi2_significance(20.0, 3), ts_to_sigma(20.0, df=3))
    assert_allclose(chi2_significance(1e4, 1), 100.0)
    assert chi2_significance(-1.0, 1) == 0


@pytest.mark.parametrize("dof", [1, 2, 5, 24])
def test_chi2_significance_and_p_value_are_gammapy_and_scipy_numbers(dof):
    """Bit for bit: Gammapy's ts_to_sigma (scipy's non-central chi-square, zero non-centrality)
    and scipy.stats.chi2.sf, from 0 to where the p-value underflows."""
    from scipy.stats import chi2

    for value in np.concatenate([[0.0, 1e-8], np.geomspace(1e-3, 1400, 200)]):
        assert chi2_p_value(value, dof) == chi2.sf(value, dof)
        expected = ts_to_sigma(value, df=dof)
        if np.isfinite(expected):
            assert chi2_significance(value, dof) == expected, value
    assert chi2_p_value(-3.0, dof) == 1.0


def test_chi2_p_value_without_degrees_of_freedom_is_nan():
    from scipy.stats import chi2

    assert np.isnan(chi2_p_value(1.0, 0)) and np.isnan(chi2.sf(1.0, 0))
    assert chi2_significance(4.0, 0) == 2.0  # the underflow fallback, as with ts_to_sigma


def test_to_lightcurve(result):
    lightcurve = result.to_lightcurve()
    assert isinstance(lightcurve, FluxPoints)
    table = lightcurve.to_table(format="lightcurve", sed_type="flux")
    assert len(table) == 6
    assert_allclose(table["e_min"], 1) and assert_allclose(table["e_max"], 10)
    flux = result.quantity("flux").to_value("cm-2 s-1")
    assert_allclose(table["flux"][:, 0], flux, rtol=1e-10)
    # the flux step differentiates the integral analytically, the light curve by central differences
    assert_allclose(table["flux_err"][:, 0], result.quantity("flux_err").to_value("cm-2 s-1"), rtol=1e-6)
    assert_allclose(table["time_min"], result.time_axis.time_min.mjd, rtol=0, atol=1e-9)

    fvar = compute_lightcurve_fvar(lightcurve)
    assert_allclose(fvar["fvar"], result.variability("flux")["fvar"], rtol=1e-6)
    with mpl_plot_check():
        lightcurve.plot(sed_type="flux")


def test_to_lightcurve_other_band(result):
    lightcurve = result.to_lightcurve(energy_min=0.5 * u.TeV, energy_max=5 * u.TeV)
    expected = integral_fluxes(result.models[2].spectral_model, 0.5 * u.TeV, 5 * u.TeV)
    flux = lightcurve.flux.data.ravel()[2] * u.Unit("cm-2 s-1")
    assert_allclose(flux, expected["flux"], rtol=1e-8)


def test_to_lightcurve_with_upper_limits(tmp_path):
    from gammapy.modeling.models import PowerLawSpectralModel
    from gammapy_trs.samples.simulate import simulate_onoff_datasets

    truth = [PowerLawSpectralModel(index=2.8, amplitude=f"{a} cm-2 s-1 TeV-1") for a in (1e-10, 1e-13)]
    datasets = simulate_onoff_datasets(make_intervals(2), truth, random_state=4)
    datasets.models = power_law_model()
    spectrum = TimeResolvedSpectrumEstimator(selection_optional=["ts", "ul", "flux"]).run(datasets)
    assert list(spectrum.quantity("is_ul")) == [False, True]

    lightcurve = spectrum.to_lightcurve()
    table = lightcurve.to_table(format="lightcurve", sed_type="flux")
    assert list(table["is_ul"].data.ravel()) == [False, True]
    assert_allclose(
        table["flux_ul"][1, 0], spectrum.quantity("flux_ul")[1].to_value("cm-2 s-1"), rtol=1e-8
    )
    lightcurve.write(tmp_path / "lc.fits", format="lightcurve", sed_type="flux")
    read = FluxPoints.read(tmp_path / "lc.fits", format="lightcurve")
    assert_allclose(read.flux.data.ravel()[0], table["flux"][0, 0], rtol=1e-6)
    with mpl_plot_check():
        lightcurve.plot(sed_type="flux")
