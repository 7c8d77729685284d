"""The fit of one time bin: the engine's copies of its datasets, the fit, its quality and the steps."""

import logging
import numpy as np
import astropy.units as u
from ..engine import copy_models
from ..result.quantities import CORE_QUANTITIES
from ..utils.numerics import optimiser_numerics
from .plan import BinResult
from .quality import BinQuality, assess_quality
from .steps import BinContext
from .steps.ts import TS_QUANTITIES, source_signal, source_ts

__all__ = ["estimate_bin", "failed_bin"]

log = logging.getLogger(__name__)


def _livetime(dataset):
    """Livetime from the exposure meta data, or the GTI sum if absent."""
    livetime = dataset.exposure.meta.get("livetime") if dataset.exposure else None
    if livetime is None:
        livetime = dataset.gti.time_sum
    return u.Quantity(livetime).to(u.s)


def _run_steps(steps, context, names):
    """The quantities of the steps in one bin; a step that raises leaves its defaults."""
    quantities = {}
    for step in steps:
        try:
            values = step.run(context)
        except Exception as error:  # noqa: BLE001 -- a failing step must not abort
            log.warning(f"Step {type(step).__name__} failed for the bin of {names}: {error!r}")
            continue
        quantities.update(values)
        context.values.update(values)
    return quantities


def _fit(engine, copies):
    """Run the fit: ``(success, nfev, stat, message)``; a raising fit is a failure."""
    try:
        result = engine.run(copies)
    except Exception as error:  # noqa: BLE001 -- a failing bin must not abort the run
        return False, 0, np.nan, f"fit raised {error!r}"
    messages = [result.optimize_result.message]
    if result.covariance_result is not None and not result.covariance_result.success:
        messages.append(f"covariance: {result.covariance_result.message}")
    return bool(result.success), int(result.nfev), float(result.total_stat), "; ".join(messages)


def _parameter_values(model, parameters):
    values = {}
    for name, idx in parameters:
        par = model.parameters[idx]
        values[name] = par.quantity
        values[f"{name}_err"] = u.Quantity(par.error, par.unit)
    return values


@optimiser_numerics()
def estimate_bin(task):
    """Fit the models of one time bin on the engine's copies of its datasets.

    Nothing in one bin stops a run: a fit that fails or raises gives
    ``success=False`` with NaN for every fitted value and error, the fit
    statistic and the predicted counts, and ``fit_message`` says why; a bin
    that cannot even be summarised gives the same with the error as message.
    Values that the data do not defend are NaN, with the bin's quality flags
    saying why (`~gammapy_trs.estimation.quality.assess_quality`). The
    optional steps run where the fit succeeded, and the steps that are meant
    for failed fits (``runs_on_failed_fit``, the upper limit) run there too.

    Parameters
    ----------
    task : `~gammapy_trs.estimation.plan.BinTask`
        The bin: its datasets (not changed) and the run's plan.

    Returns
    -------
    result : `~gammapy_trs.estimation.plan.BinResult`
        The bin's quantities, its fitted source model and its products.
    """
    try:
        return _estimate_bin(task.datasets, task.plan, task.index)
    except Exception as error:  # noqa: BLE001 -- nothing in one bin may abort the run
        log.warning(f"The bin of {task.datasets.names} could not be processed: {error!r}")
        return failed_bin(task.datasets, task.plan, f"bin raised {error!r}")


def failed_bin(datasets, plan, message):
    """The result of a bin that could not be processed: NaN everywhere, with the reason.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The datasets of the bin, with their models.
    plan : `~gammapy_trs.estimation.plan.RunPlan`
        The run's plan.
    message : str
        Why.

    Returns
    -------
    result : `~gammapy_trs.estimation.plan.BinResult`
        The bin's result.
    """
    model = (plan.source_model or datasets.models[plan.source]).copy(name=plan.source)
    values = _parameter_values(model, plan.parameters)
    values.update({info.name: info.default_value for info in CORE_QUANTITIES})
    values.update(n_datasets=len(datasets), fit_message=message)
    quality = BinQuality()
    quality.flag("fit_failed", list(plan.parameters.names), values=True)
    quality.apply(values, model, plan.parameters)
    values.update({info.name: info.default_value for info in plan.quantities})
    return BinResult(values, model)


def _ts(plan, copies, stat, success):
    """The source's TS in the bin (NaN where the fit failed or the source has no free norm)."""
    nan = {info.name: np.nan for info in TS_QUANTITIES}
    if not success or not plan.parameters.norm_indices:
        return nan
    try:
        return source_ts(plan.engine, copies, plan.source, plan.parameters.norm_indices, stat)
    except Exception as error:  # noqa: BLE001 -- the TS of one bin must not abort it
        log.warning(f"TS of the bin of {copies.names} failed: {error!r}")
        return nan


NO_SIGNAL = 0.5
"""Predicted source counts below which a best fit has no signal: there the fit is made again from a
negative norm (a likelihood flat towards zero signal, e.g. an index running away in a bin without
counts, stops an optimiser that a negative signal would take lower)."""


def _fit_bin(engine, datasets, source, parameters, models=None):
    """The engine's copies of a bin at its best fit, and ``(success, nfev, stat, message)``.

    Where the best fit predicts no source signal, the fit is made again from
    the start values with the norm negated, and the lower of the two minima
    kept, whatever the engine's path to the first.
    """
    copies = engine.copy(datasets, models=models)
    if len(copies.models.parameters.free_parameters) == 0:  # every parameter shared (or frozen)
        return copies, (True, 0, float(engine.stat_sum(copies)), "No free parameter: statistic evaluated.")
    outcome = _fit(engine, copies)
    norm = parameters.norm_index
    if norm is None or not outcome[0]:
        return copies, outcome
    if abs(engine.counts_summary(copies, source)["npred_signal"]) >= NO_SIGNAL:
        return copies, outcome
    again = engine.copy(datasets, models=models)
    start = again.models[source].parameters[norm]
    start.value = -abs(start.value)
    second = _fit(engine, again)
    if second[0] and second[2] < outcome[2]:
        return again, (True, outcome[1] + second[1], second[2], second[3])
    return copies, outcome


def _estimate_bin(datasets, plan, index=None):
    engine, source, parameters = plan.engine, plan.source, plan.parameters
    copies, (success, nfev, stat, message) = _fit_bin(engine, datasets, source, parameters, plan.models(datasets))
    model = copies.models[source]
    n_free = len(copies.models.parameters.free_parameters)
    if not success:
        log.warning(f"Fit of the bin of {copies.names} did not succeed: {message}")
        stat = np.nan

    values = _parameter_values(model, parameters)
    values.update(
        success=success,
        nfev=nfev,
        stat=stat,
        n_datasets=len(copies),
        n_free=n_free,
        livetime=sum((_livetime(d) for d in copies), 0 * u.s),
    )
    values.update(engine.counts_summary(copies, source))
    if not success:
        values.update(npred=np.nan, npred_signal=np.nan)
    values["fit_message"] = message
    ts = _ts(plan, copies, stat, success)
    signal = source_signal(engine, copies, model, parameters.norm_indices, source) if success and parameters.norm_indices else None
    quality = assess_quality(
        model, parameters, success, values["counts"], ts["sqrt_ts"], plan.sqrt_ts_threshold_shape, signal
    )
    kept = copy_models([model])[0]
    quality.apply(values, kept, parameters)
    values.update({info.name: info.default_value for info in plan.quantities})

    steps = [step for step in plan.steps if success or step.runs_on_failed_fit]
    context = BinContext(
        copies, source, parameters, stat, engine, quality=quality, ts=ts, values=dict(values), index=index
    )
    values.update(_run_steps(steps, context, copies.names))
    return BinResult(values, kept, context.products)
