"""The integral of a spectral model over fixed energy bins, on plain arrays.

A fit evaluates the predicted counts thousands of times; through Gammapy's
models each evaluation spends most of its time in `~astropy.units.Quantity`
arithmetic and model attribute access. Here the units are converted once (at
the start of a fit): energies in TeV, every parameter whose unit is a power of
an energy in that power of TeV, the others in their own unit; then Gammapy's
own static ``evaluate_integral`` (an analytic integral) or ``evaluate`` with
Gammapy's log-log trapezoidal rule (`~gammapy.modeling.models.integrate_spectrum`,
the same grid) run on floats. The numbers are Gammapy's; each instance checks
it against Gammapy's `~gammapy.modeling.models.SpectralModel.integral` when it
is made, and is not used (None) where they differ.
"""

import numpy as np
import astropy.units as u
from gammapy.modeling.models import (
    BrokenPowerLawSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
)
from gammapy.utils.integrate import trapz_loglog

__all__ = ["PLAIN_MODELS", "PlainIntegral", "plain_integral"]

PLAIN_MODELS = (
    PowerLawSpectralModel,
    LogParabolaSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    BrokenPowerLawSpectralModel,
)
"""Models evaluated on plain arrays (their ``evaluate`` functions are pure numpy)."""

ENERGY_UNIT = u.TeV
FLUX_UNIT = u.Unit("cm-2 s-1")
NDECADE = 100  # the grid of integrate_spectrum's default
RTOL = 1e-9


def _energy_scale(unit):
    """The factor from ``unit`` to the same power of TeV, or 1 for a unit that is not one."""
    for power in (1, -1, 2, -2, 3, -3):
        if unit.is_equivalent(ENERGY_UNIT**power):
            return unit.to(ENERGY_UNIT**power)
    return 1.0


class PlainIntegral:
    """The integral of one spectral model over fixed energy bins, as a function of its parameter values.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`
        A model of `PLAIN_MODELS`.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy bins.
    """

    def __init__(self, model, energy_min, energy_max):
        cls = type(model)
        self.names = list(model.parameters.names)
        self.scales = np.array([_energy_scale(par.unit) for par in model.parameters])
        self.energy_min = energy_min.to_value(ENERGY_UNIT).ravel()
        self.energy_max = energy_max.to_value(ENERGY_UNIT).ravel()
        self.evaluate_integral = getattr(cls, "evaluate_integral", None)
        self.evaluate = cls.evaluate
        if self.evaluate_integral is None:
            num = np.maximum(np.max(NDECADE * np.log10(self.energy_max / self.energy_min)), 2)
            self.grid = np.geomspace(self.energy_min, self.energy_max, num=int(num), axis=-1)
        amplitude = model.parameters["amplitude"].unit
        self.to_flux = (amplitude * ENERGY_UNIT).to(FLUX_UNIT)

    def __call__(self, values):
        """The integral in each bin, in cm-2 s-1.

        Parameters
        ----------
        values : `~numpy.ndarray`
            Parameter values in the model's units, in the model's order.

        Returns
        -------
        flux : `~numpy.ndarray`
            Integral flux of each bin.
        """
        kwargs = dict(zip(self.names, np.asarray(values, dtype=float) * self.scales))
        if self.evaluate_integral is not None:
            flux = self.evaluate_integral(self.energy_min, self.energy_max, **kwargs)
        else:
            flux = trapz_loglog(self.evaluate(self.grid, **kwargs), self.grid, axis=-1).sum(axis=0)
        return np.asarray(flux, dtype=float) * self.to_flux

    def matches(self, model, energy_min, energy_max):
        """Whether it gives Gammapy's integral for the model's current parameter values."""
        reference = model.integral(energy_min, energy_max).to_value(FLUX_UNIT).ravel()
        plain = self(model.parameters.value)
        return reference.shape == plain.shape and np.allclose(plain, reference, rtol=RTOL, atol=0)


def plain_integral(model, energy_min, energy_max):
    """A `PlainIntegral` of a model, or None for a model it cannot evaluate (the caller then uses
    Gammapy's `~gammapy.modeling.models.SpectralModel.integral`).

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`
        Model.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy bins.

    Returns
    -------
    integral : `PlainIntegral` or None
        Integral on plain arrays.
    """
    if type(model) not in PLAIN_MODELS or "amplitude" not in model.parameters.names:
        return None
    try:
        integral = PlainIntegral(model, energy_min, energy_max)
        with np.errstate(all="ignore"):
            ok = integral.matches(model, energy_min, energy_max)
    except (TypeError, ValueError, u.UnitsError):
        return None
    return integral if ok else None
