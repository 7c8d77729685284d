"""Floating-point warnings during optimisation."""

import numpy as np

__all__ = ["optimiser_numerics"]


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
