"""Flux-state-resolved spectroscopy: the bins grouped by flux level, each group stacked and fitted."""

import logging
import numpy as np
import astropy.units as u
from astropy.stats import bayesian_blocks
from astropy.table import Table
from gammapy.data import GTI
from gammapy.datasets import Datasets
from ..engine import integral_fluxes, select_engine
from ..result.flux_states import FluxStates
from ..result.lightcurve import bin_fluxes
from ..result.plotting import energy_range_text
from ..utils.numerics import optimiser_numerics
from ..utils.parameters import SourceParameters
from ..utils.units import FLUX_UNIT
from .grouping import group_datasets
from .quality import assess_quality
from .stacked import fit_stacked
from .steps.ts import source_ts

__all__ = ["STATE_METHODS", "fit_flux_states", "group_by_flux"]

log = logging.getLogger(__name__)

STATE_METHODS = ("quantiles", "thresholds", "bayesian-blocks")
"""How bins are grouped into flux states."""


def group_by_flux(flux, flux_err=None, time=None, method="quantiles", n_states=3, thresholds=None, p0=0.05):
    """State of each bin from its flux: an integer from 0 (faintest), or -1 (left out).

    Parameters
    ----------
    flux : `~numpy.ndarray`
        Flux of each bin; bins with a non-finite flux are left out.
    flux_err : `~numpy.ndarray`, optional
        Errors, for "bayesian-blocks". Default is None.
    time : `~numpy.ndarray`, optional
        Bin centres (any unit), for "bayesian-blocks". Default is None.
    method : {"quantiles", "thresholds", "bayesian-blocks"}, optional
        Equal numbers of bins per state by flux rank; states between given
        flux thresholds; or the Bayesian blocks of the light curve (each block a
        state, ordered by its mean flux). Default is "quantiles".
    n_states : int, optional
        Number of states for "quantiles". Default is 3.
    thresholds : array-like, optional
        Flux thresholds for "thresholds", in the unit of ``flux``. Default is None.
    p0 : float, optional
        False-alarm probability of the Bayesian blocks. Default is 0.05.

    Returns
    -------
    states : `~numpy.ndarray`
        State of each bin.
    """
    flux = np.asarray(flux, dtype=float)
    ok = np.isfinite(flux)
    states = np.full(flux.size, -1)
    if method == "quantiles":
        if not 1 <= n_states <= ok.sum():
            raise ValueError(f"n_states must be between 1 and {ok.sum()} (the bins with a flux), got {n_states}.")
        order = np.argsort(flux[ok], kind="stable")
        ranks = np.empty(order.size, dtype=int)
        ranks[order] = np.arange(order.size)
        states[ok] = ranks * n_states // order.size
    elif method == "thresholds":
        if thresholds is None or len(thresholds) == 0:
            raise ValueError("method 'thresholds' needs flux thresholds.")
        states[ok] = np.digitize(flux[ok], np.sort(np.asarray(thresholds, dtype=float)))
    elif method == "bayesian-blocks":
        if flux_err is None or time is None:
            raise ValueError("method 'bayesian-blocks' needs flux errors and bin times.")
        ok &= np.isfinite(flux_err) & (np.asarray(flux_err) > 0)
        t = np.asarray(time, dtype=float)[ok]
        edges = bayesian_blocks(t, flux[ok], np.asarray(flux_err)[ok], fitness="measures", p0=p0)
        block = np.clip(np.searchsorted(edges, t, side="right") - 1, 0, len(edges) - 2)
        means = [np.mean(flux[ok][block == b]) for b in range(len(edges) - 1)]
        rank = np.argsort(np.argsort(means))
        states[ok] = rank[block]
    else:
        raise ValueError(f"method must be one of {STATE_METHODS}, got {method!r}.")
    return states


@optimiser_numerics()
def _fit_state(datasets, source_model, engine, sqrt_ts_threshold_shape):
    """The source model fitted to the stacked datasets of a state: success, values (NaN where the
    data do not defend them, with the state's ``quality`` flags), TS, model."""
    fit = fit_stacked(datasets, source_model, engine, name="state")
    parameters = SourceParameters.from_model(source_model)
    ts = dict(ts=np.nan, sqrt_ts=np.nan)
    if fit.success and parameters.norm_indices:
        ts = source_ts(engine, fit.datasets, fit.source, parameters.norm_indices, fit.stat)
    summary = engine.counts_summary(fit.datasets, fit.source)
    norm = fit.model.parameters[parameters.norm_index].value if parameters.norm_index is not None else None
    quality = assess_quality(fit.model, parameters, fit.success, summary["counts"], ts["sqrt_ts"], sqrt_ts_threshold_shape, norm)
    values = {}
    model = fit.model.copy(name=fit.source)
    for name, idx in parameters:
        par = fit.model.parameters[idx]
        values[name], values[f"{name}_err"] = par.quantity, u.Quantity(par.error, par.unit)
    quality.apply(values, model, parameters)
    values = {key: getattr(value, "value", value) for key, value in values.items()}
    return fit.success, values, ts, model


def _bin_groups(datasets, axis, atol):
    """The datasets of every bin of the result's time axis (each within its bin, as the estimator
    groups them), grouped once for all states; None where some bin has none."""
    _, groups = group_datasets(datasets, GTI.create(axis.time_min, axis.time_max), atol)
    return groups if len(groups) == axis.nbin else None


def _state_datasets(datasets, axis, members, atol, groups=None):
    """The datasets of a state's bins: from the bins' ``groups`` where given, else grouped here."""
    if groups is None:
        gti = GTI.create(axis.time_min[members], axis.time_max[members])
        _, groups = group_datasets(datasets, gti, atol)
    else:
        groups = [groups[idx] for idx in members]
    selected = Datasets([dataset for group in groups for dataset in group])
    selected.models = datasets.models
    return selected


def fit_flux_states(
    spectrum,
    datasets,
    method="quantiles",
    n_states=3,
    thresholds=None,
    p0=0.05,
    energy_min=None,
    energy_max=None,
    fit=None,
    atol="1e-6 s",
    engine="auto",
    sqrt_ts_threshold_shape=2,
):
    """Spectra of flux states: the bins of a result grouped by flux, stacked and fitted.

    The flux of each bin is that of the result's "flux" step, or of its fitted
    model, between ``energy_min`` and ``energy_max``; bins whose fit failed are
    left out. The datasets of the bins of
    each state are stacked (`~gammapy.datasets.Datasets.stack_reduce`) and the
    source model (as set on ``datasets``) is fitted to them.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result of the per-bin fits.
    datasets : `~gammapy.datasets.Datasets`
        The datasets the result was made from, with their models.
    method, n_states, thresholds, p0 : optional
        Grouping (`group_by_flux`); ``thresholds`` as fluxes (`~astropy.units.Quantity`).
        Default is "quantiles" with 3 states.
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Energy range of the fluxes. Default is None, that of the result's "flux"
        step, else 1 to 10 TeV.
    fit : `~gammapy.modeling.Fit`, optional
        Fit instance. Default is None, ``Fit()``.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on time comparisons. Default is "1e-6 s".
    engine : {"auto", "compiled", "gammapy"} or `~gammapy_trs.engine.FitEngine`, optional
        The fit engine (`~gammapy_trs.engine.select_engine`). Default is "auto".
    sqrt_ts_threshold_shape : float, optional
        A state's shape parameters are reported where its ``sqrt_ts`` reaches
        this (see `~gammapy_trs.result.quality`). Default is 2.

    Returns
    -------
    states : `~gammapy_trs.result.flux_states.FluxStates`
        One row per state, faintest first.
    """
    energy_min = u.Quantity(spectrum.meta.get("energy_min", "1 TeV") if energy_min is None else energy_min)
    energy_max = u.Quantity(spectrum.meta.get("energy_max", "10 TeV") if energy_max is None else energy_max)
    flux, flux_err, _ = bin_fluxes(spectrum, energy_min, energy_max)
    flux[~spectrum.success] = np.nan
    axis = spectrum.time_axis
    time = (axis.time_mid - axis.time_min[0]).to_value(u.s)
    if thresholds is not None:
        thresholds = u.Quantity(thresholds).to_value(FLUX_UNIT)
    states = group_by_flux(flux, flux_err, time, method, n_states, thresholds, p0)

    source = spectrum.meta.get("source", spectrum.models[0].name)
    atol = u.Quantity(atol)
    source_model = datasets.models[source]
    engine = select_engine(engine, fit, Datasets(list(datasets)[:1]), source)
    rows, models = [], []
    groups = _bin_groups(datasets, axis, atol)
    for state in sorted(set(states) - {-1}):
        members = np.flatnonzero(states == state)
        selected = _state_datasets(datasets, axis, members, atol, groups)
        success, values, ts, model = _fit_state(selected, source_model, engine, sqrt_ts_threshold_shape)
        fluxes = integral_fluxes(model.spectral_model, energy_min, energy_max) if success else {}
        rows.append(
            dict(
                state=int(state),
                n_bins=members.size,
                bins=",".join(map(str, members)),
                n_datasets=len(selected),
                flux_min=np.nanmin(flux[members]) * FLUX_UNIT,
                flux_max=np.nanmax(flux[members]) * FLUX_UNIT,
                flux=fluxes.get("flux", np.nan * FLUX_UNIT).to(FLUX_UNIT),
                flux_err=fluxes.get("flux_err", np.nan * FLUX_UNIT).to(FLUX_UNIT),
                success=success,
                **values,
                **{k: float(ts[k]) for k in ("ts", "sqrt_ts")},
            )
        )
        models.append(model)
    table = Table(rows=rows)
    table.meta.update(METHOD=method, ENERGY_RANGE=energy_range_text(energy_min, energy_max), SOURCE=source)
    names = list(SourceParameters.from_model(datasets.models[source]).names)
    return FluxStates(table, models, names)
