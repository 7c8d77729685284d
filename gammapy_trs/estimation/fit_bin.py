"""The fit of one time bin: copies of the datasets, the fit and what it measured."""

import logging
import numpy as np
import astropy.units as u
from .fast_statistic import copy_for_fit
from .steps import BinContext

__all__ = ["fit_time_bin"]

log = logging.getLogger(__name__)


def _masked_sum(dataset, map_):
    """Sum of a map within the dataset's fit and safe mask."""
    data = map_.data if hasattr(map_, "data") else map_
    mask = dataset.mask
    if mask is not None:
        data = data[mask.data]
    return float(np.sum(data))


def _livetime(dataset):
    """Livetime from the exposure meta data, or the GTI sum if absent."""
    livetime = dataset.exposure.meta.get("livetime") if dataset.exposure else None
    if livetime is None:
        livetime = dataset.gti.time_sum
    return u.Quantity(livetime).to(u.s)


def _counts_summary(datasets, source):
    """Counts, excess and predicted counts summed over the datasets of a bin."""
    summary = dict(counts=0.0, excess=0.0, npred=0.0, npred_signal=0.0)
    for dataset in datasets:
        summary["counts"] += _masked_sum(dataset, dataset.counts)
        summary["excess"] += _masked_sum(dataset, dataset.excess)
        summary["npred"] += _masked_sum(dataset, dataset.npred())
        if source in dataset.models.names:
            npred = dataset.npred_signal(model_names=[source])
            summary["npred_signal"] += _masked_sum(dataset, npred)
    return summary


def _run_steps(steps, context, source_names):
    """The quantities of the steps in one bin; a step that raises leaves its defaults."""
    quantities = {}
    for step in steps:
        try:
            values = step.run(context)
        except Exception as error:  # noqa: BLE001 -- a failing step must not abort
            log.warning(f"Step {type(step).__name__} failed for the bin of {source_names}: {error!r}")
            continue
        quantities.update(values)
        context.values.update(values)
    return quantities


def fit_time_bin(datasets, source, parameters, fit, steps=(), quantities=()):
    """Fit the models of one time bin on copies of its datasets.

    A failure of the fit (an exception from the optimiser or the covariance) is
    caught and reported as ``success=False`` with NaN parameters, so that one
    bad bin never stops a run.

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
        Optional steps, run only if the fit succeeded. Default is none.
    quantities : list of `~gammapy_trs.result.quantities.QuantityInfo`, optional
        Declarations of the steps' quantities, whose defaults stand where a
        step gives no value. Default is none.

    Returns
    -------
    result : dict
        ``"quantities"``: the per-bin values (parameters as `~astropy.units.Quantity`,
        their errors as ``<name>_err``, the core quantities and those of the
        steps); ``"model"``: a copy of the fitted source
        `~gammapy.modeling.models.SkyModel`.
    """
    copies = copy_for_fit(datasets)
    model = copies.models[source]

    try:
        fit_result = fit.run(copies)
        success, nfev = bool(fit_result.success), int(fit_result.nfev)
        stat = float(fit_result.total_stat)
        if not success:
            log.warning(
                f"Fit of the bin of {copies.names} did not succeed: {fit_result.message}"
            )
    except Exception as error:  # noqa: BLE001 -- a failing bin must not abort the run
        log.warning(f"Fit of the bin of {copies.names} failed: {error!r}")
        success, nfev, stat = False, 0, np.nan
        for idx in parameters.names.values():
            model.parameters[idx].value = np.nan
            model.parameters[idx].error = np.nan

    values = {}
    for name, idx in parameters:
        par = model.parameters[idx]
        values[name] = par.quantity
        values[f"{name}_err"] = u.Quantity(par.error, par.unit)

    values.update(
        success=success,
        nfev=nfev,
        stat=stat,
        n_datasets=len(copies),
        livetime=sum((_livetime(d) for d in copies), 0 * u.s),
    )
    values.update(_counts_summary(copies, source))
    values.update({info.name: info.default_value for info in quantities})

    if success and steps:
        context = BinContext(copies, source, parameters, stat, fit)
        values.update(_run_steps(steps, context, copies.names))

    return {"quantities": values, "model": model.copy(name=source)}
