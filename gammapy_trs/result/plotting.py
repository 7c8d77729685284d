"""Plots of a `~gammapy_trs.TimeResolvedSpectrum`.

Every label says what is drawn and in which unit: fluxes their energy range
(written once, one way: "1-10 TeV"), a norm its reference energy, a test
which models it compares. Time axes carry concise UTC clock labels and one
date convention: the label names the date, or the two dates of a night
("Time (UTC), 2006-07-29/30"), and no date stands in a corner.
"""

import numpy as np
import astropy.units as u
from gammapy.maps.axes import UNIT_STRING_FORMAT
from ..utils.parameters import NORM_NAMES

__all__ = [
    "energy_range_text",
    "format_time_axis",
    "plot_correlation",
    "plot_parameter",
    "plot_summary",
    "quantity_label",
    "readable_log_axis",
    "time_axis_label",
]

FAILED_LABEL = "fit failed"
FAILED_STYLE = dict(color="0.85", alpha=0.6, lw=0, zorder=0)
FLUX_NAMES = ("flux", "eflux")
LABELS = {
    "sqrt_ts": "sqrt(TS) of the source",
    "ts": "TS of the source",
    "stat": "Fit statistic",
    "npred_signal": "Predicted source counts",
    "npred": "Predicted counts",
    "counts": "Counts",
    "excess": "Excess counts",
}
"""Axis labels of quantities whose name is not a label."""


def energy_range_text(energy_min, energy_max):
    """An energy range as text, one way everywhere: "1-10 TeV" (both in the unit of the first).

    Parameters
    ----------
    energy_min, energy_max : `~astropy.units.Quantity` or str
        The range.

    Returns
    -------
    text : str
        E.g. "0.4-20 TeV".
    """
    low = u.Quantity(energy_min)
    high = u.Quantity(energy_max).to(low.unit)
    return f"{low.value:.4g}-{high.value:.4g} {low.unit}"


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


def _compared(spectrum):
    """The two models of ``compare_to``, as text."""
    nested = type(spectrum.models[0].spectral_model).__name__.replace("SpectralModel", "")
    return f"{spectrum.meta.get('compare_to', 'compare_to').replace('SpectralModel', '')} over {nested}"


def quantity_label(spectrum, name):
    """Axis label of a per-bin quantity: what it is, its energy range or reference energy, and unit.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    name : str
        Quantity, e.g. "flux", "amplitude", "index_err", "compare_sigma".

    Returns
    -------
    label : str
        E.g. "flux 1-10 TeV [cm-2 s-1]", "amplitude at 1 TeV [TeV-1 cm-2 s-1]",
        "Significance of LogParabola over PowerLaw [sigma]".
    """
    base = name.split("_")[0]
    text = LABELS.get(name, name)
    if base in FLUX_NAMES and "energy_min" in spectrum.meta:
        text = f"{name} {energy_range_text(spectrum.meta['energy_min'], spectrum.meta['energy_max'])}"
    elif name.startswith("compare_"):
        text = {"compare_sigma": "Significance", "compare_ts": "TS", "compare_p_value": "p-value"}.get(name, name)
        text = f"{text} of {_compared(spectrum)}"
    reference = _reference_energy(spectrum, base)
    if reference is not None:
        text = f"{name} at {_energy_text(reference)}"
    if name == "compare_sigma":
        return f"{text} [sigma]"
    unit = spectrum[name].unit
    return f"{text} [{unit.to_string(UNIT_STRING_FORMAT)}]" if not unit.is_unity() else text


def time_axis_label(time_axis):
    """The label of a time axis: "Time (UTC)" and the date, or the two dates of a night.

    Parameters
    ----------
    time_axis : `~gammapy.maps.TimeMapAxis`
        Time axis.

    Returns
    -------
    label : str
        E.g. "Time (UTC), 2006-07-29/30" or "Time (UTC), 2026-01-01 to 2026-01-05".
    """
    first, last = time_axis.time_min[0].utc.isot[:10], time_axis.time_max[-1].utc.isot[:10]
    if first == last:
        return f"Time (UTC), {first}"
    if first[:8] == last[:8] and int(last[8:]) - int(first[8:]) == 1:
        return f"Time (UTC), {first}/{last[8:]}"
    return f"Time (UTC), {first} to {last}"


def format_time_axis(ax, time_axis=None):
    """Concise UTC clock labels on the x axis of a time plot, the date in its label (not in a corner).

    Parameters
    ----------
    ax : `~matplotlib.axes.Axes`
        Axes.
    time_axis : `~gammapy.maps.TimeMapAxis`, optional
        The bins, whose dates the label names. Default is None, "Time (UTC)".
    """
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    locator = AutoDateLocator(minticks=3, maxticks=8)  # both: with maxticks alone some spans find no interval
    formatter = ConciseDateFormatter(locator)
    formatter.offset_formats = [""] * 6  # the date is in the axis label
    formatter.zero_formats[3] = "%H:%M"  # midnight among hours is 00:00, not the day
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(formatter)
    ax.set_xlabel(time_axis_label(time_axis) if time_axis is not None else "Time (UTC)")
    return ax


def readable_log_axis(ax, axis="x"):
    """Tick labels on a log axis with fewer than two powers of ten inside it (where matplotlib
    labels one or none): the minor ticks labelled too."""
    from matplotlib.ticker import LogFormatterSciNotation, LogLocator, NullFormatter

    target = ax.xaxis if axis == "x" else ax.yaxis
    low, high = sorted(ax.get_xlim() if axis == "x" else ax.get_ylim())
    if low > 0 and high / low < 3:
        target.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(2, 1)))
    elif low > 0 and np.floor(np.log10(high)) - np.ceil(np.log10(low)) < 1:  # at most one power of ten inside
        subs = (2.0, 3.0, 5.0) if high / low < 10 else (2.0, 5.0)  # labels that do not overlap
        target.set_minor_locator(LogLocator(subs=subs))
        target.set_minor_formatter(LogFormatterSciNotation(labelOnlyBase=False, minor_thresholds=(np.inf, np.inf)))
    else:
        target.set_minor_formatter(NullFormatter())
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
    label = f"Time since {start.utc.isot[:16].replace('T', ' ')} UTC [{elapsed.unit}]"
    return elapsed.value, label


def _shared_row(spectrum, name):
    shared = spectrum.shared_parameters
    if shared is None or name not in list(shared["name"]):
        return None
    return shared[list(shared["name"]).index(name)]


def plot_parameter(spectrum, parameter, ax=None, where=None, **kwargs):
    """Plot a per-bin quantity against time with error bars.

    A parameter shared by all bins is drawn as its value and error band;
    bins whose quality flags a value that stands (e.g. a negative norm) are
    drawn with open markers; bins whose fit failed, with no value to draw, are
    shaded grey.

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
    shared = _shared_row(spectrum, parameter)
    if shared is not None:
        edges = [axis.as_plot_edges[0], axis.as_plot_edges[-1]]
        value, error = float(shared["value"]), float(shared["error"])
        ax.fill_between(edges, value - error, value + error, color="C0", alpha=0.25, label=f"{parameter}, shared")
        ax.plot(edges, [value, value], color="C0")
    else:
        y, yerr = _values_and_errors(spectrum, parameter)
        where = np.ones(spectrum.n_bins, dtype=bool) if where is None else np.asarray(where, dtype=bool)
        flagged = np.zeros(spectrum.n_bins, dtype=bool)
        if "quality" in spectrum.available_quantities:
            flagged = spectrum.quantity("quality").astype(int) > 0
        ok = spectrum.success & where
        kwargs.setdefault("fmt", "o")
        kwargs.setdefault("label", parameter)
        for subset, style in ((ok & ~flagged, {}), (ok & flagged, dict(mfc="none", label=None))):
            if np.any(subset):
                ax.errorbar(x[subset], y[subset], xerr=_subset(xerr, subset), yerr=_subset(yerr, subset), **{**kwargs, **style})
        _mark_failed(ax, axis, ~spectrum.success & where)
    format_time_axis(ax, axis)
    ax.set_ylabel(quantity_label(spectrum, parameter))
    return ax


def _mark_failed(ax, axis, bad):
    """Shade the time bins whose fit failed: they have no value to draw, yet a gap must not pass
    for a bin without data."""
    label = FAILED_LABEL
    for start, stop in zip(axis.time_min[bad], axis.time_max[bad]):
        ax.axvspan(start.datetime, stop.datetime, label=label, **FAILED_STYLE)
        label = None


def _path(ax, x, y, time, cmap):
    """The bins joined in time order by a line coloured by time, arrows at a few places."""
    from matplotlib.collections import LineCollection

    points = np.column_stack([x, y])
    segments = np.stack([points[:-1], points[1:]], axis=1)
    line = LineCollection(segments, cmap=cmap, linewidths=1.2, alpha=0.7, zorder=1)
    line.set_array(0.5 * (time[:-1] + time[1:]))
    ax.add_collection(line)
    every = max(1, len(segments) // 6)  # a handful of arrows, however many bins
    for (x0, y0), (x1, y1) in segments[::every]:
        ax.annotate(
            "", xy=(x0 + 0.55 * (x1 - x0), y0 + 0.55 * (y1 - y0)), xytext=(x0 + 0.45 * (x1 - x0), y0 + 0.45 * (y1 - y0)),
            arrowprops=dict(arrowstyle="-|>", color="0.3", lw=0.8, mutation_scale=11), zorder=3,
        )
    ax.annotate("start", points[0], textcoords="offset points", xytext=(6, 6), fontsize=8, color="0.3")
    ax.annotate("end", points[-1], textcoords="offset points", xytext=(6, -12), fontsize=8, color="0.3")


def plot_correlation(spectrum, x, y, ax=None, cmap="viridis", **kwargs):
    """Plot one quantity against another, coloured by time, the bins joined in time order.

    A line coloured by time joins each bin to the next, with a few arrows and
    the first and last bins named, so that a loop in the plane (the hysteresis
    of e.g. index against flux) and its direction read at any number of bins.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    x, y : str
        Quantities on the x and y axes.
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    cmap : str, optional
        Colour map of the time. Default is "viridis".
    **kwargs : dict
        Passed to `~matplotlib.axes.Axes.scatter` for the bins.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    xv, xerr = _values_and_errors(spectrum, x)
    yv, yerr = _values_and_errors(spectrum, y)
    ok = spectrum.success & np.isfinite(xv) & np.isfinite(yv)
    time, time_label = _elapsed_time(spectrum.time_axis)
    ax.errorbar(
        xv[ok], yv[ok], xerr=_subset(xerr, ok), yerr=_subset(yerr, ok),
        fmt="none", ecolor="0.75", elinewidth=0.8, zorder=0,
    )
    if ok.sum() > 1:
        _path(ax, xv[ok], yv[ok], time[ok], cmap)
    kwargs.setdefault("zorder", 2)
    kwargs.setdefault("s", 25)
    scatter = ax.scatter(xv[ok], yv[ok], c=time[ok], cmap=cmap, edgecolors="k", linewidths=0.4, **kwargs)
    ax.figure.colorbar(scatter, ax=ax, label=time_label)
    ax.set_xlabel(quantity_label(spectrum, x))
    ax.set_ylabel(quantity_label(spectrum, y))
    return ax


def summary_quantities(spectrum):
    """The quantities of `plot_summary`: the flux (else the norm), the shape parameters (shared
    ones too), sqrt(TS)."""
    names = spectrum.parameter_names
    available = spectrum.available_quantities
    norms = [name for name in names if name in NORM_NAMES]
    first = ["flux"] if "flux" in available else norms[:1]
    shared = [] if spectrum.shared_parameters is None else list(spectrum.shared_parameters["name"])
    shapes = [name for name in names + shared if name not in NORM_NAMES and name in available]
    ts = ["sqrt_ts"] if "sqrt_ts" in available else []
    return first + shapes + ts


def plot_summary(spectrum, fig=None):
    """The flux, the shape parameters and sqrt(TS) of each bin, one panel each, sharing the time axis.

    Upper limits (the "ul" and "flux" steps) are drawn as arrows in the flux
    panel; a shared parameter as its value and error band.

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

        fig = plt.figure(figsize=(8, 2.2 * len(names) + 0.8), layout="constrained")
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
