"""The meta data keys of a `~gammapy_trs.TimeResolvedSpectrum`, written by the estimator."""

__all__ = ["META_KEYS", "ul_shape_key"]

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
}
"""Meta data keys and their meaning; ``ul_shape_<par>`` keys come in addition."""


def ul_shape_key(name):
    """Meta key of the value at which shape parameter ``name`` is fixed for the upper limits.

    Dots of unique parameter names (``spectral.model1.index``) become
    underscores, so that the key is a valid FITS keyword.
    """
    return "ul_shape_" + name.replace(".", "_")
