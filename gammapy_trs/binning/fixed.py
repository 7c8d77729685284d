"""Fixed-width bins, and one bin per observation or per GTI."""

import numpy as np
import astropy.units as u
from astropy.time import Time
from .intervals import as_gti, interval_pairs, observations_span

__all__ = ["fixed_width_intervals", "observation_intervals"]


def fixed_width_intervals(time_start, time_stop, width, max_bins=100_000):
    """Contiguous intervals of a fixed width; the last one ends at ``time_stop``.

    Parameters
    ----------
    time_start, time_stop : `~astropy.time.Time`
        Range to cover.
    width : `~astropy.units.Quantity` or str
        Bin width.
    max_bins : int, optional
        Largest number of bins; more raise a ValueError before any is made (a
        guard against a unit slip such as ``1 ms``). None for no limit.
        Default is 100000.

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        Intervals; the last one is shorter if the range is not a multiple of ``width``.
    """
    time_start, time_stop = Time(time_start), Time(time_stop)
    width = u.Quantity(width)
    duration = (time_stop - time_start).to(u.s)
    if duration <= 0 * u.s:
        raise ValueError(f"time_stop ({time_stop.isot}) must be after time_start ({time_start.isot}).")
    if width <= 0 * u.s:
        raise ValueError(f"width must be positive, got {width}.")
    n_bins = int(np.ceil((duration / width).to_value("") - 1e-9))
    if max_bins is not None and n_bins > max_bins:
        raise ValueError(
            f"{n_bins} bins of {width} from {time_start.isot} to {time_stop.isot} is more than "
            f"max_bins={max_bins}: use wider bins, or raise max_bins."
        )
    edges = time_start + np.arange(n_bins + 1) * width
    edges[-1] = time_stop
    return interval_pairs(edges[:-1], edges[1:])


def observation_intervals(observations, per="observation"):
    """One interval per observation, or per GTI of each observation.

    Parameters
    ----------
    observations : `~gammapy.data.Observations`
        Observations.
    per : {"observation", "gti"}, optional
        One bin per observation (its first start to its last stop), or one
        per GTI row. Default is "observation".

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        Intervals, sorted by start.
    """
    if per not in ("observation", "gti"):
        raise ValueError(f"per must be 'observation' or 'gti', got {per!r}.")
    starts, stops = [], []
    for obs in observations:
        if per == "observation":
            # not obs.tstop, which is the end of the first GTI
            starts.append(obs.gti.time_start[0])
            stops.append(obs.gti.time_stop[-1])
        else:
            starts.extend(obs.gti.time_start)
            stops.extend(obs.gti.time_stop)
    if not starts:
        raise ValueError("No observation given.")
    gti = as_gti(interval_pairs(Time(starts), Time(stops)))
    return interval_pairs(gti.time_start, gti.time_stop)




def fixed_from_observations(observations, on_region, options):
    """`fixed_width_intervals` from ``options.start`` (default: the first observation start)
    to ``options.stop`` (default: the last stop), ``options.width`` wide."""
    # the span of the observations reads their GTIs: only where a bound is not given
    first, last = observations_span(observations) if not (options.start and options.stop) else (None, None)
    start = Time(options.start) if options.start else first
    stop = Time(options.stop) if options.stop else last
    return fixed_width_intervals(start, stop, options.width, max_bins=options.max_bins)


def per_observation(observations, on_region, options):
    """`observation_intervals`, one bin per observation."""
    return observation_intervals(observations, per="observation")


def per_gti(observations, on_region, options):
    """`observation_intervals`, one bin per GTI."""
    return observation_intervals(observations, per="gti")
