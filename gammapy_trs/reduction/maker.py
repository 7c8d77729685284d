"""`TimeResolvedDatasetsMaker`: the observations cut into time slices, each reduced once."""

import logging
import numpy as np
import astropy.units as u
import gammapy.utils.parallel as parallel
from gammapy.datasets import Datasets
from gammapy.makers import MapDatasetMaker
from ..binning.intervals import as_gti
from ..utils.parallel import Runner
from .cached_observation import light_and_loaded_copies
from .observation_slices import ObservationSlices, ReductionCache, can_share

__all__ = ["MIN_SLICE", "TimeResolvedDatasetsMaker"]

log = logging.getLogger(__name__)

MIN_SLICE = 1 * u.ms
"""Shortest time an interval must share with an observation to give a slice: times in MJD
are exact to a few microseconds, and an interval that starts where a run starts must not give
an empty slice of no duration at its edge (which would lie in both intervals)."""


class TimeResolvedDatasetsMaker(parallel.ParallelMixin):
    """Reduce observations into one dataset per (observation x time interval) overlap.

    The result equals running ``makers`` in turn on each observation of
    ``observations.select_time(time_intervals)``, but the per-observation work
    (reading the IRFs, exposure, background, PSF and energy dispersion,
    reflected OFF regions, IRF-based safe masks) is done once per observation;
    each slice only fills its events and scales the time-linear products to its
    livetime. Observations whose pointing drifts, or whose background is aligned
    with the Alt-Az frame, are reduced slice by slice with the makers.

    A slice is made where an interval and the GTIs of an observation share a
    positive time; its GTI is their intersection. This differs from
    `~gammapy.data.Observations.select_time` in two edge cases only: Gammapy
    compares the intervals with the first GTI of each observation (so it drops
    the slices after a GTI gap) and keeps an interval that only touches an
    observation (a slice of zero livetime). Intervals outside all observations
    give no dataset; if none overlaps any observation, `run` raises a
    ValueError. A slice without events is kept, with zero counts.

    Parameters
    ----------
    makers : list of `~gammapy.makers.Maker`
        Makers, in the order to run them, e.g. ``[SpectrumDatasetMaker(...),
        ReflectedRegionsBackgroundMaker(), SafeMaskMaker(...)]`` or
        ``[MapDatasetMaker(), SafeMaskMaker(...), FoVBackgroundMaker(...)]``.
    time_intervals : list of `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`
        Time intervals.
    n_jobs : int, optional
        Number of processes (one observation per task). Default is None, which
        is `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, `~gammapy.utils.parallel.BACKEND_DEFAULT`.

    Examples
    --------
    >>> from gammapy.makers import SpectrumDatasetMaker, ReflectedRegionsBackgroundMaker
    >>> from gammapy_trs import TimeResolvedDatasetsMaker
    >>> makers = [SpectrumDatasetMaker(selection=["counts", "exposure", "edisp"]),
    ...           ReflectedRegionsBackgroundMaker()]
    >>> maker = TimeResolvedDatasetsMaker(makers, time_intervals=intervals)  # doctest: +SKIP
    >>> datasets = maker.run(empty_dataset, observations)  # doctest: +SKIP
    """

    tag = "TimeResolvedDatasetsMaker"

    def __init__(self, makers, time_intervals, n_jobs=None, parallel_backend=None):
        if not makers:
            raise ValueError("No maker given: give at least a dataset maker.")
        if not isinstance(makers[0], MapDatasetMaker):
            raise TypeError(
                "The first maker must be a MapDatasetMaker or SpectrumDatasetMaker, "
                f"got {type(makers[0]).__name__}."
            )
        self.makers = list(makers)
        self.time_intervals = time_intervals
        Runner(n_jobs, parallel_backend)  # n_jobs and the backend checked at the call
        self.n_jobs = n_jobs
        self.parallel_backend = parallel_backend
        self._cache = ReductionCache()

    @property
    def time_intervals(self):
        """Time intervals, as a sorted `~gammapy.data.GTI`."""
        return self._time_intervals

    @time_intervals.setter
    def time_intervals(self, value):
        gti = as_gti(value)
        self._time_intervals = gti
        self._intervals = gti.time_intervals
        self._interval_seconds = (
            (gti.time_start - gti.time_ref).to_value("s"),
            (gti.time_stop - gti.time_ref).to_value("s"),
        )

    def _slices(self, observation):
        """Index and interval of each time interval sharing a positive time with the observation's GTIs.

        Unlike `~gammapy.data.Observations.select_time`, which compares the
        intervals with the first GTI of an observation only, every GTI counts;
        intervals that only touch the observation (within `MIN_SLICE`: the
        round-off of times in MJD), or fall in a GTI gap, give no slice.
        """
        gti = observation.gti
        ref = self.time_intervals.time_ref
        gti_start = (gti.time_start - ref).to_value("s")
        gti_stop = (gti.time_stop - ref).to_value("s")
        start, stop = self._interval_seconds
        shared = np.minimum(stop[:, None], gti_stop) - np.maximum(start[:, None], gti_start)
        overlap = np.clip(shared, 0, None).sum(axis=1)
        return [(int(idx), self._intervals[idx]) for idx in np.flatnonzero(overlap > MIN_SLICE.to_value("s"))]

    def make_observation_datasets(self, dataset, observation):
        """Datasets of the time slices of one observation.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset` or `~gammapy.datasets.SpectrumDataset`
            Empty reference dataset.
        observation : `~gammapy.data.Observation`
            Observation.

        Returns
        -------
        datasets : list of `~gammapy.datasets.Dataset`
            One dataset per overlapping interval, named ``<obs_id>-<interval index>``.
        """
        slices = self._slices(observation)
        if not slices:
            return []
        names = [f"{observation.obs_id}-{idx:04d}" for idx, _ in slices]
        if can_share(observation):
            reduction = ObservationSlices(self.makers, dataset, observation, cache=self._cache)
            return [reduction.run(interval, name) for (_, interval), name in zip(slices, names)]

        log.info(f"Observation {observation.obs_id}: products recomputed for each slice.")
        _, loaded = light_and_loaded_copies(observation)
        loaded.close_files()  # each slice is a deep copy: it must not hold open files
        datasets = []
        for (_, interval), name in zip(slices, names):
            sliced, new = loaded.select_time(interval), dataset.copy(name=name)
            for maker in self.makers:
                new = maker.run(new, sliced)
            datasets.append(new)
        return datasets

    @property
    def runner(self):
        """The runner of the reduction's parallel loop (``n_jobs``, ``parallel_backend``)."""
        return Runner(self.n_jobs, self.parallel_backend)

    def _reduce(self, task):
        return self.make_observation_datasets(*task)

    def run(self, dataset, observations):
        """Make the datasets of all time slices of all observations.

        Parameters
        ----------
        dataset : `~gammapy.datasets.MapDataset` or `~gammapy.datasets.SpectrumDataset`
            Empty reference dataset (geometry and axes).
        observations : `~gammapy.data.Observations`
            Observations.

        Returns
        -------
        datasets : `~gammapy.datasets.Datasets`
            Datasets in time order, each with the GTI of its slice.
        """
        # OFF regions are cached by pointing within one run (one ON region), never across runs
        self._cache = ReductionCache()
        tasks = {index: (dataset, observation) for index, observation in enumerate(observations)}
        per_observation = self.runner.run(self._reduce, tasks, desc="Time-sliced reduction")
        datasets = [d for index in range(len(tasks)) for d in per_observation[index]]
        if not datasets:
            raise ValueError(
                f"No observation overlaps the {len(self.time_intervals.table)} time intervals "
                f"({self.time_intervals.time_start[0].isot} - "
                f"{self.time_intervals.time_stop[-1].isot})."
            )
        start = np.array([(d.gti.time_start[0] - self.time_intervals.time_ref).to_value(u.s) for d in datasets])
        return Datasets([datasets[int(i)] for i in np.argsort(start, kind="stable")])
