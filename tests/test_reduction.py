"""TimeResolvedDatasetsMaker against the same makers run slice by slice."""

import copy
import numpy as np
import astropy.units as u
import pytest
from astropy.coordinates import SkyCoord
from astropy.time import Time
from numpy.testing import assert_allclose
from regions import CircleSkyRegion, PointSkyRegion
from gammapy.data import DataStore
from gammapy.datasets import MapDataset, SpectrumDataset
from gammapy.makers import (
    FoVBackgroundMaker,
    MapDatasetMaker,
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
    WobbleRegionsFinder,
)
from gammapy.maps import MapAxis, RegionGeom, WcsGeom
from gammapy.utils.testing import requires_data
from gammapy_trs import TimeResolvedDatasetsMaker
from gammapy_trs.samples.pks2155 import (
    POSITION,
    reduce_slice_by_slice,
    reference_dataset,
    reference_intervals,
    reference_makers,
    reference_observations,
)

CRAB = SkyCoord(83.633, 22.014, unit="deg", frame="icrs")


def intervals_from(start, n_bins, width):
    edges = Time(start) + np.arange(n_bins + 1) * width
    return [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]


def relative_difference(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        diff = np.where(scale > 0, np.abs(a - b) / scale, 0.0)
    return float(np.max(diff)) if diff.size else 0.0


PRODUCTS = {
    "counts": lambda d: d.counts.data,
    "exposure": lambda d: d.exposure.data,
    "livetime": lambda d: d.exposure.meta["livetime"].to_value("s"),
    "mask_safe": lambda d: d.mask_safe.data,
    "gti": lambda d: [d.gti.time_start.mjd, d.gti.time_stop.mjd],
    "edisp": lambda d: d.edisp.edisp_map.data,
    "edisp_exposure": lambda d: d.edisp.exposure_map.data,
}
ONOFF = {
    "counts_off": lambda d: d.counts_off.data,
    "acceptance": lambda d: d.acceptance.data,
    "acceptance_off": lambda d: d.acceptance_off.data,
    "alpha": lambda d: d.alpha.data,
}
MAP = {
    "background": lambda d: d.npred_background().data,
    "psf": lambda d: d.psf.psf_map.data,
    "psf_exposure": lambda d: d.psf.exposure_map.data,
}

GEOMS = [
    lambda d: d.counts.geom,
    lambda d: d.exposure.geom,
    lambda d: d.edisp.edisp_map.geom,
    lambda d: d.edisp.exposure_map.geom,
]


def assert_same_products(reference, datasets, products):
    assert len(datasets) == len(reference)
    for ref, new in zip(reference, datasets):
        assert type(new) is type(ref)
        for name, get in products.items():
            assert relative_difference(get(ref), get(new)) < 1e-6, (new.name, name)
        assert new.meta_table["OBS_ID"][0] == ref.meta_table["OBS_ID"][0]
        for geom in GEOMS:
            assert type(geom(new)) is type(geom(ref)), (new.name, geom(new))
            assert geom(new) == geom(ref)


@pytest.fixture(scope="module")
def hess_store():
    return DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1/")


@requires_data()
def test_spectrum_reflected_regions(pks2155_slice_by_slice):
    """The PKS 2155-304 reference set-up: 34 slices of the flare night."""
    observations = reference_observations()
    intervals = reference_intervals()
    empty, makers = reference_dataset(), reference_makers()
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    reference = pks2155_slice_by_slice

    assert len(datasets) == 34
    assert datasets.names[:3] == ["33787-0000", "33787-0001", "33788-0001"]
    starts = [d.gti.time_start[0].mjd for d in datasets]
    assert np.all(np.diff(starts) > 0)
    assert_same_products(reference, datasets, {**PRODUCTS, **ONOFF})
    assert_allclose(sum(d.counts.data.sum() for d in datasets), sum(d.counts.data.sum() for d in reference))


@requires_data()
def test_map_dataset_fov_background(hess_store):
    observations = hess_store.get_observations([33787, 33788, 33789])
    intervals = intervals_from("2006-07-29T20:30", 8, 10 * u.min)
    geom = WcsGeom.create(
        skydir=POSITION, binsz=0.04, width=(2, 2), frame="icrs",
        axes=[MapAxis.from_energy_bounds("0.5 TeV", "20 TeV", nbin=6)],
    )
    empty = MapDataset.create(
        geom,
        energy_axis_true=MapAxis.from_energy_bounds("0.3 TeV", "40 TeV", nbin=10, name="energy_true"),
        binsz_irf=0.2,
    )
    exclusion = ~geom.to_image().region_mask([CircleSkyRegion(POSITION, 0.3 * u.deg)])
    makers = [
        MapDatasetMaker(),
        SafeMaskMaker(methods=["offset-max", "aeff-default"], offset_max="1.8 deg"),
        FoVBackgroundMaker(method="scale", exclusion_mask=exclusion),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    reference = reduce_slice_by_slice(makers, empty, observations, intervals)

    assert_same_products(reference, datasets, {**PRODUCTS, **MAP})
    norms = [d.background_model.spectral_model.norm.value for d in datasets]
    expected = [d.background_model.spectral_model.norm.value for d in reference]
    assert_allclose(norms, expected, rtol=1e-6)
    assert_allclose(norms[0], 1.32684, rtol=1e-4)


@requires_data()
def test_point_like_rad_max():
    """MAGIC point-like IRFs: PointSkyRegion with energy-dependent RAD_MAX, wobble OFF regions."""
    store = DataStore.from_dir("$GAMMAPY_DATA/magic/rad_max/data")
    observations = store.get_observations(required_irf="point-like")
    intervals = intervals_from(observations[0].tstart, 8, 5 * u.min)
    geom = RegionGeom.create(
        region=PointSkyRegion(CRAB), axes=[MapAxis.from_energy_bounds("0.08 TeV", "20 TeV", nbin=10)]
    )
    empty = SpectrumDataset.create(
        geom=geom,
        energy_axis_true=MapAxis.from_energy_bounds("0.05 TeV", "30 TeV", nbin=20, name="energy_true"),
    )
    makers = [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(region_finder=WobbleRegionsFinder(n_off_regions=3)),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    reference = reduce_slice_by_slice(makers, empty, observations, intervals)

    assert_same_products(reference, datasets, {**PRODUCTS, **ONOFF})
    assert_allclose([d.counts.data.sum() for d in datasets][:3], [139, 124, 126])


@requires_data()
def test_no_overlap(hess_store):
    observations = hess_store.get_observations([33787])
    maker = TimeResolvedDatasetsMaker(
        [MapDatasetMaker()], intervals_from("2020-01-01", 2, 10 * u.min)
    )
    energy_axis = MapAxis.from_energy_bounds("1 TeV", "10 TeV", nbin=2)
    empty = MapDataset.create(WcsGeom.create(skydir=POSITION, npix=10, axes=[energy_axis]))
    with pytest.raises(ValueError, match="No observation overlaps the 2 time intervals"):
        maker.run(empty, observations)


def test_bad_makers():
    intervals = intervals_from("2020-01-01", 2, 10 * u.min)
    with pytest.raises(ValueError, match="No maker given"):
        TimeResolvedDatasetsMaker([], intervals)
    with pytest.raises(TypeError, match="The first maker must be a MapDatasetMaker"):
        TimeResolvedDatasetsMaker([SafeMaskMaker()], intervals)
    with pytest.raises(ValueError, match="Time intervals overlap"):
        TimeResolvedDatasetsMaker([MapDatasetMaker()], intervals + intervals)


def test_second_run_with_another_on_region(tmp_path):
    """The OFF regions found in one run are not reused by the next (other ON region)."""
    from gammapy_trs.samples.demo_data import DEMO_SOURCE, simulate_demo_data_store

    store = simulate_demo_data_store(tmp_path, n_observations=1, duration=10 * u.min, random_state=3)
    observations = store.get_observations(required_irf=["aeff", "edisp", "bkg"])
    intervals = intervals_from(observations[0].tstart, 2, 5 * u.min)
    makers = [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(),
    ]
    maker = TimeResolvedDatasetsMaker(makers, intervals)
    results = []
    for radius in (0.1, 0.2):
        geom = RegionGeom.create(
            region=CircleSkyRegion(DEMO_SOURCE, radius * u.deg),
            axes=[MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=5)],
        )
        empty = SpectrumDataset.create(geom=geom, energy_axis_true=MapAxis.from_energy_bounds(
            "0.1 TeV", "60 TeV", nbin=10, name="energy_true"))
        datasets = maker.run(empty, observations)
        fresh = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
        for a, b in zip(datasets, fresh):
            np.testing.assert_array_equal(a.counts_off.data, b.counts_off.data)
            np.testing.assert_array_equal(a.acceptance_off.data, b.acceptance_off.data)
        results.append(sum(d.counts_off.data.sum() for d in datasets))
    assert results[1] > results[0]


@pytest.fixture(scope="module")
def demo_observations(tmp_path_factory):
    """Two simulated 10-min runs (no data files needed), cut into four 5-min slices."""
    from gammapy_trs.samples.demo_data import simulate_demo_data_store

    path = tmp_path_factory.mktemp("demo")
    store = simulate_demo_data_store(path, n_observations=2, duration=10 * u.min, random_state=4)
    observations = store.get_observations(required_irf=["aeff", "edisp", "bkg"])
    return observations, intervals_from(observations[0].tstart, 4, 5 * u.min)


def demo_empty_dataset():
    from gammapy_trs.samples.demo_data import DEMO_SOURCE

    geom = RegionGeom.create(
        region=CircleSkyRegion(DEMO_SOURCE, 0.15 * u.deg),
        axes=[MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=6)],
    )
    return SpectrumDataset.create(geom=geom, energy_axis_true=MapAxis.from_energy_bounds(
        "0.1 TeV", "60 TeV", nbin=12, name="energy_true"))


def test_region_average_and_irf_masks(demo_observations):
    """IRFs averaged over the ON region; edisp-bias, offset-max and aeff-max masks."""
    observations, intervals = demo_observations
    empty = demo_empty_dataset()
    makers = [
        SpectrumDatasetMaker(
            use_region_center=False, containment_correction=False, selection=["counts", "exposure", "edisp"]
        ),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(
            methods=["aeff-max", "edisp-bias", "offset-max"], aeff_percent=5, bias_percent=10, offset_max="2.5 deg"
        ),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    reference = reduce_slice_by_slice(makers, empty, observations, intervals)
    assert_same_products(reference, datasets, {**PRODUCTS, **ONOFF})
    assert 0 < datasets[0].mask_safe.data.sum() < datasets[0].mask_safe.data.size


def test_parallel_equals_serial(demo_observations):
    """n_jobs=2 (multiprocessing, one observation per task) gives the serial datasets."""
    observations, intervals = demo_observations
    empty = demo_empty_dataset()
    makers = [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    serial = TimeResolvedDatasetsMaker(makers, intervals, n_jobs=1).run(empty, observations)
    parallel = TimeResolvedDatasetsMaker(
        makers, intervals, n_jobs=2, parallel_backend="multiprocessing"
    ).run(empty, observations)
    assert parallel.names == serial.names
    assert len(serial) == 4
    assert_same_products(serial, parallel, {**PRODUCTS, **ONOFF})
    assert sum(d.counts.data.sum() for d in serial) > 0


def reduce_one_slice(makers, empty, observation, interval, name):
    reduced = empty.copy(name=name)
    sliced = observation.select_time(interval)
    for maker in makers:
        reduced = maker.run(reduced, sliced)
    return reduced


def test_gti_gaps(demo_observations):
    """All GTIs count: slices after a gap are kept (Gammapy's select_time drops them)."""
    from gammapy.data import GTI, Observations

    observation = copy.copy(demo_observations[0][0])
    t0 = observation.tstart
    observation.__dict__["_gti"] = GTI.create([0, 6] * u.min, [5, 10] * u.min, reference_time=t0)
    observations = Observations([observation])
    intervals = intervals_from(t0, 5, 2 * u.min)  # the third, 4-6 min, holds 1 min of GTI
    empty, makers = demo_empty_dataset(), [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    assert datasets.names == [f"{observation.obs_id}-{i:04d}" for i in range(5)]
    reference = [reduce_one_slice(makers, empty, observation, intervals[i], "ref") for i in range(5)]
    assert_same_products(reference, datasets, {**PRODUCTS, **ONOFF})
    livetime = [d.exposure.meta["livetime"].to_value("s") for d in datasets]
    assert_allclose(np.array(livetime) / livetime[0], [1, 1, 0.5, 1, 1])
    assert len(observations.select_time(intervals)) == 3  # Gammapy: the first GTI only


def test_interval_in_gap_or_touching_gives_no_slice(demo_observations):
    from gammapy.data import GTI, Observations

    observation = copy.copy(demo_observations[0][0])
    t0 = observation.tstart
    observation.__dict__["_gti"] = GTI.create([0, 6] * u.min, [4, 10] * u.min, reference_time=t0)
    # the touching interval ends 5 microseconds into the run: the round-off of times in MJD
    edge = t0 + 5 * u.us
    intervals = [Time([t0 - 5 * u.min, edge]), Time([t0 + 4 * u.min, t0 + 6 * u.min]), Time([edge, t0 + 4 * u.min])]
    makers = [SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure"])]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(demo_empty_dataset(), Observations([observation]))
    assert datasets.names == [f"{observation.obs_id}-0001"]  # sorted intervals: touching, inside, gap
    assert len(Observations([observation]).select_time(intervals)) == 2  # Gammapy keeps the touching one


def in_memory_copy(obs, **changes):
    from gammapy.data import Observation

    kwargs = dict(
        obs_id=obs.obs_id, gti=obs.gti, aeff=obs.aeff, edisp=obs.edisp, bkg=obs.bkg,
        events=obs.events, pointing=obs.pointing, location=obs.observatory_earth_location, meta=obs.meta,
    )
    return Observation(**{**kwargs, **changes})


def test_in_memory_observations(demo_observations):
    """Observations whose IRFs and events are in memory, not in files."""
    from gammapy.data import Observations

    observations, intervals = demo_observations
    in_memory = Observations([in_memory_copy(obs) for obs in observations])
    assert not any(key.endswith("_hdu") for key in in_memory[0].__dict__)
    empty, makers = demo_empty_dataset(), [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, in_memory)
    from_files = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    assert_same_products(reduce_slice_by_slice(makers, empty, in_memory, intervals), datasets, {**PRODUCTS, **ONOFF})
    assert_same_products(from_files, datasets, {**PRODUCTS, **ONOFF})


def test_drifting_pointing_reduced_slice_by_slice(demo_observations, caplog):
    """A drift-scan observation (fixed Alt-Az) gets its products computed per slice."""
    import logging
    from astropy.coordinates import AltAz
    from gammapy.data import FixedPointingInfo, Observations, PointingMode

    from gammapy.irf import EffectiveAreaTable2D

    observations, intervals = demo_observations
    obs = observations[0]
    altaz = obs.get_pointing_altaz(obs.tmid)
    fixed = AltAz(alt=altaz.alt, az=altaz.az, location=obs.observatory_earth_location)
    # the demo effective area is flat in offset: make it fall off, so that the drift shows
    offset = obs.aeff.axes["offset"].center.to_value("deg")
    aeff = EffectiveAreaTable2D(
        axes=obs.aeff.axes, data=obs.aeff.data * np.exp(-0.5 * offset**2), unit=obs.aeff.unit
    )
    drifting = in_memory_copy(obs, pointing=FixedPointingInfo(fixed_altaz=fixed), aeff=aeff)
    assert drifting.pointing.mode == PointingMode.DRIFT
    empty, makers = demo_empty_dataset(), [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    with caplog.at_level(logging.INFO):
        datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, Observations([drifting]))
    assert "products recomputed for each slice" in caplog.text
    reference = reduce_slice_by_slice(makers, empty, Observations([drifting]), intervals)
    assert_same_products(reference, datasets, {**PRODUCTS, **ONOFF})
    assert len(datasets) == 2
    # the source drifts through the field of view: the exposure differs between the slices
    # by far more than the 1e-6 that product equality allows
    ratio = datasets[1].exposure.data.sum() / datasets[0].exposure.data.sum()
    assert abs(ratio - 1) > 1e-4


def test_altaz_background_made_per_slice(demo_observations):
    """A background aligned with Alt-Az rotates in the field of view: made for each slice."""
    from gammapy.data import Observations
    from gammapy.irf import Background3D, FoVAlignment
    from gammapy_trs.samples.demo_data import DEMO_SOURCE

    observations, intervals = demo_observations
    obs = observations[0]
    # the demo background is radially symmetric: give it a gradient along the Alt-Az FoV longitude
    bkg = obs.bkg.to_3d()
    lon = bkg.axes["fov_lon"].center.to_value("deg")
    gradient = (1 + 0.3 * lon)[np.newaxis, :, np.newaxis]
    bkg = Background3D(axes=bkg.axes, data=bkg.data * gradient, unit=bkg.unit, fov_alignment=FoVAlignment.ALTAZ)
    rotated = Observations([in_memory_copy(obs, bkg=bkg)])
    geom = WcsGeom.create(
        skydir=DEMO_SOURCE, binsz=0.1, width=(2, 2), frame="icrs",
        axes=[MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=4)],
    )
    empty = MapDataset.create(
        geom, energy_axis_true=MapAxis.from_energy_bounds("0.1 TeV", "60 TeV", nbin=6, name="energy_true"),
        binsz_irf=0.5,
    )
    makers = [MapDatasetMaker(selection=["counts", "exposure", "background"])]
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, rotated)
    reference = reduce_slice_by_slice(makers, empty, rotated, intervals)
    products = {name: PRODUCTS[name] for name in ("counts", "exposure", "livetime", "mask_safe", "gti")}
    products["background"] = MAP["background"]
    for ref, new in zip(reference, datasets):
        for name, get in products.items():
            assert relative_difference(get(ref), get(new)) < 1e-6, (new.name, name)
    # not the full observation's background scaled by ontime: that would differ by more
    # than the 1e-6 that product equality allows
    summed = datasets[0].background.data + datasets[1].background.data
    whole = reduce_slice_by_slice(makers, empty, rotated, [Time([obs.tstart, obs.tstop])])[0]
    assert relative_difference(summed, whole.background.data) > 1e-5
