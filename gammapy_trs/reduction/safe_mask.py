"""Safe masks of the time slices: the IRF-based parts made once per observation.

Gammapy's ``aeff-max`` mask is made here with its root search vectorised:
`~gammapy.makers.SafeMaskMaker.make_mask_energy_aeff_max` inverts the
effective area with `~gammapy.modeling.models.TemplateSpectralModel.inverse`,
which scans 101 log-spaced energies one model call at a time before it
brackets the root with Brent's method. Here the scan is one vectorised call
and only the first bracket (the one Gammapy uses) is solved, with the same
function and solver: the energy, hence the mask, is Gammapy's.
"""

import functools
import numpy as np
import astropy.units as u
from scipy.optimize import root_scalar
from gammapy.makers import SafeMaskMaker
from gammapy.maps import Map
from gammapy.modeling.models import TemplateSpectralModel
from ..utils.gammapy_internals import dataset_geom, safe_mask_position
from ..utils.onoff import background_values

__all__ = ["IRF_SAFE_METHODS", "apply_safe_mask", "first_inverse", "irf_safe_mask", "make_mask_energy_aeff_max"]

IRF_SAFE_METHODS = {
    "offset-max": "make_mask_offset_max",
    "aeff-default": "make_mask_energy_aeff_default",
    "aeff-max": "make_mask_energy_aeff_max",
    "edisp-bias": "make_mask_energy_edisp_bias",
}
"""The safe-mask methods that depend only on the IRFs and the pointing."""

N_SCAN_BINS = 100
"""Bins of the log-spaced scan, as in `gammapy.utils.roots.find_roots`."""


def first_inverse(model, value, energy_min, energy_max):
    """Lowest energy at which a template spectral model takes a value.

    Equals the first element of ``model.inverse(value, energy_min, energy_max)``.

    Parameters
    ----------
    model : `~gammapy.modeling.models.TemplateSpectralModel`
        Spectral model.
    value : `~astropy.units.Quantity`
        Model value to invert.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy range of the search.

    Returns
    -------
    energy : `~astropy.units.Quantity`
        The energy in TeV, NaN if the model does not cross ``value`` in the range
        or the solver fails.
    """

    def f(x):
        # Gammapy's objective, scaled by 1e12 "to achieve better precision"
        y = model(u.Quantity(x, unit="TeV")).to(value.unit)
        return 1e12 * (y.value - value.value)

    bounds = np.log([energy_min.to_value("TeV"), energy_max.to_value("TeV")])
    x = np.exp(np.linspace(bounds[0], bounds[1], N_SCAN_BINS + 1))
    signs = np.sign(f(x))
    crossings = np.nonzero(signs[:-1] != signs[1:])[0]
    if len(crossings) == 0:
        return np.nan * u.TeV
    idx = crossings[0]
    try:
        result = root_scalar(f, bracket=[x[idx].item(), x[idx + 1].item()], method="brentq")
    except (RuntimeError, ValueError):
        return np.nan * u.TeV
    return (result.root if result.converged else np.nan) * u.TeV


def make_mask_energy_aeff_max(maker, dataset, observation=None):
    """Safe energy mask from the effective-area maximum, as Gammapy makes it.

    Parameters
    ----------
    maker : `~gammapy.makers.SafeMaskMaker`
        Safe mask maker (``aeff_percent``, ``irfs``, ``position``, ``fixed_offset``).
    dataset : `~gammapy.datasets.MapDataset` or `~gammapy.datasets.SpectrumDataset`
        Dataset with its exposure.
    observation : `~gammapy.data.Observation`, optional
        Observation. Default is None.

    Returns
    -------
    mask : `~gammapy.maps.Map`
        Safe energy mask, equal to ``maker.make_mask_energy_aeff_max(dataset, observation)``.
    """
    geom, exposure = dataset_geom(dataset), dataset.exposure
    if maker.irfs == "DL3" or maker.fixed_offset is not None and observation is None:
        # no inversion (or Gammapy's error)
        return maker.make_mask_energy_aeff_max(dataset, observation)

    position = safe_mask_position(maker, observation, geom)
    aeff = exposure.get_spectrum(position) / exposure.meta["livetime"]
    if not np.any(aeff.data > 0.0):
        return maker.make_mask_energy_aeff_max(dataset, observation)  # Gammapy's warning

    model = TemplateSpectralModel.from_region_map(aeff)
    energy_min = model.energy[np.nonzero(model.values > 0)[0][0]]
    threshold = (maker.aeff_percent / 100) * aeff.quantity.max()
    root = first_inverse(model, threshold, energy_min, model.energy[-1])
    if not np.isnan(root):
        energy_min = root
    return geom.energy_mask(energy_min=energy_min)


def irf_safe_mask(maker, dataset, observation):
    """The product of the IRF-based masks of ``maker`` (True if it has none).

    Gammapy's own ``aeff-max`` is made by `make_mask_energy_aeff_max`; a
    subclass's override of it is called as it is.
    """
    masks = []
    for method in maker.methods:
        if method not in IRF_SAFE_METHODS:
            continue
        name = IRF_SAFE_METHODS[method]
        if method == "aeff-max" and getattr(type(maker), name) is getattr(SafeMaskMaker, name):
            masks.append(make_mask_energy_aeff_max(maker, dataset, observation))
        else:
            masks.append(getattr(maker, name)(dataset, observation))
    return functools.reduce(np.logical_and, masks, True)


def apply_safe_mask(maker, irf_mask, dataset, observation):
    """``maker.run(dataset, observation)`` with the IRF-based masks given.

    The same masks in the same order as `~gammapy.makers.SafeMaskMaker.run`.
    """
    mask = dataset.mask_safe.data if dataset.mask_safe else np.ones(dataset_geom(dataset).data_shape, bool)
    if type(maker).make_mask_bkg_invalid is not SafeMaskMaker.make_mask_bkg_invalid:  # a subclass's own
        if dataset.background is not None:
            mask &= maker.make_mask_bkg_invalid(dataset)
    else:
        background = background_values(dataset)
        if background is not None:  # Gammapy's make_mask_bkg_invalid on the values
            mask &= np.isfinite(background) & (dataset.stat_type == "wstat" or background > 0.0)
    mask &= irf_mask
    if "bkg-peak" in maker.methods:
        mask &= maker.make_mask_energy_bkg_peak(dataset, observation)
    dataset.mask_safe = Map.from_geom(dataset_geom(dataset), data=mask, dtype=bool)
    return dataset
