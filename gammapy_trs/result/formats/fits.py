"""FITS files: the table in HDU ``TIME_RESOLVED_SPECTRUM``, the models in HDU ``MODELS``.

Every HDU carries ``CHECKSUM`` and ``DATASUM`` cards; reading verifies them,
refuses a file whose content does not match them, and warns where a result's
HDU has none (its content is then not verified).
"""

import logging
import warnings
import numpy as np
import yaml
from astropy.io import fits
from astropy.io.fits.verify import VerifyWarning
from astropy.table import Table
from .models import model_from_dict, model_to_dict

__all__ = ["write_fits", "read_fits", "NotAResultError"]

log = logging.getLogger(__name__)

TABLE_HDU = "TIME_RESOLVED_SPECTRUM"
MODELS_HDU = "MODELS"
SHARED_HDU = "SHARED_PARAMETERS"


class NotAResultError(ValueError):
    """The file is not a TimeResolvedSpectrum file (or is damaged)."""


def write_fits(spectrum, filename, overwrite=False, extra_hdus=()):
    """Write the table and the per-bin models (YAML) with their covariance matrices.

    Column descriptions are written as ``TCOMMn`` cards, and every HDU gets
    FITS checksums. The shared parameters, if any, are in HDU ``SHARED_PARAMETERS``.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    filename : str or `~pathlib.Path`
        File name (``.gz`` for a compressed file).
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    extra_hdus : list of `~astropy.io.fits.BinTableHDU`, optional
        More HDUs, written after those of the result. Default is none.
    """
    table, shared = spectrum.to_table(), spectrum.shared_parameters
    models = [model_to_dict(model) for model in spectrum.models]
    models_table = Table()
    models_table["model"] = [yaml.safe_dump(m["model"], sort_keys=False) for m in models]
    models_table["covariance"] = np.array([m["covariance"] for m in models], dtype=float)
    with warnings.catch_warnings():
        # meta keys longer than 8 characters become HIERARCH cards, as intended
        warnings.filterwarnings("ignore", message="Keyword name", category=VerifyWarning)
        hdulist = fits.HDUList(
            [fits.PrimaryHDU(), fits.table_to_hdu(table), fits.table_to_hdu(models_table)]
        )
    for idx, column in enumerate(table.itercols(), start=1):
        if column.info.description:
            hdulist[1].header[f"TCOMM{idx}"] = column.info.description
    hdulist[1].name = TABLE_HDU
    hdulist[2].name = MODELS_HDU
    if shared is not None:
        hdulist.append(fits.table_to_hdu(shared))
        hdulist[-1].name = SHARED_HDU
    hdulist.extend(extra_hdus)
    hdulist.writeto(filename, overwrite=overwrite, checksum=True)


def _verify(hdulist, filename):
    unverified = []
    for hdu in hdulist:
        if "CHECKSUM" not in hdu.header or "DATASUM" not in hdu.header:
            unverified.append(hdu.name or "PRIMARY")
        elif hdu.verify_checksum() != 1 or hdu.verify_datasum() != 1:
            raise NotAResultError(
                f"{filename}: the checksum of HDU {hdu.name or 'PRIMARY'} does not match its "
                "content: the file is damaged."
            )
    if unverified:
        log.warning(f"{filename}: HDUs {unverified} have no checksum: their content is not verified.")


def read_fits(filename):
    """Read the table and the per-bin models written by `write_fits`, checking the checksums.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name.

    Returns
    -------
    table : `~astropy.table.Table`
        Table, with its column descriptions.
    models : list of `~gammapy.modeling.models.SkyModel`
        Per-bin models.
    shared : `~astropy.table.Table` or None
        Shared parameters.
    """
    try:
        hdulist = fits.open(filename, memmap=False)
    except OSError as error:
        raise NotAResultError(f"{filename} is not a TimeResolvedSpectrum file: {error}") from None
    with hdulist:
        names = [hdu.name for hdu in hdulist]
        if TABLE_HDU not in names or MODELS_HDU not in names:
            raise NotAResultError(
                f"{filename} is not a TimeResolvedSpectrum file: it has no {TABLE_HDU} and "
                f"{MODELS_HDU} HDUs (it has {names})."
            )
        _verify(hdulist, filename)
        table = Table.read(hdulist[TABLE_HDU], astropy_native=True)
        header = hdulist[TABLE_HDU].header
        for idx, name in enumerate(table.colnames, start=1):
            table[name].info.description = header.get(f"TCOMM{idx}")
            table.meta.pop(f"TCOMM{idx}", None)
        models_table = Table.read(hdulist[MODELS_HDU])
        shared = Table.read(hdulist[SHARED_HDU]) if SHARED_HDU in names else None
    if shared is not None:
        shared.meta.pop("EXTNAME", None)
        for key in ("CHECKSUM", "DATASUM"):
            shared.meta.pop(key, None)
        for name in ("name", "unit"):
            shared[name] = np.char.decode(shared[name], "utf-8") if shared[name].dtype.kind == "S" else shared[name]
    models = [
        model_from_dict(
            {"model": yaml.safe_load(str(row["model"])), "covariance": row["covariance"]}
        )
        for row in models_table
    ]
    for key in ("EXTNAME", "CHECKSUM", "DATASUM"):
        table.meta.pop(key, None)
    return table, models, shared
