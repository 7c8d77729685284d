"""Region geometries that compute their WCS-dependent properties once.

Both are used for the products of the full observation only: what the time
slices receive has Gammapy's own geometries.
"""

import copy
from astropy.utils.decorators import lazyproperty
from gammapy.maps import MapCoord, RegionGeom
from regions import PixCoord

__all__ = ["SharedBBoxRegionGeom", "is_point_like", "with_fast_contains"]


class SharedBBoxRegionGeom(RegionGeom):
    """Region geometry whose copies with the same region and WCS share its bounding box.

    Gammapy computes the bounding box (the region's round trip through its WCS,
    which gives ``center_skydir``) again for every derived geometry:
    ``to_image``, ``to_cube`` and ``squash`` make four per IRF projection of an
    observation. The box depends only on the region and the WCS.
    """

    @classmethod
    def from_geom(cls, geom):
        """The region geometry ``geom`` as a `SharedBBoxRegionGeom`."""
        return cls(region=geom.region, axes=geom.axes, wcs=geom.wcs, binsz_wcs=geom._binsz_wcs)

    def _init_copy(self, **kwargs):
        new = super()._init_copy(**kwargs)
        if new.region is self.region and new.wcs is self.wcs and self.region is not None:
            new.__dict__["_rectangle_bbox"] = self._rectangle_bbox
        return new

    @lazyproperty
    def plain(self):
        """The same geometry as a Gammapy `~gammapy.maps.RegionGeom`, sharing the bounding box."""
        plain = RegionGeom(region=self.region, axes=self.axes, wcs=self.wcs, binsz_wcs=self._binsz_wcs)
        if self.region is not None:
            plain.__dict__["_rectangle_bbox"] = self._rectangle_bbox
        return plain


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
    fast = copy.copy(geom)

    def contains(coords):
        coords = MapCoord.create(coords, frame=geom.frame, axis_names=geom.axes.names)
        return pixel_region.contains(PixCoord.from_sky(coords.skycoord, geom.wcs))

    fast.contains = contains
    return fast
