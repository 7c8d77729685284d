import numpy as np
import yaml
import astropy.units as u
import matplotlib.pyplot as plt
import pytest
from astropy.time import Time
from numpy.testing import assert_allclose
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from conftest import T0


@pytest.fixture(scope="module")
def result(flare_datasets_session, flare_intervals):
    from conftest import power_law_model
    from gammapy.datasets import Datasets

    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])
    datasets[4].mask_safe.data[...] = False  # one failed bin
    datasets.models = power_law_model()
    return TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(datasets)


def assert_same(read, result):
    table, expected = read.to_table(), result.to_table()
    assert table.colnames == expected.colnames
    assert read.parameter_names == result.parameter_names
    assert read.meta == result.meta
    for name in ("time_min", "time_max"):
        assert isinstance(table[name], Time)
        assert_allclose((table[name] - expected[name]).to_value(u.ns), 0, atol=1)
    for name in expected.colnames[2:]:
        assert table[name].unit == expected[name].unit, name
        assert table[name].dtype.kind == expected[name].dtype.kind, name
        np.testing.assert_array_equal(table[name], expected[name])
    for model, model_expected in zip(read.models, result.models):
        # NaN (the parameters of the failed bin) compares unequal: compare the YAML text
        assert yaml.safe_dump(model.to_dict()) == yaml.safe_dump(model_expected.to_dict())
        assert_allclose(model.covariance.data, model_expected.covariance.data)
        np.testing.assert_equal(model.spectral_model.index.error, model_expected.spectral_model.index.error)


@pytest.mark.parametrize("filename", ["result.fits", "result.fits.gz", "result.ecsv"])
def test_write_read_round_trip(result, tmp_path, filename):
    path = tmp_path / filename
    result.write(path)
    read = TimeResolvedSpectrum.read(path)
    assert_same(read, result)
    assert list(read.success) == [True, True, True, True, False, True]
    assert read.time_axis.nbin == 6


def test_write_existing_file(result, tmp_path):
    path = tmp_path / "result.fits"
    result.write(path)
    with pytest.raises(OSError, match="already exists"):
        result.write(path)
    result.write(path, overwrite=True)


def test_write_unknown_format(result, tmp_path):
    with pytest.raises(ValueError, match="Unknown format 'txt'"):
        result.write(tmp_path / "result.txt")
    with pytest.raises(ValueError, match="Unknown format 'hdf5'"):
        TimeResolvedSpectrum.read(tmp_path / "result.fits", format="hdf5")


def test_table(result):
    table = result.to_table()
    assert len(table) == 6
    assert table["time_min"].scale == "utc"
    assert table["time_min"][0].isot == "2026-01-01T00:00:00.000"
    assert table["time_max"][-1].isot == "2026-01-01T02:00:00.000"
    assert table["success"].dtype == bool
    assert table.meta["SOURCE"] == "source"
    assert table.meta["PARNAMES"] == "index,amplitude"


def test_quantity_and_getitem(result):
    index = result.quantity("index")
    assert index.unit == u.dimensionless_unscaled
    assert result.quantity("nfev").dtype.kind == "i"
    assert result["amplitude"].geom.axes["time"].nbin == 6
    with pytest.raises(KeyError, match="No quantity 'flux'"):
        result["flux"]


def test_slice_by_time(result):
    sliced = result.slice_by_time(T0 + 20 * u.min, T0 + 80 * u.min)
    assert sliced.n_bins == 3
    assert_allclose(sliced.quantity("index"), result.quantity("index")[1:4])
    assert sliced.models[0] is result.models[1]
    assert sliced.time_axis.time_min[0].isot == (T0 + 20 * u.min).tt.isot

    with pytest.raises(ValueError, match="No time bin lies within"):
        result.slice_by_time(T0 + 21 * u.min, T0 + 39 * u.min)


def test_slice_by_idx(result):
    assert result.slice_by_idx(2).n_bins == 1
    assert_allclose(result.slice_by_idx(-1).quantity("index"), result.quantity("index")[-1:])
    assert result.slice_by_idx(slice(0, 4)).n_bins == 4


def test_inconsistent_construction(result):
    data = {name: result[name] for name in result.available_quantities}
    with pytest.raises(ValueError, match="Got 2 models for 6 time bins"):
        TimeResolvedSpectrum(data, result.models[:2], result.parameter_names)
    data.pop("index_err")
    with pytest.raises(ValueError, match=r"Missing per-bin data for parameters: \['index_err'\]"):
        TimeResolvedSpectrum(data, result.models, result.parameter_names)


def test_str_and_html(result):
    text = str(result)
    assert "time bins      : 6" in text
    assert "failed fits    : 1" in text
    assert "PowerLawSpectralModel" in text
    assert "2026-01-01T00:00:00.000 - 2026-01-01T02:00:00.000 UTC" in text
    html = result._repr_html_()
    assert html.startswith("<pre>") and "<table" in html


def test_plot(result):
    with mpl_plot_check():
        ax = result.plot("index", color="C1")
    assert ax.get_ylabel() == "index"
    labels = ax.get_legend_handles_labels()[1]
    assert sorted(labels) == ["fit failed", "index"]
    (shade,) = [patch for patch in ax.patches if patch.get_label() == "fit failed"]
    failed = result.time_axis.slice(4)  # the bin without a safe energy range
    x_min, x_max = shade.get_x(), shade.get_x() + shade.get_width()
    assert_allclose([x_min, x_max], plt.matplotlib.dates.date2num([failed.time_min[0].datetime, failed.time_max[0].datetime]))


def test_plot_on_given_axes(result):
    with mpl_plot_check():
        fig, ax = plt.subplots()
        out = result.plot("amplitude", ax=ax)
    assert out is ax
    assert ax.get_ylabel() == "amplitude at 1 TeV [$\\mathrm{TeV^{-1}\\,s^{-1}\\,cm^{-2}}$]"
    assert ax.get_xlabel() == "Time (UTC), 2026-01-01"
    successful = ax.containers[0]
    assert len(successful.lines[0].get_xdata()) == 5


def test_plot_correlation(result):
    with mpl_plot_check():
        fig, ax = plt.subplots()
        out = result.plot_correlation("amplitude", "index", ax=ax)
    assert out is ax
    assert ax.get_xlabel() == "amplitude at 1 TeV [$\\mathrm{TeV^{-1}\\,s^{-1}\\,cm^{-2}}$]"
    assert ax.get_ylabel() == "index"
    assert len(fig.axes) == 2  # the colour bar
    assert fig.axes[1].get_ylabel() == "Time since 2026-01-01 00:00 UTC [h]"
