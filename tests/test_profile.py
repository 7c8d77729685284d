"""Profile-likelihood intervals (Venzon-Moolgavkar) and Newton minimisation on the compiled statistic:
the numbers of MINOS and MIGRAD, and MINOS or MIGRAD wherever they do not converge."""

import numpy as np
import pytest
from numpy.testing import assert_allclose
from scipy.optimize import brentq, minimize_scalar
from gammapy.modeling import Fit
from gammapy.modeling.models import LogParabolaSpectralModel, SkyModel
from gammapy_trs.engine.statistic import CompiledStatistic
from gammapy_trs.engine.fast_fit import FastFit
from gammapy_trs.engine.fast_statistic import copy_for_fit
from gammapy_trs.engine.profile import profile_interval
from gammapy_trs.engine.quasi_newton import bfgs_update, gradient_hessian, minimize
from gammapy_trs.estimation.steps.compare import start_from_nested
from conftest import AMPLITUDE_UNIT
from test_compiled import SPECTRAL_MODELS


def poisson_statistic(x):
    """Cash statistic of 4 counts with mean exp(a) * (1 + b) and 9 counts with mean exp(a) * (2 + b / 2):
    skewed profiles in two correlated parameters."""
    counts = np.array([4.0, 9.0])
    mean = np.exp(x[0]) * np.array([1 + x[1], 2 + x[1] / 2])
    dmean = np.array([mean, np.exp(x[0]) * np.array([1.0, 0.5])])
    stat = 2 * np.sum(mean - counts * np.log(mean))
    return stat, 2 * dmean @ (1 - counts / mean)


def brute_force_interval(idx, minimum, stat_min, n_sigma, domain=(-0.999, 10)):
    """Ends of the profile interval from a bounded scalar minimisation at each point and a root finder
    (``b`` in ``domain``)."""
    def profile(value):
        def conditional(other):
            x = np.empty(2)
            x[idx], x[1 - idx] = value, other
            return poisson_statistic(x)[0]
        bounds = domain if idx == 0 else (-5, 5)
        return minimize_scalar(conditional, bounds=bounds, method="bounded", options=dict(xatol=1e-10)).fun

    level = stat_min + n_sigma**2
    low_end, high_end = (-5, 5) if idx == 0 else domain
    low = brentq(lambda v: profile(v) - level, low_end, minimum[idx], xtol=1e-10)
    high = brentq(lambda v: profile(v) - level, minimum[idx], high_end, xtol=1e-10)
    return minimum[idx] - low, high - minimum[idx]


@pytest.mark.parametrize("n_sigma", [1, 2])
@pytest.mark.parametrize("idx", [0, 1])
def test_profile_interval_equals_brute_force_profile(idx, n_sigma):
    result = minimize(poisson_statistic, lambda x: poisson_statistic(x)[1], np.array([1.5, -0.1]), np.array([1e-3, 1e-3]), tol=1e-12)
    minimum, stat_min = result["x"], result["stat"]
    covariance = 2 * np.linalg.inv(result["hessian"])  # the statistic is twice the negative log-likelihood
    interval = profile_interval(poisson_statistic, minimum, stat_min, covariance, idx, n_sigma=n_sigma)
    errn, errp = brute_force_interval(idx, minimum, stat_min, n_sigma)
    sigma = np.sqrt(covariance[idx, idx])
    assert abs(errn - errp) > 0.02 * sigma  # asymmetric
    assert abs(interval["errn"] - errn) < 1e-3 * sigma
    assert abs(interval["errp"] - errp) < 1e-3 * sigma
    assert interval["nfev"] <= 20  # both ends


def test_profile_interval_is_none_where_an_end_is_not_found():
    result = minimize(poisson_statistic, lambda x: poisson_statistic(x)[1], np.array([1.5, -0.1]), np.array([1e-3, 1e-3]), tol=1e-12)
    minimum, stat_min = result["x"], result["stat"]
    covariance = 2 * np.linalg.inv(result["hessian"])
    limits = (np.array([-np.inf, -np.inf]), np.array([np.inf, minimum[1] + 0.1 * np.sqrt(covariance[1, 1])]))
    assert profile_interval(poisson_statistic, minimum, stat_min, covariance, 1, limits=limits) is None
    assert profile_interval(poisson_statistic, minimum, stat_min + 1, covariance, 1) is None  # a lower minimum
    assert profile_interval(poisson_statistic, minimum, stat_min, -covariance, 1) is None  # not positive definite
    assert profile_interval(poisson_statistic, minimum, stat_min, np.full((2, 2), np.nan), 1) is None


def test_minimize_reaches_the_minimum_or_gives_none():
    def statistic(x):  # minimum at (1, -2), quartic terms
        d = x - np.array([1.0, -2.0])
        return d @ d + 0.5 * d[0] ** 4 + d[0] * d[1], 2 * d + np.array([2 * d[0] ** 3 + d[1], d[0]])

    gradient = lambda x: statistic(x)[1]
    result = minimize(statistic, gradient, np.array([0.5, -1.0]), np.array([1e-4, 1e-4]))
    assert_allclose(result["x"], [1, -2], atol=1e-2)
    assert result["edm"] < 1e-5 and result["nfev"] < 15
    saddle = lambda x: (x[0] ** 2 - x[1] ** 2, np.array([2 * x[0], -2 * x[1]]))
    assert minimize(saddle, lambda x: saddle(x)[1], np.array([0.1, 0.1]), np.array([1e-4, 1e-4])) is None
    limits = (np.array([-np.inf, -np.inf]), np.array([0.6, np.inf]))
    assert minimize(statistic, gradient, np.array([0.5, -1.0]), np.array([1e-4, 1e-4]), limits) is None


def test_gradient_hessian_and_bfgs_update():
    hessian = gradient_hessian(lambda x: np.array([[2.0, 1.0], [1.0, 4.0]]) @ x, np.array([1.0, 2.0]), np.array([1e-3, 1e-3]))
    assert_allclose(hessian, [[2, 1], [1, 4]], rtol=1e-9)
    updated = bfgs_update(np.eye(2), np.array([1.0, 0.0]), np.array([3.0, 1.0]))
    assert_allclose(updated @ np.array([1.0, 0.0]), [3, 1])  # the secant condition
    # negative curvature along the step: the update would not be positive definite, none is made
    assert_allclose(bfgs_update(np.eye(2), np.array([1.0, 0.0]), np.array([-1.0, 0.0])), np.eye(2))


def fitted(flare_datasets, name, n_datasets=2):
    datasets = copy_for_fit(flare_datasets[:n_datasets], models=[SkyModel(spectral_model=SPECTRAL_MODELS[name](), name="source")])
    fit = FastFit()
    assert fit.run(datasets).success
    return fit, datasets


@pytest.mark.parametrize("name", SPECTRAL_MODELS)
def test_fast_fit_confidence_equals_minos(flare_datasets, name):
    """Every free parameter of each model, against MINOS on the same compiled statistic from the
    same minimum: the profile interval within 2e-3 sigma of it where MINOS is valid, in a fraction
    of its evaluations; MINOS's own answer where the Newton steps find no end (the flare is a power
    law: the curvature of the log-parabola is measured, the cut-off and the break are not, and the
    broken power law's kink at its break is not smooth)."""
    fit, datasets = fitted(flare_datasets, name)
    compiled, minuit = fit._minimum(datasets)
    paths = []
    for idx, par in enumerate(compiled.parameters):
        interval = fit.confidence(datasets, par, sigma=1)
        reference = fit._make_minuit(compiled, fit._options(fit.confidence_opts))
        reference.migrad()
        nfcn = reference.nfcn
        reference.minos(reference.parameters[idx])
        minos = reference.merrors[reference.parameters[idx]]
        if "Venzon-Moolgavkar" in interval["message"]:
            paths.append("profile")
            assert interval["success"]
            assert interval["nfev"] < (reference.nfcn - nfcn) / 2, par.name
            if minos.is_valid:
                assert abs(interval["errn"] + minos.lower * par.scale) < 2e-3 * par.error, par.name
                assert abs(interval["errp"] - minos.upper * par.scale) < 2e-3 * par.error, par.name
        else:
            paths.append("minos")
            assert interval["success"] == minos.is_valid, par.name
            if minos.is_valid:  # invalid intervals are NaN in the result, whatever their numbers
                assert_allclose(interval["errn"], -minos.lower * par.scale, rtol=1e-2, err_msg=par.name)
    if name in ("power-law", "log-parabola"):
        assert paths == ["profile"] * len(paths)
def test_fast_fit_confidence_falls_back_to_minos_at_a_limit(flare_datasets):
    """A limit inside the interval: MINOS's answer (the end at the limit, marked invalid), as Gammapy's Fit."""
    fit, datasets = fitted(flare_datasets, "power-law")
    index = datasets.models.parameters["index"]
    index.max = index.value + 0.3 * index.error
    fit.run(datasets)
    interval = fit.confidence(datasets, index, sigma=1)
    assert "Minos" in interval["message"]
    plain = copy_for_fit(datasets, models=[datasets.models["source"].copy(name="source")])
    reference = Fit().confidence(plain, plain.models.parameters["index"], sigma=1)
    assert interval["success"] == reference["success"]
    assert_allclose(interval["errn"], reference["errn"], rtol=1e-2)


def test_compare_fit_by_newton_steps_equals_migrad(flare_datasets):
    """The alternative of a likelihood-ratio test from the nested best fit: Newton steps reach
    MIGRAD's minimum (the statistic to 2e-4, MIGRAD's own tolerance); where a limit blocks them,
    MIGRAD runs and gives the fit on copies of the datasets."""
    fit, datasets = fitted(flare_datasets, "power-law", n_datasets=3)
    alternative = SkyModel(
        spectral_model=LogParabolaSpectralModel(alpha=3, beta=0, amplitude=1e-10 * AMPLITUDE_UNIT, reference="1 TeV"),
        name="source",
    )
    nested = datasets.models["source"]
    for beta_max in (np.nan, 0.01):
        start = start_from_nested(alternative.copy(name="source"), nested)
        start.spectral_model.beta.max = beta_max
        success, stat, nfev = fit.optimize_replaced(datasets, "source", start)
        on_copies = copy_for_fit(datasets, models=[start_from_nested(alternative.copy(name="source"), nested)])
        on_copies.models.parameters["beta"].max = beta_max
        reference = Fit().optimize(on_copies)
        assert success and reference.success
        assert abs(stat - reference.total_stat) < 2e-4
        assert stat <= reference.total_stat + 1e-6
        if np.isnan(beta_max):
            assert nfev < reference.nfev
        else:
            assert start.spectral_model.beta.value <= beta_max
    assert CompiledStatistic.build(datasets) is not None  # the datasets stay at their fit


def test_fast_fit_runs_migrad_on_values_where_it_fails_with_the_gradient(flare_datasets, monkeypatch):
    """A gradient on which MIGRAD fails (here NaN; in faint bins, at a kink of the WStat where it
    jumps): the fit runs again from the start on the statistic's values, Gammapy's minimum."""
    models = [SkyModel(spectral_model=SPECTRAL_MODELS["power-law"](), name="source")]
    reference = copy_for_fit(flare_datasets[:2], models=models)
    expected = Fit().optimize(reference)
    monkeypatch.setattr(CompiledStatistic, "gradient", lambda self, factors: np.full(len(factors), np.nan))
    datasets = copy_for_fit(flare_datasets[:2], models=models)
    result = FastFit().optimize(datasets)
    assert result.success and expected.success
    assert result.minuit.ngrad == 0  # the retry, on values
    assert_allclose(result.total_stat, expected.total_stat, rtol=1e-6)
    for par in datasets.models.parameters.free_parameters:
        reference_par = reference.models.parameters[par.name]
        assert_allclose(par.value, reference_par.value, rtol=1e-3, err_msg=par.name)
