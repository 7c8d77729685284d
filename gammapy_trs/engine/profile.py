"""Profile-likelihood intervals on a statistic with an analytic gradient (Venzon & Moolgavkar).

MINOS finds each end of an interval by a sequence of conditional MIGRADs
(about four per side, some 25 to 60 evaluations per parameter on the
PKS 2155-304 night). With the statistic's gradient, each end is instead the
solution of one system of equations, solved by Newton's method (Venzon &
Moolgavkar 1988, Applied Statistics 37, 87): at the end ``x`` of the interval
of parameter ``p``,

* the statistic equals the minimum plus ``n_sigma**2``, and
* its derivatives by the other parameters are zero (they are at their
  conditional minimum: ``x`` lies on the profile).

Each Newton step comes from the quadratic model of the statistic at the
current point, with the Hessian of the fit's covariance at the start and
quasi-Newton (BFGS) updates from the gradients along the way; the first
point is the end of the interval of that quadratic model. Two to four
evaluations of the statistic and its gradient per side usually suffice. An
end is accepted only where both equations hold to the tolerances (the
statistic within `TOL_STAT` of its level, the expected decrease of a
conditional minimisation below `TOL_PROFILE`). A step to where the
statistic is not finite is halved; a step outside a parameter's limits, a
lower minimum, a non-convex model or no convergence give None, and the
caller uses MINOS.
"""

import logging
import numpy as np
from .quasi_newton import bfgs_update

__all__ = ["profile_interval"]

log = logging.getLogger(__name__)

TOL_STAT = 3e-3
"""Largest difference of the statistic at an end from its level (the error's
own error is about ``TOL_STAT / 2 / n_sigma`` of the error, less after the
last Newton step taken without evaluation)."""

TOL_PROFILE = 1e-3
"""Largest expected decrease of the statistic in a minimisation over the other parameters."""

MAX_ITERATIONS = 12
"""Largest number of evaluations for one end (then MINOS)."""


def _end(value_and_gradient, minimum, stat_min, covariance, idx, side, n_sigma, limits):
    """The offset of one end of the interval from the minimum and the evaluations, or None."""
    n = len(minimum)
    others = np.array([j for j in range(n) if j != idx], dtype=int)
    hessian = np.linalg.inv(covariance)
    level = stat_min + n_sigma**2
    step = side * n_sigma * covariance[:, idx] / np.sqrt(covariance[idx, idx])
    origin, previous = minimum, None  # the last point where the statistic is finite, and its gradient
    x = origin + step
    for n_eval in range(1, MAX_ITERATIONS + 1):
        if np.any(x < limits[0]) or np.any(x > limits[1]):
            return None, n_eval - 1
        stat, gradient = value_and_gradient(x)
        if not (np.isfinite(stat) and np.all(np.isfinite(gradient))):
            step /= 2  # e.g. a negative predicted count: back towards the last point
            x = origin + step
            continue
        if stat < stat_min - TOL_STAT:  # a lower minimum than the fit's
            return None, n_eval
        if previous is not None:
            hessian = bfgs_update(hessian, x - previous[0], gradient - previous[1])
        h_qq, h_qp = hessian[np.ix_(others, others)], hessian[others, idx]
        try:
            solved = np.linalg.solve(h_qq, np.column_stack([gradient[others], h_qp]))
        except np.linalg.LinAlgError:
            return None, n_eval
        decrease = 0.5 * gradient[others] @ solved[:, 0]  # of a minimisation over the others
        curvature = hessian[idx, idx] - h_qp @ solved[:, 1]  # of the quadratic model's profile
        if not (curvature > 0 and decrease >= 0):
            return None, n_eval
        slope = gradient[idx] - h_qp @ solved[:, 0]
        offset = stat - level - decrease
        discriminant = slope**2 - 2 * curvature * offset
        if discriminant < 0:  # the level is out of the model's reach: go to its profile's minimum
            step_p = -slope / curvature
        else:
            step_p = (-slope + side * np.sqrt(discriminant)) / curvature
        if abs(stat - level) < TOL_STAT and decrease < TOL_PROFILE:
            return x[idx] + step_p - minimum[idx], n_eval
        step = np.empty(n)
        step[idx] = step_p
        step[others] = -solved[:, 0] - solved[:, 1] * step_p
        origin, previous = x, (x, gradient)
        x = x + step
    return None, MAX_ITERATIONS


def profile_interval(value_and_gradient, minimum, stat_min, covariance, idx, n_sigma=1, limits=None):
    """Both ends of the profile-likelihood interval of one parameter, or None where one is not found.

    Parameters
    ----------
    value_and_gradient : callable
        The statistic (twice the negative log-likelihood, up to a constant)
        and its gradient at a vector of parameters.
    minimum : `~numpy.ndarray`
        The parameters at the statistic's minimum.
    stat_min : float
        The statistic there.
    covariance : `~numpy.ndarray`
        An estimate of the covariance at the minimum (e.g. MIGRAD's).
    idx : int
        Index of the parameter.
    n_sigma : float, optional
        Half-width of the interval in standard deviations: its ends are where
        the profile is ``n_sigma**2`` above the minimum. Default is 1.
    limits : tuple of `~numpy.ndarray`, optional
        Lower and upper limits of the parameters (-inf, inf without). Default
        is None, no limits.

    Returns
    -------
    result : dict or None
        ``"errn"`` and ``"errp"`` (the distances of the ends from the
        minimum, positive) and ``"nfev"``, or None where an end is not found.
    """
    minimum = np.asarray(minimum, dtype=float)
    covariance = np.asarray(covariance, dtype=float)
    if limits is None:
        limits = (np.full(minimum.size, -np.inf), np.full(minimum.size, np.inf))
    if covariance.shape != (minimum.size,) * 2 or not np.all(np.isfinite(covariance)):
        return None
    if not covariance[idx, idx] > 0 or np.any(np.linalg.eigvalsh(covariance) <= 0):
        return None
    result = dict(nfev=0)
    for side, key in ((-1, "errn"), (1, "errp")):
        with np.errstate(all="ignore"):
            offset, n_eval = _end(value_and_gradient, minimum, stat_min, covariance, idx, side, n_sigma, limits)
        result["nfev"] += n_eval
        if offset is None or side * offset <= 0:
            log.debug(f"Profile interval of parameter {idx}: {key} not found, after {n_eval} evaluations.")
            return None
        result[key] = abs(offset)
    return result
