"""Writing and reading `~gammapy_trs.TimeResolvedSpectrum` in FITS and ECSV."""

import logging
import warnings
from pathlib import Path
import numpy as np
import yaml
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Table
from gammapy.modeling.models import Models

__all__ = ["write_time_resolved_spectrum", "read_time_resolved_spectrum"]

log = logging.getLogger(__name__)

TABLE_HDU = "TIME_RESOLVED_SPECTRUM"
MODELS_HDU = "MODELS"
FORMATS = ("fits", "ecsv")


def _get_format(filename, format):
    if format is None:
        suffixes = Path(filename).suffixes
        format = suffixes[0].lstrip(".") if suffixes else ""
    if format not in FORMATS:
        raise ValueError(
            f"Unknown format {format!r} for {filename}; use one of {FORMATS} "
            "(or a .fits, .fits.gz or .ecsv file name)."
        )
    return format


def _model_to_dict(model):
    """A SkyModel and its covariance as a plain dict."""
    return {
        "model": model.to_dict(full_output=True),
        "covariance": np.asarray(model.covariance.data).tolist(),
    }


def _model_from_dict(data):
    model = Models.from_dict({"components": [data["model"]]})[0]
    model.covariance = np.array(data["covariance"], dtype=float)
    return model


def write_time_resolved_spectrum(spectrum, filename, format=None, overwrite=False):
    """Write a time-resolved spectrum and its per-bin models to a file.

    FITS files hold the table in HDU ``TIME_RESOLVED_SPECTRUM`` and the per-bin
    models (YAML) and covariance matrices in HDU ``MODELS``; ECSV files hold
    the models in the table meta data.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result to write.
    filename : str or `~pathlib.Path`
        File name.
    format : {"fits", "ecsv"}, optional
        Format. Default is None, taken from the file name.
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    format = _get_format(filename, format)
    table = spectrum.to_table()
    models = [_model_to_dict(model) for model in spectrum.models]

    if format == "ecsv":
        for name in ("time_min", "time_max"):
            table[name].precision = 9
        table.meta["MODELS"] = models
        table.write(filename, format="ascii.ecsv", overwrite=overwrite)
        return

    models_table = Table()
    models_table["model"] = [yaml.safe_dump(m["model"], sort_keys=False) for m in models]
    models_table["covariance"] = np.array([m["covariance"] for m in models], dtype=float)
    with warnings.catch_warnings():
        # meta keys longer than 8 characters become HIERARCH cards, as intended
        warnings.filterwarnings("ignore", message="Keyword name", category=VerifyWarning)
        hdulist = fits.HDUList(
            [fits.PrimaryHDU(), fits.table_to_hdu(table), fits.table_to_hdu(models_table)]
        )
    hdulist[1].name = TABLE_HDU
    hdulist[2].name = MODELS_HDU
    hdulist.writeto(filename, overwrite=overwrite)


def read_time_resolved_spectrum(filename, format=None):
    """Read a time-resolved spectrum written by `write_time_resolved_spectrum`.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name.
    format : {"fits", "ecsv"}, optional
        Format. Default is None, taken from the file name.

    Returns
    -------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The result.
    """
    from .spectrum import TimeResolvedSpectrum

    format = _get_format(filename, format)

    if format == "ecsv":
        table = Table.read(filename, format="ascii.ecsv")
        models = [_model_from_dict(m) for m in table.meta.pop("MODELS")]
    else:
        table = Table.read(filename, hdu=TABLE_HDU, astropy_native=True)
        models_table = Table.read(filename, hdu=MODELS_HDU)
        models = [
            _model_from_dict(
                {"model": yaml.safe_load(str(row["model"])), "covariance": row["covariance"]}
            )
            for row in models_table
        ]
    for key in ("EXTNAME",):
        table.meta.pop(key, None)
    table["success"] = np.asarray(table["success"], dtype=bool)
    return TimeResolvedSpectrum.from_table(table, models=models)
