"""Ray on more than one machine: a local two-node cluster (one CPU each), as the README's recipe."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from gammapy.datasets import Datasets
from gammapy.utils.testing import mpl_plot_check, requires_data
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator, TimeResolvedDatasetsMaker

ray = pytest.importorskip("ray")
cluster_utils = pytest.importorskip("ray.cluster_utils")

RUNS = [33787, 33788]


@pytest.fixture(scope="module")
def cluster(ray_lock):
    """The README's recipe: a cluster (here two local nodes), ``ray.init(address=...)``, then
    ``parallel_backend="ray"``; no other test starts Ray meanwhile (`ray_lock`)."""
    with ray_lock:
        if ray.is_initialized():  # a local instance of another test in this process
            ray.shutdown()
        nodes = cluster_utils.Cluster(initialize_head=True, head_node_args={"num_cpus": 1})
        nodes.add_node(num_cpus=1)
        ray.init(address=nodes.address, log_to_driver=False)
        yield nodes
        ray.shutdown()
        nodes.shutdown()


@pytest.fixture(scope="module")
def setup():
    from gammapy.data import DataStore
    from gammapy_trs.samples.pks2155 import reference_dataset, reference_intervals, reference_makers, reference_model

    observations = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1").get_observations(RUNS)
    return observations, reference_intervals()[:8], reference_dataset(), reference_makers(), reference_model()


def _reduce(setup, **kwargs):
    observations, intervals, dataset, makers, _ = setup
    return TimeResolvedDatasetsMaker(makers, intervals, **kwargs).run(dataset, observations)


def _fit(setup, datasets, **kwargs):
    datasets = Datasets([d.copy(name=d.name) for d in datasets])
    datasets.models = setup[4]
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=setup[1], selection_optional=["ts", "flux", "ul", "errn-errp"], **kwargs
    )
    return estimator.run(datasets)


@requires_data()
def test_maker_and_estimator_on_a_two_node_cluster_equal_a_serial_run(cluster, setup, tmp_path):
    serial_datasets = _reduce(setup, n_jobs=1)
    datasets = _reduce(setup, n_jobs=2, parallel_backend="ray")
    assert datasets.names == serial_datasets.names
    for a, b in zip(datasets, serial_datasets):
        for name in ("counts", "counts_off", "exposure", "acceptance_off"):
            assert_array_equal(getattr(a, name).data, getattr(b, name).data, err_msg=name)
    expected = _fit(setup, serial_datasets, n_jobs=1)
    checkpoint = tmp_path / "checkpoint"
    result = _fit(setup, datasets, n_jobs=2, parallel_backend="ray", checkpoint=checkpoint)
    table, reference = result.to_table(), expected.to_table()
    assert table.colnames == reference.colnames
    for name in reference.colnames[2:]:
        assert_array_equal(np.asarray(table[name]), np.asarray(reference[name]), err_msg=name)

    # the checkpoint the Ray run wrote, resumed serially: every bin read back, and usable
    fitted = []

    class Counting(TimeResolvedSpectrumEstimator):
        def estimate_time_bin(self, task):
            fitted.append(task.index)
            return super().estimate_time_bin(task)

    resumed_datasets = Datasets([d.copy(name=d.name) for d in datasets])
    resumed_datasets.models = setup[4]
    resumed = Counting(
        time_intervals=setup[1], selection_optional=["ts", "flux", "ul", "errn-errp"], checkpoint=checkpoint
    ).run(resumed_datasets)
    assert fitted == []
    resumed.write(tmp_path / "resumed.fits")
    assert TimeResolvedSpectrum.read(tmp_path / "resumed.fits").n_bins == result.n_bins
    for model in resumed.models:
        model.covariance = model.covariance.data  # writable
    assert np.all(np.isfinite(resumed.to_lightcurve().flux.data))
    with mpl_plot_check():
        resumed.plot_spectra()


def test_posteriors_on_a_two_node_cluster_equal_a_serial_run(cluster, flare_datasets, flare_intervals):
    """The "posterior" step with Ray: each bin seeded by random_state and its index, the same
    samples and evidences as a serial run."""
    from gammapy.modeling.models import UniformPrior

    pytest.importorskip("ultranest")
    spectral = flare_datasets.models[0].spectral_model
    spectral.index.prior = UniformPrior(min=1, max=6)
    spectral.amplitude.prior = UniformPrior(min=0, max=1e-9)
    kwargs = dict(
        time_intervals=flare_intervals[:2],
        selection_optional=["posterior"],
        sampler_opts=dict(live_points=100, n_samples=200, min_ess=100),
        random_state=3,
    )
    serial = TimeResolvedSpectrumEstimator(n_jobs=1, **kwargs).run(flare_datasets)
    on_ray = TimeResolvedSpectrumEstimator(n_jobs=2, parallel_backend="ray", **kwargs).run(flare_datasets)
    for name in ("index", "amplitude"):
        assert_array_equal(np.asarray(on_ray.products["posterior"][name]), np.asarray(serial.products["posterior"][name]))
    assert_array_equal(on_ray.to_table()["log_evidence"], serial.to_table()["log_evidence"])


def test_a_cluster_running_on_the_machine_is_joined(cluster):
    """A Ray cluster started on the machine (``ray start``) and no ``ray.init`` of the user's: the
    run joins the cluster (as Ray's own pool does) instead of failing on its number of CPUs."""
    from gammapy_trs.utils.parallel import Runner

    ray.shutdown()  # the driver leaves; the cluster runs on, its address on the machine
    try:
        assert Runner(n_jobs=2, backend="ray").run(abs, {0: -1, 1: -2}) == {0: 1, 1: 2}
        assert ray.get_runtime_context().gcs_address == cluster.address
    finally:
        ray.shutdown()
        ray.init(address=cluster.address, log_to_driver=False)  # as the fixture left it
