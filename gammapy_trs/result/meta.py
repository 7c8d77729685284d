"""The meta data keys of a `~gammapy_trs.TimeResolvedSpectrum`, written by the estimator."""

__all__ = ["META_KEYS", "region_from_text", "region_text", "source_region_text", "ul_shape_key"]

META_KEYS = {
    "source": "Name of the fitted source model",
    "estimator": "Tag of the estimator that made the result",
    "n_dropped": "Number of time bins dropped because no dataset lies in them",
    "n_sigma": "Number of sigma of the asymmetric errors",
    "n_sigma_ul": "Number of sigma of the upper limits",
    "sqrt_ts_threshold_ul": "Upper limits are computed where sqrt_ts is below this",
    "energy_min": "Lower energy of the fluxes",
    "energy_max": "Upper energy of the fluxes",
    "compare_to": "Spectral model of the compare_to alternative",
    "region": "Sky region of the source (the ON region of 1D datasets, else the source position), DS9",
}
"""Meta data keys and their meaning; ``ul_shape_<par>`` keys come in addition."""


def ul_shape_key(name):
    """Meta key of the value at which shape parameter ``name`` is fixed for the upper limits.

    Dots of unique parameter names (``spectral.model1.index``) become
    underscores, so that the key is a valid FITS keyword.
    """
    return "ul_shape_" + name.replace(".", "_")


def region_text(region):
    """A sky region as one line of DS9 text (``;`` between the lines), fit for a FITS header.

    Parameters
    ----------
    region : `~regions.SkyRegion`
        Region.

    Returns
    -------
    text : str
        E.g. "icrs;circle(329.71693826,-30.22558900,0.11000000)".
    """
    from regions import Regions

    lines = Regions([region]).serialize(format="ds9").splitlines()
    return ";".join(line for line in lines if line and not line.startswith("#"))


def region_from_text(text):
    """The sky region of `region_text`, or None for an empty text.

    Parameters
    ----------
    text : str
        Text.

    Returns
    -------
    region : `~regions.SkyRegion` or None
        Region.
    """
    from regions import Regions

    return Regions.parse(text.replace(";", "\n"), format="ds9")[0] if text else None


def source_region_text(dataset, source_model):
    """The ``region`` meta of a result: the ON region of a 1D dataset, else the position of the
    source model as a point, else "" (a model without a position on 3D data).

    Parameters
    ----------
    dataset : `~gammapy.datasets.Dataset`
        A dataset of the run.
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model.

    Returns
    -------
    text : str
        `region_text` of the region.
    """
    from regions import PointSkyRegion

    region = getattr(getattr(dataset, "counts", None), "geom", None)
    region = getattr(region, "region", None)
    if region is None and getattr(source_model, "spatial_model", None) is not None:
        region = PointSkyRegion(source_model.spatial_model.position)
    return region_text(region) if region is not None else ""
