"""Parallel backends give the table of a serial run."""

import pytest
from numpy.testing import assert_allclose
from gammapy_trs import TimeResolvedSpectrumEstimator

COLUMNS = ["index", "index_err", "amplitude", "amplitude_err", "stat", "npred", "ts", "flux_err"]


def run(datasets, intervals, **kwargs):
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals, selection_optional=["ts", "flux"], **kwargs
    )
    return estimator.run(datasets).to_table()


@pytest.fixture(scope="module")
def serial(flare_datasets_session, flare_intervals):
    from gammapy.datasets import Datasets
    from conftest import power_law_model

    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])
    datasets.models = power_law_model()
    return datasets, run(datasets, flare_intervals, n_jobs=1)


def test_multiprocessing(serial, flare_intervals):
    datasets, expected = serial
    table = run(datasets, flare_intervals, n_jobs=2, parallel_backend="multiprocessing")
    for name in COLUMNS:
        assert_allclose(table[name], expected[name], rtol=1e-6)


def test_ray(serial, flare_intervals, ray_alone):
    """A local Ray instance (the `ray` extra); a Ray cluster is used the same way."""
    datasets, expected = serial
    table = run(datasets, flare_intervals, n_jobs=2, parallel_backend="ray")
    for name in COLUMNS:
        assert_allclose(table[name], expected[name], rtol=1e-6)


def test_forked_workers_inherit_the_tasks(monkeypatch):
    """Where workers fork, they are sent indices only; elsewhere each task with its data."""
    import multiprocessing
    from gammapy_trs.utils import parallel as runner

    tasks = {index: -index for index in range(5)}
    pool = runner.Runner(n_jobs=2, backend="multiprocessing")
    results = pool.run(abs, tasks)
    assert results == {i: i for i in tasks}
    assert runner._INHERITED == {}  # nothing left behind

    sent = []
    original = runner._submit_all

    def spy(executor, function, tasks, run_id):
        futures = original(executor, function, tasks, run_id)
        sent.append(run_id in runner._INHERITED)
        return futures

    monkeypatch.setattr(runner, "_submit_all", spy)
    pool.run(abs, tasks)
    assert sent == [multiprocessing.get_start_method() == "fork"]


def test_upper_limits_in_parallel_equal_a_serial_run(serial, flare_intervals):
    """The limits' fallback shape (a fit over all bins) is fitted once before the bins; the limits
    are computed in the workers and equal those of a serial run."""
    datasets, _ = serial
    kwargs = dict(time_intervals=flare_intervals, selection_optional=["ul", "flux"], sqrt_ts_threshold_ul=1e3)
    expected = TimeResolvedSpectrumEstimator(n_jobs=1, **kwargs).run(datasets)
    result = TimeResolvedSpectrumEstimator(n_jobs=2, parallel_backend="multiprocessing", **kwargs).run(datasets)
    assert result.quantity("is_ul").all()
    for name in ("amplitude_ul", "flux_ul", "eflux_ul"):
        assert_allclose(result.quantity(name), expected.quantity(name), rtol=1e-6)
    assert result.meta["ul_shape_index"] == expected.meta["ul_shape_index"]
