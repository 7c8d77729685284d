"""The source model fitted to several bins at once: their datasets stacked, or fitted jointly.

One implementation for every fit over several bins: the shape of the upper
limits (all bins), the start of the shared-parameter fit and its ``_stacked``
columns (all bins), and the spectrum of each flux state (its bins).
"""

import dataclasses
import logging
import numpy as np
from gammapy.datasets import Datasets
from ..utils.numerics import optimiser_numerics
from ..utils.onoff import stack_onoff_spectra

__all__ = ["Stack", "StackedFit", "fit_stacked"]

log = logging.getLogger(__name__)


@dataclasses.dataclass
class StackedFit:
    """The source model fitted to several bins at once.

    Attributes
    ----------
    success : bool
        Whether the fit and its covariance succeeded (else the values serve
        as start values at most).
    stat : float
        Total statistic at the best fit (NaN where the fit raised).
    datasets : `~gammapy.datasets.Datasets`
        The fitted copies (the stacked dataset, or all datasets where they do
        not stack), at the best fit.
    source : str
        Name of the source model.
    stacked : bool
        Whether the datasets were stacked (else fitted jointly).
    message : str
        The fit's message, or the error it raised.
    """

    success: bool
    stat: float
    datasets: object
    source: str
    stacked: bool
    message: str = ""

    @property
    def model(self):
        """The fitted source model."""
        return self.datasets.models[self.source]

    def values(self, indices):
        """The fitted values of the source parameters at ``indices``, a list of float."""
        return [float(self.model.parameters[idx].value) for idx in indices]

    def errors(self, indices):
        """Their errors, a list of float."""
        return [float(self.model.parameters[idx].error) for idx in indices]


class Stack:
    """The datasets of several bins, stacked once (`~gammapy.datasets.Datasets.stack_reduce`,
    background models applied; on-off spectra summed on arrays by
    `~gammapy_trs.utils.onoff.stack_onoff_spectra`, the same numbers) for every fit of them in a run.

    Parameters
    ----------
    datasets : list of `~gammapy.datasets.Dataset`
        The datasets of the bins (not changed).
    name : str, optional
        Name of the stacked dataset. Default is "stacked".
    """

    def __init__(self, datasets, name="stacked"):
        self.datasets = Datasets(datasets)
        self.name = name
        self._stacked = None

    @property
    def stacked(self):
        """The stacked dataset, or None where the datasets cannot be stacked (made at the first use)."""
        if self._stacked is None:
            try:
                stacked = stack_onoff_spectra(self.datasets, name=self.name)  # on arrays, where it applies
                self._stacked = [self.datasets.stack_reduce(name=self.name) if stacked is None else stacked]
            except Exception as error:  # noqa: BLE001 -- e.g. datasets of different geometries
                log.info(f"Datasets cannot be stacked ({error!r}); fitting them jointly.")
                self._stacked = [None]
        return self._stacked[0]


@optimiser_numerics()
def fit_stacked(datasets, source_model, engine, name="stacked"):
    """Fit the source model to datasets stacked (`~gammapy.datasets.Datasets.stack_reduce`,
    background models applied), or jointly where they cannot be stacked.

    Parameters
    ----------
    datasets : `Stack`, `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
        The datasets of the bins (not changed), with their models, or their `Stack`.
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model, at its start values (copied).
    engine : `~gammapy_trs.engine.FitEngine`
        Engine.
    name : str, optional
        Name of the stacked dataset. Default is "stacked".

    Returns
    -------
    result : `StackedFit`
        The fit.
    """
    stack = datasets if isinstance(datasets, Stack) else Stack(datasets, name=name)
    stacked = stack.stacked is not None
    if stacked:
        copies = engine.copy([stack.stacked], models=[source_model])
    else:
        models = [source_model if model.name == source_model.name else model for model in stack.datasets.models]
        copies = engine.copy(stack.datasets, models=models)
    try:
        result = engine.run(copies)
    except Exception as error:  # noqa: BLE001 -- a fit that raises is a failed fit
        log.debug(f"The fit of the stacked bins raised {error!r}")
        return StackedFit(False, np.nan, copies, source_model.name, stacked, f"fit raised {error!r}")
    return StackedFit(bool(result.success), float(result.total_stat), copies, source_model.name, stacked, result.message)
