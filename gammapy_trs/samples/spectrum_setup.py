"""The on-off spectrum set-up shared by the samples and the analysis: position, dataset, makers."""

import astropy.units as u
from astropy.coordinates import SkyCoord
from regions import CircleSkyRegion
from gammapy.datasets import SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
from gammapy.maps import RegionGeom

__all__ = ["PKS2155_POSITION", "on_region", "empty_spectrum_dataset", "reflected_region_makers"]

PKS2155_POSITION = SkyCoord(329.71693826 * u.deg, -30.2255890 * u.deg, frame="icrs")
"""Position of PKS 2155-304 (ICRS), also that of the simulated sources."""


def on_region(center=PKS2155_POSITION, radius="0.11 deg"):
    """Circular ON region.

    Parameters
    ----------
    center : `~astropy.coordinates.SkyCoord`, optional
        Centre. Default is `PKS2155_POSITION`.
    radius : `~astropy.coordinates.Angle` or str, optional
        Radius. Default is "0.11 deg".

    Returns
    -------
    region : `~regions.CircleSkyRegion`
        Region.
    """
    return CircleSkyRegion(center=center, radius=u.Quantity(radius))


def empty_spectrum_dataset(region, energy_axis, energy_axis_true, name=None):
    """Empty spectrum dataset of an ON region.

    Parameters
    ----------
    region : `~regions.SkyRegion`
        ON region.
    energy_axis, energy_axis_true : `~gammapy.maps.MapAxis`
        Reconstructed and true energy axes.
    name : str, optional
        Dataset name. Default is None, a random name as in Gammapy.

    Returns
    -------
    dataset : `~gammapy.datasets.SpectrumDataset`
        Dataset.
    """
    geom = RegionGeom.create(region=region, axes=[energy_axis])
    return SpectrumDataset.create(geom=geom, energy_axis_true=energy_axis_true, name=name)


def reflected_region_makers(containment_correction=True, aeff_percent=10):
    """Spectrum dataset maker, reflected OFF regions, aeff-max safe mask.

    Parameters
    ----------
    containment_correction : bool, optional
        Correct the exposure for the PSF containment (needs a PSF). Default is True.
    aeff_percent : float, optional
        Safe energy threshold, in percent of the maximum effective area. Default is 10.

    Returns
    -------
    makers : list of `~gammapy.makers.Maker`
        Makers, in order.
    """
    return [
        SpectrumDatasetMaker(
            containment_correction=containment_correction,
            selection=["counts", "exposure", "edisp"],
        ),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=aeff_percent),
    ]
