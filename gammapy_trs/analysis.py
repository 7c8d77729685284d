"""Run a time-resolved analysis described by a `~gammapy_trs.config.TRSConfig`."""

import logging
from pathlib import Path
import astropy.units as u
from astropy.coordinates import SkyCoord
from astropy.time import Time
from regions import CircleSkyRegion
from gammapy.data import DataStore
from gammapy.datasets import SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SafeMaskMaker, SpectrumDatasetMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.modeling.models import (
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    SkyModel,
)
from gammapy.utils.scripts import make_path
from . import binning
from .config import ConfigError
from .estimator import TimeResolvedSpectrumEstimator
from .reduction import TimeResolvedDatasetsMaker

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


def _intervals(config, observations, on_region):
    cfg = config.binning
    if cfg.method in ("observation", "gti"):
        return binning.observation_intervals(observations, per=cfg.method)
    start = Time(cfg.start) if cfg.start else min(o.gti.time_start[0] for o in observations)
    stop = Time(cfg.stop) if cfg.stop else max(o.gti.time_stop[-1] for o in observations)
    if cfg.method == "fixed":
        return binning.fixed_width_intervals(start, stop, cfg.width)

    axis = config.energy_axis
    times = binning.on_off_event_times(
        observations, on_region, energy_min=u.Quantity(axis.min), energy_max=u.Quantity(axis.max)
    )
    per_obs = binning.observation_intervals(observations)
    if cfg.method == "bayesian-blocks":
        return binning.bayesian_block_intervals(
            times["on"], p0=cfg.p0, off_times=times["off"], alpha_off=times["alpha_off"], gti=per_obs
        )
    fine = [i for t0, t1 in per_obs for i in binning.fixed_width_intervals(t0, t1, cfg.width)]
    n_off = binning.count_in_intervals(times["off"], fine)
    weighted = binning.count_in_intervals(times["off"], fine, weights=times["alpha_off"])
    alpha = [w / n if n > 0 else 0.1 for w, n in zip(weighted, n_off)]
    return binning.adaptive_intervals(
        fine, binning.count_in_intervals(times["on"], fine), n_off, alpha,
        criterion=cfg.criterion, threshold=cfg.threshold, max_gap=cfg.max_gap,
    )


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


def run_analysis(config):
    """Data store to result: select, bin, reduce in time slices, fit each bin, write.

    Parameters
    ----------
    config : `~gammapy_trs.config.TRSConfig`
        Configuration.

    Returns
    -------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        The result, also written to ``config.output.path``.
    """
    if config.on_region.containment_correction and "psf" not in config.data.required_irf:
        raise ConfigError(
            "on_region.containment_correction needs a PSF: add psf to data.required_irf "
            "or set containment_correction: false"
        )
    observations = _observations(config)
    center = SkyCoord(config.on_region.ra, config.on_region.dec, unit="deg")
    on_region = CircleSkyRegion(center, u.Quantity(config.on_region.radius))
    intervals = _intervals(config, observations, on_region)
    log.info(f"{len(observations)} observations, {len(intervals)} time bins ({config.binning.method}).")

    axes = {}
    for name in ("energy_axis", "energy_axis_true"):
        cfg = getattr(config, name)
        axes[name] = MapAxis.from_energy_bounds(
            cfg.min, cfg.max, nbin=cfg.nbins, name="energy" if name == "energy_axis" else "energy_true"
        )
    geom = RegionGeom.create(region=on_region, axes=[axes["energy_axis"]])
    empty = SpectrumDataset.create(geom=geom, energy_axis_true=axes["energy_axis_true"])
    makers = [
        SpectrumDatasetMaker(
            containment_correction=config.on_region.containment_correction,
            selection=["counts", "exposure", "edisp"],
        ),
        ReflectedRegionsBackgroundMaker(),
        SafeMaskMaker(methods=["aeff-max"], aeff_percent=10),
    ]
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
    )
    result = estimator.run(datasets)

    output = Path(config.output.path)
    output.mkdir(parents=True, exist_ok=True)
    result.write(output / f"time_resolved_spectrum.{config.output.format}", overwrite=True)
    if config.output.plots:
        _plots(result, output)
    return result


def _plots(result, output):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = result.parameter_names
    fig, axes = plt.subplots(len(names), 1, figsize=(9, 3.2 * len(names)), sharex=True, squeeze=False)
    for ax, name in zip(axes[:, 0], names):
        result.plot(name, ax=ax)
    fig.tight_layout()
    fig.savefig(output / "parameters.png", dpi=100)
    plt.close(fig)
    if len(names) >= 2:
        fig, ax = plt.subplots(figsize=(7, 5))
        x = "flux" if "flux" in result.available_quantities else names[1]
        result.plot_correlation(x, names[0], ax=ax)
        fig.tight_layout()
        fig.savefig(output / "hysteresis.png", dpi=100)
        plt.close(fig)
