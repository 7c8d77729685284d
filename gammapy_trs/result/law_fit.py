"""`LawFit`: a law of a shape parameter across the bins (of their flux or of time), and its tests."""

import numpy as np
import astropy.units as u
from astropy.table import Table
from astropy.time import Time
from .table_result import TableResult

__all__ = ["LawFit"]


class LawFit(TableResult):
    """A shape parameter as a function of the bin's flux or of time, fitted with every bin's likelihood.

    Made by `~gammapy_trs.estimation.laws.fit_law`.

    Parameters
    ----------
    table : `~astropy.table.Table`
        One row per bin: ``bin``, ``time_min`` and ``time_max`` (MJD, UTC),
        ``x`` (the covariate at the law's best fit: ``log10(N / N0)`` of the
        bin's norm, or the time from ``t0`` in hours), ``law_value`` and
        ``law_error`` (the law there, its error from the coefficients'
        covariance), ``bin_value``, ``bin_error`` and ``bin_x`` (the bin's own
        fit, the shape free), ``stat`` (the bin's statistic under the law) and
        ``used`` (in the joint likelihood). Meta data: ``PARAMETER``, ``LAW``,
        ``COVARIATE`` ("flux" or "time"), ``XLABEL``, ``FORMULA``,
        ``REFERENCE`` (``N0`` or ``t0``) and ``REFUNIT``, ``SOURCE``,
        ``SUCCESS``, the coefficients (``COEFNAME``, ``COEFVAL``, ``COEFERR``,
        ``COEFERRN``, ``COEFERRP``, ``COEFCOV``), and the likelihood-ratio tests:
        against the shape shared by all bins (``TS_SHARED``, ``DOF_SHARED``,
        ``P_SHARED``, ``SIG_SHARED``) and against the shape free in each bin
        (``TS_FREE``, ``DOF_FREE``, ``P_FREE``: the law's goodness of fit),
        with ``STAT``, ``N_BINS`` and ``N_EXCLUDED`` (bins whose shape the result does
        not report, left out); ``COEFNULL``, the coefficients under the null hypothesis;
        after `~gammapy_trs.simulate_law_test`, ``P_SHARED_SIM``, ``N_SIM`` and ``TS_SIM``.
    """

    @property
    def meta(self):
        """The law's meta data (its coefficients and tests), a dict."""
        return self.table.meta

    @property
    def parameter(self):
        """The shape parameter, a str."""
        return self.meta["PARAMETER"]

    @property
    def coefficients(self):
        """The law's coefficients: ``name``, ``value``, ``error``, ``errn`` and ``errp``, a `~astropy.table.Table`."""
        return Table(
            dict(
                name=list(self.meta["COEFNAME"]),
                value=np.array(self.meta["COEFVAL"], dtype=float),
                error=np.array(self.meta["COEFERR"], dtype=float),
                errn=np.array(self.meta["COEFERRN"], dtype=float),
                errp=np.array(self.meta["COEFERRP"], dtype=float),
            )
        )

    @property
    def covariance(self):
        """Covariance of the coefficients, a `~numpy.ndarray`."""
        return np.array(self.meta["COEFCOV"], dtype=float)

    @property
    def tests(self):
        """The likelihood-ratio tests against "shared" and against "free per bin", a dict."""
        keys = ("TS_SHARED", "DOF_SHARED", "P_SHARED", "SIG_SHARED", "TS_FREE", "DOF_FREE", "P_FREE")
        return {key.lower(): self.meta[key] for key in keys}


    def _x(self, x):
        """The covariate as drawn: the norm for a law of the flux, the date for a law of time."""
        if self.meta["COVARIATE"] == "flux":
            return self.meta["REFERENCE"] * 10 ** np.asarray(x, dtype=float)
        t0 = Time(self.meta["REFERENCE"], format="mjd", scale="utc")
        return (t0 + np.asarray(x, dtype=float) * u.h).to_datetime()

    def plot(self, ax=None, n_points=100, **kwargs):
        """Plot the bins' own values against the covariate and the law with its 1 sigma band.

        Parameters
        ----------
        ax : `~matplotlib.axes.Axes`, optional
            Axes. Default is None, the current axes.
        n_points : int, optional
            Points of the linear law's line. Default is 100.
        **kwargs : dict
            Passed to `~matplotlib.axes.Axes.plot` for the law's curve.

        Returns
        -------
        ax : `~matplotlib.axes.Axes`
            Axes.
        """
        import matplotlib.pyplot as plt

        ax = plt.gca() if ax is None else ax
        table = self.table
        shown = np.isfinite(table["bin_value"]) & np.isfinite(table["bin_x"])
        ax.errorbar(
            self._x(table["bin_x"][shown]),
            table["bin_value"][shown],
            yerr=table["bin_error"][shown],
            fmt="o",
            ms=3,
            color="0.4",
            label=f"{self.parameter}, each bin (free)",
        )
        values = np.array(self.meta["COEFVAL"], dtype=float)
        if np.all(np.isfinite(values)) and shown.any():
            x, curve, band = self._curve(values, table["bin_x"][shown], n_points)
            kwargs.setdefault("color", "C1")
            sig = self.meta["SIG_SHARED"]
            ax.plot(self._x(x), curve, label=f"{self.meta['FORMULA']} ({sig:.1f} sigma vs shared)", **kwargs)
            ax.fill_between(self._x(x), curve - band, curve + band, color=kwargs["color"], alpha=0.3, lw=0)
        if self.meta["COVARIATE"] == "flux":
            from .plotting import UNIT_STRING_FORMAT, readable_log_axis

            ax.set_xscale("log")
            readable_log_axis(ax, "x")  # tick labels where the norms span less than two decades
            unit = u.Unit(self.meta["REFUNIT"]).to_string(UNIT_STRING_FORMAT)
            ax.set_xlabel(f"Norm of each bin [{unit}]")
        else:
            from .plotting import format_time_axis

            format_time_axis(ax)
        ax.set_ylabel(self.parameter)
        ax.legend(fontsize=8)
        return ax

    def _curve(self, values, shown_x, n_points):
        """The law and its 1 sigma band over the covariates drawn: a line for the linear law (its
        band from the coefficients' covariance); the bins' own law values and errors, in order
        of the covariate, for another law (whose function is not stored)."""
        if self.meta["LAW"] == "linear":
            x = np.linspace(np.nanmin(shown_x), np.nanmax(shown_x), n_points)
            design = np.array([np.ones_like(x), x])
            band = np.sqrt(np.einsum("in,ij,jn->n", design, np.nan_to_num(self.covariance), design))
            return x, values @ design, band
        table = self.table[np.isfinite(self.table["x"])]
        table.sort("x")
        return np.asarray(table["x"]), np.asarray(table["law_value"]), np.asarray(table["law_error"])


    def __str__(self):
        coefficients = self.coefficients
        for name in ("value", "error", "errn", "errp"):
            coefficients[name].format = ".4g"
        meta = self.meta
        lines = [
            f"LawFit: {meta['FORMULA']} (reference {meta['REFERENCE']:.6g} {meta['REFUNIT']}), {meta['N_BINS']} bins",
            *coefficients.pformat(max_lines=-1, max_width=-1),
            f"against shared: TS {meta['TS_SHARED']:.3f} ({meta['DOF_SHARED']} dof), p {meta['P_SHARED']:.3g}, "
            f"{meta['SIG_SHARED']:.2f} sigma",
            f"against free per bin: TS {meta['TS_FREE']:.3f} ({meta['DOF_FREE']} dof), p {meta['P_FREE']:.3g}",
        ]
        if "P_SHARED_SIM" in meta:
            lines.insert(-1, f"against shared, by {meta['N_SIM']} simulations: p {meta['P_SHARED_SIM']:.3g}")
        return "\n".join(lines)
