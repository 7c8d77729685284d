"""The Gammapy engine: Gammapy's `~gammapy.modeling.Fit`, its statistics and estimators, untouched.

Every fit runs on deep copies of the datasets through Gammapy's public API;
no internal of Gammapy is used. It is the engine of a run where the compiled
engine does not apply or disagrees with Gammapy (`~gammapy_trs.engine.select_engine`),
and the reference the compiled engine is tested against.
"""

from gammapy.datasets import Datasets
from .base import FitEngine, copy_models

__all__ = ["GammapyEngine"]


class GammapyEngine(FitEngine):
    """Fits with Gammapy's `~gammapy.modeling.Fit` on deep copies of the datasets.

    Intervals are MINOS's (`~gammapy.modeling.Fit.confidence`), each end
    checked at its level (`~gammapy_trs.engine.base.verified_interval`).

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`, optional
        Fit with its backend and options. Default is None, ``Fit()``.
    """

    name = "gammapy"

    def copy(self, datasets, models=None):
        datasets = Datasets(datasets)
        copies = Datasets([dataset.copy(name=dataset.name) for dataset in datasets])
        copies.models = copy_models(datasets.models if models is None else models)
        return copies
