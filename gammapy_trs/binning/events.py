"""Event arrival times in ON and OFF regions, and counts in time intervals."""

import logging
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.makers import ReflectedRegionsFinder
from .intervals import as_gti

__all__ = ["count_in_intervals", "on_off_event_times"]

log = logging.getLogger(__name__)


def count_in_intervals(times, intervals, weights=None):
    """Number (or sum of weights) of events in each interval, start inclusive, stop exclusive.

    Parameters
    ----------
    times : `~astropy.time.Time`
        Event times.
    intervals : list of `~astropy.time.Time`
        Intervals, not overlapping.
    weights : `~numpy.ndarray`, optional
        Weight of each event. Default is None, 1.

    Returns
    -------
    counts : `~numpy.ndarray`
        Counts per interval.
    """
    gti = as_gti(intervals)
    ref = gti.time_ref
    t = (times - ref).to_value(u.s) if len(times) else np.array([])
    starts = (gti.time_start - ref).to_value(u.s)
    stops = (gti.time_stop - ref).to_value(u.s)
    weights = np.ones(len(t)) if weights is None else np.asarray(weights, dtype=float)
    order = np.argsort(t)
    t, cumulative = t[order], np.concatenate([[0.0], np.cumsum(weights[order])])
    lo = np.searchsorted(t, starts, side="left")
    hi = np.searchsorted(t, stops, side="left")
    return cumulative[hi] - cumulative[lo]


def on_off_event_times(observations, on_region, exclusion_mask=None, energy_min=None, energy_max=None):
    """Arrival times of the events in an ON region and in reflected OFF regions.

    Parameters
    ----------
    observations : `~gammapy.data.Observations`
        Observations.
    on_region : `~regions.SkyRegion`
        ON region (e.g. a circle).
    exclusion_mask : `~gammapy.maps.WcsNDMap`, optional
        Exclusion mask for the OFF regions. Default is None.
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Reconstructed energy range of the events. Default is None, all.

    Returns
    -------
    result : dict
        ``on`` and ``off`` (`~astropy.time.Time`, sorted) and ``alpha_off``,
        the ON/OFF exposure ratio ``1 / n_off_regions`` of the observation of
        each OFF event.
    """
    finder = ReflectedRegionsFinder()
    on, off, alpha = [], [], []
    for obs in observations:
        events = obs.events
        if energy_min is not None or energy_max is not None:
            energy_min = u.Quantity(energy_min if energy_min is not None else 0 * u.TeV)
            energy_max = u.Quantity(energy_max if energy_max is not None else np.inf * u.TeV)
            events = events.select_energy([energy_min, energy_max])
        on.append(events.select_region(on_region).time)
        regions, wcs = finder.run(
            center=obs.get_pointing_icrs(obs.tmid), region=on_region, exclusion_mask=exclusion_mask
        )
        if not regions:
            log.warning(f"No OFF region found for observation {obs.obs_id}.")
            continue
        off_events = events.select_region(regions, wcs=wcs)
        off.append(off_events.time)
        alpha.append(np.full(len(off_events.table), 1.0 / len(regions)))
    on_times = Time(np.concatenate([t.mjd for t in on]), format="mjd", scale=on[0].scale)
    off_times = Time(np.concatenate([t.mjd for t in off]) if off else [], format="mjd", scale=on[0].scale)
    on_order, off_order = np.argsort(on_times.mjd), np.argsort(off_times.mjd)
    alpha = np.concatenate(alpha) if alpha else np.array([])
    return dict(on=on_times[on_order], off=off_times[off_order], alpha_off=alpha[off_order])
