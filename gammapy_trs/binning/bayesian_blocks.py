"""Bayesian blocks of the ON (or ON - OFF excess) light curve."""

import numpy as np
import astropy.units as u
from astropy.stats import bayesian_blocks
from astropy.time import Time
from .events import on_off_event_times
from .fixed import observation_intervals
from .intervals import as_gti, interval_pairs

__all__ = ["bayesian_block_intervals"]


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
        intervals += interval_pairs(edges[:-1], edges[1:])
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


def bayesian_blocks_from_observations(observations, on_region, options):
    """`bayesian_block_intervals` of the ON/OFF events of the observations, per observation,
    at the false-alarm probability ``options.p0``, in ``options.energy_min`` to ``energy_max``."""
    times = on_off_event_times(
        observations, on_region, energy_min=options.energy_min, energy_max=options.energy_max
    )
    return bayesian_block_intervals(
        times["on"],
        p0=options.p0,
        off_times=times["off"],
        alpha_off=times["alpha_off"],
        gti=observation_intervals(observations),
    )
