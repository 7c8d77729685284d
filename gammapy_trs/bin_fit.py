"""The fit of one time bin: copies of the datasets, the fit and what it measured."""

import logging
from collections import Counter
import numpy as np
import astropy.units as u
from .fit_datasets import copy_for_fit

__all__ = ["fit_time_bin", "free_parameter_names", "BIN_QUANTITIES"]

log = logging.getLogger(__name__)

BIN_QUANTITIES = {
    "success": "Fit and covariance succeeded",
    "nfev": "Number of function evaluations of the optimiser",
    "stat": "Total fit statistic at the best fit",
    "n_datasets": "Number of datasets in the bin",
    "livetime": "Summed livetime of the datasets",
    "counts": "Summed counts in the fit mask",
    "excess": "Summed excess counts (counts - background) in the fit mask",
    "npred": "Summed predicted counts (source and background) in the fit mask",
    "npred_signal": "Summed predicted counts of the source in the fit mask",
}
"""Per-bin quantities other than the fitted parameters, with their meaning."""


def free_parameter_names(model):
    """Column names and indices of the free parameters of a model.

    A parameter is named by its own name where that is unique in the model and
    by Gammapy's unique name (e.g. ``spectral.model1.index``) otherwise.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Model.

    Returns
    -------
    names : dict of str to int
        Column name of each free parameter, mapped to its index in
        ``model.parameters``.
    """
    parameters = model.parameters
    counts = Counter(parameters.names)
    unique = model.parameters_unique_names
    return {
        (par.name if counts[par.name] == 1 else unique[idx]): idx
        for idx, par in enumerate(parameters)
        if not par.frozen
    }


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


def fit_time_bin(datasets, source, parameter_names, fit, steps=None):
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
    parameter_names : dict of str to int
        Column name of each free parameter of the source and its index, as
        given by `free_parameter_names`.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    steps : `~gammapy_trs.bin_steps.BinSteps`, optional
        Optional steps, run only if the fit succeeded (their quantities are NaN
        otherwise). Default is None.

    Returns
    -------
    result : dict
        ``"quantities"``: the per-bin values (parameters as `~astropy.units.Quantity`,
        their errors as ``<name>_err``, the entries of `BIN_QUANTITIES` and those
        of the optional steps); ``"model"``: a copy of the fitted source
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
        for idx in parameter_names.values():
            model.parameters[idx].value = np.nan
            model.parameters[idx].error = np.nan

    quantities = {}
    for name, idx in parameter_names.items():
        par = model.parameters[idx]
        quantities[name] = par.quantity
        quantities[f"{name}_err"] = u.Quantity(par.error, par.unit)

    quantities.update(
        success=success,
        nfev=nfev,
        stat=stat,
        n_datasets=len(copies),
        livetime=sum((_livetime(d) for d in copies), 0 * u.s),
    )
    quantities.update(_counts_summary(copies, source))

    if steps is not None:
        if success:
            quantities.update(steps.run(copies, source, parameter_names, stat, fit))
        else:
            quantities.update(steps.defaults(model, parameter_names))

    return {"quantities": quantities, "model": model.copy(name=source)}
