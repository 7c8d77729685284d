"""TS of the source against a zero norm: one implementation, for the bins and the flux states."""

import numpy as np
from ...result.quantities import QuantityInfo
from .base import BinStep

__all__ = ["TSStep", "TS_QUANTITIES", "source_ts"]

TS_QUANTITIES = (
    QuantityInfo("ts", description="TS of the source against a zero norm"),
    QuantityInfo("sqrt_ts", description="Square root of the TS, signed by the norm"),
    QuantityInfo("stat_null", description="Total fit statistic with a zero source norm"),
)
"""The quantities of the TS."""


def source_signal(engine, datasets, model, norm_indices, source):
    """The sign of the source's signal: that of its norm, of its predicted counts for a compound model."""
    norms = [model.parameters[idx] for idx in norm_indices]
    if len(norms) == 1:
        return float(norms[0].value)
    return engine.counts_summary(datasets, source)["npred_signal"]


def source_ts(engine, datasets, source, norm_indices, stat):
    """TS of the source against the null hypothesis of no source.

    Under the null hypothesis every norm of the source is zero (all of them
    for a compound model) and every source parameter is frozen (the shape is
    undefined without signal); other free parameters (background norms) are
    re-optimised. ``sqrt_ts`` has the sign of the norm (of the predicted
    source counts for a compound model).

    Parameters
    ----------
    engine : `~gammapy_trs.engine.FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        The engine's copies, at the best fit (left as they were found).
    source : str
        Name of the source model.
    norm_indices : list of int
        Indices of its free norms in its parameters.
    stat : float
        Total statistic at the best fit.

    Returns
    -------
    ts : dict
        ``ts``, ``sqrt_ts`` and ``stat_null``.
    """
    model = datasets.models[source]
    sign = np.sign(source_signal(engine, datasets, model, norm_indices, source))
    with datasets.parameters.restore_status():
        model.parameters.freeze_all()
        for idx in norm_indices:
            model.parameters[idx].value = 0.0
        if len(datasets.models.parameters.free_parameters) > 0:
            engine.optimize(datasets)
        stat_null = float(engine.stat_sum(datasets))
    ts = stat_null - stat
    return dict(ts=ts, sqrt_ts=sign * np.sqrt(max(ts, 0.0)), stat_null=stat_null)


class TSStep(BinStep):
    """TS of the source against the null hypothesis of no source (`source_ts`).

    The TS is computed in every bin whose fit succeeded (it decides whether
    the shape is reported, see `~gammapy_trs.result.quality`); this step
    adds it to the result.
    """

    name = "ts"
    needs_norm = True

    def quantities(self):
        return list(TS_QUANTITIES)

    def run(self, context):
        return {key: context.ts[key] for key in ("ts", "sqrt_ts", "stat_null") if key in context.ts}
