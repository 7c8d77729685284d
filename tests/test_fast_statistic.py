"""FitDatasets: the fast joint statistic must be Gammapy's (to 1e-12: the integrals of the common
spectral models run on plain arrays), and a fit on it Gammapy's fit."""

import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    BrokenPowerLawSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    FoVBackgroundModel,
    LogParabolaSpectralModel,
    PowerLawNormSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs.engine.fast_statistic import FitDatasets, _onoff_fast_path, copy_for_fit
from gammapy_trs.engine.plain_spectra import plain_integral
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
        assert_allclose(fast.stat_sum(), plain.stat_sum(), rtol=1e-12)


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
    """The same statistic at every step (to 1e-12): Minuit takes Gammapy's path to the same fit."""
    fast = copy_for_fit(flare_datasets[:2])
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets[:2]])
    plain.models = [m.copy(name=m.name) for m in flare_datasets.models]
    result_fast = Fit(store_trace=True).run(fast)
    result_plain = Fit(store_trace=True).run(plain)
    assert abs(result_fast.nfev - result_plain.nfev) <= 2
    assert_allclose(result_fast.total_stat, result_plain.total_stat, rtol=1e-12)
    for name in ("index", "amplitude"):
        fast_par, plain_par = result_fast.models.parameters[name], result_plain.models.parameters[name]
        assert abs(fast_par.value - plain_par.value) < 1e-6 * plain_par.error
        assert_allclose(fast_par.error, plain_par.error, rtol=1e-5)


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


@pytest.mark.parametrize(
    "spectral_model",
    [
        PowerLawSpectralModel(index=2.5, amplitude="1e-7 m-2 s-1 GeV-1", reference="300 GeV"),
        LogParabolaSpectralModel(alpha=2.5, beta=0.2, amplitude="1e-10 cm-2 s-1 TeV-1", reference="2 TeV"),
        ExpCutoffPowerLawSpectralModel(
            index=2.0, amplitude="1e-10 cm-2 s-1 TeV-1", lambda_="0.0002 GeV-1", alpha=1.5
        ),
        BrokenPowerLawSpectralModel(index1=2, index2=3.5, amplitude="1e-10 cm-2 s-1 TeV-1", ebreak="2000 GeV"),
    ],
)
def test_plain_integral_is_gammapys(spectral_model):
    """Units converted once (energies, energy powers such as lambda_, any amplitude unit)."""
    edges = np.geomspace(0.1, 100, 21) * u.TeV
    integral = plain_integral(spectral_model, edges[:-1], edges[1:])
    assert integral is not None
    rng = np.random.default_rng(1)
    for _ in range(5):
        values = spectral_model.parameters.value * rng.uniform(0.8, 1.2, len(spectral_model.parameters))
        model = spectral_model.copy()
        model.parameters.value = values
        expected = model.integral(edges[:-1], edges[1:]).to_value("cm-2 s-1")
        assert_allclose(integral(values), expected, rtol=1e-12)


def test_other_models_are_integrated_by_gammapy():
    edges = np.geomspace(0.1, 100, 5) * u.TeV
    compound = PowerLawSpectralModel() + PowerLawSpectralModel(index=3)
    assert plain_integral(compound, edges[:-1], edges[1:]) is None
    assert plain_integral(PowerLawNormSpectralModel(), edges[:-1], edges[1:]) is None


def test_fast_fit_gives_gammapys_flux_points_without_warnings(flare_datasets, caplog):
    from gammapy.estimators import FluxPointsEstimator
    from gammapy_trs.engine.fast_fit import FastFit

    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets[:2]])
    datasets.models = [m.copy(name=m.name) for m in flare_datasets.models]
    Fit().run(datasets)
    kwargs = dict(energy_edges=[0.5, 1, 3, 10] * u.TeV, source="source", selection_optional=["ul", "errn-errp"])
    with caplog.at_level("WARNING"):
        fast = FluxPointsEstimator(fit=FastFit(), **kwargs).run(datasets)
    assert "Reoptimize" not in caplog.text
    plain = FluxPointsEstimator(**kwargs).run(datasets)
    for name in ("norm", "norm_err", "norm_ul", "norm_errn", "norm_errp", "ts"):
        assert_allclose(getattr(fast, name).data, getattr(plain, name).data, rtol=1e-4)


def test_fits_leave_the_background_cache_of_map_datasets_alone():
    """A MapDataset caches its predicted background in a map it rewrites in place: its copies for a
    fit must not share that map with the user's dataset."""
    datasets = make_map_datasets(make_intervals(1))
    datasets.models = [power_law_model(), FoVBackgroundModel(dataset_name=datasets[0].name)]
    before = datasets[0].npred_background().data.copy()
    copies = copy_for_fit(datasets)
    copies.models[f"{datasets[0].name}-bkg"].spectral_model.norm.value = 1.7
    copies[0].npred_background()
    assert_allclose(datasets[0].npred_background().data, before)
