"""Time binning strategies: fixed width, per observation, Bayesian blocks, adaptive.

Every function returns a list of ``Time([start, stop])`` intervals, sorted,
that `~gammapy_trs.TimeResolvedDatasetsMaker` and
`~gammapy_trs.TimeResolvedSpectrumEstimator` accept. Event counts use the
convention of `~gammapy.data.EventList.select_time`: start inclusive, stop
exclusive.
"""

import logging
import numpy as np
import astropy.units as u
from astropy.stats import bayesian_blocks
from astropy.time import Time
from gammapy.makers import ReflectedRegionsFinder
from gammapy.stats import WStatCountsStatistic
from .intervals import as_gti

__all__ = [
    "fixed_width_intervals",
    "observation_intervals",
    "count_in_intervals",
    "on_off_event_times",
    "bayesian_block_intervals",
    "adaptive_intervals",
]

log = logging.getLogger(__name__)

CRITERIA = ("significance", "excess", "snr")


def _pairs(starts, stops):
    return [Time([start, stop]) for start, stop in zip(starts, stops)]


def fixed_width_intervals(time_start, time_stop, width):
    """Contiguous intervals of a fixed width; the last one ends at ``time_stop``.

    Parameters
    ----------
    time_start, time_stop : `~astropy.time.Time`
        Range to cover.
    width : `~astropy.units.Quantity` or str
        Bin width.

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
    edges = time_start + np.arange(n_bins + 1) * width
    edges[-1] = time_stop
    return _pairs(edges[:-1], edges[1:])


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
    gti = as_gti(_pairs(Time(starts), Time(stops)))
    return _pairs(gti.time_start, gti.time_stop)


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


def _blocks(seconds, p0, x=None, sigma=None, fitness="events"):
    return bayesian_blocks(seconds, x, sigma, fitness=fitness, p0=p0)


def bayesian_block_intervals(
    on_times,
    p0=0.05,
    off_times=None,
    alpha_off=None,
    gti=None,
    fine_width="60 s",
):
    """Bayesian blocks (Scargle et al. 2013) of the source light curve.

    Without OFF events, the blocks are found on the unbinned ON arrival times
    (``fitness="events"``). With OFF events, they are found on the excess rate
    ``(n_on - sum(alpha_off)) / width`` in fine bins of ``fine_width`` with
    Gaussian errors ``sqrt(n_on + sum(alpha_off^2))`` (at least 1 count;
    ``fitness="measures"``), so that changes of the background alone do not
    make blocks. Blocks are computed in each GTI separately (no block spans a
    gap) when ``gti`` is given.

    Parameters
    ----------
    on_times : `~astropy.time.Time`
        Arrival times of the ON events.
    p0 : float, optional
        False-alarm probability of a change point. Default is 0.05.
    off_times : `~astropy.time.Time`, optional
        Arrival times of the OFF events. Default is None.
    alpha_off : float or `~numpy.ndarray`, optional
        ON/OFF exposure ratio (per OFF event). Required with ``off_times``.
    gti : `~gammapy.data.GTI` or list of `~astropy.time.Time`, optional
        Good time intervals; blocks cover them exactly. Default is None, from
        the first to the last ON event.
    fine_width : `~astropy.units.Quantity` or str, optional
        Width of the fine bins with OFF events. Default is "60 s".

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        The blocks.
    """
    if len(on_times) < 2:
        raise ValueError(f"Bayesian blocks need at least 2 ON events, got {len(on_times)}.")
    if not 0 < p0 < 1:
        raise ValueError(f"p0 must be between 0 and 1, got {p0}.")
    if off_times is not None and alpha_off is None:
        raise ValueError("alpha_off is required with off_times.")

    on_times = Time(on_times)
    if gti is None:
        segments = [Time([on_times.min(), on_times.max()])]
    else:
        gti = as_gti(gti)
        segments = list(gti.time_intervals)
    ref = segments[0][0]
    intervals = []
    for start, stop in segments:
        t0, t1 = (start - ref).to_value(u.s), (stop - ref).to_value(u.s)
        if off_times is None:
            t = (on_times - ref).to_value(u.s)
            t = np.sort(t[(t >= t0) & (t <= t1)])
            if t.size < 2:
                edges = np.array([t0, t1])
            else:
                edges = _blocks(t, p0)
        else:
            edges = _excess_blocks(on_times, off_times, alpha_off, ref, t0, t1, fine_width, p0)
        edges[0], edges[-1] = t0, t1
        edges = ref + edges * u.s
        intervals += _pairs(edges[:-1], edges[1:])
    return intervals


def _excess_blocks(on_times, off_times, alpha_off, ref, t0, t1, fine_width, p0):
    """Block edges (seconds from ref) of the excess rate in fine bins between t0 and t1."""
    width = u.Quantity(fine_width).to_value(u.s)
    n_fine = max(int(np.ceil((t1 - t0) / width - 1e-9)), 1)
    fine = np.minimum(t0 + np.arange(n_fine + 1) * width, t1)
    on = np.histogram((on_times - ref).to_value(u.s), bins=fine)[0]
    t_off = (Time(off_times) - ref).to_value(u.s)
    alpha = np.broadcast_to(np.asarray(alpha_off, dtype=float), t_off.shape)
    background = np.histogram(t_off, bins=fine, weights=alpha)[0]
    variance = np.maximum(on + np.histogram(t_off, bins=fine, weights=alpha**2)[0], 1.0)
    widths = np.diff(fine)
    if n_fine < 2:
        return np.array([t0, t1])
    centers = 0.5 * (fine[:-1] + fine[1:])
    edges = _blocks(centers, p0, x=(on - background) / widths, sigma=np.sqrt(variance) / widths, fitness="measures")
    # snap the change points to the fine-bin edges
    inner = fine[np.searchsorted(centers, edges[1:-1])] if edges.size > 2 else np.array([])
    return np.concatenate([[t0], np.unique(inner), [t1]])


def _statistic(criterion, n_on, n_off, alpha):
    if criterion == "significance":
        return float(WStatCountsStatistic(n_on, n_off, alpha).sqrt_ts)
    excess = n_on - alpha * n_off
    if criterion == "excess":
        return float(excess)
    variance = n_on + alpha**2 * n_off
    return float(excess / np.sqrt(variance)) if variance > 0 else 0.0


def adaptive_intervals(
    time_intervals,
    n_on,
    n_off=None,
    alpha=None,
    criterion="significance",
    threshold=5.0,
    max_gap="30 min",
):
    """Merge consecutive fine intervals until each bin reaches a threshold.

    Fine intervals are merged in time order until the criterion reaches
    ``threshold``; a merged bin never spans a gap longer than ``max_gap``
    between two fine intervals. What is left at the end of a stretch of
    data is added to the previous bin of that stretch if the sum still passes,
    and dropped (with a log line) otherwise: every returned bin passes.

    Parameters
    ----------
    time_intervals : list of `~astropy.time.Time`
        Fine intervals, e.g. from `fixed_width_intervals`.
    n_on : array-like
        ON counts in each fine interval (e.g. `count_in_intervals`).
    n_off : array-like, optional
        OFF counts in each fine interval. Default is None (no background):
        then "significance" is not available.
    alpha : float or array-like, optional
        ON/OFF exposure ratio (per fine interval). Required with ``n_off``.
    criterion : {"significance", "excess", "snr"}, optional
        Li & Ma significance (`gammapy.stats.WStatCountsStatistic`), excess
        counts ``n_on - alpha n_off``, or signal-to-noise
        ``excess / sqrt(n_on + alpha^2 n_off)``. Default is "significance".
    threshold : float, optional
        Minimum value of the criterion. Default is 5.
    max_gap : `~astropy.units.Quantity` or str, optional
        Largest gap a bin may span. Default is "30 min".

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        Merged intervals.
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}.")
    gti = as_gti(time_intervals)
    n_bins = len(gti.table)
    n_on = np.asarray(n_on, dtype=float)
    if n_on.shape != (n_bins,):
        raise ValueError(f"n_on has {n_on.size} values for {n_bins} time intervals.")
    if n_off is None:
        if criterion == "significance":
            raise ValueError("criterion 'significance' needs n_off and alpha.")
        n_off, alpha = np.zeros(n_bins), np.zeros(n_bins)
    elif alpha is None:
        raise ValueError("alpha is required with n_off.")
    n_off = np.asarray(n_off, dtype=float)
    alpha = np.broadcast_to(np.asarray(alpha, dtype=float), (n_bins,))
    ref = gti.time_ref
    starts = (gti.time_start - ref).to_value(u.s)
    stops = (gti.time_stop - ref).to_value(u.s)
    max_gap = u.Quantity(max_gap).to_value(u.s)

    def passes(group):
        on, off = n_on[group].sum(), n_off[group].sum()
        background = np.sum(alpha[group] * n_off[group])
        a = background / off if off > 0 else float(np.mean(alpha[group]))
        return _statistic(criterion, on, off, a) >= threshold

    groups, current, segment_start = [], [], 0
    for idx in range(n_bins):
        if current and starts[idx] - stops[current[-1]] > max_gap:
            _close_segment(groups, current, segment_start, passes)
            current, segment_start = [], len(groups)
        current.append(idx)
        if passes(current):
            groups.append(current)
            current = []
    _close_segment(groups, current, segment_start, passes)

    if not groups:
        raise ValueError(
            f"No bin reaches {criterion} >= {threshold}, even merging all "
            f"{n_bins} intervals within gaps of {max_gap} s."
        )
    return _pairs(gti.time_start[[g[0] for g in groups]], gti.time_stop[[g[-1] for g in groups]])


def _close_segment(groups, remainder, segment_start, passes):
    """Add what is left of a stretch of data to its last bin, or drop it."""
    if not remainder:
        return
    if len(groups) > segment_start and passes(groups[-1] + remainder):
        groups[-1] = groups[-1] + remainder
    else:
        log.info(f"{len(remainder)} fine interval(s) at the end of a stretch dropped: below threshold.")
