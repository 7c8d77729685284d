"""Each Gammapy internal the package relies on, checked against the installed Gammapy.

If one of these fails after a Gammapy upgrade, the internal it names has changed:
see `gammapy_trs.utils.gammapy_internals.INTERNALS` and the developer guide.
"""

import inspect
import numpy as np
import astropy.units as u
import pytest
from numpy.testing import assert_allclose
import gammapy
from gammapy.data import GTI, EventList, FixedPointingInfo, Observation, observatory_locations
from gammapy.datasets import Datasets
from gammapy.irf import EDispKernelMap, PSFMap
from gammapy.makers import MapDatasetMaker, SafeMaskMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling.models import Models
from gammapy.utils.fits import HDULocation
from gammapy.utils.testing import requires_data
from gammapy_trs.reduction.observation_slices import IRF_MAKE_METHODS
from gammapy_trs.samples.demo_data import DEMO_SOURCE, START, _irfs
from gammapy_trs.utils import gammapy_internals as internals
from conftest import make_intervals, power_law_model
from gammapy_trs.samples.simulate import simulate_onoff_datasets


@pytest.fixture(scope="module")
def onoff():
    dataset = simulate_onoff_datasets(make_intervals(1), power_law_model().spectral_model)[0]
    dataset.models = power_law_model()
    return dataset


def test_written_for_this_gammapy():
    names = "\n".join(f"  {item.name} ({item.accessor})" for item in internals.INTERNALS)
    assert gammapy.__version__.startswith(internals.GAMMAPY_VERSION), (
        f"gammapy {gammapy.__version__} is installed; gammapy_trs relies on these internals of "
        f"gammapy {internals.GAMMAPY_VERSION}, check each:\n{names}"
    )


def test_every_accessor_is_defined():
    for item in internals.INTERNALS:
        for name in item.accessor.split(", "):
            assert hasattr(internals, name), item


def test_evaluator_norm_index_and_update(onoff):
    evaluator = onoff.evaluators["source"]
    internals.update_evaluator(evaluator, onoff)
    assert not evaluator.needs_update
    assert evaluator.contributes
    assert isinstance(evaluator.use_cache, bool)
    assert internals.evaluator_norm_index(evaluator) == evaluator.model.parameters.names.index("amplitude")


def test_update_reads_the_mask_only_in_the_local_mode(onoff):
    # update_evaluator gives no mask image to an evaluator in the "global" mode (a spectral model)
    expected = onoff.npred_signal().data.copy()
    evaluator = onoff.evaluators["source"]
    assert evaluator.evaluation_mode == "global"
    evaluator.update(onoff.exposure, onoff.psf, onoff.edisp, internals.dataset_geom(onoff), None)
    assert evaluator.contributes
    assert_allclose(onoff.npred_signal().data, expected, rtol=1e-12)
    assert "mask" in inspect.getsource(type(evaluator).update).split('if self.evaluation_mode == "local":')[1]
    assert "mask" not in inspect.getsource(type(evaluator).update).split("# lookup edisp")[1].split(
        'if self.evaluation_mode == "local":'
    )[0]


def test_dataset_geom_and_rename(onoff):
    assert internals.dataset_geom(onoff) == onoff.counts.geom
    renamed = internals.renamed_dataset(onoff, "other")
    assert renamed.name == "other" and onoff.name != "other"
    assert renamed.counts is onoff.counts


def test_model_penalties(onoff):
    assert internals.model_penalties(Datasets([onoff]).models) == []
    assert internals.model_penalties(Models([])) == []


def test_irf_map():
    energy = MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=3)
    energy_true = MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", nbin=5, name="energy_true")
    geom = RegionGeom.create("icrs;circle(0, 0, 0.1)", axes=[energy])
    edisp = EDispKernelMap.from_diagonal_response(energy, energy_true, geom=geom.to_image())
    assert internals.irf_map(edisp) is edisp.edisp_map
    rebuilt = type(edisp)(internals.irf_map(edisp), edisp.exposure_map)
    assert rebuilt.edisp_map is edisp.edisp_map
    psf = PSFMap.from_gauss(energy_axis_true=energy_true, sigma=0.1 * u.deg)
    assert internals.irf_map(psf) is psf.psf_map


def test_safe_mask_position():
    geom = RegionGeom.create("icrs;circle(10, 20, 0.1)")
    maker = SafeMaskMaker(methods=["aeff-max"], position=DEMO_SOURCE)
    assert internals.safe_mask_position(maker, None, geom) == DEMO_SOURCE
    center = internals.safe_mask_position(SafeMaskMaker(methods=["aeff-max"]), None, geom)
    assert center.separation(geom.center_skydir) < 1e-6 * u.deg


def test_makers_and_geometries_call_replaced_methods_through_self():
    run = inspect.getsource(MapDatasetMaker.run)
    for name in (*IRF_MAKE_METHODS, "make_counts", "make_meta_table"):
        assert callable(getattr(MapDatasetMaker(), name)), name
        assert f"self.{name}(" in run, name
    assert "self.contains(" in inspect.getsource(RegionGeom.coord_to_pix)  # via coord_to_idx
    with pytest.raises(AttributeError, match="no method 'not_a_method'"):
        internals.with_methods(MapDatasetMaker(), not_a_method=print)


def test_with_methods_leaves_the_original():
    maker = MapDatasetMaker()
    new = internals.with_methods(maker, make_exposure=lambda geom, observation: "mine")
    assert new.make_exposure(None, None) == "mine"
    assert "make_exposure" not in vars(maker)
    assert "make_exposure" in vars(new)


def test_shared_bbox_region_geom():
    energy = MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=3)
    geom = RegionGeom.create("icrs;circle(10, 20, 0.1)", axes=[energy])
    assert hasattr(geom, "_binsz_wcs")
    assert "_init_copy" in vars(RegionGeom) or hasattr(RegionGeom, "_init_copy")
    shared = internals.SharedBBoxRegionGeom.from_geom(geom)
    assert shared.to_image()._rectangle_bbox is shared._rectangle_bbox
    assert "_rectangle_bbox" in shared.__dict__  # a lazy property, cached in the instance
    assert shared.plain == geom and type(shared.plain) is RegionGeom


def test_observation_events_and_subclass_copy():
    obs = Observation.create(
        pointing=FixedPointingInfo(fixed_icrs=DEMO_SOURCE), livetime=10 * u.min, tstart=0 * u.s, irfs=_irfs(),
        location=observatory_locations["hess"], reference_time=START, obs_id=1,
    )
    events = EventList(obs.events.table[:0]) if obs.events is not None else None
    gti = GTI.create(START, START + 10 * u.min, reference_time=START)
    internals.set_observation_events(obs, events, gti)
    assert obs.gti is gti

    class Sub(Observation):
        pass

    copy = internals.as_subclass_copy(obs, Sub)
    assert type(copy) is Sub and type(obs) is Observation and copy.gti is gti
    with pytest.raises(TypeError, match="not a subclass"):
        internals.as_subclass_copy(gti, Sub)


@requires_data()
def test_lazy_fits_data_layout():
    from gammapy.data import DataStore

    obs = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1").obs(33787)
    location = internals.lazy_hdu_location(obs, "aeff")
    assert isinstance(location, HDULocation)
    marker = object()
    internals.set_lazy_value(obs, "aeff", marker)
    assert obs.aeff is marker


def test_set_datasets_covariance(onoff):
    """The errors survive an access of ``models`` once the covariance is set (a stale one, here
    that of the unfitted models, resets them)."""
    datasets = Datasets([onoff.copy(name="cov")])
    datasets.models = power_law_model()
    parameters = datasets.models.parameters
    matrix = np.diag([0.01, 4e-24, 0.0])  # index, amplitude, reference (frozen)
    for par, variance in zip(parameters, np.diag(matrix)):
        par.error = np.sqrt(variance)
    _ = datasets.models  # the stale covariance: errors reset
    assert datasets.models.parameters["index"].error == 0
    internals.set_datasets_covariance(datasets, matrix)
    assert_allclose(datasets.models.parameters["index"].error, 0.1)
    assert_allclose(datasets.models.parameters["amplitude"].error, 2e-12)
