"""Numerics shared by the fits: the floating-point state of an optimiser, and a bracketed root."""

import numpy as np
from scipy.optimize import brentq

__all__ = ["bracket_root", "optimiser_numerics"]


def optimiser_numerics():
    """A context (and decorator) in which floating-point overflow, underflow, division by zero
    and invalid operations raise no warning.

    An optimiser probes parameter values far from the best fit (e.g. an index
    of 50), where the predicted counts overflow; that is expected and says
    nothing about the result. What a fit gives is judged by its status and the
    finiteness of its values (NaN plus a reason where it fails), not by these
    warnings, which would otherwise reach the user on valid input.

    Returns
    -------
    context : `numpy.errstate`
        Context, usable as a decorator.
    """
    return np.errstate(over="ignore", under="ignore", divide="ignore", invalid="ignore")


FLAT_STEPS = 3
"""Steps out without a rise of the function after which `bracket_root` gives up (e.g. a profile
likelihood that has reached a plateau, a parameter running away where no signal is left)."""


def bracket_root(
    function, origin, step, growth=10.0, max_steps=200, xtol=None, rtol=1e-10, shrink=True, flat_steps=FLAT_STEPS
):
    """The root of ``function`` on one side of ``origin``, bracketed first, then found by Brent's method.

    ``function`` is assumed not positive at ``origin`` (e.g. a profile
    likelihood minus its level, at the best fit). The far end of the bracket
    is the first of ``origin + step * growth**k`` (k = 0, 1, ...) where the
    function is positive; where it is positive already at ``origin + step``
    (and ``shrink``), the near end is the first of ``origin + step / growth**k``
    where it is not, so that the bracket is within a factor ``growth`` of the
    root whatever its scale. Each value is computed once (Brent's method asks again
    for the ends of its bracket).

    Parameters
    ----------
    function : callable
        A function of one float.
    origin : float
        Where the search starts (the function not positive there).
    step : float
        First step; its sign gives the side searched.
    growth : float, optional
        Factor between successive steps. Default is 10.
    max_steps : int, optional
        Largest number of steps out (and in). Default is 200.
    xtol : float, optional
        Absolute tolerance of the root. Default is None, ``1e-12 * |step of the far end|``.
    rtol : float, optional
        Relative tolerance of the root. Default is 1e-10.
    shrink : bool, optional
        Bring the near end in where the function is positive at the first step.
        Default is True.
    flat_steps : int or None, optional
        Give up after this many steps out without a rise; None never.
        Default is `FLAT_STEPS`.

    Returns
    -------
    root : float
        The root, NaN where the function never turns positive (within
        ``max_steps``, or it stops rising for ``flat_steps`` steps) or is not
        negative anywhere in the bracket (no defensible number).
    """
    known = {}

    def value(x):
        x = float(x)
        if x not in known:
            known[x] = float(function(x))
        return known[x]

    step = float(step)
    if not (np.isfinite(step) and step != 0 and np.isfinite(origin)):
        return np.nan
    near, far = origin, origin + step
    flat = 0
    for _ in range(max_steps):
        if value(far) > 0:
            break
        if flat_steps and near != origin and not value(far) > value(near) + 1e-9 * max(1.0, abs(value(near))):
            flat += 1
            if flat == flat_steps:  # the function no longer rises: it will not turn positive
                return np.nan
        else:
            flat = 0
        near, far = far, origin + (far - origin) * growth
    else:
        return np.nan
    if shrink and near == origin:  # positive at the first step: bring the near end in, within a factor growth
        for _ in range(max_steps):
            candidate = origin + (far - origin) / growth
            if not value(candidate) > 0:
                near = candidate
                break
            far = candidate
        if value(near) > 0 or not np.isfinite(value(near)):
            return np.nan
    if not value(near) <= 0:
        return np.nan
    xtol = 1e-12 * abs(far - origin) if xtol is None else xtol
    low, high = sorted((near, far))
    return float(brentq(value, low, high, xtol=xtol, rtol=rtol))
