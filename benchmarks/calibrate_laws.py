"""Calibration of the laws across bins (`fit_law`), no data files.

Simulated flares of N bins (10-minute on-off spectra of a power law whose amplitude follows a
Gaussian flare over a decade, its peak drawn log-uniformly within a brightness class) whose index
follows ``index_i = 3 + b log10(A_i / A_ref)`` (``A_ref`` the class's middle amplitude), with
``b = 0`` and a harder-when-brighter ``b`` (negative). For each flare the law of the flux is
fitted (``N0 = A_ref``, so that ``a`` is 3 at the truth), and on flares with ``b = 0`` also the law
of time (whose truth is then ``b = 0``):

* the pulls of ``b``, ``(b_fit - b_true) / error``: mean, width and their errors, per class;
* under ``b = 0``: the likelihood-ratio p-values against "shared" (KS test against uniform) and
  their false-positive rate at p < 0.05;
* with ``b != 0``: the power of the law's test at p < 0.05, beside the power of the weighted
  Pearson and the Spearman correlation of the bins' own index and amplitude on the same flares;
* the cost of the law's fit against the shared fit (``test_variability``'s null) on the same
  flares;
* with ``--n-bootstrap-flares M``: on M faint flares with ``b = 0``, the law's p-value by
  ``--n-simulations`` simulations of the null hypothesis (`simulate_law_test`), its
  false-positive rate and KS test against uniform, beside the chi-square p-value's on the same
  flares.

Run: ``python benchmarks/calibrate_laws.py --n-flares 200 --n-jobs 2`` (and
``--n-flares 0 --n-bootstrap-flares 24 --n-simulations 30`` for the simulated p-values).
"""

import argparse
import json
import logging
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from scipy.stats import kstest
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedSpectrumEstimator, fit_law
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from calibrate_change_points import rate, run, write_results  # noqa: E402 -- the benchmarks folder

T0 = Time("2026-01-01T00:00:00", scale="utc")
UNIT = u.Unit("cm-2 s-1 TeV-1")

CLASSES = {"very-bright": (2e-10, 6e-10), "bright": (6e-11, 2e-10), "faint": (1e-11, 3e-11)}
"""Brightness classes: ranges of the flares' peak amplitudes at 1 TeV (log-uniform within)."""


def flare(seed, n_bins, slope, peak_range):
    """Datasets of one flare whose index follows the law of the flux, with a power law set."""
    rng = np.random.RandomState([seed, 0])
    peak = 10 ** rng.uniform(*np.log10(peak_range))
    phase = np.linspace(-2.5, 2.5, n_bins) + rng.uniform(-0.5, 0.5)
    amplitude = peak * (0.1 + 0.9 * np.exp(-0.5 * phase**2))
    reference = np.sqrt(peak_range[0] * peak_range[1]) * 0.4
    index = 3.0 + slope * np.log10(amplitude / reference)
    edges = T0 + np.arange(n_bins + 1) * 10 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    truth = [PowerLawSpectralModel(index=i, amplitude=a * UNIT) for i, a in zip(index, amplitude)]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=np.random.RandomState([seed, 1]))
    model = PowerLawSpectralModel(index=3.0, amplitude=1e-11 * UNIT)
    model.index.min, model.index.max = 0.5, 8  # faint bins stop at a bound instead of failing
    datasets.models = SkyModel(spectral_model=model, name="source")
    return datasets, intervals, reference


def one(args):
    """The law of the flux (and of time where b = 0), the correlations and the costs of one flare."""
    seed, n_bins, slope, peak_range = args
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, intervals, reference = flare(seed, n_bins, slope, peak_range)
    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
    result = estimator.run(datasets)
    start = time.perf_counter()
    law = fit_law(result, datasets, "index", covariate="flux", reference=reference * UNIT, n_jobs=1)
    seconds_law = time.perf_counter() - start
    start = time.perf_counter()
    estimator.test_variability(datasets, ["index"], alternative=result)
    seconds_shared = time.perf_counter() - start
    row = dict(
        b=law.coefficients["value"][1],
        b_err=law.coefficients["error"][1],
        a=law.coefficients["value"][0],
        a_err=law.coefficients["error"][0],
        p=law.meta["P_SHARED"],
        p_free=law.meta["P_FREE"],
        seconds_law=seconds_law,
        seconds_shared=seconds_shared,
    )
    try:
        correlation = result.correlation("amplitude", "index")
        row.update(pearson_p=correlation["pearson_p_value"], spearman_p=correlation["spearman_p_value"])
    except ValueError:
        row.update(pearson_p=np.nan, spearman_p=np.nan)
    if slope == 0:
        in_time = fit_law(result, datasets, "index", covariate="time", n_jobs=1)
        row.update(b_time=in_time.coefficients["value"][1], b_time_err=in_time.coefficients["error"][1])
        row.update(p_time=in_time.meta["P_SHARED"])
    return row


def one_bootstrap(args):
    """The law's asymptotic and simulated p-values on one faint flare with b = 0."""
    from gammapy_trs import simulate_law_test

    seed, n_bins, n_simulations = args
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, intervals, reference = flare(seed, n_bins, 0.0, CLASSES["faint"])
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1).run(datasets)
    try:
        law = fit_law(result, datasets, "index", covariate="flux", reference=reference * UNIT, n_jobs=1)
        simulated = simulate_law_test(law, result, datasets, n_simulations=n_simulations, random_state=seed, n_jobs=1)
    except ValueError:
        return dict(p=np.nan, p_sim=np.nan)
    return dict(p=law.meta["P_SHARED"], p_sim=simulated.meta["P_SHARED_SIM"])


def bootstrap_section(rows):
    out = {}
    for key in ("p", "p_sim"):
        p = np.array([row[key] for row in rows], dtype=float)
        p = p[np.isfinite(p)]
        out[f"{key}<0.05"] = rate(p < 0.05)
        out[f"ks_{key}"] = round(float(kstest(p, "uniform").pvalue), 3)
        out[f"n_{key}"] = int(p.size)
    return out


def pulls(values, errors, truth):
    """Mean and width of the pulls with their errors, over the finite ones, and how many failed."""
    pull = (np.asarray(values, dtype=float) - truth) / np.asarray(errors, dtype=float)
    ok = np.isfinite(pull)
    pull = pull[ok]
    n = pull.size
    return dict(
        mean=round(float(pull.mean()), 3),
        mean_err=round(float(pull.std(ddof=1) / np.sqrt(n)), 3),
        width=round(float(pull.std(ddof=1)), 3),
        width_err=round(float(pull.std(ddof=1) / np.sqrt(2 * (n - 1))), 3),
        n=int(n),
        n_failed=int((~ok).sum()),
    )


def section(rows, slope):
    out = dict(pulls_b=pulls([r["b"] for r in rows], [r["b_err"] for r in rows], slope))
    out["pulls_a"] = pulls([r["a"] for r in rows], [r["a_err"] for r in rows], 3.0)
    p = np.array([r["p"] for r in rows], dtype=float)
    p = p[np.isfinite(p)]
    out["law_p<0.05"] = rate(p < 0.05)
    for key in ("pearson_p", "spearman_p"):
        values = np.array([r[key] for r in rows], dtype=float)
        out[f"{key}<0.05"] = rate(values[np.isfinite(values)] < 0.05)
    if slope == 0:
        out["ks_p_law"] = round(float(kstest(p, "uniform").pvalue), 3)
        out["pulls_b_time"] = pulls([r["b_time"] for r in rows], [r["b_time_err"] for r in rows], 0.0)
        p_time = np.array([r["p_time"] for r in rows], dtype=float)
        p_time = p_time[np.isfinite(p_time)]
        out["ks_p_law_time"] = round(float(kstest(p_time, "uniform").pvalue), 3)
        out["law_time_p<0.05"] = rate(p_time < 0.05)
    out["seconds_law_median"] = round(float(np.median([r["seconds_law"] for r in rows])), 3)
    out["seconds_shared_median"] = round(float(np.median([r["seconds_shared"] for r in rows])), 3)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-flares", type=int, default=200, help="Flares per slope and class. Default is 200.")
    parser.add_argument("--n-bins", type=int, default=20)
    parser.add_argument("--slope", type=float, default=-0.3, help="The harder-when-brighter slope. Default is -0.3.")
    parser.add_argument("--classes", nargs="*", default=list(CLASSES), choices=list(CLASSES))
    parser.add_argument("--n-bootstrap-flares", type=int, default=0, help="Faint flares with simulated p-values.")
    parser.add_argument("--n-simulations", type=int, default=30, help="Simulations per flare. Default is 30.")
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--output", help="Write the results as JSON to this file.")
    args = parser.parse_args()

    start = time.perf_counter()
    results = dict(n_bins=args.n_bins, n_flares=args.n_flares)
    for name in args.classes if args.n_flares else ():
        peaks = CLASSES[name]
        for slope in (0.0, args.slope):
            tasks = [(seed, args.n_bins, slope, peaks) for seed in range(args.n_flares)]
            results[f"b={slope} {name}"] = section(run(tasks, args.n_jobs, one), slope)
            print(name, slope, json.dumps(results[f"b={slope} {name}"]), flush=True)
    if args.n_bootstrap_flares:
        tasks = [(seed, args.n_bins, args.n_simulations) for seed in range(args.n_bootstrap_flares)]
        results["bootstrap faint b=0"] = bootstrap_section(run(tasks, args.n_jobs, one_bootstrap))
        results["bootstrap faint b=0"]["n_simulations"] = args.n_simulations
        print("bootstrap", json.dumps(results["bootstrap faint b=0"]), flush=True)
    write_results(results, start, args.output)


if __name__ == "__main__":
    main()
