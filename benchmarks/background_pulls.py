"""Pulls of a shared index under two treatments of the background, by direct joint fits, no data files.

The flares of ``calibrate_variability.py --pulls-only`` (constant index 3, ten 10-minute
on-off spectra each, ``alpha`` = 0.2) are fitted directly, with one Minuit fit of the index
and the ten amplitudes on the predicted counts of the package's compiled statistic:

* ``per-bin``: the WStat of each spectrum, i.e. one background per energy bin and time bin,
  profiled (what `TimeResolvedSpectrumEstimator` with ``shared_parameters=["index"]`` fits);
* ``shared``: one background per energy bin common to all time bins (the joint-likelihood
  analogue of stacking the OFF spectra), profiled in each energy bin (the root of its
  score, by bisection), with the Poisson statistic of the ON and of the summed OFF counts.

Each pull is (index - 3) / its HESSE error; fits that Minuit marks invalid or that stop at
a bound of the index (0.5-8) are left out and counted.
This is a study outside the package (the second treatment is not one of its statistics).

Run: ``python benchmarks/background_pulls.py --n-flares 600``.
"""

import argparse
import logging
import multiprocessing
import warnings
import numpy as np
from iminuit import Minuit
from calibrate_variability import flare, summary
from gammapy_trs.engine.statistic import CompiledStatistic
from gammapy_trs.engine.fast_statistic import FitDatasets

AMPLITUDE_SCALE = 1e-12
"""Amplitudes are fitted in units of 1e-12 cm-2 s-1 TeV-1."""


class FlareArrays:
    """The counts of one flare's spectra as arrays (time bin, energy bin), and their predicted signal."""

    def __init__(self, datasets):
        statistics = [CompiledStatistic.build(FitDatasets([dataset])) for dataset in datasets]
        self.spectra = [statistic.spectra[0] for statistic in statistics]
        names = [par.name for par in statistics[0].parameters]
        self.positions = names.index("index"), names.index("amplitude")
        self.n_on = np.array([spectrum.n_on for spectrum in self.spectra])
        self.n_off = np.array([spectrum.n_off for spectrum in self.spectra])
        self.alpha = np.array([spectrum.alpha for spectrum in self.spectra])
        self.n_off_sum = self.n_off.sum(axis=0)

    def mu_sig(self, spectrum, index, amplitude):
        values = np.zeros(2)
        values[list(self.positions)] = index, amplitude * AMPLITUDE_SCALE
        return spectrum.mu_sig(values)

    def wstat(self, parameters):
        index, amplitudes = parameters[0], parameters[1:]
        return sum(
            spectrum.stat(self.mu_sig(spectrum, index, amplitude))
            for spectrum, amplitude in zip(self.spectra, amplitudes)
        )

    def shared_background(self, mu_sig):
        """The background of each energy bin (per OFF exposure of one time bin) at its profile's
        minimum: the root of its score, which falls with the background."""
        n_bins = len(self.spectra)
        with np.errstate(all="ignore"):
            low = np.max(np.where(self.n_on > 0, -mu_sig / self.alpha, 0.0), axis=0).clip(0)

            def score(b):
                on = np.sum(np.where(self.n_on > 0, self.n_on * self.alpha / (mu_sig + self.alpha * b), 0.0), axis=0)
                off = np.where(self.n_off_sum > 0, self.n_off_sum / b, 0.0)
                return on + off - self.alpha.sum(axis=0) - n_bins

            at_zero = score(low + 1e-300) <= 0
            high = np.full(low.shape, 1e4)
            for _ in range(100):
                middle = 0.5 * (low + high)
                rising = score(middle) > 0
                low, high = np.where(rising, middle, low), np.where(rising, high, middle)
        return np.where(at_zero, low, 0.5 * (low + high))

    def shared_stat(self, parameters):
        index, amplitudes = parameters[0], parameters[1:]
        mu_sig = np.array(
            [self.mu_sig(spectrum, index, amplitude) for spectrum, amplitude in zip(self.spectra, amplitudes)]
        )
        background = self.shared_background(mu_sig)
        mu_on = mu_sig + self.alpha * background
        if np.any((mu_on <= 0) & (self.n_on > 0)):
            return 1e30
        with np.errstate(all="ignore"):
            on = np.sum(mu_on - np.where(self.n_on > 0, self.n_on * np.log(np.where(mu_on > 0, mu_on, 1.0)), 0.0))
            off = np.sum(
                len(self.spectra) * background
                - np.where(self.n_off_sum > 0, self.n_off_sum * np.log(np.where(background > 0, background, 1.0)), 0.0)
            )
        return 2 * (on + off)


INDEX_LIMITS = (0.5, 8)
"""Bounds of the index, as in the calibration."""


def _pull(stat, n_bins):
    """Pull of the index, NaN where the fit is invalid or stopped within 1e-3 of a bound."""
    minuit = Minuit(stat, np.r_[3.0, np.full(n_bins, 10.0)])
    minuit.errordef = Minuit.LEAST_SQUARES  # the statistics are -2 log L
    minuit.limits[0] = INDEX_LIMITS
    minuit.migrad()
    minuit.hesse()
    index = minuit.values[0]
    at_bound = min(index - INDEX_LIMITS[0], INDEX_LIMITS[1] - index) < 1e-3 * (INDEX_LIMITS[1] - INDEX_LIMITS[0])
    return (index - 3.0) / minuit.errors[0] if minuit.valid and not at_bound else np.nan


def pulls(seed):
    """Pulls of the shared index of one flare: per-bin backgrounds, shared backgrounds."""
    logging.disable(logging.WARNING)
    warnings.simplefilter("ignore")
    datasets, _ = flare(seed, 10, 0.0)
    arrays = FlareArrays(datasets)
    return _pull(arrays.wstat, len(datasets)), _pull(arrays.shared_stat, len(datasets))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n-flares", type=int, default=600)
    parser.add_argument("--n-jobs", type=int, default=2)
    args = parser.parse_args()
    with multiprocessing.get_context("fork").Pool(args.n_jobs) as pool:
        rows = np.array(pool.map(pulls, range(args.n_flares)))
    per_bin, shared = rows.T
    print(f"{args.n_flares} flares, alpha 0.2:")
    print(f"  per-bin backgrounds (WStat): {summary(per_bin)}")
    print(f"  one background per energy bin, shared: {summary(shared)}")


if __name__ == "__main__":
    main()
