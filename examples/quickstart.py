"""Quick start: time-resolved spectroscopy of a simulated flare, with no data files.

Simulates twelve 20-minute on-off spectra of a flare that hardens as it
brightens (analytic H.E.S.S.-like IRFs), fits a power law in each bin with
`TimeResolvedSpectrumEstimator`, prints the table, writes the result and
two plots::

    python examples/quickstart.py --output quickstart-output
"""

import argparse
import logging
from pathlib import Path
import numpy as np
import astropy.units as u
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from astropy.time import Time  # noqa: E402
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel  # noqa: E402
from gammapy_trs import TimeResolvedSpectrum, TimeResolvedSpectrumEstimator  # noqa: E402
from gammapy_trs.samples.simulate import simulate_onoff_datasets  # noqa: E402

N_BINS = 12
AMPLITUDE_UNIT = u.Unit("cm-2 s-1 TeV-1")


def flare_truth(n_bins=N_BINS):
    """A Gaussian flare in amplitude; the index hardens from 3.4 to 2.6 at the peak."""
    phase = np.linspace(-2, 2, n_bins)
    amplitude = 3e-11 + 2e-10 * np.exp(-0.5 * phase**2)
    index = 3.4 - 0.8 * (amplitude - amplitude.min()) / np.ptp(amplitude)
    return index, amplitude


def main(output):
    output = Path(output)
    output.mkdir(parents=True, exist_ok=True)

    edges = Time("2026-01-01T20:00") + np.arange(N_BINS + 1) * 20 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    index, amplitude = flare_truth()
    truth = [
        PowerLawSpectralModel(index=i, amplitude=a * AMPLITUDE_UNIT)
        for i, a in zip(index, amplitude)
    ]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=1)
    datasets.models = SkyModel(
        spectral_model=PowerLawSpectralModel(index=3, amplitude=1e-10 * AMPLITUDE_UNIT),
        name="flare",
    )

    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, source="flare")
    result = estimator.run(datasets)
    print(result)
    print(result.to_table()["time_min", "success", "index", "index_err", "amplitude", "amplitude_err"])

    path = output / "time_resolved_spectrum.fits"
    result.write(path, overwrite=True)
    assert TimeResolvedSpectrum.read(path).n_bins == result.n_bins

    fig, axes = plt.subplots(2, 1, figsize=(8, 7), sharex=True)
    time = result.time_axis.as_plot_center
    result.plot("index", ax=axes[0])
    axes[0].plot(time, index, "k--", label="injected")
    result.plot("amplitude", ax=axes[1])
    axes[1].plot(time, amplitude, "k--", label="injected")
    for ax in axes:
        ax.legend()
    fig.tight_layout()
    fig.savefig(output / "parameters.png", dpi=100)

    fig, ax = plt.subplots(figsize=(7, 5))
    result.plot_correlation("amplitude", "index", ax=ax)
    fig.tight_layout()
    fig.savefig(output / "hysteresis.png", dpi=100)
    print(f"Wrote {path}, {output / 'parameters.png'} and {output / 'hysteresis.png'}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="quickstart-output", help="Output folder.")
    main(parser.parse_args().output)
