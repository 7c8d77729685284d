"""Shared parameters fitted over all bins (`~gammapy_trs.estimation.joint`), and the source model
with them fixed for the per-bin fits."""

import logging
import numpy as np
from astropy.table import Table
from ..utils.parameters import SourceParameters
from .joint import JointProfile, fit_shared_parameters, profile_bounds
from .stacked import Stack, fit_stacked

__all__ = ["SharedParameters", "start_from_bins"]

log = logging.getLogger(__name__)


def _fit_from_starts(profile, start, given, bounds, scale):
    """The shared fit from the stacked values; where no bin can be fitted there, or the fit does
    not converge (e.g. a stacked fit in a degenerate corner, a cut-off at zero with errors of
    1e-17 as its scale), again from the model's own start values, keeping the converged fit of
    the lower joint statistic. (With 15 iterations from the stacked values instead of 30, two
    of 20 simulated flares of ``benchmarks/joint_direct.py --kinds cutoff`` fail from both.)"""
    try:
        best = fit_shared_parameters(profile, start, bounds=bounds, scale=scale)
    except ValueError:  # no bin can be fitted at the stacked values
        log.info(f"No bin can be fitted at the stacked values {list(start)}: starting from {given}.")
        return fit_shared_parameters(profile, given, bounds=bounds)
    if best.success or np.allclose(start, given):
        return best
    log.info(f"The shared fit from the stacked values {list(start)} did not converge: again from {given}.")
    try:
        retry = fit_shared_parameters(profile, given, bounds=bounds)
    except ValueError:
        return best
    if retry.success and (not best.success or retry.stat <= best.stat):
        return retry
    return best


def start_from_bins(result, names):
    """Start values of shared parameters from a run with them free in each bin: the weighted mean
    of the bins' values (weights the inverse squared errors, over the bins whose fit succeeded),
    and its error; the shared fit's value and error for a parameter shared in that run.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        The run.
    names : list of str
        The parameters.

    Returns
    -------
    start : tuple of `~numpy.ndarray`
        Values and errors; NaN where the run gives none (no bin with a finite
        error), so that the fit starts from the model's value there.
    """
    values, errors = np.full(len(names), np.nan), np.full(len(names), np.nan)
    shared = result.shared_parameters
    shared = {} if shared is None else {row["name"]: row for row in shared}
    for j, name in enumerate(names):
        if name in shared:
            values[j], errors[j] = shared[name]["value"], shared[name]["error"]
            continue
        if name not in result.parameter_names:
            continue
        value = result.quantity(name).value
        error = result.quantity(f"{name}_err").value
        use = result.success & np.isfinite(value) & np.isfinite(error) & (error > 0)
        if use.any():
            weights = error[use] ** -2
            values[j] = np.sum(weights * value[use]) / np.sum(weights)
            errors[j] = np.sum(weights) ** -0.5
    return values, errors


class SharedParameters:
    """Shared parameters fitted over all bins, and the bins' datasets with them fixed.

    Attributes
    ----------
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model with the shared parameters frozen at their best fit
        (each bin is fitted with it, in place of the source model of its datasets).
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Its free parameters (the per-bin ones; none where every parameter is shared).
    table : `~astropy.table.Table`
        ``name``, ``value``, ``error``, ``errn``, ``errp``, ``value_stacked``,
        ``error_stacked`` and ``unit`` of each shared parameter: the ``_stacked``
        columns are those of one fit of all bins' datasets stacked (NaN where it
        failed): where only the normalisation varies between bins, the estimate
        to quote beside the shared value over many faint bins. Where the joint
        fit did not converge, ``value`` and the errors are NaN.
    meta : dict
        ``n_shared``, ``stat_joint`` (from the shared fit), ``shared_success``,
        ``shared_iterations`` and ``n_bins_joint`` (bins in the joint likelihood).
    """

    def __init__(self, source_model, parameters, table, meta):
        self.source_model = source_model
        self.parameters = parameters
        self.table = table
        self.meta = meta

    @classmethod
    def fit(cls, groups, source_model, parameters, names, engine, runner, n_sigma=None, stack=None, start=None):
        """Fit the named shared parameters (see `~gammapy_trs.estimation.joint.fit_shared_parameters`).

        Parameters
        ----------
        groups : list of `~gammapy.datasets.Datasets`
            Datasets of each bin, with their models (not changed).
        source_model : `~gammapy.modeling.models.SkyModel`
            The source model.
        parameters : `~gammapy_trs.utils.parameters.SourceParameters`
            Its free parameters.
        names : list of str
            The shared ones; every free parameter shares one spectrum over all bins.
        engine : `~gammapy_trs.engine.FitEngine`
            Engine.
        runner : `~gammapy_trs.utils.parallel.Runner`
            Runner of the bins' fits.
        n_sigma : float, optional
            Profile errors at this many sigma. Default is None, none.
        stack : `~gammapy_trs.estimation.stacked.Stack`, optional
            The bins' datasets stacked, for the start values. Default is None, stacked here.
        start : tuple of array-like, optional
            Start values and first guesses of the errors of the shared
            parameters, e.g. from a run with them free in each bin
            (`start_from_bins`): then no stacked fit is made, and the
            ``_stacked`` columns are NaN. Default is None, from the stacked fit.

        Returns
        -------
        shared : `SharedParameters`
            The fit, and the source model with the shared parameters fixed.
        """
        unknown = [name for name in names if name not in parameters.names]
        if unknown:
            raise ValueError(
                f"shared_parameters {unknown} are not free parameters of source "
                f"{source_model.name!r}; free are {list(parameters.names)}."
            )
        indices = [parameters.names[name] for name in names]
        pars = [source_model.parameters[idx] for idx in indices]
        bounds = ([par.min for par in pars], [par.max for par in pars])
        given = [par.value for par in pars]
        if start is None:
            stack = Stack([d for group in groups for d in group], name="all-bins") if stack is None else stack
            stacked = fit_stacked(stack, source_model, engine)
            stacked_values, stacked_errors = stacked.values(indices), stacked.errors(indices)
            stacked_success = stacked.success
            start = stacked_values if stacked.success and np.all(np.isfinite(stacked_values)) else given
            scale = stacked_errors if stacked.success else None
        else:
            stacked_success, stacked_values, stacked_errors = False, [np.nan] * len(names), [np.nan] * len(names)
            start, scale = (np.where(np.isfinite(start[0]), start[0], given), start[1])
        log.info(f"Fitting the shared parameters {names} over {len(groups)} bins.")
        start = np.clip(start, np.nan_to_num(bounds[0], nan=-np.inf), np.nan_to_num(bounds[1], nan=np.inf))
        profile = JointProfile(groups, source_model.name, indices, engine, runner)
        best = _fit_from_starts(profile, start, given, bounds, scale)
        errn = errp = np.full(len(names), np.nan)
        if n_sigma is not None and best.success:
            errn, errp = profile_bounds(profile, best, n_sigma)
        model = source_model.copy(name=source_model.name)
        for idx, value in zip(indices, best.values):
            model.parameters[idx].value = value
            model.parameters[idx].frozen = True
        stacked_columns = np.where(stacked_success, [stacked_values, stacked_errors], np.nan)
        defended = np.where(best.success, [best.values, best.errors], np.nan)
        table = Table(
            dict(
                name=names,
                value=defended[0],
                error=defended[1],
                errn=errn,
                errp=errp,
                value_stacked=stacked_columns[0],
                error_stacked=stacked_columns[1],
                unit=[str(source_model.parameters[idx].unit) for idx in indices],
            )
        )
        meta = dict(
            n_shared=len(names),
            stat_joint=best.stat,
            shared_success=bool(best.success),
            shared_iterations=best.n_iterations,
            n_bins_joint=int(best.used.sum()),
        )
        return cls(model, SourceParameters.from_model(model), table, meta)
