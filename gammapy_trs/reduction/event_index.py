"""Map indices of the events of an observation, computed once for all its time slices."""

import copy
from gammapy.maps import Map
from .geometry import with_fast_contains

__all__ = ["EventIndex"]


class EventIndex:
    """Map indices of the events of an observation, computed once for all its slices.

    ``counts(interval)`` equals ``Map.fill_events`` with the events of
    ``observation.select_time(interval)``: the same indices
    (``geom.coord_to_idx``), the same time selection (start inclusive, stop
    exclusive) and ``fill_by_idx``.

    Parameters
    ----------
    geom : `~gammapy.maps.Geom`
        Geometry of the counts.
    observation : `~gammapy.data.Observation`
        Observation; its time filter, if any, is ignored.
    pixel_region : `~regions.PixelRegion`, optional
        The region of ``geom`` in pixels, if already made. Default is None.
    """

    def __init__(self, geom, observation, pixel_region=None):
        obs = copy.copy(observation)
        obs.obs_filter = copy.copy(observation.obs_filter)
        obs.obs_filter.time_filter = None
        events = obs.events
        self.geom = geom
        self.time = events.time
        self.idx = with_fast_contains(geom, pixel_region).coord_to_idx(events.map_coord(geom))

    def counts(self, interval=None):
        """Counts map of the events in ``interval`` (all events if None)."""
        counts = Map.from_geom(self.geom)
        if interval is None:
            idx = self.idx
        else:
            selected = (interval[0] <= self.time) & (self.time < interval[1])
            idx = tuple(i[selected] for i in self.idx)
        counts.fill_by_idx(idx)
        return counts
