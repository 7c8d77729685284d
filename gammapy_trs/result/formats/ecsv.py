"""ECSV files: the table, with the per-bin models in its meta data (``.gz`` allowed), and a checksum.

The header's ``CHECKSUM`` is the SHA-256 of the file's text with the checksum
itself replaced by `PLACEHOLDER`: `read_ecsv` computes it again and refuses a
file whose content was changed; a file without one is read with a warning
that its content is not verified.
"""

import gzip
import hashlib
import io
import logging
import re
from astropy.table import Table
from .models import model_from_dict, model_to_dict

__all__ = ["read_checked_ecsv", "read_ecsv", "write_checked_ecsv", "write_ecsv", "write_table_file"]

log = logging.getLogger(__name__)

PLACEHOLDER = "0" * 64
"""The checksum's value while the checksum is computed."""

_CHECKSUM = re.compile(r"^(#.*\bCHECKSUM: '?)([0-9a-f]{64})\b", re.MULTILINE)


def _digest(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _with_checksum(text):
    """The text of an ECSV file written with the placeholder checksum, with its checksum."""
    match = _CHECKSUM.search(text)
    return text[: match.start(2)] + _digest(text) + text[match.end(2):]


def _verify(text, filename):
    """Refuse a text whose checksum does not match; warn where there is none."""
    from .fits import NotAResultError

    match = _CHECKSUM.search(text)
    if match is None:
        log.warning(f"{filename} has no checksum: its content is not verified.")
        return
    original = text[: match.start(2)] + PLACEHOLDER + text[match.end(2):]
    if _digest(original) != match.group(2):
        raise NotAResultError(f"{filename}: the checksum does not match the content: the file was changed or damaged.")


def write_ecsv(spectrum, filename, overwrite=False):
    """Write the table with the per-bin models and covariances under the ``MODELS`` meta key
    (and the shared parameters, if any, under ``SHARED_PARAMETERS``), and the checksum of
    the whole text under ``CHECKSUM``.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    filename : str or `~pathlib.Path`
        File name (``.gz`` for a compressed file).
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    table, models, shared = spectrum.to_table(), spectrum.models, spectrum.shared_parameters
    for name in ("time_min", "time_max"):
        table[name].precision = 9
    table.meta["MODELS"] = [model_to_dict(model) for model in models]
    if shared is not None:
        table.meta["SHARED_PARAMETERS"] = dict(
            columns=list(shared.colnames),
            rows=[[_plain(row[name]) for name in shared.colnames] for row in shared],
        )
    write_checked_ecsv(table, filename, overwrite=overwrite)


def write_checked_ecsv(table, filename, overwrite=False):
    """Write a table as ECSV (``.gz`` for a compressed file) with the checksum of its text.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Table (its meta data gets ``CHECKSUM``).
    filename : str or `~pathlib.Path`
        File name.
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    table = table.copy(copy_data=False)
    table.meta["CHECKSUM"] = PLACEHOLDER
    buffer = io.StringIO()
    table.write(buffer, format="ascii.ecsv")
    text = _with_checksum(buffer.getvalue())
    mode = "wt" if overwrite else "xt"
    opener = gzip.open if str(filename).lower().endswith(".gz") else open
    with opener(filename, mode, encoding="utf-8") as handle:
        handle.write(text)


def write_table_file(table, filename, overwrite=False):
    """Write a table as a checked ECSV file (`write_checked_ecsv`), atomically: a file that exists
    is replaced only with ``overwrite``, and a failed write leaves no file behind.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Table.
    filename : str or `~pathlib.Path`
        File name.
    overwrite : bool, optional
        Replace an existing file. Default is False.
    """
    from pathlib import Path
    from ...utils.files import atomic_write

    if Path(filename).exists() and not overwrite:
        raise FileExistsError(f"{filename} already exists: use overwrite=True to replace it.")
    atomic_write(filename, lambda tmp: write_checked_ecsv(table, tmp, overwrite=True))


def read_checked_ecsv(filename):
    """Read an ECSV table written by `write_checked_ecsv`, its checksum verified.

    A file without a checksum is read with a warning that its content is not
    verified; one whose checksum does not match its text raises.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name.

    Returns
    -------
    table : `~astropy.table.Table`
        Table, without ``CHECKSUM`` in its meta data.
    """
    from .fits import NotAResultError

    try:
        opener = gzip.open if str(filename).lower().endswith(".gz") else open
        with opener(filename, "rt", encoding="utf-8") as handle:
            text = handle.read()
        table = Table.read(text, format="ascii.ecsv")
    except Exception as error:  # noqa: BLE001 -- any parse error: not our file
        raise NotAResultError(f"{filename} is not a TimeResolvedSpectrum file: {error}") from None
    _verify(text, filename)
    table.meta.pop("CHECKSUM", None)
    return table


def read_ecsv(filename):
    """Read the table and the per-bin models written by `write_ecsv`.

    Parameters
    ----------
    filename : str or `~pathlib.Path`
        File name.

    Returns
    -------
    table : `~astropy.table.Table`
        Table.
    models : list of `~gammapy.modeling.models.SkyModel`
        Per-bin models.
    shared : `~astropy.table.Table` or None
        Shared parameters.
    """
    from .fits import NotAResultError

    table = read_checked_ecsv(filename)
    if "MODELS" not in table.meta or not {"time_min", "time_max", "success"} <= set(table.colnames):
        raise NotAResultError(
            f"{filename} is not a TimeResolvedSpectrum file: no MODELS meta data or no "
            "time_min, time_max and success columns."
        )
    models = [model_from_dict(m) for m in table.meta.pop("MODELS")]
    shared = table.meta.pop("SHARED_PARAMETERS", None)
    if shared is not None:
        shared = Table(rows=shared["rows"], names=shared["columns"]) if shared["rows"] else None
    return table, models, shared


def _plain(value):
    """A numpy scalar as a plain Python value, for the YAML header."""
    return value.item() if hasattr(value, "item") else value
