"""
The PKS 2155-304 flare, bin by bin
==================================

The night of 2006-07-29 PKS 2155-304 flared to several times the Crab flux.
Here we follow its spectrum in 15-minute bins: from the H.E.S.S. data store
to a table of photon index and amplitude per bin, the hysteresis plane, the
tests of variability, and a per-bin test of spectral curvature.

This tutorial needs ``$GAMMAPY_DATA`` (the H.E.S.S. DL3 DR1).
"""

######################################################################
# Data and time bins
# ------------------
# Gammapy's data store: the H.E.S.S. runs pointed within 2 degrees of the
# source. The bins are 24 intervals of 15 minutes, a list of ``Time`` pairs
# (any list of intervals, a Gammapy ``GTI`` or a ``TimeMapAxis`` will do).

import numpy as np
import astropy.units as u
import matplotlib.pyplot as plt
from astropy.coordinates import SkyCoord
from astropy.time import Time
from regions import CircleSkyRegion
from gammapy.data import DataStore
from gammapy.datasets import SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator

target = SkyCoord(329.71693826, -30.2255890, unit="deg", frame="icrs")
data_store = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1")
selection = dict(type="sky_circle", frame="icrs", lon=target.ra, lat=target.dec, radius=2 * u.deg)
obs_ids = data_store.obs_table.select_observations(selection)["OBS_ID"]
observations = data_store.get_observations(obs_ids)

edges = Time("2006-07-29T20:30") + np.arange(25) * 15 * u.min
intervals = [Time([start, stop]) for start, stop in zip(edges[:-1], edges[1:])]
print(f"{len(observations)} observations, {len(intervals)} bins")

######################################################################
# Reduction in time slices, with Gammapy's makers
# -----------------------------------------------
# The geometry and makers are those of a Gammapy 1D analysis: a 0.11 deg ON
# region, reconstructed energies 0.4-20 TeV, reflected OFF regions and a safe
# energy threshold at 10% of the maximum effective area.
# `~gammapy_trs.TimeResolvedDatasetsMaker` runs them on every time slice of
# every observation: each observation is cut at the bin edges, its IRFs and
# OFF regions computed once, the counts once per slice. Its products are
# those of the makers run on ``observations.select_time(interval)`` for each
# interval (``tests/test_reduction.py`` checks it on this night), in a
# fraction of the time.

geom = RegionGeom.create(
    region=CircleSkyRegion(center=target, radius=0.11 * u.deg),
    axes=[MapAxis.from_energy_bounds("0.4 TeV", "20 TeV", nbin=10)],
)
empty = SpectrumDataset.create(
    geom=geom, energy_axis_true=MapAxis.from_energy_bounds("0.1 TeV", "40 TeV", nbin=20, name="energy_true")
)
makers = [
    SpectrumDatasetMaker(containment_correction=True, selection=["counts", "exposure", "edisp"]),
    ReflectedRegionsBackgroundMaker(),
    SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
]
datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
print(f"{len(datasets)} on-off spectra")

######################################################################
# A power law per bin
# -------------------
# Index and amplitude are free. We also ask for the TS, the 1-10 TeV flux,
# upper limits where the source is faint, profile errors, flux points in four
# energy bins, and a log-parabola in each bin to test for curvature.

datasets.models = SkyModel(
    spectral_model=PowerLawSpectralModel(index=3, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV"),
    name="pks2155",
)
estimator = TimeResolvedSpectrumEstimator(
    time_intervals=intervals,
    source="pks2155",
    selection_optional="all",
    sed_energy_edges=[0.6, 1.3, 2.8, 6.2, 20] * u.TeV,
    compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
)
result = estimator.run(datasets)
print(result)
result.to_table()["time_min", "index", "index_err", "amplitude", "sqrt_ts", "compare_sigma"]

######################################################################
# The flux, the index and the TS against time
# -------------------------------------------

fig = plt.figure(figsize=(8, 8), layout="constrained")
result.plot_summary(fig=fig)
plt.show()

######################################################################
# The spectrum of each bin
# ------------------------
# The power law of each bin with its error band, and the flux points of the
# bin (the "sed" step; upper limits as arrows), one panel per bin on shared
# axes. `~gammapy_trs.TimeResolvedSpectrum.to_sed` gives them as Gammapy flux
# points on an energy and a time axis; the map below shows all of them at
# once, E² dN/dE against time and energy, upper limits hatched.

result.plot_spectra()
plt.show()

fig, ax = plt.subplots(figsize=(9, 4.5), layout="constrained")
result.plot_sed_map(ax=ax)
plt.show()
sed = result.to_sed()
print(sed)

######################################################################
# Harder when brighter?
# ---------------------
# The index against the flux, coloured by time: the points move from upper
# left (faint, soft) to lower right (bright, hard) during the flare.

fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
result.plot_correlation("flux", "index", ax=ax)
plt.show()

correlation = result.correlation("flux", "index")
print(
    f"Pearson r = {correlation['pearson']:.2f} (p = {correlation['pearson_p_value']:.1e}), "
    f"Spearman rho = {correlation['spearman']:.2f}, loop: {correlation['loop_direction']}"
)

######################################################################
# Does the index vary?
# --------------------
# A chi-square test against the error-weighted mean index, and the fractional
# variability of the flux.

index = result.variability("index")
flux = result.variability("flux")
print(f"index: chi2 = {index['chi2']:.1f} for {index['dof']} dof, p = {index['p_value']:.3f}")
print(f"flux: Fvar = {flux['fvar']:.3f} +- {flux['fvar_err']:.3f}")

######################################################################
# When did the spectrum change?
# -----------------------------
# The chi-square test asks whether the index is constant; the change points
# of the shape ask when it changed. `~gammapy_trs.find_shape_blocks`
# partitions the bins into blocks that share one index (the norm free in each
# bin) with the joint likelihood of every bin, a penalty per change set by a
# false-positive rate ``p0`` (see the statistics docs), and tests each change
# against merging its two blocks.

from gammapy_trs import find_shape_blocks  # noqa: E402

blocks = find_shape_blocks(result, datasets, ["index"], p0=0.05)
print(blocks)

fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
blocks.plot("index", ax=ax, spectrum=result)
plt.show()

######################################################################
# Curvature bin by bin
# --------------------
# The log-parabola improves on the power law significantly only around the
# peak of the flare.

fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
result.plot("compare_sigma", ax=ax)
ax.axhline(3, color="grey", ls="--")
plt.show()

######################################################################
# The result writes and reads back, with the fitted model of every bin:

result.write("pks2155_time_resolved.fits", overwrite=True)

######################################################################
# and as a Gammapy light curve that `~gammapy.estimators.FluxPoints.read` reads:

from gammapy.estimators import FluxPoints  # noqa: E402

result.write("pks2155_lightcurve.fits", format="lightcurve", overwrite=True)
lightcurve = FluxPoints.read("pks2155_lightcurve.fits", format="lightcurve")
fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
lightcurve.plot(ax=ax, sed_type="flux")
plt.show()
