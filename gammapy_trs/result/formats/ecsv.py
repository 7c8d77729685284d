"""ECSV files: the table, with the per-bin models in its meta data."""

from astropy.table import Table
from .models import model_from_dict, model_to_dict

__all__ = ["write_ecsv", "read_ecsv"]


def write_ecsv(table, models, filename, overwrite=False):
    """Write the table with the per-bin models and covariances under the ``MODELS`` meta key.

    Parameters
    ----------
    table : `~astropy.table.Table`
        Table of `~gammapy_trs.TimeResolvedSpectrum.to_table`.
    models : list of `~gammapy.modeling.models.SkyModel`
        Per-bin models.
    filename : str or `~pathlib.Path`
        File name.
    overwrite : bool, optional
        Overwrite an existing file. Default is False.
    """
    table = table.copy(copy_data=False)
    for name in ("time_min", "time_max"):
        table[name].precision = 9
    table.meta["MODELS"] = [model_to_dict(model) for model in models]
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
    """
    table = Table.read(filename, format="ascii.ecsv")
    models = [model_from_dict(m) for m in table.meta.pop("MODELS")]
    return table, models
