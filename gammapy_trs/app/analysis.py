"""Run a time-resolved analysis described by a `~gammapy_trs.app.config.TRSConfig`."""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
import astropy.units as u
from gammapy.maps import MapAxis
from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel, LogParabolaSpectralModel, SkyModel
from ..binning import BinningOptions, make_intervals
from ..estimation import TimeResolvedSpectrumEstimator
from ..estimation.flux_states import fit_flux_states
from ..reduction import TimeResolvedDatasetsMaker
from ..utils.parameters import NORM_NAMES
from .config import ConfigError
from .figures import (
    save_flux_states_figure,
    save_hysteresis_figure,
    save_parameters_figure,
    save_spectra_figure,
    save_summary_figure,
)
from .reduction_setup import (
    apply_fit_range,
    dataset_makers,
    on_region,
    read_models,
    reference_dataset,
    select_observations,
    set_models,
)

__all__ = ["run_analysis", "make_datasets", "AnalysisOutput", "output_folder", "result_path", "RESULT_NAME"]

log = logging.getLogger(__name__)

COMPARE_MODELS = {"LogParabola": LogParabolaSpectralModel, "ExpCutoffPowerLaw": ExpCutoffPowerLawSpectralModel}
"""Models of ``compare_to``, started at the power law (beta = 0, lambda_ = 0)."""

RESULT_NAME = "time_resolved_spectrum"
SUFFIXES = {"fits": ".fits", "ecsv": ".ecsv", "lightcurve": "_lightcurve.fits"}


def _intervals(config, observations, region):
    cfg = config.time_resolved.binning
    axis = config.datasets.geom.axes.energy
    options = BinningOptions(
        start=cfg.start,
        stop=cfg.stop,
        width=cfg.width,
        p0=cfg.p0,
        criterion=cfg.criterion,
        threshold=cfg.threshold,
        max_gap=cfg.max_gap,
        max_bins=cfg.max_bins,
        energy_min=axis.min,
        energy_max=axis.max,
    )
    return make_intervals(cfg.method, observations, region, options)


def _source(config, models):
    name = config.time_resolved.estimator.source
    sky_models = [model for model in models if isinstance(model, SkyModel)]
    if name is None:
        if len(sky_models) != 1:
            raise ConfigError(
                "time_resolved.estimator.source: name the fitted model, one of "
                f"{[model.name for model in sky_models]}"
            )
        return sky_models[0].name
    if name not in models.names:
        raise ConfigError(f"time_resolved.estimator.source: no model {name!r} in {models.names}")
    return name


CHECKPOINT = "checkpoint"
"""Folder of the checkpoint in the output folder, removed once the result is written."""


@dataclass
class AnalysisOutput:
    """What `run_analysis` made: the result, the flux states and the files written."""

    result: object
    flux_states: object = None
    files: list = field(default_factory=list)


def output_folder(config, output=None):
    """The output folder: ``output`` if given, else ``general.outdir``."""
    return Path(output) if output is not None else config.resolve_path(config.general.outdir)


def result_path(config, output=None):
    """The file of the result in the output folder."""
    fmt = config.time_resolved.output.format
    return output_folder(config, output) / f"{RESULT_NAME}{SUFFIXES[fmt]}"


def _check_output(config, output, resume, overwrite):
    """The output folder, made and checked writable before any work; the checkpoint in it."""
    folder = output_folder(config, output)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / ".gammapy-trs-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output folder: cannot write to {folder} ({error.strerror or error})") from None
    checkpoint = folder / CHECKPOINT
    if checkpoint.exists() and not resume:
        raise ConfigError(
            f"{checkpoint} holds the finished bins of an interrupted run: continue it with "
            "--resume, or remove that folder to start again."
        )
    path = result_path(config, output)
    if path.exists() and not (overwrite or resume):
        raise ConfigError(f"{path} exists: use --overwrite to replace it, or another --output folder")
    return folder, checkpoint


def _compare_model(name):
    if name is None:
        return None
    model = COMPARE_MODELS[name]()
    for par in model.parameters:
        if par.name in ("beta", "lambda_"):
            par.value = 0
    return model


def _sed_edges(config):
    edges = config.time_resolved.estimator.sed_energy_edges
    if edges is None or edges.min is None:
        return None
    return MapAxis.from_energy_bounds(edges.min, edges.max, nbin=edges.nbins).edges


def make_datasets(config):
    """Select the observations, make the time bins and reduce one dataset per slice.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.

    Returns
    -------
    datasets : `~gammapy.datasets.Datasets`
        Datasets, with the models of the configuration.
    intervals : list of `~astropy.time.Time`
        Time bins.
    source : str
        Name of the fitted model.
    """
    models = read_models(config)
    source = _source(config, models)
    makers = dataset_makers(config)
    observations = select_observations(config)
    region = on_region(config)
    intervals = _intervals(config, observations, region)
    log.info(
        f"{len(observations)} observations, {len(intervals)} time bins ({config.time_resolved.binning.method})."
    )
    datasets = TimeResolvedDatasetsMaker(makers, intervals, n_jobs=config.general.n_jobs).run(
        reference_dataset(config), observations
    )
    set_models(datasets, models)
    apply_fit_range(datasets, config)
    return datasets, intervals, source


def run_analysis(config, resume=False, output=None, overwrite=False):
    """Data store to result: select, bin, reduce in time slices, fit each bin, write.

    Each finished bin is kept in ``<output>/checkpoint`` until the result is
    written, so that an interrupted run can be resumed.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.
    resume : bool, optional
        Continue an interrupted run from its checkpoint (only the missing bins
        are fitted). Default is False.
    output : `~pathlib.Path`, optional
        Output folder. Default is None, ``general.outdir``.
    overwrite : bool, optional
        Replace the files of an earlier run. Default is False.

    Returns
    -------
    output : `AnalysisOutput`
        The result (also written), the flux states and the files written.
    """
    folder, checkpoint = _check_output(config, output, resume, overwrite)
    datasets, intervals, source = make_datasets(config)
    est = config.time_resolved.estimator
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals,
        source=source,
        selection_optional=est.selection_optional,
        energy_min=est.energy_min,
        energy_max=est.energy_max,
        sed_energy_edges=_sed_edges(config),
        compare_to=_compare_model(est.compare_to),
        n_jobs=config.general.n_jobs,
        parallel_backend=est.parallel_backend,
        max_bins=config.time_resolved.binning.max_bins,
        checkpoint=checkpoint,
        shared_parameters=est.shared_parameters,
    )
    result = estimator.run(datasets)
    if est.test_variability:
        result.meta.update(_variability_test(estimator, datasets, result, est.test_variability))
    out = AnalysisOutput(result)
    path = result_path(config, output)
    result.write(path, format=config.time_resolved.output.format, overwrite=True)
    out.files.append(path)
    shutil.rmtree(checkpoint)
    plots = config.time_resolved.output.plots
    if est.flux_states is not None:
        out.flux_states = _flux_states(result, datasets, est.flux_states, folder, plots, out.files)
    if plots:
        out.files.extend(_plots(result, folder))
    return out


def _variability_test(estimator, datasets, result, parameters):
    """The likelihood-ratio test of the parameters' variability, as meta data of the result."""
    test = estimator.test_variability(datasets, parameters, alternative=result)
    test = {key: value for key, value in test.items() if key not in ("null", "alternative")}
    log.info(f"Variability of {parameters}: {test}")
    meta = {f"variability_{key}": value for key, value in test.items()}
    meta["variability_parameters"] = ",".join(parameters)
    return meta


def _flux_states(result, datasets, cfg, folder, plots, files):
    """Spectra of the flux states, written to flux_states.ecsv (and plotted)."""
    states = fit_flux_states(
        result,
        datasets,
        method=cfg.method,
        n_states=cfg.n_states,
        thresholds=[u.Quantity(t) for t in cfg.thresholds] or None,
        p0=cfg.p0,
    )
    states.write(folder / "flux_states.ecsv", overwrite=True)
    files.append(folder / "flux_states.ecsv")
    shapes = [name for name in states.parameter_names if name not in NORM_NAMES]
    if plots and shapes:
        files.append(save_flux_states_figure(states, folder / "flux_states.png", shapes[0]))
    return states


def _plots(result, folder):
    """The parameters and a summary against time, the shape parameter against the flux, the spectra."""
    files = [save_parameters_figure(result, folder / "parameters.png")]
    files.append(save_summary_figure(result, folder / "summary.png"))
    shapes = [name for name in result.parameter_names if name not in NORM_NAMES]
    norms = [name for name in result.parameter_names if name in NORM_NAMES]
    x = "flux" if "flux" in result.available_quantities else (norms or [None])[0]
    if shapes and x is not None:
        files.append(save_hysteresis_figure(result, folder / "hysteresis.png", x, shapes[0]))
    files.append(save_spectra_figure(result, folder / "spectra.png"))
    return files
