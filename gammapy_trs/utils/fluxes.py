"""Integral and energy fluxes of a fitted model, with errors from its covariance."""

import copy
import numpy as np
import astropy.units as u

__all__ = [
    "FLUX_UNIT", "EFLUX_UNIT", "first_order_error", "free_covariance", "integral_fluxes", "model_fluxes",
    "propagate_error",
]

FLUX_UNIT = u.Unit("cm-2 s-1")
"""Unit of integral fluxes."""

EFLUX_UNIT = u.Unit("erg cm-2 s-1")
"""Unit of energy fluxes."""


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


def propagate_error(spectral_model, function):
    """Value of ``function(model)`` and its first-order error from the model covariance.

    The error is ``sqrt(J C J^T)``, with ``J`` the derivatives of the function
    with respect to the free parameters (central differences with a step of
    1% of each parameter's error) and ``C`` their covariance.

    Parameters
    ----------
    spectral_model : `~gammapy.modeling.models.SpectralModel`
        Model with its covariance, e.g. after a fit. It is not changed.
    function : callable
        Function of the model returning a `~astropy.units.Quantity`.

    Returns
    -------
    value, error : `~astropy.units.Quantity`
        Value at the best fit and its error.
    """
    model = copy.deepcopy(spectral_model)  # with its covariance; much cheaper than model.copy()
    value = u.Quantity(function(model))
    parameters = model.parameters
    free, covariance = free_covariance(model)
    if covariance is None:
        return value, np.nan * value

    jacobian = []
    for idx in np.flatnonzero(free).tolist():
        par = parameters[idx]
        center = par.value
        step = 0.01 * par.error if np.isfinite(par.error) and par.error > 0 else 1e-6 * abs(center)
        step = step or 1e-10
        par.value = center + step
        upper = u.Quantity(function(model)).to_value(value.unit)
        par.value = center - step
        lower = u.Quantity(function(model)).to_value(value.unit)
        par.value = center
        jacobian.append((upper - lower) / (2 * step))

    return value, first_order_error(np.array(jacobian), covariance) * value.unit


def integral_fluxes(spectral_model, energy_min, energy_max):
    """Integral flux and energy flux in an energy range, with propagated errors.

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
    flux, flux_err = propagate_error(
        spectral_model, lambda m: m.integral(energy_min, energy_max).to(FLUX_UNIT)
    )
    eflux, eflux_err = propagate_error(
        spectral_model, lambda m: m.energy_flux(energy_min, energy_max).to(EFLUX_UNIT)
    )
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
    flux = spectral_model.integral(energy_min, energy_max).to(FLUX_UNIT)
    eflux = spectral_model.energy_flux(energy_min, energy_max).to(EFLUX_UNIT)
    return flux, eflux
