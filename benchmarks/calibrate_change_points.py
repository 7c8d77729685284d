"""Calibration of the change points of the spectral shape (`find_shape_blocks`), no data files.

Simulated flares of N bins (10-minute on-off spectra of a power law; the amplitude follows a
Gaussian flare whose peak is drawn log-uniformly within a brightness class, so that faint bins
are included):

* with a constant index (the null hypothesis): the fraction of flares that `find_shape_blocks`
  cuts at the penalty of `penalty_from_p0` for p0 = 1%, 5% and 10% (its steps, the bins'
  profiles made once); the same for the partition on the interpolated profiles alone (before
  the changes are checked on the exact likelihood), from each flare's critical penalty (the
  smallest at which it stays one block, `critical_penalty`), and the penalty that the flares
  themselves would set; and the likelihood-ratio variability test's and the chi-square test's
  rates at p < 0.05 on the same flares;
* with an index step of ``delta`` (harder after the middle bin) in each brightness class: the
  power of the change points at p0 = 5% (at least one change found), the error of the change's
  bin (the found change nearest to the true one), and the power of the likelihood-ratio
  variability test and of the chi-square test (p < 0.05) on the same flares.

Run: ``python benchmarks/calibrate_change_points.py --n-null 240 --n-step 30 --n-jobs 2``.
"""

import argparse
import json
import logging
import multiprocessing
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.estimation.change_points import (
    blocks_from_costs,
    critical_penalty,
    penalty_from_p0,
    shape_costs,
)
from gammapy_trs.samples.simulate import simulate_onoff_datasets

T0 = Time("2026-01-01T00:00:00", scale="utc")
UNIT = u.Unit("cm-2 s-1 TeV-1")

CLASSES = {"faint": (5e-12, 2e-11), "medium": (2e-11, 6e-11), "bright": (6e-11, 2e-10)}
"""Brightness classes: ranges of the flares' peak amplitudes at 1 TeV (log-uniform within)."""

P0 = (0.01, 0.05, 0.1)
"""False-positive rates whose penalties are checked."""


def flare(seed, n_bins, delta, peak_range):
    """Datasets of one flare (index 3, ``3 - delta`` from the middle bin on) with a power law set."""
    rng = np.random.RandomState([seed, 0])
    peak = 10 ** rng.uniform(*np.log10(peak_range))
    phase = np.linspace(-2, 2, n_bins) + rng.uniform(-0.5, 0.5)
    amplitude = peak * (0.2 + 0.8 * np.exp(-0.5 * phase**2))
    index = np.where(np.arange(n_bins) < n_bins // 2, 3.0, 3.0 - delta)
    edges = T0 + np.arange(n_bins + 1) * 10 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    truth = [PowerLawSpectralModel(index=i, amplitude=a * UNIT) for i, a in zip(index, amplitude)]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=np.random.RandomState([seed, 1]))
    model = PowerLawSpectralModel(index=3.0, amplitude=1e-11 * UNIT)
    model.index.min, model.index.max = 0.5, 8  # faint bins stop at a bound instead of failing
    datasets.models = SkyModel(spectral_model=model, name="source")
    return datasets, intervals


def one(args):
    """The critical penalty, the change points at each p0 and the two variability tests of one flare."""
    seed, n_bins, delta, peak_range = args
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, intervals = flare(seed, n_bins, delta, peak_range)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
    result = estimator.run(datasets)
    start = time.perf_counter()
    setup, axes, costs = shape_costs(result, datasets, ["index"], n_jobs=1)  # find_shape_blocks, profiles made once
    changes = {p0: blocks_from_costs(result, setup, axes, costs, p0=p0).change_points for p0 in P0}
    seconds = time.perf_counter() - start
    test = estimator.test_variability(datasets, ["index"], alternative=result)
    try:
        chi2 = result.variability("index")["p_value"]
    except ValueError:
        chi2 = np.nan
    return dict(critical=critical_penalty(costs), changes=changes, lrt=test["p_value"], chi2=chi2, seconds=seconds)


def run(tasks, n_jobs, function=None):
    """``function`` (by default `one`) of each task, in ``n_jobs`` processes."""
    with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
        return pool.map(one if function is None else function, tasks)


def rate(flags):
    """A rate and its binomial error, in per cent."""
    flags = np.asarray(flags, dtype=float)
    value = flags.mean()
    return round(100 * value, 1), round(100 * np.sqrt(value * (1 - value) / flags.size), 1)


def null_section(rows, n_bins):
    critical = np.array([row["critical"] for row in rows])
    out = {}
    for p0 in P0:
        penalty = penalty_from_p0(p0, n_bins)
        out[f"p0={p0}"] = dict(
            penalty=round(penalty, 3),
            false_positive_rate=rate([len(row["changes"][p0]) > 0 for row in rows]),
            partition_false_positive_rate=rate(critical > penalty),
            empirical_penalty=round(float(np.quantile(critical, 1 - p0)), 3),
        )
    out["lrt_p<0.05"] = rate([row["lrt"] < 0.05 for row in rows])
    out["chi2_p<0.05"] = rate([row["chi2"] < 0.05 for row in rows if np.isfinite(row["chi2"])])
    return out


def step_section(rows, n_bins):
    found = [row["changes"][0.05] for row in rows]
    errors = [min(abs(c - n_bins // 2) for c in changes) for changes in found if changes]
    return dict(
        power=rate([len(changes) > 0 for changes in found]),
        change_bin_error_median=float(np.median(errors)) if errors else np.nan,
        change_bin_exact=rate([e == 0 for e in errors]) if errors else np.nan,
        lrt_power=rate([row["lrt"] < 0.05 for row in rows]),
        chi2_power=rate([row["chi2"] < 0.05 for row in rows if np.isfinite(row["chi2"])]),
    )


def write_results(results, start, output=None):
    """Add the elapsed time to ``results``, print them as JSON and write them to ``output`` if given."""
    results["elapsed_s"] = round(time.perf_counter() - start)
    text = json.dumps(results, indent=2)
    print(text)
    if output:
        with open(output, "w") as handle:
            handle.write(text)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-null", type=int, default=240, help="Flares of constant shape. Default is 240.")
    parser.add_argument("--n-step", type=int, default=30, help="Flares per step and class. Default is 30.")
    parser.add_argument("--n-bins", type=int, default=20)
    parser.add_argument("--deltas", type=float, nargs="*", default=[0.2, 0.3, 0.5])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", help="Write the results as JSON to this file.")
    args = parser.parse_args()

    start = time.perf_counter()
    classes = list(CLASSES.values())
    null_tasks = [(seed, args.n_bins, 0.0, classes[seed % len(classes)]) for seed in range(args.n_null)]
    null = run(null_tasks, args.n_jobs)
    results = dict(n_bins=args.n_bins, n_null=args.n_null, null=null_section(null, args.n_bins))
    results["null_by_class"] = {
        name: null_section([row for row, task in zip(null, null_tasks) if task[3] == peaks], args.n_bins)
        for name, peaks in CLASSES.items()
    }
    results["seconds_per_flare_change_points"] = round(float(np.mean([row["seconds"] for row in null])), 3)
    results["steps"] = {}
    for delta in args.deltas:
        for name, peaks in CLASSES.items():
            tasks = [(100_000 + seed, args.n_bins, delta, peaks) for seed in range(args.n_step)]
            results["steps"][f"delta={delta} {name}"] = step_section(run(tasks, args.n_jobs), args.n_bins)
    write_results(results, start, args.output)


if __name__ == "__main__":
    main()
