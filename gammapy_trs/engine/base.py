"""The interface of a fit engine, and what every engine shares.

A `FitEngine` is how a run fits the datasets of a bin: it makes the copies
that are fitted (`FitEngine.copy`), runs the optimisation and the covariance
(`FitEngine.run`, `FitEngine.optimize`), profile-likelihood intervals
(`FitEngine.confidence`), the total statistic and the counts of a bin
(`FitEngine.stat_sum`, `FitEngine.counts_summary`), the fit of an
alternative model (`FitEngine.fit_replaced`), Gammapy's flux points
(`FitEngine.flux_points`) and the likelihood a sampler samples
(`FitEngine.log_likelihood`). The steps, the shared-parameter fit and the flux
states use only these methods, so that a run is made with one engine, chosen
once (`~gammapy_trs.engine.select_engine`).

Every interval an engine reports is checked where it was not found by a
method that guarantees it (MINOS at a kink of the statistic, e.g. an energy
bin without counts, can stop anywhere): the statistic at each end, with the
other free parameters re-optimised, must lie at its level
(`verified_interval`); an end that does not is found again by bracketing the
level and Brent's method on the profile (`profile_crossing`).
"""

import contextlib
import copy
import logging
import weakref
import numpy as np
from iminuit import Minuit
from gammapy.datasets import Datasets
from gammapy.estimators import FluxPointsEstimator
from gammapy.modeling import Fit
from gammapy.modeling.models import FoVBackgroundModel, SkyModel
from ..utils.numerics import bracket_root, optimiser_numerics
from .likelihood import GammapyLikelihood, free_parameters
from .points import flux_points_arrays

__all__ = [
    "ConditionalFits",
    "FitEngine",
    "Tie",
    "bounded_below",
    "chained",
    "copy_models",
    "fit_options",
    "map_counts_summary",
    "masked_sum",
    "profile_crossing",
    "profile_stat",
    "verified_interval",
]

log = logging.getLogger(__name__)

LEVEL_TOLERANCE = 0.01
"""Largest difference of the profile statistic at an interval's end from its level (in units of
the statistic) for the end to be accepted as it was found."""


def masked_sum(data, mask):
    """Sum of ``data`` in ``mask`` (all of it where ``mask`` is None), a float."""
    return float(np.sum(data[mask] if mask is not None else data))


def map_counts_summary(dataset, source):
    """Counts, excess and predicted counts of a dataset in its masks, through Gammapy's maps.

    Parameters
    ----------
    dataset : `~gammapy.datasets.Dataset`
        Dataset with its models.
    source : str
        Name of the source model.

    Returns
    -------
    summary : dict
        ``counts``, ``excess``, ``npred`` and ``npred_signal`` (of the source).
    """
    mask = None if dataset.mask is None else dataset.mask.data
    summary = dict(
        counts=masked_sum(dataset.counts.data, mask),
        excess=masked_sum(dataset.excess.data, mask),
        npred=masked_sum(dataset.npred().data, mask),
        npred_signal=0.0,
    )
    if source in dataset.models.names:
        summary["npred_signal"] = masked_sum(dataset.npred_signal(model_names=[source]).data, mask)
    return summary


def _holds_data(model):
    """Whether a model holds a map or a table (a template), which a deep copy would duplicate."""
    if not isinstance(model, (SkyModel, FoVBackgroundModel)):
        return True
    components = [getattr(model, name, None) for name in ("spatial_model", "spectral_model", "temporal_model")]
    return any(component is not None and "Template" in type(component).__name__ for component in components)


def copy_models(models):
    """Copies of models under the same names, with the links between their parameters.

    Models made of analytic components are deep-copied together (a fraction
    of the cost of `~gammapy.modeling.models.SkyModel.copy`, which rebuilds
    each model and its covariance, and parameters shared between the models
    stay shared); templates are copied with their ``copy`` method, which
    shares their data.

    Parameters
    ----------
    models : `~gammapy.modeling.models.Models` or list of models
        Models.

    Returns
    -------
    copies : list
        The copied models.
    """
    memo = {}
    return [
        model.copy(name=model.name) if _holds_data(model) else copy.deepcopy(model, memo)
        for model in models
    ]


def fit_options(fit):
    """The backend and options of a `~gammapy.modeling.Fit`, as the keywords of its constructor."""
    return dict(
        backend=fit.backend,
        optimize_opts=fit.optimize_opts,
        covariance_opts=fit.covariance_opts,
        confidence_opts=fit.confidence_opts,
        store_trace=fit.store_trace,
    )


def profile_stat(engine, datasets, parameter, value):
    """The statistic with ``parameter`` fixed at ``value``, the other free parameters re-optimised.

    Parameters
    ----------
    engine : `FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        Datasets (copies made by the engine); their parameters are left changed
        (call it inside ``datasets.parameters.restore_status()``).
    parameter : `~gammapy.modeling.Parameter`
        The parameter.
    value : float
        Its value.

    Returns
    -------
    stat : float
        Total statistic (NaN where the re-optimisation fails).
    """
    parameter.frozen = True
    parameter.value = value
    if len(datasets.parameters.free_parameters) > 0:
        if not engine.optimize(datasets).success:
            return np.nan
    return float(engine.stat_sum(datasets))


@optimiser_numerics()
def profile_crossing(engine, datasets, parameter, level, side, scale):
    """Where the profile of ``parameter`` crosses ``level`` on one side of its best fit.

    Bracketed from the best fit in steps growing tenfold from ``scale``
    (`~gammapy_trs.utils.numerics.bracket_root`), whatever the scale of the
    distance, then Brent's method (to 1e-4 of the scale, or a millionth of
    the distance); within the parameter's limits.

    Parameters
    ----------
    engine : `FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        Datasets at the best fit (left as they were found).
    parameter : `~gammapy.modeling.Parameter`
        The parameter.
    level : float
        The level of the statistic, e.g. its minimum plus ``n_sigma**2``.
    side : {-1, 1}
        Below or above the best fit.
    scale : float
        First step, e.g. the parameter's error.

    Returns
    -------
    distance : float
        Distance of the crossing from the best fit, positive; NaN where the
        profile does not reach the level within the parameter's limits.
    """
    best = float(parameter.value)
    low = -np.inf if np.isnan(parameter.min) else parameter.min
    high = np.inf if np.isnan(parameter.max) else parameter.max

    def rise(value):
        if not low <= value <= high:
            return np.nan
        return profile_stat(engine, datasets, parameter, value) - level

    with datasets.parameters.restore_status():
        root = bracket_root(rise, best, side * abs(scale), growth=10.0, max_steps=60, xtol=1e-4 * abs(scale), rtol=1e-6)
    return abs(root - best) if np.isfinite(root) else np.nan


def verified_interval(engine, datasets, parameter, sigma, interval, sides=("errn", "errp")):
    """An interval whose ends lie on the profile at their level, found again where they do not.

    Parameters
    ----------
    engine : `FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        Datasets at the best fit (left as they were found).
    parameter : `~gammapy.modeling.Parameter`
        The parameter.
    sigma : float
        Number of sigma of the interval (its level is ``sigma**2`` above the minimum).
    interval : dict
        The interval found (``errn``, ``errp``, ``success``, ``message``, ``nfev``).
    sides : tuple of str, optional
        The ends to check. Default is both.

    Returns
    -------
    interval : dict
        The same keys; ``success`` False and NaN ends where no end is found.
    """
    interval = dict(interval)
    stat_min = float(engine.stat_sum(datasets))
    level = stat_min + sigma**2
    best = float(parameter.value)
    scale = parameter.error if np.isfinite(parameter.error) and parameter.error > 0 else 0.1 * abs(best) or 1.0
    rechecked = []
    for side, key in ((-1, "errn"), (1, "errp")):
        if key not in sides:
            continue
        distance = interval.get(key, np.nan)
        valid = interval.get("success", False) and np.isfinite(distance) and distance > 0
        if valid:
            with datasets.parameters.restore_status():
                stat = profile_stat(engine, datasets, parameter, best + side * distance)
            valid = abs(stat - level) <= LEVEL_TOLERANCE
        if not valid:
            interval[key] = profile_crossing(engine, datasets, parameter, level, side, scale)
            rechecked.append(key)
    if rechecked:
        found = all(np.isfinite(interval[key]) for key in sides)
        interval["success"] = found
        interval["message"] = (
            f"{', '.join(rechecked)} found by bracketing the profile"
            + ("." if found else ": the profile does not reach its level.")
        )
    return interval


class FitEngine:
    """How the datasets of a bin are copied, fitted and profiled; one engine serves a whole run.

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`, optional
        The fit whose backend and options to use. Default is None, ``Fit()``.
    """

    name = None
    """The engine's name in ``engine=`` and the configuration."""

    def __init__(self, fit=None):
        self.fit = Fit() if fit is None else fit
        self._conditional = weakref.WeakKeyDictionary()  # a bin's datasets -> its ConditionalFits

    def __repr__(self):
        return f"{type(self).__name__}(fit={self.fit!r})"

    def tightened(self, factor):
        """The same engine whose optimiser stops ``factor`` times closer to the minimum (its
        ``tol``, iminuit's; e.g. for fits whose derivatives are taken)."""
        options = fit_options(self.fit)
        optimize_opts = dict(options["optimize_opts"])
        optimize_opts["tol"] = optimize_opts.get("tol", 0.1) * factor
        fit = type(self.fit)(**dict(options, optimize_opts=optimize_opts)) if type(self.fit) is Fit else self.fit
        return type(self)(fit)

    def copy(self, datasets, models=None):
        """Copies of datasets and models to fit; the originals are never changed.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets.
        models : list of models, optional
            Models to set on the copies (they are copied). Default is None,
            those of ``datasets``.

        Returns
        -------
        copies : `~gammapy.datasets.Datasets`
            Copies, with their dataset names (so that models stay linked).
        """
        raise NotImplementedError

    def run(self, datasets):
        """Optimisation and covariance, a `~gammapy.modeling.FitResult` (as `~gammapy.modeling.Fit.run`)."""
        return self._fit.run(datasets)

    def optimize(self, datasets):
        """Optimisation, an `~gammapy.modeling.fit.OptimizeResult` (as `~gammapy.modeling.Fit.optimize`)."""
        return self._fit.optimize(datasets)

    def confidence(self, datasets, parameter, sigma=1, sides=("errn", "errp")):
        """Profile-likelihood interval of a parameter, each end checked at its level.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Copies made by `copy`, at the best fit.
        parameter : `~gammapy.modeling.Parameter`
            The parameter.
        sigma : float, optional
            Number of sigma. Default is 1.
        sides : tuple of str, optional
            The ends that are used (and checked): ``"errn"``, ``"errp"``. Default is both.

        Returns
        -------
        result : dict
            ``errn``, ``errp`` (positive distances), ``success``, ``message``, ``nfev``.
        """
        interval = self._fit.confidence(datasets, parameter, sigma=sigma, reoptimize=True)
        if not self._guaranteed(interval):
            interval = verified_interval(self, datasets, parameter, sigma, interval, sides=sides)
        return interval

    @staticmethod
    def _guaranteed(interval):
        """Whether an interval's ends were found by a method that guarantees their level (the
        Newton steps of the compiled engine accept an end only there)."""
        return interval.get("method") == "newton-profile"

    def stat_sum(self, datasets):
        """Total statistic of the datasets (likelihood, priors and penalties), a float."""
        return float(datasets.stat_sum())

    def log_likelihood(self, datasets):
        """The bin's log-likelihood without priors, at batches of its free parameters' values (for
        samplers, `~gammapy_trs.engine.likelihood.LogLikelihood`): Gammapy's, as its Sampler's.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Copies made by `copy`.

        Returns
        -------
        likelihood : `~gammapy_trs.engine.likelihood.LogLikelihood`
            The likelihood; its ``parameters`` are the free parameters, in the order of the values.
        """
        return GammapyLikelihood(datasets, free_parameters(datasets))

    def conditional_minima(self, datasets, source, indices, points, start, deltas, tie=None):
        """A bin's fits with shared parameters fixed at each point, and the gradient there.

        At each point the bin's other free parameters are fitted from
        ``start``; the derivatives of the statistic at that minimum by the
        shared parameters, the others held there, are those of the bin's best
        statistic (the envelope theorem), for a joint fit of the shared
        parameters over the bins (`~gammapy_trs.estimation.joint`). The copies
        of a bin (`ConditionalFits`, made by `conditional_fits`) serve every
        call of this engine in one process.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            The bin's datasets with their models (not changed).
        source : str
            Name of the source model.
        indices : tuple of int
            Indices of the shared parameters in the source's parameters.
        points : tuple of tuple of float
            Values of the shared parameters at each point.
        start : tuple of float or None
            Start values of the other free parameters (NaN or None: the
            model's), in the order of ``free_parameters`` of the models.
        deltas : tuple of float
            Steps of central differences by each shared parameter, where the
            gradient is not analytic.
        tie : object, optional
            The shared parameters as a function of the point and, for a law
            of the bin's flux, of one of the bin's own free parameters
            (`Tie`): the point is then the law's coefficients. Default is
            None, the point is the shared parameters' values.

        Returns
        -------
        minima : list of tuple
            At each point ``(success, stat, values, gradient)``: ``values`` the
            best values of the other free parameters (None where the fit
            failed), ``gradient`` the derivatives by the point's coordinates.
        """
        return self._conditional_fits(datasets, source, indices).minima(points, start, deltas, tie=tie)

    def conditional_curvature(self, datasets, source, indices, point, start, deltas, tie=None):
        """`conditional_minima` at one point, with the second derivatives of the bin's best
        statistic by the shared parameters there where this engine knows them.

        Parameters
        ----------
        datasets, source, indices, start, deltas, tie
            As in `conditional_minima`.
        point : tuple of float
            Values of the shared parameters.

        Returns
        -------
        minimum : tuple
            ``(success, stat, values, gradient, curvature)``: ``curvature`` the
            matrix of second derivatives by the shared parameters' values, None
            where not known (e.g. Gammapy's engine, or a parameter at a limit):
            the caller then takes differences of the gradient.
        """
        return self._conditional_fits(datasets, source, indices).curvature(point, start, deltas, tie=tie)

    exact_curvature = False
    """Whether `conditional_curvature` gives the curvature (else always None)."""

    def _conditional_fits(self, datasets, source, indices):
        fits = self._conditional.setdefault(datasets, {})
        key = (source, tuple(indices))
        if key not in fits:
            fits[key] = self.conditional_fits(datasets, source, indices)
        return fits[key]

    def conditional_fits(self, datasets, source, indices):
        """The copies of a bin for its fits with the shared parameters fixed (`ConditionalFits`)."""
        return ConditionalFits(self, datasets, source, indices)

    def __getstate__(self):
        state = dict(self.__dict__)
        state.pop("_conditional", None)  # copies made in this process, not sent to another
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._conditional = weakref.WeakKeyDictionary()

    def counts_summary(self, datasets, source):
        """Counts, excess, predicted counts and predicted source counts of a bin, summed in the masks.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Copies made by `copy`.
        source : str
            Name of the source model.

        Returns
        -------
        summary : dict
            ``counts``, ``excess``, ``npred`` and ``npred_signal``.
        """
        summary = dict(counts=0.0, excess=0.0, npred=0.0, npred_signal=0.0)
        for dataset in datasets:
            for key, value in map_counts_summary(dataset, source).items():
                summary[key] += value
        return summary

    def fit_replaced(self, datasets, source, model):
        """The minimum with the source replaced by ``model`` (e.g. a nested alternative).

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Copies made by `copy`, at their best fit (not changed).
        source : str
            Name of the component to replace.
        model : `~gammapy.modeling.models.SkyModel`
            The replacement, at its starting values; left at its best fit.

        Returns
        -------
        success, stat : bool, float
            Whether the fit succeeded, and the total statistic at its minimum.
        """
        models = [model if m.name == source else m for m in datasets.models]
        copies = self.copy(datasets, models=models)
        result = self.optimize(copies)
        fitted = copies.models[source]
        for par, best in zip(model.parameters, fitted.parameters):
            par.value, par.error = best.value, best.error
        return bool(result.success), float(result.total_stat)

    def flux_points(self, datasets, source, energy_edges, n_sigma=1, n_sigma_ul=2):
        """Gammapy's `~gammapy.estimators.FluxPointsEstimator` on a bin, its limits checked, as arrays.

        The flux points are Gammapy's (a norm of the bin's model fitted in each
        energy bin, its shape fixed), their upper limits each checked at its
        level (`confidence`): at a kink of the statistic, e.g. in an energy bin
        without counts, MINOS can stop anywhere. Where Gammapy's limit would be
        negative (a best fit far below zero), it is the limit of the norm bounded
        at zero (the rise of the statistic above its value at a zero norm).

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Copies made by `copy`, at the bin's best fit (not changed).
        source : str
            Name of the source model.
        energy_edges : `~astropy.units.Quantity`
            Energy edges.
        n_sigma, n_sigma_ul : float, optional
            Number of sigma of the errors and of the upper limits. Default is 1 and 2.

        Returns
        -------
        sed : dict of str to `~numpy.ndarray`
            The flux points as arrays (`~gammapy_trs.engine.flux_points.flux_points_arrays`).
        """
        estimator = FluxPointsEstimator(
            energy_edges=energy_edges,
            source=source,
            n_sigma=n_sigma,
            n_sigma_ul=n_sigma_ul,
            selection_optional=["ul"],
            fit=_CheckedConfidence(self),
            n_jobs=1,
        )
        with datasets.parameters.restore_status():
            return flux_points_arrays(estimator.run(Datasets(list(datasets))))

    @property
    def _fit(self):
        """The `~gammapy.modeling.Fit` that runs the engine's fits."""
        return self.fit


class Tie:
    """The shared parameters of a bin as functions of a point and, for a law of the bin's flux, of
    one of its own free parameters: the interface of ``tie`` in `FitEngine.conditional_minima`.

    Subclasses (the laws' ties, `~gammapy_trs.estimation.laws`) set `parameter`
    and implement `shape`; they are sent to other processes with the bins' tasks.
    """

    parameter = None
    """Name of the source's free parameter that the shared ones follow (e.g. "amplitude"), or None."""

    lower = np.nan
    """A lower bound on `parameter` in the bin's fits (e.g. for a law of its logarithm), NaN for none."""

    def shape(self, point, value):
        """The shared parameters' values and their derivatives.

        Parameters
        ----------
        point : tuple of float
            The point (e.g. a law's coefficients).
        value : float or None
            Value of `parameter` (None where it is None).

        Returns
        -------
        values : `~numpy.ndarray`
            The shared parameters' values, shape ``(k,)``.
        jacobian : `~numpy.ndarray`
            Their derivatives by the point's coordinates, shape ``(k, m)``.
        slope : `~numpy.ndarray`
            Their derivatives by ``value``, shape ``(k,)`` (zeros where `parameter` is None).
        """
        raise NotImplementedError


class ConditionalFits:
    """A bin's copies with the shared parameters frozen, and its fits at points of them.

    Parameters
    ----------
    engine : `FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        The bin's datasets with their models (not changed: copied).
    source : str
        Name of the source model.
    indices : tuple of int
        Indices of the shared parameters in the source's parameters.
    """

    def __init__(self, engine, datasets, source, indices):
        self.engine = engine
        self.copies = engine.copy(datasets)
        self.source = source
        model = self.copies.models[source]
        self.shared = [model.parameters[idx] for idx in indices]
        for par in self.shared:
            par.frozen = True
        self.free = self.copies.models.parameters.free_parameters
        self.defaults = [par.value for par in self.free]

    def initial(self, start):
        """The start values: ``start`` where given and finite, else the model's."""
        if start is None or len(start) != len(self.defaults):
            return list(self.defaults)
        return [value if np.isfinite(value) else default for value, default in zip(start, self.defaults)]

    def minima(self, points, start, deltas, tie=None):
        """``(success, stat, values, gradient)`` at each point (`FitEngine.conditional_minima`)."""
        initial = self.initial(start)
        if tie is not None and tie.parameter is not None:
            return [self._tied_minimum(point, initial, deltas, tie) for point in points]
        minima = []
        for point in points:
            shape, jacobian = (point, None) if tie is None else tie.shape(point, None)[:2]
            minimum = self._minimum(shape, initial, deltas)
            minima.append(minimum if jacobian is None else chained(minimum, jacobian))
        return minima

    def curvature(self, point, start, deltas, tie=None):
        """``(success, stat, values, gradient, curvature)`` at one point
        (`FitEngine.conditional_curvature`); here ``curvature`` is None (not known)."""
        return (*self.minima([point], start, deltas, tie=tie)[0], None)

    def _minimum(self, point, initial, deltas):
        for par, value in zip(self.shared, point):
            par.value = value
        for par, value in zip(self.free, initial):
            par.value = value
        if len(self.free) > 0:
            try:
                result = self.engine.optimize(self.copies)
            except Exception as error:  # noqa: BLE001 -- a bin that cannot be fitted is left out
                log.debug(f"Conditional fit of the bin of {self.copies.names} failed: {error!r}")
                return False, np.nan, None, None
            if not result.success:
                return False, np.nan, None, None
        stat = self.engine.stat_sum(self.copies)
        return True, stat, [par.value for par in self.free], self._gradient(deltas)

    def _tied_minimum(self, point, initial, deltas, tie):
        """The minimum over the free parameters with the shared ones following one of them
        (`Tie`), by MIGRAD on Gammapy's statistic; the gradient by the point's coordinates."""
        linked = self.copies.models[self.source].parameters[tie.parameter]
        with bounded_below(linked, tie.lower):
            return self._tied_fit(point, initial, deltas, tie, linked)

    def _tied_fit(self, point, initial, deltas, tie, linked):
        """MIGRAD over the free parameters' factors with the engine's tolerance, the shared
        parameters set by the tie at each evaluation."""

        def stat(factors):
            for par, factor in zip(self.free, factors):
                par.factor = factor
            for par, value in zip(self.shared, tie.shape(point, linked.value)[0]):
                par.value = value
            return self.engine.stat_sum(self.copies)

        for par, value in zip(self.free, initial):
            par.value = value
        if np.isfinite(tie.lower) and not linked.value > tie.lower:
            linked.value = 10 * tie.lower
        self.copies.parameters.autoscale()
        minuit = Minuit(stat, [par.factor for par in self.free])
        minuit.errordef = 1
        minuit.tol = fit_options(self.engine.fit)["optimize_opts"].get("tol", 0.1)
        for i, par in enumerate(self.free):
            minuit.errors[i] = par.error / par.scale if par.error > 0 else 0.1 * max(abs(par.factor), 1e-3)
            minuit.limits[i] = (None if np.isnan(par.factor_min) else par.factor_min, None if np.isnan(par.factor_max) else par.factor_max)
        minuit.migrad()
        value = stat(np.array(minuit.values))
        if not (minuit.valid and np.isfinite(value)):
            return False, np.nan, None, None
        jacobian = tie.shape(point, linked.value)[1]
        return chained((True, value, [par.value for par in self.free], self._gradient(deltas)), jacobian)

    def _gradient(self, deltas):
        """Central differences of the statistic by each shared parameter, the others where they are."""
        gradient = []
        for par, delta in zip(self.shared, deltas):
            center = par.value
            values = []
            for sign in (1, -1):
                par.value = center + sign * delta
                values.append(self.engine.stat_sum(self.copies))
            par.value = center
            gradient.append((values[0] - values[1]) / (2 * delta))
        return gradient


@contextlib.contextmanager
def bounded_below(parameter, lower):
    """``parameter.min`` raised to ``lower`` (where finite) inside the block, restored on exit."""
    saved = parameter.min
    if np.isfinite(lower):
        parameter.min = lower if not np.isfinite(saved) else max(saved, lower)
    try:
        yield parameter
    finally:
        parameter.min = saved


def chained(minimum, jacobian):
    """A conditional minimum's gradient by the shared parameters turned into that by the point's
    coordinates, through the Jacobian of the parameters by the coordinates (the chain rule)."""
    success, stat, values, gradient = minimum
    if not success:
        return minimum
    return success, stat, values, list(np.asarray(jacobian, dtype=float).T @ np.asarray(gradient, dtype=float))


class _CheckedConfidence(Fit):
    """A `~gammapy.modeling.Fit` for Gammapy's estimators: the engine's fits, and its intervals
    checked at their level (`FitEngine.confidence`)."""

    def __init__(self, engine):
        super().__init__(**fit_options(engine._fit))
        self.engine = engine

    def run(self, datasets):
        return self.engine.run(datasets)

    def optimize(self, datasets):
        return self.engine.optimize(datasets)

    def covariance(self, datasets, optimize_result=None):
        return self.engine._fit.covariance(datasets, optimize_result=optimize_result)

    def confidence(self, datasets, parameter, sigma=1, reoptimize=True):
        # Gammapy's estimators ask for an interval for an upper limit: its upper end; where that
        # limit is negative (a best fit far below zero), the limit of the norm bounded at zero
        datasets = Datasets(datasets) if not isinstance(datasets, Datasets) else datasets
        parameter = datasets.parameters[parameter]
        interval = self.engine.confidence(datasets, parameter, sigma=sigma, sides=("errp",))
        if parameter.value + interval["errp"] < 0:
            with datasets.parameters.restore_status():
                level = profile_stat(self.engine, datasets, parameter, 0.0) + sigma**2
            best = parameter.value
            with datasets.parameters.restore_status():
                parameter.value = 0.0
                above = profile_crossing(self.engine, datasets, parameter, level, 1, interval["errp"] or 1.0)
            interval = dict(interval, errp=above - best, message="upper limit of the norm bounded at zero")
        return interval
