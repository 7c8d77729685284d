"""Time intervals: normalisation, validation and the span of observations."""

import logging
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.data import GTI
from gammapy.maps import TimeMapAxis

__all__ = ["as_gti", "interval_pairs", "observations_span"]

log = logging.getLogger(__name__)


def _intervals_from_input(time_intervals):
    """Convert any accepted interval specification to ``(start, stop)`` Time arrays."""
    if isinstance(time_intervals, GTI):
        return time_intervals.time_start, time_intervals.time_stop

    if isinstance(time_intervals, TimeMapAxis):
        return time_intervals.time_min, time_intervals.time_max

    if isinstance(time_intervals, Time):
        if time_intervals.shape[-1:] != (2,) or time_intervals.ndim != 2:
            raise TypeError(
                "A Time array of intervals must have shape (n_bins, 2), "
                f"got shape {time_intervals.shape}."
            )
        return time_intervals[:, 0], time_intervals[:, 1]

    if isinstance(time_intervals, (str, bytes)) or not np.iterable(time_intervals):
        raise TypeError(
            "time_intervals must be a list of Time([start, stop]), a GTI or a "
            f"TimeMapAxis, got {type(time_intervals).__name__}."
        )

    intervals = list(time_intervals)
    if len(intervals) == 0:
        raise ValueError("time_intervals is empty: give at least one [start, stop].")

    for idx, interval in enumerate(intervals):
        if not isinstance(interval, Time) or interval.shape != (2,):
            raise TypeError(
                f"time_intervals[{idx}] must be a Time([start, stop]) of length 2, "
                f"got {interval!r}."
            )

    starts = Time([interval[0] for interval in intervals])
    stops = Time([interval[1] for interval in intervals])
    return starts, stops


def as_gti(time_intervals, atol="1e-6 s"):
    """Convert time intervals to a sorted, validated `~gammapy.data.GTI`.

    Parameters
    ----------
    time_intervals : list of `~astropy.time.Time`, `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`
        The intervals: a list of ``Time([start, stop])``, a ``Time`` array of
        shape ``(n_bins, 2)``, a GTI or a time axis.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on time comparisons: intervals that overlap by less than this
        are taken as touching. Default is "1e-6 s".

    Returns
    -------
    gti : `~gammapy.data.GTI`
        The intervals, sorted by start time.

    Raises
    ------
    ValueError
        If there is no interval, an interval stops before it starts or two
        intervals overlap.
    TypeError
        If the intervals are not of an accepted type.
    """
    atol = u.Quantity(atol)
    starts, stops = _intervals_from_input(time_intervals)

    if len(starts) == 0:
        raise ValueError("time_intervals is empty: give at least one [start, stop].")

    widths = (stops - starts).to(u.s)
    bad = np.flatnonzero(widths <= 0 * u.s)
    if bad.size:
        idx = bad[0]
        raise ValueError(
            f"Time interval {idx} stops before it starts: "
            f"start={starts[idx].isot}, stop={stops[idx].isot}."
        )

    order = np.argsort((starts - starts[0]).to_value(u.s), kind="stable")
    starts, stops = starts[order], stops[order]

    overlap = (stops[:-1] - starts[1:]).to(u.s) > atol
    if np.any(overlap):
        idx = np.flatnonzero(overlap)[0]
        raise ValueError(
            "Time intervals overlap: "
            f"[{starts[idx].isot}, {stops[idx].isot}] and "
            f"[{starts[idx + 1].isot}, {stops[idx + 1].isot}]. "
            "Each dataset must belong to one bin only."
        )

    return GTI.create(starts, stops, reference_time=starts[0])


def interval_pairs(starts, stops):
    """Intervals as a list of ``Time([start, stop])``.

    Parameters
    ----------
    starts, stops : `~astropy.time.Time`
        Starts and stops.

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        Intervals.
    """
    return [Time([start, stop]) for start, stop in zip(starts, stops)]


def observations_span(observations):
    """First start and last stop of the GTIs of observations.

    Every GTI counts: Gammapy's ``Observation.tstop`` is the end of the first GTI.

    Parameters
    ----------
    observations : `~gammapy.data.Observations`
        Observations.

    Returns
    -------
    start, stop : `~astropy.time.Time`
        Span of the observations.
    """
    start = min(obs.gti.time_start[0] for obs in observations)
    stop = max(obs.gti.time_stop[-1] for obs in observations)
    return start, stop
