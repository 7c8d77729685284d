"""The embedded demo data set: a simulated flare written as a GADF DL3 data store.

A few observations of a point source whose flux rises and falls and whose
spectrum hardens when it brightens. Events are sampled with Gammapy's
`~gammapy.datasets.ObservationEventSampler` from analytic IRFs (no file is
downloaded), chunk by chunk so that the spectrum changes within a run, and
written with the IRFs, an HDU index and an observation index, so that
`~gammapy.data.DataStore.from_dir` reads them. The truth (index and amplitude
per chunk) is written beside them as ``truth.ecsv``.
"""

import logging
from pathlib import Path
import numpy as np
import astropy.units as u
from astropy.table import Table, vstack
from astropy.time import Time
from gammapy.data import (
    GTI,
    DataStore,
    EventList,
    FixedPointingInfo,
    Observation,
    observatory_locations,
)
from gammapy.datasets import ObservationEventSampler
from gammapy.irf import Background2D, EffectiveAreaTable2D, EnergyDispersion2D
from gammapy.maps import MapAxis
from gammapy.modeling.models import PointSpatialModel, PowerLawSpectralModel, SkyModel
from gammapy.utils.pbar import progress_bar
from gammapy.utils.random import get_random_state
from ..utils.gammapy_internals import set_observation_events
from .spectrum_setup import PKS2155_POSITION

__all__ = ["DEMO_SOURCE", "flare_truth", "simulate_demo_data_store"]

log = logging.getLogger(__name__)

DEMO_SOURCE = PKS2155_POSITION
"""Position of the simulated source (that of PKS 2155-304)."""

AMPLITUDE_UNIT = u.Unit("cm-2 s-1 TeV-1")
START = Time("2026-07-29T20:00:00", scale="utc")


def flare_truth(time, peak=START + 1.5 * u.h, width=40 * u.min):
    """Index and amplitude (at 1 TeV) of the simulated source at the given times.

    A Gaussian flare over a steady flux; the index hardens from 3.4 to 2.6 at the peak.

    Parameters
    ----------
    time : `~astropy.time.Time`
        Times.
    peak : `~astropy.time.Time`, optional
        Time of the peak. Default is 1.5 h after the start of the first run.
    width : `~astropy.units.Quantity`, optional
        Gaussian width of the flare. Default is 40 min.

    Returns
    -------
    index, amplitude : `~numpy.ndarray`, `~astropy.units.Quantity`
        Photon index and amplitude.
    """
    phase = ((time - peak) / width).to_value("")
    bump = np.exp(-0.5 * phase**2)
    amplitude = (3e-11 + 2e-10 * bump) * AMPLITUDE_UNIT
    index = 3.4 - 0.8 * bump
    return index, amplitude


def _irfs():
    energy_true = MapAxis.from_energy_bounds("0.05 TeV", "100 TeV", nbin=40, name="energy_true")
    offset = MapAxis.from_bounds(0, 3, nbin=6, unit="deg", name="offset")
    aeff_1d = EffectiveAreaTable2D.from_parametrization(energy_true, instrument="HESS")
    aeff = EffectiveAreaTable2D(
        axes=[energy_true, offset],
        data=np.repeat(aeff_1d.data[:, :1], offset.nbin, axis=1),
        unit=aeff_1d.unit,
    )
    migra = MapAxis.from_bounds(0.2, 5, nbin=60, node_type="edges", name="migra")
    edisp = EnergyDispersion2D.from_gauss(
        energy_axis_true=energy_true, migra_axis=migra, offset_axis=offset, bias=0, sigma=0.12
    )
    energy = MapAxis.from_energy_bounds("0.05 TeV", "100 TeV", nbin=40, name="energy")
    rate = 2e-4 * energy.center.to_value("TeV") ** -2.7
    bkg = Background2D(
        axes=[energy, offset],
        data=np.repeat(rate[:, None], offset.nbin, axis=1),
        unit="s-1 MeV-1 sr-1",
    )
    for irf in (aeff, edisp, bkg):
        irf.meta.update(TELESCOP="HESS-like (simulated)", INSTRUME="gammapy-trs demo")
    return dict(aeff=aeff, edisp=edisp, bkg=bkg)


def _chunk_observation(pointing, irfs, tstart, duration, obs_id):
    return Observation.create(
        pointing=pointing,
        livetime=duration,
        tstart=tstart,
        irfs=irfs,
        location=observatory_locations["hess"],
        reference_time=START,
        obs_id=obs_id,
    )


def simulate_demo_data_store(
    path,
    n_observations=4,
    duration=40 * u.min,
    chunk=5 * u.min,
    random_state=0,
    overwrite=False,
):
    """Simulate the demo flare and write it as a DL3 data store.

    Parameters
    ----------
    path : str or `~pathlib.Path`
        Folder to write (created).
    n_observations : int, optional
        Number of observations, back to back from 2026-07-29T20:00 UTC, pointed
        0.5 deg from the source in four wobble directions. Default is 4.
    duration : `~astropy.units.Quantity`, optional
        Duration of each observation. Default is 40 min.
    chunk : `~astropy.units.Quantity`, optional
        The spectrum is constant within a chunk of this length. Default is 5 min.
    random_state : int, optional
        Random state. Default is 0.
    overwrite : bool, optional
        Overwrite existing files. Default is False.

    Returns
    -------
    data_store : `~gammapy.data.DataStore`
        The data store, read back from ``path``. Its observations have an
        effective area, an energy dispersion and a background, no PSF: read
        them with ``get_observations(required_irf=["aeff", "edisp", "bkg"])``.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    random_state = get_random_state(random_state)
    irfs = _irfs()
    spatial = PointSpatialModel.from_position(DEMO_SOURCE)
    sampler_kwargs = dict(
        spatial_width=2.5 * u.deg,
        spatial_bin_size=0.02 * u.deg,
        energy_axis=MapAxis.from_energy_bounds("0.1 TeV", "50 TeV", nbin=20),
        energy_axis_true=MapAxis.from_energy_bounds("0.05 TeV", "100 TeV", nbin=30, name="energy_true"),
    )

    truth, files = [], []
    n_chunks = int(round((duration / chunk).to_value("")))
    for idx in progress_bar(range(n_observations), desc="Simulating observations"):
        obs_id = 1000 + idx
        angle = 90 * u.deg * idx
        pointing = FixedPointingInfo(fixed_icrs=DEMO_SOURCE.directional_offset_by(angle, 0.5 * u.deg))
        start = START + idx * (duration + 1 * u.min)
        events = []
        for k in range(n_chunks):
            t0 = start + k * chunk
            index, amplitude = flare_truth(t0 + 0.5 * chunk)
            model = SkyModel(
                spectral_model=PowerLawSpectralModel(index=index, amplitude=amplitude),
                spatial_model=spatial.copy(),
                name="flare",
            )
            observation = _chunk_observation(pointing, irfs, t0, chunk, obs_id)
            sampler = ObservationEventSampler(random_state=random_state, dataset_kwargs=sampler_kwargs)
            events.append(sampler.run(observation, models=[model]).events)
            truth.append((t0, t0 + chunk, index, amplitude.value))

        full = _chunk_observation(pointing, irfs, start, duration, obs_id)
        # the header is set below: the chunks' differing headers are not merged
        merged = EventList(vstack([e.table for e in events], metadata_conflicts="silent"))
        meta = dict(events[0].table.meta)
        meta.update(
            TSTART=(start - START).to_value("s"),
            TSTOP=(start + duration - START).to_value("s"),
            ONTIME=duration.to_value("s"),
            LIVETIME=duration.to_value("s"),
            DEADC=1.0,
        )
        merged.table.meta.update(meta)
        gti = GTI.create(start, start + duration, reference_time=START)
        set_observation_events(full, merged, gti)
        filename = path / f"obs_{obs_id}.fits.gz"
        full.write(filename, overwrite=overwrite, include_irfs=True)
        files.append(filename)

    data_store = DataStore.from_events_files(files, irfs_paths=files)
    # the index guesses a PSF and a 3D background: there is no PSF, the background is 2D
    hdu_table = data_store.hdu_table
    hdu_table = hdu_table[hdu_table["HDU_TYPE"] != "psf"]
    hdu_table["HDU_CLASS"][hdu_table["HDU_TYPE"] == "bkg"] = "bkg_2d"
    hdu_table.write(path / "hdu-index.fits.gz", overwrite=overwrite)
    data_store.obs_table.write(path / "obs-index.fits.gz", overwrite=overwrite)

    table = Table(rows=truth, names=["time_min", "time_max", "index", "amplitude"])
    table["amplitude"].unit = AMPLITUDE_UNIT
    table.write(path / "truth.ecsv", overwrite=overwrite)
    return DataStore.from_dir(path)
