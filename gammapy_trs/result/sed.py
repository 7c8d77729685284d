"""The flux points of each time bin (the "sed" step): columns of the result, Gammapy flux points,
and the plot of the spectra of all bins."""

import warnings
import numpy as np
import astropy.units as u
from astropy.table import Table
from gammapy.estimators import FluxPoints
from gammapy.maps import Map, MapAxis, Maps, RegionGeom
from gammapy.maps.axes import UNIT_STRING_FORMAT
from ..utils.units import DNDE_UNIT
from .lightcurve import counts_map

__all__ = ["SED_PRODUCT", "sed_table", "to_sed", "plot_spectra"]

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
    geom = RegionGeom.create(region=None, axes=[energy_axis, spectrum.time_axis])

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


def _time_colors(spectrum, cmap):
    import matplotlib as mpl

    elapsed = (spectrum.time_axis.time_mid - spectrum.time_axis.time_min[0]).to_value("h")
    norm = mpl.colors.Normalize(vmin=elapsed.min(), vmax=max(elapsed.max(), elapsed.min() + 1e-9))
    return elapsed, norm, mpl.colormaps[cmap]


def _plot_bin(ax, model, points, idx, color, sed_type, energy_bounds, band):
    kwargs = dict(energy_bounds=energy_bounds, sed_type=sed_type, ax=ax)
    model.spectral_model.plot(color=color, lw=1, **kwargs)
    if band and np.all(np.isfinite(model.spectral_model.covariance.data)):
        model.spectral_model.plot_error(facecolor=color, alpha=0.15, **kwargs)
    if points is not None:
        points.slice_by_idx({"time": slice(idx, idx + 1)}).plot(
            ax=ax, sed_type=sed_type, color=color, markersize=4, label=None
        )


def plot_spectra(spectrum, ax=None, sed_type="e2dnde", energy_bounds=None, cmap="viridis", band=True):
    """The model of each bin with its error band, and its flux points, coloured by time.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result (flux points are drawn if the "sed" step ran).
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    sed_type : {"e2dnde", "dnde"}, optional
        Quantity on the y axis. Default is "e2dnde".
    energy_bounds : `~astropy.units.Quantity`, optional
        Energy range of the model curves. Default is None, that of the flux
        points, else 0.3 to 30 TeV.
    cmap : str, optional
        Colour map of the time. Default is "viridis".
    band : bool, optional
        Draw each model's error band. Default is True.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt
    from matplotlib.cm import ScalarMappable

    ax = plt.gca() if ax is None else ax
    sed = spectrum.products.get(SED_PRODUCT)
    if energy_bounds is None:
        if sed is not None:
            energy_bounds = u.Quantity([sed["e_min"].quantity[0, 0], sed["e_max"].quantity[0, -1]])
        else:
            energy_bounds = [0.3, 30] * u.TeV
    elapsed, norm, colormap = _time_colors(spectrum, cmap)
    points = spectrum.to_sed() if sed is not None else None
    with warnings.catch_warnings():
        # models and flux points set the same unit converter on the axes, one after the other
        warnings.filterwarnings("ignore", message="This axis already has a converter set")
        for idx, (model, ok) in enumerate(zip(spectrum.models, spectrum.success)):
            if ok:
                _plot_bin(ax, model, points, idx, colormap(norm(elapsed[idx])), sed_type, energy_bounds, band)
    if ax.get_legend() is not None:
        ax.get_legend().remove()  # the colour bar gives the time
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.figure.colorbar(
        ScalarMappable(norm=norm, cmap=colormap),
        ax=ax,
        label=f"Time since {spectrum.time_axis.time_min[0].utc.isot[:19]} UTC [h]",
    )
    unit = ax.yaxis.units or u.Unit("")
    name = "E² dN/dE" if sed_type == "e2dnde" else "dN/dE"
    ax.set_ylabel(f"{name} [{unit.to_string(UNIT_STRING_FORMAT)}]")
    ax.set_xlabel(f"Energy [{u.TeV.to_string(UNIT_STRING_FORMAT)}]")
    return ax
