"""Optional per-bin statistics, computed on the fitted copies of a bin's datasets.

Every function here starts from datasets whose models are at the best fit of
the bin and leaves the parameters as it found them.
"""

import logging
import numpy as np
import astropy.units as u
from scipy.stats import chi2
from .fit_datasets import copy_for_fit
from .statistics import chi2_significance

__all__ = [
    "estimate_ts",
    "estimate_errn_errp",
    "estimate_ul",
    "estimate_comparison",
    "norm_parameter_index",
    "start_from_nested",
]

log = logging.getLogger(__name__)


NORM_NAMES = ("amplitude", "norm")


def norm_parameter_index(model):
    """Index in ``model.parameters`` of the first free norm parameter.

    The norm is the first free spectral parameter named "amplitude" or "norm",
    as in all of Gammapy's spectral models.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        Source model.

    Returns
    -------
    index : int or None
        Index, or None if the model has no free norm parameter.
    """
    spectral = list(model.spectral_model.parameters)
    for idx, par in enumerate(model.parameters):
        if par.name in NORM_NAMES and not par.frozen and any(par is p for p in spectral):
            return idx
    return None


def _optimize_others(datasets, fit):
    """Re-optimise the free parameters left, if any, and return the total stat."""
    if len(datasets.models.parameters.free_parameters) > 0:
        fit.optimize(datasets)
    return float(datasets.stat_sum())


def estimate_ts(datasets, source, stat, fit):
    """TS of the source against the null hypothesis of a zero source norm.

    Under the null hypothesis every source parameter is frozen (the shape is
    undefined without signal); other free parameters (background norms) are
    re-optimised.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets at the bin's best fit.
    source : str
        Source model name.
    stat : float
        Total fit statistic at the best fit.
    fit : `~gammapy.modeling.Fit`
        Fit instance.

    Returns
    -------
    result : dict
        ``ts``, ``sqrt_ts`` (signed by the norm) and ``stat_null``.
    """
    model = datasets.models[source]
    idx = norm_parameter_index(model)
    norm = model.parameters[idx]
    sign = np.sign(norm.value)
    with datasets.parameters.restore_status():
        model.parameters.freeze_all()
        norm.value = 0.0
        stat_null = _optimize_others(datasets, fit)
    ts = stat_null - stat
    return dict(ts=ts, sqrt_ts=sign * np.sqrt(max(ts, 0.0)), stat_null=stat_null)


def estimate_errn_errp(datasets, source, parameter_names, fit, n_sigma=1):
    """Asymmetric profile-likelihood errors of each fitted parameter (MINOS).

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets at the bin's best fit.
    source : str
        Source model name.
    parameter_names : dict of str to int
        Column name and index of each free source parameter.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    n_sigma : float, optional
        Number of sigma of the interval. Default is 1.

    Returns
    -------
    result : dict
        ``<name>_errn`` and ``<name>_errp`` for each parameter (positive numbers).
    """
    model = datasets.models[source]
    result = {}
    for name, idx in parameter_names.items():
        par = model.parameters[idx]
        interval = fit.confidence(datasets, par, sigma=n_sigma, reoptimize=True)
        if not interval["success"]:
            log.warning(f"Profile error of {name} did not converge: {interval.get('message')}")
        result[f"{name}_errn"] = u.Quantity(interval["errn"], par.unit)
        result[f"{name}_errp"] = u.Quantity(interval["errp"], par.unit)
    return result


def estimate_ul(datasets, source, shape, fit, n_sigma_ul=2):
    """Upper limit on the source norm with the shape fixed.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets at the bin's best fit; they are refitted with the shape fixed.
    source : str
        Source model name.
    shape : dict of int to float
        Index in ``model.parameters`` and value of each shape parameter to fix,
        e.g. from a fit over all bins.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    n_sigma_ul : float, optional
        Number of sigma of the upper limit (profile likelihood, two-sided
        convention as in Gammapy). Default is 2.

    Returns
    -------
    ul : `~astropy.units.Quantity`
        Upper limit on the norm.
    model : `~gammapy.modeling.models.SkyModel`
        Copy of the source model with the fixed shape and the norm at its upper limit.
    """
    model = datasets.models[source]
    idx = norm_parameter_index(model)
    with datasets.parameters.restore_status():
        for par_idx, value in shape.items():
            model.parameters[par_idx].value = value
            model.parameters[par_idx].frozen = True
        fit.optimize(datasets)
        norm = model.parameters[idx]
        interval = fit.confidence(datasets, norm, sigma=n_sigma_ul, reoptimize=True)
        ul = (norm.value + interval["errp"]) * norm.unit
        ul_model = model.copy(name=source)
    ul_model.parameters[idx].value = ul.value
    return ul, ul_model


SHAPE_ALIASES = {"alpha": "index"}
"""Parameters of an alternative model started from a differently named parameter."""


def start_from_nested(alternative, fitted):
    """Start the alternative model's parameters from the nested model's best fit.

    Parameters of the same name (and ``alpha`` from ``index``) take the best-fit
    values; the others (e.g. ``beta`` or ``lambda_``) keep the values given,
    which should be those at which the alternative reduces to the nested model.

    Parameters
    ----------
    alternative : `~gammapy.modeling.models.SkyModel`
        Alternative model; changed in place.
    fitted : `~gammapy.modeling.models.SkyModel`
        Nested model at its best fit.

    Returns
    -------
    alternative : `~gammapy.modeling.models.SkyModel`
        The alternative model.
    """
    values = {par.name: par for par in fitted.parameters}
    for par in alternative.parameters:
        origin = values.get(par.name) or values.get(SHAPE_ALIASES.get(par.name))
        if origin is not None and par.unit.is_equivalent(origin.unit):
            par.quantity = origin.quantity
    return alternative


def estimate_comparison(datasets, source, alternative, stat, fit):
    """Likelihood-ratio test of the source model against a nested alternative.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets of the bin at the best fit of the source model; not changed.
    source : str
        Source model name.
    alternative : `~gammapy.modeling.models.SkyModel`
        Alternative model (more free parameters), named like the source.
    stat : float
        Total fit statistic of the source model at its best fit.
    fit : `~gammapy.modeling.Fit`
        Fit instance.

    Returns
    -------
    result : dict
        ``compare_stat``, ``compare_ts`` (stat - compare_stat), ``compare_p_value``
        (Wilks, chi2 with the difference of free parameters as degrees of freedom),
        ``compare_sigma`` and ``compare_success`` (of the optimisation).
    """
    fitted = datasets.models[source]
    start = start_from_nested(alternative.copy(name=source), fitted)
    models = [start if model.name == source else model for model in datasets.models]
    copies = copy_for_fit(datasets, models=models)
    dof = len(alternative.parameters.free_parameters) - len(fitted.parameters.free_parameters)
    result = fit.optimize(copies)
    stat_alt = float(result.total_stat)
    ts = stat - stat_alt
    return dict(
        compare_stat=stat_alt,
        compare_ts=ts,
        compare_p_value=float(chi2.sf(max(ts, 0.0), dof)),
        compare_sigma=chi2_significance(ts, dof),
        compare_success=bool(result.success),
    )
