"""The fit engine: both engines give the same numbers for every step; the compiled one is probed
on each run's first bin and falls back to Gammapy's where it differs."""

import logging
import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel
from gammapy.utils.testing import requires_data
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.engine import (
    CompiledEngine,
    EngineMismatchError,
    GammapyEngine,
    probe_compiled,
    profile_crossing,
    select_engine,
)
from gammapy_trs.estimation.flux_states import fit_flux_states
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from gammapy_trs.utils import gammapy_internals
from conftest import AMPLITUDE_UNIT, make_intervals, power_law_model

EDGES = [0.6, 1.3, 2.8, 6.2, 20] * u.TeV
ALTERNATIVE = LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1")
INTERVALS = make_intervals(6)


def faint_flare():
    """Two bright bins, two faint ones (empty energy bins), one without ON counts, one with one."""
    amplitudes = [1e-10, 1.5e-10, 2e-12, 1e-12, 1e-12, 1e-12]
    truth = [PowerLawSpectralModel(index=3, amplitude=a * AMPLITUDE_UNIT) for a in amplitudes]
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=11)
    datasets[4].counts.data[...] = 0
    datasets[5].counts.data[...] = 0
    datasets[5].counts.data[2] = 1
    datasets.models = power_law_model()
    return datasets


def run(datasets, engine, intervals=INTERVALS, **kwargs):
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals,
        selection_optional="all",
        compare_to=ALTERNATIVE,
        sed_energy_edges=EDGES,
        engine=engine,
        **kwargs,
    )
    return estimator.run(datasets)


def _close(actual, desired, sigma=None, rtol=None, atol=0.0, name=""):
    actual, desired = np.asarray(actual, dtype=float), np.asarray(desired, dtype=float)
    assert_array_equal(np.isnan(actual), np.isnan(desired), err_msg=f"{name}: NaN in one engine only")
    ok = ~np.isnan(desired)
    if sigma is not None:
        sigma = np.asarray(sigma, dtype=float)[ok]
        assert np.all(np.abs(actual[ok] - desired[ok]) <= 0.01 * sigma + atol), name
    if rtol is not None:
        assert_allclose(actual[ok], desired[ok], rtol=rtol, atol=atol, err_msg=name)


def assert_engines_agree(compiled, gammapy):
    """Values within 0.01 sigma, errors and limits within 1%, the same flags."""
    assert compiled.meta["engine"] == "compiled" and gammapy.meta["engine"] == "gammapy"
    for name in ("success", "quality", "is_ul", "ul_shape", "compare_success"):
        assert_array_equal(compiled.quantity(name), gammapy.quantity(name), err_msg=name)
    q = {name: (compiled.quantity(name).value if hasattr(compiled.quantity(name), "value") else compiled.quantity(name),
                gammapy.quantity(name).value if hasattr(gammapy.quantity(name), "value") else gammapy.quantity(name))
         for name in compiled.available_quantities}
    for par in compiled.parameter_names + ["flux", "eflux"]:
        _close(*q[par], sigma=q[f"{par}_err"][1], name=par)
        _close(*q[f"{par}_err"], rtol=0.01, name=f"{par}_err")
    for name in ("index_errn", "index_errp", "amplitude_errn", "amplitude_errp", "amplitude_ul", "flux_ul", "eflux_ul"):
        _close(*q[name], rtol=0.01, name=name)
    for name in ("ts", "stat", "stat_null", "compare_ts", "compare_stat"):
        _close(*q[name], atol=0.01, rtol=0, name=name)
    sed_c, sed_g = compiled.products["sed"], gammapy.products["sed"]
    _close(sed_c["dnde"], sed_g["dnde"], sigma=np.abs(sed_g["dnde_err"]), name="sed dnde")
    for name in ("dnde_err", "dnde_ul"):
        _close(sed_c[name], sed_g[name], rtol=0.01, name=f"sed {name}")
    assert_array_equal(sed_c["is_ul"], sed_g["is_ul"])


@pytest.fixture(scope="module")
def faint():
    datasets = faint_flare()
    logging.disable(logging.WARNING)
    try:
        return datasets, run(datasets, "compiled"), run(datasets, "gammapy")
    finally:
        logging.disable(logging.NOTSET)


def test_both_engines_agree_on_faint_bins(faint):
    _, compiled, gammapy = faint
    assert_engines_agree(compiled, gammapy)
    # the bins without counts, or with one, are flagged: no defended-looking shape, a limit
    assert np.isnan(compiled.quantity("index")[4:]).all()
    assert (compiled.quantity("quality")[4] & 2) and (compiled.quantity("quality")[5] & 4)
    ul = compiled.quantity("amplitude_ul").value
    assert np.all(np.isfinite(ul) & (ul > 0))


def test_empty_energy_bins_have_gammapys_limits(faint):
    """In energy bins without counts the flux points' limits are those of Gammapy's
    FluxPointsEstimator on the bin's datasets and model (run afresh), and positive."""
    from gammapy.estimators import FluxPointsEstimator
    from gammapy_trs.estimation.grouping import group_datasets

    datasets, compiled, _ = faint
    sed = compiled.products["sed"]
    empty = np.argwhere(np.asarray(sed["counts"]) == 0)
    assert len(empty) >= 4
    _, groups = group_datasets(datasets, TimeResolvedSpectrumEstimator(time_intervals=INTERVALS).time_intervals, 1e-6 * u.s)
    for i in sorted({int(i) for i, _ in empty} - {4}):  # bin 4 has no count at all: its model is undefined
        group = Datasets([d.copy(name=d.name) for d in groups[i]])
        model = compiled.models[i].copy(name="source")
        if not np.all(np.isfinite(model.parameters.value)):
            continue
        group.models = [model]
        points = FluxPointsEstimator(energy_edges=EDGES, source="source", selection_optional=["ul"]).run(group)
        for j in np.flatnonzero(np.asarray(sed["counts"][i]) == 0):
            assert sed["dnde_ul"][i][j] > 0
            assert_allclose(sed["dnde_ul"][i][j], points.dnde_ul.quantity.ravel()[j].to_value("cm-2 s-1 TeV-1"), rtol=0.01)


def test_both_engines_agree_on_shared_parameters_and_flux_states(faint):
    datasets = faint[0]
    results = {}
    for engine in ("compiled", "gammapy"):
        estimator = TimeResolvedSpectrumEstimator(
            time_intervals=INTERVALS[:4], shared_parameters=["index"], selection_optional=["errn-errp"], engine=engine
        )
        results[engine] = estimator.run(datasets)
    compiled, gammapy = (results[e].shared_parameters for e in ("compiled", "gammapy"))
    assert abs(compiled["value"][0] - gammapy["value"][0]) < 0.01 * gammapy["error"][0]
    for name in ("error", "errn", "errp"):
        assert_allclose(compiled[name], gammapy[name], rtol=0.01)
    states = {
        engine: fit_flux_states(faint[1], datasets, n_states=2, engine=engine).table for engine in ("compiled", "gammapy")
    }
    c, g = states["compiled"], states["gammapy"]
    assert list(c["bins"]) == list(g["bins"])
    # the faint state has no signal (its fit fails in one engine, its shape is not defended in the other)
    assert np.isnan(c["index"][0]) and np.isnan(g["index"][0])
    assert abs(c["index"][1] - g["index"][1]) < 0.01 * g["index_err"][1]
    assert_allclose(c["index_err"][1], g["index_err"][1], rtol=0.01)
    assert_allclose(c["ts"][1], g["ts"][1], atol=0.01)


def test_the_probe_accepts_the_compiled_engine(faint):
    datasets = faint[0]
    assert probe_compiled(Datasets([datasets[0]]), "source") is None
    assert isinstance(select_engine("auto", Fit(), Datasets([datasets[0]]), "source"), CompiledEngine)
    # a Fit subclass, or Gammapy asked for: Gammapy's engine
    class MyFit(Fit):
        pass

    assert isinstance(select_engine("auto", MyFit(), Datasets([datasets[0]]), "source"), GammapyEngine)
    assert isinstance(select_engine("gammapy"), GammapyEngine)
    with pytest.raises(ValueError, match=r"engine must be one of \('auto', 'compiled', 'gammapy'\), got 'fast'"):
        TimeResolvedSpectrumEstimator(engine="fast")


def _renamed(*args, **kwargs):
    raise AttributeError("'MapEvaluator' object has no attribute '_norm_idx'")


def test_a_renamed_internal_falls_back_to_gammapy(monkeypatch, flare_datasets, flare_intervals, caplog):
    """An internal the compiled engine needs is gone: an "auto" run falls back to the Gammapy
    engine, with one warning, and gives its numbers, with no failed bin."""
    kwargs = dict(time_intervals=flare_intervals[:2], selection_optional=["ts", "errn-errp", "flux"])
    expected = TimeResolvedSpectrumEstimator(engine="gammapy", **kwargs).run(flare_datasets)
    monkeypatch.setattr(gammapy_internals, "evaluator_norm_index", _renamed)
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result = TimeResolvedSpectrumEstimator(**kwargs).run(flare_datasets)
    warnings = [r.message for r in caplog.records if "compiled engine differs" in r.message]
    assert len(warnings) == 1 and "_norm_idx" in warnings[0]
    assert result.meta["engine"] == "gammapy"
    assert result.success.all()
    for name in ("index", "index_err", "amplitude", "index_errn", "index_errp", "ts", "flux", "flux_err"):
        assert_allclose(result.quantity(name), expected.quantity(name), rtol=1e-10, err_msg=name)
    with pytest.raises(EngineMismatchError, match="differs from Gammapy on the first bin.*_norm_idx"):
        TimeResolvedSpectrumEstimator(engine="compiled", **kwargs).run(flare_datasets)


def test_a_different_statistic_falls_back_to_gammapy(monkeypatch, flare_datasets, flare_intervals, caplog):
    from gammapy_trs.engine import statistic

    original = statistic._Spectrum.stat
    monkeypatch.setattr(statistic._Spectrum, "stat", lambda self, mu: original(self, mu) + 1e-3)
    assert "compiled statistic" in probe_compiled(Datasets([flare_datasets[0]]), "source")
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result = TimeResolvedSpectrumEstimator(time_intervals=flare_intervals).run(flare_datasets)
    assert result.meta["engine"] == "gammapy"


def test_an_interval_the_profile_does_not_close_is_nan(flare_datasets):
    """Where the profile does not reach its level within the parameter's bounds, no end."""
    engine = GammapyEngine()
    copies = engine.copy(Datasets([flare_datasets[0]]))
    engine.run(copies)
    index = copies.models["source"].spectral_model.index
    best, error = index.value, index.error
    index.max = best + 0.5 * error
    level = engine.stat_sum(copies) + 1
    assert np.isnan(profile_crossing(engine, copies, index, level, 1, error))
    assert_allclose(profile_crossing(engine, copies, index, level, -1, error), error, rtol=0.1)
    assert index.value == best and not index.frozen  # left as found


@requires_data()
def test_both_engines_agree_on_the_pks2155_night(pks2155_slice_by_slice):
    from gammapy_trs.samples.pks2155 import reference_intervals, reference_model

    datasets = Datasets([d.copy(name=d.name) for d in pks2155_slice_by_slice])
    datasets.models = reference_model()
    intervals = [reference_intervals()[i] for i in (0, 4)]  # the faint start and the peak of the flare
    compiled, gammapy = (run(datasets, engine, intervals=intervals) for engine in ("compiled", "gammapy"))
    assert_engines_agree(compiled, gammapy)
