"""Integral and energy fluxes of the fitted model, with propagated errors."""

import numpy as np
from ...result.quantities import QuantityInfo
from ...utils.fluxes import (
    EFLUX_UNIT, FLUX_UNIT, first_order_error, free_covariance, integral_fluxes, model_fluxes, propagate_error,
)
from ..plain_spectra import plain_integral
from .base import BinStep

__all__ = ["FluxStep"]


class FluxStep(BinStep):
    """Integral flux ``flux`` and energy flux ``eflux`` between ``energy_min`` and ``energy_max``.

    Errors are propagated to first order from the bin's covariance
    (`~gammapy_trs.utils.fluxes.integral_fluxes`), with the analytic
    derivatives of both fluxes for Gammapy's common spectral models
    (`~gammapy_trs.estimation.plain_spectra.PlainIntegral.gradient`); they are
    NaN where the fit failed. With the "ul" step, the fluxes of the model at the upper limit are
    ``flux_ul`` and ``eflux_ul``, also where the fit failed.
    """

    name = "flux"

    def __init__(self, setup):
        super().__init__(setup)
        self.energy_min = setup.options["energy_min"]
        self.energy_max = setup.options["energy_max"]
        self.with_ul = "ul" in setup.selection

    def quantities(self):
        band = f"between {self.energy_min} and {self.energy_max}"
        quantities = [
            QuantityInfo("flux", FLUX_UNIT, f"Integral flux {band}"),
            QuantityInfo("flux_err", FLUX_UNIT, "Error of flux (first-order propagation)"),
            QuantityInfo("eflux", EFLUX_UNIT, f"Energy flux {band}"),
            QuantityInfo("eflux_err", EFLUX_UNIT, "Error of eflux (first-order propagation)"),
        ]
        if self.with_ul:
            quantities += [
                QuantityInfo("flux_ul", FLUX_UNIT, f"Upper limit on the integral flux {band}"),
                QuantityInfo("eflux_ul", EFLUX_UNIT, f"Upper limit on the energy flux {band}"),
            ]
        return quantities

    def meta(self):
        return dict(energy_min=str(self.energy_min), energy_max=str(self.energy_max))

    def run(self, context):
        if not np.isfinite(context.stat):
            return {}
        spectral = context.model.spectral_model
        flux = _plain_flux(spectral, self.energy_min, self.energy_max, moment=0)
        if flux is None:
            return integral_fluxes(spectral, self.energy_min, self.energy_max)
        eflux = _plain_flux(spectral, self.energy_min, self.energy_max, moment=1)
        if eflux is None:
            eflux = propagate_error(
                spectral, lambda m: m.energy_flux(self.energy_min, self.energy_max).to(EFLUX_UNIT)
            )
        return dict(flux=flux[0], flux_err=flux[1], eflux=eflux[0], eflux_err=eflux[1])

    def run_deferred(self, context):
        ul_model = context.shared.get("ul_model")
        if ul_model is None:
            return {}
        flux_ul, eflux_ul = model_fluxes(ul_model.spectral_model, self.energy_min, self.energy_max)
        return dict(flux_ul=flux_ul, eflux_ul=eflux_ul)


def _plain_flux(spectral_model, energy_min, energy_max, moment):
    """Integral (``moment=0``) or energy flux (``moment=1``) and its first-order error with the
    analytic derivatives, or None for a model without a plain integral."""
    integral = plain_integral(spectral_model, energy_min, energy_max, moment)
    if integral is None:
        return None
    values = spectral_model.parameters.value
    free, covariance = free_covariance(spectral_model)
    error = np.nan
    if covariance is not None:
        error = first_order_error(integral.gradient(values, free)[:, 0], covariance)
    unit = (FLUX_UNIT, EFLUX_UNIT)[moment]
    return float(integral(values)[0]) * unit, error * unit
