"""The estimation: the estimator, the fit of one bin, its optional steps and the fast statistic."""

from .estimator import TimeResolvedSpectrumEstimator

__all__ = ["TimeResolvedSpectrumEstimator"]
