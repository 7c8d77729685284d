"""The makers of one observation, prepared once and applied to each of its time slices."""

import copy
import dataclasses
import functools
from gammapy.data import PointingMode
from gammapy.irf import FoVAlignment
from gammapy.makers import MapDatasetMaker, ReflectedRegionsBackgroundMaker, SafeMaskMaker
from gammapy.maps import Map, RegionGeom
from ..utils.gammapy_internals import SharedBBoxRegionGeom, irf_map, renamed_dataset, with_methods
from .cached_observation import light_and_loaded_copies
from .event_index import EventIndex
from .geometry import is_point_like
from .reflected import ReflectedSlices, find_off_regions
from .safe_mask import apply_safe_mask, irf_safe_mask

__all__ = ["ObservationSlices", "ReductionCache", "can_share"]

IRF_MAKE_METHODS = ("make_exposure", "make_background", "make_psf", "make_edisp", "make_edisp_kernel")
"""The dataset-maker methods that project IRFs on a geometry."""


@dataclasses.dataclass
class ReductionCache:
    """What the observations of one run share (one ON region and one set of makers).

    Attributes
    ----------
    off_regions : dict
        OFF regions by maker and pointing.
    off_geoms : dict
        OFF geometries and their pixel regions, by regions and energy axis.
    geoms : dict
        `~gammapy_trs.reduction.geometry.SharedBBoxRegionGeom` versions of the
        reference dataset's region geometries, by ``id``.
    """

    off_regions: dict = dataclasses.field(default_factory=dict)
    off_geoms: dict = dataclasses.field(default_factory=dict)
    geoms: dict = dataclasses.field(default_factory=dict)

    def shared(self, geom):
        """``geom`` as a `SharedBBoxRegionGeom` if it is a region geometry, made once."""
        if not isinstance(geom, RegionGeom) or geom.region is None:
            return geom
        if id(geom) not in self.geoms:
            # the geometry is kept, so that its id cannot be reused
            self.geoms[id(geom)] = (geom, SharedBBoxRegionGeom.from_geom(geom))
        return self.geoms[id(geom)][1]


def can_share(observation):
    """Whether the IRF products of the observation are the same for all its slices."""
    pointing = getattr(observation, "pointing", None)
    return getattr(pointing, "mode", None) != PointingMode.DRIFT


def _background_scales(observation):
    """Whether the background of a slice is that of the observation scaled by ontime."""
    bkg = observation.bkg
    return bkg is None or getattr(bkg, "fov_alignment", FoVAlignment.RADEC) == FoVAlignment.RADEC


def _scaled_map(m, factor=1.0):
    """An independent copy of a map, with its data multiplied by factor, on a Gammapy geometry."""
    geom = m.geom.plain if isinstance(m.geom, SharedBBoxRegionGeom) else m.geom
    return Map.from_geom(geom, data=m.data * factor, unit=m.unit, dtype=m.data.dtype, meta=copy.copy(m.meta))


def _scaled(product, factor):
    """Copy of a map, or of an IRF map with its exposure map, multiplied by factor."""
    if product is None:
        return None
    if not hasattr(product, "exposure_map"):
        return _scaled_map(product, factor)
    exposure = None if product.exposure_map is None else _scaled_map(product.exposure_map, factor)
    return product.__class__(_scaled_map(irf_map(product)), exposure)


def _on_shared_geom(method, cache, geom, observation):
    return method(cache.shared(geom), observation)


class _MakerSlices:
    """A maker run as it is on each slice."""

    def __init__(self, maker):
        self.maker = maker

    def run(self, dataset, observation, interval):
        return self.maker.run(dataset, observation)


class _SafeMaskSlices:
    """A safe mask maker with its IRF-based masks made once."""

    def __init__(self, maker, irf_mask):
        self.maker, self.irf_mask = maker, irf_mask

    def run(self, dataset, observation, interval):
        return apply_safe_mask(self.maker, self.irf_mask, dataset, observation)


class ObservationSlices:
    """The makers of one observation, prepared once and applied to its time slices.

    Parameters
    ----------
    makers : list of `~gammapy.makers.Maker`
        Makers, in order; the first is a dataset maker.
    dataset : `~gammapy.datasets.Dataset`
        Empty reference dataset.
    observation : `~gammapy.data.Observation`
        Observation, not changed.
    cache : `ReductionCache`, optional
        What the observations of the run share. Default is None (a new one).
    """

    def __init__(self, makers, dataset, observation, cache=None):
        # slices need only the GTI and meta data: they are cut from the light copy
        self.light, self.observation = light_and_loaded_copies(observation)
        self.dataset = dataset
        self.cache = ReductionCache() if cache is None else cache
        self.makers = []
        template = renamed_dataset(dataset, dataset.name)
        try:
            for maker in makers:
                prepared, template = self._prepare(maker, template)
                self.makers.append(prepared)
        finally:
            self.observation.close_files()

    def _prepare(self, maker, template):
        """The maker to apply to each slice, and the template advanced by the maker."""
        obs = self.observation
        if isinstance(maker, MapDatasetMaker):
            geom = template.counts.geom
            index = None if is_point_like(geom) else EventIndex(geom, obs)
            methods = {
                name: functools.partial(_on_shared_geom, getattr(maker, name), self.cache)
                for name in IRF_MAKE_METHODS
            }
            if index is not None:
                methods["make_counts"] = lambda geom, observation: index.counts()
            full = with_methods(maker, **methods).run(template, obs)
            return _MakerSlices(self._scaling_maker(maker, full, index)), full
        if isinstance(maker, SafeMaskMaker):
            prepared = _SafeMaskSlices(maker, irf_safe_mask(maker, template, obs))
            return prepared, prepared.run(template, obs, None)
        if isinstance(maker, ReflectedRegionsBackgroundMaker):
            regions = find_off_regions(maker, template.counts.geom.region, obs, self.cache.off_regions)
            prepared = ReflectedSlices(maker, template, obs, *regions, self.cache.off_geoms)
            return prepared, prepared.run(template, obs)
        return _MakerSlices(maker), maker.run(template, obs)

    def _scaling_maker(self, maker, full, index=None):
        """The dataset maker with its time-linear products taken from the full observation.

        Counts come from the event index (where the ON region is not point-like).
        """
        obs = self.observation
        livetime = obs.observation_live_time_duration
        ontime = obs.observation_time_duration
        last = {}

        def slice_livetime(observation):
            # asked for by the exposure and the IRFs of the same slice: computed once
            # (the slice is kept referenced, so that its identity cannot be reused)
            if last.get("observation") is not observation:
                last.update(observation=observation, livetime=observation.observation_live_time_duration)
            return last["livetime"]

        def live_ratio(observation):
            return (slice_livetime(observation) / livetime).to_value("")

        def make_exposure(geom, observation):
            exposure = _scaled(full.exposure, live_ratio(observation))
            exposure.meta["livetime"] = slice_livetime(observation)
            return exposure

        def make_background(geom, observation):
            ratio = (observation.observation_time_duration / ontime).to_value("")
            return _scaled(full.background, ratio)

        if "background" in maker.selection and not _background_scales(obs):
            # a background aligned with Alt-Az rotates in the field of view: per slice
            make_background = maker.make_background  # noqa: F811

        def make_irf(geom, observation):
            return _scaled(full.edisp, live_ratio(observation))

        methods = dict(
            # the same for every slice (telescope, obs id, pointing): the full observation's
            make_meta_table=lambda observation: full.meta_table.copy(),
            make_exposure=make_exposure,
            make_background=make_background,
            make_psf=lambda geom, observation: _scaled(full.psf, live_ratio(observation)),
            make_edisp=make_irf,
            make_edisp_kernel=make_irf,
        )
        if index is not None:
            methods["make_counts"] = lambda geom, observation: index.counts(
                observation.obs_filter.time_filter
            )
        return with_methods(maker, **methods)

    def run(self, interval, name):
        """The dataset of one time slice.

        Parameters
        ----------
        interval : `~astropy.time.Time`
            Start and stop of the slice.
        name : str
            Dataset name.

        Returns
        -------
        dataset : `~gammapy.datasets.Dataset`
            The dataset the makers give for ``observation.select_time(interval)``.
        """
        observation = self.light.select_time(interval)
        dataset = renamed_dataset(self.dataset, name)
        for maker in self.makers:
            dataset = maker.run(dataset, observation, interval)
        return dataset
