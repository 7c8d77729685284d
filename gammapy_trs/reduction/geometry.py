"""Region geometries: point-like ON regions, and a fast ``contains`` for event indices.

`~gammapy_trs.utils.gammapy_internals.SharedBBoxRegionGeom` (used for the
products of the full observation only) is with the other Gammapy internals.
"""

from gammapy.maps import MapCoord
from regions import PixCoord
from ..utils.gammapy_internals import with_methods

__all__ = ["is_point_like", "with_fast_contains"]


def is_point_like(geom):
    """Point-like ON region: Gammapy counts it with the energy-dependent RAD_MAX."""
    return geom.is_region and geom.is_all_point_sky_regions


def with_fast_contains(geom, pixel_region=None):
    """Copy of a region geometry whose ``contains`` uses a pixel region made once.

    `regions` converts the sky region to pixels (a WCS computation per circle of
    a compound region) at every call; the result is the same.
    """
    if not geom.is_region or geom.region is None or geom.is_all_point_sky_regions:
        return geom
    if pixel_region is None:
        pixel_region = geom.region.to_pixel(geom.wcs)

    def contains(coords):
        coords = MapCoord.create(coords, frame=geom.frame, axis_names=geom.axes.names)
        return pixel_region.contains(PixCoord.from_sky(coords.skycoord, geom.wcs))

    return with_methods(geom, contains=contains)
