"""
When did the spectrum of PKS 2155-304 change?
=============================================

During the flare of 2006-07-29/30 the H.E.S.S. collaboration found the
very-high-energy spectrum to evolve with the flux: "the VHE spectrum shows a
curvature that is variable with time and stronger at higher fluxes" (H.E.S.S.
Collaboration 2009, A&A 502, 749). Questions of this kind -- did the spectrum
change, when, and does the shape follow the flux? -- are usually answered
with per-bin values: a chi-square test of a constant, a correlation of the
index with the flux. Those ignore that the errors of faint bins are not
Gaussian. Here every answer comes from the likelihoods of all bins:

* **change points of the shape** (`~gammapy_trs.find_shape_blocks`): the
  blocks of consecutive bins that share the index (or the curvature), with
  the norm free in each bin;
* **laws across bins** (`~gammapy_trs.fit_law`): the index (or the
  curvature) as a function of the bin's own flux, ``index = a + b
  log10(N / N0)``, fitted with every bin's likelihood and tested against one
  shape for the night.

This tutorial needs ``$GAMMAPY_DATA`` (the H.E.S.S. DL3 DR1).
"""

######################################################################
# Data: the night in 15-minute bins
# ---------------------------------
# The reduction of the flare tutorial (Gammapy's makers, one on-off spectrum
# per run and bin), from the package's helpers.

import matplotlib.pyplot as plt
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel, SkyModel
from gammapy_trs import (
    TimeResolvedDatasetsMaker,
    TimeResolvedSpectrumEstimator,
    find_shape_blocks,
    fit_law,
)
from gammapy_trs.samples.pks2155 import (
    reference_dataset,
    reference_intervals,
    reference_makers,
    reference_observations,
)

intervals = reference_intervals()
datasets = TimeResolvedDatasetsMaker(reference_makers(), intervals).run(
    reference_dataset(), reference_observations()
)
datasets.models = SkyModel(
    spectral_model=PowerLawSpectralModel(index=3.5, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV"),
    name="pks2155",
)
estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, source="pks2155", selection_optional=["flux"])
result = estimator.run(datasets)

######################################################################
# What the per-bin values say
# ---------------------------
# The chi-square test of a constant index, the correlations of the index
# with the 1-10 TeV flux, and the likelihood-ratio test of a variable index
# (every bin's likelihood, the index shared by all bins as the null
# hypothesis).

chi2_index = result.variability("index")
correlation = result.correlation("flux", "index")
variable = estimator.test_variability(datasets, ["index"], alternative=result)
print(f"chi2 of a constant index: {chi2_index['chi2']:.1f} for {chi2_index['dof']} dof, p = {chi2_index['p_value']:.3g}")
print(f"Pearson r = {correlation['pearson']:.2f} (p = {correlation['pearson_p_value']:.2g}), "
      f"Spearman rho = {correlation['spearman']:.2f} (p = {correlation['spearman_p_value']:.2g})")
print(f"likelihood ratio, index variable: TS = {variable['ts']:.1f} for {variable['dof']} dof, "
      f"p = {variable['p_value']:.3g}")

######################################################################
# Harder when brighter: the law of the flux
# -----------------------------------------
# ``index = a + b log10(N / N0)``, ``N`` the bin's own amplitude at 1 TeV,
# free in its fit (``N0`` the geometric mean of the bins' amplitudes, so that
# ``a`` is the index at a typical flux). Each bin's index follows its norm
# within its fit, and the slope ``b`` is tested against ``b = 0`` (one index
# for the night) and the law against an index free in each bin.

law = fit_law(result, datasets, "index", covariate="flux")
print(law)

fig, ax = plt.subplots(figsize=(7, 5), layout="constrained")
law.plot(ax=ax)
plt.show()

######################################################################
# The slope is negative: harder when brighter, at the significance the
# likelihood ratio against "shared" gives. Set beside the tests above: the
# chi-square test and the correlations ask whether the per-bin values scatter
# or line up; the law asks how much of the index's variation the flux
# explains, with the faint bins counted through their likelihoods, and how
# much is left (its test against an index free in each bin).
#
# A law of time, for comparison: a steady drift of the index over the night.

drift = fit_law(result, datasets, "index", covariate="time")
print(drift)

######################################################################
# When did the index change?
# --------------------------
# `~gammapy_trs.find_shape_blocks` partitions the bins into blocks that share
# one index (the norm free in each bin), with a penalty per change point set
# by a false-positive rate ``p0`` (calibrated on simulated flares, see the
# statistics docs), and tests each change against merging its two blocks.

blocks = find_shape_blocks(result, datasets, ["index"], p0=0.05)
print(blocks)

######################################################################
# The curvature: blocks and a law of the flux
# -------------------------------------------
# With a log-parabola free in each bin, does the curvature ``beta`` change
# during the night, and does it grow with the flux, as the H.E.S.S. paper
# found?

curved = datasets.copy()
curved.models = SkyModel(
    spectral_model=LogParabolaSpectralModel(alpha=3, beta=0.1, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV"),
    name="pks2155",
)
curved_result = TimeResolvedSpectrumEstimator(time_intervals=intervals, source="pks2155").run(curved)
beta_blocks = find_shape_blocks(curved_result, curved, ["beta"], p0=0.05)
print(beta_blocks)
beta_law = fit_law(curved_result, curved, "beta", covariate="flux")
print(beta_law)

fig, axes = plt.subplots(1, 2, figsize=(12, 4.5), layout="constrained")
blocks.plot("index", ax=axes[0], spectrum=result)
beta_law.plot(ax=axes[1])
plt.show()

######################################################################
# The laws and the blocks write and read back (checked ECSV):

law.write("law_index_flux.ecsv", overwrite=True)
blocks.write("shape_blocks_index.ecsv", overwrite=True)
