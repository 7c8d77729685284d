"""
Bayesian time-resolved spectroscopy of PKS 2155-304
===================================================

The other tutorials answer in the profile-likelihood form: a best fit, errors
where the likelihood rises by one, limits by Wilks' theorem. Here each bin's
spectrum gets a **posterior**, sampled by nested sampling (UltraNest, as
Gammapy's `~gammapy.modeling.Sampler`) with the priors set on the model's
parameters, and the **evidence**, which compares models by their Bayes
factor. Then the question a flare paper asks of N noisy bins -- how much
does the index scatter from bin to bin, and what is each bin's index once we
know that? -- is answered by **population inference** on the stored samples.

It needs ``pip install "gammapy-trs[bayes]"`` (UltraNest) and ``$GAMMAPY_DATA``
(the H.E.S.S. DL3 DR1).
"""

######################################################################
# Data and priors
# ---------------
# The night in 15-minute bins, reduced with Gammapy's makers as in the flare
# tutorial. The priors are Gammapy's: flat in the index and in the amplitude,
# wide enough for every bin. They are the posterior's only: the fits, errors
# and tests of the same run are those of the likelihood.

import numpy as np
import matplotlib.pyplot as plt
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel, SkyModel, UniformPrior
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
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
power_law = PowerLawSpectralModel(index=3.5, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV")
power_law.index.prior = UniformPrior(min=1, max=6)
power_law.amplitude.prior = UniformPrior(min=0, max=1e-9)
datasets.models = SkyModel(spectral_model=power_law, name="pks2155")

######################################################################
# Per-bin posteriors
# ------------------
# The "posterior" step samples each bin's likelihood (the compiled on-off
# statistic: the same numbers as Gammapy's, faster) with nested sampling,
# seeded from ``random_state`` and the bin's index, so that the run is
# reproducible. The default settings are those of Gammapy's ``Sampler`` (400
# live points); 200 live points and an effective sample size of 200 are enough
# for these bright bins' posteriors of two parameters, at half the time. Next
# to it the profile-likelihood errors ("errn-errp").

sampler_opts = dict(live_points=200, min_ess=200)
estimator = TimeResolvedSpectrumEstimator(
    time_intervals=intervals,
    source="pks2155",
    selection_optional=["errn-errp", "posterior"],
    sampler_opts=sampler_opts,
    random_state=1,
)
result = estimator.run(datasets)
table = result.to_table()
table["index", "index_errn", "index_errp", "index_median", "index_credible_lo", "index_credible_hi", "log_evidence"][:6]

######################################################################
# On these bright bins the posterior and the profile likelihood agree: the
# median against the best fit, in units of the profile error, and the widths
# of the 68% credible intervals against errn and errp.

shift = (table["index_median"] - table["index"]) / (0.5 * (table["index_errn"] + table["index_errp"]))
widths = (table["index_median"] - table["index_credible_lo"]) / table["index_errn"]
print(f"largest median shift: {np.max(np.abs(shift)):.3f} sigma; lower widths {widths.min():.2f}-{widths.max():.2f}")

######################################################################
# The posteriors against time, as violins beside the profile likelihood,
# and the corner plot of the brightest bin:

fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
result.plot_posteriors("index", ax=ax)
plt.show()

brightest = int(np.argmax(table["amplitude"]))
result.plot_corner(brightest)
plt.show()

######################################################################
# The samples of any bin are kept in the result (and in every file it is
# written to):

samples = result.posterior(brightest)
print(samples[:3])
print(f"{len(samples)} samples; P(index > 3.3) = {np.mean(samples['index'] > 3.3):.3f}")

######################################################################
# The population of the index
# ---------------------------
# Is the index the same in every bin, and if not, how much does it scatter?
# The population model ``index_i ~ N(mean, scatter)`` is fitted to the
# stored samples by importance reweighting (no bin is sampled again), with
# flat priors on the mean and on the scatter. Its Bayes factor weighs a
# scatter against none; each bin's index is shrunk towards the population.

population = result.population("index")
print(population)
population.plot()
plt.show()

######################################################################
# The profile-likelihood answers on the same night, for comparison: the
# index shared by all bins, and the likelihood-ratio test of a variable index
# against it.

variability = estimator.copy()
variability.selection_optional = None
variable = variability.test_variability(datasets, ["index"])
shared = variable["null"].shared_parameters
print(f"shared index {shared['value'][0]:.3f} +- {shared['error'][0]:.3f}; "
      f"variability TS {variable['ts']:.1f} for {variable['dof']} dof, {variable['significance']:.2f} sigma")

######################################################################
# A log-parabola, and the Bayes factor
# ------------------------------------
# The curvature of the spectrum, with a flat prior on ``beta`` in [-1, 1] and
# the power law's priors on the other parameters, in the four bins of the
# flare's rise (20:45 to 21:45). Its evidence against the power law's is the Bayes
# factor; ``compare_to`` gives the same per bin in one run, next to the
# likelihood-ratio significance.

log_parabola = LogParabolaSpectralModel(alpha=3.5, beta=0.1, amplitude="2e-11 cm-2 s-1 TeV-1", reference="1 TeV")
log_parabola.alpha.prior = UniformPrior(min=1, max=6)
log_parabola.beta.prior = UniformPrior(min=-1, max=1)
log_parabola.amplitude.prior = UniformPrior(min=0, max=1e-9)
datasets.models = SkyModel(spectral_model=log_parabola, name="pks2155")
curved = TimeResolvedSpectrumEstimator(
    time_intervals=intervals[1:5],
    source="pks2155",
    selection_optional=["posterior"],
    sampler_opts=sampler_opts,
    random_state=1,
).run(datasets)
curved_table = curved.to_table()
log_bayes_factor = curved_table["log_evidence"] - table["log_evidence"][1:5]
ts = table["stat"][1:5] - curved_table["stat"]
for idx in range(4):
    print(
        f"bin {idx + 1}: beta = {curved_table['beta_median'][idx]:.2f} "
        f"[{curved_table['beta_credible_lo'][idx]:.2f}, {curved_table['beta_credible_hi'][idx]:.2f}], "
        f"ln B = {log_bayes_factor[idx]:+.2f}, TS = {ts[idx]:.1f}"
    )

######################################################################
# Where the curvature is significant (a TS of 9 and more), the Bayes factor
# favours it too; elsewhere Occam's factor (the posterior width of ``beta``
# over its prior width) favours the power law, as a likelihood-ratio test
# cannot.

fig, ax = plt.subplots(figsize=(9, 4), layout="constrained")
curved.plot_posteriors("beta", ax=ax)
ax.axhline(0, color="0.5", lw=0.8)
plt.show()
