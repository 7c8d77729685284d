"""gammapy-trs: time-resolved spectroscopy of gamma-ray sources with Gammapy."""

from importlib.metadata import PackageNotFoundError, version
from .binning import as_gti
from .estimation import TimeResolvedSpectrumEstimator
from .reduction import TimeResolvedDatasetsMaker
from .registry import register_estimators
from .result import TimeResolvedSpectrum

try:
    __version__ = version("gammapy-trs")
except PackageNotFoundError:  # pragma: no cover -- not installed
    __version__ = "unknown"

__all__ = [
    "TimeResolvedSpectrumEstimator",
    "TimeResolvedSpectrum",
    "TimeResolvedDatasetsMaker",
    "as_gti",
    "register_estimators",
]

register_estimators()
