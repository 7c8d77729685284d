"""`FluxStates`: spectra of groups of time bins at similar flux levels."""

import numpy as np
import astropy.units as u
from ..utils.units import FLUX_UNIT
from .table_result import TableResult

__all__ = ["FluxStates"]


class FluxStates(TableResult):
    """The spectrum fitted in each flux state: bins grouped by flux, their datasets stacked.

    Made by `~gammapy_trs.estimation.flux_states.fit_flux_states`.

    Parameters
    ----------
    table : `~astropy.table.Table`
        One row per state: ``state``, ``n_bins``, ``bins`` (indices of the time
        bins, comma-separated), ``flux_min`` and ``flux_max`` (range of the bins'
        fluxes), ``flux`` and ``flux_err`` (of the state's fitted model),
        ``success``, each fitted parameter and ``<par>_err``, ``ts`` and ``sqrt_ts``.
    models : list of `~gammapy.modeling.models.SkyModel`
        Fitted model of each state.
    parameter_names : list of str
        Fitted parameters.
    """

    def __init__(self, table, models, parameter_names):
        super().__init__(table)
        self.models = list(models)
        self.parameter_names = list(parameter_names)


    def bins(self, state):
        """Indices of the time bins of a state, a list of int."""
        text = str(self.table["bins"][state])
        return [int(i) for i in text.split(",")] if text else []

    def plot(self, parameter, ax=None, **kwargs):
        """Plot a parameter of each state against the state's flux.

        Parameters
        ----------
        parameter : str
            Fitted parameter, e.g. "beta".
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        **kwargs : dict
            Passed to `~matplotlib.axes.Axes.errorbar`.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        import matplotlib.pyplot as plt
        from .plotting import UNIT_STRING_FORMAT, readable_log_axis

        if parameter not in self.parameter_names:
            raise ValueError(f"{parameter!r} is not a fitted parameter: {self.parameter_names}")
        ax = plt.gca() if ax is None else ax
        table = self.table
        flux = table["flux"].quantity.to_value(FLUX_UNIT)
        xerr = np.array([flux - table["flux_min"].quantity.to_value(FLUX_UNIT),
                         table["flux_max"].quantity.to_value(FLUX_UNIT) - flux])
        kwargs.setdefault("fmt", "o")
        ax.errorbar(flux, table[parameter], xerr=np.clip(xerr, 0, None), yerr=table[f"{parameter}_err"], **kwargs)
        for x, y, state in zip(flux, table[parameter], table["state"]):
            ax.annotate(str(state), (x, y), textcoords="offset points", xytext=(5, 5), fontsize=8)
        band = table.meta.get("ENERGY_RANGE")
        name = f"flux of the state {band}" if band else "flux of the state"
        ax.set_xlabel(f"{name} [{FLUX_UNIT.to_string(UNIT_STRING_FORMAT)}]")
        unit = table[parameter].unit
        ax.set_ylabel(parameter if unit is None or unit == u.one else f"{parameter} [{unit}]")
        ax.set_xscale("log")
        readable_log_axis(ax, "x")  # tick labels where the fluxes span less than a decade
        return ax

    def write(self, filename, overwrite=False):
        """Write the table (ECSV, with its checksum, atomically), with the models in its meta data."""
        from .formats.ecsv import write_table_file
        from .formats.models import model_to_dict

        table = self.table.copy()
        table.meta["MODELS"] = [model_to_dict(model) for model in self.models]
        table.meta["PARNAMES"] = ",".join(self.parameter_names)
        write_table_file(table, filename, overwrite=overwrite)

    @classmethod
    def read(cls, filename):
        """Read a file written by `write` (its checksum verified)."""
        from .formats.ecsv import read_checked_ecsv
        from .formats.models import model_from_dict

        table = read_checked_ecsv(filename)
        models = [model_from_dict(m) for m in table.meta.pop("MODELS")]
        names = table.meta.pop("PARNAMES").split(",")
        return cls(table, models, names)

    def __str__(self):
        columns = ["state", "n_bins", "flux", *[n for p in self.parameter_names for n in (p, f"{p}_err")], "sqrt_ts"]
        table = self.table[[c for c in columns if c in self.table.colnames]]
        for name in table.colnames[2:]:
            table[name].format = ".4g"
        return "\n".join(table.pformat(max_lines=-1, max_width=-1))
