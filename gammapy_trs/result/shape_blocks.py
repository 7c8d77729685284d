"""`ShapeBlocks`: blocks of consecutive time bins that share shape parameters, and their changes."""

import numpy as np
from astropy.time import Time
from .table_result import TableResult

__all__ = ["ShapeBlocks"]


class ShapeBlocks(TableResult):
    """Blocks of consecutive bins within which shape parameters are shared: change points of the shape.

    Made by `~gammapy_trs.estimation.change_points.find_shape_blocks`.

    Parameters
    ----------
    table : `~astropy.table.Table`
        One row per block: ``block``, ``bin_start`` and ``bin_stop`` (its bins
        ``bin_start <= i < bin_stop``), ``n_bins``, ``time_min`` and ``time_max``
        (MJD, UTC), ``success`` (of its joint fit), ``stat`` (its joint statistic),
        ``at_grid_edge`` (its profile's minimum on the edge of the grid: the
        segmentation may be wrong there), each shape parameter and ``<par>_err``
        (NaN where the joint fit failed), and the likelihood-ratio test of the
        change that starts the block against merging it with the block before:
        ``ts_change``, ``p_value_change``, ``significance_change`` (local: the
        change's time was chosen on the same data; NaN for the first block).
        Meta data: ``SOURCE``, ``PARNAMES``, ``PENALTY``, ``P0``, ``N_BINS``,
        ``N_EXCLUDED`` (bins without a profile), ``N_FILLED`` (grid points
        where a bin's fit failed, counted as its worst point), ``GRID``.
    """

    @property
    def parameter_names(self):
        """The shape parameters, a list of str."""
        return self.table.meta["PARNAMES"].split(",")

    @property
    def change_points(self):
        """The bins where a new block starts, a list of int (empty for one block)."""
        return [int(b) for b in self.table["bin_start"][1:]]

    @property
    def change_times(self):
        """The times of the changes (the start of each block but the first), `~astropy.time.Time`."""
        return Time(np.asarray(self.table["time_min"][1:], dtype=float), format="mjd", scale="utc")


    def plot(self, parameter, ax=None, spectrum=None, **kwargs):
        """Plot each block's value and error band of a parameter against time, over the bins' values.

        Parameters
        ----------
        parameter : str
            Shape parameter, e.g. "index".
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        spectrum : `~gammapy_trs.TimeResolvedSpectrum`, optional
            The per-bin result, whose values are drawn below the blocks. Default is None.
        **kwargs : dict
            Passed to `~matplotlib.axes.Axes.fill_between` for the blocks' bands.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        import matplotlib.pyplot as plt
        from .plotting import format_time_axis, plot_parameter

        if parameter not in self.parameter_names:
            raise ValueError(f"{parameter!r} is not a parameter of the blocks: {self.parameter_names}")
        ax = plt.gca() if ax is None else ax
        if spectrum is not None:
            plot_parameter(spectrum, parameter, ax=ax, color="0.4", ms=3, label=f"{parameter}, each bin")
        kwargs.setdefault("color", "C1")
        kwargs.setdefault("alpha", 0.35)
        for row in self.table:
            value, error = float(row[parameter]), float(row[f"{parameter}_err"])
            if not np.isfinite(value):
                continue
            edges = Time([row["time_min"], row["time_max"]], format="mjd", scale="utc").to_datetime()
            label = f"{parameter}, blocks" if row["block"] == 0 else None
            ax.fill_between(edges, value - error, value + error, lw=0, label=label, **kwargs)
            ax.plot(edges, [value, value], color=kwargs["color"], lw=2)
        for time in self.change_times.to_datetime():
            ax.axvline(time, color=kwargs["color"], ls="--", lw=1)
        if spectrum is None:
            format_time_axis(ax)
            ax.set_ylabel(parameter)
        ax.legend(fontsize=8)
        return ax


    def __str__(self):
        columns = ["block", "bin_start", "bin_stop"]
        columns += [n for p in self.parameter_names for n in (p, f"{p}_err")] + ["ts_change", "significance_change"]
        table = self.table[columns]
        for name in columns[3:]:
            table[name].format = ".4g"
        penalty = f"penalty {self.table.meta['PENALTY']:.3g}"
        return f"ShapeBlocks of {self.parameter_names} ({penalty})\n" + "\n".join(table.pformat(max_lines=-1, max_width=-1))
