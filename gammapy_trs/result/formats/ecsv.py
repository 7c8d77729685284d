"""ECSV files: the table, with the per-bin models in its meta data (``.gz`` allowed)."""

import gzip
import io
from astropy.table import Table
from .models import model_from_dict, model_to_dict

__all__ = ["write_ecsv", "read_ecsv"]


def write_ecsv(spectrum, filename, overwrite=False):
    """Write the table with the per-bin models and covariances under the ``MODELS`` meta key
    (and the shared parameters, if any, under ``SHARED_PARAMETERS``).

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
    if str(filename).lower().endswith(".gz"):
        text = io.StringIO()
        table.write(text, format="ascii.ecsv")
        with gzip.open(filename, "wt" if overwrite else "xt") as handle:
            handle.write(text.getvalue())
    else:
        table.write(filename, format="ascii.ecsv", overwrite=overwrite)


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

    try:
        table = Table.read(filename, format="ascii.ecsv")
    except Exception as error:  # noqa: BLE001 -- any parse error: not our file
        raise NotAResultError(f"{filename} is not a TimeResolvedSpectrum file: {error}") from None
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
