"""The fit of one time bin: copies of the datasets, the fit and what it measured."""

import logging
import numpy as np
import astropy.units as u
from ..result.quantities import CORE_QUANTITIES
from ..utils.numerics import optimiser_numerics
from .fast_fit import fast_fit
from .fast_statistic import copy_for_fit, copy_models
from .steps import BinContext

__all__ = ["deferred_bin", "fit_time_bin", "failed_bin", "run_deferred_steps"]

log = logging.getLogger(__name__)


def _livetime(dataset):
    """Livetime from the exposure meta data, or the GTI sum if absent."""
    livetime = dataset.exposure.meta.get("livetime") if dataset.exposure else None
    if livetime is None:
        livetime = dataset.gti.time_sum
    return u.Quantity(livetime).to(u.s)


def _run_steps(steps, context, source_names, method="run"):
    """The quantities of the steps (their ``method``) in one bin; a step that raises leaves its
    defaults."""
    quantities = {}
    for step in steps:
        try:
            values = getattr(step, method)(context)
        except Exception as error:  # noqa: BLE001 -- a failing step must not abort
            log.warning(f"Step {type(step).__name__} failed for the bin of {source_names}: {error!r}")
            continue
        quantities.update(values)
        context.values.update(values)
    return quantities


def _fit(copies, fit):
    """Run the fit: ``(success, nfev, stat, message)``; a raising fit is a failure."""
    try:
        result = fit.run(copies)
    except Exception as error:  # noqa: BLE001 -- a failing bin must not abort the run
        return False, 0, np.nan, f"fit raised {error!r}"
    messages = [result.optimize_result.message]
    if result.covariance_result is not None and not result.covariance_result.success:
        messages.append(f"covariance: {result.covariance_result.message}")
    return bool(result.success), int(result.nfev), float(result.total_stat), "; ".join(messages)


def _invalidate(model, parameters):
    """NaN for every fitted value, error and covariance term of a failed fit (not the optimiser's
    last point, nor the covariance at it)."""
    indices = list(parameters.names.values())
    covariance = np.array(model.covariance.data, dtype=float)
    covariance[indices, :] = np.nan
    covariance[:, indices] = np.nan
    model.covariance = covariance
    for idx in indices:
        model.parameters[idx].value = np.nan
        model.parameters[idx].error = np.nan


@optimiser_numerics()
def fit_time_bin(datasets, source, parameters, fit, steps=(), quantities=()):
    """Fit the models of one time bin on copies of its datasets.

    Nothing in one bin stops a run: a fit that fails or raises gives
    ``success=False`` with NaN for every fitted value and error, the fit
    statistic and the predicted counts, and ``fit_message`` says why; a bin
    that cannot even be summarised gives the same with the error as message.
    The optional steps run where the fit succeeded, and the steps that are
    meant for failed fits (``runs_on_failed_fit``, the upper limit) run there too.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The datasets of the bin, with their models. Neither is changed.
    source : str
        Name of the source component.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Free source parameters.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    steps : list of `~gammapy_trs.estimation.steps.BinStep`, optional
        Optional steps. Default is none.
    quantities : list of `~gammapy_trs.result.quantities.QuantityInfo`, optional
        Declarations of the steps' quantities, whose defaults stand where a
        step gives no value. Default is none.

    Returns
    -------
    result : dict
        ``"quantities"``: the per-bin values (parameters as `~astropy.units.Quantity`,
        their errors as ``<name>_err``, the core quantities and those of the
        steps); ``"model"``: a copy of the fitted source
        `~gammapy.modeling.models.SkyModel` (NaN parameters where the fit failed);
        ``"products"``: the steps' per-bin products by name (e.g. ``"sed"``).
    """
    try:
        return _fit_time_bin(datasets, source, parameters, fit, steps, quantities)
    except Exception as error:  # noqa: BLE001 -- nothing in one bin may abort the run
        log.warning(f"The bin of {datasets.names} could not be processed: {error!r}")
        return failed_bin(datasets, source, parameters, quantities, f"bin raised {error!r}")


def failed_bin(datasets, source, parameters, quantities, message):
    """The result of a bin that could not be processed: NaN everywhere, with the reason.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The datasets of the bin, with their models.
    source : str
        Name of the source component.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Free source parameters.
    quantities : list of `~gammapy_trs.result.quantities.QuantityInfo`
        The steps' quantities.
    message : str
        Why.

    Returns
    -------
    result : dict
        As `fit_time_bin`.
    """
    model = datasets.models[source].copy(name=source)
    _invalidate(model, parameters)
    values = _parameter_values(model, parameters)
    values.update({info.name: info.default_value for info in CORE_QUANTITIES})
    values.update(n_datasets=len(datasets), fit_message=message)
    values.update({info.name: info.default_value for info in quantities})
    return {"quantities": values, "model": model, "products": {}}


def _parameter_values(model, parameters):
    values = {}
    for name, idx in parameters:
        par = model.parameters[idx]
        values[name] = par.quantity
        values[f"{name}_err"] = u.Quantity(par.error, par.unit)
    return values


def _fit_time_bin(datasets, source, parameters, fit, steps, quantities):
    fit = fast_fit(fit)
    copies = copy_for_fit(datasets)
    model = copies.models[source]
    n_free = len(copies.models.parameters.free_parameters)
    success, nfev, stat, message = _fit(copies, fit)
    if not success:
        log.warning(f"Fit of the bin of {copies.names} did not succeed: {message}")
        _invalidate(model, parameters)
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
    values.update(copies.counts_summary(source))
    if not success:
        values.update(npred=np.nan, npred_signal=np.nan)
    values["fit_message"] = message
    values.update({info.name: info.default_value for info in quantities})

    run = [step for step in steps if success or step.runs_on_failed_fit]
    products = {}
    if run:
        context = BinContext(copies, source, parameters, stat, fit)
        values.update(_run_steps(run, context, copies.names))
        products = context.products

    return {"quantities": values, "model": copy_models([model])[0], "products": products}


def _bin_context(datasets, source, parameters, result, fit):
    """The context of a fitted bin, rebuilt: copies of its datasets at the bin's best fit."""
    copies = copy_for_fit(datasets)
    model = copies.models[source]
    for par, fitted in zip(model.parameters, result["model"].parameters):
        par.value, par.error = fitted.value, fitted.error
    values = dict(result["quantities"])
    stat = values["stat"] if values.get("success") else np.nan
    return BinContext(copies, source, parameters, float(stat), fit, values=values)


@optimiser_numerics()
def deferred_bin(datasets, source, parameters, result, fit, steps):
    """The deferred quantities of one bin (see `run_deferred_steps`): the steps' ``run_deferred``
    on copies of the bin's datasets at its best fit; empty if the bin cannot be rebuilt."""
    try:
        context = _bin_context(datasets, source, parameters, result, fast_fit(fit))
    except Exception as error:  # noqa: BLE001 -- nothing in one bin may abort the run
        log.warning(f"Deferred steps of the bin of {datasets.names} could not run: {error!r}")
        return {}
    return _run_steps(steps, context, datasets.names, method="run_deferred")


def run_deferred_steps(steps, groups, results, source, parameters, fit, run=None):
    """The deferred work of the steps (see `~gammapy_trs.estimation.steps.BinStep.defers`), in place.

    In the bins where a step defers work, each step's ``run_deferred`` runs on
    copies of the bin's datasets at its best fit (`deferred_bin`), after the
    work over all bins (``prepare_deferred``) of the steps that need it; a
    deferred step that raises leaves its defaults, as in `fit_time_bin`.

    Parameters
    ----------
    steps : list of `~gammapy_trs.estimation.steps.BinStep`
        The run's steps.
    groups : list of `~gammapy.datasets.Datasets`
        The datasets of each bin.
    results : dict of int to dict
        The result of each bin (`fit_time_bin`), updated.
    source : str
        Name of the source component.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Free source parameters.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    run : callable, optional
        Runs the bins' tasks, as ``run(function, tasks)`` returning the results
        by index (e.g. `~gammapy_trs.estimation.runner.run_tasks` with the run's
        ``n_jobs``). Default is None: in turn, in this process.

    Returns
    -------
    indices : list of int
        The bins where deferred work ran.
    """
    wanted = {
        step: [index for index in sorted(results) if step.defers(results[index]["quantities"])]
        for step in steps
    }
    indices = sorted({index for bins in wanted.values() for index in bins})
    if not indices:
        return []
    for step, bins in wanted.items():
        if bins:
            step.prepare_deferred(groups)
    tasks = {index: (groups[index], source, parameters, results[index], fit, steps) for index in indices}
    if run is None:
        values = {index: deferred_bin(*task) for index, task in tasks.items()}
    else:
        values = run(deferred_bin, tasks)
    for index in indices:
        results[index]["quantities"].update(values[index])
    return indices
