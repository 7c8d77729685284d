"""Parameters shared by all bins: one joint likelihood, maximised by a profile Newton method.

The joint statistic of the bins is ``P(theta) = sum_i min_phi_i stat_i(theta, phi_i)``,
``theta`` the shared parameters and ``phi_i`` the free parameters of bin ``i``. Each
evaluation of ``P`` is one independent fit per bin with ``theta`` fixed (in parallel,
warm-started from the last one). Newton steps on finite differences of ``P`` (steps of
half the current error) converge in a few iterations, so that the cost is a fixed
number of independent fits per bin, however many bins: close to linear in their
number. Differences of ``P`` itself, not the curvature of each bin, keep faint bins
(whose likelihood is far from quadratic) exact.
"""

import logging
import numpy as np
from astropy.table import Table
from scipy.optimize import brentq
from gammapy.datasets import Datasets
from ..utils.parameters import SourceParameters
from ..utils.numerics import optimiser_numerics
from .fast_fit import fast_fit
from .fast_statistic import copy_for_fit
from .runner import run_tasks

__all__ = [
    "SharedFitResult",
    "SharedParameters",
    "conditional_stat",
    "conditional_stats",
    "fit_shared_parameters",
    "profile_bounds",
    "stacked_fit",
]

log = logging.getLogger(__name__)


class SharedFitResult:
    """The shared parameters at the maximum of the joint likelihood.

    Attributes
    ----------
    values : `~numpy.ndarray`
        Best-fit values.
    covariance : `~numpy.ndarray`
        Their covariance (twice the inverse of the profile curvature of the statistic).
    stat : float
        Joint statistic at the best fit, over the bins used.
    used : `~numpy.ndarray`
        Bins whose conditional fit succeeded (the others are left out of the joint likelihood).
    n_iterations : int
        Newton iterations.
    success : bool
        Whether the iterations converged.
    """

    def __init__(self, values, covariance, stat, used, n_iterations, success):
        self.values = values
        self.covariance = covariance
        self.stat = stat
        self.used = used
        self.n_iterations = n_iterations
        self.success = success

    @property
    def errors(self):
        """Errors of the shared parameters (square roots of the covariance diagonal)."""
        return np.sqrt(np.diag(self.covariance))


def conditional_stat(datasets, source, shared, values, start, fit):
    """One bin's best statistic with the shared parameters fixed: ``(success, stat, values)``.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The bin's datasets with their models (not changed).
    source : str
        Source model name.
    shared : list of int
        Indices of the shared parameters in the source's parameters.
    values : list of float
        Values of the shared parameters.
    start : list of float or None
        Start values of the bin's other free parameters, in order (a warm start).
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    """
    return conditional_stats(datasets, source, shared, [values], start, fit)[0]


@optimiser_numerics()
def conditional_stats(datasets, source, shared, points, start, fit):
    """One bin's best statistic at each point of the shared parameters, a list of ``(success, stat, values)``.

    One copy of the bin's datasets serves every point; the fit at each starts
    from ``start`` (see `conditional_stat`), so that each result is that of a
    fit of its own.
    """
    copies = copy_for_fit(datasets)
    model = copies.models[source]
    for idx in shared:
        model.parameters[idx].frozen = True
    free = copies.models.parameters.free_parameters
    initial = [par.value for par in free]
    if start is not None and len(start) == len(free):
        initial = [value if np.isfinite(value) else default for value, default in zip(start, initial)]
    return [_conditional_fit(copies, model, shared, point, initial, fit) for point in points]


def _conditional_fit(copies, model, shared, values, initial, fit):
    for idx, value in zip(shared, values):
        model.parameters[idx].value = value
    free = copies.models.parameters.free_parameters
    for par, value in zip(free, initial):
        par.value = value
    try:
        result = fit.optimize(copies)
    except Exception as error:  # noqa: BLE001 -- a bin that cannot be fitted is left out
        log.debug(f"Conditional fit of the bin of {copies.names} failed: {error!r}")
        return False, np.nan, None
    if not result.success:
        return False, np.nan, None
    return True, float(copies.stat_sum()), [par.value for par in free]


def _profiles(groups, source, shared, points, starts, fit, n_jobs, backend):
    """Each bin's conditional statistic at each point: ``(success, stat, values)`` arrays
    (one task per bin for all points)."""
    tasks = {
        i: (group, source, shared, [list(point) for point in points], starts[i], fit)
        for i, group in enumerate(groups)
    }
    results = run_tasks(conditional_stats, tasks, n_jobs=n_jobs, backend=backend, task_name="Shared fit")
    success = np.array([[results[i][k][0] for i in range(len(groups))] for k in range(len(points))])
    stat = np.array([[results[i][k][1] for i in range(len(groups))] for k in range(len(points))])
    values = [results[i][0][2] for i in range(len(groups))]
    return success, stat, values


def fit_shared_parameters(
    groups,
    source,
    shared,
    start,
    fit,
    n_jobs=None,
    backend=None,
    fixed=(),
    bounds=None,
    scale=None,
    tolerance=0.01,
    max_iterations=30,
):
    """Maximise the joint likelihood of all bins in the shared parameters.

    Newton iterations on the profile ``P(theta) = sum_i min stat_i``: its
    gradient and curvature come from finite differences of ``P`` itself, each
    evaluation one independent (warm-started) fit per bin, with steps of half
    the current error, so that faint bins, whose likelihood is far from
    quadratic, count correctly. Steps are limited to 3 sigma and to the
    parameters' bounds, and halved where they overshoot.

    Parameters
    ----------
    groups : list of `~gammapy.datasets.Datasets`
        Datasets of each bin, with their models.
    source : str
        Source model name.
    shared : list of int
        Indices of the shared parameters in the source's parameters.
    start : list of float
        Start values of the shared parameters.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    n_jobs : int, optional
        Number of processes. Default is None, Gammapy's default.
    backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, Gammapy's default.
    fixed : list of int, optional
        Positions in ``shared`` of parameters kept at their start values (for
        profiles). Default is none.
    bounds : tuple of array-like, optional
        Lower and upper bounds of the shared parameters (NaN for none). Default is None.
    scale : array-like, optional
        First guess of the errors, the first finite-difference steps. Default is
        None, 10% of each value (or 0.01).
    tolerance : float, optional
        Convergence when every Newton step is below this many sigma. Default is 0.01.
    max_iterations : int, optional
        Largest number of Newton iterations. Default is 30.

    Returns
    -------
    result : `SharedFitResult`
        Result.
    """
    values = np.array(start, dtype=float)
    n = len(shared)
    free = np.flatnonzero([i not in fixed for i in range(n)])
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    if bounds is not None:
        low = np.nan_to_num(np.asarray(bounds[0], dtype=float), nan=-np.inf)
        high = np.nan_to_num(np.asarray(bounds[1], dtype=float), nan=np.inf)
    if scale is None or not np.all(np.isfinite(scale)) or np.any(np.asarray(scale) <= 0):
        scale = np.maximum(0.1 * np.abs(values), 0.01)
    steps = 0.5 * np.asarray(scale, dtype=float)
    starts = [None] * len(groups)
    covariance = np.full((n, n), np.nan)
    previous, halvings = None, 0
    noise = 0.01 + 1e-3 * np.sqrt(len(groups))  # of the summed statistic, from the fits' tolerance
    for iteration in range(1, max_iterations + 1):
        # the stencil's centre: at least one step inside the bounds
        center = values.copy()
        center[free] = np.clip(values[free], (low + steps)[free], (high - steps)[free])
        points, index = [center.copy()], {}
        for j in free:
            for sign in (1, -1):
                point = center.copy()
                point[j] = center[j] + sign * steps[j]
                index[(j, sign)] = len(points)
                points.append(point)
        for a_pos, j in enumerate(free):
            for l in free[a_pos + 1:]:
                point = center.copy()
                point[j] += steps[j]
                point[l] += steps[l]
                index[(j, l)] = len(points)
                points.append(point)
        success, stat, optimum = _profiles(groups, source, shared, points, starts, fit, n_jobs, backend)
        used = success.all(axis=0)
        if not used.any() or (
            previous is not None and stat[0, used].sum() > previous[1] + noise and halvings < 6
        ):
            if previous is None:
                raise ValueError("No bin could be fitted with the shared parameters at these values.")
            # the step went too far (or where no bin can be fitted): back to half of it
            values, halvings = previous[0] + 0.5 * (values - previous[0]), halvings + 1
            continue
        halvings = 0
        total = stat[:, used].sum(axis=1)
        values = center
        if len(free) == 0:
            return SharedFitResult(values, covariance, float(total[0]), used, iteration, True)
        gradient, hessian = np.zeros(len(free)), np.zeros((len(free), len(free)))
        for a_pos, j in enumerate(free):
            f_up, f_down, f0 = total[index[(j, 1)]], total[index[(j, -1)]], total[0]
            gradient[a_pos] = (f_up - f_down) / (2 * steps[j])
            hessian[a_pos, a_pos] = (f_up - 2 * f0 + f_down) / steps[j] ** 2
        for a_pos, j in enumerate(free):
            for b_pos in range(a_pos + 1, len(free)):
                l = free[b_pos]
                mixed = total[index[(j, l)]] - total[index[(j, 1)]] - total[index[(l, 1)]] + total[0]
                hessian[a_pos, b_pos] = hessian[b_pos, a_pos] = mixed / (steps[j] * steps[l])
        starts = [optimum[i] if success[0, i] else starts[i] for i in range(len(groups))]
        step = np.zeros(n)
        step[free] = _newton_step(gradient, hessian, max_step=6 * steps[free])
        step = np.clip(values + step, low, high) - values
        convex = np.all(np.linalg.eigvalsh(hessian) > 0)
        inverse = 2 * np.linalg.inv(hessian) if convex else np.full(hessian.shape, np.nan)
        covariance = np.full((n, n), np.nan)
        covariance[np.ix_(free, free)] = inverse
        sigma = np.sqrt(np.diag(inverse)) if convex else np.full(len(free), np.nan)
        if convex:
            steps[free] = 0.5 * sigma
            if np.all(np.abs(step[free]) <= tolerance * sigma):
                return SharedFitResult(values, covariance, float(total[0]), used, iteration, True)
        previous = (values.copy(), float(total[0]))
        values = values + step
    log.warning(f"The shared-parameter fit did not converge in {max_iterations} iterations.")
    return SharedFitResult(values, covariance, float(total[0]), used, max_iterations, False)


def _newton_step(gradient, hessian, max_step):
    """A Newton step where the profile is convex, else downhill; at most ``max_step`` in each parameter."""
    if np.all(np.linalg.eigvalsh(hessian) > 0):
        step = -np.linalg.solve(hessian, gradient)
    else:
        # not convex here (far from the optimum, e.g. faint bins): the longest step downhill
        step = -np.sign(gradient) * max_step
    ratio = np.max(np.abs(step) / max_step)
    return step / ratio if ratio > 1 else step


@optimiser_numerics()
def stacked_fit(groups, source_model, shared, fit):
    """The shared parameters fitted to all bins' datasets stacked (jointly where they do not stack).

    Returns
    -------
    values, errors : list of float
        Values and errors of the shared parameters.
    success : bool
        Whether the fit and its covariance succeeded; where they did not, the
        values and errors serve as start values and first steps only.
    """
    datasets = Datasets([d for group in groups for d in group])
    try:
        copies = copy_for_fit([datasets.stack_reduce(name="all-bins")], models=[source_model])
    except Exception:  # noqa: BLE001 -- e.g. datasets of different geometries
        copies = copy_for_fit(datasets)
    try:
        success = bool(fit.run(copies).success)
    except Exception as error:  # noqa: BLE001 -- a failed fit: its values serve as a start only
        log.debug(f"Fit of the stacked bins failed: {error!r}")
        success = False
    model = copies.models[source_model.name]
    values = [float(model.parameters[idx].value) for idx in shared]
    errors = [float(model.parameters[idx].error) for idx in shared]
    return values, errors, success


def profile_bounds(groups, source, shared, best, fit, n_sigma, n_jobs=None, backend=None):
    """Profile-likelihood errors of each shared parameter, the others re-optimised.

    Returns
    -------
    errn, errp : `~numpy.ndarray`
        Distances below and above the best fit where the joint statistic rises by
        ``n_sigma**2``; NaN where no bound is found.
    """
    errn, errp = np.full(len(best.values), np.nan), np.full(len(best.values), np.nan)
    target = best.stat + n_sigma**2
    for j, (center, sigma) in enumerate(zip(best.values, best.errors)):
        known = {}  # each value's rise, computed once: the root finder asks again for its bracket's ends

        def rise(value):
            value = float(value)
            if value not in known:
                values = best.values.copy()
                values[j] = value
                result = fit_shared_parameters(
                    groups, source, shared, values, fit, n_jobs, backend, fixed=[j], scale=best.errors
                )
                known[value] = result.stat - target
            return known[value]

        for sign, out in ((-1, errn), (1, errp)):
            near, far = center, center + sign * n_sigma * sigma
            try:
                for _ in range(20):
                    if rise(far) > 0:
                        break
                    near, far = far, center + 1.5 * (far - center)
                else:
                    continue
                bound = brentq(rise, *sorted((near, far)), xtol=1e-2 * sigma)
            except (ValueError, np.linalg.LinAlgError) as error:
                log.warning(f"Profile bound of shared parameter {j} not found: {error!r}")
                continue
            out[j] = abs(bound - center)
    return errn, errp


class SharedParameters:
    """Shared parameters fitted over all bins, and the bins' datasets with them fixed.

    Attributes
    ----------
    groups : list of `~gammapy.datasets.Datasets`
        Copies of the bins' datasets whose source model has the shared
        parameters frozen at their best fit.
    source_model : `~gammapy.modeling.models.SkyModel`
        The source model with them frozen.
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Its free parameters (the per-bin ones).
    table : `~astropy.table.Table`
        ``name``, ``value``, ``error``, ``errn``, ``errp``, ``value_stacked``,
        ``error_stacked`` and ``unit`` of each shared parameter: the ``_stacked``
        columns are those of one fit of all bins' datasets stacked (NaN where it
        failed): where only the normalisation varies between bins, the estimate
        to quote beside the shared value over many faint bins.
    meta : dict
        ``n_shared``, ``stat_joint`` (from the shared fit), ``shared_success``,
        ``shared_iterations`` and ``n_bins_joint`` (bins in the joint likelihood).
    """

    def __init__(self, groups, source_model, parameters, table, meta):
        self.groups = groups
        self.source_model = source_model
        self.parameters = parameters
        self.table = table
        self.meta = meta

    @classmethod
    def fit(cls, groups, source_model, parameters, names, fit, n_jobs=None, backend=None, n_sigma=None):
        """Fit the named shared parameters (see `fit_shared_parameters`).

        The conditional fits of the bins run on the compiled statistic where
        they can, as the per-bin fits do (`~gammapy_trs.estimation.fast_fit.fast_fit`).
        """
        fit = fast_fit(fit)
        unknown = [name for name in names if name not in parameters.names]
        if unknown:
            raise ValueError(
                f"shared_parameters {unknown} are not free parameters of source "
                f"{source_model.name!r}; free are {list(parameters.names)}."
            )
        if len(names) == len(parameters.names):
            raise ValueError("shared_parameters cannot be every free parameter: nothing would vary.")
        shared = [parameters.names[name] for name in names]
        stacked_values, stacked_errors, stacked_success = stacked_fit(groups, source_model, shared, fit)
        log.info(f"Fitting the shared parameters {names} over {len(groups)} bins.")
        pars = [source_model.parameters[idx] for idx in shared]
        bounds = ([par.min for par in pars], [par.max for par in pars])
        start = np.clip(stacked_values, np.nan_to_num(bounds[0], nan=-np.inf), np.nan_to_num(bounds[1], nan=np.inf))
        best = fit_shared_parameters(
            groups, source_model.name, shared, start, fit, n_jobs, backend, bounds=bounds, scale=stacked_errors
        )
        errn = errp = np.full(len(names), np.nan)
        if n_sigma is not None:
            errn, errp = profile_bounds(
                groups, source_model.name, shared, best, fit, n_sigma, n_jobs, backend
            )
        model = source_model.copy(name=source_model.name)
        for idx, value in zip(shared, best.values):
            model.parameters[idx].value = value
            model.parameters[idx].frozen = True
        stacked = np.where(stacked_success, [stacked_values, stacked_errors], np.nan)
        table = Table(
            dict(
                name=names,
                value=best.values,
                error=best.errors,
                errn=errn,
                errp=errp,
                value_stacked=stacked[0],
                error_stacked=stacked[1],
                unit=[str(source_model.parameters[idx].unit) for idx in shared],
            )
        )
        meta = dict(
            n_shared=len(names),
            stat_joint=best.stat,
            shared_success=bool(best.success),
            shared_iterations=best.n_iterations,
            n_bins_joint=int(best.used.sum()),
        )
        return cls(
            [_with_model(group, model) for group in groups],
            model,
            SourceParameters.from_model(model),
            table,
            meta,
        )


def _with_model(group, model):
    """Copies of a bin's datasets whose source model is ``model`` (the other models copied)."""
    copies = Datasets([dataset.copy(name=dataset.name) for dataset in group])
    copies.models = [
        model.copy(name=model.name) if m.name == model.name else m.copy(name=m.name)
        for m in group.models
    ]
    return copies
