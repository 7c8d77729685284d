"""The joint likelihood across bins: shared parameters, likelihood-ratio tests, flux states."""

import pickle
import numpy as np
import pytest
import astropy.units as u
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.modeling import Fit
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import LawFit, ShapeBlocks, TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.engine import CompiledEngine, GammapyEngine
from gammapy_trs.estimation.shared import start_from_bins
from gammapy_trs.estimation.flux_states import fit_flux_states, group_by_flux
from gammapy_trs.result.flux_states import FluxStates
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, TRUE_AMPLITUDE, TRUE_INDEX, make_intervals, power_law_model

INTERVALS = make_intervals(6)


def flare(index=None, random_state=0):
    indices = TRUE_INDEX if index is None else [index] * len(TRUE_AMPLITUDE)
    truth = [PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT) for i, a in zip(indices, TRUE_AMPLITUDE)]
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=random_state)
    datasets.models = power_law_model()
    return datasets


@pytest.fixture(scope="module")
def constant():
    return flare(index=3.0)


@pytest.fixture(scope="module")
def shared_result(constant):
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=INTERVALS, shared_parameters=["index"], selection_optional=["errn-errp", "ts"]
    )
    return estimator.run(constant)


@pytest.fixture(scope="module")
def brute_force(constant):
    """The same joint likelihood fitted directly: one power law per bin, the index linked."""
    joint = Datasets([d.copy(name=d.name) for d in constant])
    models, index = [], None
    for dataset in joint:
        model = power_law_model(name=f"source-{dataset.name}")
        model.datasets_names = [dataset.name]
        if index is None:
            index = model.spectral_model.index
        else:
            model.spectral_model.index = index
        models.append(model)
    joint.models = models
    fit = Fit()
    result = fit.run(joint)
    interval = fit.confidence(joint, index, sigma=1)
    return dict(value=index.value, error=index.error, stat=result.total_stat, **interval)


def test_shared_parameter_equals_the_joint_fit(shared_result, brute_force):
    table = shared_result.shared_parameters
    assert list(table["name"]) == ["index"]
    assert_allclose(table["value"][0], brute_force["value"], atol=0.01 * brute_force["error"])
    assert_allclose(table["error"][0], brute_force["error"], rtol=1e-4)
    assert_allclose(table["errn"][0], brute_force["errn"], rtol=0.03)
    assert_allclose(table["errp"][0], brute_force["errp"], rtol=0.03)
    assert_allclose(shared_result.meta["stat_joint"], brute_force["stat"], atol=0.01)
    assert_allclose(shared_result.quantity("stat").sum(), brute_force["stat"], atol=0.01)
    assert shared_result.parameter_names == ["amplitude"]
    assert list(shared_result.quantity("n_free")) == [1] * 6
    assert shared_result.meta["shared_success"] and shared_result.meta["shared_iterations"] <= 6
    # the per-bin norms are fitted with the index at its shared value
    for model in shared_result.models:
        assert model.spectral_model.index.frozen
        assert_allclose(model.spectral_model.index.value, table["value"][0])


def test_shared_parameters_in_every_format(shared_result, tmp_path):
    for name in ("shared.fits", "shared.ecsv", "shared.fits.gz"):
        shared_result.write(tmp_path / name)
        read = TimeResolvedSpectrum.read(tmp_path / name)
        assert read.shared_parameters.colnames == shared_result.shared_parameters.colnames
        for column in ("value", "error", "errn", "errp", "value_stacked", "error_stacked"):
            assert_allclose(read.shared_parameters[column], shared_result.shared_parameters[column])
        assert list(read.shared_parameters["name"]) == ["index"]
    assert "index = 3.08 +- 0.042 (stacked: 3.081 +- 0.042)" in str(shared_result)
    # a table without the _stacked columns (files of earlier versions)
    columns = ["name", "value", "error", "errn", "errp", "unit"]
    earlier = TimeResolvedSpectrum.from_table(
        shared_result.to_table(), shared_result.models, shared_parameters=shared_result.shared_parameters[columns]
    )
    assert "shared         : index = 3.08 +- 0.042\n" in str(earlier)


def test_shared_parameters_with_the_stacked_fit(constant, shared_result):
    """The ``_stacked`` columns are Gammapy's fit of the bins' datasets stacked; NaN where that fit fails."""
    stacked = Datasets([constant.stack_reduce(name="stacked")])
    stacked.models = power_law_model()
    assert Fit().run(stacked).success
    index = stacked.models[0].spectral_model.index
    table = shared_result.shared_parameters
    assert_allclose(table["value_stacked"][0], index.value, atol=0.01 * index.error)
    assert_allclose(table["error_stacked"][0], index.error, rtol=0.01)

    class StackedFitFails(Fit):
        def run(self, datasets):
            if datasets.names == ["all-bins"]:
                raise RuntimeError("no convergence")
            return super().run(datasets)

    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=INTERVALS, shared_parameters=["index"], fit=StackedFitFails()
    )
    failed = estimator.run(constant).shared_parameters
    assert np.isnan(failed["value_stacked"][0]) and np.isnan(failed["error_stacked"][0])
    assert_allclose(failed["value"][0], table["value"][0], atol=0.01 * table["error"][0])


def test_likelihood_ratio_of_constant_and_varying_index(constant):
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS)
    test = estimator.test_variability(constant, ["index"])
    assert test["dof"] == 5 and test["n_bins"] == 6
    stat_null = test["null"].quantity("stat").sum()
    stat_alt = test["alternative"].quantity("stat").sum()
    assert_allclose(test["ts"], stat_null - stat_alt)
    assert_allclose(test["ts"], 3.4688, atol=0.02)
    assert test["p_value"] > 0.5
    varying = estimator.test_variability(flare(), ["index"])
    assert varying["p_value"] < 1e-3
    assert varying["significance"] > 3.5
    # the order of the two results does not matter
    swapped = test["alternative"].likelihood_ratio(test["null"])
    assert_allclose(swapped["ts"], test["ts"])


def test_likelihood_ratio_errors(constant, shared_result):
    free = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS).run(constant)
    with pytest.raises(ValueError, match="not nested"):
        free.likelihood_ratio(free)
    with pytest.raises(ValueError, match="not on the same time bins"):
        free.likelihood_ratio(shared_result.slice_by_idx(slice(0, 3)))
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, shared_parameters=["beta"])
    with pytest.raises(ValueError, match=r"shared_parameters \['beta'\] are not free parameters"):
        estimator.run(constant)
    with pytest.raises(ValueError, match=r"needs a norm free in each bin; shared_parameters"):
        TimeResolvedSpectrumEstimator(
            time_intervals=INTERVALS, shared_parameters=["index", "amplitude"], selection_optional=["ts"]
        ).run(constant)
    with pytest.raises(ValueError, match="are shared already"):
        TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, shared_parameters=["index"]).test_variability(constant, "index")


def test_one_spectrum_for_the_whole_period(constant):
    """Every free parameter shared: one spectrum over all bins, Gammapy's fit of all datasets jointly."""
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, shared_parameters=["index", "amplitude"])
    result = estimator.run(constant)
    joint = Datasets([d.copy(name=d.name) for d in constant])
    joint.models = power_law_model()
    direct = Fit().run(joint)
    model = joint.models[0].spectral_model
    table = result.shared_parameters
    errors = np.array([model.index.error, model.amplitude.error])
    assert np.all(np.abs(table["value"] - [model.index.value, model.amplitude.value]) < 0.05 * errors)
    assert_allclose(table["error"], errors, rtol=0.05)
    assert result.parameter_names == []
    assert_allclose(result.quantity("stat").sum(), direct.total_stat, atol=0.01)
    assert list(result.quantity("n_free")) == [0] * 6
    # the shared values as per-bin columns, for tables and plots
    assert_allclose(result.quantity("index").value, table["value"][0])
    assert_allclose(result.quantity("amplitude_err").value, table["error"][1])
    test = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS).test_variability(constant, "all")
    assert test["dof"] == 10 and test["n_bins"] == 6
    assert_allclose(test["ts"], test["null"].quantity("stat").sum() - test["alternative"].quantity("stat").sum())


@pytest.mark.parametrize("start", [None, (3e-10,)])
def test_compiled_conditional_fits_equal_gammapys(constant, start):
    """The conditional fits of the joint likelihood on one compiled statistic per bin (analytic
    gradient by the shared parameter) equal Gammapy's fits with differenced gradients."""
    group = Datasets([constant[2]])
    index = group.models["source"].parameters.names.index("index")
    points, deltas = ((2.8,), (3.0,), (3.3,)), (1e-4,)
    gammapy = GammapyEngine().tightened(0.01).conditional_minima(group, "source", (index,), points, start, deltas)
    engine = CompiledEngine().tightened(0.01)
    compiled = engine.conditional_minima(group, "source", (index,), points, start, deltas)
    for (ok_g, stat_g, values_g, grad_g), (ok_c, stat_c, values_c, grad_c) in zip(gammapy, compiled):
        assert ok_g and ok_c
        assert_allclose(stat_c, stat_g, atol=1e-4)
        assert_allclose(values_c, values_g, rtol=1e-3)
        assert_allclose(grad_c, grad_g, rtol=2e-3)
    # the copies serve the next call; an engine sent to another process leaves them behind
    assert engine.conditional_minima(group, "source", (index,), points, start, deltas) == compiled
    sent = pickle.loads(pickle.dumps(engine))
    assert_allclose(sent.conditional_minima(group, "source", (index,), points, start, deltas)[1][1], compiled[1][1])
    # the bin's own model is not changed
    assert group.models["source"].spectral_model.index.value == 3.0
    assert not group.models["source"].spectral_model.index.frozen


def differences_only(monkeypatch):
    """Joint fits on differences of the gradient, as where the curvature is not known."""
    from gammapy_trs.estimation import joint

    original = joint.JointProfile.__init__

    def without_curvature(self, *args, **kwargs):
        original(self, *args, **kwargs)
        self.exact = False

    monkeypatch.setattr(joint.JointProfile, "__init__", without_curvature)


def test_conditional_curvature_equals_differences_of_the_gradient(constant):
    """The compiled engine's curvature of a bin's best statistic by the shared index (implicit
    function theorem, one conditional fit) equals central differences of the conditional
    gradient; Gammapy's engine does not give it (the joint fit then takes differences)."""
    group = Datasets([constant[2]])
    index = group.models["source"].parameters.names.index("index")
    engine = CompiledEngine().tightened(0.01)
    assert engine.exact_curvature and not GammapyEngine.exact_curvature
    ok, stat, values, gradient, curvature = engine.conditional_curvature(group, "source", (index,), (3.0,), None, (1e-4,))
    h = 1e-3
    minima = engine.conditional_minima(group, "source", (index,), ((3.0,), (3 + h,), (3 - h,)), None, (1e-4,))
    assert ok and curvature.shape == (1, 1) and curvature[0, 0] > 0
    assert_allclose(curvature[0, 0], (minima[1][3][0] - minima[2][3][0]) / (2 * h), rtol=1e-4)
    assert_allclose([stat, gradient[0]], [minima[0][1], minima[0][3][0]], rtol=1e-8)
    assert GammapyEngine().conditional_curvature(group, "source", (index,), (3.0,), None, (1e-4,))[4] is None


def test_shared_fit_with_and_without_exact_curvature(constant, shared_result, monkeypatch):
    """The joint fit on the exact curvature (the compiled engine) and on differences of the
    gradient (where it is not known) reach the same minimum and errors."""
    differences_only(monkeypatch)
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=INTERVALS, shared_parameters=["index"], selection_optional=["errn-errp", "ts"]
    )
    differences = estimator.run(constant)
    exact, by_differences = shared_result.shared_parameters, differences.shared_parameters
    error = float(by_differences["error"][0])
    assert_allclose(float(exact["value"][0]), float(by_differences["value"][0]), atol=1e-3 * error)
    # the differences over a fraction of an error: 0.2% off Gammapy's HESSE of the direct joint fit,
    # where the exact curvature is within 1e-4 of it (test_shared_parameter_equals_the_joint_fit)
    assert_allclose(float(exact["error"][0]), error, rtol=3e-3)
    assert_allclose(shared_result.meta["stat_joint"], differences.meta["stat_joint"], atol=1e-4)
    assert shared_result.meta["shared_iterations"] <= differences.meta["shared_iterations"] + 1


def test_curvature_unknown_at_a_limit_falls_back_to_differences(monkeypatch):
    """A bin whose norm sits at its lower limit (0, a negative excess) has no exact curvature:
    the joint fit takes differences of the gradient from then on, and ends where a fit on
    differences alone ends."""
    from gammapy_trs.estimation import joint

    truth = [PowerLawSpectralModel(index=3, amplitude=a * AMPLITUDE_UNIT) for a in (2e-10, 1.5e-10, 1e-16)]
    datasets = simulate_onoff_datasets(make_intervals(3), truth, random_state=2)
    model = power_law_model()
    model.spectral_model.amplitude.min = 0
    datasets.models = model
    index = model.parameters.names.index("index")
    faint = Datasets([datasets[2]])
    ok, _, values, _, curvature = CompiledEngine().conditional_curvature(faint, "source", (index,), (3.0,), None, (1e-4,))
    assert ok and values[0] < 1e-15 and curvature is None  # the norm at its limit (0)
    exact_flags = []
    original = joint._Newton._exact

    def recorded(self, profile, center):
        measured = original(self, profile, center)
        exact_flags.append(measured is not None)
        return measured

    monkeypatch.setattr(joint._Newton, "_exact", recorded)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=make_intervals(3), shared_parameters=["index"])
    result = estimator.run(datasets)
    assert exact_flags == [False] and result.meta["shared_success"]  # tried once, then differences
    differences_only(monkeypatch)
    differences = estimator.run(datasets)
    assert_allclose(result.shared_parameters["value"][0], differences.shared_parameters["value"][0], rtol=1e-6)
    assert_allclose(result.shared_parameters["error"][0], differences.shared_parameters["error"][0], rtol=1e-6)


def test_variability_null_starts_from_the_bins(constant):
    """Given the run with the parameter free, the null hypothesis' fit starts from the bins'
    weighted mean (no stacked fit) and reaches the same joint likelihood."""
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS)
    free = estimator.run(constant)
    value, error = free.quantity("index").value, free.quantity("index_err").value
    weights = error**-2
    start = start_from_bins(free, ["index"])
    assert_allclose(start[0], [np.sum(weights * value) / np.sum(weights)], rtol=1e-12)
    assert_allclose(start[1], [np.sum(weights) ** -0.5], rtol=1e-12)
    test = estimator.test_variability(constant, ["index"], alternative=free)
    null = test["null"].shared_parameters
    assert np.isnan(null["value_stacked"][0]) and np.isnan(null["error_stacked"][0])
    stacked_start = TimeResolvedSpectrumEstimator(
        time_intervals=INTERVALS, shared_parameters=["index"], selection_optional=None
    ).run(constant)
    reference = stacked_start.shared_parameters
    assert_allclose(null["value"][0], reference["value"][0], atol=0.01 * reference["error"][0])
    assert_allclose(null["error"][0], reference["error"][0], rtol=0.01)
    assert_allclose(test["null"].quantity("stat").sum(), stacked_start.quantity("stat").sum(), atol=1e-3)


def test_shared_fit_in_parallel_equals_serial(constant, shared_result):
    estimator = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, shared_parameters=["index"], n_jobs=2)
    result = estimator.run(constant)
    assert_allclose(result.shared_parameters["value"], shared_result.shared_parameters["value"], rtol=1e-6)


def test_group_by_flux():
    flux = np.array([5.0, 1.0, 3.0, np.nan, 2.0, 4.0])
    assert list(group_by_flux(flux, n_states=2)) == [1, 0, 0, -1, 0, 1]
    assert list(group_by_flux(flux, method="thresholds", thresholds=[2.5])) == [1, 0, 1, -1, 0, 1]
    errors = np.full(6, 0.1)
    states = group_by_flux(np.array([1, 1, 1, 5, 5, 5.0]), errors, np.arange(6), method="bayesian-blocks")
    assert list(states) == [0, 0, 0, 1, 1, 1]
    with pytest.raises(ValueError, match="method must be one of"):
        group_by_flux(flux, method="kmeans")


def test_flux_states(tmp_path):
    datasets = flare()
    result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS).run(datasets)
    states = fit_flux_states(result, datasets, n_states=3)
    assert len(states) == 3
    assert [states.bins(i) for i in range(3)] == [[0, 5], [1, 4], [2, 3]]
    assert np.all(np.diff(states.table["flux"]) > 0)
    # the harder-when-brighter flare: the index falls with the state's flux
    assert np.all(np.diff(states.table["index"]) < 0)
    stacked = Datasets([datasets[2], datasets[3]]).stack_reduce()
    copy = stacked.copy(name="check")
    copy.models = power_law_model()
    Fit().run([copy])
    assert_allclose(states.table["index"][2], copy.models[0].spectral_model.index.value, rtol=1e-3)
    assert np.all(states.table["sqrt_ts"] > 20)
    with mpl_plot_check():
        states.plot("index")
    states.write(tmp_path / "states.ecsv")
    read = FluxStates.read(tmp_path / "states.ecsv")
    assert_allclose(read.table["index"], states.table["index"])
    assert read.parameter_names == ["index", "amplitude"]
    # an energy range given as quantities: the states' fluxes in it
    wide = fit_flux_states(result, datasets, n_states=3, energy_min=0.4 * u.TeV, energy_max=20 * u.TeV)
    assert wide.table.meta["ENERGY_RANGE"] == "0.4-20 TeV"
    model = wide.models[2].spectral_model
    assert_allclose(wide.table["flux"][2], model.integral(0.4 * u.TeV, 20 * u.TeV).to_value(wide.table["flux"].unit))
    # datasets that leave a bin empty: each state is grouped on its own bins (as before the bins
    # were grouped once for all states), the empty bin's state stacks the datasets it has
    partial = Datasets([d for idx, d in enumerate(datasets) if idx != 5])
    partial.models = datasets.models
    fewer = fit_flux_states(result, partial, n_states=3)
    assert list(fewer.table["n_datasets"]) == [1, 2, 2]
    assert_allclose(fewer.table["index"][1:], states.table["index"][1:], rtol=1e-6)


from test_config import demo_config, demo_store  # noqa: E402,F401 -- the fixture


def test_config_and_cli(demo_store, tmp_path):  # noqa: F811 -- the fixture
    import yaml
    from click.testing import CliRunner
    from gammapy_trs.app.cli import cli

    config = demo_config(demo_store, tmp_path / "out", method="fixed", width="10 min")
    data = yaml.safe_load(config.model_dump_json())
    data["time_resolved"]["estimator"].update(
        shared_parameters=[],
        test_variability=["index"],
        flux_states=dict(method="quantiles", n_states=2),
        change_points=dict(parameters="index", p0=0.05),
        laws=[dict(parameter="index", covariate="flux", n_simulations=2), dict(parameter="index", covariate="time")],
    )
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 0, result.output
    assert "Variability of index (likelihood ratio): TS = " in result.output
    assert "Flux states:" in result.output
    written = TimeResolvedSpectrum.read(tmp_path / "out" / "time_resolved_spectrum.ecsv")
    assert written.meta["variability_dof"] == written.n_bins - 1
    states = FluxStates.read(tmp_path / "out" / "flux_states.ecsv")
    assert len(states) == 2 and (tmp_path / "out" / "flux_states.png").exists()
    blocks = ShapeBlocks.read(tmp_path / "out" / "shape_blocks.ecsv")
    assert "ShapeBlocks of ['index']" in result.output and (tmp_path / "out" / "shape_blocks.png").exists()
    assert blocks.table.meta["N_BINS"] == written.n_bins and blocks.table.meta["P0"] == 0.05
    for covariate in ("flux", "time"):
        law = LawFit.read(tmp_path / "out" / f"law_index_{covariate}.ecsv")
        assert law.meta["COVARIATE"] == covariate and (tmp_path / "out" / f"law_index_{covariate}.png").exists()
        assert law.meta["FORMULA"] in result.output and law.meta["N_BINS"] == written.n_bins
        assert ("P_SHARED_SIM" in law.meta) == (covariate == "flux")  # n_simulations given for the flux
    assert "against shared, by 2 simulations: p " in result.output
    # these 40 minutes are before the demo flare's peak: the index hardly changes
    assert 0.05 < written.meta["variability_p_value"] <= 1
    data["time_resolved"]["estimator"].update(
        shared_parameters=["index"], test_variability=[], flux_states=None, change_points=None, laws=[]
    )
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["run", str(path), "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "shared         : index = " in result.output
