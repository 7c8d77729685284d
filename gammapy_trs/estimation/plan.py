"""The typed data of a run: what every bin is fitted with, one bin's task, and one bin's result."""

import dataclasses

__all__ = ["BinResult", "BinTask", "RunPlan"]


@dataclasses.dataclass(frozen=True)
class RunPlan:
    """What every bin of a run is fitted with, made once per run.

    Attributes
    ----------
    source : str
        Name of the source model.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Its free parameters (one value per bin).
    engine : `~gammapy_trs.engine.FitEngine`
        The run's fit engine.
    steps : tuple of `~gammapy_trs.estimation.steps.BinStep`
        The optional steps, in their order.
    quantities : tuple of `~gammapy_trs.result.quantities.QuantityInfo`
        The steps' quantities, whose defaults stand where a step gives no value.
    sqrt_ts_threshold_shape : float
        A bin's shape parameters are reported where the source's ``sqrt_ts``
        reaches this (`~gammapy_trs.estimation.quality`).
    source_model : `~gammapy.modeling.models.SkyModel` or None
        The source model every bin is fitted with, in place of that of its
        datasets (the shared parameters frozen at their joint fit), or None.
    """

    source: str
    parameters: object
    engine: object
    steps: tuple = ()
    quantities: tuple = ()
    sqrt_ts_threshold_shape: float = 2.0
    source_model: object = None

    def models(self, datasets):
        """The models a bin's datasets are fitted with: theirs, the source replaced by
        ``source_model`` where it is set (None: the datasets' own)."""
        if self.source_model is None:
            return None
        return [self.source_model if model.name == self.source else model for model in datasets.models]


@dataclasses.dataclass(frozen=True)
class BinTask:
    """One bin to fit.

    Attributes
    ----------
    index : int
        Index of the bin in the run.
    datasets : `~gammapy.datasets.Datasets`
        Its datasets, with their models (not changed: each bin fits copies).
    plan : `RunPlan`
        What it is fitted with.
    """

    index: int
    datasets: object
    plan: RunPlan


@dataclasses.dataclass
class BinResult:
    """What one bin gave.

    Attributes
    ----------
    quantities : dict
        The per-bin values by name: parameters as `~astropy.units.Quantity`,
        their errors as ``<name>_err``, the core quantities and those of the steps.
    model : `~gammapy.modeling.models.SkyModel`
        A copy of the fitted source model (NaN parameters where the fit failed).
    products : dict
        The steps' per-bin products that are not one number, by name (e.g. ``"sed"``:
        a dict of arrays).
    """

    quantities: dict
    model: object
    products: dict = dataclasses.field(default_factory=dict)
