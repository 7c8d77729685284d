"""Conversion of a `~gammapy_trs.TimeResolvedSpectrum` to a Gammapy light curve."""

import numpy as np
import astropy.units as u
from gammapy.estimators import FluxPoints
from gammapy.maps import LabelMapAxis, Map, MapAxis, Maps, RegionGeom
from ..engine import integral_fluxes, model_fluxes
from ..utils.units import FLUX_UNIT
from ..utils.parameters import free_parameter_names
from .meta import ul_shape_key

__all__ = ["bin_fluxes", "counts_map", "to_lightcurve", "upper_limit_model"]


def upper_limit_model(spectrum, idx):
    """The model of bin ``idx`` at its upper limit: shape fixed (the bin's own where ``ul_shape`` is
    "bin", else the fallback shape of the meta data), norm at the limit.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result of a run with the "ul" step.
    idx : int
        Bin index.

    Returns
    -------
    model : `~gammapy.modeling.models.SkyModel` or None
        None if the bin has no upper limit (the "ul" step did not run, or found none).
    """
    if "is_ul" not in spectrum.available_quantities:
        return None
    norms = [name for name in spectrum.parameter_names if f"{name}_ul" in spectrum.available_quantities]
    if not norms or not np.isfinite(spectrum.quantity(f"{norms[0]}_ul")[idx].value):
        return None
    model = spectrum.models[idx].copy(name=spectrum.models[idx].name)
    own_shape = "ul_shape" in spectrum.available_quantities and spectrum.quantity("ul_shape")[idx] == "bin"
    for name, par_idx in free_parameter_names(model).items():
        par = model.parameters[par_idx]
        if f"{name}_ul" in spectrum.available_quantities:
            par.quantity = spectrum.quantity(f"{name}_ul")[idx]
        elif not own_shape and ul_shape_key(name) in spectrum.meta:
            par.value = spectrum.meta[ul_shape_key(name)]
    return model


def counts_map(values, energy_axis, time_axis):
    """Counts-like values (``counts``, ``npred``) as Gammapy flux points hold them: on a
    ``dataset`` axis (here one entry, the sum over the datasets), the energy and the time axis.

    Parameters
    ----------
    values : `~numpy.ndarray`
        Values, shape ``(n_time, n_energy)``.
    energy_axis : `~gammapy.maps.MapAxis`
        Energy axis.
    time_axis : `~gammapy.maps.TimeMapAxis`
        Time axis.

    Returns
    -------
    map : `~gammapy.maps.RegionNDMap`
        Map.
    """
    dataset_axis = LabelMapAxis(["all"], name="dataset")
    geom = RegionGeom.create(region=None, axes=[dataset_axis, energy_axis, time_axis])
    data = np.asarray(values, dtype=float).reshape(geom.data_shape)
    return Map.from_geom(geom, data=data)


def _same_band(spectrum, energy_min, energy_max):
    """Whether the result's "flux" step computed the fluxes of this energy range."""
    if "flux" not in spectrum.available_quantities or "energy_min" not in spectrum.meta:
        return False
    band = [u.Quantity(spectrum.meta[key]).to_value("TeV") for key in ("energy_min", "energy_max")]
    asked = [u.Quantity(value).to_value("TeV") for value in (energy_min, energy_max)]
    return bool(np.allclose(band, asked, rtol=1e-9, atol=0))


def bin_fluxes(spectrum, energy_min, energy_max):
    """The flux, its error and its upper limit in each bin: those of the "flux" step for its energy
    range, else from the bins' models (NaN where a value does not stand)."""
    if _same_band(spectrum, energy_min, energy_max):
        values = [spectrum.quantity(name).to_value(FLUX_UNIT) for name in ("flux", "flux_err")]
        if "flux_ul" in spectrum.available_quantities:
            return (*values, spectrum.quantity("flux_ul").to_value(FLUX_UNIT))
        return (*values, np.full(spectrum.n_bins, np.nan))
    flux, flux_err, flux_ul = (np.full(spectrum.n_bins, np.nan) for _ in range(3))
    for idx, (model, ok) in enumerate(zip(spectrum.models, spectrum.success)):
        if ok:
            fluxes = integral_fluxes(model.spectral_model, energy_min, energy_max)
            flux[idx] = fluxes["flux"].to_value(FLUX_UNIT)
            flux_err[idx] = fluxes["flux_err"].to_value(FLUX_UNIT)
        ul_model = upper_limit_model(spectrum, idx)
        if ul_model is not None:
            ul_flux, _ = model_fluxes(ul_model.spectral_model, energy_min, energy_max)
            flux_ul[idx] = ul_flux.to_value(FLUX_UNIT)
    return flux, flux_err, flux_ul


def to_lightcurve(spectrum, energy_min=None, energy_max=None):
    """Integral flux light curve of the per-bin models, as Gammapy flux points.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    energy_min, energy_max : `~astropy.units.Quantity`, optional
        Energy range. Default is None, the range of the "flux" step if it
        ran, else 1 to 10 TeV.

    Returns
    -------
    lightcurve : `~gammapy.estimators.FluxPoints`
        Light curve with ``flux``, ``flux_err`` (those of the "flux" step for its
        energy range, else of the bins' models), ``success``, ``stat``,
        ``counts`` and ``npred`` (those of the bin's fit, in its fit range,
        summed over its datasets) and, where the run gave them, ``ts``,
        ``sqrt_ts``, ``stat_null``, ``is_ul`` and ``flux_ul``. Failed bins have
        NaN fluxes.
    """
    if energy_min is None:
        energy_min = spectrum.meta.get("energy_min", "1 TeV")
    if energy_max is None:
        energy_max = spectrum.meta.get("energy_max", "10 TeV")
    energy_min, energy_max = u.Quantity(energy_min), u.Quantity(energy_max)
    energy_axis = MapAxis.from_energy_edges(u.Quantity([energy_min, energy_max]))
    geom = RegionGeom.create(region=None, axes=[energy_axis, spectrum.time_axis])

    flux, flux_err, flux_ul = bin_fluxes(spectrum, energy_min, energy_max)

    def as_map(values, unit="", dtype=float):
        return Map.from_geom(geom, data=np.asarray(values, dtype=dtype).reshape(geom.data_shape), unit=unit)

    maps = Maps(
        flux=as_map(flux, FLUX_UNIT),
        flux_err=as_map(flux_err, FLUX_UNIT),
        success=as_map(spectrum.success, dtype=bool),
    )
    for name in ("ts", "sqrt_ts", "stat", "stat_null"):
        if name in spectrum.available_quantities:
            maps[name] = as_map(spectrum[name].data.ravel())
    for name in ("counts", "npred"):
        maps[name] = counts_map(spectrum[name].data.ravel(), energy_axis, spectrum.time_axis)
    if "is_ul" in spectrum.available_quantities:
        maps["is_ul"] = as_map(spectrum["is_ul"].data.ravel(), dtype=bool)
        maps["flux_ul"] = as_map(flux_ul, FLUX_UNIT)

    reference = next(
        (m for m, ok in zip(spectrum.models, spectrum.success) if ok), spectrum.models[0]
    )
    return FluxPoints.from_maps(
        maps=maps,
        sed_type="flux",
        reference_model=reference.copy(name=reference.name),
        meta=dict(sed_type_init="flux", source=spectrum.meta.get("source")),
    )
