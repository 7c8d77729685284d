"""Integral and energy fluxes of the fitted model, with propagated errors."""

from ...engine import integral_fluxes, model_fluxes
from ...result.quantities import QuantityInfo
from ...utils.units import EFLUX_UNIT, FLUX_UNIT
from .base import BinStep

__all__ = ["FluxStep"]


class FluxStep(BinStep):
    """Integral flux ``flux`` and energy flux ``eflux`` between ``energy_min`` and ``energy_max``.

    Errors are propagated to first order from the bin's covariance
    (`~gammapy_trs.engine.integral_fluxes`); they are NaN where the fit
    failed or the bin has no counts. With the "ul" step, the fluxes of the
    model at the upper limit are ``flux_ul`` and ``eflux_ul``, in every bin.
    """

    name = "flux"
    runs_on_failed_fit = True

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
        values = {}
        norm_stands = all(context.quality.defended(context.parameters.by_index[idx]) for idx in context.parameters.norm_indices)
        if context.fit_succeeded and norm_stands:
            values.update(integral_fluxes(context.model.spectral_model, self.energy_min, self.energy_max))
        if context.upper_limit_model is not None:
            flux_ul, eflux_ul = model_fluxes(context.upper_limit_model.spectral_model, self.energy_min, self.energy_max)
            values.update(flux_ul=flux_ul, eflux_ul=eflux_ul)
        return values
