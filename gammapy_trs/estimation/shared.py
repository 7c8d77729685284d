"""Parameters shared by all bins: one joint likelihood, maximised by a profile Newton method.

The joint statistic of the bins is ``P(theta) = sum_i min_phi_i stat_i(theta, phi_i)``,
``theta`` the shared parameters and ``phi_i`` the free parameters of bin ``i``. Each term
is an independent fit of one bin with ``theta`` fixed (parallel, warm-started), and
its first and second derivatives in ``theta`` follow from that fit: the gradient is the
partial derivative at the bin's optimum (envelope theorem) and the curvature the inverse
of the ``theta`` block of the bin's covariance with ``theta`` free (Schur complement).
Newton steps on the summed terms converge in a few iterations, so that the cost is a
few independent fits per bin: linear in the number of bins, however many.
"""

import logging
import numpy as np
from astropy.table import Table
from scipy.optimize import brentq
from gammapy.datasets import Datasets
from ..utils.parameters import SourceParameters
from .fast_statistic import copy_for_fit
from .runner import run_tasks

__all__ = [
    "SharedFitResult",
    "SharedParameters",
    "fit_shared_parameters",
    "profile_bounds",
    "profile_term",
    "stacked_start",
]

log = logging.getLogger(__name__)


def _shared(model, indices):
    return [model.parameters[idx] for idx in indices]


def profile_term(datasets, source, shared, values, start, fit):
    """One bin's term of the joint statistic, with its derivatives in the shared parameters.

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
    start : dict or None
        Start values of the bin's other free parameters, by name (a warm start).
    fit : `~gammapy.modeling.Fit`
        Fit instance.

    Returns
    -------
    term : dict
        ``success``, ``stat``, ``gradient`` and ``hessian`` (of the statistic in the shared
        parameters, profiled over the others) and ``values`` (the bin's free parameters).
    """
    copies = copy_for_fit(datasets)
    model = copies.models[source]
    pars = _shared(model, shared)
    for par, value in zip(pars, values):
        par.value, par.frozen = value, True
    free = copies.models.parameters.free_parameters
    if start:
        for par in free:
            if par.name in start and np.isfinite(start[par.name]):
                par.value = start[par.name]
    failed = dict(success=False, stat=np.nan, gradient=None, hessian=None, values=None)
    try:
        result = fit.optimize(copies)
        if not result.success:
            return failed
        optimum = {par.name: par.value for par in copies.models.parameters.free_parameters}
        for par in pars:
            par.frozen = False
        covariance = fit.covariance(copies)
        if not covariance.success:
            return failed
        stat, gradient, hessian = _profile_derivatives(copies, pars, np.asarray(covariance.matrix))
    except Exception as error:  # noqa: BLE001 -- a bin that cannot be fitted is left out
        log.warning(f"Conditional fit of the bin of {copies.names} failed: {error!r}")
        return failed
    return dict(success=True, stat=stat, gradient=gradient, hessian=hessian, values=optimum)


def _profile_derivatives(datasets, shared, matrix):
    """Statistic, gradient and curvature of the profile in the shared parameters.

    The gradient of the statistic in every free parameter is taken by central
    differences (steps of a tenth of each error); the optimiser's small distance
    to the conditional optimum is then corrected to first order with the
    curvature ``H = 2 C^-1``: gradient ``g_s - H_sp H_pp^-1 g_p`` and statistic
    ``stat - g_p H_pp^-1 g_p / 2`` (``s`` shared, ``p`` the bin's own parameters).
    """
    everything = list(datasets.models.parameters)
    free = datasets.models.parameters.free_parameters
    index = [next(i for i, p in enumerate(everything) if p is par) for par in free]
    covariance = matrix[np.ix_(index, index)]
    is_shared = np.array([any(par is p for p in shared) for par in free])
    stat = float(datasets.stat_sum())
    gradient = np.empty(len(free))
    for k, par in enumerate(free):
        center, step = par.value, 0.1 * np.sqrt(max(covariance[k, k], 1e-300))
        par.value = center + step
        upper = float(datasets.stat_sum())
        par.value = center - step
        lower = float(datasets.stat_sum())
        par.value = center
        gradient[k] = (upper - lower) / (2 * step)
    hessian = 2 * np.linalg.inv(covariance)
    s, p = is_shared, ~is_shared
    if p.any():
        correction = np.linalg.solve(hessian[np.ix_(p, p)], gradient[p])
        profile_gradient = gradient[s] - hessian[np.ix_(s, p)] @ correction
        stat -= 0.5 * float(gradient[p] @ correction)
    else:
        profile_gradient = gradient[s]
    # order of the shared parameters as given
    order = [next(k for k, par in enumerate(free) if par is target) for target in shared]
    positions = {k: j for j, k in enumerate(np.flatnonzero(s))}
    permutation = [positions[k] for k in order]
    profile_gradient = profile_gradient[permutation]
    profile_hessian = 2 * np.linalg.inv(covariance[np.ix_(order, order)])
    return stat, profile_gradient, profile_hessian


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


def _terms(groups, source, shared, values, starts, fit, n_jobs, backend):
    tasks = {
        index: (group, source, shared, list(values), starts[index], fit)
        for index, group in enumerate(groups)
    }
    results = run_tasks(profile_term, tasks, n_jobs=n_jobs, backend=backend, task_name="Shared fit")
    return [results[index] for index in range(len(groups))]


def fit_shared_parameters(
    groups,
    source,
    shared,
    start,
    fit,
    n_jobs=None,
    backend=None,
    fixed=(),
    tolerance=0.01,
    max_iterations=30,
):
    """Maximise the joint likelihood of all bins in the shared parameters.

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
    free = np.array([i not in fixed for i in range(len(shared))])
    starts = [None] * len(groups)
    previous, step_scale, covariance = None, 1.0, np.full((len(shared),) * 2, np.nan)
    for iteration in range(1, max_iterations + 1):
        terms = _terms(groups, source, shared, values, starts, fit, n_jobs, backend)
        used = np.array([term["success"] for term in terms])
        if not used.any():
            raise ValueError("No bin could be fitted with the shared parameters at these values.")
        stat = float(sum(term["stat"] for term in terms if term["success"]))
        gradient = sum(term["gradient"] for term in terms if term["success"])
        hessian = sum(term["hessian"] for term in terms if term["success"])
        covariance = 2 * np.linalg.inv(hessian)
        if not free.any():
            return SharedFitResult(values, covariance, stat, used, iteration, True)
        step = np.zeros(len(shared))
        step[free] = -np.linalg.solve(hessian[np.ix_(free, free)], gradient[free])
        # the Newton decrement: the statistic's predicted fall, robust to the fits' noise
        decrement = float(-gradient[free] @ step[free])
        if previous is not None and decrement > previous[0] and step_scale > 1 / 64:
            # the last step overshot: back to half of it
            step_scale /= 2
            values = previous[1] + step_scale * previous[2]
            continue
        starts = [term["values"] if term["success"] else starts[i] for i, term in enumerate(terms)]
        sigma = np.sqrt(np.diag(covariance))
        if np.all(np.abs(step) <= tolerance * sigma):
            return SharedFitResult(values, covariance, stat, used, iteration, True)
        previous, step_scale = (decrement, values.copy(), step), 1.0
        values = values + step
    log.warning(f"The shared-parameter fit did not converge in {max_iterations} iterations.")
    return SharedFitResult(values, covariance, stat, used, max_iterations, False)


def stacked_start(groups, source_model, shared, fit):
    """Start values of the shared parameters: a fit of all bins' datasets stacked (or joint)."""
    datasets = Datasets([d for group in groups for d in group])
    try:
        copies = copy_for_fit([datasets.stack_reduce(name="all-bins")], models=[source_model])
    except Exception:  # noqa: BLE001 -- e.g. datasets of different geometries
        copies = copy_for_fit(datasets)
    fit.optimize(copies)
    model = copies.models[source_model.name]
    return [float(model.parameters[idx].value) for idx in shared]


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

        def rise(value):
            values = best.values.copy()
            values[j] = value
            result = fit_shared_parameters(
                groups, source, shared, values, fit, n_jobs, backend, fixed=[j]
            )
            return result.stat - target

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
        ``name``, ``value``, ``error``, ``errn``, ``errp`` and ``unit`` of each shared parameter.
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
        """Fit the named shared parameters (see `fit_shared_parameters`)."""
        unknown = [name for name in names if name not in parameters.names]
        if unknown:
            raise ValueError(
                f"shared_parameters {unknown} are not free parameters of source "
                f"{source_model.name!r}; free are {list(parameters.names)}."
            )
        if len(names) == len(parameters.names):
            raise ValueError("shared_parameters cannot be every free parameter: nothing would vary.")
        shared = [parameters.names[name] for name in names]
        start = stacked_start(groups, source_model, shared, fit)
        log.info(f"Fitting the shared parameters {names} over {len(groups)} bins.")
        best = fit_shared_parameters(groups, source_model.name, shared, start, fit, n_jobs, backend)
        errn = errp = np.full(len(names), np.nan)
        if n_sigma is not None:
            errn, errp = profile_bounds(
                groups, source_model.name, shared, best, fit, n_sigma, n_jobs, backend
            )
        model = source_model.copy(name=source_model.name)
        for idx, value in zip(shared, best.values):
            model.parameters[idx].value = value
            model.parameters[idx].frozen = True
        table = Table(
            dict(
                name=names,
                value=best.values,
                error=best.errors,
                errn=errn,
                errp=errp,
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
