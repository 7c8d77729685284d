"""Parameters shared by all bins: one joint likelihood, maximised by a profile Newton method.

The joint statistic of the bins is ``P(theta) = sum_i min_phi_i stat_i(theta, phi_i)``,
``theta`` the shared parameters and ``phi_i`` the free parameters of bin ``i``. Each
evaluation of ``P`` is one independent fit per bin with ``theta`` fixed (in parallel,
warm-started from the last one). Newton steps on central finite differences of ``P``
(steps of half the current error; the mixed derivatives of several shared parameters from
the four corners of each pair) converge in a few iterations, so that the cost is a fixed
number of independent fits per bin, however many bins: close to linear in their number.
Differences of ``P`` itself, not the curvature of each bin, keep faint bins (whose
likelihood is far from quadratic) exact. The fit has converged where the expected decrease
of ``P`` in a Newton step (the gradient's Newton decrement) is below `EDM_TOLERANCE`.
"""

import dataclasses
import logging
import numpy as np
from ..utils.numerics import bracket_root, optimiser_numerics
from ..utils.parallel import progress

__all__ = ["JointProfile", "SharedFitResult", "fit_shared_parameters", "profile_bounds"]

log = logging.getLogger(__name__)

EDM_TOLERANCE = 1e-4
"""Largest expected decrease of the joint statistic in a Newton step at convergence (a step of
about a hundredth of a sigma)."""


@dataclasses.dataclass
class SharedFitResult:
    """The shared parameters at the maximum of the joint likelihood.

    Attributes
    ----------
    values : `~numpy.ndarray`
        Best-fit values.
    covariance : `~numpy.ndarray`
        Their covariance (twice the inverse of the profile's curvature).
    stat : float
        Joint statistic at the best fit, over the bins used.
    used : `~numpy.ndarray`
        Bins whose conditional fit succeeded (the others are left out of the joint likelihood).
    n_iterations : int
        Newton iterations.
    success : bool
        Whether the Newton decrement fell below `EDM_TOLERANCE` at a convex point.
    edm : float
        The last Newton decrement.
    """

    values: np.ndarray
    covariance: np.ndarray
    stat: float
    used: np.ndarray
    n_iterations: int
    success: bool
    edm: float = np.nan

    @property
    def errors(self):
        """Errors of the shared parameters (square roots of the covariance diagonal)."""
        return np.sqrt(np.diag(self.covariance))


@optimiser_numerics()
def conditional_stats(task):
    """One bin's best statistic at each point of the shared parameters, a list of ``(success, stat, values)``.

    One copy of the bin's datasets serves every point; the fit at each starts
    from the task's start values (a warm start), so that each result is that
    of a fit of its own.

    Parameters
    ----------
    task : tuple
        ``(datasets, source, indices, points, start, engine)``: the bin's
        datasets (not changed), the source name, the indices of the shared
        parameters in its parameters, their values at each point, the start
        values of the bin's other free parameters (or None) and the engine.
    """
    datasets, source, indices, points, start, engine = task
    copies = engine.copy(datasets)
    model = copies.models[source]
    for idx in indices:
        model.parameters[idx].frozen = True
    free = copies.models.parameters.free_parameters
    initial = [par.value for par in free]
    if start is not None and len(start) == len(free):
        initial = [value if np.isfinite(value) else default for value, default in zip(start, initial)]
    return [_conditional_fit(engine, copies, model, indices, point, initial) for point in points]


def _conditional_fit(engine, copies, model, indices, values, initial):
    for idx, value in zip(indices, values):
        model.parameters[idx].value = value
    free = copies.models.parameters.free_parameters
    for par, value in zip(free, initial):
        par.value = value
    if len(free) == 0:  # every parameter shared: the bin's statistic at the point
        return True, float(engine.stat_sum(copies)), []
    try:
        result = engine.optimize(copies)
    except Exception as error:  # noqa: BLE001 -- a bin that cannot be fitted is left out
        log.debug(f"Conditional fit of the bin of {copies.names} failed: {error!r}")
        return False, np.nan, None
    if not result.success:
        return False, np.nan, None
    return True, float(engine.stat_sum(copies)), [par.value for par in free]


class JointProfile:
    """The joint statistic of the bins as a function of the shared parameters.

    Parameters
    ----------
    groups : list of `~gammapy.datasets.Datasets`
        Datasets of each bin, with their models.
    source : str
        Source model name.
    indices : list of int
        Indices of the shared parameters in the source's parameters.
    engine : `~gammapy_trs.engine.FitEngine`
        Engine of the conditional fits.
    runner : `~gammapy_trs.utils.parallel.Runner`
        Runner of the bins' fits.
    """

    def __init__(self, groups, source, indices, engine, runner):
        self.groups = groups
        self.source = source
        self.indices = list(indices)
        self.engine = engine
        self.runner = runner
        self.starts = [None] * len(groups)

    def __call__(self, points):
        """Each bin's conditional statistic at each point, from the current start values.

        Parameters
        ----------
        points : list of array-like
            Values of the shared parameters.

        Returns
        -------
        success, stat : `~numpy.ndarray`
            Per point (rows) and bin (columns).
        optimum : list
            Each bin's best values of its own free parameters at the first point.
        """
        points = [list(map(float, point)) for point in points]
        tasks = {
            i: (group, self.source, self.indices, points, self.starts[i], self.engine)
            for i, group in enumerate(self.groups)
        }
        results = self.runner.run(conditional_stats, tasks, desc=None)
        n = len(self.groups)
        success = np.array([[results[i][k][0] for i in range(n)] for k in range(len(points))])
        stat = np.array([[results[i][k][1] for i in range(n)] for k in range(len(points))])
        return success, stat, [results[i][0][2] for i in range(n)]

    def warm_start(self, success, optimum):
        """Start the next conditional fits of the bins that succeeded from ``optimum``."""
        self.starts = [optimum[i] if success[i] else self.starts[i] for i in range(len(self.groups))]


def _stencil(center, steps, free):
    """The points of central differences: the centre, ``+-`` each step, and the four corners of each pair."""
    points, index = [center.copy()], {}

    def add(key, shifts):
        point = center.copy()
        for j, sign in shifts:
            point[j] += sign * steps[j]
        index[key] = len(points)
        points.append(point)

    for j in free:
        for sign in (1, -1):
            add((j, sign), [(j, sign)])
    for a, j in enumerate(free):
        for l in free[a + 1:]:
            for sj in (1, -1):
                for sl in (1, -1):
                    add((j, sj, l, sl), [(j, sj), (l, sl)])
    return points, index


def _derivatives(total, index, steps, free):
    """Gradient and Hessian of the joint statistic from central differences on the stencil."""
    n = len(free)
    gradient, hessian = np.zeros(n), np.zeros((n, n))
    f0 = total[0]
    for a, j in enumerate(free):
        f_up, f_down = total[index[(j, 1)]], total[index[(j, -1)]]
        gradient[a] = (f_up - f_down) / (2 * steps[j])
        hessian[a, a] = (f_up - 2 * f0 + f_down) / steps[j] ** 2
    for a, j in enumerate(free):
        for b in range(a + 1, n):
            l = free[b]
            corners = [total[index[(j, sj, l, sl)]] * sj * sl for sj in (1, -1) for sl in (1, -1)]
            hessian[a, b] = hessian[b, a] = sum(corners) / (4 * steps[j] * steps[l])
    return gradient, hessian


def _newton_step(gradient, hessian, max_step):
    """A Newton step where the profile is convex, else downhill; at most ``max_step`` in each parameter."""
    if np.all(np.linalg.eigvalsh(hessian) > 0):
        step = -np.linalg.solve(hessian, gradient)
    else:
        # not convex here (far from the optimum, e.g. faint bins): the longest step downhill
        step = -np.sign(gradient) * max_step
    ratio = np.max(np.abs(step) / max_step)
    return step / ratio if ratio > 1 else step


@dataclasses.dataclass
class _Newton:
    """The state of the Newton iterations."""

    values: np.ndarray
    steps: np.ndarray
    low: np.ndarray
    high: np.ndarray
    free: np.ndarray
    previous: tuple = None
    halvings: int = 0

    def center(self):
        """The stencil's centre: at least one step inside the bounds."""
        center = self.values.copy()
        f = self.free
        center[f] = np.clip(self.values[f], (self.low + self.steps)[f], (self.high - self.steps)[f])
        return center

    def back_off(self):
        """Back to half of the last step (it went too far, or where no bin can be fitted)."""
        self.values = self.previous[0] + 0.5 * (self.values - self.previous[0])
        self.halvings += 1


def fit_shared_parameters(profile, start, bounds=None, scale=None, fixed=(), max_iterations=30, show_progress=True):
    """Maximise the joint likelihood of all bins in the shared parameters.

    Newton iterations on the profile ``P(theta) = sum_i min stat_i``: its
    gradient and curvature come from central finite differences of ``P``
    itself, each evaluation one independent (warm-started) fit per bin, with
    steps of half the current error, so that faint bins, whose likelihood is
    far from quadratic, count correctly. Steps are limited to 3 sigma and to
    the parameters' bounds, and halved where they overshoot. Converged where
    the Newton decrement ``g^T H^-1 g / 2`` is below `EDM_TOLERANCE` at a
    convex point.

    Parameters
    ----------
    profile : `JointProfile`
        The joint statistic.
    start : list of float
        Start values of the shared parameters.
    bounds : tuple of array-like, optional
        Lower and upper bounds of the shared parameters (NaN for none). Default is None.
    scale : array-like, optional
        First guess of the errors, the first finite-difference steps. Default is
        None, 10% of each value (or 0.01).
    fixed : list of int, optional
        Positions of parameters kept at their start values (for profiles). Default is none.
    max_iterations : int, optional
        Largest number of Newton iterations. Default is 30.
    show_progress : bool, optional
        Show a progress bar over the iterations. Default is True.

    Returns
    -------
    result : `SharedFitResult`
        Result.
    """
    values = np.array(start, dtype=float)
    n = values.size
    low, high = np.full(n, -np.inf), np.full(n, np.inf)
    if bounds is not None:
        low = np.nan_to_num(np.asarray(bounds[0], dtype=float), nan=-np.inf)
        high = np.nan_to_num(np.asarray(bounds[1], dtype=float), nan=np.inf)
    if scale is None or not np.all(np.isfinite(scale)) or np.any(np.asarray(scale) <= 0):
        scale = np.maximum(0.1 * np.abs(values), 0.01)
    profile.starts = [None] * len(profile.groups)
    state = _Newton(values, 0.5 * np.asarray(scale, dtype=float), low, high, np.flatnonzero([i not in fixed for i in range(n)]))
    noise = 0.01 + 1e-3 * np.sqrt(len(profile.groups))  # of the summed statistic, from the fits' tolerance
    covariance, total, edm = np.full((n, n), np.nan), [np.nan], np.nan
    iterations = range(1, max_iterations + 1)
    for iteration in progress(iterations, desc="Shared fit (iterations)") if show_progress else iterations:
        center = state.center()
        points, index = _stencil(center, state.steps, state.free)
        success, stat, optimum = profile(points)
        used = success.all(axis=0)
        if not used.any() or (
            state.previous is not None and stat[0, used].sum() > state.previous[1] + noise and state.halvings < 6
        ):
            if state.previous is None:
                raise ValueError("No bin could be fitted with the shared parameters at these values.")
            state.back_off()
            continue
        state.halvings = 0
        total = stat[:, used].sum(axis=1)
        state.values = center
        if len(state.free) == 0:
            return SharedFitResult(center, covariance, float(total[0]), used, iteration, True, 0.0)
        gradient, hessian = _derivatives(total, index, state.steps, state.free)
        profile.warm_start(success[0], optimum)
        step = np.zeros(n)
        step[state.free] = _newton_step(gradient, hessian, max_step=6 * state.steps[state.free])
        step = np.clip(center + step, low, high) - center
        convex = np.all(np.linalg.eigvalsh(hessian) > 0)
        covariance = np.full((n, n), np.nan)
        if convex:
            inverse = 2 * np.linalg.inv(hessian)
            covariance[np.ix_(state.free, state.free)] = inverse
            state.steps[state.free] = 0.5 * np.sqrt(np.diag(inverse))
            edm = 0.5 * float(gradient @ np.linalg.solve(hessian, gradient))
            if edm < EDM_TOLERANCE:
                return SharedFitResult(center, covariance, float(total[0]), used, iteration, True, edm)
        state.previous = (center.copy(), float(total[0]))
        state.values = center + step
    log.warning(
        f"The shared-parameter fit did not converge in {max_iterations} iterations "
        f"(expected decrease {edm:.3g} against {EDM_TOLERANCE})."
    )
    return SharedFitResult(state.values, covariance, float(total[0]), used, max_iterations, False, edm)


def profile_bounds(profile, best, n_sigma, bounds=None):
    """Profile-likelihood errors of each shared parameter, the others re-optimised.

    Parameters
    ----------
    profile : `JointProfile`
        The joint statistic.
    best : `SharedFitResult`
        The joint fit.
    n_sigma : float
        Number of sigma.
    bounds : tuple of array-like, optional
        Bounds of the shared parameters. Default is None.

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
                profile, values, bounds=bounds, fixed=[j], scale=best.errors, show_progress=False
            )
            return result.stat - target

        for sign, out in ((-1, errn), (1, errp)):
            try:
                bound = bracket_root(
                    rise, center, sign * n_sigma * sigma, growth=1.5, max_steps=20, xtol=1e-2 * sigma, shrink=False
                )
            except (ValueError, np.linalg.LinAlgError) as error:
                log.warning(f"Profile bound of shared parameter {j} not found: {error!r}")
                continue
            out[j] = abs(bound - center) if np.isfinite(bound) else np.nan
    return errn, errp
