"""The result: `TimeResolvedSpectrum`, its quantities, files, plots, light curve and tests across bins."""

from .spectrum import TimeResolvedSpectrum

__all__ = ["TimeResolvedSpectrum"]
