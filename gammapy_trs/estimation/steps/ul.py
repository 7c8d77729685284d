"""Upper limit on the source norm, with the shape fixed to its fit over all bins."""

import logging
from gammapy.datasets import Datasets
from ...result.meta import ul_shape_key
from ...result.quantities import QuantityInfo
from ..fast_statistic import copy_for_fit
from .base import BinStep

__all__ = ["UpperLimitStep"]

log = logging.getLogger(__name__)


def fit_shape_over_all_bins(groups, source_model, parameters, fit):
    """Shape parameters fitted over all bins, to fix them for upper limits.

    The fit is made on the stacked datasets of all bins (Gammapy's
    ``stack_reduce``, background models applied), or jointly on all datasets
    where they cannot be stacked.

    Returns
    -------
    shape : dict of int to float
        Index in ``source_model.parameters`` and fitted value of each free
        parameter other than the norm.
    """
    datasets = Datasets([d for group in groups for d in group])
    log.info("Fitting the source shape over all bins for the upper limits.")
    try:
        stacked = datasets.stack_reduce(name="all-bins")
        copies = copy_for_fit([stacked], models=[source_model])
    except Exception as error:  # noqa: BLE001 -- e.g. datasets of different geometries
        log.info(f"Datasets cannot be stacked ({error!r}); fitting them jointly.")
        copies = copy_for_fit(datasets)
    result = fit.run(copies)
    if not result.success:
        log.warning(f"The fit over all bins did not succeed: {result.message}")
    model = copies.models[source_model.name]
    return {idx: float(model.parameters[idx].value) for idx in parameters.shape_indices}


class UpperLimitStep(BinStep):
    """Upper limit on the norm where ``sqrt_ts < sqrt_ts_threshold_ul``.

    The shape parameters are fixed to their fit over all bins
    (`fit_shape_over_all_bins`); the limit is the profile-likelihood bound at
    ``n_sigma_ul`` (two-sided convention, as in Gammapy). ``is_ul`` flags it.
    """

    name = "ul"
    requires = ("ts",)
    needs_norm = True

    def __init__(self, setup, shape):
        super().__init__(setup)
        self.n_sigma_ul = setup.options["n_sigma_ul"]
        self.sqrt_ts_threshold_ul = setup.options["sqrt_ts_threshold_ul"]
        self.shape = shape
        self.norm_unit = setup.source_model.parameters[self.parameters.norm_index].unit

    @classmethod
    def create(cls, setup):
        shape = fit_shape_over_all_bins(
            setup.groups, setup.source_model, setup.parameters, setup.fit
        )
        return cls(setup, shape)

    def quantities(self):
        norm = self.parameters.norm_name
        return [
            QuantityInfo("is_ul", description="Whether the bin has an upper limit", default=False),
            QuantityInfo(f"{norm}_ul", self.norm_unit, f"Upper limit on {norm}, shape fixed"),
        ]

    def meta(self):
        meta = dict(n_sigma_ul=self.n_sigma_ul, sqrt_ts_threshold_ul=self.sqrt_ts_threshold_ul)
        names = self.parameters.by_index
        meta.update({ul_shape_key(names[idx]): value for idx, value in self.shape.items()})
        return meta

    def run(self, context):
        if context.values.get("sqrt_ts", float("nan")) >= self.sqrt_ts_threshold_ul:
            return {}
        datasets, model, fit = context.datasets, context.model, context.fit
        idx = self.parameters.norm_index
        with datasets.parameters.restore_status():
            for par_idx, value in self.shape.items():
                model.parameters[par_idx].value = value
                model.parameters[par_idx].frozen = True
            fit.optimize(datasets)
            norm = model.parameters[idx]
            interval = fit.confidence(datasets, norm, sigma=self.n_sigma_ul, reoptimize=True)
            ul = (norm.value + interval["errp"]) * norm.unit
            ul_model = model.copy(name=context.source)
        ul_model.parameters[idx].value = ul.value
        context.shared["ul_model"] = ul_model
        return {"is_ul": True, f"{self.parameters.norm_name}_ul": ul}
