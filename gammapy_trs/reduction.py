"""Time-sliced data reduction: one dataset per (observation x time interval) overlap.

The makers are run once per observation on the whole observation; each time
slice then only gets its event-dependent products (counts, OFF counts, FoV
background normalisation) and the time-linear products (exposure, background,
PSF and energy-dispersion exposure) scaled to its livetime. The products equal
those of the same makers run on ``observations.select_time(intervals)``.
"""

import copy
import functools
import logging
import numpy as np
import astropy.units as u
import gammapy.utils.parallel as parallel
from gammapy.data import Observation, PointingMode
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.irf import FoVAlignment
from gammapy.makers import MapDatasetMaker, ReflectedRegionsBackgroundMaker, SafeMaskMaker
from gammapy.maps import Map, MapCoord, RegionGeom, RegionNDMap
from gammapy.utils.fits import LazyFitsData
from regions import PixCoord
from .intervals import as_gti

__all__ = ["TimeResolvedDatasetsMaker"]

log = logging.getLogger(__name__)

IRF_SAFE_METHODS = {
    "offset-max": "make_mask_offset_max",
    "aeff-default": "make_mask_energy_aeff_default",
    "aeff-max": "make_mask_energy_aeff_max",
    "edisp-bias": "make_mask_energy_edisp_bias",
}


class _CachedObservation(Observation):
    """An observation that keeps its IRFs and events once read from disk.

    Gammapy's `~gammapy.data.Observation` reads them again at every access.
    """

    aeff = LazyFitsData(cache=True)
    edisp = LazyFitsData(cache=True)
    psf = LazyFitsData(cache=True)
    _bkg = LazyFitsData(cache=True)
    _events = LazyFitsData(cache=True)


def _renamed(dataset, name):
    """Shallow copy of the empty reference dataset under another name.

    The makers only read it (its geometries and name) and make new datasets, so
    its maps, and the geometries whose properties Gammapy caches, are shared.
    """
    renamed = copy.copy(dataset)
    renamed._name = name
    return renamed


def _light_copy(observation):
    """Shallow copy of an observation with its GTI and meta data read, not its IRFs or events."""
    light = copy.copy(observation)
    _ = light.meta, light.gti  # lazily read, cached: the copies made from it share them
    return light


def _loaded_copy(observation):
    """Shallow copy of an observation that reads its IRFs and events only once."""
    loaded = copy.copy(observation)
    loaded.__class__ = _CachedObservation
    _ = loaded._events  # read now, so that copies of the copy share the events
    return loaded


def _scaled_map(m, factor=1.0):
    """An independent copy of a map, with its data multiplied by factor."""
    return Map.from_geom(
        m.geom, data=m.data * factor, unit=m.unit, dtype=m.data.dtype, meta=copy.copy(m.meta)
    )


def _scaled(product, factor):
    """Copy of a map, or of an IRF map with its exposure map, multiplied by factor."""
    if product is None:
        return None
    if not hasattr(product, "exposure_map"):
        return _scaled_map(product, factor)
    exposure = None if product.exposure_map is None else _scaled_map(product.exposure_map, factor)
    return product.__class__(_scaled_map(product._irf_map), exposure)


class _EventIndex:
    """Map indices of the events of an observation, computed once for all its slices.

    ``counts(interval)`` equals ``Map.fill_events`` with the events of
    ``observation.select_time(interval)``: the same indices
    (``geom.coord_to_idx``), the same time selection (start inclusive, stop
    exclusive) and ``fill_by_idx``.
    """

    def __init__(self, geom, observation, pixel_region=None):
        obs = copy.copy(observation)
        obs.obs_filter = copy.copy(observation.obs_filter)
        obs.obs_filter.time_filter = None
        events = obs.events
        self.geom = geom
        self.time = events.time
        self.idx = _with_fast_contains(geom, pixel_region).coord_to_idx(events.map_coord(geom))

    def counts(self, interval=None):
        counts = Map.from_geom(self.geom)
        if interval is None:
            idx = self.idx
        else:
            selected = (interval[0] <= self.time) & (self.time < interval[1])
            idx = tuple(i[selected] for i in self.idx)
        counts.fill_by_idx(idx)
        return counts


def _is_point_like(geom):
    """Point-like ON region: Gammapy counts it with the energy-dependent RAD_MAX."""
    return geom.is_region and geom.is_all_point_sky_regions


def _with_fast_contains(geom, pixel_region=None):
    """Copy of a region geometry whose ``contains`` uses a pixel region made once.

    `regions` converts the sky region to pixels (a WCS computation per circle of
    a compound region) at every call; the result is the same.
    """
    if not geom.is_region or geom.region is None or geom.is_all_point_sky_regions:
        return geom
    if pixel_region is None:
        pixel_region = geom.region.to_pixel(geom.wcs)
    fast = copy.copy(geom)

    def contains(coords):
        coords = MapCoord.create(coords, frame=geom.frame, axis_names=geom.axes.names)
        return pixel_region.contains(PixCoord.from_sky(coords.skycoord, geom.wcs))

    fast.contains = contains
    return fast


class _CachedRegionFinder:
    """Region finder returning the OFF regions found once for an observation."""

    def __init__(self, regions, wcs):
        self.regions, self.wcs = regions, wcs

    def run(self, center, region, exclusion_mask=None):
        return self.regions, self.wcs


class _ReflectedSlices:
    """ReflectedRegionsBackgroundMaker for the slices of one observation.

    The OFF regions are found once; for extended ON regions the OFF-region
    membership and energy bin of every event are computed once too, and each
    slice only counts its events (the time selection of
    `~gammapy.data.EventList.select_time`). Point-like ON regions with RAD_MAX
    go through the maker itself, with the cached regions.
    """

    def __init__(self, maker, template, observation, regions, wcs, geom_cache):
        self.maker = copy.copy(maker)
        self.maker.region_finder = _CachedRegionFinder(regions, wcs)
        geom = template.counts.geom
        self.fast = bool(regions) and not _is_point_like(geom)
        if self.fast:
            energy_axis = geom.axes["energy"]
            key = (id(regions), tuple(energy_axis.edges.to_value("TeV")))
            if key not in geom_cache:
                geom_off = RegionGeom.from_regions(regions=regions, axes=[energy_axis], wcs=wcs)
                geom_cache[key] = (geom_off, geom_off.region.to_pixel(geom_off.wcs))
            self.index = _EventIndex(*geom_cache[key][:1], observation, geom_cache[key][1])
            self.n_regions = len(regions)

    def run(self, dataset, observation, interval=None):
        if not self.fast:
            return self.maker.run(dataset, observation)
        return SpectrumDatasetOnOff.from_spectrum_dataset(
            dataset=dataset,
            acceptance=RegionNDMap.from_geom(geom=dataset.counts.geom, data=1),
            acceptance_off=RegionNDMap.from_geom(geom=self.index.geom, data=self.n_regions),
            counts_off=self.index.counts(interval),
            name=dataset.name,
        )


class _ObservationReduction:
    """The makers of one observation, prepared once and applied to its time slices."""

    def __init__(self, makers, dataset, observation, region_cache=None):
        self.observation = _loaded_copy(observation)
        # slices need only the GTI and meta data: cut them from the unloaded observation
        self.light = _light_copy(observation)
        self.dataset = dataset
        self.region_cache = {} if region_cache is None else region_cache
        self.makers = []
        template = _renamed(dataset, dataset.name)
        for maker in makers:
            prepared, template = self._prepare(maker, template)
            self.makers.append(prepared)

    def _prepare(self, maker, template):
        """The maker to apply to each slice, and the template advanced by the maker."""
        obs = self.observation
        if isinstance(maker, MapDatasetMaker):
            geom = template.counts.geom
            index = None if _is_point_like(geom) else _EventIndex(geom, obs)
            first = copy.copy(maker)
            if index is not None:
                first.make_counts = lambda geom, observation: index.counts()
            full = first.run(template, obs)
            return self._scaling_maker(maker, full, index), full
        if isinstance(maker, SafeMaskMaker):
            masks = [
                getattr(maker, IRF_SAFE_METHODS[m])(template, obs)
                for m in maker.methods
                if m in IRF_SAFE_METHODS
            ]
            irf_mask = functools.reduce(np.logical_and, masks, True)
            prepared = ("safe", maker, irf_mask)
            return prepared, self._apply_safe_mask(maker, irf_mask, template, obs)
        if isinstance(maker, ReflectedRegionsBackgroundMaker):
            center = obs.get_pointing_icrs(obs.tmid)
            key = (id(maker), round(center.ra.deg, 9), round(center.dec.deg, 9))
            if key not in self.region_cache:
                self.region_cache[key] = maker.region_finder.run(
                    center=center,
                    region=template.counts.geom.region,
                    exclusion_mask=maker.exclusion_mask,
                )
            geom_cache = self.region_cache.setdefault("geoms", {})
            prepared = _ReflectedSlices(maker, template, obs, *self.region_cache[key], geom_cache)
            return prepared, prepared.run(template, obs)
        return maker, maker.run(template, obs)

    def _scaling_maker(self, maker, full, index=None):
        """The dataset maker with its time-linear products taken from the full observation.

        Counts come from the event index (where the ON region is not point-like).
        """
        obs = self.observation
        livetime = obs.observation_live_time_duration
        ontime = obs.observation_time_duration
        scaled = copy.copy(maker)
        # the same for every slice (telescope, obs id, pointing): the full observation's
        scaled.make_meta_table = lambda observation: full.meta_table.copy()

        last = {}

        def live_ratio(observation):
            # asked for by the exposure and the IRFs of the same slice: computed once
            # (the slice is kept referenced, so that its identity cannot be reused)
            if last.get("observation") is not observation:
                ratio = (observation.observation_live_time_duration / livetime).to_value("")
                last.update(observation=observation, ratio=ratio)
            return last["ratio"]

        def make_exposure(geom, observation):
            exposure = _scaled(full.exposure, live_ratio(observation))
            exposure.meta["livetime"] = observation.observation_live_time_duration
            return exposure

        def make_background(geom, observation):
            ratio = (observation.observation_time_duration / ontime).to_value("")
            return _scaled(full.background, ratio)

        if "background" in maker.selection and not _background_scales(obs):
            # a background aligned with Alt-Az rotates in the field of view: per slice
            make_background = maker.make_background  # noqa: F811

        def make_irf(geom, observation):
            return _scaled(full.edisp, live_ratio(observation))

        if index is not None:
            scaled.make_counts = lambda geom, observation: index.counts(
                observation.obs_filter.time_filter
            )
        scaled.make_exposure = make_exposure
        scaled.make_background = make_background
        scaled.make_psf = lambda geom, observation: _scaled(full.psf, live_ratio(observation))
        scaled.make_edisp = make_irf
        scaled.make_edisp_kernel = make_irf
        return scaled

    @staticmethod
    def _apply_safe_mask(maker, irf_mask, dataset, observation):
        """SafeMaskMaker.run with the IRF-based masks computed once."""
        mask = dataset.mask_safe.data if dataset.mask_safe else np.ones(dataset._geom.data_shape, bool)
        if dataset.background is not None:
            mask &= maker.make_mask_bkg_invalid(dataset)
        mask &= irf_mask
        if "bkg-peak" in maker.methods:
            mask &= maker.make_mask_energy_bkg_peak(dataset, observation)
        dataset.mask_safe = Map.from_geom(dataset._geom, data=mask, dtype=bool)
        return dataset

    def run(self, interval, name):
        observation = self.light.select_time(interval)
        dataset = _renamed(self.dataset, name)
        for maker in self.makers:
            if isinstance(maker, tuple):
                _, safe_maker, irf_mask = maker
                dataset = self._apply_safe_mask(safe_maker, irf_mask, dataset, observation)
            elif isinstance(maker, _ReflectedSlices):
                dataset = maker.run(dataset, observation, interval)
            else:
                dataset = maker.run(dataset, observation)
        return dataset


def _can_share(observation):
    """Whether the IRF products of the observation are the same for all its slices."""
    pointing = getattr(observation, "pointing", None)
    return getattr(pointing, "mode", None) != PointingMode.DRIFT


def _background_scales(observation):
    """Whether the background of a slice is that of the observation scaled by ontime."""
    bkg = observation.bkg
    return bkg is None or getattr(bkg, "fov_alignment", FoVAlignment.RADEC) == FoVAlignment.RADEC


class TimeResolvedDatasetsMaker(parallel.ParallelMixin):
    """Reduce observations into one dataset per (observation x time interval) overlap.

    The result equals running ``makers`` in turn on each observation of
    ``observations.select_time(time_intervals)``, but the per-observation work
    (reading the IRFs, exposure, background, PSF and energy dispersion,
    reflected OFF regions, IRF-based safe masks) is done once per observation;
    each slice only fills its events and scales the time-linear products to its
    livetime. Observations whose pointing drifts, or whose background is aligned
    with the Alt-Az frame, are reduced slice by slice with the makers.

    Parameters
    ----------
    makers : list of `~gammapy.makers.Maker`
        Makers, in the order to run them, e.g. ``[SpectrumDatasetMaker(...),
        ReflectedRegionsBackgroundMaker(), SafeMaskMaker(...)]`` or
        ``[MapDatasetMaker(), SafeMaskMaker(...), FoVBackgroundMaker(...)]``.
    time_intervals : list of `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`
        Time intervals.
    n_jobs : int, optional
        Number of processes (one observation per task). Default is None, which
        is `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, `~gammapy.utils.parallel.BACKEND_DEFAULT`.

    Examples
    --------
    >>> from gammapy.makers import SpectrumDatasetMaker, ReflectedRegionsBackgroundMaker
    >>> from gammapy_trs import TimeResolvedDatasetsMaker
    >>> makers = [SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"]),
    ...           ReflectedRegionsBackgroundMaker()]
    >>> maker = TimeResolvedDatasetsMaker(makers, time_intervals=intervals)  # doctest: +SKIP
    >>> datasets = maker.run(empty_dataset, observations)  # doctest: +SKIP
    """

    tag = "TimeResolvedDatasetsMaker"

    def __init__(self, makers, time_intervals, n_jobs=None, parallel_backend=None):
        if not makers:
            raise ValueError("No maker given: give at least a dataset maker.")
        if not isinstance(makers[0], MapDatasetMaker):
            raise TypeError(
                "The first maker must be a MapDatasetMaker or SpectrumDatasetMaker, "
                f"got {type(makers[0]).__name__}."
            )
        self.makers = list(makers)
        self.time_intervals = as_gti(time_intervals)
        self.n_jobs = n_jobs
        self.parallel_backend = parallel_backend
        self._region_cache = {}

    def _slices(self, observation):
        """Index and interval of each time interval overlapping the observation.

        The overlap rule is that of `~gammapy.data.Observations.select_time`.
        """
        gti = self.time_intervals
        overlap = (observation.tstart <= gti.time_stop) & (observation.tstop > gti.time_start)
        return [(int(idx), gti.time_intervals[idx]) for idx in np.flatnonzero(overlap)]

    def make_observation_datasets(self, dataset, observation):
        """Datasets of the time slices of one observation.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset` or `~gammapy.datasets.SpectrumDataset`
            Empty reference dataset.
        observation : `~gammapy.data.Observation`
            Observation.

        Returns
        -------
        datasets : list of `~gammapy.datasets.Dataset`
            One dataset per overlapping interval, named ``<obs_id>-<interval index>``.
        """
        slices = self._slices(observation)
        if not slices:
            return []
        names = [f"{observation.obs_id}-{idx:04d}" for idx, _ in slices]
        if _can_share(observation):
            reduction = _ObservationReduction(
                self.makers, dataset, observation, region_cache=self._region_cache
            )
            return [reduction.run(interval, name) for (_, interval), name in zip(slices, names)]

        log.info(f"Observation {observation.obs_id}: products recomputed for each slice.")
        loaded = _loaded_copy(observation)
        datasets = []
        for (_, interval), name in zip(slices, names):
            sliced, new = loaded.select_time(interval), dataset.copy(name=name)
            for maker in self.makers:
                new = maker.run(new, sliced)
            datasets.append(new)
        return datasets

    def run(self, dataset, observations):
        """Make the datasets of all time slices of all observations.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset` or `~gammapy.datasets.SpectrumDataset`
            Empty reference dataset (geometry and axes).
        observations : `~gammapy.data.Observations`
            Observations.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            Datasets in time order, each with the GTI of its slice.
        """
        # OFF regions are cached by pointing within one run (one ON region), never across runs
        self._region_cache = {}
        self._update_child_jobs()
        per_observation = parallel.run_multiprocessing(
            self.make_observation_datasets,
            zip([dataset] * len(observations), observations),
            backend=self.parallel_backend,
            pool_kwargs=dict(processes=self.n_jobs),
            task_name="Time-sliced reduction",
        )
        datasets = [d for group in per_observation for d in group]
        if not datasets:
            raise ValueError(
                f"No observation overlaps the {len(self.time_intervals.table)} time intervals "
                f"({self.time_intervals.time_start[0].isot} - "
                f"{self.time_intervals.time_stop[-1].isot})."
            )
        start = np.array([(d.gti.time_start[0] - self.time_intervals.time_ref).to_value(u.s) for d in datasets])
        return Datasets([datasets[int(i)] for i in np.argsort(start, kind="stable")])
