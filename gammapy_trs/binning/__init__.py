"""Time intervals and binning strategies.

Every strategy returns a list of ``Time([start, stop])`` intervals, sorted,
that `~gammapy_trs.TimeResolvedDatasetsMaker` and
`~gammapy_trs.TimeResolvedSpectrumEstimator` accept. Event counts use the
convention of `~gammapy.data.EventList.select_time`: start inclusive, stop
exclusive. `BINNING_METHODS` names them for the configuration.
"""

from .adaptive import CRITERIA, adaptive_intervals
from .bayesian_blocks import bayesian_block_intervals
from .events import count_in_intervals, on_off_event_times
from .fixed import fixed_width_intervals, observation_intervals
from .intervals import as_gti
from .registry import BINNING_METHODS, BinningOptions, make_intervals

__all__ = [
    "fixed_width_intervals",
    "observation_intervals",
    "count_in_intervals",
    "on_off_event_times",
    "bayesian_block_intervals",
    "adaptive_intervals",
    "as_gti",
    "make_intervals",
    "BinningOptions",
    "BINNING_METHODS",
    "CRITERIA",
]
