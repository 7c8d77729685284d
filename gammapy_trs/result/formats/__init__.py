"""File formats of a `~gammapy_trs.TimeResolvedSpectrum`, by name.

A format is a pair of functions ``write(spectrum, filename, overwrite)`` and
``read(filename) -> (table, models, shared)`` (``table``: that of
`~gammapy_trs.TimeResolvedSpectrum.to_table`; ``shared``: the table of shared
parameters, or None); a new format is one module plus one entry in `FORMATS`. `write_result` writes every format atomically (a
temporary file in the same folder, then moved into place), so that an
interrupted write leaves the old file whole.
"""

from pathlib import Path
from ...utils.files import atomic_write
from .ecsv import read_ecsv, write_ecsv
from .fits import NotAResultError, read_fits, write_fits
from .lightcurve import write_lightcurve

__all__ = ["FORMATS", "NotAResultError", "get_format", "read_result", "write_result"]

FORMATS = {
    "fits": (write_fits, read_fits),
    "ecsv": (write_ecsv, read_ecsv),
    "lightcurve": (write_lightcurve, read_fits),
}
"""Format name to ``(write, read)`` functions."""


def get_format(filename, format=None):
    """The format name of a file: ``format`` if given, else from the file name.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name, e.g. ``result.fits``, ``result.fits.gz`` or ``result.ecsv``.
    format : str, optional
        Format. Default is None, from the file name.

    Returns
    -------
    format : str
        A key of `FORMATS`.
    """
    if format is None:
        suffixes = [suffix.lower() for suffix in Path(filename).suffixes]
        if suffixes and suffixes[-1] == ".gz":
            suffixes = suffixes[:-1]
        format = suffixes[-1].lstrip(".") if suffixes else ""
    if format not in FORMATS:
        raise ValueError(
            f"Unknown format {format!r} for {filename}; use one of {tuple(FORMATS)} "
            "(or a .fits, .fits.gz, .ecsv or .ecsv.gz file name, any case)."
        )
    return format


def write_result(spectrum, filename, format=None, overwrite=False):
    """Write a result atomically in a format of `FORMATS`.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    filename : str or `~pathlib.Path`
        File name.
    format : str, optional
        Format. Default is None, from the file name.
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    write, _ = FORMATS[get_format(filename, format)]
    filename = Path(filename)
    if filename.exists() and not overwrite:
        raise FileExistsError(f"{filename} already exists: use overwrite=True to replace it.")
    # the temporary file keeps the name's suffixes, so that compression follows them
    atomic_write(filename, lambda tmp: write(spectrum, tmp, overwrite=True))


def read_result(filename, format=None):
    """Read a result's table and models, in a format of `FORMATS`.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name.
    format : str, optional
        Format. Default is None, from the file name.

    Returns
    -------
    table, models, shared : `~astropy.table.Table`, list of `~gammapy.modeling.models.SkyModel`, `~astropy.table.Table`
        Table, per-bin models, and the shared parameters (or None).
    """
    _, read = FORMATS[get_format(filename, format)]
    if not Path(filename).is_file():
        raise FileNotFoundError(f"No file {filename}.")
    table, models, shared = read(filename)
    if len(models) != len(table):
        raise NotAResultError(f"{filename}: {len(models)} models for {len(table)} bins: the file is damaged.")
    return table, models, shared
