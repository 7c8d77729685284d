"""Adaptive bins: fine intervals merged until each reaches a significance, excess or S/N."""

import logging
import numpy as np
import astropy.units as u
from gammapy.stats import WStatCountsStatistic
from .events import count_in_intervals, on_off_event_times
from .fixed import fixed_width_intervals, observation_intervals
from .intervals import as_gti, interval_pairs

__all__ = ["adaptive_intervals", "CRITERIA"]

log = logging.getLogger(__name__)

CRITERIA = ("significance", "excess", "snr")
"""The criteria of `adaptive_intervals`."""


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
    return interval_pairs(gti.time_start[[g[0] for g in groups]], gti.time_stop[[g[-1] for g in groups]])


def _close_segment(groups, remainder, segment_start, passes):
    """Add what is left of a stretch of data to its last bin, or drop it."""
    if not remainder:
        return
    if len(groups) > segment_start and passes(groups[-1] + remainder):
        groups[-1] = groups[-1] + remainder
    else:
        log.info(f"{len(remainder)} fine interval(s) at the end of a stretch dropped: below threshold.")


def adaptive_from_observations(observations, on_region, options):
    """`adaptive_intervals` of fine intervals ``options.width`` wide within each observation,
    counted in the ON and reflected OFF regions (``options.energy_min`` to ``energy_max``)."""
    times = on_off_event_times(
        observations, on_region, energy_min=options.energy_min, energy_max=options.energy_max
    )
    fine = [
        interval
        for start, stop in observation_intervals(observations)
        for interval in fixed_width_intervals(start, stop, options.width, max_bins=options.max_bins)
    ]
    n_off = count_in_intervals(times["off"], fine)
    weighted = count_in_intervals(times["off"], fine, weights=times["alpha_off"])
    alpha = [w / n if n > 0 else 0.1 for w, n in zip(weighted, n_off)]
    return adaptive_intervals(
        fine,
        count_in_intervals(times["on"], fine),
        n_off,
        alpha,
        criterion=options.criterion,
        threshold=options.threshold,
        max_gap=options.max_gap,
    )
