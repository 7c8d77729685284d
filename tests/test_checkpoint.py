"""Checkpoint and resume: runs killed, terminated or interrupted keep every finished bin."""

import logging
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
import numpy as np
import pytest
from numpy.testing import assert_array_equal
from click.testing import CliRunner
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator
from gammapy_trs.app import analysis
from gammapy_trs.app.cli import cli
from gammapy_trs.app.config import ConfigError
from gammapy_trs.estimation.checkpoint import Checkpoint
from test_config import demo_config, demo_store  # noqa: F401 -- the fixture

TESTS = Path(__file__).parent
SELECTION = ["ts", "flux", "ul"]

SCRIPT = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    from conftest import TRUE_AMPLITUDE, TRUE_INDEX, AMPLITUDE_UNIT, make_intervals, power_law_model
    from gammapy.modeling.models import PowerLawSpectralModel
    from gammapy_trs import TimeResolvedSpectrumEstimator
    from gammapy_trs.samples.simulate import simulate_onoff_datasets

    class Slow(TimeResolvedSpectrumEstimator):
        def estimate_time_bin(self, *args, **kwargs):
            time.sleep(1.5)
            return super().estimate_time_bin(*args, **kwargs)

    intervals = make_intervals(len(TRUE_INDEX))
    truth = [PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT)
             for i, a in zip(TRUE_INDEX, TRUE_AMPLITUDE)]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=0)
    datasets.models = power_law_model()
    print("started", flush=True)
    Slow(time_intervals=intervals, selection_optional={selection!r}, checkpoint={path!r}).run(datasets)
    """
)


def start_run(path):
    script = SCRIPT.format(tests=str(TESTS), selection=SELECTION, path=str(path))
    return subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_for_bins(path, n, process, timeout=120):
    start = time.time()
    while time.time() - start < timeout:
        if len(list(Path(path).glob("bin-*.json"))) >= n:
            return
        if process.poll() is not None:
            raise AssertionError(f"the run ended early: {process.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError(f"fewer than {n} bins after {timeout} s")


def assert_same_table(result, expected):
    table, reference = result.to_table(), expected.to_table()
    assert table.colnames == reference.colnames
    for name in reference.colnames:
        assert_array_equal(np.asarray(table[name].value if name.startswith("time") else table[name]),
                           np.asarray(reference[name].value if name.startswith("time") else reference[name]), err_msg=name)
    assert result.meta == expected.meta


@pytest.fixture()
def uninterrupted(flare_datasets, flare_intervals):
    return TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional=SELECTION).run(
        flare_datasets
    )


def test_killed_run_resumed_equals_the_uninterrupted_run(tmp_path, flare_datasets, flare_intervals, uninterrupted):
    path = tmp_path / "checkpoint"
    process = start_run(path)
    wait_for_bins(path, 2, process)
    process.kill()
    process.wait(timeout=30)
    done = len(list(path.glob("bin-*.json")))
    assert 2 <= done < 6

    fitted = []

    class Counting(TimeResolvedSpectrumEstimator):
        def estimate_time_bin(self, task):
            fitted.append(task.datasets.names[0])
            return super().estimate_time_bin(task)

    resumed = Counting(time_intervals=flare_intervals, selection_optional=SELECTION, checkpoint=path).run(
        flare_datasets
    )
    assert len(fitted) == 6 - done
    assert_same_table(resumed, uninterrupted)
    for model, expected in zip(resumed.models, uninterrupted.models):
        assert_array_equal(model.covariance.data, expected.covariance.data)


def test_sigterm_leaves_a_readable_checkpoint(tmp_path, flare_datasets, flare_intervals, uninterrupted):
    path = tmp_path / "checkpoint"
    process = start_run(path)
    wait_for_bins(path, 1, process)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0
    assert "finished bins are in the checkpoint" in stderr
    checkpoint = Checkpoint(path, _fingerprint(flare_datasets, flare_intervals), n_bins=6)
    loaded = checkpoint.load()
    assert 1 <= len(loaded) < 6
    for index, result in loaded.items():
        assert result.quantities["index"] == uninterrupted.quantity("index")[index]


def _fingerprint(datasets, intervals):
    from gammapy_trs.engine import CompiledEngine
    from gammapy_trs.estimation.checkpoint import fingerprint
    from gammapy_trs.estimation.grouping import group_datasets

    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, selection_optional=SELECTION)
    bins, _ = group_datasets(datasets, estimator.time_intervals, estimator.atol)
    return fingerprint(estimator._settings(CompiledEngine()), datasets, bins)


def test_keyboard_interrupt_keeps_finished_bins(tmp_path, flare_datasets, flare_intervals, uninterrupted, caplog):
    class Interrupted(TimeResolvedSpectrumEstimator):
        def estimate_time_bin(self, task):
            if "obs-0003" in task.datasets.names:
                raise KeyboardInterrupt
            return super().estimate_time_bin(task)

    path = tmp_path / "checkpoint"
    with caplog.at_level("ERROR", logger="gammapy_trs"), pytest.raises(KeyboardInterrupt):
        Interrupted(time_intervals=flare_intervals, selection_optional=SELECTION, checkpoint=path).run(
            flare_datasets
        )
    assert f"Run interrupted. The finished bins are in the checkpoint {path}" in caplog.text
    assert len(list(path.glob("bin-*.json"))) == 3
    resumed = TimeResolvedSpectrumEstimator(
        time_intervals=flare_intervals, selection_optional=SELECTION, checkpoint=path
    ).run(flare_datasets)
    assert_same_table(resumed, uninterrupted)


def test_cli_resume(demo_store, tmp_path, monkeypatch):  # noqa: F811 -- the fixture
    output = tmp_path / "out"
    config = demo_config(demo_store, output, method="fixed", width="10 min")
    (tmp_path / "config.yaml").write_text(config.model_dump_json())
    reference = analysis.run_analysis(demo_config(demo_store, tmp_path / "ref", method="fixed", width="10 min")).result

    def interrupted(self, *args, **kwargs):
        raise KeyboardInterrupt  # after the last bin, before the result is written

    with monkeypatch.context() as patch:
        patch.setattr(TimeResolvedSpectrum, "write", interrupted)
        with pytest.raises(KeyboardInterrupt):
            analysis.run_analysis(config)
    assert len(list((output / "checkpoint").glob("bin-*.json"))) == reference.n_bins

    with pytest.raises(ConfigError, match="continue it with --resume"):
        analysis.run_analysis(config)
    result = CliRunner().invoke(cli, ["run", str(tmp_path / "config.yaml"), "--resume"])
    assert result.exit_code == 0, result.output
    assert not (output / "checkpoint").exists()
    written = TimeResolvedSpectrum.read(output / "time_resolved_spectrum.ecsv")
    assert_array_equal(written.quantity("index"), reference.quantity("index"))


def test_cli_checks_the_output_folder_first(demo_store, tmp_path):  # noqa: F811
    blocker = tmp_path / "file"
    blocker.write_text("")
    config = demo_config(demo_store, blocker / "out", method="fixed", width="10 min")
    start = time.perf_counter()
    with pytest.raises(ConfigError, match="output folder: cannot write to"):
        analysis.run_analysis(config)
    assert time.perf_counter() - start < 2


def _counting_run(path, datasets, intervals):
    fitted = []

    class Counting(TimeResolvedSpectrumEstimator):
        def estimate_time_bin(self, task):
            fitted.append(task.index)
            return super().estimate_time_bin(task)

    result = Counting(time_intervals=intervals, selection_optional=SELECTION, checkpoint=path).run(datasets)
    return result, sorted(fitted)


def _other_run_checkpoint(tmp_path, flare_intervals):
    """The checkpoint of a run on other data (another realisation of the flare)."""
    from gammapy.modeling.models import PowerLawSpectralModel
    from gammapy_trs.samples.simulate import simulate_onoff_datasets
    from conftest import AMPLITUDE_UNIT, TRUE_AMPLITUDE, TRUE_INDEX, power_law_model

    truth = [PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT) for i, a in zip(TRUE_INDEX, TRUE_AMPLITUDE)]
    other = simulate_onoff_datasets(flare_intervals, truth, random_state=99)
    other.models = power_law_model()
    path = tmp_path / "other"
    TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional=SELECTION, checkpoint=path).run(other)
    return path


def test_a_checkpoint_uses_only_its_own_bins(tmp_path, flare_datasets, flare_intervals, uninterrupted, caplog):
    """An edited, swapped, foreign or planted bin file is never used: that bin is computed again."""
    path = tmp_path / "checkpoint"
    TimeResolvedSpectrumEstimator(time_intervals=flare_intervals, selection_optional=SELECTION, checkpoint=path).run(
        flare_datasets
    )
    files = sorted(path.glob("bin-*.json"))
    # a value edited (one digit of the index of bin 0)
    text = files[0].read_text()
    value = repr(float(uninterrupted.quantity("index")[0].value))
    files[0].write_text(text.replace(value, value[:-1] + ("1" if value[-1] != "1" else "2"), 1))
    # bins 1 and 2 swapped
    one, two = files[1].read_text(), files[2].read_text()
    files[1].write_text(two)
    files[2].write_text(one)
    # bin 3 copied from another run's checkpoint (other data)
    files[3].write_text((_other_run_checkpoint(tmp_path, flare_intervals) / files[3].name).read_text())
    # bin 4 planted: a pickle that would write a file if it were loaded
    marker = tmp_path / "executed"
    import pickle

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    files[4].write_bytes(pickle.dumps(Payload()))
    with caplog.at_level(logging.WARNING, logger="gammapy_trs"):
        result, fitted = _counting_run(path, flare_datasets, flare_intervals)
    assert fitted == [0, 1, 2, 3, 4]
    assert not marker.exists()
    for reason in ("checksum does not match", "holds bin 2, not bin 1", "other settings or other data", "not JSON text"):
        assert reason in caplog.text, reason
    assert_same_table(result, uninterrupted)


def test_a_checkpoint_without_its_manifest_uses_no_foreign_bin(tmp_path, flare_datasets, flare_intervals, uninterrupted):
    path = _other_run_checkpoint(tmp_path, flare_intervals)
    (path / "manifest.json").unlink()
    result, fitted = _counting_run(path, flare_datasets, flare_intervals)
    assert fitted == list(range(6))
    assert_same_table(result, uninterrupted)


def test_a_checkpoint_of_an_older_version_is_refused(tmp_path, flare_datasets, flare_intervals):
    path = tmp_path / "checkpoint"
    path.mkdir()
    (path / "manifest.json").write_text('{"version": 1, "fingerprint": "x", "n_bins": 6}')
    with pytest.raises(ValueError, match="written by another version of gammapy-trs"):
        _counting_run(path, flare_datasets, flare_intervals)
