"""
A simulated flare: injection and recovery
=========================================

How well does a per-bin fit recover a spectral evolution? We simulate
on-off spectra of many flares whose index hardens as the flux rises, fit
them, and look at the pulls: ``(fit - truth) / error`` should have zero mean
and unit width, and the profile intervals should cover 68% of the truths.
No data file is needed: the IRFs are analytic.
"""

import numpy as np
import astropy.units as u
import matplotlib.pyplot as plt
from astropy.time import Time
from gammapy.datasets import Datasets
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.samples.simulate import simulate_onoff_datasets

######################################################################
# The injected flare
# ------------------
# Twelve 20-minute bins per flare; 10 flares on 10 nights.

n_flares, n_bins = 10, 12
amplitude = (4e-11 + 1.6e-10 * np.exp(-0.5 * np.linspace(-2, 2, n_bins) ** 2)) * u.Unit("cm-2 s-1 TeV-1")
index = 3.4 - 0.8 * (amplitude - amplitude.min()) / np.ptp(amplitude)

datasets, intervals = Datasets(), []
for night in range(n_flares):
    edges = Time("2026-01-01T20:00") + night * u.d + np.arange(n_bins + 1) * 20 * u.min
    flare = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    truth = [PowerLawSpectralModel(index=i, amplitude=a) for i, a in zip(index, amplitude)]
    datasets.extend(simulate_onoff_datasets(flare, truth, random_state=night, name_prefix=f"night{night}"))
    intervals += flare

######################################################################
# Recovery
# --------

datasets.models = SkyModel(
    spectral_model=PowerLawSpectralModel(index=3, amplitude="1e-10 cm-2 s-1 TeV-1"), name="flare"
)
estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, selection_optional=["errn-errp"])
result = estimator.run(datasets)

fig, ax = plt.subplots(figsize=(8, 4), layout="constrained")
first = result.slice_by_time(intervals[0][0], intervals[n_bins - 1][1])
first.plot("index", ax=ax)
ax.plot(first.time_axis.as_plot_center, index, "k--", label="injected")
ax.legend()
plt.show()

######################################################################
# Pulls and coverage
# ------------------

truth = {"index": np.tile(index, n_flares), "amplitude": np.tile(amplitude.value, n_flares)}
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5), layout="constrained")
for ax, name in zip(axes, ["index", "amplitude"]):
    value = result[name].data.ravel()
    pull = (value - truth[name]) / result[f"{name}_err"].data.ravel()
    inside = (truth[name] >= value - result[f"{name}_errn"].data.ravel()) & (
        truth[name] <= value + result[f"{name}_errp"].data.ravel()
    )
    ax.hist(pull, bins=np.linspace(-4, 4, 17), histtype="step")
    ax.set_xlabel(f"pull of {name}")
    print(f"{name}: pull mean {pull.mean():.2f}, width {pull.std(ddof=1):.2f}, coverage {inside.mean():.2f}")
plt.show()

######################################################################
# With 120 bins the mean and width of the pulls are known to about 0.1;
# ``tests/test_injection.py`` repeats this with 400 bins and checks them.
