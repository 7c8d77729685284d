"""In-memory simulation of on-off spectra of a variable source, from analytic IRFs."""

import logging
import astropy.units as u
from gammapy.data import GTI
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.irf import EDispKernelMap, EffectiveAreaTable2D
from gammapy.maps import Map, MapAxis
from gammapy.modeling.models import SkyModel
from gammapy.utils.random import get_random_state
from ..binning.intervals import as_gti
from .spectrum_setup import PKS2155_POSITION, empty_spectrum_dataset, on_region

__all__ = ["simulate_onoff_datasets"]

log = logging.getLogger(__name__)

DEFAULT_POSITION = PKS2155_POSITION
"""Position of the simulated source."""


def _template(energy_axis, energy_axis_true, instrument, energy_resolution):
    """Dataset with exposure per second of livetime and a Gaussian energy dispersion."""
    dataset = empty_spectrum_dataset(
        on_region(DEFAULT_POSITION, 0.11 * u.deg), energy_axis, energy_axis_true
    )
    geom = dataset.counts.geom
    dataset.mask_safe.data[...] = True

    aeff = EffectiveAreaTable2D.from_parametrization(energy_axis_true, instrument)
    area = aeff.evaluate(energy_true=energy_axis_true.center, offset=0.5 * u.deg)
    # in m2 s, as Gammapy's makers give it: stacking converts to the unit of Gammapy's empty maps
    dataset.exposure.quantity = (area * u.s).to("m2 s").reshape(dataset.exposure.data.shape)
    dataset.edisp = EDispKernelMap.from_gauss(
        energy_axis=energy_axis,
        energy_axis_true=energy_axis_true,
        sigma=energy_resolution,
        bias=0,
        geom=geom.to_image(),
    )
    # the exposure behind the energy dispersion, so that datasets stack like real ones
    exposure_geom = dataset.edisp.edisp_map.geom.squash(axis_name="energy")
    dataset.edisp.exposure_map = Map.from_geom(
        exposure_geom,
        data=dataset.exposure.data.reshape(exposure_geom.data_shape),
        unit=dataset.exposure.unit,
    )
    return dataset


def _background_shape(energy_axis, index=2.7):
    """Fraction of the background rate in each reconstructed energy bin."""
    edges = energy_axis.edges.to_value(u.TeV)
    integral = edges[:-1] ** (1 - index) - edges[1:] ** (1 - index)
    return integral / integral.sum()


def simulate_onoff_datasets(
    time_intervals,
    spectral_models,
    background_rate="0.02 s-1",
    alpha=0.2,
    energy_axis=None,
    energy_axis_true=None,
    energy_resolution=0.1,
    instrument="HESS",
    random_state=0,
    name_prefix="obs",
):
    """Simulate one on-off spectrum per time interval, from analytic IRFs.

    The effective area is Gammapy's parametrisation of ``instrument``
    (`~gammapy.irf.EffectiveAreaTable2D.from_parametrization`) and the energy
    dispersion a Gaussian. ON counts are Poisson draws of the source's
    predicted counts plus the background, OFF counts of the background over
    ``alpha``. Each dataset's livetime is the length of its interval. No file
    is read.

    Parameters
    ----------
    time_intervals : list of `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`
        One dataset is made per interval.
    spectral_models : `~gammapy.modeling.models.SpectralModel` or list of them
        The source's true spectrum, the same for all intervals or one per interval.
    background_rate : `~astropy.units.Quantity` or str, optional
        Background rate in the ON region over the reconstructed energy range,
        distributed as a power law of index 2.7. Default is "0.02 s-1".
    alpha : float, optional
        Ratio of ON to OFF exposure. Default is 0.2.
    energy_axis : `~gammapy.maps.MapAxis`, optional
        Reconstructed energy axis. Default is None, 0.4-20 TeV in 10 bins.
    energy_axis_true : `~gammapy.maps.MapAxis`, optional
        True energy axis. Default is None, 0.1-40 TeV in 20 bins.
    energy_resolution : float, optional
        Relative energy resolution (sigma of the Gaussian). Default is 0.1.
    instrument : {"HESS", "HESS2", "CTAO"}, optional
        Effective area parametrisation. Default is "HESS".
    random_state : int or `~numpy.random.RandomState`, optional
        Random state. Default is 0.
    name_prefix : str, optional
        Datasets are named ``<name_prefix>-<index>``. Default is "obs".

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        One `~gammapy.datasets.SpectrumDatasetOnOff` per interval, without models.
    """
    gti = as_gti(time_intervals)
    n_bins = len(gti.table)
    models = spectral_models if isinstance(spectral_models, (list, tuple)) else [spectral_models] * n_bins
    if len(models) != n_bins:
        raise ValueError(f"Got {len(models)} spectral models for {n_bins} time intervals.")

    if energy_axis is None:
        energy_axis = MapAxis.from_energy_bounds("0.4 TeV", "20 TeV", nbin=10)
    if energy_axis_true is None:
        energy_axis_true = MapAxis.from_energy_bounds("0.1 TeV", "40 TeV", nbin=20, name="energy_true")
    template = _template(energy_axis, energy_axis_true, instrument, energy_resolution)
    background_per_s = u.Quantity(background_rate).to_value("s-1") * _background_shape(
        energy_axis
    ).reshape(template.counts.data.shape)
    random_state = get_random_state(random_state)

    datasets = Datasets()
    for idx, (t_min, t_max) in enumerate(gti.time_intervals):
        livetime = (t_max - t_min).to(u.s)
        dataset = template.copy(name=f"{name_prefix}-{idx:04d}")
        dataset.exposure.quantity = template.exposure.quantity * livetime.value
        dataset.exposure.meta["livetime"] = livetime
        dataset.edisp.exposure_map.quantity = (
            template.edisp.exposure_map.quantity * livetime.value
        )
        dataset.gti = GTI.create(t_min, t_max, reference_time=gti.time_ref)
        dataset.models = SkyModel(spectral_model=models[idx].copy(), name="truth")

        background = background_per_s * livetime.value
        counts = random_state.poisson(dataset.npred_signal().data + background)
        counts_off = random_state.poisson(background / alpha)

        onoff = SpectrumDatasetOnOff.from_spectrum_dataset(
            dataset=dataset,
            acceptance=1,
            acceptance_off=1 / alpha,
            counts_off=template.counts.copy(data=counts_off),
            name=dataset.name,
        )
        onoff.counts.data = counts
        onoff.models = None
        datasets.append(onoff)
    return datasets
