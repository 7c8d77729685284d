"""FitDatasets: the fast joint statistic must be Gammapy's, number for number."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ExpCutoffPowerLawSpectralModel,
    FoVBackgroundModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs.estimation.fast_statistic import FitDatasets, _onoff_fast_path, copy_for_fit
from conftest import AMPLITUDE_UNIT, make_intervals, make_map_datasets, power_law_model


@pytest.mark.parametrize(
    "spectral_model",
    [
        PowerLawSpectralModel(index=2.5, amplitude=1e-10 * AMPLITUDE_UNIT),
        LogParabolaSpectralModel(alpha=2.5, beta=0.2, amplitude=1e-10 * AMPLITUDE_UNIT),
        ExpCutoffPowerLawSpectralModel(index=2.0, amplitude=1e-10 * AMPLITUDE_UNIT, lambda_="0.1 TeV-1"),
    ],
)
def test_statistic_equals_gammapy(flare_datasets, spectral_model):
    models = [SkyModel(spectral_model=spectral_model, name="source")]
    fast = copy_for_fit(flare_datasets, models=models)
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets])
    plain.models = [m.copy(name=m.name) for m in models]
    assert all(_onoff_fast_path(d) for d in fast)

    rng = np.random.default_rng(0)
    for _ in range(20):
        for par_fast, par_plain in zip(fast.models.parameters, plain.models.parameters):
            if not par_fast.frozen:
                value = par_fast.value * rng.uniform(0.5, 1.5)
                par_fast.value = par_plain.value = value
        assert fast.stat_sum() == plain.stat_sum()


def test_statistic_with_bad_and_zero_parameters(flare_datasets):
    fast = copy_for_fit(flare_datasets)
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets])
    plain.models = [m.copy(name=m.name) for m in flare_datasets.models]
    for index, amplitude in [(3, 0.0), (np.nan, np.nan), (200.0, 1e-10), (-50.0, 1e-10), (3, -1e-10)]:
        for datasets in (fast, plain):
            datasets.models["source"].spectral_model.index.value = index
            datasets.models["source"].spectral_model.amplitude.value = amplitude
        assert fast.stat_sum() == plain.stat_sum()


def test_two_models(flare_datasets):
    models = [power_law_model("a", 3.0, 5e-11), power_law_model("b", 2.0, 2e-12)]
    fast = copy_for_fit(flare_datasets, models=models)
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets])
    plain.models = [m.copy(name=m.name) for m in models]
    assert_allclose(fast.stat_sum(), plain.stat_sum(), rtol=1e-14)


def test_fit_path_is_gammapy_path(flare_datasets):
    """The same statistic at every step: Minuit takes the same path, to the last digit."""
    fast = copy_for_fit(flare_datasets[:2])
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets[:2]])
    plain.models = [m.copy(name=m.name) for m in flare_datasets.models]
    result_fast = Fit(store_trace=True).run(fast)
    result_plain = Fit(store_trace=True).run(plain)
    assert result_fast.nfev == result_plain.nfev
    np.testing.assert_array_equal(
        result_fast.optimize_result.trace["total_stat"], result_plain.optimize_result.trace["total_stat"]
    )
    assert result_fast.models.parameters["index"].error == result_plain.models.parameters["index"].error


def test_map_datasets_fall_back():
    datasets = make_map_datasets(make_intervals(1))
    models = [power_law_model(), FoVBackgroundModel(dataset_name=datasets[0].name)]
    fast = copy_for_fit(datasets, models=models)
    assert not _onoff_fast_path(fast[0])
    assert fast.stat_sum() == fast[0].stat_sum()


def test_models_changed_after_creation(flare_datasets):
    fast = FitDatasets([d.copy(name=d.name) for d in flare_datasets[:1]])
    fast.models = power_law_model(index=3.0)
    first = fast.stat_sum()
    fast.models = power_law_model(index=2.0)
    assert fast.stat_sum() != first
    assert fast.stat_sum() == fast[0].stat_sum()
