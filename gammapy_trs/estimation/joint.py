"""Parameters shared by all bins: one joint likelihood, maximised by a profile Newton method.

The joint statistic of the bins is ``P(theta) = sum_i min_phi_i stat_i(theta, phi_i)``,
``theta`` the shared parameters and ``phi_i`` the free parameters of bin ``i``. Each
evaluation of ``P`` is one independent fit per bin with ``theta`` fixed (in parallel,
warm-started from the last one; `~gammapy_trs.engine.FitEngine.conditional_minima`). Its
gradient is exact without any more fit: at each bin's conditional minimum the derivative of
``min_phi stat_i`` by ``theta`` is that of ``stat_i`` with ``phi_i`` held there (the envelope
theorem), analytic on the compiled statistic, else a difference of the statistic over a step
of 1e-4 of the current error. Its curvature is exact too on the compiled statistic: at the
conditional minimum the second derivatives of ``min_phi stat_i`` by ``theta`` are
``H_tt - H_tp H_pp^-1 H_pt`` of the bin's full Hessian (the implicit function theorem;
`~gammapy_trs.engine.FitEngine.conditional_curvature`), so that each Newton iteration is one
fit per bin and the covariance at the minimum needs no more. Where a bin's curvature is not
known (Gammapy's engine, a law's ties, a parameter of the bin at a limit) it comes from
central differences of the gradient over half the current error, ``1 + 2 k`` fits per bin
for ``k`` shared parameters, and the covariance from differences over `CURVATURE_STEP` of an
error at the minimum. Newton steps converge in a few iterations, so that the cost is a fixed
number of independent fits per bin, however many bins: close to linear in their number.
Steps are limited to 3 sigma and halved where the statistic rises, which keeps faint bins
(whose likelihood is far from quadratic) on the way to the minimum. The fit has converged
where the expected decrease of ``P`` in a Newton step (the gradient's Newton decrement) is
below `EDM_TOLERANCE`.
"""

import dataclasses
import logging
import numpy as np
from ..utils.numerics import bracket_root, optimiser_numerics
from ..utils.parallel import progress

__all__ = ["JointProfile", "SharedFitResult", "fit_shared_parameters", "profile_bounds"]

log = logging.getLogger(__name__)

EDM_TOLERANCE = 1e-5
"""Largest expected decrease of the joint statistic in a Newton step at convergence (a step of
a few thousandths of a sigma)."""

GRADIENT_STEP = 1e-4
"""Step of the differences of a bin's statistic by a shared parameter, in units of its error."""

CONDITIONAL_TOLERANCE = 0.01
"""The conditional fits stop this many times closer to their minimum than the engine's other
fits (iminuit's ``tol``): their gradients are differenced, and the profile of strongly correlated
shared parameters is steep across the bins' own parameters."""

CURVATURE_STEP = 0.03
"""Step of the differences of the gradient at the minimum, in units of the errors: the covariance
is that of the curvature there, as HESSE's of a direct joint fit (the Newton steps use half an
error, to reach the minimum of a profile far from quadratic)."""


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


@dataclasses.dataclass(frozen=True)
class ProfileTask:
    """One bin's conditional fits at the points of the shared parameters.

    Attributes
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The bin's datasets (not changed).
    source : str
        Source model name.
    indices : tuple of int
        Indices of the shared parameters in the source's parameters.
    points : tuple of tuple of float
        Values of the shared parameters at each point.
    deltas : tuple of float
        Steps of the differences by each shared parameter (the gradient).
    start : tuple of float or None
        Start values of the bin's other free parameters (a warm start).
    engine : `~gammapy_trs.engine.FitEngine`
        Engine.
    tie : object, optional
        The shared parameters as functions of the point (a law's, `~gammapy_trs.estimation.laws`).
        Default is None, the point is their values.
    """

    datasets: object
    source: str
    indices: tuple
    points: tuple
    deltas: tuple
    start: object
    engine: object
    tie: object = None


@optimiser_numerics()
def conditional_stats(task):
    """One bin's best statistic at each point of the shared parameters, and its gradient by them.

    One copy of the bin's datasets serves every point (and, in one process,
    every call of the same engine: `~gammapy_trs.engine.FitEngine.conditional_minima`);
    the fit at each starts from the task's start values (a warm start), so that
    each result is that of a fit of its own.

    Parameters
    ----------
    task : `ProfileTask`
        The bin and the points.

    Returns
    -------
    results : list of tuple
        At each point ``(success, stat, values, gradient)``: ``values`` the best
        values of the bin's own free parameters, ``gradient`` the derivatives of
        its statistic by the shared parameters there.
    """
    return task.engine.conditional_minima(
        task.datasets, task.source, task.indices, task.points, task.start, task.deltas, tie=task.tie
    )


@optimiser_numerics()
def conditional_curvature(task):
    """`conditional_stats` at the task's one point, with the curvature by the shared parameters
    (`~gammapy_trs.engine.FitEngine.conditional_curvature`): ``(success, stat, values, gradient,
    curvature)``, ``curvature`` None where the engine does not know it."""
    return task.engine.conditional_curvature(
        task.datasets, task.source, task.indices, task.points[0], task.start, task.deltas, tie=task.tie
    )


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
        Engine of the conditional fits (which stop `CONDITIONAL_TOLERANCE` times
        closer to their minimum).
    runner : `~gammapy_trs.utils.parallel.Runner`
        Runner of the bins' fits.
    ties : list, optional
        Each bin's shared parameters as functions of the point (a law's ties,
        `~gammapy_trs.estimation.laws`): the points are then the law's
        coefficients. Default is None, the points are the shared parameters' values.
    """

    def __init__(self, groups, source, indices, engine, runner, ties=None):
        self.groups = groups
        self.source = source
        self.indices = list(indices)
        self.engine = engine.tightened(CONDITIONAL_TOLERANCE)
        self.runner = runner
        self.ties = [None] * len(groups) if ties is None else list(ties)
        self.starts = [None] * len(groups)
        self.exact = self.engine.exact_curvature and all(tie is None for tie in self.ties)
        """Whether to ask for each bin's curvature (`curvature`): set to False where it was not known."""

    def _tasks(self, points, deltas):
        points = tuple(tuple(map(float, point)) for point in points)
        deltas = tuple(map(float, deltas))
        return {
            i: ProfileTask(group, self.source, tuple(self.indices), points, deltas, self.starts[i], self.engine, self.ties[i])
            for i, group in enumerate(self.groups)
        }

    def __call__(self, points, deltas, desc=None):
        """Each bin's conditional statistic and gradient at each point, from the current start values.

        Parameters
        ----------
        points : list of array-like
            Values of the shared parameters.
        deltas : array-like
            Steps of the differences by each shared parameter.
        desc : str, optional
            A progress bar over the bins, with this description. Default is None, no bar.

        Returns
        -------
        success, stat : `~numpy.ndarray`
            Per point (rows) and bin (columns).
        gradient : `~numpy.ndarray`
            Per point, bin and coordinate of the point (NaN where the fit failed).
        optimum : list
            Each bin's best values of its own free parameters at the first point.
        """
        results = self.runner.run(conditional_stats, self._tasks(points, deltas), desc=desc)
        n, k = len(self.groups), len(points[0])
        success = np.array([[results[i][p][0] for i in range(n)] for p in range(len(points))])
        stat = np.array([[results[i][p][1] for i in range(n)] for p in range(len(points))])
        gradient = np.array(
            [[results[i][p][3] if results[i][p][0] else [np.nan] * k for i in range(n)] for p in range(len(points))]
        )
        return success, stat, gradient, [results[i][0][2] for i in range(n)]

    def curvature(self, point, deltas, desc=None):
        """Each bin's conditional statistic, gradient and curvature at one point.

        Parameters
        ----------
        point : array-like
            Values of the shared parameters.
        deltas : array-like
            Steps of differences by each shared parameter, where the gradient is not analytic.
        desc : str, optional
            A progress bar over the bins, with this description. Default is None, no bar.

        Returns
        -------
        success, stat : `~numpy.ndarray`
            Per bin.
        gradient : `~numpy.ndarray`
            Per bin and shared parameter (NaN where the fit failed).
        curvature : `~numpy.ndarray`
            Per bin, the matrix of second derivatives (NaN where not known).
        optimum : list
            Each bin's best values of its own free parameters.
        """
        results = self.runner.run(conditional_curvature, self._tasks([point], deltas), desc=desc)
        n, k = len(self.groups), len(point)
        results = [results[i] for i in range(n)]
        success = np.array([result[0] for result in results], dtype=bool)
        stat = np.array([result[1] for result in results], dtype=float)
        gradient = np.array([result[3] if result[0] else [np.nan] * k for result in results], dtype=float)
        curvature = np.array(
            [result[4] if result[0] and result[4] is not None else np.full((k, k), np.nan) for result in results],
            dtype=float,
        ).reshape(n, k, k)
        return success, stat, gradient, curvature, [result[2] for result in results]

    def warm_start(self, success, optimum):
        """Start the next conditional fits of the bins that succeeded from ``optimum``."""
        self.starts = [optimum[i] if success[i] else self.starts[i] for i in range(len(self.groups))]


def _stencil(center, steps, free):
    """The points of central differences of the gradient: the centre and ``+-`` each step."""
    points, index = [center.copy()], {}
    for j in free:
        for sign in (1, -1):
            point = center.copy()
            point[j] += sign * steps[j]
            index[(j, sign)] = len(points)
            points.append(point)
    return points, index


def _derivatives(gradients, index, steps, free):
    """The gradient at the centre and the Hessian from central differences of the gradient
    (symmetrised)."""
    gradient = gradients[0][free]
    columns = [(gradients[index[(j, 1)]][free] - gradients[index[(j, -1)]][free]) / (2 * steps[j]) for j in free]
    hessian = np.array(columns).T
    return gradient, (hessian + hessian.T) / 2


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
    """The state of the Newton iterations on the joint profile, and one iteration."""

    values: np.ndarray
    steps: np.ndarray
    low: np.ndarray
    high: np.ndarray
    free: np.ndarray
    noise: float
    previous: tuple = None
    halvings: int = 0
    covariance: np.ndarray = None
    stat: float = np.nan
    used: np.ndarray = None
    edm: float = np.nan
    last_center: np.ndarray = None
    exact: bool = False

    def center(self):
        """The stencil's centre: at least one step inside the bounds (steps at most a quarter of
        a bounded range, so that there is room for the stencil)."""
        f = self.free
        room = np.where(np.isfinite(self.high - self.low), 0.25 * (self.high - self.low), np.inf)
        self.steps[f] = np.minimum(self.steps[f], room[f])
        center = self.values.copy()
        center[f] = np.clip(self.values[f], (self.low + self.steps)[f], (self.high - self.steps)[f])
        return center

    def back_off(self):
        """Back to half of the last step (it went too far, or where no bin can be fitted)."""
        self.values = self.previous[0] + 0.5 * (self.values - self.previous[0])
        self.halvings += 1

    def iterate(self, profile):
        """One iteration: "converged", "stuck" (the centre does not move: a parameter runs to its
        bound), or None (go on)."""
        center = self.center()
        if self.last_center is not None and np.array_equal(center, self.last_center):
            return "stuck"
        self.last_center = center.copy()
        measured = self._exact(profile, center) if profile.exact and len(self.free) else None
        success, used, stat, gradient, hessian, optimum = measured or self._stencil(profile, center)
        if not used.any() or (self.previous is not None and _worse(stat, used, self.previous, self.noise) and self.halvings < 6):
            if self.previous is None:
                raise ValueError("No bin could be fitted with the shared parameters at these values.")
            self.back_off()
            return None
        self.halvings, self.values, self.used = 0, center, used
        self.stat = float(stat[used].sum())
        if len(self.free) == 0:
            return "converged"
        profile.warm_start(success, optimum)
        self.exact = measured is not None
        if self._update(gradient, hessian):
            return "converged"
        self.previous = (center.copy(), stat.copy(), used.copy())
        return None

    def _exact(self, profile, center):
        """At the centre, each bin's success (twice: fitted, used), the statistic, the gradient
        and the exact curvature summed over the bins used (one conditional fit per bin), and the
        bins' optima; None where a bin that was fitted has no curvature (then differences, from
        now on)."""
        success, stat, gradients, curvatures, optimum = profile.curvature(center, GRADIENT_STEP * 2 * self.steps)
        f = self.free
        if success.any() and not np.all(np.isfinite(curvatures[success])):
            profile.exact = False
            return None
        gradient, hessian = gradients[success].sum(axis=0)[f], curvatures[success].sum(axis=0)[np.ix_(f, f)]
        return success, success, stat, gradient, hessian, optimum

    def _stencil(self, profile, center):
        """As `_exact`, the curvature from central differences of the gradient over the current
        steps (``1 + 2 k`` conditional fits per bin), over the bins fitted at every point."""
        points, index = _stencil(center, self.steps, self.free)
        success, stat, gradients, optimum = profile(points, GRADIENT_STEP * 2 * self.steps)
        used = success.all(axis=0)
        gradient, hessian = _derivatives(gradients[:, used].sum(axis=1), index, self.steps, self.free)
        return success[0], used, stat[0], gradient, hessian, optimum

    def _update(self, gradient, hessian):
        """The Newton step (in units of the current errors, where the Hessian is well conditioned
        whatever the parameters' scales), the covariance and the steps; whether converged."""
        n = self.values.size
        units = 2 * self.steps[self.free]
        gradient, hessian = gradient * units, hessian * np.outer(units, units)
        step = np.zeros(n)
        step[self.free] = units * _newton_step(gradient, hessian, max_step=np.full(units.size, 3.0))
        step = np.clip(self.values + step, self.low, self.high) - self.values
        self.covariance = np.full((n, n), np.nan)
        converged = False
        if np.all(np.linalg.eigvalsh(hessian) > 0):
            inverse = 2 * np.linalg.inv(hessian) * np.outer(units, units)
            self.covariance[np.ix_(self.free, self.free)] = inverse
            self.steps[self.free] = 0.5 * np.sqrt(np.diag(inverse))
            self.edm = 0.5 * float(gradient @ np.linalg.solve(hessian, gradient))
            converged = self.edm < EDM_TOLERANCE
        if not converged:
            self.values = self.values + step
        return converged


def _worse(stat, used, previous, noise):
    """Whether the joint statistic at the new centre is above the last one (over the bins fitted at
    both: like with like), beyond the fits' noise."""
    _, last, last_used = previous
    both = used & last_used
    return not both.any() or stat[both].sum() > last[both].sum() + noise


def _local_covariance(profile, center, steps, free, covariance):
    """The covariance from the curvature at the minimum (differences of the gradient over
    `CURVATURE_STEP` of an error); the given one where it is not positive definite there."""
    small = 2 * CURVATURE_STEP * steps
    points, index = _stencil(center, small, free)
    success, _, gradients, _ = profile(points, GRADIENT_STEP * 2 * steps)
    used = success.all(axis=0)
    _, hessian = _derivatives(gradients[:, used].sum(axis=1), index, small, free)
    units = 2 * steps[free]
    hessian = hessian * np.outer(units, units)
    if not np.all(np.linalg.eigvalsh(hessian) > 0):
        return covariance
    local = np.full(covariance.shape, np.nan)
    local[np.ix_(free, free)] = 2 * np.linalg.inv(hessian) * np.outer(units, units)
    return local


def fit_shared_parameters(
    profile,
    start,
    bounds=None,
    scale=None,
    fixed=(),
    max_iterations=30,
    show_progress=True,
    with_covariance=True,
    desc="Shared fit (iterations)",
):
    """Maximise the joint likelihood of all bins in the shared parameters.

    Newton iterations on the profile ``P(theta) = sum_i min stat_i``, each
    evaluation one independent (warm-started) fit per bin: its gradient from
    the bins' statistics at their conditional minima (exact, by the envelope
    theorem), its curvature exact where the engine gives it (one fit per bin,
    ``profile.exact``), else from central differences of that gradient with
    steps of half the current error. Steps are limited to 3 sigma and to
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
    with_covariance : bool, optional
        Estimate the covariance from the curvature at the minimum (exact, or
        differences over `CURVATURE_STEP` of an error). Default is True.
    desc : str, optional
        Description of the progress bar. Default is "Shared fit (iterations)".

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
    free = np.flatnonzero([i not in fixed for i in range(n)])
    noise = 0.01 + 1e-3 * np.sqrt(len(profile.groups))  # of the summed statistic, from the fits' tolerance
    state = _Newton(values, 0.5 * np.asarray(scale, dtype=float), low, high, free, noise, covariance=np.full((n, n), np.nan))
    iterations = range(1, max_iterations + 1)
    outcome, iteration = None, 0
    for iteration in progress(iterations, desc=desc) if show_progress else iterations:
        outcome = state.iterate(profile)
        if outcome is not None:
            break
    if outcome == "converged":
        if with_covariance and len(free) and not state.exact:  # exact: already the curvature at the minimum
            state.covariance = _local_covariance(profile, state.values, state.steps, free, state.covariance)
        return SharedFitResult(state.values, state.covariance, state.stat, state.used, iteration, True, state.edm)
    if outcome == "stuck":
        log.warning(
            f"The shared-parameter fit does not move from {list(state.values)}: a parameter runs to "
            "its bound, where the data do not constrain it."
        )
    else:
        log.warning(
            f"The shared-parameter fit did not converge in {max_iterations} iterations "
            f"(expected decrease {state.edm:.3g} against {EDM_TOLERANCE})."
        )
    return SharedFitResult(state.values, state.covariance, state.stat, state.used, iteration, False, state.edm)


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
                profile, values, bounds=bounds, fixed=[j], scale=best.errors, show_progress=False, with_covariance=False
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
