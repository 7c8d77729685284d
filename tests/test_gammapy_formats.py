"""What a Gammapy user gets: per-bin flux points (the "sed" step), Gammapy light-curve files,
finished plots, and no numerical warnings on valid input."""

import warnings
import numpy as np
import astropy.units as u
import matplotlib.pyplot as plt
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from click.testing import CliRunner
from gammapy.datasets import Datasets
from gammapy.estimators import FluxPoints, FluxPointsEstimator
from gammapy.modeling.models import LogParabolaSpectralModel
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.app.cli import cli
from gammapy_trs.app.report import summary_table, value_with_error
from conftest import power_law_model

EDGES = [0.5, 1, 2, 5, 10] * u.TeV


@pytest.fixture(scope="module")
def sed_result(flare_datasets_session, flare_intervals):
    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])
    datasets.models = power_law_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals,
        selection_optional="all",
        sed_energy_edges=EDGES,
        compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # none may reach the user on valid input
        return estimator.run(datasets), datasets


def test_sed_step_gives_gammapy_flux_points_per_bin(sed_result):
    result, datasets = sed_result
    sed = result.to_sed()
    assert isinstance(sed, FluxPoints)
    assert sed.geom.axes.names == ["energy", "time"]
    assert sed.geom.data_shape == (6, 4, 1, 1)
    assert result.meta["sed_energy_edges"].endswith("TeV")
    # the points of a bin are those of Gammapy's FluxPointsEstimator on the bin with its fitted model
    bin_datasets = Datasets([datasets[2].copy(name="b2")])
    bin_datasets.models = [result.models[2].copy(name="source")]
    direct = FluxPointsEstimator(energy_edges=EDGES, source="source", selection_optional=["ul"]).run(bin_datasets)
    assert_allclose(sed.dnde.data[2, :, 0, 0], direct.dnde.data[:, 0, 0], rtol=1e-4)
    assert_allclose(sed.dnde_err.data[2, :, 0, 0], direct.dnde_err.data[:, 0, 0], rtol=1e-3)
    assert_allclose(sed.ts.data[2, :, 0, 0], direct.ts.data[:, 0, 0], rtol=1e-3)


def test_sed_agrees_with_each_bins_model(sed_result):
    result, _ = sed_result
    sed = result.to_sed()
    e_ref = sed.geom.axes["energy"].center
    pulls = []
    for idx, model in enumerate(result.models):
        points = sed.dnde.quantity[idx, :, 0, 0]
        errors = sed.dnde_err.quantity[idx, :, 0, 0]
        ok = ~sed.is_ul.data[idx, :, 0, 0]
        pulls.extend(((points - model.spectral_model(e_ref)) / errors)[ok].to_value(""))
    pulls = np.array(pulls)
    assert len(pulls) >= 20
    assert np.all(np.abs(pulls) < 3)
    assert 0.5 < np.mean(np.abs(pulls) < 1) <= 1


def test_sed_is_written_and_read_by_every_format(sed_result, tmp_path):
    result, _ = sed_result
    for name in ("r.fits", "r.ecsv", "r.fits.gz"):
        result.write(tmp_path / name)
        read = TimeResolvedSpectrum.read(tmp_path / name)
        assert_allclose(read.to_sed().dnde.data, result.to_sed().dnde.data)
        assert_array_equal(read.to_sed().is_ul.data, result.to_sed().is_ul.data)
    sliced = result.slice_by_idx(slice(1, 3))
    assert sliced.to_sed().geom.data_shape == (2, 4, 1, 1)


def test_sed_needs_energy_edges(flare_intervals):
    with pytest.raises(ValueError, match='"sed" needs sed_energy_edges'):
        TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional=["sed"])
    # "all" without edges runs every other step
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional="all")
    assert "sed" in estimator.selection_optional


def test_no_sed_without_the_step(flare_datasets, flare_intervals):
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:2]).run(flare_datasets)
    assert result.products == {}
    with pytest.raises(ValueError, match='selection_optional "sed"'):
        result.to_sed()


def test_lightcurve_format_is_read_by_gammapy(sed_result, tmp_path):
    result, _ = sed_result
    path = tmp_path / "lightcurve.fits"
    result.write(path, format="lightcurve")
    lightcurve = FluxPoints.read(path, format="lightcurve")
    assert lightcurve.geom.axes.names == ["energy", "time"]
    for name in ("stat", "counts", "npred", "ts", "sqrt_ts", "is_ul", "success"):
        assert name in lightcurve.available_quantities
    assert_allclose(lightcurve.flux.quantity[:, 0, 0, 0], result.quantity("flux"), rtol=1e-6)
    assert_allclose(lightcurve.counts.data.ravel(), result.quantity("counts"))
    assert_allclose(lightcurve.stat.data.ravel(), result.quantity("stat"))
    # the same file is still a result, with its flux points
    read = TimeResolvedSpectrum.read(path)
    assert_allclose(read.quantity("index"), result.quantity("index"))
    assert read.to_sed().geom.data_shape == (6, 4, 1, 1)


def test_plot_spectra_and_summary(sed_result):
    result, _ = sed_result
    with mpl_plot_check():
        fig, ax = plt.subplots(layout="constrained")
        result.plot_spectra(ax=ax)
    assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax.get_ylabel().startswith("E² dN/dE [")
    assert ax.get_legend() is None
    assert fig.axes[1].get_ylabel().startswith("Time since 2026-01-01")
    with mpl_plot_check():
        axes = result.plot_summary()
    labels = [ax.get_ylabel() for ax in axes]
    assert labels[0].startswith("flux 1 TeV - 10 TeV [")
    assert labels[1:] == ["index", "sqrt_ts"]
    assert axes[-1].get_xlabel() == "Time (UTC)"
    assert axes[0].figure.get_layout_engine() is not None


def test_hysteresis_has_arrows_in_time_order(sed_result):
    result, _ = sed_result
    with mpl_plot_check():
        fig, ax = plt.subplots()
        result.plot_correlation("flux", "index", ax=ax)
    arrows = [child for child in ax.texts if getattr(child, "arrow_patch", None) is not None]
    assert len(arrows) == result.n_bins - 1
    flux = result.quantity("flux").value
    assert_allclose(arrows[0].xy[0], flux[1]) and assert_allclose(arrows[0].xyann[0], flux[0])


def test_report_rounds_values_to_their_errors(sed_result):
    assert value_with_error(4.00871, 0.35321) == "4.01 ± 0.35"
    assert value_with_error(1.0219e-10, 1.292e-11) == "(1.02 ± 0.13)e-10"
    assert value_with_error(np.nan, 0.1) == "-"
    assert value_with_error(3.0, np.nan) == "3"
    table = summary_table(sed_result[0])
    assert table.colnames[0] == "time 2026-01-01 (UTC)"
    assert table.colnames[-1] == "compare_sigma"
    assert table["index"][0].count("±") == 1
    assert any(name.startswith("flux 1-10 TeV") for name in table.colnames)


def test_cli_plot_summary_and_spectra(sed_result, tmp_path):
    result, _ = sed_result
    path = tmp_path / "result.fits"
    result.write(path)
    for what in ("summary", "spectra", "index"):
        out = CliRunner().invoke(cli, ["plot", str(path), "--parameter", what])
        assert out.exit_code == 0, out.output
        assert (tmp_path / f"result_{what}.png").exists()
    again = CliRunner().invoke(cli, ["plot", str(path)])
    assert again.exit_code == 1 and "--overwrite" in again.output
