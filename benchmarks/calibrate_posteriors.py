"""Calibration of the "posterior" step and of the population inference, no data files.

Two studies, each on simulated 10-minute on-off spectra of a power law (analytic IRFs,
`simulate_onoff_datasets`), with the priors stated below:

* ``coverage``: faint bins (amplitude at 1 TeV drawn log-uniformly in 5e-12..2e-11 cm-2 s-1
  TeV-1, index uniformly in 2.5..3.5), ten per task. Per bin the frequentist coverage of the
  posterior's central 68% and 95% credible intervals of the index and of its 95% credible upper
  limit of the amplitude (priors: index Uniform(1, 5), amplitude Uniform(0, 1e-10)), next to
  the profile likelihood's on the same bins: the intervals at 1 and 1.96 sigma (errn/errp) and
  the upper limit at 1.645 sigma (one-sided 95% by Wilks), every bin's values reported
  (``sqrt_ts_threshold_shape=0``).
* ``population``: flares of N bins whose index is drawn from N(3, tau), tau = 0 and 0.2, the
  amplitude of each bin log-uniformly in 1e-11..3e-11 (``--amplitudes`` for brighter flares,
  e.g. ``1e-10 3e-10 1e-9``). Per flare the population of the index
  (`TimeResolvedSpectrum.population`, flat priors on its mean and on its scatter to
  ``scatter_max``): the pulls of its mean, the coverage of the scatter's central 68% interval
  (tau = 0.2), the rate of ln B(scatter > 0) above 1 and above 3 (false positives at tau = 0,
  power at 0.2), and on the same flares the joint fit of one shared index
  (``shared_parameters=["index"]``) with its pulls against the true mean.

Run: ``python benchmarks/calibrate_posteriors.py --n-coverage-tasks 30 --n-flares 100 --n-jobs 2``;
brighter flares: ``--n-coverage-tasks 0 --amplitudes 1e-10 3e-10 1e-9``.
"""

import argparse
import json
import logging
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel, UniformPrior
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from calibrate_change_points import rate, run, write_results  # noqa: E402 -- the benchmarks folder
from calibrate_laws import pulls  # noqa: E402

T0 = Time("2026-01-01T00:00:00", scale="utc")
UNIT = u.Unit("cm-2 s-1 TeV-1")


def simulated(seed, index, amplitude, amplitude_max=1e-10):
    """On-off spectra of 10-minute bins with the given truths, a power law with flat priors set
    (the amplitude's up to ``amplitude_max``)."""
    n_bins = len(index)
    edges = T0 + np.arange(n_bins + 1) * 10 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    truth = [PowerLawSpectralModel(index=i, amplitude=a * UNIT) for i, a in zip(index, amplitude)]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=np.random.RandomState([seed, 1]))
    model = PowerLawSpectralModel(index=3.0, amplitude=1e-11 * UNIT)
    model.index.prior = UniformPrior(min=1, max=5)
    model.amplitude.prior = UniformPrior(min=0, max=amplitude_max)
    datasets.models = SkyModel(spectral_model=model, name="source")
    return datasets, intervals


def one_coverage(args):
    """Coverage flags of ten faint bins: credible and profile intervals, and upper limits."""
    seed, n_bins = args
    rng = np.random.RandomState([seed, 0])
    index = rng.uniform(2.5, 3.5, n_bins)
    amplitude = 10 ** rng.uniform(np.log10(5e-12), np.log10(2e-11), n_bins)
    datasets, intervals = simulated(seed, index, amplitude)
    options = dict(time_intervals=intervals, n_jobs=1, sqrt_ts_threshold_shape=0, n_sigma_ul=1.645)
    start = time.perf_counter()
    bayes = TimeResolvedSpectrumEstimator(
        selection_optional=["errn-errp", "ul", "ts", "posterior"], credible_level_ul=0.95, random_state=seed, **options
    ).run(datasets)
    seconds = time.perf_counter() - start
    wide = TimeResolvedSpectrumEstimator(selection_optional=["errn-errp"], n_sigma=1.96, **options).run(datasets).to_table()
    table = bayes.to_table()
    samples = np.asarray(bayes.products["posterior"]["index"], dtype=float)
    lo95, hi95 = np.quantile(samples, [0.025, 0.975], axis=1)
    value = np.asarray(table["index"], dtype=float)
    rows = []
    for i in range(n_bins):
        rows.append(dict(
            excess=float(table["excess"][i]),
            sqrt_ts=float(table["sqrt_ts"][i]),
            bayes68=bool(table["index_credible_lo"][i] <= index[i] <= table["index_credible_hi"][i]),
            bayes95=bool(lo95[i] <= index[i] <= hi95[i]),
            bayes_ul=_below(amplitude[i], table["amplitude_credible_ul"][i]),
            profile68=_covers(value[i], table["index_errn"][i], table["index_errp"][i], index[i]),
            profile95=_covers(value[i], wide["index_errn"][i], wide["index_errp"][i], index[i]),
            profile_ul=_below(amplitude[i], table["amplitude_ul"][i]),
            converged=bool(table["sampler_converged"][i]),
            at_prior_edge=bool(table["sampler_at_prior_edge"][i]),
            seconds=seconds / n_bins,
        ))
    return rows


def _covers(value, errn, errp, truth):
    """Whether ``[value - errn, value + errp]`` holds the truth; None where undefined."""
    low, high = float(value) - float(errn), float(value) + float(errp)
    return None if not (np.isfinite(low) and np.isfinite(high)) else bool(low <= truth <= high)


def _below(truth, limit):
    limit = float(getattr(limit, "value", limit))
    return None if not np.isfinite(limit) else bool(truth <= limit)


def coverage_section(rows):
    out = dict(n_bins=len(rows), median_excess=round(float(np.median([r["excess"] for r in rows])), 1))
    out["median_sqrt_ts"] = round(float(np.nanmedian([r["sqrt_ts"] for r in rows])), 2)
    for key in ("bayes68", "bayes95", "bayes_ul", "profile68", "profile95", "profile_ul"):
        flags = np.array([r[key] for r in rows if r[key] is not None], dtype=bool)
        out[key] = rate(flags)
        out[f"n_{key}"] = int(flags.size)
    out["converged"] = rate(np.array([r["converged"] for r in rows]))
    out["at_prior_edge"] = rate(np.array([r["at_prior_edge"] for r in rows]))
    out["seconds_per_bin_median"] = round(float(np.median([r["seconds"] for r in rows])), 2)
    return out


def one_flare(args):
    """The population of the index and the shared index on one flare."""
    seed, n_bins, scatter, (low, high, amplitude_max) = args
    rng = np.random.RandomState([seed, 2])
    index = 3.0 + scatter * rng.standard_normal(n_bins)
    amplitude = 10 ** rng.uniform(np.log10(low), np.log10(high), n_bins)
    datasets, intervals = simulated(seed + 10_000, index, amplitude, amplitude_max)
    start = time.perf_counter()
    result = TimeResolvedSpectrumEstimator(
        time_intervals=intervals, selection_optional=["posterior"], random_state=seed, n_jobs=1
    ).run(datasets)
    population = result.population("index").summary
    seconds = time.perf_counter() - start
    shared = TimeResolvedSpectrumEstimator(time_intervals=intervals, shared_parameters=["index"], n_jobs=1).run(datasets)
    row = shared.shared_parameters[0]
    return dict(
        mean=population["mean"], mean_err=population["mean_err"], scatter_lo=population["scatter_lo"],
        scatter_hi=population["scatter_hi"], scatter_ul=population["scatter_ul"],
        log_bf=population["log_bayes_factor_scatter"], shared=float(row["value"]), shared_err=float(row["error"]),
        seconds=seconds,
    )


def population_section(rows, scatter):
    out = dict(pulls_mean=pulls([r["mean"] for r in rows], [r["mean_err"] for r in rows], 3.0))
    out["pulls_shared_index"] = pulls([r["shared"] for r in rows], [r["shared_err"] for r in rows], 3.0)
    log_bf = np.array([r["log_bf"] for r in rows])
    out["ln_B>1"] = rate(log_bf > 1)
    out["ln_B>3"] = rate(log_bf > 3)
    out["scatter68_covers"] = rate(np.array([r["scatter_lo"] <= scatter <= r["scatter_hi"] for r in rows]))
    out["scatter_ul95_covers"] = rate(np.array([scatter <= r["scatter_ul"] for r in rows]))
    out["seconds_per_flare_median"] = round(float(np.median([r["seconds"] for r in rows])), 1)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-coverage-tasks", type=int, default=30, help="Tasks of ten faint bins. Default is 30.")
    parser.add_argument("--n-flares", type=int, default=100, help="Flares per scatter. Default is 100.")
    parser.add_argument("--n-bins", type=int, default=8, help="Bins per flare. Default is 8.")
    parser.add_argument(
        "--amplitudes", type=float, nargs=3, default=[1e-11, 3e-11, 1e-10], metavar=("LOW", "HIGH", "PRIOR_MAX"),
        help="The flares' amplitudes at 1 TeV, log-uniform from LOW to HIGH (cm-2 s-1 TeV-1), and the upper end "
        "of the amplitude's flat prior. Default is 1e-11 3e-11 1e-10 (faint bins).",
    )
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", help="Write the results as JSON to this file.")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")

    start = time.perf_counter()
    results = {}
    if args.n_coverage_tasks:
        rows = [row for rows in run([(seed, 10) for seed in range(args.n_coverage_tasks)], args.n_jobs, one_coverage) for row in rows]
        results["coverage"] = coverage_section(rows)
        print("coverage", json.dumps(results["coverage"]), flush=True)
    for scatter in (0.0, 0.2) if args.n_flares else ():
        tasks = [(seed, args.n_bins, scatter, tuple(args.amplitudes)) for seed in range(args.n_flares)]
        results[f"population tau={scatter}"] = population_section(run(tasks, args.n_jobs, one_flare), scatter)
        print(scatter, json.dumps(results[f"population tau={scatter}"]), flush=True)
    write_results(results, start, args.output)


if __name__ == "__main__":
    main()
