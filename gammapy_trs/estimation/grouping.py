"""The datasets of each time bin."""

import dataclasses
import logging
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.data import GTI
from gammapy.datasets import Datasets
from ..binning.intervals import as_gti
from ..engine import select_engine
from ..utils.parallel import Runner
from ..utils.parameters import SourceParameters

__all__ = ["BinSetup", "bin_setup", "datasets_gti", "group_datasets"]

log = logging.getLogger(__name__)


def datasets_gti(datasets, atol):
    """One bin per dataset: the distinct GTIs of the datasets, which must not overlap.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets.
    atol : `~astropy.units.Quantity`
        Tolerance on time comparisons.

    Returns
    -------
    gti : `~gammapy.data.GTI`
        The bins.
    """
    gti = datasets.gti
    spans = np.stack([gti.time_start.mjd, gti.time_stop.mjd], axis=1)
    _, index = np.unique(spans, axis=0, return_index=True)
    unique = GTI.create(gti.time_start[index], gti.time_stop[index], gti.time_ref)
    try:
        return as_gti(unique, atol=atol)
    except ValueError as error:
        raise ValueError(
            f"{error} With time_intervals=None each dataset is a bin, so datasets "
            "must not overlap in time: give time_intervals explicitly."
        ) from None


def group_datasets(datasets, gti, atol):
    """Datasets of each time bin; empty bins are dropped with a log line.

    A dataset belongs to a bin if its GTI lies within the bin, within
    ``atol`` (the rule of `~gammapy.datasets.Datasets.select_time`),
    evaluated on arrays so that it scales to thousands of bins. A dataset that
    straddles a bin edge is left out with a warning.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets.
    gti : `~gammapy.data.GTI`
        The bins.
    atol : `~astropy.units.Quantity`
        Tolerance on time comparisons.

    Returns
    -------
    intervals : list of tuple of `~astropy.time.Time`
        Start and stop of each bin with data.
    groups : list of `~gammapy.datasets.Datasets`
        The datasets of each of these bins.
    """
    ref = gti.time_ref
    atol = atol.to_value(u.s)
    starts = (Time([d.gti.time_start[0] for d in datasets]) - ref).to_value(u.s)
    stops = (Time([d.gti.time_stop[-1] for d in datasets]) - ref).to_value(u.s)
    bin_starts = (gti.time_start - ref).to_value(u.s)
    bin_stops = (gti.time_stop - ref).to_value(u.s)

    intervals, groups, used = [], [], np.zeros(len(datasets), dtype=bool)
    for idx in range(len(bin_starts)):  # on arrays: no progress bar needed at any number of bins
        # a dataset of no duration on a bin edge lies within both bins: it goes to the first
        inside = (starts >= bin_starts[idx] - atol) & (stops <= bin_stops[idx] + atol) & ~used
        t_min, t_max = gti.time_start[idx], gti.time_stop[idx]
        if not inside.any():
            log.info(f"No dataset in time bin {t_min.isot} - {t_max.isot}; bin dropped.")
            continue
        used |= inside
        intervals.append((t_min, t_max))
        groups.append(Datasets([datasets[int(i)] for i in np.flatnonzero(inside)]))

    overlapping = (starts[:, None] < bin_stops) & (stops[:, None] > bin_starts)
    if not groups:
        span = (
            f"the datasets span {(ref + starts.min() * u.s).isot} - {(ref + stops.max() * u.s).isot}"
        )
        if overlapping.any():
            raise ValueError(
                f"No dataset lies within any of the {len(gti.table)} time intervals "
                f"({gti.time_start[0].isot} - {gti.time_stop[-1].isot}): {int(overlapping.any(axis=1).sum())} "
                f"of the {len(datasets)} datasets overlap them but straddle their edges ({span}), as "
                "datasets of whole observations do. Make one dataset per observation and time bin: "
                "gammapy_trs.TimeResolvedDatasetsMaker(makers, time_intervals).run(dataset, observations), "
                "or reduce observations.select_time(interval) for each interval."
            )
        raise ValueError(
            f"No dataset lies within any of the {len(gti.table)} time intervals "
            f"({gti.time_start[0].isot} - {gti.time_stop[-1].isot}); {span}."
        )

    for i in map(int, np.flatnonzero(~used & overlapping.any(axis=1))):
        log.warning(
            f"Dataset {datasets[i].name!r} ({(ref + starts[i] * u.s).isot} - "
            f"{(ref + stops[i] * u.s).isot}) straddles a time bin edge and is not used: "
            "cut the observations at the bin edges (observations.select_time) before "
            "the data reduction."
        )
    n_dropped = len(gti.table) - len(groups)
    if n_dropped:
        log.info(f"{n_dropped} of {len(gti.table)} time bins have no dataset.")
    return intervals, groups


@dataclasses.dataclass
class BinSetup:
    """What fits across the bins of a result need: each bin's datasets, the source, the shape
    parameters, the engine and the runner.

    Attributes
    ----------
    groups : list of `~gammapy.datasets.Datasets`
        Datasets of each bin of the result.
    source : str
        Source model name.
    indices : list of int
        Indices of the shape parameters in the source's free parameters.
    names : list of str
        The shape parameters.
    pars : list of `~gammapy.modeling.Parameter`
        The shape parameters of the datasets' source model.
    engine : `~gammapy_trs.engine.FitEngine`
        Engine.
    runner : `~gammapy_trs.utils.parallel.Runner`
        Runner of the bins' fits.
    model : `~gammapy.modeling.models.SkyModel`
        The datasets' source model.
    """

    groups: list
    source: str
    indices: list
    names: list
    pars: list
    engine: object
    runner: object
    model: object = None


def bin_setup(spectrum, datasets, names, fit=None, engine="auto", n_jobs=None, parallel_backend=None, atol="1e-6 s"):
    """The datasets of each bin of a result and the shape parameters of its source, checked.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The per-bin fits, with ``names`` free in each bin.
    datasets : `~gammapy.datasets.Datasets`
        The datasets it was made from, with their models (not changed).
    names : list of str
        Shape parameters of the source.
    fit, engine, n_jobs, parallel_backend, atol
        As `~gammapy_trs.estimation.change_points.find_shape_blocks`.

    Returns
    -------
    setup : `BinSetup`
        The bins' datasets, the source and the engine.
    """
    source = spectrum.meta.get("source", spectrum.models[0].name)
    source_model = datasets.models[source]
    free = SourceParameters.from_model(source_model)
    unknown = [name for name in names if name not in free.names]
    if unknown:
        raise ValueError(f"{unknown} are not free parameters of {source!r}: {list(free.names)}.")
    not_per_bin = [name for name in names if name not in spectrum.parameter_names]
    if not_per_bin:
        raise ValueError(
            f"{not_per_bin} are not fitted in each bin of the result (its per-bin parameters: "
            f"{list(spectrum.parameter_names)}); run it with them free, not shared."
        )
    axis = spectrum.time_axis
    _, groups = group_datasets(Datasets(datasets), GTI.create(axis.time_min, axis.time_max), u.Quantity(atol))
    if len(groups) != axis.nbin:
        raise ValueError(f"The datasets fill {len(groups)} of the result's {axis.nbin} bins: pass those it was made from.")
    return BinSetup(
        groups=groups,
        source=source,
        indices=[free.names[name] for name in names],
        names=list(names),
        pars=[source_model.parameters[free.names[name]] for name in names],
        engine=select_engine(engine, fit, groups[0], source),
        runner=Runner(n_jobs, parallel_backend),
        model=source_model,
    )
