"""Shared parameters against Gammapy's direct joint fit with the parameters linked.

For each set-up, the estimator's profile fit of the shared parameters (``shared_parameters``)
is compared with one Gammapy `~gammapy.modeling.Fit` of all bins at once, one model per bin
and the shared parameters linked (`gammapy_trs.samples.joint.direct_joint_fit`): the
difference of the values in units of the direct fit's error, the ratio of the errors, the
difference of the joint statistics, and the time of each.

* real data (needs ``$GAMMAPY_DATA``): the four H.E.S.S. DR1 Crab runs cut into twelve bins
  (log-parabola alpha and beta; cut-off power law index and lambda_; the log-parabola's three
  parameters, one spectrum for the whole period) and the two MAGIC Crab runs in 5-minute bins
  (log-parabola alpha and beta);
* simulated flares (no data files): ``--n-flares`` flares of six bins, log-parabola alpha
  and beta shared, and cut-off power law index, lambda_ and alpha shared (the direct fit
  started at the compiled engine's minimum, where MIGRAD does not find it from the start).

Run: ``python benchmarks/joint_direct.py --n-flares 20``.
"""

import argparse
import logging
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.datasets import SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker, WobbleRegionsFinder
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling import Fit
from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel, LogParabolaSpectralModel, SkyModel
from regions import PointSkyRegion
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
from gammapy_trs.binning import fixed_width_intervals
from gammapy_trs.engine.fast_fit import FastFit
from gammapy_trs.samples.joint import direct_joint_fit
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from gammapy_trs.samples.spectrum_setup import empty_spectrum_dataset, on_region, reflected_region_makers

CRAB = SkyCoord(83.633, 22.014, unit="deg")
UNIT = u.Unit("cm-2 s-1 TeV-1")


def log_parabola(reference="1 TeV"):
    spectral = LogParabolaSpectralModel(alpha=2.5, beta=0.1, amplitude=3e-11 * UNIT, reference=reference)
    return SkyModel(spectral_model=spectral, name="crab")


def cutoff(alpha_free=False):
    spectral = ExpCutoffPowerLawSpectralModel(index=2.2, lambda_="0.2 TeV-1", amplitude=3e-11 * UNIT)
    spectral.alpha.frozen = not alpha_free
    spectral.alpha.min, spectral.alpha.max = 0.2, 5
    return SkyModel(spectral_model=spectral, name="crab")


def _bins(observations, width):
    return [
        interval
        for obs in observations
        for interval in fixed_width_intervals(obs.gti.time_start[0], obs.gti.time_stop[-1], width)
    ]


def hess_crab():
    observations = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1").get_observations([23523, 23526, 23559, 23592])
    intervals = _bins(observations, 9.4 * u.min)
    empty = empty_spectrum_dataset(
        on_region(CRAB, "0.11 deg"),
        MapAxis.from_energy_bounds("0.5 TeV", "40 TeV", nbin=12),
        MapAxis.from_energy_bounds("0.2 TeV", "100 TeV", nbin=30, name="energy_true"),
    )
    makers = reflected_region_makers(containment_correction=True, aeff_percent=10)
    return TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations), intervals


def magic_crab():
    observations = DataStore.from_dir("$GAMMAPY_DATA/magic/rad_max/data").get_observations(required_irf="point-like")
    intervals = _bins(observations, 5 * u.min)
    geom = RegionGeom.create(region=PointSkyRegion(CRAB), axes=[MapAxis.from_energy_bounds("0.08 TeV", "20 TeV", nbin=10)])
    empty = SpectrumDataset.create(
        geom=geom, energy_axis_true=MapAxis.from_energy_bounds("0.05 TeV", "30 TeV", nbin=20, name="energy_true")
    )
    makers = [
        SpectrumDatasetMaker(containment_correction=False, selection=["counts", "exposure", "edisp"]),
        ReflectedRegionsBackgroundMaker(region_finder=WobbleRegionsFinder(n_off_regions=3)),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
    return TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations), intervals


def compare(datasets, intervals, model, shared, start_fit=None):
    """The worst value difference (in sigma), the error ratios' range, the statistics' difference, the times."""
    start = time.perf_counter()
    direct = direct_joint_fit(datasets, intervals, model, shared, fit=Fit(), start_fit=start_fit)
    direct_time = time.perf_counter() - start
    datasets.models = model.copy(name=model.name)
    start = time.perf_counter()
    result = TimeResolvedSpectrumEstimator(time_intervals=intervals, shared_parameters=shared).run(datasets)
    estimator_time = time.perf_counter() - start
    table = result.shared_parameters
    pulls = [(row["value"] - direct["values"][row["name"]]) / direct["errors"][row["name"]] for row in table]
    ratios = [row["error"] / direct["errors"][row["name"]] for row in table]
    return dict(
        value=float(np.max(np.abs(pulls))),
        error_min=float(np.min(ratios)),
        error_max=float(np.max(ratios)),
        stat=result.meta["stat_joint"] - direct["stat"],
        success=bool(direct["success"] and result.meta["shared_success"]),
        direct_success=bool(direct["success"]),
        estimator_success=bool(result.meta["shared_success"]),
        direct_time=direct_time,
        estimator_time=estimator_time,
    )


def simulated(seed, kind):
    rng = np.random.RandomState(seed)
    intervals = [i for i in _bins_of(6)]
    if kind == "logparabola":
        amplitudes = 10 ** rng.uniform(-10.7, -9.7, 6)
        truth = [LogParabolaSpectralModel(alpha=2.3, beta=0.2, amplitude=a * UNIT, reference="1 TeV") for a in amplitudes]
        model, shared, start_fit = log_parabola(), ["alpha", "beta"], None
    else:
        amplitudes = 10 ** rng.uniform(-8.3, -7.7, 6)
        truth = [ExpCutoffPowerLawSpectralModel(index=2.0, lambda_="0.5 TeV-1", amplitude=a * UNIT) for a in amplitudes]
        model, shared, start_fit = cutoff(alpha_free=True), ["index", "lambda_", "alpha"], FastFit()
        model.spectral_model.alpha.value, model.spectral_model.lambda_.value = 1.2, 0.4
    datasets = simulate_onoff_datasets(intervals, truth, random_state=seed)
    return compare(datasets, intervals, model, shared, start_fit=start_fit)


def _bins_of(n):
    from astropy.time import Time

    edges = Time("2026-01-01T00:00") + np.arange(n + 1) * 20 * u.min
    return [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]


def row(label, result):
    return (
        f"| {label} | {result['value']:.4f} | {result['error_min']:.3f} - {result['error_max']:.3f} | "
        f"{result['stat']:+.4f} | {result['direct_time']:.1f} s | {result['estimator_time']:.1f} s |"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-flares", type=int, default=20)
    parser.add_argument("--no-data", action="store_true", help="Only the simulated flares.")
    parser.add_argument(
        "--kinds", nargs="+", default=["logparabola", "cutoff"], choices=["logparabola", "cutoff"],
        help="Models of the simulated flares. Default is both.",
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    print("| Set-up | max abs(value - direct) / direct error | error / direct error | stat - direct stat | direct fit | estimator |")
    print("|---|---|---|---|---|---|")
    if not args.no_data:
        datasets, intervals = hess_crab()
        for label, model, shared in (
            ("H.E.S.S. Crab, 12 bins, log-parabola alpha + beta", log_parabola(), ["alpha", "beta"]),
            ("H.E.S.S. Crab, 12 bins, cut-off power law index + lambda_", cutoff(), ["index", "lambda_"]),
            ("H.E.S.S. Crab, 12 bins, log-parabola alpha + beta + amplitude", log_parabola(), ["alpha", "beta", "amplitude"]),
        ):
            print(row(label, compare(datasets, intervals, model, shared)), flush=True)
        datasets, intervals = magic_crab()
        model = log_parabola(reference="0.4 TeV")
        print(row(f"MAGIC Crab, {len(intervals)} bins, log-parabola alpha + beta", compare(datasets, intervals, model, ["alpha", "beta"])), flush=True)
    labels = {"logparabola": "log-parabola alpha + beta", "cutoff": "cut-off power law index + lambda_ + alpha"}
    for kind in args.kinds:
        label = labels[kind]
        results = [simulated(seed, kind) for seed in range(args.n_flares)]
        # the worst case over the flares where both fits converged; the others are counted
        both = [r for r in results if r["success"]]
        worst = dict(
            value=max((r["value"] for r in both), default=np.nan),
            error_min=min((r["error_min"] for r in both), default=np.nan),
            error_max=max((r["error_max"] for r in both), default=np.nan),
            stat=max((r["stat"] for r in both), default=np.nan),
            direct_time=np.median([r["direct_time"] for r in results]),
            estimator_time=np.median([r["estimator_time"] for r in results]),
        )
        direct_failed = [seed for seed, r in enumerate(results) if not r["direct_success"]]
        estimator_failed = [seed for seed, r in enumerate(results) if not r["estimator_success"]]
        print(
            row(
                f"{args.n_flares} simulated flares of 6 bins, {label} (worst of the {len(both)} where both "
                f"converged; median times; direct fit failed: {len(direct_failed)}, estimator failed: "
                f"{len(estimator_failed)})",
                worst,
            ),
            flush=True,
        )
        # where both converged: the flares whose errors agree within 5%, and the worst value there
        agree = [r for r in both if 0.95 <= r["error_min"] and r["error_max"] <= 1.05]
        worst_agree = max((r["value"] for r in agree), default=np.nan)
        print(
            f"  both converged: {len(both)}; errors within 5% of the direct fit's in {len(agree)}, their worst "
            f"value difference {worst_agree:.4f} sigma; in the other {len(both) - len(agree)} the direct fit's "
            f"errors differ (error ratios {min((r['error_min'] for r in both), default=np.nan):.3g} to "
            f"{max((r['error_max'] for r in both), default=np.nan):.3g}) at statistics within "
            f"{max((abs(r['stat']) for r in both), default=np.nan):.1e}",
            flush=True,
        )
        for seed, r in enumerate(results):
            if not r["success"]:
                print(
                    f"  seed {seed}: direct {'converged' if r['direct_success'] else 'failed'}, estimator "
                    f"{'converged' if r['estimator_success'] else 'failed'}; value difference {r['value']:.3g} sigma, "
                    f"stat - direct stat {r['stat']:+.3f}",
                    flush=True,
                )

if __name__ == "__main__":
    main()
