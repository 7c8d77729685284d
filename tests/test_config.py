"""Configuration files (Gammapy's AnalysisConfig plus ``time_resolved``), ``gammapy-trs config`` / ``run``."""

import logging
import time
import numpy as np
from pathlib import Path
import astropy.units as u
import pytest
import yaml
from click.testing import CliRunner
from numpy.testing import assert_allclose
from gammapy.analysis import AnalysisConfig
from gammapy.utils.testing import requires_data
from gammapy_trs.app.analysis import run_analysis
from gammapy_trs.app.cli import cli
from gammapy_trs.app.config import DEFAULT_CONFIG, ConfigError, TRSConfig
from gammapy_trs.samples.demo_data import DEMO_SOURCE, simulate_demo_data_store

EXAMPLES = Path(__file__).parent.parent / "examples"
EXAMPLE = EXAMPLES / "pks2155_flare.yaml"

DEMO_MODELS = {
    "components": [
        {
            "name": "flare",
            "type": "SkyModel",
            "spectral": {
                "type": "PowerLawSpectralModel",
                "parameters": [
                    {"name": "index", "value": 3.0},
                    {"name": "amplitude", "value": 1e-10, "unit": "cm-2 s-1 TeV-1"},
                    {"name": "reference", "value": 1.0, "unit": "TeV"},
                ],
            },
        }
    ]
}


def test_default_config_is_valid():
    config = TRSConfig.from_yaml(DEFAULT_CONFIG)
    assert config.time_resolved.binning.method == "fixed"
    assert config.time_resolved.binning.width == "900.0 s"
    assert config.datasets.geom.axes.energy.min == 0.4 * u.TeV
    assert config.datasets.safe_mask.parameters == {"aeff_percent": 10}
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 0 and result.output == DEFAULT_CONFIG


def test_config_written_to_a_file(tmp_path):
    path = tmp_path / "config.yaml"
    assert CliRunner().invoke(cli, ["config", "--filename", str(path)]).exit_code == 0
    assert path.read_text() == DEFAULT_CONFIG
    again = CliRunner().invoke(cli, ["config", "--filename", str(path)])
    assert again.exit_code == 1 and "exists: use --overwrite" in again.output
    assert CliRunner().invoke(cli, ["config", "--filename", str(path), "--overwrite"]).exit_code == 0


def test_a_gammapy_analysis_config_plus_time_resolved_is_a_config(tmp_path):
    """Gammapy's own YAML (every section, as AnalysisConfig writes it) plus a time_resolved section."""
    gammapy_yaml = AnalysisConfig().to_yaml()
    config = TRSConfig.from_yaml(gammapy_yaml + "\ntime_resolved:\n  binning: {method: observation}\n")
    assert config.time_resolved.binning.method == "observation"
    assert config.datasets.type == "1d"
    written = tmp_path / "config.yaml"
    config.write(written)
    assert TRSConfig.read(written).time_resolved.binning.method == "observation"


def test_example_config_is_valid():
    config = TRSConfig.read(EXAMPLE)
    assert config.time_resolved.estimator.compare_to == "LogParabola"
    assert config.resolve_path(config.general.models_file) == EXAMPLES / "pks2155_models.yaml"
    assert TRSConfig.read(EXAMPLES / "pks2155_flare_3d.yaml").datasets.type == "3d"


def with_change(keys, value):
    data = yaml.safe_load(DEFAULT_CONFIG)
    section = data
    for key in keys[:-1]:
        section = section[key]
    section[keys[-1]] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("keys", "value", "message"),
    [
        (("time_resolved", "binning", "colour"), "red", "time_resolved.binning.colour: unknown field"),
        (("time_resolved", "binning", "method"), "weekly", "time_resolved.binning.method: Input should be 'fixed'"),
        (("time_resolved", "binning", "width"), "fifteen", "time_resolved.binning.width: expected a quantity in s"),
        (("time_resolved", "binning", "start"), "yesterday", "time_resolved.binning.start: expected a time"),
        (("datasets", "geom", "axes", "energy", "nbins"), "ten", "datasets.geom.axes.energy.nbins: Input should be"),
        (("datasets", "type"), "2d", "datasets.type: Input should be '1d' or '3d'"),
        (("general", "n_jobs"), "many", "general.n_jobs: Input should be a valid integer"),
        (
            ("time_resolved", "estimator", "selection_optional"),
            ["limits"],
            "time_resolved.estimator.selection_optional.0: Input should be",
        ),
        (("datasets", "on_region"), None, "datasets.on_region: Input should be a valid dictionary"),
        (("observations", "colour"), "red", "observations.colour: unknown field"),
    ],
)
def test_config_errors_name_the_field(keys, value, message):
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        TRSConfig.from_yaml(with_change(keys, value))
    assert message in str(error.value)


def test_bad_yaml_and_missing_file():
    with pytest.raises(ConfigError, match="not valid YAML"):
        TRSConfig.from_yaml("general: [unclosed")
    with pytest.raises(ConfigError, match="must be a YAML mapping"):
        TRSConfig.from_yaml("- a list")
    with pytest.raises(ConfigError, match="no configuration file"):
        TRSConfig.read("/no/such/config.yaml")


def test_cli_reports_errors_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(with_change(("time_resolved", "binning", "width"), "fifteen"))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1
    assert "time_resolved.binning.width: expected a quantity in s" in result.output
    assert "Traceback" not in result.output


def test_missing_data_store(tmp_path):
    config = TRSConfig.from_yaml(with_change(("observations", "datastore"), str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="observations.datastore: no data store"):
        run_analysis(config, output=tmp_path / "out")


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    simulate_demo_data_store(path, n_observations=2, duration=20 * u.min, random_state=2)
    return path


def demo_config(store, output, **binning):
    """The default configuration on the simulated data store, with the binning given."""
    data = yaml.safe_load(DEFAULT_CONFIG)
    data["general"]["outdir"] = str(output)
    data["observations"] = dict(datastore=str(store), required_irf=["aeff", "edisp", "bkg"])
    lon, lat = f"{DEMO_SOURCE.ra.deg} deg", f"{DEMO_SOURCE.dec.deg} deg"
    data["datasets"]["on_region"] = dict(frame="icrs", lon=lon, lat=lat, radius="0.11 deg")
    data["datasets"]["containment_correction"] = False
    data["datasets"]["geom"]["axes"] = dict(
        energy=dict(min="0.3 TeV", max="30 TeV", nbins=12),
        energy_true=dict(min="0.1 TeV", max="60 TeV", nbins=24),
    )
    data["time_resolved"]["models"] = DEMO_MODELS
    data["time_resolved"]["binning"] = dict(binning)
    data["time_resolved"]["output"] = dict(format="ecsv", plots=True)
    return TRSConfig(**data)


@pytest.mark.parametrize(
    ("binning", "n_bins"),
    [
        (dict(method="fixed", width="10 min"), 5),  # 41 min of data: the last bin is 1 min
        (dict(method="observation"), 2),
        (dict(method="bayesian-blocks", p0=0.01), None),
        (dict(method="adaptive", width="2 min", threshold=15), None),
    ],
)
def test_run_on_simulated_data(demo_store, tmp_path, binning, n_bins):
    config = demo_config(demo_store, tmp_path, **binning)
    out = run_analysis(config)
    result = out.result
    assert result.success.all()
    if n_bins:
        assert result.n_bins == n_bins
    else:
        assert result.n_bins >= 2
    if binning["method"] == "adaptive":
        assert (result.quantity("sqrt_ts") >= 15).all()
    names = ["time_resolved_spectrum.ecsv", "provenance.yaml", "summary.png", "parameters.png", "hysteresis.png", "spectra.png"]
    assert [path.name for path in out.files] == names
    assert all(path.exists() for path in out.files)
    from gammapy_trs.app.analysis import read_provenance

    provenance = read_provenance(out.files[0].parent)
    assert provenance["observations"] == "1000, 1001" and provenance["datasets"] == sum(result.quantity("n_datasets"))
    assert TRSConfig.from_yaml(provenance["configuration"]).time_resolved.binning.method == binning["method"]


def test_models_file_fit_range_and_overwrite(demo_store, tmp_path):
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(DEMO_MODELS))
    config = demo_config(demo_store, tmp_path / "out", method="observation")
    config.time_resolved.models = None
    config.general.models_file = str(models)
    config.fit.fit_range = {"min": "1 TeV", "max": "10 TeV"}
    result = run_analysis(config).result
    with_range = result.quantity("counts")
    full = run_analysis(demo_config(demo_store, tmp_path / "full", method="observation")).result
    assert (with_range < full.quantity("counts")).all()
    with pytest.raises(ConfigError, match="exists: use --overwrite"):
        run_analysis(config)
    run_analysis(config, overwrite=True)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (dict(models=None), "give either general.models_file"),
        (dict(source="crab"), r"time_resolved.estimator.source: no model 'crab'"),
        (dict(background="ring"), "'ring' is not available for a 1d time-resolved analysis"),
        (dict(containment=True), "containment_correction needs a PSF"),
        (dict(models={"components": [{"name": "x", "type": "SkyModel", "spectral": {"type": "Nope"}}]}),
         "time_resolved.models: not valid Gammapy models"),
    ],
)
def test_configuration_errors_at_run(demo_store, tmp_path, change, message):
    config = demo_config(demo_store, tmp_path, method="observation")
    if "models" in change:
        config.time_resolved.models = change["models"]
    if "source" in change:
        config.time_resolved.estimator.source = change["source"]
    if "background" in change:
        config.datasets.background.method = change["background"]
    if "containment" in change:
        config.datasets.containment_correction = True
    start = time.perf_counter()
    with pytest.raises(ConfigError, match=message):
        run_analysis(config)
    assert time.perf_counter() - start < 10  # refused before the reduction


def test_cli_run_output_overwrite_and_files(demo_store, tmp_path):
    path = tmp_path / "config.yaml"
    demo_config(demo_store, tmp_path / "unused", method="observation").write(path)
    args = ["run", str(path), "--output", str(tmp_path / "out"), "--no-progress"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "Wrote:" in result.output and str(tmp_path / "out" / "summary.png") in result.output
    assert " ± " in result.output  # values with their errors, rounded
    assert not (tmp_path / "unused").exists()
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 1 and "exists: use --overwrite" in again.output
    assert CliRunner().invoke(cli, args + ["--overwrite"]).exit_code == 0


def test_help_does_not_import_gammapy():
    import subprocess
    import sys

    code = (
        "import sys; from gammapy_trs.app.cli import cli; "
        "print(any(name.startswith('gammapy.') or name == 'gammapy' for name in sys.modules))"
    )
    output = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert output.stdout.strip() == "False"


def test_program_ends_without_collecting(monkeypatch):
    """The installed program is `main`: the command line, and `gc.freeze` at exit (an analysis
    leaves many objects for the collector to walk when the interpreter ends)."""
    import gc
    from pathlib import Path
    from gammapy_trs.app import cli as cli_module

    pyproject = (Path(__file__).parents[1] / "pyproject.toml").read_text()
    assert '\ngammapy-trs = "gammapy_trs.app.cli:main"\n' in pyproject
    registered, called = [], []
    monkeypatch.setattr(cli_module.atexit, "register", registered.append)
    monkeypatch.setattr(cli_module, "cli", lambda: called.append(True))
    cli_module.main()
    assert registered == [gc.freeze] and called == [True]


@requires_data()
def test_run_example_reproduces_the_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(EXAMPLE), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "4.01 ± 0.35" in result.output and "compare_sigma" in result.output
    from gammapy_trs import TimeResolvedSpectrum

    spectrum = TimeResolvedSpectrum.read(tmp_path / "pks2155-output" / "time_resolved_spectrum.fits")
    table = spectrum.to_table()
    assert len(table) == 24
    assert_allclose([table["index"][0], table["index_err"][0]], [4.009, 0.353], atol=5e-4)
    assert_allclose([table["amplitude"][0], table["amplitude_err"][0]], [1.022e-10, 1.292e-11], rtol=1e-3)
    assert_allclose(table["compare_sigma"][4], 4.205, rtol=2e-3)


def test_cli_reports_analysis_errors_without_traceback(demo_store, tmp_path):
    data = yaml.safe_load(demo_config(demo_store, tmp_path, method="fixed").model_dump_json())
    data["time_resolved"]["binning"].update(start="2020-01-01T00:00", stop="2020-01-01T01:00")
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1
    assert "no observation overlaps the bins (2020-01-01T00:00:00.000 - 2020-01-01T01:00:00.000)" in result.output
    assert "Traceback" not in result.output


def test_a_config_written_by_gammapy_runs(demo_store, tmp_path):
    """An AnalysisConfig made and written with Gammapy's API, plus a time_resolved section."""
    gammapy_config = AnalysisConfig()
    gammapy_config.general.outdir = str(tmp_path / "out")
    gammapy_config.observations.datastore = str(demo_store)
    gammapy_config.observations.required_irf = ["aeff", "edisp", "bkg"]
    gammapy_config.datasets.type = "1d"
    gammapy_config.datasets.on_region = dict(
        frame="icrs", lon=f"{DEMO_SOURCE.ra.deg} deg", lat=f"{DEMO_SOURCE.dec.deg} deg", radius="0.11 deg"
    )
    gammapy_config.datasets.containment_correction = False
    gammapy_config.datasets.background.method = "reflected"
    gammapy_config.datasets.safe_mask.methods = ["aeff-max"]
    gammapy_config.datasets.geom.axes.energy = dict(min="0.3 TeV", max="30 TeV", nbins=12)
    gammapy_config.datasets.geom.axes.energy_true = dict(min="0.1 TeV", max="60 TeV", nbins=24)
    models = tmp_path / "models.yaml"
    models.write_text(yaml.safe_dump(DEMO_MODELS))
    gammapy_config.general.models_file = str(models)
    path = tmp_path / "gammapy.yaml"
    gammapy_config.write(path)
    with path.open("a") as handle:
        handle.write("\ntime_resolved:\n  binning: {method: observation}\n  output: {format: lightcurve}\n")
    result = CliRunner().invoke(cli, ["run", str(path), "--no-progress"])
    assert result.exit_code == 0, result.output
    from gammapy.estimators import FluxPoints

    lightcurve = FluxPoints.read(tmp_path / "out" / "time_resolved_spectrum_lightcurve.fits", format="lightcurve")
    assert lightcurve.geom.axes["time"].nbin == 2


@requires_data()
def test_the_3d_example_runs_on_the_same_runs(tmp_path):
    """The 3D example (FoV background with an exclusion mask, a point source), on its first hour."""
    config = TRSConfig.read(EXAMPLES / "pks2155_flare_3d.yaml")
    config.time_resolved.binning.start = "2006-07-29T20:30"
    config.time_resolved.binning.stop = "2006-07-29T21:30"
    config.time_resolved.binning.width = "30 min"
    config.time_resolved.output.plots = False
    out = run_analysis(config, output=tmp_path)
    result = out.result
    assert result.n_bins == 2 and result.success.all()
    assert result.meta["source"] == "pks2155"
    assert (result.quantity("sqrt_ts") > 20).all()
    # the 1D analysis of the same half hours has 4.01 +- 0.35, 4.12 +- 0.23 and 3.59 +- 0.13, 3.43 +- 0.10
    assert_allclose(result.quantity("index"), [4.220, 3.518], atol=0.01)
    assert_allclose(result.quantity("index_err"), [0.228, 0.072], atol=0.005)


def test_posterior_and_population_from_the_config(demo_store, tmp_path):
    """The priors in the models' YAML (Gammapy's format), the "posterior" step with its settings, the
    Bayes factor of compare_to with compare_priors, and the population written with its figure."""
    pytest.importorskip("ultranest")
    import copy

    from gammapy_trs import TimeResolvedSpectrum

    models = copy.deepcopy(DEMO_MODELS)
    index, amplitude = models["components"][0]["spectral"]["parameters"][:2]
    index["prior"] = {"type": "UniformPrior", "parameters": [{"name": "min", "value": 1}, {"name": "max", "value": 6}], "weight": 1}
    amplitude["prior"] = {
        "type": "LogUniformPrior", "parameters": [{"name": "min", "value": 1e-13}, {"name": "max", "value": 1e-8}],
        "weight": 1,
    }
    config = demo_config(demo_store, tmp_path, method="observation")
    config.time_resolved.models = models
    est = config.time_resolved.estimator
    est.selection_optional = ["ts", "posterior"]
    est.compare_to = "LogParabola"
    est.posterior = dict(live_points=50, min_ess=50, n_samples=200, population=["index"], random_state=3)
    config = TRSConfig(**config.model_dump())
    with pytest.raises(ValueError, match="'beta' of model 'compare_to"):
        run_analysis(config)
    config.time_resolved.estimator.posterior.compare_priors = {"beta": {"type": "UniformPrior", "min": -1, "max": 1}}
    out = run_analysis(config, overwrite=True)
    names = [path.name for path in out.files]
    assert "posteriors.png" in names and "population_index.ecsv" in names and "population_index.png" in names
    result = TimeResolvedSpectrum.read(out.files[0])
    assert len(result.posterior(0)) == 200 and np.isfinite(result.quantity("log_bayes_factor")).all()
    assert result.meta["sampler_live_points"] == 50 and result.meta["random_state"] == 3
    assert out.populations[0].summary["n_bins"] == result.n_bins
    with pytest.raises(ValueError, match="compare_priors of 'beta'"):
        TRSConfig(**dict(config.model_dump(), time_resolved=dict(
            config.time_resolved.model_dump(), estimator=dict(est.model_dump(), posterior=dict(compare_priors={"beta": {"type": "Nope"}}))
        )))


def test_observations_outside_fixed_bins_are_not_opened(demo_store, tmp_path, caplog):
    """Fixed bins with a start and stop: observations whose TSTART-TSTOP misses them are dropped
    from the observation table before any file is opened (they would give no slice)."""
    from gammapy.data import DataStore
    from gammapy_trs.app.build import select_observations

    table = DataStore.from_dir(demo_store).obs_table
    first_start, first_stop = table.time_start[0], table.time_stop[0]
    start, stop = (first_start + 1 * u.min).isot, (first_stop - 1 * u.min).isot
    config = demo_config(demo_store, tmp_path, method="fixed", start=start, stop=stop, width="5 min")
    with caplog.at_level(logging.INFO, logger="gammapy_trs.app.build"):
        observations = select_observations(config)
    assert [obs.obs_id for obs in observations] == [table["OBS_ID"][0]]
    assert "1 observations lie outside the bins" in caplog.text
    # without a stop (or another method) every observation of the cone is kept
    for binning in (dict(method="fixed", start=start, width="5 min"), dict(method="observation")):
        assert len(select_observations(demo_config(demo_store, tmp_path, **binning))) == len(table)
