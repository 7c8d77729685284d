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


class TSStep(BinStep):
    """TS of the source against the null hypothesis of a zero source norm.

    Under the null hypothesis every source parameter is frozen (the shape is
    undefined without signal); other free parameters (background norms) are
    re-optimised.
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
        norm = model.parameters[self.parameters.norm_index]
        sign = np.sign(norm.value)
        with datasets.parameters.restore_status():
            model.parameters.freeze_all()
            norm.value = 0.0
            stat_null = optimize_others(datasets, context.fit)
        ts = stat_null - context.stat
        return dict(ts=ts, sqrt_ts=sign * np.sqrt(max(ts, 0.0)), stat_null=stat_null)
