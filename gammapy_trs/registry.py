"""Registration of the package's estimators in Gammapy's registry."""

from gammapy.estimators import ESTIMATOR_REGISTRY
from .estimation import TimeResolvedSpectrumEstimator

__all__ = ["register_estimators"]


def register_estimators():
    """Add the package's estimators to `gammapy.estimators.ESTIMATOR_REGISTRY`.

    Calling it again has no effect, so that importing the package twice (or
    through the ``gammapy.estimators`` entry point) registers each class once.
    """
    for cls in (TimeResolvedSpectrumEstimator,):
        if cls not in ESTIMATOR_REGISTRY:
            ESTIMATOR_REGISTRY.append(cls)
