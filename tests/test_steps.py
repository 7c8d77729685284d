"""The optional per-bin steps: TS, profile errors, upper limits, fluxes, model comparison."""

import logging
import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.maps import MapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import (
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
)
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.engine.fast_statistic import copy_for_fit
from gammapy_trs.engine.fluxes import integral_fluxes
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, make_intervals, power_law_model


def pl(index, amplitude):
    return PowerLawSpectralModel(index=index, amplitude=amplitude * AMPLITUDE_UNIT)


@pytest.fixture(scope="module")
def faint_datasets():
    """Two bright bins and one faint bin (3e-13, well below detection)."""
    truth = [pl(3.0, 1e-10), pl(2.6, 1.5e-10), pl(3.0, 3e-13)]
    datasets = simulate_onoff_datasets(make_intervals(3), truth, random_state=7)
    datasets.models = power_law_model()
    return datasets


@pytest.fixture(scope="module")
def result_all(faint_datasets):
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=make_intervals(3), selection_optional="all"
    )
    return estimator.run(faint_datasets)


def test_all_columns(result_all):
    names = result_all.available_quantities
    for name in [
        "ts", "sqrt_ts", "stat_null", "index_errn", "index_errp", "amplitude_errn",
        "amplitude_errp", "is_ul", "amplitude_ul", "flux", "flux_err", "eflux",
        "eflux_err", "flux_ul", "eflux_ul",
    ]:
        assert name in names, name
    assert result_all.meta["energy_min"] == "1.0 TeV"
    assert result_all.meta["n_sigma_ul"] == 2


def test_ts(result_all):
    assert_allclose(result_all.quantity("ts"), [744.6945, 1291.726, 0.345498], rtol=1e-4)
    assert_allclose(result_all.quantity("sqrt_ts"), [27.28909, 35.94059, -0.587791], rtol=1e-4)
    stat = result_all.quantity("stat")
    assert_allclose(result_all.quantity("stat_null") - stat, result_all.quantity("ts"))


def test_asymmetric_errors(result_all):
    errn = result_all.quantity("index_errn")
    errp = result_all.quantity("index_errp")
    assert_allclose(errn[:2], [0.103871, 0.07155], rtol=1e-3)
    assert_allclose(errp[:2], [0.108204, 0.073238], rtol=1e-3)
    # bright bins: profile errors close to the covariance errors
    sym = result_all.quantity("index_err")[:2]
    assert np.all(np.abs((errn[:2] + errp[:2]) / 2 / sym - 1) < 0.05)
    assert np.all(result_all.quantity("amplitude_errn") > 0)
    assert result_all.quantity("amplitude_errp").unit == AMPLITUDE_UNIT
    assert_allclose(result_all.quantity("amplitude_errp")[2].to_value(AMPLITUDE_UNIT), 2.2785e-12, rtol=1e-3)


def test_upper_limit_in_every_bin_reported_in_the_faint_bin(result_all):
    assert list(result_all.quantity("is_ul")) == [False, False, True]
    ul = result_all.quantity("amplitude_ul")
    # Gammapy's convention: a limit in every bin, at the bin's own shape where it is a detection
    assert np.all(ul[:2] > result_all.quantity("amplitude")[:2])
    assert list(result_all.quantity("ul_shape")) == ["bin", "bin", "stacked"]
    # the best fit is negative (sqrt_ts = -0.59): the limit is 2 sigma above zero, not above it
    assert result_all.quantity("amplitude")[2] < 0
    assert_allclose(ul[2].to_value(AMPLITUDE_UNIT), 2.437626e-12, rtol=1e-5)
    assert_allclose(result_all.meta["ul_shape_index"], 2.791527, rtol=1e-4)
    assert_allclose(result_all.quantity("flux_ul")[2].to_value("cm-2 s-1"), 1.338703e-12, rtol=1e-5)


def test_fallback_shape_fitted_only_where_a_bin_needs_it(faint_datasets, result_all, tmp_path, monkeypatch):
    """The bright bins alone (their own shapes): no stacked fit, ``ul_shape_source`` "none"; a
    resumed run whose checkpoint holds a bin that used the stacked shape still gives it; sent to
    another process, the shape is fitted first, without the datasets."""
    import pickle
    from gammapy_trs.estimation import stacked
    from gammapy_trs.estimation.steps import ul

    calls = []
    original = stacked.Stack.stacked.fget
    def counted(self):  # the datasets are stacked at the first access
        calls.extend([1] if self._stacked is None else [])
        return original(self)

    monkeypatch.setattr(stacked.Stack, "stacked", property(counted))
    bright = TimeResolvedSpectrumEstimator(time_intervals=make_intervals(3)[:2], selection_optional=["ul"])
    result = bright.run(faint_datasets)
    assert calls == [] and result.meta["ul_shape_source"] == "none" and "ul_shape_index" not in result.meta
    assert list(result.quantity("ul_shape")) == ["bin", "bin"]
    # a checkpoint with the faint bin done: the resumed run gives the shape of its limit
    kwargs = dict(time_intervals=make_intervals(3), selection_optional=["ul"], checkpoint=tmp_path / "ckpt")
    TimeResolvedSpectrumEstimator(**kwargs).run(faint_datasets)
    calls.clear()
    resumed = TimeResolvedSpectrumEstimator(**kwargs).run(faint_datasets)
    assert calls == [1] and resumed.meta["ul_shape_source"] == "stacked"
    assert_allclose(resumed.meta["ul_shape_index"], result_all.meta["ul_shape_index"], rtol=1e-6)
    fallback = ul.FallbackShape(stacked.Stack(list(faint_datasets)), faint_datasets.models[0], None, None)
    monkeypatch.setattr(ul, "fallback_shape", lambda *args: ({0: 2.5}, "stacked"))
    sent = pickle.loads(pickle.dumps(fallback))
    assert fallback.fitted and sent.get() == ({0: 2.5}, "stacked") and sent._arguments is None


def test_upper_limit_is_the_bounded_profile_bound(result_all, faint_datasets):
    """Independently: the statistic at the limit is 4 above its minimum over non-negative norms."""
    dataset = faint_datasets[2].copy(name="faint")
    model = power_law_model()
    model.spectral_model.index.value = result_all.meta["ul_shape_index"]
    dataset.models = model
    amplitude = model.spectral_model.amplitude

    def stat(value):
        amplitude.value = value
        return dataset.stat_sum()

    grid = np.linspace(0, 3e-12, 3001)
    minimum = min(stat(value) for value in grid)
    ul = result_all.quantity("amplitude_ul")[2].to_value(AMPLITUDE_UNIT)
    assert_allclose(stat(ul) - minimum, 4, atol=1e-6)


def test_upper_limit_shape_from_joint_fit_when_not_stackable(caplog):
    """Datasets of different energy axes cannot be stacked: the shape comes from a joint fit."""
    axis = MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", nbin=8)
    first = simulate_onoff_datasets(make_intervals(1), pl(2.8, 1e-10), random_state=2)
    second = simulate_onoff_datasets(
        make_intervals(1, t0=make_intervals(2)[1][0]), pl(2.8, 1e-13),
        energy_axis=axis, random_state=3, name_prefix="other",
    )
    datasets = Datasets(list(first) + list(second))
    datasets.models = power_law_model()
    estimator = TimeResolvedSpectrumEstimator(selection_optional=["ul"])
    with caplog.at_level(logging.INFO, logger="gammapy_trs"):
        result = estimator.run(datasets)
    assert "cannot be stacked" in caplog.text
    assert list(result.quantity("is_ul")) == [False, True]
    joint = copy_for_fit(datasets)
    Fit().run(joint)
    assert_allclose(result.meta["ul_shape_index"], joint.models["source"].spectral_model.index.value)


def test_flux_matches_first_order_propagation(result_all):
    """Analytic integral of a power law and its linear error propagation."""
    model = result_all.models[0].spectral_model
    e1, e2, e0 = 1.0, 10.0, 1.0
    gamma, amplitude = model.index.value, model.amplitude.value

    def flux(g, a):
        return a * e0 / (1 - g) * ((e2 / e0) ** (1 - g) - (e1 / e0) ** (1 - g))

    eps = 1e-6
    grad = np.array(
        [
            (flux(gamma + eps, amplitude) - flux(gamma - eps, amplitude)) / (2 * eps),
            flux(gamma, amplitude) / amplitude,
        ]
    )
    cov = model.covariance.data[:2, :2]  # index, amplitude
    expected_err = np.sqrt(grad @ cov @ grad)
    assert_allclose(result_all.quantity("flux")[0].to_value("cm-2 s-1"), flux(gamma, amplitude), rtol=1e-6)
    assert_allclose(result_all.quantity("flux_err")[0].to_value("cm-2 s-1"), expected_err, rtol=1e-4)
    assert result_all.quantity("eflux").unit == u.Unit("erg cm-2 s-1")


def test_integral_fluxes_without_covariance():
    fluxes = integral_fluxes(pl(2.5, 1e-11), 1 * u.TeV, 10 * u.TeV)
    assert fluxes["flux"] > 0
    assert_allclose(fluxes["flux_err"].value, 0)


def test_round_trip_with_all_steps(result_all, tmp_path):
    for name in ("all.fits", "all.ecsv"):
        result_all.write(tmp_path / name)
        read = TimeResolvedSpectrum.read(tmp_path / name)
        assert read.meta == result_all.meta
        assert read.quantity("is_ul").dtype == bool
        assert_allclose(read.quantity("amplitude_ul"), result_all.quantity("amplitude_ul"))


@pytest.fixture(scope="module")
def curved_datasets():
    """A power-law bin and a strongly curved (log-parabola) bin."""
    truth = [
        pl(2.8, 1e-10),
        LogParabolaSpectralModel(alpha=2.5, beta=0.3, amplitude=1e-10 * AMPLITUDE_UNIT),
    ]
    datasets = simulate_onoff_datasets(make_intervals(2), truth, random_state=8)
    datasets.models = power_law_model()
    return datasets


@pytest.mark.parametrize(
    ("alternative", "ts", "sigma"),
    [
        (
            LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
            [0.3560182, 1465.941],
            [0.596673, 38.2876],
        ),
        (
            ExpCutoffPowerLawSpectralModel(
                index=3, lambda_="0 TeV-1", amplitude="1e-10 cm-2 s-1 TeV-1"
            ),
            [3.72e-7, 1180.150],
            [6.1e-4, 34.35331],
        ),
    ],
)
def test_compare_to(curved_datasets, alternative, ts, sigma):
    estimator = TimeResolvedSpectrumEstimator(compare_to=alternative)
    result = estimator.run(curved_datasets)
    assert result.success.all() and result.quantity("compare_success").all()
    assert_allclose(result.quantity("compare_ts"), ts, rtol=1e-3, atol=1e-5)
    assert_allclose(result.quantity("compare_sigma"), sigma, rtol=1e-3, atol=1e-3)
    p_value = result.quantity("compare_p_value")
    assert p_value[0] > 0.5 and p_value[1] < 1e-200
    assert result.meta["compare_to"] == alternative.tag[0]
    # the source model itself is still the power law
    assert type(result.models[1].spectral_model) is PowerLawSpectralModel


def test_compare_to_must_be_nested(curved_datasets):
    with pytest.raises(ValueError, match="must have more free parameters"):
        TimeResolvedSpectrumEstimator(compare_to=pl(2, 1e-10)).run(curved_datasets)


def test_compare_to_type():
    with pytest.raises(TypeError, match="compare_to must be a SpectralModel or a SkyModel"):
        TimeResolvedSpectrumEstimator(compare_to="LogParabola")


def test_steps_need_a_free_norm(faint_datasets):
    datasets = Datasets([d.copy(name=d.name) for d in faint_datasets])
    model = power_law_model()
    model.spectral_model.amplitude.frozen = True
    datasets.models = model
    with pytest.raises(ValueError, match=r"\['ts'\] needs a free norm parameter"):
        TimeResolvedSpectrumEstimator(selection_optional=["ts"]).run(datasets)


def test_energy_range_checked():
    with pytest.raises(ValueError, match="energy_min .* must be below energy_max"):
        TimeResolvedSpectrumEstimator(energy_min="10 TeV", energy_max="1 TeV")


def test_failed_bin_without_data_gets_nan_steps(faint_datasets):
    datasets = Datasets([d.copy(name=d.name) for d in faint_datasets])
    datasets[1].mask_safe.data[...] = False
    datasets.models = power_law_model()
    result = TimeResolvedSpectrumEstimator(selection_optional="all").run(datasets)
    assert list(result.success) == [True, False, True]
    for name in ("ts", "index_errn", "flux", "amplitude_ul"):
        assert np.isnan(result.quantity(name)[1]), name
    assert not result.quantity("is_ul")[1]
