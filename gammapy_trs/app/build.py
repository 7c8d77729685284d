"""The objects a configuration describes, all made here: observations, reference dataset, makers
and models (as Gammapy's `~gammapy.analysis.Analysis` makes them), the time bins, the estimator
and its options.

The translation of Gammapy's sections is written here with Gammapy's public
classes (Gammapy's own is in private methods of `~gammapy.analysis.Analysis`,
whose constructor also configures the root logger).
"""

import copy
import logging
import numpy as np
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.table import Table
from astropy.time import Time
from regions import CircleSkyRegion
from gammapy.data import DataStore
from gammapy.datasets import MapDataset, SpectrumDataset
from gammapy.makers import (
    FoVBackgroundMaker,
    MapDatasetMaker,
    ReflectedRegionsBackgroundMaker,
    SafeMaskMaker,
    SpectrumDatasetMaker,
)
from gammapy.maps import Map, MapAxis, RegionGeom, WcsGeom
from gammapy.modeling.models import FoVBackgroundModel, Models, SkyModel
from ..binning import BinningOptions, make_intervals
from ..estimation import TimeResolvedSpectrumEstimator
from ..estimation.steps.compare import named_alternative
from ..reduction import TimeResolvedDatasetsMaker
from .config import ConfigError

__all__ = [
    "apply_fit_range",
    "dataset_makers",
    "flux_state_options",
    "make_datasets_maker",
    "make_estimator",
    "make_time_intervals",
    "on_region",
    "read_models",
    "reference_dataset",
    "select_observations",
    "set_models",
    "source_name",
]

log = logging.getLogger(__name__)

BACKGROUND_METHODS = {"1d": ("reflected",), "3d": ("fov_background",)}
"""Background methods per dataset type (the ring method makes no time-sliced datasets)."""


def _data_store(config):
    path = config.resolve_path(config.observations.datastore)
    if path.is_file():
        return DataStore.from_file(path)
    if (path / "hdu-index.fits.gz").exists() or (path / "hdu-index.fits").exists():
        return DataStore.from_dir(path)
    raise ConfigError(f"observations.datastore: no data store (hdu-index table) in {path}")


def _obs_ids(config, data_store):
    """Observation ids as `~gammapy.analysis.Analysis` selects them: ids or file, then the cone."""
    settings = config.observations
    if settings.obs_ids and settings.obs_file is not None:
        raise ConfigError("observations: give obs_ids or obs_file, not both")
    table = data_store.obs_table
    if settings.obs_ids:
        table = table.select_obs_id(settings.obs_ids)
    elif settings.obs_file is not None:
        path = config.resolve_path(settings.obs_file)
        table = table.select_obs_id(list(Table.read(path, format="ascii", data_start=0).columns[0]))
    cone = settings.obs_cone
    if cone.lon is not None:
        selection = dict(
            type="sky_circle", frame=cone.frame, lon=cone.lon, lat=cone.lat, radius=cone.radius, border="0 deg"
        )
        table = table.select_observations(selection)
    return list(_within_fixed_bins(config, table)["OBS_ID"])


def _within_fixed_bins(config, table):
    """The rows of an observation table whose TSTART-TSTOP overlaps the range of fixed-width bins
    given by ``binning.start`` and ``stop`` (the others would give no slice; their files are not
    opened); the whole table for other binnings, or without TSTART and TSTOP."""
    binning = config.time_resolved.binning
    bounded = binning.method == "fixed" and binning.start is not None and binning.stop is not None
    if not bounded or not {"TSTART", "TSTOP"} <= set(table.colnames) or len(table) == 0:
        return table
    selected = table.select_time_range(Time([binning.start, binning.stop]), partial_overlap=True)
    if len(selected) == 0:
        raise ConfigError(
            f"time_resolved.binning: no observation overlaps the bins ({binning.start} - {binning.stop}); the "
            f"{len(table)} observations selected span {table.time_start.min().isot} - {table.time_stop.max().isot}"
        )
    if len(selected) < len(table):
        log.info(f"{len(table) - len(selected)} observations lie outside the bins ({binning.start} - {binning.stop}).")
    return selected


def select_observations(config):
    """The observations of the ``observations`` section.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.

    Returns
    -------
    observations : `~gammapy.data.Observations`
        Observations, cut to ``obs_time`` when it is set.
    """
    settings = config.observations
    data_store = _data_store(config)
    observations = data_store.get_observations(
        _obs_ids(config, data_store), skip_missing=True, required_irf=settings.required_irf
    )
    if settings.obs_time.start is not None:
        start, stop = settings.obs_time.start, settings.obs_time.stop
        intervals = [(start, stop)] if start.isscalar else list(zip(start, stop))
        observations = observations.select_time(intervals)
    if len(observations) == 0:
        raise ConfigError(
            "observations: no observation selected (check obs_ids, obs_file, obs_cone, obs_time, required_irf)"
        )
    return observations


def _energy_axis(settings, name):
    return MapAxis.from_energy_bounds(settings.min, settings.max, nbin=settings.nbins, name=name)


def on_region(config):
    """The circular ON region of ``datasets.on_region``, or None when it is not set."""
    settings = config.datasets.on_region
    if settings.lon is None:
        return None
    center = SkyCoord(settings.lon, settings.lat, frame=settings.frame)
    return CircleSkyRegion(center=center, radius=settings.radius)


def _skydir(config):
    """The map centre: ``geom.wcs.skydir``, else the ON region or the observation cone."""
    for settings in (config.datasets.geom.wcs.skydir, config.datasets.on_region, config.observations.obs_cone):
        if settings.lon is not None:
            return SkyCoord(settings.lon, settings.lat, frame=settings.frame)
    raise ConfigError("datasets.geom.wcs.skydir: a 3d analysis needs a map centre")


def reference_dataset(config):
    """The empty dataset every slice is reduced into (``datasets.type`` and ``datasets.geom``).

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.

    Returns
    -------
    dataset : `~gammapy.datasets.SpectrumDataset` or `~gammapy.datasets.MapDataset`
        Empty dataset.
    """
    settings = config.datasets
    axes = settings.geom.axes
    energy = _energy_axis(axes.energy, "energy")
    energy_true = _energy_axis(axes.energy_true, "energy_true")
    if settings.type == "1d":
        region = on_region(config)
        if region is None:
            raise ConfigError("datasets.on_region: a 1d analysis needs an ON region (frame, lon, lat, radius)")
        geom = RegionGeom.create(region=region, axes=[energy])
        return SpectrumDataset.create(geom=geom, energy_axis_true=energy_true)
    wcs = settings.geom.wcs
    skydir = _skydir(config)
    geom = WcsGeom.create(
        skydir=skydir,
        frame=wcs.skydir.frame or skydir.frame.name,
        binsz=wcs.binsize.to_value("deg"),
        width=(wcs.width.width.to_value("deg"), wcs.width.height.to_value("deg")),
        axes=[energy],
    )
    return MapDataset.create(geom=geom, energy_axis_true=energy_true, binsz_irf=wcs.binsize_irf.to_value("deg"))


def _background_maker(config):
    settings = config.datasets.background
    kind = config.datasets.type
    if settings.method is None:
        raise ConfigError(
            f"datasets.background.method: a {kind} analysis needs one of {list(BACKGROUND_METHODS[kind])}"
        )
    if settings.method not in BACKGROUND_METHODS[kind]:
        raise ConfigError(
            f"datasets.background.method: {settings.method!r} is not available for a {kind} "
            f"time-resolved analysis; use one of {list(BACKGROUND_METHODS[kind])}"
        )
    options = dict(settings.parameters)
    if settings.exclusion is not None:
        mask = Map.read(config.resolve_path(settings.exclusion))
        mask.data = mask.data.astype(bool)
        options["exclusion_mask"] = mask
    maker = {"reflected": ReflectedRegionsBackgroundMaker, "fov_background": FoVBackgroundMaker}[settings.method]
    try:
        return maker(**options)
    except TypeError as error:
        raise ConfigError(f"datasets.background.parameters: {error}") from None


def dataset_makers(config):
    """The makers of ``datasets``, in Gammapy's order for the dataset type.

    1d: dataset maker (counts, exposure, edisp), background, safe mask;
    3d: dataset maker (``map_selection``), safe mask, background.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.

    Returns
    -------
    makers : list of `~gammapy.makers.Maker`
        Makers.
    """
    settings = config.datasets
    try:
        safe_mask = SafeMaskMaker(methods=settings.safe_mask.methods, **settings.safe_mask.parameters)
    except TypeError as error:
        raise ConfigError(f"datasets.safe_mask.parameters: {error}") from None
    background = _background_maker(config)
    if settings.type == "1d":
        if settings.containment_correction and "psf" not in config.observations.required_irf:
            raise ConfigError(
                "datasets.containment_correction needs a PSF: add psf to observations.required_irf "
                "or set containment_correction: false"
            )
        maker = SpectrumDatasetMaker(
            containment_correction=settings.containment_correction, selection=["counts", "exposure", "edisp"]
        )
        return [maker, background, safe_mask]
    return [MapDatasetMaker(selection=settings.map_selection), safe_mask, background]


def read_models(config):
    """The models of ``general.models_file`` or else of ``time_resolved.models``.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.

    Returns
    -------
    models : `~gammapy.modeling.models.Models`
        Models.
    """
    path, inline = config.general.models_file, config.time_resolved.models
    if (path is None) == (inline is None):
        raise ConfigError(
            "models: give either general.models_file (a Gammapy models YAML file) or time_resolved.models"
        )
    try:
        if path is not None:
            path = config.resolve_path(path)
            if not path.is_file():
                raise ConfigError(f"general.models_file: no file {path}")
            return Models.read(path)
        return Models.from_dict(copy.deepcopy(inline))  # Gammapy pops keys from the dict it reads
    except (KeyError, ValueError, TypeError) as error:
        where = "general.models_file" if path is not None else "time_resolved.models"
        raise ConfigError(f"{where}: not valid Gammapy models ({type(error).__name__}: {error})") from None


def set_models(datasets, models):
    """Give the datasets the models, after the ones the makers set (e.g. the background models of
    `~gammapy.makers.FoVBackgroundMaker`), with a `~gammapy.modeling.models.FoVBackgroundModel`
    for each map dataset that has none (as `~gammapy.analysis.Analysis.set_models`)."""
    models = Models(models)
    names = set(models.names)
    models.extend([model for model in datasets.models if model.name not in names])
    datasets.models = models
    missing = [
        FoVBackgroundModel(dataset_name=dataset.name)
        for dataset in datasets
        if dataset.tag == "MapDataset" and dataset.background_model is None
    ]
    if missing:  # set again only then: Gammapy's setter remakes every dataset's evaluators
        models.extend(missing)
        datasets.models = models


def apply_fit_range(datasets, config):
    """Restrict the fits to ``fit.fit_range`` (as `~gammapy.analysis.Analysis.run_fit`)."""
    fit_range = config.fit.fit_range
    if fit_range.min is None and fit_range.max is None:
        return
    for dataset in datasets:
        dataset.mask_fit = dataset.counts.geom.energy_mask(fit_range.min, fit_range.max)
        if not np.any(dataset.mask):
            log.warning(f"Dataset {dataset.name}: no energy bin left within fit.fit_range and the safe mask")


def make_time_intervals(config, observations, region):
    """The time bins of ``time_resolved.binning``.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.
    observations : `~gammapy.data.Observations`
        Observations.
    region : `~regions.SkyRegion`
        ON region (whose events some binning methods count).

    Returns
    -------
    intervals : list of `~astropy.time.Time`
        The bins.
    """
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


def source_name(config, models):
    """The name of the fitted model: ``time_resolved.estimator.source``, or the only sky model."""
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


def make_datasets_maker(config, intervals):
    """The time-sliced reduction of the configuration's makers, with ``general.n_jobs`` and the backend.

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.
    intervals : list of `~astropy.time.Time`
        The time bins.

    Returns
    -------
    maker : `~gammapy_trs.TimeResolvedDatasetsMaker`
        The maker.
    """
    return TimeResolvedDatasetsMaker(
        dataset_makers(config),
        intervals,
        n_jobs=config.general.n_jobs,
        parallel_backend=config.time_resolved.estimator.parallel_backend,
    )


def _sed_edges(config):
    edges = config.time_resolved.estimator.sed_energy_edges
    if edges is None or edges.min is None:
        return None
    return MapAxis.from_energy_bounds(edges.min, edges.max, nbin=edges.nbins).edges


def _compare_to(est):
    """The named alternative of ``compare_to``, with the priors of ``posterior.compare_priors``."""
    from gammapy.modeling.models import PRIOR_REGISTRY

    if est.compare_to is None:
        return None
    model = named_alternative(est.compare_to)
    for name, spec in est.posterior.compare_priors.items():
        if name not in model.parameters.names:
            raise ValueError(f"compare_priors: {est.compare_to} has no parameter {name!r}; it has {model.parameters.names}.")
        spec = dict(spec)
        model.parameters[name].prior = PRIOR_REGISTRY.get_cls(spec.pop("type"))(**spec)
    return model


def make_estimator(config, intervals, source, checkpoint=None):
    """The estimator of ``time_resolved.estimator`` (and ``general.n_jobs``).

    Parameters
    ----------
    config : `~gammapy_trs.app.config.TRSConfig`
        Configuration.
    intervals : list of `~astropy.time.Time`
        The time bins.
    source : str
        Name of the fitted model.
    checkpoint : `~pathlib.Path`, optional
        Checkpoint folder. Default is None.

    Returns
    -------
    estimator : `~gammapy_trs.TimeResolvedSpectrumEstimator`
        The estimator.
    """
    est = config.time_resolved.estimator
    return TimeResolvedSpectrumEstimator(
        time_intervals=intervals,
        source=source,
        selection_optional=est.selection_optional,
        n_sigma=est.n_sigma,
        n_sigma_ul=est.n_sigma_ul,
        sqrt_ts_threshold_ul=est.sqrt_ts_threshold_ul,
        sqrt_ts_threshold_shape=est.sqrt_ts_threshold_shape,
        ul_shape=est.ul_shape,
        energy_min=est.energy_min,
        energy_max=est.energy_max,
        sed_energy_edges=_sed_edges(config),
        compare_to=_compare_to(est),
        n_jobs=config.general.n_jobs,
        parallel_backend=est.parallel_backend,
        engine=est.engine,
        atol=est.atol,
        max_bins=config.time_resolved.binning.max_bins,
        checkpoint=checkpoint,
        shared_parameters=est.shared_parameters,
        credible_level=est.posterior.credible_level,
        credible_level_ul=est.posterior.credible_level_ul,
        sampler_opts=dict(
            live_points=est.posterior.live_points,
            frac_remain=est.posterior.frac_remain,
            n_samples=est.posterior.n_samples,
            min_ess=est.posterior.min_ess,
        ),
        random_state=est.posterior.random_state,
    )


def flux_state_options(cfg):
    """The options of `~gammapy_trs.estimation.flux_states.fit_flux_states` of a ``flux_states`` section.

    Parameters
    ----------
    cfg : `~gammapy_trs.app.config.FluxStatesConfig`
        The section.

    Returns
    -------
    options : dict
        ``method``, ``n_states``, ``thresholds`` (fluxes, or None) and ``p0``.
    """
    thresholds = [u.Quantity(value) for value in cfg.thresholds] or None
    return dict(method=cfg.method, n_states=cfg.n_states, thresholds=thresholds, p0=cfg.p0)
