"""Run a time-resolved analysis described by a `~gammapy_trs.config.TRSConfig`."""

import logging
import shutil
from pathlib import Path
import astropy.units as u
from astropy.coordinates import SkyCoord
from gammapy.data import DataStore
from gammapy.maps import MapAxis
from gammapy.modeling.models import (
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy.utils.scripts import make_path
from ..binning import BinningOptions, make_intervals
from ..estimation import TimeResolvedSpectrumEstimator
from ..estimation.flux_states import fit_flux_states
from ..reduction import TimeResolvedDatasetsMaker
from ..samples.spectrum_setup import empty_spectrum_dataset, on_region, reflected_region_makers
from ..utils.parameters import NORM_NAMES
from .config import ConfigError
from .figures import save_flux_states_figure, save_hysteresis_figure, save_parameters_figure

__all__ = ["run_analysis"]

log = logging.getLogger(__name__)

SPECTRAL_MODELS = {
    "PowerLaw": PowerLawSpectralModel,
    "LogParabola": LogParabolaSpectralModel,
    "ExpCutoffPowerLaw": ExpCutoffPowerLawSpectralModel,
}


def _observations(config):
    path = make_path(config.data.datastore)
    if not (path / "hdu-index.fits.gz").exists() and not (path / "hdu-index.fits").exists():
        raise ConfigError(f"data.datastore: no data store (hdu-index table) in {path}")
    data_store = DataStore.from_dir(path)
    obs_ids = config.data.obs_ids
    if not obs_ids:
        center = SkyCoord(config.on_region.ra, config.on_region.dec, unit="deg")
        selection = dict(
            type="sky_circle", frame="icrs", lon=center.ra, lat=center.dec,
            radius=u.Quantity(config.data.cone_radius),
        )
        obs_ids = list(data_store.obs_table.select_observations(selection)["OBS_ID"])
    observations = data_store.get_observations(obs_ids, required_irf=config.data.required_irf)
    if len(observations) == 0:
        raise ConfigError("data: no observation selected (check obs_ids, cone_radius, required_irf)")
    return observations


def _intervals(config, observations, region):
    cfg = config.binning
    options = BinningOptions(
        start=cfg.start,
        stop=cfg.stop,
        width=cfg.width,
        p0=cfg.p0,
        criterion=cfg.criterion,
        threshold=cfg.threshold,
        max_gap=cfg.max_gap,
        max_bins=cfg.max_bins,
        energy_min=u.Quantity(config.energy_axis.min),
        energy_max=u.Quantity(config.energy_axis.max),
    )
    return make_intervals(cfg.method, observations, region, options)


def _model(config):
    cfg = config.model
    spectral = SPECTRAL_MODELS[cfg.type]()
    for name, value in cfg.parameters.items():
        if name not in spectral.parameters.names:
            raise ConfigError(
                f"model.parameters: {cfg.type} has no parameter {name!r}; "
                f"it has {spectral.parameters.names}"
            )
        spectral.parameters[name].quantity = u.Quantity(value)
    for name in cfg.frozen:
        if name not in spectral.parameters.names:
            raise ConfigError(f"model.frozen: {cfg.type} has no parameter {name!r}")
        spectral.parameters[name].frozen = True
    return SkyModel(spectral_model=spectral, name=cfg.name)


CHECKPOINT = "checkpoint"
"""Folder of the checkpoint in the output folder, removed once the result is written."""


def _output_folder(config, resume):
    """The output folder, made and checked writable before any work; the checkpoint in it."""
    output = Path(config.output.path)
    try:
        output.mkdir(parents=True, exist_ok=True)
        probe = output / ".gammapy-trs-write-test"
        probe.write_text("")
        probe.unlink()
    except OSError as error:
        raise ConfigError(f"output.path: cannot write to {output} ({error.strerror or error})") from None
    checkpoint = output / CHECKPOINT
    if checkpoint.exists() and not resume:
        raise ConfigError(
            f"{checkpoint} holds the finished bins of an interrupted run: continue it with "
            "--resume, or remove that folder to start again."
        )
    return output, checkpoint


def run_analysis(config, resume=False):
    """Data store to result: select, bin, reduce in time slices, fit each bin, write.

    Each finished bin is kept in ``<output.path>/checkpoint`` until the result
    is written, so that an interrupted run can be resumed.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.
    resume : bool, optional
        Continue an interrupted run from its checkpoint (only the missing bins
        are fitted). Default is False.

    Returns
    -------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        The result, also written to ``config.output.path``.
    """
    output, checkpoint = _output_folder(config, resume)
    if config.on_region.containment_correction and "psf" not in config.data.required_irf:
        raise ConfigError(
            "on_region.containment_correction needs a PSF: add psf to data.required_irf "
            "or set containment_correction: false"
        )
    observations = _observations(config)
    center = SkyCoord(config.on_region.ra, config.on_region.dec, unit="deg")
    region = on_region(center, config.on_region.radius)
    intervals = _intervals(config, observations, region)
    log.info(f"{len(observations)} observations, {len(intervals)} time bins ({config.binning.method}).")

    axes = {}
    for name in ("energy_axis", "energy_axis_true"):
        cfg = getattr(config, name)
        axes[name] = MapAxis.from_energy_bounds(
            cfg.min, cfg.max, nbin=cfg.nbins, name="energy" if name == "energy_axis" else "energy_true"
        )
    empty = empty_spectrum_dataset(region, axes["energy_axis"], axes["energy_axis_true"])
    makers = reflected_region_makers(
        containment_correction=config.on_region.containment_correction, aeff_percent=10
    )
    datasets = TimeResolvedDatasetsMaker(makers, intervals, n_jobs=config.estimator.n_jobs).run(
        empty, observations
    )
    model = _model(config)
    datasets.models = model
    est = config.estimator
    compare = SPECTRAL_MODELS[est.compare_to]() if est.compare_to else None
    if compare is not None:
        for par in compare.parameters:
            if par.name in ("beta", "lambda_"):
                par.value = 0
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=intervals,
        source=model.name,
        selection_optional=est.selection_optional,
        energy_min=est.energy_min,
        energy_max=est.energy_max,
        compare_to=compare,
        n_jobs=est.n_jobs,
        parallel_backend=est.parallel_backend,
        max_bins=config.binning.max_bins,
        checkpoint=checkpoint,
        shared_parameters=est.shared_parameters,
    )
    result = estimator.run(datasets)
    if est.test_variability:
        result.meta.update(_variability_test(estimator, datasets, result, est.test_variability))
    result.write(output / f"time_resolved_spectrum.{config.output.format}", overwrite=True)
    shutil.rmtree(checkpoint)
    if est.flux_states is not None:
        _flux_states(result, datasets, est.flux_states, output, config.output.plots)
    if config.output.plots:
        _plots(result, output)
    return result


def _variability_test(estimator, datasets, result, parameters):
    """The likelihood-ratio test of the parameters' variability, as meta data of the result."""
    test = estimator.test_variability(datasets, parameters, alternative=result)
    test = {key: value for key, value in test.items() if key not in ("null", "alternative")}
    log.info(f"Variability of {parameters}: {test}")
    meta = {f"variability_{key}": value for key, value in test.items()}
    meta["variability_parameters"] = ",".join(parameters)
    return meta


def _flux_states(result, datasets, cfg, output, plots):
    """Spectra of the flux states, written to flux_states.ecsv (and plotted)."""
    states = fit_flux_states(
        result,
        datasets,
        method=cfg.method,
        n_states=cfg.n_states,
        thresholds=[u.Quantity(t) for t in cfg.thresholds] or None,
        p0=cfg.p0,
    )
    states.write(output / "flux_states.ecsv", overwrite=True)
    if plots:
        shapes = [name for name in states.parameter_names if name not in NORM_NAMES]
        if shapes:
            save_flux_states_figure(states, output / "flux_states.png", shapes[0])
    return states


def _plots(result, output):
    """The parameters against time, and the shape parameter against the flux (or the norm)."""
    save_parameters_figure(result, output / "parameters.png")
    names = result.parameter_names
    shapes = [name for name in names if name not in NORM_NAMES]
    if shapes and len(names) >= 2:
        norms = [name for name in names if name in NORM_NAMES]
        x = "flux" if "flux" in result.available_quantities else (norms or names)[0]
        save_hysteresis_figure(result, output / "hysteresis.png", x, shapes[0])
