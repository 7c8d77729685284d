import logging
from importlib.metadata import entry_points
import numpy as np
import astropy.units as u
import pytest
from astropy.time import Time
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.estimators import ESTIMATOR_REGISTRY, LightCurveEstimator
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ExpCutoffPowerLawSpectralModel,
    FoVBackgroundModel,
    LogParabolaSpectralModel,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator, register_estimators
from conftest import AMPLITUDE_UNIT, T0, make_intervals, make_map_datasets, power_law_model


def direct_fit(datasets, source):
    """The hand-written per-bin fit that the estimator replaces."""
    copies = Datasets([d.copy(name=d.name) for d in datasets])
    copies.models = datasets.models.copy()
    result = Fit().run(copies)
    return result, copies.models[source]


def assert_parity(result, datasets, intervals, source="source", max_sigma=0.01):
    """Every fitted parameter of every bin within max_sigma of a direct fit."""
    table = result.to_table()
    for row, (t_min, t_max) in zip(table, intervals):
        _, fitted = direct_fit(datasets.select_time(t_min, t_max), source)
        for name in result.parameter_names:
            par = fitted.parameters[name]
            assert abs(row[name] - par.value) < max_sigma * par.error, name


def test_run_power_law(flare_datasets, flare_intervals):
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, source="source")
    result = estimator.run(flare_datasets)

    assert isinstance(result, TimeResolvedSpectrum)
    assert result.n_bins == 6
    assert result.parameter_names == ["index", "amplitude"]
    assert result.success.all()
    assert result.meta["n_dropped"] == 0

    table = result.to_table()
    assert table.colnames[:10] == [
        "time_min", "time_max", "success", "quality", "index", "index_err", "index_quality",
        "amplitude", "amplitude_err", "amplitude_quality",
    ]
    assert table.colnames[10:] == [
        "nfev", "stat", "n_datasets", "n_free", "livetime", "counts", "excess", "npred", "npred_signal",
        "fit_message",
    ]
    assert np.all(table["quality"] == 0)
    assert table["amplitude"].unit == AMPLITUDE_UNIT
    assert table["livetime"].unit == u.s
    assert_allclose(table["time_min"][0].mjd, T0.mjd, rtol=0, atol=1e-10)

    assert_allclose(table["index"][:3], [3.293673, 3.128356, 2.642674], rtol=1e-4)
    assert_allclose(table["index_err"][:3], [0.164320, 0.113158, 0.060502], rtol=1e-3)
    assert_allclose(table["amplitude"][:3], [5.255990e-11, 8.436074e-11, 2.104950e-10], rtol=1e-4)
    assert_allclose(table["amplitude_err"][0], 5.304588e-12, rtol=1e-3)
    assert_allclose(table["counts"][:3], [234, 333, 704])
    assert_allclose(table["excess"][:3], [206.6, 310.4, 679.2])
    assert_allclose(table["n_datasets"], 1)
    assert_allclose(table["livetime"], 1200, rtol=1e-9)
    assert_allclose(table["npred_signal"], table["excess"], rtol=0.05)

    model = result.models[0]
    assert isinstance(model, SkyModel)
    assert model.name == "source"
    assert_allclose(model.spectral_model.index.value, table["index"][0])
    assert_allclose(model.spectral_model.index.error, table["index_err"][0])


def test_parity_with_direct_fit(flare_datasets, flare_intervals):
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    assert_parity(result, flare_datasets, flare_intervals)


def test_inputs_not_modified(flare_datasets, flare_intervals):
    model = flare_datasets.models["source"]
    before = [(p.value, p.error, p.frozen) for p in model.parameters]
    counts = [d.counts.data.copy() for d in flare_datasets]

    TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)

    assert flare_datasets.models["source"] is model
    assert [(p.value, p.error, p.frozen) for p in model.parameters] == before
    for dataset, data in zip(flare_datasets, counts):
        assert dataset.models["source"] is model
        np.testing.assert_array_equal(dataset.counts.data, data)


@pytest.mark.parametrize(
    ("spectral_model", "names"),
    [
        (
            LogParabolaSpectralModel(alpha=3, beta=0.1, amplitude=1e-10 * AMPLITUDE_UNIT),
            ["amplitude", "alpha", "beta"],
        ),
        (
            ExpCutoffPowerLawSpectralModel(
                index=2.5, amplitude=1e-10 * AMPLITUDE_UNIT, lambda_="0.05 TeV-1"
            ),
            ["index", "amplitude", "lambda_"],
        ),
    ],
)
def test_other_spectral_models(flare_datasets, flare_intervals, spectral_model, names):
    model = SkyModel(spectral_model=spectral_model, name="source")
    flare_datasets.models = model
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:3]).run(flare_datasets)

    assert result.parameter_names == names
    for name in names:
        assert np.all(np.isfinite(result.quantity(name)))
        assert np.all(result.quantity(f"{name}_err") > 0)
    assert_parity(result, flare_datasets, flare_intervals[:3])
    assert type(result.models[0].spectral_model) is type(spectral_model)


def test_frozen_parameter_not_fitted(flare_datasets, flare_intervals):
    flare_datasets.models["source"].spectral_model.index.frozen = True
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    assert result.parameter_names == ["amplitude"]
    assert "index" not in result.to_table().colnames
    assert_allclose(result.models[2].spectral_model.index.value, 3.0)


def test_amplitude_matches_lightcurve_estimator(flare_datasets, flare_intervals):
    model = flare_datasets.models["source"]
    model.spectral_model.index.frozen = True
    amplitude_ref = model.spectral_model.amplitude.quantity

    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    lightcurve = LightCurveEstimator(
        time_intervals=flare_intervals, source="source", energy_edges=[0.4, 20] * u.TeV
    ).run(flare_datasets)

    norm = lightcurve.norm.data.ravel()
    norm_err = lightcurve.norm_err.data.ravel()
    amplitude = result.quantity("amplitude")
    assert_allclose(amplitude, norm * amplitude_ref, rtol=1e-4)
    assert_allclose(result.quantity("amplitude_err"), norm_err * amplitude_ref, rtol=1e-3)


def test_several_datasets_per_bin(flare_datasets):
    intervals = make_intervals(3, width=40 * u.min)
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals).run(flare_datasets)
    assert_allclose(result.quantity("n_datasets"), [2, 2, 2])
    assert_allclose(result.quantity("livetime").to_value(u.s), 2400, rtol=1e-9)
    assert_allclose(result.quantity("counts"), [567, 1239, 506])


def test_time_intervals_none_one_bin_per_dataset(flare_datasets, flare_intervals):
    result = TimeResolvedSpectrumEstimator().run(flare_datasets)
    expected = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    assert result.n_bins == 6
    assert_allclose(result.quantity("index"), expected.quantity("index"), rtol=1e-10)


def test_time_intervals_none_overlapping_datasets(flare_datasets):
    shifted = flare_datasets[1].copy(name="shifted")
    shifted.gti = flare_datasets[0].gti.copy()
    shifted.gti.table["START"] += 60 * u.s
    shifted.gti.table["STOP"] += 60 * u.s
    datasets = Datasets([flare_datasets[0], shifted])
    datasets.models = power_law_model()
    with pytest.raises(ValueError, match="must not overlap in time"):
        TimeResolvedSpectrumEstimator().run(datasets)


def test_empty_bins_dropped(flare_datasets, flare_intervals, caplog):
    before = [Time([T0 - 1 * u.h, T0 - 30 * u.min])]
    estimator = TimeResolvedSpectrumEstimator(time_intervals=before + flare_intervals[:2])
    with caplog.at_level(logging.INFO, logger="gammapy_trs"):
        result = estimator.run(flare_datasets)
    assert result.n_bins == 2
    assert result.meta["n_dropped"] == 1
    assert "No dataset in time bin" in caplog.text
    assert "dropped bins   : 1" in str(result)


def test_bin_with_empty_mask_fails_but_run_goes_on(flare_datasets, flare_intervals):
    flare_datasets[1].mask_safe.data[...] = False
    result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    assert result.n_bins == 6
    assert list(result.success) == [True, False, True, True, True, True]
    assert_allclose(result.quantity("counts")[1], 0)


class FailingFit(Fit):
    """A fit whose optimiser raises for one bin."""

    def run(self, datasets):
        if "obs-0002" in datasets.names:
            raise RuntimeError("optimiser crashed")
        return super().run(datasets)


def test_bin_whose_fit_raises_is_kept(flare_datasets, flare_intervals, caplog):
    estimator = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, fit=FailingFit())
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result = estimator.run(flare_datasets)
    table = result.to_table()
    assert list(table["success"]) == [True, True, False, True, True, True]
    assert np.isnan(table["index"][2]) and np.isnan(table["amplitude_err"][2])
    assert table["nfev"][2] == 0
    assert_allclose(table["counts"][2], 704)
    assert "optimiser crashed" in caplog.text
    assert np.all(np.isfinite(table["index"][[0, 1, 3, 4, 5]]))


def test_dataset_straddling_a_bin_edge_warns(flare_datasets, caplog):
    intervals = make_intervals(2, width=30 * u.min)
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result = TimeResolvedSpectrumEstimator(time_intervals=intervals).run(flare_datasets)
    assert "'obs-0001'" in caplog.text and "straddles a time bin edge" in caplog.text
    assert_allclose(result.quantity("n_datasets"), [1, 1])


def test_a_dataset_of_no_duration_on_a_bin_edge_is_used_once(flare_datasets, flare_intervals):
    """A slice of no duration where a run starts on a bin edge (a round-off of the GTI's times)
    lies within both bins: it goes to the first, and the bins stack and fit as usual."""
    from gammapy.data import GTI
    from gammapy.datasets import Datasets
    from gammapy_trs.estimation.grouping import group_datasets

    edge = flare_intervals[1][0]
    empty = flare_datasets[0].copy(name="no-duration")
    empty.gti = GTI.create([0] * u.s, [0] * u.s, reference_time=edge)
    datasets = Datasets([*flare_datasets[:2], empty])
    intervals, groups = group_datasets(datasets, TimeResolvedSpectrumEstimator(time_intervals=flare_intervals[:2]).time_intervals, 1e-6 * u.s)
    assert [g.names for g in groups] == [["obs-0000", "no-duration"], ["obs-0001"]]


def test_map_datasets_with_background_model():
    intervals = make_intervals(3)
    datasets = make_map_datasets(intervals)
    source = SkyModel(
        spectral_model=PowerLawSpectralModel(index=3, amplitude=5e-11 * AMPLITUDE_UNIT),
        spatial_model=PointSpatialModel(lon_0="329.7 deg", lat_0="-30.2 deg", frame="icrs"),
        name="source",
    )
    source.spatial_model.parameters.freeze_all()
    datasets.models = [source] + [FoVBackgroundModel(dataset_name=d.name) for d in datasets]

    result = TimeResolvedSpectrumEstimator(time_intervals=intervals).run(datasets)

    assert result.success.all()
    assert result.parameter_names == ["index", "amplitude"]
    assert_allclose(result.quantity("index"), [2.918844, 2.595648, 2.871289], rtol=1e-4)
    assert_allclose(result.quantity("counts"), [762, 673, 689])
    assert_allclose(result.quantity("npred_signal")[0], 240.186, rtol=1e-3)
    assert datasets.models["map-0-bkg"].spectral_model.norm.value == 1
    assert_parity(result, datasets, intervals)


def test_bad_time_intervals_raise_at_construction():
    with pytest.raises(ValueError, match="time_intervals is empty"):
        TimeResolvedSpectrumEstimator(time_intervals=[])
    with pytest.raises(ValueError, match="stops before it starts"):
        TimeResolvedSpectrumEstimator(
            time_intervals=[Time(["2026-01-01T01:00", "2026-01-01T00:00"])]
        )
    with pytest.raises(ValueError, match="Time intervals overlap"):
        TimeResolvedSpectrumEstimator(
            time_intervals=[
                Time(["2026-01-01T00:00", "2026-01-01T00:30"]),
                Time(["2026-01-01T00:20", "2026-01-01T00:40"]),
            ]
        )


def test_whole_run_datasets_are_said_to_straddle_the_bins(flare_datasets, flare_intervals):
    """Datasets longer than the bins (whole runs passed by mistake) overlap every bin but lie
    within none: the error says so and shows how to cut them."""
    short = [Time([t[0], t[0] + 5 * u.min]) for t in flare_intervals]
    with pytest.raises(ValueError, match=r"6 of the 6 datasets overlap them but straddle their edges.*"
                       r"TimeResolvedDatasetsMaker\(makers, time_intervals\).*select_time"):
        TimeResolvedSpectrumEstimator(time_intervals=short).run(flare_datasets)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        (dict(source="crab"), ValueError, r"source 'crab' is not in the models: \['source'\]"),
        (dict(source=3), ValueError, "source index 3 is out of range for 1 models"),
        (
            dict(time_intervals=[Time(["2020-01-01", "2020-01-02"])]),
            ValueError,
            "No dataset lies within any of the 1 time intervals",
        ),
    ],
)
def test_bad_input_raises(flare_datasets, kwargs, error, match):
    model = flare_datasets.models["source"]
    before = [p.value for p in model.parameters]
    with pytest.raises(error, match=match):
        TimeResolvedSpectrumEstimator(**kwargs).run(flare_datasets)
    assert [p.value for p in model.parameters] == before


def test_no_free_parameter(flare_datasets):
    flare_datasets.models["source"].parameters.freeze_all()
    with pytest.raises(ValueError, match="'source' has no free parameter"):
        TimeResolvedSpectrumEstimator().run(flare_datasets)


def test_source_must_be_a_sky_model(flare_datasets):
    flare_datasets.models = [FoVBackgroundModel(dataset_name="obs-0000"), power_law_model()]
    with pytest.raises(TypeError, match="is a FoVBackgroundModel, not a SkyModel"):
        TimeResolvedSpectrumEstimator(source=0).run(flare_datasets)


def test_datasets_without_models(flare_datasets):
    flare_datasets.models = None
    with pytest.raises(ValueError, match="The datasets have no models"):
        TimeResolvedSpectrumEstimator().run(flare_datasets)


@pytest.mark.parametrize("datasets", ["obs.yaml", 3, Datasets()])
def test_wrong_datasets(datasets):
    error = ValueError if isinstance(datasets, Datasets) else TypeError
    with pytest.raises(error, match="datasets must be|No dataset given"):
        TimeResolvedSpectrumEstimator().run(datasets)


def test_invalid_selection_optional():
    with pytest.raises(ValueError, match=r"selection_optional \['bogus'\] are not steps; choose among"):
        TimeResolvedSpectrumEstimator(selection_optional=["bogus"])
    # one step by its name, not its letters
    assert TimeResolvedSpectrumEstimator(selection_optional="ts").selection_optional == ["ts"]
    with pytest.raises(ValueError, match=r"\['tss'\] are not steps"):
        TimeResolvedSpectrumEstimator(selection_optional="tss")


def test_estimator_str_and_copy():
    estimator = TimeResolvedSpectrumEstimator(time_intervals=make_intervals(2), source="src")
    text = str(estimator)
    assert "TimeResolvedSpectrumEstimator" in text and "src" in text
    assert estimator.copy().source == "src"


def test_registered_in_gammapy():
    register_estimators()
    register_estimators()
    cls = ESTIMATOR_REGISTRY.get_cls("TimeResolvedSpectrumEstimator")
    assert cls is TimeResolvedSpectrumEstimator
    assert ESTIMATOR_REGISTRY.count(TimeResolvedSpectrumEstimator) == 1


def test_entry_point():
    (entry,) = [
        e
        for e in entry_points(group="gammapy.estimators")
        if e.name == "TimeResolvedSpectrumEstimator"
    ]
    assert entry.load() is TimeResolvedSpectrumEstimator


@pytest.mark.parametrize("engine", ["compiled", "gammapy"])
def test_one_progress_bar_per_stage(flare_datasets, flare_intervals, capsys, monkeypatch, engine):
    """A run with every step shows one bar, its own: no unnamed bar, none of Gammapy's inside
    (the "sed" step's "Energy bins", the joint fit's conditional fits)."""
    from gammapy.utils import pbar

    monkeypatch.setattr(pbar, "SHOW_PROGRESS_BAR", True)
    capsys.readouterr()
    TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals[:2], selection_optional=["ts", "sed"], engine=engine,
        sed_energy_edges=[0.6, 2, 20] * u.TeV,
    ).run(flare_datasets)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    started = [line.split(":")[0] for line in lines if " 0%|" in line]  # each bar's first line
    assert started == ["Time-resolved fits"]
