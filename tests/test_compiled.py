"""The compiled statistic and its analytic gradient, and FastFit on it: the numbers of Gammapy."""

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
    GaussianPrior,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs.engine.statistic import CompiledStatistic
from gammapy_trs.engine.fast_fit import FastFit
from gammapy_trs.engine.fast_statistic import copy_for_fit
from gammapy_trs.engine.plain_spectra import LOG_DERIVATIVES, PLAIN_MODELS, PlainIntegral, plain_integral
from conftest import AMPLITUDE_UNIT, make_intervals, make_map_datasets, power_law_model

SPECTRAL_MODELS = {
    "power-law": lambda: PowerLawSpectralModel(index=2.7, amplitude="1e-7 m-2 s-1 GeV-1", reference="300 GeV"),
    "log-parabola": lambda: LogParabolaSpectralModel(
        alpha=2.5, beta=0.2, amplitude=1e-10 * AMPLITUDE_UNIT, reference="2 TeV"
    ),
    "exp-cutoff": lambda: ExpCutoffPowerLawSpectralModel(
        index=2.0, amplitude=1e-10 * AMPLITUDE_UNIT, lambda_="0.0002 GeV-1", alpha=1.5
    ),
    "broken-power-law": lambda: BrokenPowerLawSpectralModel(
        index1=2, index2=3.5, amplitude=1e-10 * AMPLITUDE_UNIT, ebreak="2000 GeV"
    ),
}


def numerical_gradient(function, values, rel_step=1e-6):
    """Central differences, with a step relative to each value."""
    values = np.asarray(values, dtype=float)
    gradient = []
    for idx in range(len(values)):
        step = rel_step * max(abs(values[idx]), 1e-3)
        up, down = values.copy(), values.copy()
        up[idx] += step
        down[idx] -= step
        gradient.append((function(up) - function(down)) / (2 * step))
    return np.array(gradient)


def test_every_plain_model_has_its_derivatives():
    assert set(LOG_DERIVATIVES) == set(PLAIN_MODELS)


@pytest.mark.parametrize("moment", [0, 1])
@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_integral_gradient_equals_numerical_derivatives(name, moment):
    """Every parameter, the amplitude and the reference included, in units other than TeV; the
    integral flux (moment 0) and the energy flux (moment 1)."""
    model = SPECTRAL_MODELS[name]()
    edges = np.geomspace(0.1, 100, 21) * u.TeV
    integral = plain_integral(model, edges[:-1], edges[1:], moment=moment)
    assert integral is not None and integral.moment == moment
    rng = np.random.default_rng(3)
    for _ in range(3):
        values = model.parameters.value * rng.uniform(0.8, 1.2, len(model.parameters))
        analytic = integral.gradient(values)
        # segments of local index near 1 (an index-2 spectrum times E) lose digits in
        # (r**g - 1) / g: a step of 1e-4, not 1e-6, keeps that noise out of the differences
        numerical = numerical_gradient(integral, values, rel_step=1e-4)
        for idx, par in enumerate(model.parameters):
            scale = np.max(np.abs(numerical[idx]))
            assert_allclose(analytic[idx], numerical[idx], rtol=0, atol=1e-6 * scale, err_msg=par.name)


@pytest.mark.parametrize("moment", [0, 1])
@pytest.mark.parametrize("kind", [PowerLawSpectralModel, LogParabolaSpectralModel])
def test_integral_gradient_at_index_one(kind, moment):
    """Where Gammapy takes the logarithm (index 1 for the integral flux, 2 for the energy flux):
    the limit of the derivative, continuous with the derivative on either side of it, not NaN."""
    index = 1.0 + moment
    if kind is PowerLawSpectralModel:
        spectral_model = PowerLawSpectralModel(index=index, amplitude=1e-10 * AMPLITUDE_UNIT)
    else:
        spectral_model = LogParabolaSpectralModel(alpha=index, beta=0.0, amplitude=1e-10 * AMPLITUDE_UNIT)
    edges = np.geomspace(0.1, 100, 11) * u.TeV
    integral = plain_integral(spectral_model, edges[:-1], edges[1:], moment=moment)
    values = spectral_model.parameters.value
    analytic = integral.gradient(values)
    assert np.all(np.isfinite(analytic))
    index = list(spectral_model.parameters.names).index("index" if "index" in spectral_model.parameters.names else "alpha")
    for shift in (-1e-6, 1e-6):
        near = values.copy()
        near[index] += shift
        assert_allclose(analytic, integral.gradient(near), rtol=1e-5, atol=1e-5 * np.abs(analytic).max())
    # differences across index 1 lose precision in Gammapy's integral: a wide step, 1e-3
    numerical = numerical_gradient(integral, values, rel_step=1e-3)
    assert_allclose(analytic, numerical, rtol=1e-3, atol=1e-3 * np.abs(analytic).max())


def compiled_and_reference(datasets, models):
    fast = copy_for_fit(datasets, models=models)
    fast.fit_models().parameters.autoscale()
    compiled = CompiledStatistic.build(fast)
    assert compiled is not None
    return fast, compiled


@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_compiled_statistic_equals_gammapy(flare_datasets, name):
    models = [SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")]
    fast, compiled = compiled_and_reference(flare_datasets, models)
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets])
    plain.models = [m.copy(name=m.name) for m in models]
    rng = np.random.default_rng(0)
    factors0 = np.array([par.factor for par in compiled.parameters])
    for _ in range(10):
        factors = factors0 * rng.uniform(0.7, 1.3, len(factors0))
        for par, factor in zip(compiled.parameters, factors):
            par.factor = factor
            plain.models.parameters[par.name].value = par.value
        assert_allclose(compiled(factors), plain.stat_sum(), rtol=1e-12)


@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_batch_statistic_equals_point_by_point(flare_datasets, name):
    """A sampler's batch of points gives the statistic of each point: where the index is 1 (the
    power law's logarithm), where the signal is negative (the rows computed term by term), and
    without ON or OFF counts in some bins."""
    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets])
    datasets[0].counts.data[::3] = 0
    datasets[1].counts_off.data[1::4] = 0
    models = [SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")]
    _, compiled = compiled_and_reference(datasets, models)
    rng = np.random.default_rng(2)
    factors0 = np.array([par.factor for par in compiled.parameters])
    batch = factors0 * rng.uniform(0.7, 1.3, (12, len(factors0)))
    batch[1, 1] *= -0.02  # a negative norm: a non-finite dot product, the row term by term
    names = [par.name for par in compiled.parameters]
    if "index" in names:
        batch[2, names.index("index")] = 1 / compiled.scales[names.index("index")]
    expected = np.array([compiled(row) for row in batch])
    nfev = compiled.nfev
    assert_allclose(compiled.batch(batch), expected, rtol=1e-12)
    assert compiled.nfev == nfev + len(batch)
    assert np.isfinite(expected[2])


@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_statistic_gradient_equals_numerical_derivatives(flare_datasets, name):
    """The analytic gradient of the WStat (background profiled out) by each free factor."""
    models = [SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")]
    _, compiled = compiled_and_reference(flare_datasets, models)
    rng = np.random.default_rng(1)
    factors0 = np.array([par.factor for par in compiled.parameters])
    for _ in range(3):
        factors = factors0 * rng.uniform(0.8, 1.2, len(factors0))
        analytic = compiled.gradient(factors)
        numerical = numerical_gradient(compiled, factors, rel_step=1e-7)
        assert_allclose(analytic, numerical, rtol=2e-5, atol=1e-6 * np.max(np.abs(numerical)))


def test_gradient_with_linked_parameters_and_two_models(flare_datasets):
    """A parameter shared by two components counts in both; fixed parameters have no derivative."""
    first, second = power_law_model("a", 3.0, 5e-11), power_law_model("b", 2.0, 2e-12)
    second.spectral_model.index = first.spectral_model.index
    first.spectral_model.reference.frozen = True
    fast, compiled = compiled_and_reference(flare_datasets, [first, second])
    assert [par.name for par in compiled.parameters] == ["index", "amplitude", "amplitude"]
    factors = np.array([par.factor for par in compiled.parameters])
    assert_allclose(compiled(factors), fast.stat_sum(), rtol=1e-12)
    numerical = numerical_gradient(compiled, factors, rel_step=1e-7)
    assert_allclose(compiled.gradient(factors), numerical, rtol=2e-5)


@pytest.mark.parametrize("sign", [1, -1])
def test_zero_counts_zero_off_counts_and_negative_signal(flare_datasets, sign):
    """Bins without ON or without OFF counts, and a negative signal (a faint bin's best fit can
    have one), where Gammapy's background root is not the profile's minimum."""
    datasets = Datasets([flare_datasets[0].copy(name="empty")])
    datasets[0].counts.data[::2] = 0
    datasets[0].counts_off.data[1::3] = 0
    _, compiled = compiled_and_reference(datasets, [power_law_model()])
    factors = np.array([par.factor for par in compiled.parameters])
    factors[1] *= sign * 0.01
    numerical = numerical_gradient(compiled, factors, rel_step=1e-7)
    assert_allclose(compiled.gradient(factors), numerical, rtol=2e-5)


def test_not_compiled_where_gammapy_must_compute(flare_datasets):
    map_datasets = make_map_datasets(make_intervals(1))
    copies = copy_for_fit(map_datasets, models=[power_law_model(), FoVBackgroundModel(dataset_name=map_datasets[0].name)])
    assert CompiledStatistic.build(copies) is None

    compound = SkyModel(spectral_model=PowerLawSpectralModel() + PowerLawSpectralModel(index=3), name="source")
    assert CompiledStatistic.build(copy_for_fit(flare_datasets, models=[compound])) is None

    with_prior = power_law_model()
    with_prior.spectral_model.index.prior = GaussianPrior(mu=3, sigma=0.1)
    assert CompiledStatistic.build(copy_for_fit(flare_datasets, models=[with_prior])) is None

    log_scaled = power_law_model()
    log_scaled.spectral_model.amplitude.scale_transform = "log"
    assert CompiledStatistic.build(copy_for_fit(flare_datasets, models=[log_scaled])) is None

    assert CompiledStatistic.build(Datasets(list(flare_datasets))) is None


@pytest.mark.parametrize("name", ["power-law", "log-parabola"])
def test_fast_fit_equals_gammapy_fit(flare_datasets, name):
    """Values within 1e-3 sigma, errors within 1%, the statistic to 1e-6; MINOS to 1%."""
    models = [SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")]
    fast = copy_for_fit(flare_datasets[:3], models=models)
    plain = Datasets([d.copy(name=d.name) for d in flare_datasets[:3]])
    plain.models = [m.copy(name=m.name) for m in models]
    fit = FastFit()
    result_fast, result_plain = fit.run(fast), Fit().run(plain)
    assert result_fast.success and result_plain.success
    assert result_fast.optimize_result.minuit.ngrad > 0  # the compiled path, with the gradient
    assert_allclose(result_fast.total_stat, result_plain.total_stat, rtol=1e-6)
    for par_fast in fast.models.parameters.free_parameters:
        par_plain = plain.models.parameters[par_fast.name]
        assert abs(par_fast.value - par_plain.value) < 1e-3 * par_plain.error, par_fast.name
        assert_allclose(par_fast.error, par_plain.error, rtol=1e-2, err_msg=par_fast.name)
    par_fast = fast.models.parameters.free_parameters[1]
    par_plain = plain.models.parameters[par_fast.name]
    interval_fast = fit.confidence(fast, par_fast, sigma=1)
    interval_plain = Fit().confidence(plain, par_plain, sigma=1)
    assert interval_fast["success"] and interval_plain["success"]
    for side in ("errn", "errp"):
        assert_allclose(interval_fast[side], interval_plain[side], rtol=1e-2)
    assert par_fast.value == fast.models.parameters[par_fast.name].value  # left at the best fit


@pytest.mark.parametrize("name", ["power-law", "log-parabola"])
def test_fast_fit_of_plain_datasets_keeps_the_errors(flare_datasets, name):
    """Given Gammapy's Datasets (not its own copies), the fit leaves their covariance as Gammapy's
    Fit.run does: the errors survive the next ``datasets.models`` (before, a stale covariance
    reset them to zero there)."""
    plain, reference = (Datasets([d.copy(name=d.name) for d in flare_datasets[:3]]) for _ in range(2))
    plain.models = SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")
    reference.models = SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")
    assert FastFit().run(plain).success and Fit().run(reference).success
    for par in reference.models.parameters.free_parameters:
        error = plain.models.parameters[par.name].error
        assert error > 0 and abs(error / par.error - 1) < 1e-2, (par.name, error, par.error)


def test_fast_fit_falls_back_to_gammapy_for_map_datasets():
    datasets = make_map_datasets(make_intervals(1))
    models = [power_law_model(), FoVBackgroundModel(dataset_name=datasets[0].name)]
    fast = copy_for_fit(datasets, models=models)
    plain = copy_for_fit(datasets, models=models)
    result_fast, result_plain = FastFit().run(fast), Fit().run(plain)
    assert result_fast.optimize_result.method == result_plain.optimize_result.method
    assert_allclose(result_fast.total_stat, result_plain.total_stat, rtol=1e-12)
    assert_allclose(fast.models.parameters.value, plain.models.parameters.value, rtol=1e-10)


def test_replaced_component_fits_as_copies_do(flare_datasets):
    """The likelihood-ratio test's alternative fitted on the compiled statistic with the source
    replaced equals its fit on copies of the datasets; the datasets stay at their best fit."""
    from gammapy_trs.estimation.steps.compare import start_from_nested

    fit = FastFit()
    fast = copy_for_fit(flare_datasets[:2])
    fit.run(fast)
    before = fast.models.parameters.value.copy()
    alternative = SkyModel(spectral_model=LogParabolaSpectralModel(alpha=3, beta=0, amplitude=1e-10 * AMPLITUDE_UNIT), name="source")
    start = start_from_nested(alternative.copy(name="source"), fast.models["source"])
    success, stat, nfev = fit.optimize_replaced(fast, "source", start)
    assert success and nfev > 0
    np.testing.assert_array_equal(fast.models.parameters.value, before)

    on_copies = copy_for_fit(fast, models=[start_from_nested(alternative.copy(name="source"), fast.models["source"])])
    result = fit.optimize(on_copies)
    assert_allclose(stat, result.total_stat, rtol=1e-7)
    for name in ("alpha", "beta"):
        expected = on_copies.models.parameters[name]
        assert abs(start.spectral_model.parameters[name].value - expected.value) < 1e-3 * fast.models.parameters["index"].error

    # a model without a plain integral: None, the caller fits copies
    compound = SkyModel(spectral_model=PowerLawSpectralModel() + PowerLawSpectralModel(index=3), name="source")
    assert fit.optimize_replaced(fast, "source", compound) is None


@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_energy_flux_equals_gammapy(name):
    """The energy flux on plain arrays is Gammapy's ``energy_flux``, in erg cm-2 s-1."""
    model = SPECTRAL_MODELS[name]()
    edges = np.array([0.4, 1, 10, 20]) * u.TeV
    integral = plain_integral(model, edges[:-1], edges[1:], moment=1)
    expected = model.energy_flux(edges[:-1], edges[1:]).to_value("erg cm-2 s-1")
    assert_allclose(integral(model.parameters.value), expected, rtol=1e-9)


def test_moment_must_be_zero_or_one():
    edges = np.array([1, 10]) * u.TeV
    with pytest.raises(ValueError, match="moment must be 0 or 1"):
        PlainIntegral(PowerLawSpectralModel(), edges[:-1], edges[1:], moment=2)
