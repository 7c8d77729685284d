"""The flux points of each time bin (the "sed" step): columns of the result, Gammapy flux points,
the spectra of the bins as small multiples, and the map of E² dN/dE against time and energy."""

import numpy as np
import astropy.units as u
from astropy.table import Table
from gammapy.estimators import FluxPoints
from gammapy.maps import Map, MapAxis, Maps, RegionGeom
from gammapy.maps.axes import UNIT_STRING_FORMAT
from ..engine import dnde_band
from ..utils.units import DNDE_UNIT, EFLUX_UNIT
from .lightcurve import counts_map
from .meta import region_from_text
from .plotting import format_time_axis, time_axis_label

__all__ = ["SED_PRODUCT", "SPECTRA_PANELS", "plot_sed_map", "plot_spectra", "sed_table", "to_sed"]

SED_PRODUCT = "sed"
"""Name of the flux points among a result's products (columns ``sed_*`` of its table)."""
_DNDE = ("dnde", "dnde_err", "dnde_ul")
_BOOL = ("is_ul", "success")
_OTHER = ("ts", "sqrt_ts", "counts", "npred")
_DESCRIPTIONS = dict(
    e_min="Flux points: lower energy edges",
    e_max="Flux points: upper energy edges",
    dnde="Flux points: differential flux",
    dnde_err="Flux points: symmetric error of dnde",
    dnde_ul="Flux points: upper limit on dnde",
    ts="Flux points: TS",
    sqrt_ts="Flux points: signed square root of the TS",
    is_ul="Flux points: whether the point is an upper limit",
    success="Flux points: whether the fit of the point succeeded",
    counts="Flux points: counts (summed over the datasets)",
    npred="Flux points: predicted counts (summed over the datasets)",
)


def sed_table(bin_seds):
    """The flux points of all bins as one table, one row per bin, one vector column per quantity.

    Parameters
    ----------
    bin_seds : list of dict or None
        Per bin, the arrays of `~gammapy_trs.estimation.steps.sed.bin_sed`, or
        None where there are none (a failed fit).

    Returns
    -------
    table : `~astropy.table.Table` or None
        Columns ``e_min``, ``e_max``, ``dnde``... (NaN and False in bins without
        flux points); None if no bin has flux points.
    """
    first = next((sed for sed in bin_seds if sed is not None), None)
    if first is None:
        return None
    edges = first["energy_edges"]
    n_bins, n_energy = len(bin_seds), len(edges) - 1
    table = Table()
    table["e_min"] = np.tile(edges[:-1], (n_bins, 1)) * u.TeV
    table["e_max"] = np.tile(edges[1:], (n_bins, 1)) * u.TeV
    for name in _DNDE + _OTHER + _BOOL:
        empty = False if name in _BOOL else np.nan
        values = np.full((n_bins, n_energy), empty, dtype=bool if name in _BOOL else float)
        for idx, sed in enumerate(bin_seds):
            if sed is not None:
                if not np.allclose(sed["energy_edges"], edges):
                    raise ValueError("The flux points of the bins have different energy edges.")
                values[idx] = sed[name]
        table[name] = values * DNDE_UNIT if name in _DNDE else values
    for name, column in table.columns.items():
        column.info.description = _DESCRIPTIONS[name]
    return table


def to_sed(spectrum):
    """The flux points of every bin as one Gammapy `~gammapy.estimators.FluxPoints`.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result of a run with the "sed" step.

    Returns
    -------
    flux_points : `~gammapy.estimators.FluxPoints`
        Flux points on an energy and a time axis (``sed_type="dnde"``; the
        reference model, for conversions to other SED types, is the model of
        the first bin whose fit succeeded). Written with
        ``format="lightcurve"``.
    """
    sed = spectrum.products.get(SED_PRODUCT)
    if sed is None:
        raise ValueError('The result has no flux points: run the estimator with selection_optional "sed".')
    energy_axis = MapAxis.from_energy_edges(
        np.append(sed["e_min"].quantity[0], sed["e_max"].quantity[0, -1])
    )
    region = region_from_text(spectrum.meta.get("region", ""))
    geom = RegionGeom.create(region=region, axes=[energy_axis, spectrum.time_axis])

    def as_map(name):
        column = sed[name]
        data = np.asarray(column, dtype=bool if name in _BOOL else None).reshape(geom.data_shape)  # (bin, energy): data shape (time, energy, 1, 1)
        return Map.from_geom(geom, data=data, unit=column.unit or "", dtype=data.dtype)

    maps = Maps(**{name: as_map(name) for name in _DNDE + _OTHER + _BOOL if name not in ("counts", "npred")})
    for name in ("counts", "npred"):
        maps[name] = counts_map(np.asarray(sed[name]), energy_axis, spectrum.time_axis)
    reference = next((m for m, ok in zip(spectrum.models, spectrum.success) if ok), spectrum.models[0])
    return FluxPoints.from_maps(
        maps=maps,
        sed_type="dnde",
        reference_model=reference.copy(name=reference.name),
        meta=dict(sed_type_init="dnde", source=spectrum.meta.get("source")),
    )


SPECTRA_PANELS = 30
"""The most bins `plot_spectra` draws by default (evenly spaced among the bins beyond)."""


def _bins_to_draw(spectrum, bins):
    if bins is not None:
        return [int(b) for b in np.atleast_1d(bins)]
    if spectrum.n_bins <= SPECTRA_PANELS:
        return list(range(spectrum.n_bins))
    return sorted(set(np.linspace(0, spectrum.n_bins - 1, SPECTRA_PANELS).round().astype(int).tolist()))


def _clock(time):
    return time.utc.isot[11:16]


def _energy_bounds(sed, energy_bounds):
    if energy_bounds is not None:
        return u.Quantity(energy_bounds, "TeV")
    if sed is not None:
        return u.Quantity([sed["e_min"].quantity[0, 0], sed["e_max"].quantity[0, -1]]).to("TeV")
    return [0.3, 30] * u.TeV


def _draw_bin(ax, spectrum, idx, sed, energy, sed_type, band):
    """One bin's model, its error band and its flux points (limits as arrows); returns the values
    drawn that set the y range (the model, the points and the limits, not the bands' lower edges)."""
    drawn = []
    scale = energy.to_value("TeV") ** 2 if sed_type == "e2dnde" else 1
    unit = EFLUX_UNIT / u.TeV**2 if sed_type == "e2dnde" else DNDE_UNIT
    model = spectrum.models[idx].spectral_model
    if np.all(np.isfinite(model.parameters.value)):
        dnde, error = dnde_band(model, energy)
        y, dy = (q.to_value(DNDE_UNIT) * scale * DNDE_UNIT.to(unit) for q in (dnde, error))
        ax.plot(energy.value, y, color="C0", lw=1)
        drawn.append(y)
        if band and np.all(np.isfinite(dy)):
            ax.fill_between(energy.value, y - dy, y + dy, color="C0", alpha=0.2, lw=0)
    if sed is None:
        return drawn
    e_ref = np.sqrt(sed["e_min"].quantity[idx] * sed["e_max"].quantity[idx]).to_value("TeV")
    factor = (e_ref**2 if sed_type == "e2dnde" else 1) * DNDE_UNIT.to(unit)
    is_ul = np.asarray(sed["is_ul"][idx], dtype=bool)
    dnde, err, ul = (np.asarray(sed[name].quantity[idx].to_value(DNDE_UNIT)) * factor for name in ("dnde", "dnde_err", "dnde_ul"))
    points = ~is_ul & np.isfinite(dnde)
    ax.errorbar(e_ref[points], dnde[points], yerr=err[points], fmt="o", color="k", ms=3, lw=1)
    limits = is_ul & np.isfinite(ul) & (ul > 0)
    ax.errorbar(e_ref[limits], ul[limits], yerr=0.35 * ul[limits], uplims=True, fmt="none", color="k", lw=1)
    return drawn + [dnde[points] + err[points], dnde[points], ul[limits]]


DYNAMIC_RANGE = 1e4
"""The widest range of the y axis of `plot_spectra`, from its highest value drawn down."""


def _with_margins(low, high, margin=0.05):
    """A log axis' limits with matplotlib's default margins (a fraction of the decades each side)."""
    extra = margin * np.log10(high / low)
    return low / 10**extra, high * 10**extra


def _y_range(drawn):
    """Limits of the y axis around the values drawn: a model that falls steeply or a point
    consistent with zero does not stretch the axis over decades where nothing is seen."""
    values = np.concatenate([np.ravel(v) for v in drawn]) if drawn else np.array([])
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return None
    high = values.max()
    low = max(values.min(), high / DYNAMIC_RANGE)
    return low / 2, high * 2


def plot_spectra(spectrum, fig=None, bins=None, sed_type="e2dnde", energy_bounds=None, band=True, ncols=None):
    """Small multiples: one panel per bin with its model, error band and flux points.

    Flux points that are upper limits are drawn as arrows; the panels share
    their axes, so that the bins compare at a glance. Beyond `SPECTRA_PANELS`
    bins, that many evenly spaced bins are drawn unless ``bins`` says which.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result (flux points are drawn if the "sed" step ran).
    fig : `~matplotlib.figure.Figure`, optional
        Figure. Default is None, a new pyplot figure.
    bins : list of int, optional
        The bins to draw. Default is None, all (up to `SPECTRA_PANELS`).
    sed_type : {"e2dnde", "dnde"}, optional
        Quantity on the y axis. Default is "e2dnde".
    energy_bounds : `~astropy.units.Quantity`, optional
        Energy range of the model curves. Default is None, that of the flux
        points, else 0.3 to 30 TeV.
    band : bool, optional
        Draw each model's error band. Default is True.
    ncols : int, optional
        Number of columns. Default is None, about the square root of the number of panels.

    Returns
    -------
    axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
        One axes per bin drawn.
    """
    from matplotlib.ticker import NullLocator

    sed = spectrum.products.get(SED_PRODUCT)
    bins = _bins_to_draw(spectrum, bins)
    ncols = ncols or int(np.ceil(np.sqrt(len(bins))))
    nrows = int(np.ceil(len(bins) / ncols))
    if fig is None:
        import matplotlib.pyplot as plt

        fig = plt.figure(figsize=(2.3 * ncols + 1, 1.9 * nrows + 1))
    fig.set_layout_engine("none")  # fixed margins: a constrained layout of 30 log axes takes seconds
    axes = fig.subplots(nrows, ncols, sharex=True, sharey=True, squeeze=False, gridspec_kw=_margins(fig)).ravel()
    energy = np.geomspace(*_energy_bounds(sed, energy_bounds).to_value("TeV"), 40) * u.TeV
    axis = spectrum.time_axis
    # the limits are set once, from what is drawn: autoscaling each artist of panels that share
    # their axes takes seconds
    for ax in axes:
        ax.set_autoscale_on(False)
    axes[0].set_xscale("log")  # the scales and limits are shared by all panels
    axes[0].set_yscale("log")
    axes[0].set_xlim(*_with_margins(energy.value[0], energy.value[-1]))
    drawn = []
    for ax, idx in zip(axes, bins):
        drawn.extend(_draw_bin(ax, spectrum, idx, sed, energy, sed_type, band))
        # a title at a fixed height: matplotlib's placement above the axis' labels takes seconds
        ax.set_title(f"{_clock(axis.time_min[idx])}-{_clock(axis.time_max[idx])}", fontsize=8, pad=2, y=1.0)
        ax.tick_params(labelsize=7)
    # the locators are shared by all panels: the decades only, minor ticks would crowd a small panel
    axes[0].xaxis.set_minor_locator(NullLocator())
    axes[0].yaxis.set_minor_locator(NullLocator())
    for ax in axes[len(bins):]:
        ax.set_visible(False)
        axes[len(bins) - ncols].xaxis.set_tick_params(labelbottom=True)  # the panel above an empty one
    y_range = _y_range(drawn)
    if y_range is not None:
        axes[0].set_ylim(*y_range)  # shared by all panels
    else:  # nothing positive drawn: matplotlib's limits
        axes[0].autoscale()
    for log_axis in (axes[0].xaxis, axes[0].yaxis):
        _decades_within(log_axis)
    name = "E² dN/dE" if sed_type == "e2dnde" else "dN/dE"
    unit = (EFLUX_UNIT if sed_type == "e2dnde" else DNDE_UNIT).to_string(UNIT_STRING_FORMAT)
    fig.supxlabel(f"Energy [{u.TeV.to_string(UNIT_STRING_FORMAT)}]", fontsize=9)
    fig.supylabel(f"{name} [{unit}]", fontsize=9)
    fig.suptitle(f"{spectrum.meta.get('source', '')}: {time_axis_label(axis)}", fontsize=9)
    return axes[: len(bins)]


def _decades_within(axis):
    """Major ticks at the decades within a log axis' limits only, where there are two or more.

    Matplotlib's log locator also places the decades beyond the limits, and every panel makes
    a tick for each (the ticks take most of the time of drawing small multiples); with fewer than
    two decades within, its locator is kept, for the ticks between.
    """
    from matplotlib.ticker import FixedLocator

    low, high = sorted(axis.get_view_interval())
    decades = 10.0 ** np.arange(np.ceil(np.log10(low)), np.floor(np.log10(high)) + 1)
    if decades.size >= 2:
        axis.set_major_locator(FixedLocator(decades))


def _margins(fig):
    """The small multiples' grid in fixed margins (inches) around the panels: the tick labels
    and the figure's labels of the outer panels only (the panels share their axes)."""
    width, height = fig.get_size_inches()
    return dict(
        left=0.85 / width, right=1 - 0.15 / width, bottom=0.6 / height, top=1 - 0.55 / height,
        wspace=0.08, hspace=0.32,
    )


def _hatch_limits(ax, start, stop, edges, limits):
    """Hatch the cells of one bin's column whose value is an upper limit."""
    from matplotlib.dates import date2num
    from matplotlib.patches import Rectangle

    x0, x1 = date2num(start), date2num(stop)
    for low, high in zip(edges[:-1][limits], edges[1:][limits]):
        ax.add_patch(Rectangle((x0, low), x1 - x0, high - low, fill=False, hatch="///", edgecolor="0.8", lw=0))


def plot_sed_map(spectrum, ax=None, cmap="magma"):
    """The flux points of every bin as a map of E² dN/dE against time and energy, limits hatched.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result of a run with the "sed" step.
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    cmap : str, optional
        Colour map. Default is "magma".

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.colors import LogNorm

    sed = spectrum.products.get(SED_PRODUCT)
    if sed is None:
        raise ValueError('The result has no flux points: run the estimator with selection_optional "sed".')
    ax = plt.gca() if ax is None else ax
    axis = spectrum.time_axis
    starts, stops = axis.time_min.to_datetime(), axis.time_max.to_datetime()
    edges = np.append(sed["e_min"].quantity[0].to_value("TeV"), sed["e_max"].quantity[0, -1].to_value("TeV"))
    e_ref = np.sqrt(edges[:-1] * edges[1:])
    factor = e_ref**2 * DNDE_UNIT.to(EFLUX_UNIT / u.TeV**2)
    dnde = np.asarray(sed["dnde"].quantity.to_value(DNDE_UNIT)) * factor
    ul = np.asarray(sed["dnde_ul"].quantity.to_value(DNDE_UNIT)) * factor
    is_ul = np.asarray(sed["is_ul"], dtype=bool)
    values = np.where(is_ul, ul, dnde).T
    values = np.where(values > 0, values, np.nan)
    finite = values[np.isfinite(values)]
    norm = LogNorm(vmin=finite.min(), vmax=finite.max()) if finite.size else None
    for idx, (start, stop) in enumerate(zip(starts, stops)):  # one column per bin: gaps stay empty
        mesh = ax.pcolormesh([start, stop], edges, values[:, idx : idx + 1], cmap=cmap, norm=norm, shading="flat")
        _hatch_limits(ax, start, stop, edges, is_ul[idx] & np.isfinite(values[:, idx]))
    ax.set_yscale("log")
    format_time_axis(ax, axis)
    ax.set_ylabel(f"Energy [{u.TeV.to_string(UNIT_STRING_FORMAT)}]")
    ax.figure.colorbar(mesh, ax=ax, label=f"E² dN/dE [{EFLUX_UNIT.to_string(UNIT_STRING_FORMAT)}] (hatched: upper limit)")
    return ax
