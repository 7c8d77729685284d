"""The units of the package's fluxes."""

import astropy.units as u

__all__ = ["DNDE_UNIT", "EFLUX_UNIT", "FLUX_UNIT"]

FLUX_UNIT = u.Unit("cm-2 s-1")
"""Unit of integral fluxes."""

EFLUX_UNIT = u.Unit("erg cm-2 s-1")
"""Unit of energy fluxes."""

DNDE_UNIT = u.Unit("cm-2 s-1 TeV-1")
"""Unit of differential fluxes."""
