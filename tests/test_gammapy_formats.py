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
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.app.cli import cli
from gammapy_trs.result.summary import summary_table, value_with_error
from conftest import every_step_run

EDGES = [0.5, 1, 2, 5, 10] * u.TeV


@pytest.fixture(scope="module")
def sed_result(flare_datasets_session, flare_intervals):
    estimator, datasets = every_step_run(flare_datasets_session, flare_intervals, EDGES)
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


def assert_readable(fig):
    """Every text inside the figure and apart from the others' axes, tick labels where labels
    are shown, and each marker drawn inside its axes' limits."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    canvas = FigureCanvasAgg(fig) if fig.canvas is None or not hasattr(fig.canvas, "get_renderer") else fig.canvas
    canvas.draw()
    renderer = canvas.get_renderer()
    box = fig.bbox
    titles = [text for text in (fig._suptitle, fig._supxlabel, fig._supylabel) if text is not None]
    for artist in [ax for ax in fig.axes if ax.get_visible()] + titles + fig.texts:
        extent = artist.get_tightbbox(renderer)  # what is drawn: tick labels, titles, legends
        name = getattr(artist, "get_text", lambda: artist.get_title() or artist.get_ylabel())()
        assert box.x0 - 1 <= extent.x0 and extent.x1 <= box.x1 + 1, f"clipped: {name!r}"
        assert box.y0 - 1 <= extent.y0 and extent.y1 <= box.y1 + 1, f"clipped: {name!r}"
    for ax in fig.axes:
        if not ax.get_visible() or ax.get_label() == "<colorbar>":
            continue
        for axis, shown in ((ax.xaxis, "labelbottom"), (ax.yaxis, "labelleft")):
            if axis.get_tick_params(which="major").get(shown, True):
                labels = [t for t in axis.get_ticklabels(which="both") if t.get_visible() and t.get_text()]
                low, high = sorted(axis.get_view_interval())
                inside = [t for t in labels if low <= axis.convert_units(t.get_position()[axis is ax.yaxis]) <= high]
                assert len(inside) >= 2, f"{ax.get_title() or ax.get_ylabel()}: fewer than two tick labels"
        xlim, ylim = sorted(ax.get_xlim()), sorted(ax.get_ylim())
        for line in ax.lines:
            if line.get_marker() in (None, "None", "") or not line.get_visible():
                continue
            x, y = (np.asarray(v, dtype=float) for v in line.get_data(orig=False))
            ok = np.isfinite(x) & np.isfinite(y)
            assert np.all((xlim[0] <= x[ok]) & (x[ok] <= xlim[1])), "a marker beyond the x limits"
            assert np.all((ylim[0] <= y[ok]) & (y[ok] <= ylim[1])), "a marker beyond the y limits"


def test_plot_spectra_small_multiples(sed_result):
    result, _ = sed_result
    with mpl_plot_check():
        axes = result.plot_spectra()
    fig = axes[0].figure
    assert len(axes) == result.n_bins
    assert axes[0].get_xscale() == "log" and axes[0].get_yscale() == "log"
    assert fig.get_supylabel().startswith("E² dN/dE [")
    assert [ax.get_title() for ax in axes[:2]] == ["00:00-00:20", "00:20-00:40"]
    # the y range follows the points and models, not an error band running to zero
    low, high = axes[0].get_ylim()
    assert high / low < 2e4
    assert_readable(fig)
    with mpl_plot_check():
        axes = result.plot_spectra(bins=[1, 4], band=False)
    assert len(axes) == 2 and axes[1].get_title() == "01:20-01:40"


def test_plot_sed_map_hatches_limits(sed_result):
    result, _ = sed_result
    with mpl_plot_check():
        fig, ax = plt.subplots(layout="constrained")
        result.plot_sed_map(ax=ax)
    n_limits = int(np.sum(result.products["sed"]["is_ul"] & np.isfinite(result.products["sed"]["dnde_ul"])))
    assert sum(patch.get_hatch() == "///" for patch in ax.patches) == n_limits > 0
    assert ax.get_yscale() == "log" and ax.get_xlabel().startswith("Time (UTC), 2026-01-01")
    assert_readable(fig)


def test_plot_sed_map_needs_the_sed_step(flare_datasets, flare_intervals):
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:2]).run(flare_datasets)
    with pytest.raises(ValueError, match='selection_optional "sed"'):
        result.plot_sed_map()


def test_plot_summary(sed_result):
    result, _ = sed_result
    with mpl_plot_check():
        axes = result.plot_summary()
    labels = [ax.get_ylabel() for ax in axes]
    assert labels[0].startswith("flux 1-10 TeV [")
    assert labels[1:] == ["index", "sqrt(TS) of the source"]
    assert axes[-1].get_xlabel() == "Time (UTC), 2026-01-01"
    assert axes[0].figure.get_layout_engine() is not None
    assert_readable(axes[0].figure)


def test_result_figures_are_readable(sed_result, tmp_path):
    from matplotlib.figure import Figure
    from gammapy_trs.result import figures

    result, _ = sed_result
    paths = figures.result_figures(result, tmp_path)
    assert [path.name for path in paths] == [name for name in figures.FIGURES if name != "posteriors.png"]
    drawn = []
    original = figures._save
    figures._save = lambda fig, path, dpi=figures.DPI: drawn.append(fig) or original(fig, path, dpi)
    try:
        for name in figures.figure_names(result):
            figures.save_figure(result, name, tmp_path / f"again_{name}.png")
    finally:
        figures._save = original
    for fig in drawn:
        assert isinstance(fig, Figure)
        assert_readable(fig)
    with pytest.raises(ValueError, match="No figure 'bogus'"):
        figures.save_figure(result, "bogus", tmp_path / "bogus.png")


def test_hysteresis_path_runs_in_time_order(sed_result):
    from matplotlib.collections import LineCollection

    result, _ = sed_result
    with mpl_plot_check():
        fig, ax = plt.subplots()
        result.plot_correlation("flux", "index", ax=ax)
    flux, index = result.quantity("flux").value, result.quantity("index").value
    ok = result.success & np.isfinite(flux) & np.isfinite(index)
    (path,) = [child for child in ax.collections if isinstance(child, LineCollection) and child.get_array() is not None]
    segments = path.get_segments()
    assert len(segments) == ok.sum() - 1
    assert_allclose(segments[0][0], [flux[ok][0], index[ok][0]])
    assert_allclose(segments[0][1], [flux[ok][1], index[ok][1]])
    arrows = [child for child in ax.texts if getattr(child, "arrow_patch", None) is not None]
    assert 1 <= len(arrows) <= 7
    # the first arrow sits on the first segment and points from the first bin to the second
    start, end = np.array(arrows[0].xyann), np.array(arrows[0].xy)
    assert_allclose(end - start, 0.1 * (segments[0][1] - segments[0][0]))
    labels = [child.get_text() for child in ax.texts if child.get_text()]
    assert labels == ["start", "end"]
    assert_readable(fig)


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
    for what in ("summary", "spectra", "sed_map", "hysteresis", "index"):
        out = CliRunner().invoke(cli, ["plot", str(path), "--parameter", what])
        assert out.exit_code == 0, out.output
        assert (tmp_path / f"result_{what}.png").exists()
    again = CliRunner().invoke(cli, ["plot", str(path)])
    assert again.exit_code == 1 and "--overwrite" in again.output


def test_flux_states_figure_is_readable(sed_result):
    """The states' fluxes span less than a decade: the log axis still has tick labels."""
    from gammapy_trs import fit_flux_states

    result, datasets = sed_result
    states = fit_flux_states(result.slice_by_idx(slice(1, 4)), datasets, n_states=2)  # the peak's bins
    with mpl_plot_check():
        fig, ax = plt.subplots()
        states.plot("index", ax=ax)
    low, high = ax.get_xlim()
    assert high / low < 10
    assert ax.get_xlabel().startswith("flux of the state 1-10 TeV [")
    fig.canvas.draw()
    labels = [t.get_text() for t in ax.xaxis.get_ticklabels(minor=True) + ax.xaxis.get_ticklabels() if t.get_text()]
    assert len(labels) >= 2
    assert_readable(fig)


@pytest.mark.parametrize("hours", [0.2, 1, 3.33, 4, 6, 24, 120, 720])
def test_time_axis_ticks_at_any_span(hours):
    """Three to eight clock labels whatever the span (3 h 20 min once found no tick interval)."""
    import datetime
    from gammapy_trs.result.plotting import format_time_axis

    start = datetime.datetime(2026, 1, 1, 20)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        with mpl_plot_check():
            fig, ax = plt.subplots(layout="constrained")
            ax.plot([start, start + datetime.timedelta(hours=hours)], [0, 1])
            format_time_axis(ax)
            fig.canvas.draw()
    assert 3 <= len(ax.get_xticks()) <= 8


def test_sed_geom_has_the_on_region(sed_result, tmp_path):
    """The flux points are those of the ON region (the meta's ``region``), after a round trip too."""
    result, datasets = sed_result
    on = datasets[0].counts.geom.region
    path = tmp_path / "result.fits"
    result.write(path)
    for region in (result.to_sed().geom.region, TimeResolvedSpectrum.read(path).to_sed().geom.region):
        assert type(region) is type(on)
        assert region.center.separation(on.center).to_value("deg") < 1e-7
        assert_allclose(region.radius.to_value("deg"), on.radius.to_value("deg"), rtol=1e-7)
