"""The PKS 2155-304 set-up: the PKS 2155-304 flare night of 2006-07-29 in the H.E.S.S. DL3 DR1.

Runs within 2 deg of PKS 2155-304, 24 bins of 15 minutes from 2006-07-29T20:30,
a 0.11 deg ON region with reflected OFF regions, 0.4-20 TeV in 10 bins and a
power law: the set-up of Gammapy's time-resolved spectroscopy tutorial, used
by the tests, the benchmarks and the tutorials. It needs ``$GAMMAPY_DATA``.
"""

import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.data import DataStore
from gammapy.maps import MapAxis
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from .spectrum_setup import (
    PKS2155_POSITION,
    empty_spectrum_dataset,
    on_region,
    reflected_region_makers,
)

__all__ = [
    "POSITION",
    "reference_intervals",
    "reference_observations",
    "reference_dataset",
    "reference_makers",
    "reference_model",
    "reduce_slice_by_slice",
]

POSITION = PKS2155_POSITION
"""Position of PKS 2155-304."""


def reference_intervals(n_bins=24, width=15 * u.min, start="2006-07-29T20:30"):
    """The 15-minute bins of the flare night, a list of ``Time([start, stop])``."""
    edges = Time(start) + np.arange(n_bins + 1) * width
    return [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]


def reference_observations(path="$GAMMAPY_DATA/hess-dl3-dr1/", radius=2 * u.deg):
    """The H.E.S.S. runs pointed within ``radius`` of PKS 2155-304 (21 runs)."""
    data_store = DataStore.from_dir(path)
    selection = dict(
        type="sky_circle", frame="icrs", lon=POSITION.ra, lat=POSITION.dec, radius=radius
    )
    obs_ids = data_store.obs_table.select_observations(selection)["OBS_ID"]
    return data_store.get_observations(obs_ids)


def reference_dataset():
    """Empty spectrum dataset: 0.11 deg ON region, 0.4-20 TeV in 10 bins."""
    return empty_spectrum_dataset(
        on_region(POSITION, "0.11 deg"),
        MapAxis.from_energy_bounds("0.4 TeV", "20 TeV", nbin=10),
        MapAxis.from_energy_bounds("0.1 TeV", "40 TeV", nbin=20, name="energy_true"),
    )


def reference_makers():
    """Dataset maker (containment-corrected), reflected regions, 10% aeff-max safe mask."""
    return reflected_region_makers(containment_correction=True, aeff_percent=10)


def reference_model():
    """Power law (index 3, amplitude 2e-11 cm-2 s-1 TeV-1 at 1 TeV) named "pks2155"."""
    spectral = PowerLawSpectralModel(
        index=3.0, amplitude=2e-11 * u.Unit("cm-2 s-1 TeV-1"), reference=1 * u.TeV
    )
    return SkyModel(spectral_model=spectral, name="pks2155")


def reduce_slice_by_slice(makers, dataset, observations, intervals):
    """Today's workflow: the makers on each of ``observations.select_time(intervals)``.

    Parameters
    ----------
    makers : list of `~gammapy.makers.Maker`
        Makers, in order.
    dataset : `~gammapy.datasets.Dataset`
        Empty reference dataset.
    observations : `~gammapy.data.Observations`
        Observations.
    intervals : list of `~astropy.time.Time`
        Time intervals.

    Returns
    -------
    datasets : list of `~gammapy.datasets.Dataset`
        One dataset per slice, in the order of ``select_time``.
    """
    datasets = []
    for obs in observations.select_time(intervals):
        reduced = dataset.copy()
        for maker in makers:
            reduced = maker.run(reduced, obs)
        datasets.append(reduced)
    return datasets
