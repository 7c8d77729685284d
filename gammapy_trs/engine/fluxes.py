"""The integral and energy flux of a spectral model in an energy range, with their errors.

One implementation for every flux of the package (the "flux" step, the light
curve, the flux states): the first-order error ``sqrt(J C J^T)`` from the
model's covariance ``C``, with ``J`` the analytic derivatives of the flux for
Gammapy's common spectral models
(`~gammapy_trs.engine.plain_spectra.PlainIntegral.gradient`, checked against
Gammapy's integral when made) and central differences for any other model.
"""

import copy
import numpy as np
import astropy.units as u
from ..utils.units import EFLUX_UNIT, FLUX_UNIT
from .plain_spectra import plain_integral

__all__ = ["dnde_band", "first_order_error", "free_covariance", "integral_fluxes", "model_fluxes", "propagate_error"]

UNITS = (FLUX_UNIT, EFLUX_UNIT)
"""Unit of the integral flux (moment 0) and of the energy flux (moment 1)."""


def free_covariance(spectral_model):
    """Which parameters are free (a boolean array) and their covariance, None if it is undefined.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Model with its covariance.

    Returns
    -------
    free, covariance : `~numpy.ndarray`, `~numpy.ndarray` or None
        Free parameters and their covariance (None if none is free or a term is not finite).
    """
    free = np.array([not par.frozen for par in spectral_model.parameters], dtype=bool)
    covariance = np.asarray(spectral_model.covariance.data)[np.ix_(free, free)]
    if not free.any() or not np.all(np.isfinite(covariance)):
        return free, None
    return free, covariance


def first_order_error(jacobian, covariance):
    """``sqrt(J C J^T)``: the first-order error of a function with derivatives ``jacobian``."""
    return np.sqrt(max(float(jacobian @ covariance @ jacobian), 0.0))


def _jacobian(model, function, free, unit):
    """Central differences of ``function(model)`` (in ``unit``) by each free parameter, a step of
    1% of its error; the model is left as it was."""
    jacobian = []
    for idx in np.flatnonzero(free).tolist():
        par = model.parameters[idx]
        center = par.value
        step = 0.01 * par.error if np.isfinite(par.error) and par.error > 0 else 1e-6 * abs(center)
        step = step or 1e-10
        par.value = center + step
        upper = u.Quantity(function(model)).to_value(unit)
        par.value = center - step
        lower = u.Quantity(function(model)).to_value(unit)
        par.value = center
        jacobian.append((upper - lower) / (2 * step))
    return np.array(jacobian)


def propagate_error(spectral_model, function):
    """Value of ``function(model)`` and its first-order error from the model covariance.

    The derivatives of the function with respect to the free parameters are
    central differences with a step of 1% of each parameter's error.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Model with its covariance, e.g. after a fit. It is not changed.
    function : callable
        Function of the model returning a `~astropy.units.Quantity`.

    Returns
    -------
    value, error : `~astropy.units.Quantity`
        Value at the best fit and its error (NaN where the covariance is undefined).
    """
    model = copy.deepcopy(spectral_model)  # with its covariance; much cheaper than model.copy()
    value = u.Quantity(function(model))
    free, covariance = free_covariance(model)
    if covariance is None:
        return value, np.nan * value
    jacobian = _jacobian(model, function, free, value.unit)
    return value, first_order_error(jacobian, covariance) * value.unit


def _gammapy_flux(model, energy_min, energy_max, moment):
    if moment:
        return model.energy_flux(energy_min, energy_max).to(EFLUX_UNIT)
    return model.integral(energy_min, energy_max).to(FLUX_UNIT)


def _flux(spectral_model, energy_min, energy_max, moment, with_error=True):
    """The flux of one moment and its first-order error (NaN without ``with_error``)."""
    unit = UNITS[moment]
    integral = plain_integral(spectral_model, energy_min, energy_max, moment)
    if integral is None:
        if not with_error:
            return _gammapy_flux(spectral_model, energy_min, energy_max, moment), np.nan * unit
        return propagate_error(spectral_model, lambda m: _gammapy_flux(m, energy_min, energy_max, moment))
    values = spectral_model.parameters.value
    error = np.nan
    if with_error:
        free, covariance = free_covariance(spectral_model)
        if covariance is not None:
            error = first_order_error(integral.gradient(values, free)[:, 0], covariance)
    return float(integral(values)[0]) * unit, error * unit


def integral_fluxes(spectral_model, energy_min, energy_max):
    """Integral flux and energy flux in an energy range, with their first-order errors.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Fitted model with its covariance.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy range.

    Returns
    -------
    fluxes : dict of `~astropy.units.Quantity`
        ``flux`` (cm-2 s-1), ``flux_err``, ``eflux`` (erg cm-2 s-1), ``eflux_err``.
    """
    flux, flux_err = _flux(spectral_model, energy_min, energy_max, moment=0)
    eflux, eflux_err = _flux(spectral_model, energy_min, energy_max, moment=1)
    return dict(flux=flux, flux_err=flux_err, eflux=eflux, eflux_err=eflux_err)


def model_fluxes(spectral_model, energy_min, energy_max):
    """Integral flux and energy flux of a model in an energy range, without errors.

    Used for the fluxes of a model at its upper limit.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Model.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy range.

    Returns
    -------
    flux, eflux : `~astropy.units.Quantity`
        Integral flux (cm-2 s-1) and energy flux (erg cm-2 s-1).
    """
    flux, _ = _flux(spectral_model, energy_min, energy_max, moment=0, with_error=False)
    eflux, _ = _flux(spectral_model, energy_min, energy_max, moment=1, with_error=False)
    return flux, eflux


def dnde_band(spectral_model, energy):
    """The differential flux of a model at energies and its first-order error (for plots).

    The derivatives by the free parameters are central differences of the
    model's ``evaluate`` on all energies at once (a step of 1% of each
    parameter's error), so that a band costs a few evaluations of the model.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Model with its covariance (not changed).
    energy : `~astropy.units.Quantity`
        Energies.

    Returns
    -------
    dnde, dnde_err : `~astropy.units.Quantity`
        Differential flux and its error (NaN where the covariance is undefined).
    """
    model = copy.deepcopy(spectral_model)
    dnde = model(energy)
    free, covariance = free_covariance(model)
    if covariance is None:
        return dnde, np.full(dnde.shape, np.nan) * dnde.unit
    jacobian = _jacobian(model, lambda m: m(energy), free, dnde.unit)
    variance = np.einsum("ie,ij,je->e", jacobian, covariance, jacobian)
    return dnde, np.sqrt(np.clip(variance, 0, None)) * dnde.unit
