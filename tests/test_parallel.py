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


def test_ray(serial, flare_intervals):
    """A local Ray instance (the `ray` extra); a Ray cluster is used the same way."""
    ray = pytest.importorskip("ray")
    datasets, expected = serial
    try:
        table = run(datasets, flare_intervals, n_jobs=2, parallel_backend="ray")
    finally:
        ray.shutdown()
    for name in COLUMNS:
        assert_allclose(table[name], expected[name], rtol=1e-6)
