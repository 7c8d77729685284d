"""Plots of a `~gammapy_trs.TimeResolvedSpectrum`.

Every label says what is drawn and in which unit: fluxes their energy range,
a norm its reference energy, the time axis "Time (UTC)" with concise date
labels (not rotated, so that no layout clips them).
"""

import numpy as np
import astropy.units as u
from gammapy.maps.axes import UNIT_STRING_FORMAT
from ..utils.parameters import NORM_NAMES

__all__ = ["plot_parameter", "plot_correlation", "plot_summary", "quantity_label", "format_time_axis"]

FAILED_STYLE = dict(fmt="o", mfc="none", color="grey", label="fit failed")
FLUX_NAMES = ("flux", "eflux")


def _energy_text(value):
    value = u.Quantity(value)
    return f"{value.value:.4g} {value.unit}"


REFERENCE_DEPENDENT = (*NORM_NAMES, "alpha")
"""Parameters whose value is defined at the model's reference energy (a norm, the log-parabola
slope ``alpha``); their labels say it."""


def _reference_energy(spectrum, name):
    """The reference energy of parameter ``name`` in the bins' model, or None."""
    model = spectrum.models[0].spectral_model
    if name not in REFERENCE_DEPENDENT or "reference" not in model.parameters.names:
        return None
    return model.parameters["reference"].quantity


def quantity_label(spectrum, name):
    """Axis label of a per-bin quantity: its name, energy range or reference energy, and unit.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    name : str
        Quantity, e.g. "flux", "amplitude", "index_err".

    Returns
    -------
    label : str
        E.g. "flux 1 TeV - 10 TeV [cm-2 s-1]" or "amplitude at 1 TeV [TeV-1 cm-2 s-1]".
    """
    base = name.split("_")[0]
    text = name
    if base in FLUX_NAMES and "energy_min" in spectrum.meta:
        text = f"{name} {_energy_text(spectrum.meta['energy_min'])} - {_energy_text(spectrum.meta['energy_max'])}"
    reference = _reference_energy(spectrum, base)
    if reference is not None:
        text = f"{name} at {_energy_text(reference)}"
    unit = spectrum[name].unit
    return f"{text} [{unit.to_string(UNIT_STRING_FORMAT)}]" if not unit.is_unity() else text


def format_time_axis(ax):
    """Concise UTC date labels and the label "Time (UTC)" on the x axis of a time plot."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.set_xlabel("Time (UTC)")
    return ax


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


def plot_parameter(spectrum, parameter, ax=None, where=None, **kwargs):
    """Plot a per-bin quantity against time with error bars.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    parameter : str
        Quantity to plot.
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    where : `~numpy.ndarray` of bool, optional
        Bins to draw. Default is None, all.
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
    where = np.ones(spectrum.n_bins, dtype=bool) if where is None else np.asarray(where, dtype=bool)
    ok = spectrum.success & where

    kwargs.setdefault("fmt", "o")
    kwargs.setdefault("label", parameter)
    ax.errorbar(x[ok], y[ok], xerr=_subset(xerr, ok), yerr=_subset(yerr, ok), **kwargs)
    bad = ~spectrum.success & where
    if np.any(bad):
        ax.errorbar(x[bad], y[bad], xerr=_subset(xerr, bad), **FAILED_STYLE)

    format_time_axis(ax)
    ax.set_ylabel(quantity_label(spectrum, parameter))
    return ax


def _arrows(ax, x, y):
    """Arrows from each point to the next: the direction of a loop."""
    for x0, y0, x1, y1 in zip(x[:-1], y[:-1], x[1:], y[1:]):
        ax.annotate(
            "",
            xy=(x1, y1),
            xytext=(x0, y0),
            arrowprops=dict(arrowstyle="-|>", color="grey", lw=0.8, shrinkA=4, shrinkB=4, mutation_scale=10),
            zorder=0,
        )


def plot_correlation(spectrum, x, y, ax=None, **kwargs):
    """Plot one quantity against another, coloured by time, with arrows in time order.

    Arrows join each bin to the next, so that a loop in the plane (the
    hysteresis of e.g. index against flux) and its direction can be followed.

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

    ax.errorbar(
        xv[ok], yv[ok], xerr=_subset(xerr, ok), yerr=_subset(yerr, ok),
        fmt="none", ecolor="grey", alpha=0.6, zorder=1,
    )
    kwargs.setdefault("zorder", 2)
    scatter = ax.scatter(xv[ok], yv[ok], c=time[ok], **kwargs)
    _arrows(ax, xv[ok], yv[ok])
    if np.any(~ok):
        ax.errorbar(xv[~ok], yv[~ok], **FAILED_STYLE)

    ax.figure.colorbar(scatter, ax=ax, label=time_label)
    ax.set_xlabel(quantity_label(spectrum, x))
    ax.set_ylabel(quantity_label(spectrum, y))
    return ax


def summary_quantities(spectrum):
    """The quantities of `plot_summary`: the flux (else the norm), the shape parameters, sqrt(TS)."""
    names = spectrum.parameter_names
    available = spectrum.available_quantities
    norms = [name for name in names if name in NORM_NAMES]
    first = ["flux"] if "flux" in available else norms[:1]
    shapes = [name for name in names if name not in NORM_NAMES]
    ts = ["sqrt_ts"] if "sqrt_ts" in available else []
    return first + shapes + ts


def plot_summary(spectrum, fig=None):
    """The flux, the shape parameters and sqrt(TS) of each bin, one panel each, sharing the time axis.

    Upper limits (the "ul" and "flux" steps) are drawn as arrows in the flux panel.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    fig : `~matplotlib.figure.Figure`, optional
        Figure. Default is None, a new pyplot figure with constrained layout.

    Returns
    -------
    axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
        One axes per panel.
    """
    names = summary_quantities(spectrum)
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(8, 2.4 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    is_ul = np.zeros(spectrum.n_bins, dtype=bool)
    if "flux_ul" in spectrum.available_quantities:
        is_ul = np.asarray(spectrum["is_ul"].data.ravel(), dtype=bool)
    for ax, name in zip(axes, names):
        plot_parameter(spectrum, name, ax=ax, where=~is_ul if name == "flux" else None, label=None)
        if name == "flux" and np.any(is_ul):
            _upper_limits(spectrum, ax, is_ul)
        if name == "sqrt_ts":
            ax.axhline(0, color="grey", lw=0.5)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return axes


def _upper_limits(spectrum, ax, is_ul):
    x = np.asarray(spectrum.time_axis.as_plot_center)[is_ul]
    ul = spectrum.quantity("flux_ul")[is_ul].to_value(spectrum["flux"].unit)
    xerr = _subset(spectrum.time_axis.as_plot_xerr, is_ul)
    ax.errorbar(x, ul, xerr=xerr, yerr=0.3 * ul, uplims=True, fmt="none", color="C0", label="upper limit")
