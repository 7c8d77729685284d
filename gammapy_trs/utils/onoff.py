"""Arrays of on-off datasets computed as Gammapy computes them, without its intermediate maps."""

import numpy as np
from gammapy.datasets import MapDatasetOnOff

__all__ = ["background_values"]


def background_values(dataset):
    """The values of ``dataset.background``, on the arrays for an on-off dataset.

    Gammapy's `~gammapy.datasets.MapDatasetOnOff.background` is ``alpha *
    counts_off``, ``alpha`` the ratio of the ON and OFF acceptances with
    infinities replaced by the largest float and NaN by zero
    (`numpy.nan_to_num`); the property builds two maps on the way. Other
    datasets give their background map's values.

    Parameters
    ----------
    dataset : `~gammapy.datasets.MapDataset`
        Dataset.

    Returns
    -------
    values : `~numpy.ndarray` or None
        Background values, None where the dataset has none.
    """
    if isinstance(dataset, MapDatasetOnOff):
        if dataset.counts_off is None or dataset.acceptance is None or dataset.acceptance_off is None:
            return None
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            alpha = dataset.acceptance.quantity / dataset.acceptance_off.quantity
            return np.nan_to_num(alpha.to_value("")) * np.asarray(dataset.counts_off.data, dtype=float)
    background = dataset.background
    return None if background is None else np.asarray(background.data, dtype=float)
