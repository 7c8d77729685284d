"""The flux points of a bin as arrays, from Gammapy's `~gammapy.estimators.FluxPoints`."""

import numpy as np
from ..utils.units import DNDE_UNIT

__all__ = ["SED_QUANTITIES", "flux_points_arrays"]

SED_QUANTITIES = ("dnde", "dnde_err", "dnde_ul", "ts", "sqrt_ts", "is_ul", "success")
"""What is kept of each energy bin (``counts`` and ``npred`` summed over the datasets)."""


def flux_points_arrays(points):
    """The flux points of one bin as plain arrays (cheap to send and to keep in a checkpoint).

    Parameters
    ----------
    points : `~gammapy.estimators.FluxPoints`
        Flux points with one energy axis.

    Returns
    -------
    sed : dict of str to `~numpy.ndarray`
        ``energy_edges`` (TeV), the `SED_QUANTITIES` (``dnde`` in cm-2 s-1 TeV-1),
        ``counts`` and ``npred`` summed over the datasets.
    """
    sed = dict(energy_edges=points.geom.axes["energy"].edges.to_value("TeV"))
    for name in SED_QUANTITIES:
        value = getattr(points, name)
        data = value.quantity.to_value(DNDE_UNIT) if name.startswith("dnde") else value.data
        sed[name] = np.asarray(data).ravel()
    for name in ("counts", "npred"):
        data = getattr(points, name).data
        sed[name] = np.asarray(data, dtype=float).reshape(len(sed["dnde"]), -1).sum(axis=1)
    return sed
