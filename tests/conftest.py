"""Shared fixtures: small in-memory datasets built from analytic IRFs."""

import numpy as np
import astropy.units as u
import matplotlib
import pytest
from astropy.time import Time
from gammapy.data import GTI
from gammapy.datasets import Datasets, MapDataset
from gammapy.irf import EDispKernelMap
from gammapy.maps import MapAxis, WcsGeom
from gammapy.modeling.models import (
    FoVBackgroundModel,
    PointSpatialModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy_trs.samples.simulate import simulate_onoff_datasets

matplotlib.use("Agg")

T0 = Time("2026-01-01T00:00:00", scale="utc")
AMPLITUDE_UNIT = u.Unit("cm-2 s-1 TeV-1")
TRUE_INDEX = [3.4, 3.0, 2.6, 2.8, 3.2, 3.5]
TRUE_AMPLITUDE = [5e-11, 1e-10, 2e-10, 1.5e-10, 8e-11, 4e-11]


def make_intervals(n_bins, width=20 * u.min, t0=T0):
    """Contiguous intervals as a list of Time([start, stop])."""
    edges = t0 + np.arange(n_bins + 1) * width
    return [Time([start, stop]) for start, stop in zip(edges[:-1], edges[1:])]


def power_law_model(name="source", index=3.0, amplitude=1e-10):
    return SkyModel(
        spectral_model=PowerLawSpectralModel(index=index, amplitude=amplitude * AMPLITUDE_UNIT),
        name=name,
    )


@pytest.fixture(scope="session")
def flare_intervals():
    return make_intervals(len(TRUE_INDEX))


@pytest.fixture(scope="session")
def flare_datasets_session(flare_intervals):
    truth = [
        PowerLawSpectralModel(index=index, amplitude=amp * AMPLITUDE_UNIT)
        for index, amp in zip(TRUE_INDEX, TRUE_AMPLITUDE)
    ]
    return simulate_onoff_datasets(flare_intervals, truth, random_state=0)


def every_step_run(datasets_session, intervals, sed_energy_edges):
    """The estimator with every step, flux points in ``sed_energy_edges`` and a log-parabola
    compared, and copies of the flare's datasets with a power law: what the figures, the files
    and the report are tested on."""
    from gammapy.modeling.models import LogParabolaSpectralModel
    from gammapy_trs import TimeResolvedSpectrumEstimator

    datasets = Datasets([d.copy(name=d.name) for d in datasets_session])
    datasets.models = power_law_model()
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals,
        selection_optional="all",
        sed_energy_edges=sed_energy_edges,
        compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
    )
    return estimator, datasets


@pytest.fixture(scope="session")
def ray_lock(tmp_path_factory):
    """A lock shared by the pytest-xdist workers, held by every test that starts Ray.

    ``ray.init`` joins any cluster whose address it finds on the machine: a test's local Ray
    instance would join the two-node cluster of ``test_ray_cluster.py`` running on the other
    worker. Holding this lock, the tests that start Ray run one at a time.
    """
    from filelock import FileLock

    return FileLock(str(tmp_path_factory.getbasetemp().parent / "ray.lock"))


@pytest.fixture()
def ray_alone(ray_lock):
    """Ray to itself for the test (`ray_lock`), shut down after it."""
    ray = pytest.importorskip("ray")
    with ray_lock:
        yield ray
        ray.shutdown()


@pytest.fixture()
def flare_datasets(flare_datasets_session):
    """Six 20-minute on-off spectra of a flare, with a power law as model."""
    datasets = Datasets([d.copy(name=d.name) for d in flare_datasets_session])
    datasets.models = power_law_model()
    return datasets


def make_map_datasets(intervals, random_state=0):
    """Small 3D datasets with a point source and a FoV background model each."""
    energy_axis = MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", nbin=5)
    energy_axis_true = MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=10, name="energy_true")
    geom = WcsGeom.create(
        skydir=(329.7, -30.2), binsz=0.05, width=1.0, frame="icrs", axes=[energy_axis]
    )
    rng = np.random.RandomState(random_state)
    truth = SkyModel(
        spectral_model=PowerLawSpectralModel(index=2.8, amplitude=1e-10 * AMPLITUDE_UNIT),
        spatial_model=PointSpatialModel(lon_0="329.7 deg", lat_0="-30.2 deg", frame="icrs"),
        name="source",
    )
    datasets = Datasets()
    for idx, (t_min, t_max) in enumerate(intervals):
        livetime = (t_max - t_min).to(u.s)
        name = f"map-{idx}"
        dataset = MapDataset.create(geom=geom, energy_axis_true=energy_axis_true, name=name)
        dataset.exposure.quantity = np.full(dataset.exposure.data.shape, 1e9) * livetime * u.cm**2
        dataset.exposure.meta["livetime"] = livetime
        dataset.background.data[...] = 2e-4 * livetime.value
        dataset.edisp = EDispKernelMap.from_diagonal_response(energy_axis, energy_axis_true)
        dataset.psf = None
        dataset.mask_safe.data[...] = True
        dataset.gti = GTI.create(t_min, t_max)
        bkg = FoVBackgroundModel(dataset_name=name)
        dataset.models = [truth, bkg]
        dataset.fake(random_state=rng)
        dataset.models = None
        datasets.append(dataset)
    return datasets


def _reduce_pks2155_slice_by_slice():
    from gammapy_trs.samples.pks2155 import (
        reduce_slice_by_slice,
        reference_dataset,
        reference_intervals,
        reference_makers,
        reference_observations,
    )

    return reduce_slice_by_slice(
        reference_makers(), reference_dataset(), reference_observations(), reference_intervals()
    )


@pytest.fixture(scope="session")
def pks2155_slice_by_slice(tmp_path_factory, worker_id):
    """The reference workflow's reduction of the PKS 2155-304 night, slice by slice with Gammapy's
    makers (34 on-off spectra; needs $GAMMAPY_DATA): made once per test session, read only (the
    pytest-xdist workers share it through a file, the second waiting for the first)."""
    import pickle
    from filelock import FileLock

    if worker_id == "master":
        return _reduce_pks2155_slice_by_slice()
    path = tmp_path_factory.getbasetemp().parent / "pks2155_slice_by_slice.pickle"
    with FileLock(f"{path}.lock"):
        if path.is_file():
            return pickle.loads(path.read_bytes())
        datasets = _reduce_pks2155_slice_by_slice()
        path.write_bytes(pickle.dumps(datasets))
        return datasets


SLOW_FIRST = (
    "test_engine.py",
    "test_tutorial_pks2155_bayesian.py",
    "test_config.py",
    "test_tutorial_pks2155_evolution.py",
    "test_faults.py",
    "test_joint.py",
    "test_posterior.py",
    "test_laws.py",
    "test_reduction.py",
    "test_checkpoint.py",
    "test_demo.py",
    "test_ray_cluster.py",
    "test_hess_pks2155.py",
    "test_faint_injection.py",
    "test_estimator.py",
    "test_joint_direct.py",
    "test_parallel.py",
    "test_report.py",
    "test_injection_variability.py",
    "test_tutorial_pks2155_curvature.py",
    "test_tutorial_pks2155_flare.py",
    "test_gammapy_formats.py",
    "test_change_points.py",
    "test_injection.py",
    "test_tutorials.py",
)
"""The longest modules, longest first (their total durations on 2026-12-04: 43 s for
``test_engine.py`` down to 7 s for ``test_tutorials.py``). pytest-xdist (``--dist loadscope --no-loadscope-reorder``)
hands out modules in this order to whichever worker has fewer than two pending, so that the
workers finish together instead of one waiting for a long module started last."""


def pytest_collection_modifyitems(items):
    rank = {name: idx for idx, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(SLOW_FIRST)))
