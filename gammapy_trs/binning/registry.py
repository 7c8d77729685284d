"""The binning methods by name, as the configuration and the command line use them.

A method is a function ``(observations, on_region, options) -> intervals``;
``options`` is a `BinningOptions`. A new strategy is one module with its
public function and such an adapter, plus one entry in `BINNING_METHODS`.
"""

import dataclasses
from typing import Optional
from .adaptive import adaptive_from_observations
from .bayesian_blocks import bayesian_blocks_from_observations
from .fixed import fixed_from_observations, per_gti, per_observation

__all__ = ["BinningOptions", "BINNING_METHODS", "make_intervals"]


@dataclasses.dataclass
class BinningOptions:
    """Options of the binning methods (each uses some of them).

    Attributes
    ----------
    start, stop : `~astropy.time.Time` or str, optional
        Range of the fixed-width bins. Default is None, the span of the observations.
    width : `~astropy.units.Quantity` or str
        Fixed bin width, or width of the fine intervals of the adaptive bins. Default is "15 min".
    p0 : float
        False-alarm probability of the Bayesian blocks. Default is 0.05.
    criterion : {"significance", "excess", "snr"}
        Criterion of the adaptive bins. Default is "significance".
    threshold : float
        Minimum of the criterion per adaptive bin. Default is 5.
    max_gap : `~astropy.units.Quantity` or str
        Largest gap an adaptive bin spans. Default is "30 min".
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Energy range of the events counted. Default is None, all.
    max_bins : int, optional
        Largest number of fixed-width bins. Default is 100000.
    """

    start: Optional[object] = None
    stop: Optional[object] = None
    width: object = "15 min"
    p0: float = 0.05
    criterion: str = "significance"
    threshold: float = 5.0
    max_gap: object = "30 min"
    energy_min: Optional[object] = None
    energy_max: Optional[object] = None
    max_bins: Optional[int] = 100_000


BINNING_METHODS = {
    "fixed": fixed_from_observations,
    "observation": per_observation,
    "gti": per_gti,
    "bayesian-blocks": bayesian_blocks_from_observations,
    "adaptive": adaptive_from_observations,
}
"""Binning method name to function ``(observations, on_region, options) -> intervals``."""


def make_intervals(method, observations, on_region, options=None):
    """Time intervals of the observations by a named method.

    Parameters
    ----------
    method : str
        A key of `BINNING_METHODS`.
    observations : `~gammapy.data.Observations`
        Observations.
    on_region : `~regions.SkyRegion`
        ON region (for the methods that count events).
    options : `BinningOptions`, optional
        Options. Default is None, the defaults.

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        Intervals.
    """
    if method not in BINNING_METHODS:
        raise ValueError(f"Unknown binning method {method!r}; use one of {list(BINNING_METHODS)}.")
    return BINNING_METHODS[method](observations, on_region, options or BinningOptions())
