"""TS of the source against a zero norm."""

import numpy as np
from ...result.quantities import QuantityInfo
from .base import BinStep

__all__ = ["TSStep", "optimize_others"]


def optimize_others(datasets, fit):
    """Re-optimise the free parameters left, if any, and return the total stat."""
    if len(datasets.models.parameters.free_parameters) > 0:
        fit.optimize(datasets)
    return float(datasets.stat_sum())


def _source_counts(context):
    """Predicted source counts of the bin, in the fit masks."""
    total = 0.0
    for dataset in context.datasets:
        npred = dataset.npred_signal(model_names=[context.source])
        total += float(np.sum(npred.data[dataset.mask.data] if dataset.mask is not None else npred.data))
    return total


class TSStep(BinStep):
    """TS of the source against the null hypothesis of no source.

    Under the null hypothesis every norm of the source is zero (all of them
    for a compound model) and every source parameter is frozen (the shape is
    undefined without signal); other free parameters (background norms) are
    re-optimised. ``sqrt_ts`` has the sign of the norm (of the predicted
    source counts for a compound model).
    """

    name = "ts"
    needs_norm = True

    def quantities(self):
        return [
            QuantityInfo("ts", description="TS of the source against a zero norm"),
            QuantityInfo("sqrt_ts", description="Square root of the TS, signed by the norm"),
            QuantityInfo("stat_null", description="Total fit statistic with a zero source norm"),
        ]

    def run(self, context):
        datasets, model = context.datasets, context.model
        norms = [model.parameters[idx] for idx in self.parameters.norm_indices]
        sign = np.sign(norms[0].value) if len(norms) == 1 else np.sign(_source_counts(context))
        with datasets.parameters.restore_status():
            model.parameters.freeze_all()
            for norm in norms:
                norm.value = 0.0
            stat_null = optimize_others(datasets, context.fit)
        ts = stat_null - context.stat
        return dict(ts=ts, sqrt_ts=sign * np.sqrt(max(ts, 0.0)), stat_null=stat_null)
