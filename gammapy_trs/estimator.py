"""`TimeResolvedSpectrumEstimator`: the full spectral shape fitted per time bin."""

import logging
import numpy as np
import astropy.units as u
from astropy.time import Time
import gammapy.utils.parallel as parallel
from gammapy.data import GTI
from gammapy.datasets import Dataset, Datasets
from gammapy.estimators import Estimator
from gammapy.maps import TimeMapAxis
from gammapy.modeling import Fit
from gammapy.modeling.models import SkyModel, SpectralModel
from gammapy.utils.pbar import progress_bar
from .bin_fit import fit_time_bin, free_parameter_names
from .bin_statistics import norm_parameter_index
from .bin_steps import BinSteps
from .fit_datasets import copy_for_fit
from .intervals import as_gti
from .spectrum import TimeResolvedSpectrum

__all__ = ["TimeResolvedSpectrumEstimator"]

log = logging.getLogger(__name__)


class TimeResolvedSpectrumEstimator(Estimator, parallel.ParallelMixin):
    """Fit the spectral model of a source in each of a set of time bins.

    Unlike `~gammapy.estimators.LightCurveEstimator`, which fits only a flux
    normalisation with the spectral shape frozen, this estimator fits every
    parameter of the source model that is free (e.g. index and amplitude of a
    power law, alpha and beta of a log-parabola, a cut-off energy) in each bin.
    Free parameters of other models (e.g. the norm of a
    `~gammapy.modeling.models.FoVBackgroundModel`) are refitted per bin too.

    A dataset belongs to a bin if its GTI lies within the bin (within
    ``atol``), as in `~gammapy.estimators.LightCurveEstimator`: cut the
    observations at the bin edges before the data reduction. Bins with no
    dataset are dropped (and counted in ``result.meta["n_dropped"]``). A bin
    whose fit fails is kept with ``success=False``. Each bin fits copies:
    the input datasets and models are never changed.

    Parameters
    ----------
    time_intervals : list of `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`, optional
        The bins: a list of ``Time([start, stop])``, a GTI or a time axis.
        Default is None, one bin per dataset (its GTI).
    source : str or int, optional
        Name or index in ``datasets.models`` of the source to fit. Default is 0.
    fit : `~gammapy.modeling.Fit`, optional
        Fit instance with the backend and its options. Default is None, ``Fit()``.
    selection_optional : list of str, optional
        Optional steps, run in each bin whose fit succeeded:

            * "all": all the steps below.
            * "ts": TS of the source against a zero norm, ``ts`` and ``sqrt_ts``.
            * "errn-errp": asymmetric profile-likelihood errors of every fitted
              parameter, ``<par>_errn`` and ``<par>_errp``, at ``n_sigma``.
            * "ul": where ``sqrt_ts < sqrt_ts_threshold_ul``, an upper limit on
              the norm (e.g. ``amplitude_ul``) at ``n_sigma_ul`` with the shape
              parameters fixed to their fit over all bins; ``is_ul`` flags it.
            * "flux": integral flux ``flux`` and energy flux ``eflux`` between
              ``energy_min`` and ``energy_max``, with errors propagated (to first
              order) from the bin's covariance; ``flux_ul`` where ``is_ul``.

        Default is None, no optional step.
    n_sigma : float, optional
        Number of sigma of the asymmetric errors. Default is 1.
    n_sigma_ul : float, optional
        Number of sigma of the upper limits. Default is 2.
    sqrt_ts_threshold_ul : float, optional
        Upper limits are computed in bins with ``sqrt_ts`` below this. Default is 2.
    energy_min, energy_max : `~astropy.units.Quantity` or str, optional
        Energy range of the fluxes. Default is 1 TeV and 10 TeV.
    compare_to : `~gammapy.modeling.models.SpectralModel` or `~gammapy.modeling.models.SkyModel`, optional
        An alternative model, in which the source model is nested (e.g. a
        log-parabola for a power law), fitted in every bin: gives the
        likelihood-ratio ``compare_ts``, its Wilks ``compare_p_value`` and
        ``compare_sigma``. A spectral model replaces the source's spectral
        model; its free parameters are fitted. Default is None.
    n_jobs : int, optional
        Number of processes for the per-bin fits. Default is None, which is
        `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, which is
        `~gammapy.utils.parallel.BACKEND_DEFAULT`.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on time comparisons. Default is "1e-6 s".

    Examples
    --------
    >>> from astropy.time import Time
    >>> from gammapy_trs import TimeResolvedSpectrumEstimator
    >>> intervals = [Time(["2006-07-29T20:30", "2006-07-29T20:45"])]
    >>> estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, source="pks2155")
    >>> result = estimator.run(datasets)  # doctest: +SKIP
    >>> result.to_table()  # doctest: +SKIP
    """

    tag = "TimeResolvedSpectrumEstimator"
    _available_selection_optional = ["ts", "errn-errp", "ul", "flux"]

    def __init__(
        self,
        time_intervals=None,
        source=0,
        fit=None,
        selection_optional=None,
        n_sigma=1,
        n_sigma_ul=2,
        sqrt_ts_threshold_ul=2,
        energy_min="1 TeV",
        energy_max="10 TeV",
        compare_to=None,
        n_jobs=None,
        parallel_backend=None,
        atol="1e-6 s",
    ):
        self.atol = u.Quantity(atol)
        self.time_intervals = (
            None if time_intervals is None else as_gti(time_intervals, atol=self.atol)
        )
        self.source = source
        self.fit = Fit() if fit is None else fit
        self.selection_optional = selection_optional
        self.n_sigma = float(n_sigma)
        self.n_sigma_ul = float(n_sigma_ul)
        self.sqrt_ts_threshold_ul = float(sqrt_ts_threshold_ul)
        self.energy_min = u.Quantity(energy_min)
        self.energy_max = u.Quantity(energy_max)
        if not self.energy_min < self.energy_max:
            raise ValueError(
                f"energy_min ({self.energy_min}) must be below energy_max ({self.energy_max})."
            )
        if compare_to is not None and not isinstance(compare_to, (SpectralModel, SkyModel)):
            raise TypeError(
                "compare_to must be a SpectralModel or a SkyModel, "
                f"got {type(compare_to).__name__}."
            )
        self.compare_to = compare_to
        self.n_jobs = n_jobs
        self.parallel_backend = parallel_backend

    def run(self, datasets):
        """Fit the source model in each time bin.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets with their models, e.g. `~gammapy.datasets.SpectrumDatasetOnOff`
            or `~gammapy.datasets.MapDataset`.

        Returns
        -------
        result : `~gammapy_trs.TimeResolvedSpectrum`
            Fitted parameters per time bin.
        """
        datasets = self._validate_datasets(datasets)
        source_model = self._source_model(datasets)
        parameter_names = free_parameter_names(source_model)
        if not parameter_names:
            raise ValueError(
                f"Source model {source_model.name!r} has no free parameter: "
                "unfreeze the parameters to fit in each bin."
            )

        steps = self._bin_steps(source_model)
        gti = self._gti(datasets)
        intervals, groups = self._group_datasets(datasets, gti)
        meta = dict(
            source=source_model.name,
            n_dropped=len(gti.table) - len(intervals),
            estimator=self.tag,
        )
        meta.update(self._steps_meta(steps))

        if "ul" in steps.selection:
            steps.ul_shape = self._fit_shape_over_all_bins(groups, source_model, parameter_names)
            names = {idx: name for name, idx in parameter_names.items()}
            meta.update({f"ul_shape_{names[idx]}": v for idx, v in steps.ul_shape.items()})

        self._update_child_jobs()
        n_groups = len(groups)
        results = parallel.run_multiprocessing(
            self.estimate_time_bin,
            zip(
                groups,
                [source_model.name] * n_groups,
                [parameter_names] * n_groups,
                [steps] * n_groups,
            ),
            backend=self.parallel_backend,
            pool_kwargs=dict(processes=self.n_jobs),
            task_name="Time-resolved fits",
        )

        axis = TimeMapAxis.from_gti(GTI.from_time_intervals(intervals))
        return TimeResolvedSpectrum.from_bin_results(
            results, time_axis=axis, parameter_names=list(parameter_names), meta=meta
        )

    def estimate_time_bin(self, datasets, source, parameter_names, steps=None):
        """Fit the source model in one time bin, on copies of the datasets.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Datasets of the bin, with their models.
        source : str
            Name of the source model.
        parameter_names : dict of str to int
            Column name and index of each free source parameter.
        steps : `~gammapy_trs.bin_steps.BinSteps`, optional
            Optional steps. Default is None.

        Returns
        -------
        result : dict
            See `~gammapy_trs.bin_fit.fit_time_bin`.
        """
        estimator = self.copy()
        return fit_time_bin(datasets, source, parameter_names, fit=estimator.fit, steps=steps)

    def _bin_steps(self, source_model):
        """Settings of the optional steps, checked against the source model."""
        selection = list(self.selection_optional)
        needs_norm = {"ts", "ul"} & set(selection)
        if needs_norm and norm_parameter_index(source_model) is None:
            raise ValueError(
                f"selection_optional {sorted(needs_norm)} needs a free norm parameter "
                f"(a spectral parameter named 'amplitude' or 'norm') in source model "
                f"{source_model.name!r}."
            )
        return BinSteps(
            selection=selection,
            n_sigma=self.n_sigma,
            n_sigma_ul=self.n_sigma_ul,
            sqrt_ts_threshold_ul=self.sqrt_ts_threshold_ul,
            energy_min=self.energy_min,
            energy_max=self.energy_max,
            compare_to=self._alternative_model(source_model),
        )

    def _steps_meta(self, steps):
        meta = {}
        if "errn-errp" in steps.selection:
            meta["n_sigma"] = steps.n_sigma
        if "ul" in steps.selection:
            meta.update(n_sigma_ul=steps.n_sigma_ul, sqrt_ts_threshold_ul=steps.sqrt_ts_threshold_ul)
        if "flux" in steps.selection:
            meta.update(energy_min=str(steps.energy_min), energy_max=str(steps.energy_max))
        if steps.compare_to is not None:
            meta["compare_to"] = steps.compare_to.spectral_model.tag[0]
        return meta

    def _alternative_model(self, source_model):
        """The compare_to model as a SkyModel named like the source, checked for nesting."""
        if self.compare_to is None:
            return None
        if isinstance(self.compare_to, SkyModel):
            alternative = self.compare_to.copy(name=source_model.name)
        else:
            alternative = source_model.copy(name=source_model.name)
            alternative.spectral_model = self.compare_to.copy()
        n_extra = len(alternative.parameters.free_parameters) - len(
            source_model.parameters.free_parameters
        )
        if n_extra <= 0:
            raise ValueError(
                f"compare_to ({type(alternative.spectral_model).__name__}) must have more free "
                f"parameters than the source model, in which the source model is nested; "
                f"it has {n_extra} more."
            )
        return alternative

    def _fit_shape_over_all_bins(self, groups, source_model, parameter_names):
        """Shape parameters fitted over all bins, to fix them for upper limits.

        The fit is made on the stacked datasets of all bins (Gammapy's
        ``stack_reduce``, background models applied), or jointly on all datasets
        where they cannot be stacked.
        """
        datasets = Datasets([d for group in groups for d in group])
        log.info("Fitting the source shape over all bins for the upper limits.")
        try:
            stacked = datasets.stack_reduce(name="all-bins")
            copies = copy_for_fit([stacked], models=[source_model])
        except Exception as error:  # noqa: BLE001 -- e.g. datasets of different geometries
            log.info(f"Datasets cannot be stacked ({error!r}); fitting them jointly.")
            copies = copy_for_fit(datasets)
        result = self.fit.run(copies)
        if not result.success:
            log.warning(f"The fit over all bins did not succeed: {result.message}")
        norm_idx = norm_parameter_index(source_model)
        model = copies.models[source_model.name]
        return {
            idx: float(model.parameters[idx].value)
            for idx in parameter_names.values()
            if idx != norm_idx
        }

    @staticmethod
    def _validate_datasets(datasets):
        if isinstance(datasets, Dataset):
            datasets = [datasets]
        if not isinstance(datasets, (Datasets, list, tuple)):
            raise TypeError(
                f"datasets must be a Datasets or a list of Dataset, got {type(datasets).__name__}."
            )
        datasets = Datasets(datasets)
        if len(datasets) == 0:
            raise ValueError("No dataset given.")
        missing = [d.name for d in datasets if d.gti is None or len(d.gti.table) == 0]
        if missing:
            raise ValueError(f"Datasets without a GTI cannot be placed in time: {missing}")
        if len(datasets.models) == 0:
            raise ValueError(
                "The datasets have no models: set datasets.models to the source model "
                "(and background models for 3D datasets) before running."
            )
        return datasets

    def _source_model(self, datasets):
        models = datasets.models
        source = self.source
        if isinstance(source, (int, np.integer)):
            if not -len(models) <= source < len(models):
                raise ValueError(
                    f"source index {source} is out of range for {len(models)} models: "
                    f"{models.names}"
                )
        elif source not in models.names:
            raise ValueError(f"source {source!r} is not in the models: {models.names}")

        model = models[source]
        if not isinstance(model, SkyModel):
            raise TypeError(
                f"source {source!r} is a {type(model).__name__}, not a SkyModel; "
                f"pick the source among {models.names}"
            )
        return model

    def _gti(self, datasets):
        if self.time_intervals is not None:
            return self.time_intervals
        gti = datasets.gti
        spans = np.stack([gti.time_start.mjd, gti.time_stop.mjd], axis=1)
        _, index = np.unique(spans, axis=0, return_index=True)
        unique = GTI.create(gti.time_start[index], gti.time_stop[index], gti.time_ref)
        try:
            return as_gti(unique, atol=self.atol)
        except ValueError as error:
            raise ValueError(
                f"{error} With time_intervals=None each dataset is a bin, so datasets "
                "must not overlap in time: give time_intervals explicitly."
            ) from None

    def _group_datasets(self, datasets, gti):
        """Datasets of each time bin; empty bins are dropped with a log line.

        A dataset belongs to a bin if its GTI lies within the bin, within
        ``atol`` (the rule of `~gammapy.datasets.Datasets.select_time`),
        evaluated on arrays so that it scales to thousands of bins.
        """
        ref = gti.time_ref
        atol = self.atol.to_value(u.s)
        starts = (Time([d.gti.time_start[0] for d in datasets]) - ref).to_value(u.s)
        stops = (Time([d.gti.time_stop[-1] for d in datasets]) - ref).to_value(u.s)
        bin_starts = (gti.time_start - ref).to_value(u.s)
        bin_stops = (gti.time_stop - ref).to_value(u.s)

        intervals, groups, used = [], [], np.zeros(len(datasets), dtype=bool)
        for idx in progress_bar(range(len(bin_starts)), desc="Time bins selection"):
            inside = (starts >= bin_starts[idx] - atol) & (stops <= bin_stops[idx] + atol)
            t_min, t_max = gti.time_start[idx], gti.time_stop[idx]
            if not inside.any():
                log.info(f"No dataset in time bin {t_min.isot} - {t_max.isot}; bin dropped.")
                continue
            used |= inside
            intervals.append((t_min, t_max))
            groups.append(Datasets([datasets[int(i)] for i in np.flatnonzero(inside)]))

        if not groups:
            raise ValueError(
                f"No dataset lies within any of the {len(gti.table)} time intervals "
                f"({gti.time_start[0].isot} - {gti.time_stop[-1].isot}); the datasets span "
                f"{(ref + starts.min() * u.s).isot} - {(ref + stops.max() * u.s).isot}."
            )

        overlapping = (starts[:, None] < bin_stops) & (stops[:, None] > bin_starts)
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
