"""Laws across bins: a shape parameter as a function of the bin's flux or of time (`fit_law`)."""

import numpy as np
import pytest
import matplotlib.pyplot as plt
from iminuit import Minuit
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import LawFit, TimeResolvedSpectrumEstimator, fit_law
from gammapy_trs.engine import select_engine
from gammapy_trs.estimation.grouping import bin_setup
from gammapy_trs.estimation.laws import LAWS, LawTie, LinearLaw, ShapeLaw
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from matplotlib.figure import Figure
from conftest import AMPLITUDE_UNIT, make_intervals
from test_gammapy_formats import assert_readable

N_BINS = 8
INTERVALS = make_intervals(N_BINS)
REFERENCE = 5e-11
SLOPE = -0.4
"""The simulated flare's index is ``3 + SLOPE * log10(A / REFERENCE)``: harder when brighter."""


def law_flare(slope=SLOPE, seed=4):
    amplitude = REFERENCE * 10 ** np.linspace(-0.6, 0.6, N_BINS)[[0, 2, 4, 6, 7, 5, 3, 1]]
    index = 3.0 + slope * np.log10(amplitude / REFERENCE)
    truth = [PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT) for i, a in zip(index, amplitude)]
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=seed)
    model = PowerLawSpectralModel(index=3.0, amplitude=1e-11 * AMPLITUDE_UNIT)
    model.index.min, model.index.max = 0.5, 8
    datasets.models = SkyModel(spectral_model=model, name="source")
    return datasets


@pytest.fixture(scope="module")
def flare():
    datasets = law_flare()
    result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, n_jobs=1).run(datasets)
    return datasets, result


@pytest.fixture(scope="module")
def flux_law(flare):
    datasets, result = flare
    return fit_law(result, datasets, "index", covariate="flux", reference=REFERENCE * AMPLITUDE_UNIT, n_jobs=1)


def direct_fit(datasets, result):
    """The law fitted directly: one MIGRAD over a, b and every bin's amplitude on Gammapy's statistic."""
    setup = bin_setup(result, datasets, ["index"], engine="gammapy", n_jobs=1)
    bins = [setup.engine.copy(group) for group in setup.groups]
    models = [b.models["source"].spectral_model for b in bins]

    def stat(pars):
        a, b, amplitudes = pars[0], pars[1], pars[2:]
        total = 0.0
        for copies, model, amplitude in zip(bins, models, amplitudes):
            model.amplitude.value = amplitude * 1e-11
            model.index.value = a + b * np.log10(amplitude * 1e-11 / REFERENCE)
            total += copies.stat_sum()
        return total

    start = [3.0, 0.0] + list(result.quantity("amplitude").value / 1e-11)
    minuit = Minuit(stat, start)
    minuit.errordef = 1
    minuit.migrad()
    minuit.hesse()
    assert minuit.valid
    return np.array(minuit.values[:2]), np.array(minuit.errors[:2]), minuit.fval


def test_flux_law_equals_direct_fit(flare):
    """On five bins of the flare (its brightest and faintest among them)."""
    datasets, _ = flare
    subset = Datasets([datasets[i] for i in (0, 2, 3, 4, 7)])
    intervals = [INTERVALS[i] for i in (0, 2, 3, 4, 7)]
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1).run(subset)
    law = fit_law(result, subset, "index", covariate="flux", reference=REFERENCE * AMPLITUDE_UNIT, n_jobs=1)
    values, errors, _ = direct_fit(subset, result)
    coefficients = law.coefficients
    assert_allclose(coefficients["value"], values, atol=0.01 * errors.max())
    assert_allclose(coefficients["error"], errors, rtol=0.03)
    # the truth within 2 sigma, and the pinned fit of this flare
    assert abs(coefficients["value"][1] - SLOPE) < 2 * coefficients["error"][1]
    assert_allclose(coefficients["value"], [3.01959, -0.54207], atol=2e-4)
    assert_allclose(coefficients["error"], [0.08950, 0.17274], atol=2e-4)


def test_law_tests_add_up_to_the_variability_test(flare, flux_law):
    """Against shared plus against free per bin is shared against free: the variability test."""
    datasets, result = flare
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, n_jobs=1)
    test = estimator.test_variability(datasets, ["index"], alternative=result)
    meta = flux_law.meta
    # the pinned law of the eight bins
    assert_allclose(flux_law.coefficients["value"], [3.04226, -0.55513], atol=2e-4)
    assert_allclose(flux_law.coefficients["error"], [0.06313, 0.13626], atol=2e-4)
    assert_allclose(meta["TS_SHARED"] + meta["TS_FREE"], test["ts"], atol=2e-3)
    assert (meta["DOF_SHARED"], meta["DOF_FREE"], meta["N_BINS"]) == (1, N_BINS - 2, N_BINS)
    assert meta["SIG_SHARED"] > 3  # the slope is detected
    assert meta["P_FREE"] > 0.05  # and the law describes the bins


def test_tied_gradient_is_the_derivative_of_the_profile(flare):
    """The gradient by the law's coefficients (envelope theorem and chain rule) equals differences
    of the bin's conditional minimum, on both engines."""
    datasets, result = flare
    for engine in ("compiled", "gammapy"):
        setup = bin_setup(result, datasets, ["index"], engine=engine, n_jobs=1)
        engine = setup.engine.tightened(0.01)
        tie = LawTie(LinearLaw(), parameter="amplitude", reference=REFERENCE)
        group = setup.groups[3]
        point, step = (3.05, -0.3), 1e-3
        args = (group, "source", tuple(setup.indices))
        points = [point, (point[0] + step, point[1]), (point[0] - step, point[1])]
        points += [(point[0], point[1] + step), (point[0], point[1] - step)]
        minima = engine.conditional_minima(*args, points, None, (1e-5,), tie=tie)
        assert all(m[0] for m in minima)
        stat = [m[1] for m in minima]
        differences = [(stat[1] - stat[2]) / (2 * step), (stat[3] - stat[4]) / (2 * step)]
        assert_allclose(minima[0][3], differences, rtol=2e-3, atol=2e-3)


def test_engines_agree_on_a_law(flare, flux_law):
    datasets, result = flare
    subset = Datasets(list(datasets)[:3])
    small = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS[:3], n_jobs=1).run(subset)
    laws = [
        fit_law(small, subset, "index", reference=REFERENCE * AMPLITUDE_UNIT, engine=engine, n_jobs=1)
        for engine in ("compiled", "gammapy")
    ]
    assert_allclose(laws[0].coefficients["value"], laws[1].coefficients["value"], atol=2e-3)
    assert_allclose(laws[0].coefficients["error"], laws[1].coefficients["error"], rtol=0.02)
    assert_allclose(laws[0].meta["TS_SHARED"], laws[1].meta["TS_SHARED"], atol=5e-3)


def test_time_law(flare):
    """A law of time: its covariate fixed per bin; at b = 0 it is the shared fit."""
    datasets, result = flare
    law = fit_law(result, datasets, "index", covariate="time", n_jobs=1)
    table = law.to_table()
    assert_allclose(np.diff(table["x"]), 1 / 3)  # 20-minute bins, in hours
    assert_allclose(np.mean(table["x"]), 0, atol=1e-9)  # t0 the mean of the bins' centres
    assert law.meta["COVARIATE"] == "time"
    assert_allclose(law.meta["REFERENCE"], result.time_axis.time_mid.utc.mjd.mean(), rtol=1e-12)
    assert law.meta["P_SHARED"] > 0.01  # the index follows the flux, which rises and falls


def test_profile_errors(flare):
    datasets, result = flare
    law = fit_law(result, datasets, "index", reference=REFERENCE * AMPLITUDE_UNIT, n_sigma=1, n_jobs=1)
    coefficients = law.coefficients
    assert_allclose(coefficients["errn"], coefficients["error"], rtol=0.1)
    assert_allclose(coefficients["errp"], coefficients["error"], rtol=0.1)


def test_law_round_trip_and_plot(flux_law, flare, tmp_path):
    flux_law.write(tmp_path / "law.ecsv")
    with pytest.raises(OSError, match="exists"):
        flux_law.write(tmp_path / "law.ecsv")
    read = LawFit.read(tmp_path / "law.ecsv")
    assert_allclose(read.coefficients["value"], flux_law.coefficients["value"])
    assert_allclose(read.covariance, flux_law.covariance)
    assert read.tests == flux_law.tests
    assert "index = a + b * log10(amplitude / N0)" in str(read)
    assert "against shared" in str(read)
    with mpl_plot_check():
        ax = flux_law.plot()
        assert ax.get_xscale() == "log"
        x_low, x_high = ax.get_xlim()
        amplitudes = flare[1].quantity("amplitude").value
        assert x_low <= amplitudes.min() and amplitudes.max() <= x_high
        assert ax.get_ylabel() == "index"
    plt.close("all")
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    flux_law.plot(ax=fig.subplots())
    assert_readable(fig)
    time_law = fit_law(flare[1], flare[0], "index", covariate="time", n_jobs=1)
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    time_law.plot(ax=fig.subplots())
    assert_readable(fig)


def test_a_users_law(flare):
    """A law is a small declared object: a quadratic law of the flux, registered by its tag."""

    class Quadratic(ShapeLaw):
        tag = "quadratic"
        coefficient_names = ("a", "b", "c")
        null = {"b": 0.0, "c": 0.0}

        def value(self, coefficients, x):
            x = np.asarray(x, dtype=float)
            return coefficients[0] + coefficients[1] * x + coefficients[2] * x**2

        def derivatives(self, coefficients, x):
            x = np.asarray(x, dtype=float)
            return np.array([np.ones_like(x), x, x**2]), coefficients[1] + 2 * coefficients[2] * x

        def formula(self, parameter, covariate):
            return f"{parameter} = a + b * {covariate} + c * {covariate}^2"

    datasets, result = flare
    LAWS["quadratic"] = Quadratic
    try:
        law = fit_law(result, datasets, "index", law="quadratic", reference=REFERENCE * AMPLITUDE_UNIT, n_jobs=1)
    finally:
        del LAWS["quadratic"]
    assert law.meta["DOF_SHARED"] == 2
    assert abs(law.coefficients["value"][2]) < 3 * law.coefficients["error"][2]  # the truth is linear
    assert_allclose(law.coefficients["value"][1], SLOPE, atol=3 * law.coefficients["error"][1])
    with mpl_plot_check():
        law.plot()
    plt.close("all")


def test_law_errors(flare):
    datasets, result = flare
    with pytest.raises(ValueError, match="Unknown law 'cubic'; declared laws"):
        fit_law(result, datasets, "index", law="cubic")
    with pytest.raises(ValueError, match="covariate must be one of"):
        fit_law(result, datasets, "index", covariate="energy")
    with pytest.raises(ValueError, match=r"\['beta'\] are not free parameters"):
        fit_law(result, datasets, "beta")
    frozen = Datasets([d.copy(name=d.name) for d in datasets])
    model = datasets.models["source"].copy(name="source")
    model.spectral_model.amplitude.frozen = True
    frozen.models = model
    with pytest.raises(ValueError, match="has no free norm: a law of the flux needs one"):
        fit_law(result, frozen, "index")


def test_datasets_not_changed(flare):
    datasets, result = flare
    before = [(p.name, p.value, p.min, p.frozen) for p in datasets.models.parameters]
    fit_law(result, datasets, "index", n_jobs=1, engine=select_engine("compiled", None, Datasets([datasets[0]]), "source"))
    assert [(p.name, p.value, p.min, p.frozen) for p in datasets.models.parameters] == before


def test_law_in_parallel_with_its_progress_bar(flare, flux_law, capsys, monkeypatch):
    """The bins' fits in two processes (the ties travel with them) give the same law; one
    progress bar names the law's iterations."""
    from gammapy.utils import pbar

    datasets, result = flare
    monkeypatch.setattr(pbar, "SHOW_PROGRESS_BAR", True)
    capsys.readouterr()
    law = fit_law(result, datasets, "index", reference=REFERENCE * AMPLITUDE_UNIT, n_jobs=2)
    assert_allclose(law.coefficients["value"], flux_law.coefficients["value"], atol=1e-4)
    assert_allclose(law.meta["TS_SHARED"], flux_law.meta["TS_SHARED"], atol=1e-3)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert [line.split(":")[0] for line in lines if " 0%|" in line] == ["Law of index (iterations)"]


def test_law_test_by_simulation(flare, flux_law):
    """The parametric bootstrap of the law's test: simulations of the null hypothesis (the bins'
    own fits with one index), the per-bin fits and the law again on each, reproducible by seed."""
    from gammapy_trs.estimation.law_simulations import simulate_law_test

    datasets, result = flare
    before = [(p.name, p.value, p.frozen) for p in datasets.models.parameters]
    simulated = simulate_law_test(flux_law, result, datasets, n_simulations=4, random_state=1, n_jobs=1)
    assert [(p.name, p.value, p.frozen) for p in datasets.models.parameters] == before
    ts = np.array(simulated.meta["TS_SIM"])
    assert simulated.meta["N_SIM"] == 4 and np.all(ts >= 0) and len(set(ts)) == 4
    # the observed slope is far beyond what the null hypothesis gives: p = 1 / 5
    assert np.all(ts < flux_law.meta["TS_SHARED"]) and simulated.meta["P_SHARED_SIM"] == 0.2
    again = simulate_law_test(flux_law, result, datasets, n_simulations=4, random_state=1, n_jobs=1)
    assert_allclose(again.meta["TS_SIM"], ts)
    assert "P_SHARED_SIM" not in flux_law.meta  # a copy


def test_no_simulation_of_a_failed_law(flux_law, flare):
    from gammapy_trs.estimation.law_simulations import simulate_law_test

    failed = LawFit(flux_law.to_table())
    failed.table.meta["TS_SHARED"] = np.nan
    with pytest.raises(ValueError, match="TS is NaN"):
        simulate_law_test(failed, flare[1], flare[0], n_simulations=2)
