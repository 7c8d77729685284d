"""Time-sliced data reduction: one dataset per (observation x time interval) overlap.

The makers are run once per observation on the whole observation; each time
slice then only gets its event-dependent products (counts, OFF counts, FoV
background normalisation) and the time-linear products (exposure, background,
PSF and energy-dispersion exposure) scaled to its livetime. The products equal
those of the same makers run on ``observations.select_time(intervals)``.

Modules: `.maker` (the public maker), `.observation_slices` (one observation
prepared once, then cut), `.cached_observation` (IRFs and events read once),
`.event_index`, `.reflected`, `.safe_mask` and `.geometry`.
"""

from .maker import TimeResolvedDatasetsMaker

__all__ = ["TimeResolvedDatasetsMaker"]
