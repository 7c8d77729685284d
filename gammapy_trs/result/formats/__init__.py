"""File formats of a `~gammapy_trs.TimeResolvedSpectrum`, by name.

A format is a pair of functions ``write(table, models, filename, overwrite)``
and ``read(filename) -> (table, models)``; a new format is one module plus one
entry in `FORMATS`.
"""

from pathlib import Path
from .ecsv import read_ecsv, write_ecsv
from .fits import read_fits, write_fits

__all__ = ["FORMATS", "get_format"]

FORMATS = {
    "fits": (write_fits, read_fits),
    "ecsv": (write_ecsv, read_ecsv),
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
        suffixes = Path(filename).suffixes
        format = suffixes[0].lstrip(".") if suffixes else ""
    if format not in FORMATS:
        raise ValueError(
            f"Unknown format {format!r} for {filename}; use one of {tuple(FORMATS)} "
            "(or a .fits, .fits.gz or .ecsv file name)."
        )
    return format
