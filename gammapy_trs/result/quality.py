"""The quality flags of a bin and of each of its parameters: why a value is NaN, or to be read with care.

A result's ``quality`` column is the bitmask of the flags of each bin (0: none);
``<par>_quality`` that of each fitted parameter. The flags are declared once,
in `QUALITY_FLAGS`, whose table the documentation prints.
"""

import dataclasses
import numpy as np

__all__ = ["QUALITY_FLAGS", "QualityFlag", "describe_quality", "flag_bit", "quality_names"]


@dataclasses.dataclass(frozen=True)
class QualityFlag:
    """One quality flag.

    Attributes
    ----------
    name : str
        Short name, e.g. ``"no_counts"``.
    bit : int
        Its bit in the bitmask.
    effect : str
        What it does to the bin's values.
    description : str
        When it is set.
    """

    name: str
    bit: int
    effect: str
    description: str


QUALITY_FLAGS = (
    QualityFlag(
        "fit_failed",
        1,
        "every fitted value and error NaN; the upper limit stays",
        "The fit or its covariance did not succeed (``fit_message`` says why).",
    ),
    QualityFlag(
        "no_counts",
        2,
        "every fitted value and error NaN; the upper limit stays",
        "No ON counts in the bin's fit range: nothing constrains the spectrum.",
    ),
    QualityFlag(
        "few_counts",
        4,
        "the shape parameters and their errors NaN; norm, flux and upper limit stay",
        "Too few counts to constrain the shape: the source's sqrt(TS) in the bin is below "
        "``sqrt_ts_threshold_shape`` (2 by default).",
    ),
    QualityFlag(
        "at_bound",
        8,
        "the parameter's value and error NaN",
        "The parameter stopped at one of its bounds (``min``/``max``): its value is the bound's, "
        "not the data's, and it has no error.",
    ),
    QualityFlag(
        "bad_covariance",
        16,
        "every error NaN (values kept)",
        "The covariance is singular or not positive definite: the errors are undefined.",
    ),
    QualityFlag(
        "negative_flux",
        32,
        "none (the best fit is a valid maximum-likelihood value)",
        "The best-fit norm is negative (fewer counts than the background predicts).",
    ),
)
"""Every quality flag, in the order of their bits."""

_BY_NAME = {flag.name: flag for flag in QUALITY_FLAGS}


def flag_bit(name):
    """The bit of a flag by its name.

    Parameters
    ----------
    name : str
        Flag name, one of `QUALITY_FLAGS`.

    Returns
    -------
    bit : int
        Its bit.
    """
    return _BY_NAME[name].bit


def quality_names(mask):
    """The names of the flags set in a bitmask, a list of str (empty for 0 or a missing value).

    Parameters
    ----------
    mask : int
        Bitmask.

    Returns
    -------
    names : list of str
        Names, in the order of `QUALITY_FLAGS`.
    """
    mask = int(mask) if np.isfinite(mask) else 0
    return [flag.name for flag in QUALITY_FLAGS if mask & flag.bit]


def describe_quality(mask):
    """The flags of a bitmask as text: ``"ok"`` for none, else their names joined by commas.

    Parameters
    ----------
    mask : int
        Bitmask.

    Returns
    -------
    text : str
        E.g. ``"few_counts, negative_flux"``.
    """
    names = quality_names(mask)
    return ", ".join(names) if names else "ok"
