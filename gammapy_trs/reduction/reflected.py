"""Reflected-region OFF counts for the time slices of one observation."""

import copy
from gammapy.datasets import SpectrumDatasetOnOff
from gammapy.maps import RegionGeom, RegionNDMap
from .event_index import EventIndex
from .geometry import is_point_like

__all__ = ["CachedRegionFinder", "ReflectedSlices", "find_off_regions"]


class CachedRegionFinder:
    """Region finder returning the OFF regions found once for an observation."""

    def __init__(self, regions, wcs):
        self.regions, self.wcs = regions, wcs

    def run(self, center, region, exclusion_mask=None):
        return self.regions, self.wcs


def find_off_regions(maker, region, observation, cache):
    """The OFF regions of ``maker`` for an observation, found once per pointing.

    Parameters
    ----------
    maker : `~gammapy.makers.ReflectedRegionsBackgroundMaker`
        Background maker.
    region : `~regions.SkyRegion`
        ON region.
    observation : `~gammapy.data.Observation`
        Observation.
    cache : dict
        Regions found so far (for one ON region: reset it for another).

    Returns
    -------
    regions, wcs : list of `~regions.SkyRegion`, `~astropy.wcs.WCS`
        What ``maker.region_finder.run`` returns.
    """
    center = observation.get_pointing_icrs(observation.tmid)
    key = (id(maker), round(center.ra.deg, 9), round(center.dec.deg, 9))
    if key not in cache:
        cache[key] = maker.region_finder.run(
            center=center, region=region, exclusion_mask=maker.exclusion_mask
        )
    return cache[key]


class ReflectedSlices:
    """ReflectedRegionsBackgroundMaker for the slices of one observation.

    The OFF regions are found once; for extended ON regions the OFF-region
    membership and energy bin of every event are computed once too, and each
    slice only counts its events (the time selection of
    `~gammapy.data.EventList.select_time`). Point-like ON regions with RAD_MAX
    go through the maker itself, with the cached regions.

    Parameters
    ----------
    maker : `~gammapy.makers.ReflectedRegionsBackgroundMaker`
        Background maker.
    template : `~gammapy.datasets.SpectrumDataset`
        Dataset of the full observation.
    observation : `~gammapy.data.Observation`
        Observation.
    regions, wcs : list of `~regions.SkyRegion`, `~astropy.wcs.WCS`
        OFF regions, from `find_off_regions`.
    geom_cache : dict
        OFF geometries and their pixel regions made so far, by regions and energy axis.
    """

    def __init__(self, maker, template, observation, regions, wcs, geom_cache):
        self.maker = copy.copy(maker)
        self.maker.region_finder = CachedRegionFinder(regions, wcs)
        geom = template.counts.geom
        self.fast = bool(regions) and not is_point_like(geom)
        if self.fast:
            energy_axis = geom.axes["energy"]
            key = (id(regions), tuple(energy_axis.edges.to_value("TeV")))
            if key not in geom_cache:
                geom_off = RegionGeom.from_regions(regions=regions, axes=[energy_axis], wcs=wcs)
                geom_cache[key] = (geom_off, geom_off.region.to_pixel(geom_off.wcs))
            geom_off, pixel_region = geom_cache[key]
            self.index = EventIndex(geom_off, observation, pixel_region)
            self.n_regions = len(regions)

    def run(self, dataset, observation, interval=None):
        """The maker's ``run`` on a slice dataset, ``interval`` being the slice's."""
        if not self.fast:
            return self.maker.run(dataset, observation)
        return SpectrumDatasetOnOff.from_spectrum_dataset(
            dataset=dataset,
            acceptance=RegionNDMap.from_geom(geom=dataset.counts.geom, data=1),
            acceptance_off=RegionNDMap.from_geom(geom=self.index.geom, data=self.n_regions),
            counts_off=self.index.counts(interval),
            name=dataset.name,
        )
