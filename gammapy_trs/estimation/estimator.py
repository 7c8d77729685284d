"""`TimeResolvedSpectrumEstimator`: the full spectral shape fitted per time bin."""

import logging
import gammapy.utils.parallel as parallel
from gammapy.data import GTI
from gammapy.estimators import Estimator
from gammapy.maps import TimeMapAxis
from gammapy.modeling import Fit
from ..binning.intervals import as_gti
from ..engine import ENGINE_CHOICES, FitEngine, select_engine
from ..result import TimeResolvedSpectrum
from ..result.quantities import CORE_QUANTITIES, parameter_quantities
from ..result.meta import source_region_text
from ..utils.parallel import Runner, WorkerLostError
from ..utils.parameters import SourceParameters
from ..utils.signals import sigterm_as_interrupt
from .checkpoint import Checkpoint, fingerprint
from .fit_bin import estimate_bin
from .grouping import datasets_gti, group_datasets
from .plan import BinTask, RunPlan
from .priors import without_priors
from .shared import SharedParameters, start_from_bins
from .stacked import Stack
from .steps.ul import UL_SHAPES
from .sampling import SamplerSettings
from .validation import check_n_bins, choice, duration, energy_edges, energy_range, model_or_none, positive, probability, threshold
from .validation import selection as valid_selection
from .validation import source_model as get_source_model
from .validation import validate_datasets
from . import steps as step_registry
from .steps import RunSetup

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

    Values that the data cannot defend are NaN, never a start value or an
    optimiser's output, with the bin's ``quality`` flags (and each parameter's
    ``<par>_quality``) saying why (`~gammapy_trs.result.quality.QUALITY_FLAGS`):
    a failed fit, no counts, too few counts for the shape (``sqrt_ts`` below
    ``sqrt_ts_threshold_shape``), a parameter at a bound, an undefined
    covariance, a negative norm.

    Parameters
    ----------
    time_intervals : list of `~astropy.time.Time`, `~gammapy.data.GTI` or `~gammapy.maps.TimeMapAxis`, optional
        The bins: a list of ``Time([start, stop])``, a GTI or a time axis.
        Default is None, one bin per dataset (its GTI).
    source : str or int, optional
        Name or index in ``datasets.models`` of the source to fit. Default is 0.
    fit : `~gammapy.modeling.Fit`, optional
        Fit instance with the backend and its options. Default is None, ``Fit()``.
    selection_optional : list of str or str, optional
        Optional steps, run in each bin whose fit succeeded:

            * "all": all the steps below.
            * "ts": TS of the source against a zero norm, ``ts`` and ``sqrt_ts``.
            * "errn-errp": asymmetric profile-likelihood errors of every fitted
              parameter, ``<par>_errn`` and ``<par>_errp``, at ``n_sigma``.
            * "ul": in every bin (Gammapy's convention), an upper limit on the
              norm (e.g. ``amplitude_ul``) at ``n_sigma_ul`` with the shape
              fixed (see ``ul_shape``); ``is_ul`` flags the bins with
              ``sqrt_ts < sqrt_ts_threshold_ul`` or a failed fit.
            * "flux": integral flux ``flux`` and energy flux ``eflux`` between
              ``energy_min`` and ``energy_max``, with errors propagated (to first
              order) from the bin's covariance; ``flux_ul`` with "ul".
            * "sed": flux points of the bin in ``sed_energy_edges`` (Gammapy's
              `~gammapy.estimators.FluxPointsEstimator` with the bin's model),
              see `~gammapy_trs.TimeResolvedSpectrum.to_sed`; "all" includes it
              where ``sed_energy_edges`` is given.
            * "posterior": the posterior of the bin's free parameters by nested
              sampling (UltraNest, ``pip install "gammapy-trs[bayes]"``) with
              the priors set on the model's parameters (Gammapy's prior API;
              a free parameter without one is an error): ``<par>_median``,
              ``<par>_credible_lo``/``_hi``, ``<norm>_credible_ul``,
              ``log_evidence``, with ``compare_to`` the ``log_bayes_factor``,
              and the samples (`~gammapy_trs.TimeResolvedSpectrum.posterior`).
              The priors are the posterior's only: every fit is the
              likelihood's. "all" does not include it: name it.

        Default is None, no optional step.
    n_sigma : float, optional
        Number of sigma of the asymmetric errors. Default is 1.
    n_sigma_ul : float, optional
        Number of sigma of the upper limits. Default is 2.
    sqrt_ts_threshold_ul : float, optional
        Bins with ``sqrt_ts`` below this are reported as upper limits (``is_ul``). Default is 2.
    sqrt_ts_threshold_shape : float, optional
        The shape parameters of a bin are reported where the source's
        ``sqrt_ts`` in it reaches this; below, they are NaN with the
        ``few_counts`` flag (the norm and its upper limit stay). Default is 2.
    ul_shape : {"bin", "stacked"}, optional
        Shape of the upper limits: in a bin not reported as a limit (a
        detection), its own best fit where its shape parameters stand, else
        that of all bins stacked ("bin"); or that of all bins stacked in every
        bin ("stacked"). A bin reported as a limit has its limit at the shape of
        all bins stacked; where that fit is not usable, at the source model's
        own shape. Default is "bin".
    energy_min, energy_max : `~astropy.units.Quantity` or str, optional
        Energy range of the fluxes. Default is 1 TeV and 10 TeV.
    compare_to : `~gammapy.modeling.models.SpectralModel` or `~gammapy.modeling.models.SkyModel`, optional
        An alternative model, in which the source model is nested (e.g. a
        log-parabola for a power law), fitted in every bin: gives the
        likelihood-ratio ``compare_ts``, its Wilks ``compare_p_value`` and
        ``compare_sigma``. A spectral model replaces the source's spectral
        model; its free parameters are fitted. Default is None.
    sed_energy_edges : `~astropy.units.Quantity`, optional
        Energy edges of the flux points of the "sed" step, increasing. Default is None.
    n_jobs : int, optional
        Number of processes for the per-bin fits (at least 1). Default is None,
        which is `~gammapy.utils.parallel.N_JOBS_DEFAULT`.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, which is
        `~gammapy.utils.parallel.BACKEND_DEFAULT`.
    engine : {"auto", "compiled", "gammapy"} or `~gammapy_trs.engine.FitEngine`, optional
        The fit engine (`~gammapy_trs.engine.select_engine`): "compiled" (the
        on-off statistic compiled with its gradient), "gammapy" (Gammapy's
        `~gammapy.modeling.Fit` untouched) or "auto": the compiled engine where
        a probe on the run's first bin finds it equal to Gammapy, else
        Gammapy's. Default is "auto".
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on time comparisons (non-negative). Default is "1e-6 s".
    max_bins : int, optional
        Largest number of time bins accepted (a guard against a unit slip such
        as bins of 1 ms); None for no limit. Default is 100000.
    checkpoint : str or `~pathlib.Path`, optional
        Folder in which each finished bin is written as soon as it is done. A
        run with the same checkpoint computes only the bins not yet there and
        gives the result of an uninterrupted run; a checkpoint made with other
        settings or data is refused (`~gammapy_trs.estimation.checkpoint.CheckpointMismatchError`),
        and a bin file that is not this run's own (edited, swapped, foreign) is
        recomputed. Default is None, no checkpoint.
    shared_parameters : list of str, optional
        Source parameters that take one value over all bins (e.g. ``["beta"]``),
        fitted in one joint likelihood of all bins while the other free
        parameters take one value per bin
        (`~gammapy_trs.estimation.joint.fit_shared_parameters`); all of them
        for one spectrum over the whole period. The result's
        `~gammapy_trs.TimeResolvedSpectrum.shared_parameters` holds their values
        and errors (and profile errors with "errn-errp"); the per-bin values are
        fitted with them fixed at the best fit. Over faint bins (a few tens of
        excess counts each) the maximum likelihood of a shared value is biased,
        by about 0.2 sigma over ten such bins and more over more bins (see the
        statistics page of the docs). Default is None, none.

    credible_level : float, optional
        Probability of the central credible intervals of "posterior". Default is 0.68.
    credible_level_ul : float, optional
        Probability of the credible upper limits of "posterior". Default is 0.95.
    sampler_opts : dict, optional
        Settings of the nested sampling of "posterior"
        (`~gammapy_trs.estimation.sampling.SamplerSettings`: ``live_points``,
        ``frac_remain``, ``n_samples``, ``max_ncalls``). Default is None,
        Gammapy's Sampler's (400 live points, ``frac_remain=0.5``) and 1000
        samples kept per bin.
    random_state : int, optional
        Seed of the sampling; each bin is seeded from it and its index, so
        that a run is reproducible with any ``n_jobs``. Default is 0.

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

    @property
    def available_selection_optional(self):
        """The names of the optional steps (read at each call, so that a step registered in
        ``steps.STEPS`` is available), a list of str."""
        return step_registry.selectable_steps()

    def __init__(
        self,
        time_intervals=None,
        source=0,
        fit=None,
        selection_optional=None,
        n_sigma=1,
        n_sigma_ul=2,
        sqrt_ts_threshold_ul=2,
        sqrt_ts_threshold_shape=2,
        ul_shape="bin",
        energy_min="1 TeV",
        energy_max="10 TeV",
        compare_to=None,
        sed_energy_edges=None,
        n_jobs=None,
        parallel_backend=None,
        engine="auto",
        atol="1e-6 s",
        max_bins=100_000,
        checkpoint=None,
        shared_parameters=None,
        credible_level=0.68,
        credible_level_ul=0.95,
        sampler_opts=None,
        random_state=0,
    ):
        self.credible_level = probability(credible_level, "credible_level")
        self.credible_level_ul = probability(credible_level_ul, "credible_level_ul")
        self.sampler_opts = None if sampler_opts is None else dict(sampler_opts)
        SamplerSettings.from_options(self.sampler_opts)
        self.random_state = int(random_state)
        self.atol = duration(atol, "atol")
        self.max_bins = max_bins
        self.checkpoint = checkpoint
        self.shared_parameters = [] if shared_parameters is None else list(shared_parameters)
        self.time_intervals = time_intervals
        self.source = source
        self.fit = Fit() if fit is None else fit
        self.selection_optional = selection_optional
        self.n_sigma = positive(n_sigma, "n_sigma")
        self.n_sigma_ul = positive(n_sigma_ul, "n_sigma_ul")
        self.sqrt_ts_threshold_ul = threshold(sqrt_ts_threshold_ul, "sqrt_ts_threshold_ul")
        self.sqrt_ts_threshold_shape = threshold(sqrt_ts_threshold_shape, "sqrt_ts_threshold_shape")
        self.ul_shape = choice(ul_shape, "ul_shape", UL_SHAPES)
        self.energy_min, self.energy_max = energy_range(energy_min, energy_max)
        self.compare_to = model_or_none(compare_to, "compare_to")
        self.sed_energy_edges = None if sed_energy_edges is None else energy_edges(sed_energy_edges, "sed_energy_edges")
        if "sed" in self._explicit_selection and self.sed_energy_edges is None:
            raise ValueError('selection_optional "sed" needs sed_energy_edges, e.g. [0.4, 1, 3, 10] * u.TeV.')
        Runner(n_jobs, parallel_backend)  # n_jobs and the backend checked at the call
        self.n_jobs = n_jobs
        self.parallel_backend = parallel_backend
        if not isinstance(engine, FitEngine):
            choice(engine, "engine", ENGINE_CHOICES)
        self.engine = engine

    @property
    def selection_optional(self):
        """The optional steps, a list of str (see the class documentation)."""
        return self._selection_optional

    @selection_optional.setter
    def selection_optional(self, value):
        available = self.available_selection_optional
        named = [] if value is None else [value] if isinstance(value, str) else list(value)
        self._explicit_selection = valid_selection([name for name in named if name != "all"], available)
        self._selection_optional = valid_selection(value, available)
        if "all" in named and "posterior" not in named:  # posteriors only where asked for by name
            self._selection_optional = [name for name in self._selection_optional if name != "posterior"]

    @property
    def time_intervals(self):
        """Time bins, a sorted `~gammapy.data.GTI`, or None (one bin per dataset)."""
        return self._time_intervals

    @time_intervals.setter
    def time_intervals(self, value):
        gti = None if value is None else as_gti(value, atol=self.atol)
        if gti is not None:
            check_n_bins(len(gti.table), self.max_bins)
        self._time_intervals = gti

    @property
    def runner(self):
        """The runner of the run's parallel loops (``n_jobs``, ``parallel_backend``)."""
        return Runner(self.n_jobs, self.parallel_backend)

    @property
    def _step_options(self):
        return dict(
            n_sigma=self.n_sigma,
            n_sigma_ul=self.n_sigma_ul,
            sqrt_ts_threshold_ul=self.sqrt_ts_threshold_ul,
            ul_shape=self.ul_shape,
            energy_min=self.energy_min,
            energy_max=self.energy_max,
            compare_to=self.compare_to,
            sed_energy_edges=self.sed_energy_edges,
            credible_level=self.credible_level,
            credible_level_ul=self.credible_level_ul,
            sampler_opts=self.sampler_opts,
            random_state=self.random_state,
        )

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
        return self._run(datasets)

    def _run(self, datasets, shared_start=None, desc="Time-resolved fits"):
        """`run`, the shared parameters' fit started from ``shared_start`` (values and errors, see
        `~gammapy_trs.estimation.shared.SharedParameters.fit`) if given; ``desc`` the progress bar's."""
        datasets = validate_datasets(datasets)
        source_model, priors = without_priors(get_source_model(datasets, self.source))
        parameters = SourceParameters.from_model(source_model)
        if not len(parameters):
            raise ValueError(
                f"Source model {source_model.name!r} has no free parameter: "
                "unfreeze the parameters to fit in each bin."
            )
        self._check_norm(source_model, parameters)
        self._check_shared(source_model, parameters)
        gti = self.time_intervals if self.time_intervals is not None else datasets_gti(datasets, self.atol)
        check_n_bins(len(gti.table), self.max_bins)
        intervals, groups = group_datasets(datasets, gti, self.atol)
        runner = self.runner
        engine = select_engine(self.engine, self.fit, groups[0], source_model.name)
        checkpoint = self._checkpoint(datasets, intervals, engine)
        meta = dict(
            source=source_model.name,
            region=source_region_text(groups[0][0], source_model),
            n_dropped=len(gti.table) - len(intervals),
            estimator=self.tag,
            engine=engine.name,
            sqrt_ts_threshold_shape=self.sqrt_ts_threshold_shape,
        )
        shared, stack = None, Stack([d for group in groups for d in group], name="all-bins")
        if self.shared_parameters:
            shared = SharedParameters.fit(
                groups, source_model, parameters, list(self.shared_parameters), engine, runner, self._profile_sigma, stack,
                start=shared_start,
            )
            source_model, parameters = shared.source_model, shared.parameters
            meta.update(shared.meta)
        steps = self._make_steps(source_model, parameters, groups, stack, engine, priors)
        plan = RunPlan(
            source=source_model.name,
            source_model=None if shared is None and not priors else source_model,
            parameters=parameters,
            engine=engine,
            steps=tuple(steps),
            quantities=tuple(info for step in steps for info in step.quantities()),
            sqrt_ts_threshold_shape=self.sqrt_ts_threshold_shape,
        )
        tasks = {index: BinTask(index, group, plan) for index, group in enumerate(groups)}
        results = self._run_bins(tasks, intervals, checkpoint, runner, desc)
        for step in steps:
            step.after_bins([results[index].quantities for index in sorted(results)])
            meta.update(step.meta())
        return self._result(results, intervals, plan, source_model, meta, shared)

    def _result(self, results, intervals, plan, source_model, meta, shared):
        """The container of the bins' results."""
        declared = [
            info
            for name, idx in plan.parameters
            for info in parameter_quantities(name, source_model.parameters[idx].unit)
        ]
        products = {
            name: build([results[index].products.get(name) for index in range(len(results))])
            for step in plan.steps
            for name, build in step.products().items()
        }
        axis = TimeMapAxis.from_gti(GTI.from_time_intervals(intervals))
        return TimeResolvedSpectrum.from_bin_results(
            [results[index] for index in range(len(results))],
            time_axis=axis,
            parameter_names=list(plan.parameters.names),
            meta=meta,
            quantities=declared + CORE_QUANTITIES + list(plan.quantities),
            shared_parameters=None if shared is None else shared.table,
            products={name: table for name, table in products.items() if table is not None},
        )

    @property
    def _profile_sigma(self):
        """The number of sigma of the shared parameters' profile errors, None without "errn-errp"."""
        return self.n_sigma if "errn-errp" in self.selection_optional else None

    def test_variability(self, datasets, parameters, alternative=None):
        """Likelihood-ratio test of whether parameters vary between the bins.

        Runs this estimator twice: with ``parameters`` free in each bin (the
        alternative) and with them shared by all bins (the null hypothesis), the
        estimator's own ``shared_parameters`` shared in both. Upper-limit and
        faint bins count through their likelihood. With every free parameter
        of the source, the null hypothesis is one spectrum over the whole period.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Datasets with their models.
        parameters : list of str or str
            Source parameters to test, e.g. ``["index"]``; "all" for every free one.
        alternative : `~gammapy_trs.TimeResolvedSpectrum`, optional
            This estimator's result on ``datasets``, if already computed. Default
            is None: it is computed.

        Returns
        -------
        result : dict
            ``ts``, ``dof``, ``p_value``, ``significance``, ``n_bins``, ``n_excluded``
            (see `~gammapy_trs.TimeResolvedSpectrum.likelihood_ratio`), with
            ``null`` and ``alternative``, the two results.
        """
        datasets = validate_datasets(datasets)
        if parameters == "all" or (not isinstance(parameters, str) and list(parameters) == ["all"]):
            free = SourceParameters.from_model(get_source_model(datasets, self.source))
            parameters = [name for name in free.names if name not in self.shared_parameters]
        parameters = [parameters] if isinstance(parameters, str) else list(parameters)
        overlap = set(parameters) & set(self.shared_parameters)
        if overlap:
            raise ValueError(f"{sorted(overlap)} are shared already: they cannot vary.")
        alternative = self.run(datasets) if alternative is None else alternative
        null_estimator = self.copy()
        null_estimator.shared_parameters = list(self.shared_parameters) + parameters
        null_estimator.checkpoint = None
        null_estimator.selection_optional = None  # the test needs each bin's statistic only
        null_estimator.compare_to = None
        start = start_from_bins(alternative, null_estimator.shared_parameters)
        null = null_estimator._run(datasets, shared_start=start, desc="Variability test: null hypothesis")
        return dict(null.likelihood_ratio(alternative), null=null, alternative=alternative)

    def estimate_time_bin(self, task):
        """Fit the source model in one time bin, on copies of the datasets.

        Parameters
        ----------
        task : `~gammapy_trs.estimation.plan.BinTask`
            The bin and the run's plan.

        Returns
        -------
        result : `~gammapy_trs.estimation.plan.BinResult`
            See `~gammapy_trs.estimation.fit_bin.estimate_bin`.
        """
        return estimate_bin(task)

    def _settings(self, engine):
        """The settings that determine the results (for the checkpoint's fingerprint)."""
        fit = self.fit
        return dict(
            source=str(self.source),
            selection=sorted(self.selection_optional),
            options={k: str(v) for k, v in self._step_options.items() if k != "compare_to"},
            compare_to=None if self.compare_to is None else self.compare_to.to_dict(),
            fit=repr((fit.backend, fit.optimize_opts, fit.covariance_opts, fit.confidence_opts)),
            shared=list(self.shared_parameters),
            atol=str(self.atol),
            engine=engine.name,
            sqrt_ts_threshold_shape=self.sqrt_ts_threshold_shape,
        )

    def _checkpoint(self, datasets, intervals, engine):
        if self.checkpoint is None:
            return None
        key = fingerprint(self._settings(engine), datasets, intervals)
        return Checkpoint(self.checkpoint, key, n_bins=len(intervals))

    def _run_bins(self, tasks, intervals, checkpoint, runner, desc):
        """The result of each bin, from the checkpoint or computed (and checkpointed)."""
        done = checkpoint.load() if checkpoint is not None else {}
        todo = {index: task for index, task in tasks.items() if index not in done}
        try:
            with sigterm_as_interrupt():
                results = runner.run(
                    self.estimate_time_bin,
                    todo,
                    on_result=None if checkpoint is None else checkpoint.save,
                    desc=desc,
                )
        except WorkerLostError as error:
            lost = ", ".join(f"{intervals[i][0].isot} - {intervals[i][1].isot}" for i in error.lost)
            raise WorkerLostError(
                f"{error} Lost bins: {lost}. {self._kept(checkpoint, len(done) + len(error.results))}",
                error.results,
                error.lost,
            ) from None
        except KeyboardInterrupt:
            log.error(f"Run interrupted. {self._kept(checkpoint, None)}")
            raise
        results.update(done)
        return results

    @staticmethod
    def _kept(checkpoint, n_done):
        if checkpoint is None:
            return "Finished bins are not kept: give checkpoint=PATH to keep them and resume."
        n_done = "The" if n_done is None else f"{n_done}"
        return f"{n_done} finished bins are in the checkpoint {checkpoint.path}: run again to resume."

    def _selection(self):
        """The selected steps with the steps they require."""
        selection = set(self.selection_optional)
        required = {name for step in step_registry.STEPS if step.name in selection for name in step.requires}
        return selection | required

    def _check_norm(self, source_model, parameters):
        selected = [step for step in step_registry.STEPS if step.name in self.selection_optional]
        needs_norm = [step.name for step in selected if step.needs_norm]
        if needs_norm and parameters.norm_index is None:
            raise ValueError(
                f"selection_optional {sorted(needs_norm)} needs a free norm parameter "
                f"(a spectral parameter named 'amplitude' or 'norm') in source model "
                f"{source_model.name!r}."
            )
        single = [step.name for step in selected if step.single_norm]
        if single and len(parameters.norm_indices) > 1:
            names = [parameters.by_index[idx] for idx in parameters.norm_indices]
            raise ValueError(
                f"selection_optional {sorted(single)} needs a source model with one free norm; "
                f"{source_model.name!r} has {len(names)}: {names}. Freeze all but one, or scale "
                "the whole spectrum with a ScaleSpectralModel."
            )

    def _check_shared(self, source_model, parameters):
        unknown = [name for name in self.shared_parameters if name not in parameters.names]
        if unknown:
            raise ValueError(
                f"shared_parameters {unknown} are not free parameters of source "
                f"{source_model.name!r}; free are {list(parameters.names)}."
            )
        norms = {parameters.by_index[idx] for idx in parameters.norm_indices}
        needs_norm = [step.name for step in step_registry.STEPS if step.needs_norm and step.name in self.selection_optional]
        if needs_norm and norms and norms <= set(self.shared_parameters):
            raise ValueError(
                f"selection_optional {sorted(needs_norm)} needs a norm free in each bin; "
                f"shared_parameters {self.shared_parameters} share it."
            )

    def _make_steps(self, source_model, parameters, groups, stack, engine, priors):
        """The optional steps of this run, each complete, in their order; ``priors`` those taken off
        the source model (`~gammapy_trs.estimation.priors.without_priors`), for the posteriors."""
        compare_to, compare_priors = (None, {}) if self.compare_to is None else without_priors(self.compare_to)
        compare_priors = {self.compare_to.parameters[idx].name: prior for idx, prior in compare_priors.items()}
        options = dict(self._step_options, compare_to=compare_to, priors=priors, compare_priors=compare_priors)
        setup = RunSetup(
            source_model=source_model,
            parameters=parameters,
            groups=groups,
            stack=stack,
            engine=engine,
            selection=self._selection(),
            options=options,
        )
        return [step.create(setup) for step in step_registry.STEPS if step.is_active(setup)]
