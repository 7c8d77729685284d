"""Run a time-resolved analysis described by a `~gammapy_trs.app.config.TRSConfig`."""

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from ..estimation.change_points import find_shape_blocks
from ..estimation.law_simulations import simulate_law_test
from ..estimation.checkpoint import MANIFEST
from ..estimation.laws import fit_law
from ..estimation.flux_states import fit_flux_states
from ..utils.parameters import NORM_NAMES
from .config import ConfigError
from ..result.figures import (
    result_figures,
    save_flux_states_figure,
    save_law_figure,
    save_population_figure,
    save_shape_blocks_figure,
)
from .build import (
    apply_fit_range,
    flux_state_options,
    make_datasets_maker,
    make_estimator,
    make_time_intervals,
    on_region,
    read_models,
    reference_dataset,
    select_observations,
    set_models,
    source_name,
)

__all__ = [
    "AnalysisOutput",
    "PROVENANCE_NAME",
    "RESULT_NAME",
    "make_datasets",
    "output_folder",
    "read_provenance",
    "result_path",
    "run_analysis",
]

log = logging.getLogger(__name__)

RESULT_NAME = "time_resolved_spectrum"
SUFFIXES = {"fits": ".fits", "ecsv": ".ecsv", "lightcurve": "_lightcurve.fits"}


PROVENANCE_NAME = "provenance.yaml"
"""File of the run's provenance in the output folder (what ``gammapy-trs report`` shows)."""

CHECKPOINT = "checkpoint"
"""Folder of the checkpoint in the output folder, removed once the result is written."""


@dataclass
class AnalysisOutput:
    """What `run_analysis` made: the result, the flux states and the files written."""

    result: object
    flux_states: object = None
    shape_blocks: object = None
    laws: list = field(default_factory=list)
    populations: list = field(default_factory=list)
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
    source = source_name(config, models)
    observations = select_observations(config)
    intervals = make_time_intervals(config, observations, on_region(config))
    log.info(
        f"{len(observations)} observations, {len(intervals)} time bins ({config.time_resolved.binning.method})."
    )
    datasets = make_datasets_maker(config, intervals).run(reference_dataset(config), observations)
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
    estimator = make_estimator(config, intervals, source, checkpoint=checkpoint)
    try:
        result = estimator.run(datasets)
    except Exception:
        _drop_empty_checkpoint(checkpoint)  # an error before the first bin leaves nothing to resume
        raise
    if est.test_variability:
        result.meta.update(_variability_test(estimator, datasets, result, est.test_variability))
    out = AnalysisOutput(result)
    path = result_path(config, output)
    result.write(path, format=config.time_resolved.output.format, overwrite=True)
    out.files.append(path)
    out.files.append(_write_provenance(config, datasets, folder))
    shutil.rmtree(checkpoint)
    plots = config.time_resolved.output.plots
    if est.flux_states is not None:
        out.flux_states = _flux_states(result, datasets, est.flux_states, folder, plots, out.files)
    if est.change_points is not None:
        out.shape_blocks = _shape_blocks(result, datasets, config, folder, plots, out.files)
    for law in est.laws:
        out.laws.append(_law(result, datasets, config, law, folder, plots, out.files))
    for parameter in est.posterior.population if "posterior" in result.products else ():
        out.populations.append(_population(result, parameter, folder, plots, out.files))
    if plots:
        out.files.extend(result_figures(result, folder))
    return out


def _drop_empty_checkpoint(checkpoint):
    """Remove a checkpoint that holds no finished bin (only its manifest, or nothing)."""
    if checkpoint.is_dir() and all(path.name == MANIFEST for path in checkpoint.iterdir()):
        shutil.rmtree(checkpoint)


def _write_provenance(config, datasets, folder):
    """What the result was made from (data store, observations, configuration, time), as YAML."""
    from datetime import datetime, timezone
    import yaml
    from ..utils.files import atomic_write

    obs_ids = sorted({name.rsplit("-", 1)[0] for name in datasets.names})
    provenance = {
        "run finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"),
        "data store": str(config.observations.datastore),
        "observations": ", ".join(obs_ids),
        "datasets": len(datasets),
        "configuration": config.to_yaml(),
    }
    path = folder / PROVENANCE_NAME
    text = yaml.safe_dump(provenance, sort_keys=False, allow_unicode=True)
    atomic_write(path, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))
    return path


def read_provenance(folder):
    """The provenance a run wrote into a folder (`PROVENANCE_NAME`), a dict, or None."""
    import yaml

    path = Path(folder) / PROVENANCE_NAME
    return yaml.safe_load(path.read_text(encoding="utf-8")) if path.is_file() else None


def _variability_test(estimator, datasets, result, parameters):
    """The likelihood-ratio test of the parameters' variability, as meta data of the result."""
    test = estimator.test_variability(datasets, parameters, alternative=result)
    test = {key: value for key, value in test.items() if key not in ("null", "alternative")}
    log.info(f"Variability of {parameters}: {test}")
    meta = {f"variability_{key}": value for key, value in test.items()}
    meta["variability_parameters"] = ",".join(parameters)
    return meta


def _shape_blocks(result, datasets, config, folder, plots, files):
    """The change points of the shape, written to shape_blocks.ecsv (and plotted)."""
    cfg, est = config.time_resolved.estimator.change_points, config.time_resolved.estimator
    blocks = find_shape_blocks(
        result, datasets, cfg.parameters, p0=cfg.p0, penalty=cfg.penalty, n_grid=cfg.n_grid,
        engine=est.engine, n_jobs=config.general.n_jobs, parallel_backend=est.parallel_backend, atol=est.atol,
    )
    blocks.write(folder / "shape_blocks.ecsv", overwrite=True)
    files.append(folder / "shape_blocks.ecsv")
    if plots:
        files.append(save_shape_blocks_figure(blocks, folder / "shape_blocks.png", cfg.parameters[0], spectrum=result))
    return blocks


def law_file_name(law):
    """The file of a law's fit in the output folder, e.g. ``law_index_flux.ecsv``."""
    return f"law_{law.parameter}_{law.covariate}.ecsv"


def _law(result, datasets, config, cfg, folder, plots, files):
    """A law of a shape parameter across the bins, written to law_<parameter>_<covariate>.ecsv (and plotted)."""
    est = config.time_resolved.estimator
    law = fit_law(
        result, datasets, cfg.parameter, law=cfg.law, covariate=cfg.covariate, n_sigma=cfg.n_sigma,
        engine=est.engine, n_jobs=config.general.n_jobs, parallel_backend=est.parallel_backend, atol=est.atol,
    )
    if cfg.n_simulations:
        law = simulate_law_test(
            law, result, datasets, n_simulations=cfg.n_simulations, engine=est.engine, n_jobs=config.general.n_jobs,
            parallel_backend=est.parallel_backend, atol=est.atol,
        )
    path = folder / law_file_name(cfg)
    law.write(path, overwrite=True)
    files.append(path)
    if plots:
        files.append(save_law_figure(law, path.with_suffix(".png")))
    return law


def _population(result, parameter, folder, plots, files):
    """The population of a parameter's posteriors, written to population_<parameter>.ecsv (and plotted)."""
    population = result.population(parameter)
    path = folder / f"population_{parameter}.ecsv"
    population.write(path, overwrite=True)
    files.append(path)
    if plots:
        files.append(save_population_figure(population, path.with_suffix(".png")))
    return population


def _flux_states(result, datasets, cfg, folder, plots, files):
    """Spectra of the flux states, written to flux_states.ecsv (and plotted)."""
    states = fit_flux_states(result, datasets, **flux_state_options(cfg))
    states.write(folder / "flux_states.ecsv", overwrite=True)
    files.append(folder / "flux_states.ecsv")
    shapes = [name for name in states.parameter_names if name not in NORM_NAMES]
    if plots and shapes:
        files.append(save_flux_states_figure(states, folder / "flux_states.png", shapes[0]))
    return states
