"""Gammapy light-curve files: a FITS result plus HDU ``FLUXPOINTS``, which
`gammapy.estimators.FluxPoints.read` reads as a light curve.

The file holds the result's HDUs (read back by `~gammapy_trs.TimeResolvedSpectrum.read`)
and the light curve of `~gammapy_trs.TimeResolvedSpectrum.to_lightcurve` in Gammapy's
``"lightcurve"`` table format, as `~gammapy.estimators.FluxPoints.write` writes it.
"""

from astropy.io import fits
from .fits import write_fits

__all__ = ["write_lightcurve", "FLUXPOINTS_HDU"]

FLUXPOINTS_HDU = "FLUXPOINTS"


def write_lightcurve(spectrum, filename, overwrite=False):
    """Write the result with its light curve in HDU ``FLUXPOINTS`` (``sed_type="flux"``).

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    filename : str or `~pathlib.Path`
        File name.
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    lightcurve = spectrum.to_lightcurve()
    table = lightcurve.to_table(sed_type="flux", format="lightcurve")
    write_fits(spectrum, filename, overwrite=overwrite, extra_hdus=[fits.BinTableHDU(table, name=FLUXPOINTS_HDU)])
