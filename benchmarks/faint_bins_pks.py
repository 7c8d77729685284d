"""Faint bins on the real PKS 2155-304 night: how many are flagged, and are the others right?

The night (20:30 to 02:30 UTC, the H.E.S.S. DR1 runs) is cut into bins of 10, 30 and 60
seconds and a power law fitted in each. For every width: the fraction of bins with each
quality flag, and, for the bins whose index stands (no flag on it), the pulls of their index
against the index of the 15-minute bin that holds them, ``(index - index_15min) / index_err``
(the 15-minute index is far better measured, so that the pulls measure the faint bins' own
values and errors, to the extent that the spectrum does not change within 15 minutes).

Run: ``python benchmarks/faint_bins_pks.py`` (needs ``$GAMMAPY_DATA``).
"""

import argparse
import logging
import time
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
from gammapy_trs.result.quality import QUALITY_FLAGS
from gammapy_trs.samples.pks2155 import (
    reference_dataset,
    reference_intervals,
    reference_makers,
    reference_model,
    reference_observations,
)

START, STOP = Time("2006-07-29T20:30"), Time("2006-07-30T02:30")


def fit(observations, width):
    n_bins = int(round(((STOP - START) / width).to_value("")))
    intervals = reference_intervals(n_bins=n_bins, width=width, start=START.isot)
    datasets = TimeResolvedDatasetsMaker(reference_makers(), intervals, n_jobs=1).run(reference_dataset(), observations)
    datasets.models = reference_model()
    return TimeResolvedSpectrumEstimator(time_intervals=intervals, selection_optional=["ts"]).run(datasets)


def pulls(fine, coarse):
    """Index pulls of the fine bins whose index stands against the coarse bin that holds them."""
    mid = fine.time_axis.time_mid
    edges = coarse.time_axis
    holder = np.searchsorted(edges.time_max.mjd, mid.mjd)
    inside = holder < coarse.n_bins
    index = fine.quantity("index").value
    error = fine.quantity("index_err").value
    reference = np.full(fine.n_bins, np.nan)
    reference[inside] = coarse.quantity("index").value[holder[inside]]
    stands = np.isfinite(index) & np.isfinite(error) & (error > 0) & np.isfinite(reference)
    return (index[stands] - reference[stands]) / error[stands]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--widths", type=float, nargs="+", default=[10, 30, 60], help="Bin widths in seconds.")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    observations = reference_observations()
    coarse = fit(observations, 15 * u.min)
    names = [flag.name for flag in QUALITY_FLAGS]
    print("| Bins | Bins with data | " + " | ".join(names) + " | Index stands | Pulls: mean, std (68% half-width) | Time |")
    print("|---" * (len(names) + 5) + "|")
    for width in args.widths:
        start = time.perf_counter()
        fine = fit(observations, width * u.s)
        elapsed = time.perf_counter() - start
        quality = fine.quantity("quality").astype(int)
        fractions = [f"{100 * np.mean(quality & flag.bit > 0):.1f}%" for flag in QUALITY_FLAGS]
        pull = pulls(fine, coarse)
        half_width = 0.5 * np.diff(np.percentile(pull, [16, 84]))[0]
        print(
            f"| {width:g} s | {fine.n_bins} | " + " | ".join(fractions)
            + f" | {pull.size} ({100 * pull.size / fine.n_bins:.1f}%) | {pull.mean():+.3f}, {pull.std():.3f} "
            f"({half_width:.3f}) | {elapsed:.0f} s |",
            flush=True,
        )


if __name__ == "__main__":
    main()
