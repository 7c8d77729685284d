"""The demo: the whole time-resolved chain on the embedded simulated flare."""

import logging
from pathlib import Path
import astropy.units as u
from astropy.table import Table
from astropy.time import Time
from gammapy.maps import MapAxis
from gammapy.modeling.models import PowerLawSpectralModel, SkyModel
from ..binning import fixed_width_intervals
from ..estimation import TimeResolvedSpectrumEstimator
from ..reduction import TimeResolvedDatasetsMaker
from ..samples.demo_data import DEMO_SOURCE, simulate_demo_data_store
from ..samples.spectrum_setup import empty_spectrum_dataset, on_region, reflected_region_makers
from ..result.figures import save_hysteresis_figure, save_parameters_figure

__all__ = ["run_demo", "plot_demo"]

log = logging.getLogger(__name__)


def run_demo(output, bin_width=10 * u.min, overwrite=True):
    """Simulate the demo flare, reduce it in time slices and fit each bin.

    Parameters
    ----------
    output : str or `~pathlib.Path`
        Output folder: ``data/`` (the DL3 data store and its truth),
        ``time_resolved_spectrum.fits`` and the plots.
    bin_width : `~astropy.units.Quantity`, optional
        Width of the time bins within each observation. Default is 10 min.
    overwrite : bool, optional
        Overwrite existing files. Default is True.

    Returns
    -------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Fitted parameters, TS, fluxes and upper limits per bin.
    """
    output = Path(output)
    data_store = simulate_demo_data_store(output / "data", overwrite=overwrite)
    observations = data_store.get_observations(required_irf=["aeff", "edisp", "bkg"])
    intervals = [
        interval
        for obs in observations
        for interval in fixed_width_intervals(obs.gti.time_start[0], obs.gti.time_stop[-1], bin_width)
    ]

    empty = empty_spectrum_dataset(
        on_region(DEMO_SOURCE, "0.11 deg"),
        MapAxis.from_energy_bounds("0.3 TeV", "30 TeV", nbin=12),
        MapAxis.from_energy_bounds("0.1 TeV", "60 TeV", nbin=24, name="energy_true"),
    )
    makers = reflected_region_makers(containment_correction=False, aeff_percent=10)
    datasets = TimeResolvedDatasetsMaker(makers, intervals).run(empty, observations)
    datasets.models = SkyModel(
        spectral_model=PowerLawSpectralModel(index=3, amplitude="1e-10 cm-2 s-1 TeV-1"),
        name="flare",
    )
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals, source="flare", selection_optional=["ts", "flux", "ul"]
    )
    result = estimator.run(datasets)
    result.write(output / "time_resolved_spectrum.fits", overwrite=overwrite)
    plot_demo(result, Table.read(output / "data" / "truth.ecsv"), output)
    return result


def plot_demo(result, truth, output):
    """Write the demo plots: parameters against time with the truth, and index against flux.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    truth : `~astropy.table.Table`
        Injected ``index`` and ``amplitude`` per chunk (``time_min``, ``time_max``).
    output : str or `~pathlib.Path`
        Folder of ``parameters.png`` and ``hysteresis.png``.

    Returns
    -------
    paths : list of `~pathlib.Path`
        The PNG files.
    """
    output = Path(output)
    times = Time(truth["time_min"]) + 0.5 * (Time(truth["time_max"]) - Time(truth["time_min"]))
    injected = {name: (times.datetime, truth[name]) for name in ["index", "amplitude"]}
    x = "flux" if "flux" in result.available_quantities else "amplitude"
    return [
        save_parameters_figure(result, output / "parameters.png", ["index", "amplitude"], injected),
        save_hysteresis_figure(result, output / "hysteresis.png", x, "index"),
    ]
