"""gammapy-trs: time-resolved spectroscopy of gamma-ray sources with Gammapy.

The public names load on first use (so that ``gammapy-trs --help`` does not
import Gammapy); the first use also registers the estimator in
`gammapy.estimators.ESTIMATOR_REGISTRY` (`register_estimators`).
"""

import importlib
from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gammapy-trs")
except PackageNotFoundError:  # pragma: no cover -- not installed
    __version__ = "unknown"

__all__ = [
    "TimeResolvedSpectrumEstimator",
    "TimeResolvedSpectrum",
    "TimeResolvedDatasetsMaker",
    "FluxStates",
    "LawFit",
    "ShapeBlocks",
    "as_gti",
    "find_shape_blocks",
    "fit_flux_states",
    "fit_law",
    "register_estimators",
    "simulate_law_test",
]

_PUBLIC = {
    "TimeResolvedSpectrumEstimator": "estimation",
    "TimeResolvedSpectrum": "result",
    "TimeResolvedDatasetsMaker": "reduction",
    "FluxStates": "result.flux_states",
    "fit_flux_states": "estimation.flux_states",
    "ShapeBlocks": "result.shape_blocks",
    "find_shape_blocks": "estimation.change_points",
    "LawFit": "result.law_fit",
    "fit_law": "estimation.laws",
    "simulate_law_test": "estimation.law_simulations",
    "as_gti": "binning",
    "register_estimators": "registry",
}


def __getattr__(name):
    if name not in _PUBLIC:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    registry = importlib.import_module(".registry", __name__)
    registry.register_estimators()
    value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(list(globals()) + __all__)
