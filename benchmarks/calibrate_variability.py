"""Calibration of the likelihood-ratio variability test and of shared parameters, no data files.

Simulated flares of N bins (10-minute on-off spectra, a Gaussian flare whose peak is drawn
log-uniformly from faint to bright, so that faint bins are included) of a power law:

* with a constant index (the null hypothesis): the likelihood-ratio p-values of "index free
  per bin" against "index shared" should be uniform and the false-positive rate at
  p < 0.05 should be 5%; the shared index should have unbiased pulls of unit width;
* with an index that hardens by ``--delta`` at the peak: the power of the likelihood-ratio
  test and of the chi-square test on the fitted values (`TimeResolvedSpectrum.variability`),
  each at a false-positive rate of 5% measured on the null flares.

Run: ``python benchmarks/calibrate_variability.py --n-flares 200 --n-jobs 2``.
"""

import argparse
import logging
import multiprocessing
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from scipy import stats
from gammapy.datasets import Datasets
from gammapy.maps import MapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedSpectrumEstimator
from gammapy_trs.samples.simulate import simulate_onoff_datasets

T0 = Time("2026-01-01T00:00:00", scale="utc")
UNIT = u.Unit("cm-2 s-1 TeV-1")


PEAK_RANGE = (5e-12, 2e-10)
"""Range of the flares' peak amplitudes (log-uniform), faint to bright."""

ALPHA = 0.2
"""ON/OFF exposure ratio of the simulated spectra."""


TESTED = {"powerlaw": ["index"], "logparabola": ["alpha", "beta"]}
"""The parameters tested for variability, by model."""


def _truth(model, slope, amplitude):
    if model == "logparabola":
        return LogParabolaSpectralModel(alpha=slope, beta=0.2, amplitude=amplitude * UNIT, reference="1 TeV")
    return PowerLawSpectralModel(index=slope, amplitude=amplitude * UNIT)


def _fit_model(model):
    spectral = _truth(model, 3.0, 1e-11)
    first = spectral.parameters["alpha" if model == "logparabola" else "index"]
    first.min, first.max = 0.5, 8  # faint bins stop at a bound instead of failing
    if model == "logparabola":
        spectral.beta.min, spectral.beta.max = -2, 3
    return SkyModel(spectral_model=spectral, name="source")


def flare(seed, n_bins, delta, peak_range=PEAK_RANGE, alpha=ALPHA, model="powerlaw"):
    """Datasets of one flare, with a power-law (or log-parabola) model set.

    The flare's shape and its counts are drawn from two independent streams of ``seed``:
    drawn from one stream, the peak (the first number) would decide the first counts drawn,
    and the pulls of a brightness class would be biased.
    """
    rng = np.random.RandomState([seed, 0])
    peak = 10 ** rng.uniform(*np.log10(peak_range))
    phase = np.linspace(-2, 2, n_bins) + rng.uniform(-0.5, 0.5)
    shape = np.exp(-0.5 * phase**2)
    amplitude = peak * (0.2 + 0.8 * shape)
    index = 3.0 - delta * shape
    edges = T0 + np.arange(n_bins + 1) * 10 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    truth = [_truth(model, i, a) for i, a in zip(index, amplitude)]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=np.random.RandomState([seed, 1]), alpha=alpha)
    datasets.models = _fit_model(model)
    return datasets, intervals


def _at_bound(par):
    """Whether a fitted parameter stopped at one of its bounds (within 1e-3 of the range)."""
    return min(par.value - par.min, par.max - par.value) < 1e-3 * (par.max - par.min)


def merged_energy_bins(datasets, n_energy_bins):
    """The datasets with their energy bins merged into ``n_energy_bins`` over the same range (the same counts)."""
    axis = datasets[0].counts.geom.axes["energy"]
    coarse = MapAxis.from_energy_bounds(axis.edges[0], axis.edges[-1], nbin=n_energy_bins)
    merged = Datasets([dataset.resample_energy_axis(coarse, name=dataset.name) for dataset in datasets])
    merged.models = datasets.models
    return merged


def shared_pull(args):
    """Pulls of the shared index of one flare (constant index 3) and of the index fitted to its
    datasets stacked (NaN where that fit failed or stopped at a bound), and its excess counts."""
    seed, n_bins, peak_range, alpha, n_energy_bins = args
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, intervals = flare(seed, n_bins, 0.0, peak_range, alpha)
    if n_energy_bins is not None:
        datasets = merged_energy_bins(datasets, n_energy_bins)
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals, shared_parameters=["index"]).run(datasets)
    shared = result.shared_parameters
    stacked = Datasets([datasets.stack_reduce(name="stacked")])
    stacked.models = datasets.models.copy()
    success = Fit().run(stacked).success
    index = stacked.models["source"].spectral_model.index
    return (
        (shared["value"][0] - 3.0) / shared["error"][0],
        (index.value - 3.0) / index.error if success and not _at_bound(index) else np.nan,
        float(result.quantity("excess").sum()),
    )


def one(args):
    seed, n_bins, delta, alpha, model = args
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, intervals = flare(seed, n_bins, delta, alpha=alpha, model=model)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
    tested = TESTED[model]
    test = estimator.test_variability(datasets, tested)
    shared = test["null"].shared_parameters
    try:
        chi2 = test["alternative"].variability(tested[0])["p_value"]
    except ValueError:
        chi2 = np.nan
    return dict(
        lrt=test["p_value"],
        chi2=chi2,
        pull=(shared["value"][0] - 3.0) / shared["error"][0] if delta == 0 else np.nan,
        n_bins=test["n_bins"],
        excess=float(test["null"].quantity("excess").sum()),
        failed=int((~test["alternative"].success).sum()),
    )


def summary(pull):
    """Mean of the pulls with its error, and their standard deviation (failed fits, NaN, left out)."""
    failed = int(np.sum(~np.isfinite(pull)))
    pull = pull[np.isfinite(pull)]
    text = f"mean {pull.mean():+.3f} +- {pull.std() / np.sqrt(pull.size):.3f}, standard deviation {pull.std():.3f}"
    return text + (f" ({failed} failed fits left out)" if failed else "")


def run(n_flares, n_bins, delta, n_jobs, offset, alpha=ALPHA, model="powerlaw"):
    tasks = [(offset + i, n_bins, delta, alpha, model) for i in range(n_flares)]
    with multiprocessing.get_context("fork").Pool(n_jobs) as pool:
        rows = pool.map(one, tasks)
    return {key: np.array([row[key] for row in rows], dtype=float) for key in rows[0]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-flares", type=int, default=200)
    parser.add_argument("--n-bins", type=int, default=10)
    parser.add_argument("--delta", type=float, default=0.3)
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument(
        "--model", choices=tuple(TESTED), default="powerlaw",
        help="powerlaw: the index tested; logparabola: alpha and beta tested at once. Default is powerlaw.",
    )
    parser.add_argument(
        "--alpha", type=float, default=ALPHA,
        help="ON/OFF exposure ratio of the simulated spectra (smaller: more OFF counts). Default is 0.2.",
    )
    parser.add_argument(
        "--pulls-only", type=float, nargs=2, metavar=("PEAK_MIN", "PEAK_MAX"),
        help="Only the shared-index pulls, of flares with peaks in this amplitude range (TeV-1 cm-2 s-1).",
    )
    parser.add_argument(
        "--energy-bins", type=int,
        help="With --pulls-only: merge the 10 energy bins of the simulated spectra into this many. Default is None.",
    )
    args = parser.parse_args()
    if args.pulls_only:
        tasks = [(i, args.n_bins, tuple(args.pulls_only), args.alpha, args.energy_bins) for i in range(args.n_flares)]
        with multiprocessing.get_context("fork").Pool(args.n_jobs) as pool:
            rows = np.array(pool.map(shared_pull, tasks))
        pull, stacked, excess = rows.T
        energy_bins = "" if args.energy_bins is None else f", {args.energy_bins} energy bins"
        print(f"{args.n_flares} flares, peaks {args.pulls_only}, alpha {args.alpha}{energy_bins}, "
              f"median excess {np.median(excess):.0f} counts:")
        print(f"  shared index pulls {summary(pull)}")
        print(f"  pulls of the index fitted to the stacked datasets {summary(stacked)}")
        return

    start = time.perf_counter()
    null = run(args.n_flares, args.n_bins, 0.0, args.n_jobs, offset=0, alpha=args.alpha, model=args.model)
    alt = run(args.n_flares, args.n_bins, args.delta, args.n_jobs, offset=100_000, alpha=args.alpha, model=args.model)
    elapsed = time.perf_counter() - start

    print(f"{args.model} ({', '.join(TESTED[args.model])} tested), alpha {args.alpha}: {args.n_flares} flares of "
          f"{args.n_bins} bins each, null and alternative, {elapsed:.0f} s")
    print(f"free fits that failed: {int(null['failed'].sum())} (null), {int(alt['failed'].sum())} (alternative)")
    lrt = null["lrt"]
    print(f"LRT null p-values: KS p = {stats.kstest(lrt, 'uniform').pvalue:.3f}; "
          f"false positives at p < 0.05: {100 * np.mean(lrt < 0.05):.1f}%")
    chi2 = null["chi2"][np.isfinite(null["chi2"])]
    print(f"chi2 null p-values: KS p = {stats.kstest(chi2, 'uniform').pvalue:.3f}; "
          f"false positives at p < 0.05: {100 * np.mean(chi2 < 0.05):.1f}%")
    pull = null["pull"]
    print(f"shared {TESTED[args.model][0]} pulls: {summary(pull)}")
    for low, high in ((0, 300), (300, np.inf)):
        inside = (null["excess"] >= low) & (null["excess"] < high)
        print(f"  flares of {low} to {high} excess counts ({inside.sum()}): {summary(pull[inside])}")
    for name in ("lrt", "chi2"):
        threshold = np.nanquantile(null[name], 0.05)
        power = np.nanmean(alt[name] <= threshold)
        nominal = np.nanmean(alt[name] < 0.05)
        print(f"power of {name} (index hardening by {args.delta} at the peak): {100 * power:.1f}% at a "
              f"measured 5% false-positive rate (threshold p = {threshold:.3f}); {100 * nominal:.1f}% at p < 0.05")


if __name__ == "__main__":
    main()
