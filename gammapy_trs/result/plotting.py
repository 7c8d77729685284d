"""Plots of a `~gammapy_trs.TimeResolvedSpectrum`."""

import numpy as np
import astropy.units as u
from gammapy.maps.axes import UNIT_STRING_FORMAT

__all__ = ["plot_parameter", "plot_correlation"]

FAILED_STYLE = dict(fmt="o", mfc="none", color="grey", label="fit failed")


def _label(spectrum, name):
    unit = spectrum[name].unit
    return f"{name} [{unit.to_string(UNIT_STRING_FORMAT)}]" if not unit.is_unity() else name


def _values_and_errors(spectrum, name):
    values = np.asarray(spectrum[name].data.ravel(), dtype=float)
    err = f"{name}_err"
    errors = spectrum[err].data.ravel() if err in spectrum.available_quantities else None
    return values, errors


def _subset(errors, mask):
    if errors is None:
        return None
    if isinstance(errors, tuple):
        return tuple(e[mask] for e in errors)
    return errors[mask]


def _elapsed_time(axis):
    """Bin centres since the start of the first bin, in hours (days beyond 2 days)."""
    start = axis.time_min[0]
    elapsed = (axis.time_mid - start).to(u.h)
    if elapsed.max() > 48 * u.h:
        elapsed = elapsed.to(u.d)
    label = f"Time since {start.utc.isot[:19]} UTC [{elapsed.unit}]"
    return elapsed.value, label


def plot_parameter(spectrum, parameter, ax=None, **kwargs):
    """Plot a per-bin quantity against time with error bars.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    parameter : str
        Quantity to plot.
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    **kwargs : dict
        Passed to `~matplotlib.axes.Axes.errorbar` for the successful bins.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    axis = spectrum.time_axis
    x, xerr = np.asarray(axis.as_plot_center), axis.as_plot_xerr
    y, yerr = _values_and_errors(spectrum, parameter)
    ok = spectrum.success

    kwargs.setdefault("fmt", "o")
    kwargs.setdefault("label", parameter)
    ax.errorbar(x[ok], y[ok], xerr=_subset(xerr, ok), yerr=_subset(yerr, ok), **kwargs)
    if np.any(~ok):
        bad = ~ok
        ax.errorbar(x[bad], y[bad], xerr=_subset(xerr, bad), **FAILED_STYLE)

    axis.format_plot_xaxis(ax)
    ax.set_ylabel(_label(spectrum, parameter))
    return ax


def plot_correlation(spectrum, x, y, ax=None, **kwargs):
    """Plot one quantity against another, coloured by time.

    The points are joined in time order, so that a loop in the plane (the
    hysteresis of e.g. index against amplitude) can be followed.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    x, y : str
        Quantities on the x and y axes.
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    **kwargs : dict
        Passed to `~matplotlib.axes.Axes.scatter` for the successful bins.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    xv, xerr = _values_and_errors(spectrum, x)
    yv, yerr = _values_and_errors(spectrum, y)
    ok = spectrum.success
    time, time_label = _elapsed_time(spectrum.time_axis)

    ax.plot(xv[ok], yv[ok], ls=":", lw=0.8, color="grey", zorder=0)
    ax.errorbar(
        xv[ok], yv[ok], xerr=_subset(xerr, ok), yerr=_subset(yerr, ok),
        fmt="none", ecolor="grey", alpha=0.6, zorder=1,
    )
    kwargs.setdefault("zorder", 2)
    scatter = ax.scatter(xv[ok], yv[ok], c=time[ok], **kwargs)
    if np.any(~ok):
        ax.errorbar(xv[~ok], yv[~ok], **FAILED_STYLE)

    ax.figure.colorbar(scatter, ax=ax, label=time_label)
    ax.set_xlabel(_label(spectrum, x))
    ax.set_ylabel(_label(spectrum, y))
    return ax
