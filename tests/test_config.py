"""Configuration files and ``gammapy-trs config`` / ``gammapy-trs run``."""

from pathlib import Path
import astropy.units as u
import pytest
import yaml
from click.testing import CliRunner
from numpy.testing import assert_allclose
from gammapy.utils.testing import requires_data
from gammapy_trs.app.analysis import run_analysis
from gammapy_trs.app.cli import cli
from gammapy_trs.app.config import DEFAULT_CONFIG, ConfigError, TRSConfig
from gammapy_trs.samples.demo_data import DEMO_SOURCE, simulate_demo_data_store

EXAMPLE = Path(__file__).parent.parent / "examples" / "pks2155_flare.yaml"


def test_default_config_is_valid():
    config = TRSConfig.from_yaml(DEFAULT_CONFIG)
    assert config.binning.method == "fixed"
    assert config.binning.width == "900.0 s"
    assert config.energy_axis.min == "0.4 TeV"
    assert config.model.parameters["amplitude"] == "2e-11 cm-2 s-1 TeV-1"
    result = CliRunner().invoke(cli, ["config"])
    assert result.exit_code == 0 and result.output == DEFAULT_CONFIG


def test_example_config_is_valid():
    config = TRSConfig.read(EXAMPLE)
    assert config.estimator.compare_to == "LogParabola"


def with_change(section, key, value):
    data = yaml.safe_load(DEFAULT_CONFIG)
    if key is None:
        data[section] = value
    else:
        data[section][key] = value
    return yaml.safe_dump(data)


@pytest.mark.parametrize(
    ("section", "key", "value", "message"),
    [
        ("binning", "colour", "red", "binning.colour: unknown field"),
        ("binning", "method", "weekly", "binning.method: Input should be 'fixed', 'observation'"),
        ("binning", "width", "fifteen", "binning.width: expected a quantity in s"),
        ("binning", "start", "yesterday", "binning.start: expected a time"),
        ("energy_axis", "nbins", "ten", "energy_axis.nbins: Input should be a valid integer"),
        ("estimator", "n_jobs", 0, "estimator.n_jobs: Input should be greater than 0"),
        ("estimator", "selection_optional", ["limits"], "estimator.selection_optional.0: Input should be"),
        ("on_region", None, None, "on_region: Input should be a valid dictionary"),
    ],
)
def test_config_errors_name_the_field(section, key, value, message):
    with pytest.raises(ConfigError, match="invalid configuration") as error:
        TRSConfig.from_yaml(with_change(section, key, value))
    assert message in str(error.value)


def test_missing_section_and_bad_yaml():
    data = yaml.safe_load(DEFAULT_CONFIG)
    del data["energy_axis_true"]
    with pytest.raises(ConfigError, match="energy_axis_true: required field missing"):
        TRSConfig.from_yaml(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="not valid YAML"):
        TRSConfig.from_yaml("data: [unclosed")
    with pytest.raises(ConfigError, match="no configuration file"):
        TRSConfig.read("/no/such/config.yaml")


def test_cli_reports_errors_without_traceback(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(with_change("binning", "width", "fifteen"))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1
    assert "binning.width: expected a quantity in s" in result.output
    assert "Traceback" not in result.output


def test_missing_data_store(tmp_path):
    config = TRSConfig.from_yaml(with_change("data", "datastore", str(tmp_path / "nothing")))
    with pytest.raises(ConfigError, match="data.datastore: no data store"):
        run_analysis(config)


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("store")
    simulate_demo_data_store(path, n_observations=2, duration=20 * u.min, random_state=2)
    return path


def demo_config(store, output, **binning):
    data = yaml.safe_load(DEFAULT_CONFIG)
    data["data"] = dict(datastore=str(store), required_irf=["aeff", "edisp", "bkg"])
    data["on_region"] = dict(
        ra=DEMO_SOURCE.ra.deg, dec=DEMO_SOURCE.dec.deg, radius="0.11 deg", containment_correction=False
    )
    data["energy_axis"] = dict(min="0.3 TeV", max="30 TeV", nbins=12)
    data["energy_axis_true"] = dict(min="0.1 TeV", max="60 TeV", nbins=24)
    data["binning"] = dict(binning)
    data["model"] = dict(type="PowerLaw", name="flare", parameters={"index": 3, "amplitude": "1e-10 cm-2 s-1 TeV-1"})
    data["output"] = dict(path=str(output), format="ecsv", plots=True)
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
    result = run_analysis(config)
    assert result.success.all()
    if n_bins:
        assert result.n_bins == n_bins
    else:
        assert result.n_bins >= 2
    if binning["method"] == "adaptive":
        assert (result.quantity("sqrt_ts") >= 15).all()
    assert (tmp_path / "time_resolved_spectrum.ecsv").exists()
    assert (tmp_path / "parameters.png").exists()


def test_containment_needs_a_psf(demo_store, tmp_path):
    config = demo_config(demo_store, tmp_path, method="observation")
    config.on_region.containment_correction = True
    with pytest.raises(ConfigError, match="containment_correction needs a PSF"):
        run_analysis(config)


def test_unknown_model_parameter(demo_store, tmp_path):
    config = demo_config(demo_store, tmp_path, method="observation")
    config.model.parameters = {"alpha": 2}
    with pytest.raises(ConfigError, match="model.parameters: PowerLaw has no parameter 'alpha'"):
        run_analysis(config)


@requires_data()
def test_run_example_reproduces_the_reference(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["run", str(EXAMPLE)])
    assert result.exit_code == 0, result.output
    from gammapy_trs import TimeResolvedSpectrum

    spectrum = TimeResolvedSpectrum.read(tmp_path / "pks2155-output" / "time_resolved_spectrum.fits")
    table = spectrum.to_table()
    assert len(table) == 24
    assert_allclose([table["index"][0], table["index_err"][0]], [4.009, 0.353], atol=5e-4)
    assert_allclose([table["amplitude"][0], table["amplitude_err"][0]], [1.022e-10, 1.292e-11], rtol=1e-3)
    assert_allclose(table["compare_sigma"][4], 4.205, rtol=2e-3)


def test_cli_reports_analysis_errors_without_traceback(demo_store, tmp_path):
    data = yaml.safe_load(demo_config(demo_store, tmp_path, method="fixed").model_dump_json())
    data["binning"].update(start="2020-01-01T00:00", stop="2020-01-01T01:00")
    path = tmp_path / "empty.yaml"
    path.write_text(yaml.safe_dump(data))
    result = CliRunner().invoke(cli, ["run", str(path)])
    assert result.exit_code == 1
    assert "No observation overlaps the 4 time intervals" in result.output
    assert "Traceback" not in result.output
