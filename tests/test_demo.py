"""The embedded demo: simulated DL3 data, the whole chain and the command line."""

import numpy as np
import astropy.units as u
import pytest
from astropy.table import Table
from astropy.time import Time
from click.testing import CliRunner
from numpy.testing import assert_allclose
from gammapy_trs import TimeResolvedSpectrum
from gammapy_trs.app.cli import cli
from gammapy_trs.samples.demo_data import START, flare_truth, simulate_demo_data_store


def test_flare_truth():
    index, amplitude = flare_truth(START + [0, 1.5] * u.h)
    assert_allclose(index, [3.4 - 0.8 * np.exp(-0.5 * 2.25**2), 2.6])
    assert_allclose(amplitude[1].to_value("cm-2 s-1 TeV-1"), 2.3e-10)


def test_simulated_data_store(tmp_path):
    data_store = simulate_demo_data_store(tmp_path, n_observations=2, duration=10 * u.min, random_state=1)
    assert list(data_store.obs_table["OBS_ID"]) == [1000, 1001]
    observations = data_store.get_observations(required_irf=["aeff", "edisp", "bkg"])
    assert_allclose(observations[0].gti.time_sum.to_value("s"), 600)
    assert observations[1].tstart.isot == "2026-07-29T20:11:00.000"
    assert_allclose([len(o.events.table) for o in observations], [7300, 7357], rtol=0.05)
    assert observations[0].aeff is not None and observations[0].bkg is not None
    truth = Table.read(tmp_path / "truth.ecsv")
    assert len(truth) == 4
    assert truth["amplitude"].unit == u.Unit("cm-2 s-1 TeV-1")


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory):
    output = tmp_path_factory.mktemp("demo")
    result = CliRunner().invoke(cli, ["demo", "--output", str(output)])
    assert result.exit_code == 0, result.output
    return output, result.output


def test_demo_writes_result_and_plots(demo_output):
    output, text = demo_output
    result = TimeResolvedSpectrum.read(output / "time_resolved_spectrum.fits")
    assert result.n_bins == 16 and result.success.all()
    for name in ("parameters.png", "hysteresis.png"):
        assert (output / name).stat().st_size > 20_000
    assert "time bins      : 16" in text and "Wrote" in text
    # like every command, the demo replaces an earlier run's files only when asked
    again = CliRunner().invoke(cli, ["demo", "--output", str(output)])
    assert again.exit_code == 1 and "holds an earlier demo: use --overwrite" in again.output


def test_demo_recovers_the_injected_flare(demo_output):
    output, _ = demo_output
    result = TimeResolvedSpectrum.read(output / "time_resolved_spectrum.fits")
    mid = result.time_axis.time_mid
    index, amplitude = flare_truth(Time(mid))
    pull = (result.quantity("index") - index) / result.quantity("index_err")
    assert np.all(np.abs(pull) < 3)
    assert result.correlation("flux", "index")["spearman"] < -0.8  # harder when brighter


def test_plot_command(demo_output, tmp_path):
    output, _ = demo_output
    png = tmp_path / "flux.png"
    runner = CliRunner()
    result = runner.invoke(cli, ["plot", str(output / "time_resolved_spectrum.fits"), "--parameter", "flux", "--output", str(png)])
    assert result.exit_code == 0, result.output
    assert png.stat().st_size > 10_000
    result = runner.invoke(cli, ["plot", str(output / "time_resolved_spectrum.fits"), "--parameter", "bogus"])
    assert result.exit_code == 2
    assert "'bogus' is not in the result" in result.output
