"""Every number defensible: quality flags, NaN where the data say nothing, limits where asked, and
clear errors for inputs that make no sense."""

import logging
import numpy as np
import astropy.units as u
import pytest
from gammapy.datasets import Datasets
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator, TimeResolvedDatasetsMaker
from gammapy_trs.result.quality import QUALITY_FLAGS, describe_quality, flag_bit, quality_names
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, make_intervals, power_law_model

INTERVALS = make_intervals(4)
NO_COUNTS, FEW_COUNTS, AT_BOUND = flag_bit("no_counts"), flag_bit("few_counts"), flag_bit("at_bound")


def datasets_with(counts=None, amplitude=1e-10, index=3.0, seed=3):
    """Four bins; ``counts`` replaces the ON counts of some of them (bin index to total)."""
    truth = PowerLawSpectralModel(index=index, amplitude=amplitude * AMPLITUDE_UNIT)
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=seed)
    for idx, total in (counts or {}).items():
        datasets[idx].counts.data[...] = 0
        datasets[idx].counts.data[3] = total
    datasets.models = power_law_model()
    return datasets


def quiet_run(datasets, **kwargs):
    logging.disable(logging.WARNING)
    try:
        return TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, **kwargs).run(datasets)
    finally:
        logging.disable(logging.NOTSET)


@pytest.fixture(scope="module")
def sparse():
    """Bin 1 without ON counts, bin 2 with one."""
    return quiet_run(datasets_with({1: 0, 2: 1}), selection_optional="all")


def test_a_bin_without_counts_has_no_shape_but_a_limit(sparse):
    quality = sparse.quantity("quality")
    assert quality[0] == 0 and quality[3] == 0
    assert quality[1] & NO_COUNTS
    for name in ("index", "index_err", "amplitude", "amplitude_err", "index_errn", "flux", "flux_err"):
        assert np.isnan(sparse.quantity(name)[1]), name
    assert sparse.quantity("index_quality")[1] & NO_COUNTS
    assert np.isnan(sparse.models[1].spectral_model.index.value)
    ul = sparse.quantity("amplitude_ul")[1].to_value(AMPLITUDE_UNIT)
    assert np.isfinite(ul) and ul > 0
    assert sparse.quantity("is_ul")[1] and sparse.quantity("ul_shape")[1] == "stacked"
    assert sparse.quantity("flux_ul")[1] > 0 * u.Unit("cm-2 s-1")


def test_a_bin_with_one_count_has_no_shape(sparse):
    assert sparse.quantity("quality")[2] & FEW_COUNTS
    assert np.isnan(sparse.quantity("index")[2]) and np.isnan(sparse.quantity("index_errp")[2])
    assert sparse.quantity("index_quality")[2] & FEW_COUNTS
    assert sparse.quantity("amplitude_quality")[2] & FEW_COUNTS == 0  # the norm stands
    assert sparse.quantity("sqrt_ts")[2] < 2
    assert describe_quality(sparse.quantity("quality")[2]).startswith("few_counts")


def test_quality_in_every_format(sparse, tmp_path):
    for name in ("q.fits", "q.ecsv"):
        sparse.write(tmp_path / name)
        read = TimeResolvedSpectrum.read(tmp_path / name)
        for column in ("quality", "index_quality", "amplitude_quality"):
            assert list(read.quantity(column)) == list(sparse.quantity(column)), column
    table = sparse.to_table()
    assert table.colnames[2:4] == ["success", "quality"]
    assert "bitmask" in table["quality"].description


def test_quality_flags_are_declared_once():
    assert [flag.bit for flag in QUALITY_FLAGS] == [1, 2, 4, 8, 16, 32]
    assert quality_names(2 | 32) == ["no_counts", "negative_flux"]
    assert quality_names(np.nan) == [] and describe_quality(0) == "ok"


def test_a_parameter_stopped_at_its_bound_is_nan():
    datasets = datasets_with(index=2.8)
    datasets.models[0].spectral_model.index.min = 3.2
    result = quiet_run(datasets)
    assert np.all(result.quantity("index_quality") & AT_BOUND)
    assert np.all(np.isnan(result.quantity("index"))) and np.all(np.isnan(result.quantity("index_err")))
    assert np.all(result.quantity("quality") & AT_BOUND)


def test_every_bin_empty_still_gets_positive_limits(caplog):
    datasets = datasets_with({0: 0, 1: 0, 2: 0, 3: 0})
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, selection_optional="all").run(datasets)
    assert np.all(result.quantity("quality") & NO_COUNTS)
    ul = result.quantity("amplitude_ul").to_value(AMPLITUDE_UNIT)
    assert np.all(np.isfinite(ul)) and np.all(ul > 0)
    assert np.all(result.quantity("is_ul"))
    # the fit over all bins stacked is not usable: the limits at the source model's own shape
    assert result.meta["ul_shape_source"] == "model"
    assert result.meta["ul_shape_index"] == 3.0
    assert list(result.quantity("ul_shape")) == ["model"] * 4
    assert "is not usable" in caplog.text
    assert np.all(result.quantity("flux_ul") > 0 * u.Unit("cm-2 s-1"))


def test_fvar_is_nan_where_the_excess_variance_is_negative():
    datasets = datasets_with(amplitude=2e-12, seed=8)
    result = quiet_run(datasets, selection_optional=["flux"], sqrt_ts_threshold_shape=-np.inf)
    test = result.variability("flux")
    assert np.isnan(test["fvar"]) and np.isnan(test["fvar_err"])
    assert "negative excess variance" in test["fvar_note"]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(energy_min="-1 TeV"), "energy_min must be a positive energy"),
        (dict(energy_min="0 TeV"), "energy_min must be a positive energy"),
        (dict(n_jobs=0), "n_jobs must be a whole number of at least 1"),
        (dict(n_jobs=-3), "n_jobs must be a whole number of at least 1"),
        (dict(sed_energy_edges=[1, 0.5, 10] * u.TeV), "sed_energy_edges must be strictly increasing"),
        (dict(sed_energy_edges=[1, 1, 10] * u.TeV), "sed_energy_edges must be strictly increasing"),
        (dict(sed_energy_edges=[1] * u.TeV), "sed_energy_edges must be at least two"),
        (dict(atol="-1 s"), "atol must be one non-negative duration"),
        (dict(sqrt_ts_threshold_ul=np.nan), "sqrt_ts_threshold_ul must be a number"),
        (dict(n_sigma_ul=0), "n_sigma_ul must be positive"),
        (dict(ul_shape="mine"), r"ul_shape must be one of \('bin', 'stacked'\)"),
        (dict(selection_optional="tss"), r"selection_optional \['tss'\] are not steps"),
    ],
)
def test_inputs_that_make_no_sense_raise_at_the_call(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TimeResolvedSpectrumEstimator(**kwargs)


def test_the_maker_checks_n_jobs():
    from gammapy_trs.samples.spectrum_setup import reflected_region_makers

    with pytest.raises(ValueError, match="n_jobs must be a whole number of at least 1"):
        TimeResolvedDatasetsMaker(reflected_region_makers(), INTERVALS, n_jobs=0)


@pytest.mark.parametrize(
    ("spoil", "match"),
    [
        (lambda d: setattr(d.exposure, "data", -d.exposure.data), "has negative exposure"),
        (lambda d: setattr(d.acceptance, "data", d.acceptance.data * np.nan), r"has non-finite acceptance \(NaN or inf\)"),
        (lambda d: setattr(d.acceptance_off, "data", -1.0 * d.acceptance_off.data), "has negative acceptance_off"),
    ],
)
def test_datasets_that_make_no_sense_raise_at_the_call(spoil, match):
    datasets = datasets_with()
    dataset = datasets[1].copy(name=datasets[1].name)
    spoil(dataset)
    datasets = Datasets([datasets[0], dataset])
    datasets.models = power_law_model()
    with pytest.raises(ValueError, match=f"Dataset '{dataset.name}' {match}"):
        TimeResolvedSpectrumEstimator(time_intervals=INTERVALS).run(datasets)


def test_the_config_takes_one_step_or_all_as_text():
    from gammapy_trs.app.config import ConfigError, TRSConfig, DEFAULT_CONFIG

    for value, expected in (("all", ["all"]), ("ts", ["ts"])):
        text = DEFAULT_CONFIG.replace("selection_optional: [ts, flux, ul]", f"selection_optional: {value}")
        assert TRSConfig.from_yaml(text).time_resolved.estimator.selection_optional == expected
    text = DEFAULT_CONFIG.replace("atol: 1e-6 s", "atol: -1 s")
    with pytest.raises(ConfigError, match="time_resolved.estimator.atol: expected a non-negative duration"):
        TRSConfig.from_yaml(text)
    text = DEFAULT_CONFIG.replace("energy_min: 1 TeV", "energy_min: 0 TeV")
    with pytest.raises(ConfigError, match="energy_min: expected a positive energy"):
        TRSConfig.from_yaml(text)

