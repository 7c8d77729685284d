"""The per-bin quantities of a `~gammapy_trs.TimeResolvedSpectrum`, declared once.

Each quantity is a `QuantityInfo`: name, unit, description and the value it
takes in a bin where it is not computed. The quantities every run gives are
`CORE_QUANTITIES`; each fitted parameter adds two (`parameter_quantities`);
each optional step of the estimator declares its own. The declarations give
the units and the column descriptions of ``to_table`` and of the files, the
quantity list of the documentation and the command line's table.
"""

import dataclasses
import numpy as np
import astropy.units as u

__all__ = ["QuantityInfo", "CORE_QUANTITIES", "parameter_quantities"]


@dataclasses.dataclass(frozen=True)
class QuantityInfo:
    """Declaration of one per-bin quantity.

    Attributes
    ----------
    name : str
        Column name, e.g. ``"ts"`` or ``"index_err"``.
    unit : str or `~astropy.units.Unit`
        Unit. Default is "" (dimensionless).
    description : str
        What it is. Default is "".
    default : float, bool or int
        Value in a bin where it is not computed (a failed fit, a step that did
        not run). Default is NaN.
    """

    name: str
    unit: object = ""
    description: str = ""
    default: object = np.nan

    @property
    def default_value(self):
        """The default, with its unit where it has one."""
        if isinstance(self.default, (bool, np.bool_, int, np.integer, str)) or not self.unit:
            return self.default
        return u.Quantity(self.default, self.unit)


CORE_QUANTITIES = [
    QuantityInfo("success", description="Fit and covariance succeeded", default=False),
    QuantityInfo("nfev", description="Number of function evaluations of the optimiser", default=0),
    QuantityInfo("stat", description="Total fit statistic at the best fit"),
    QuantityInfo("n_datasets", description="Number of datasets in the bin", default=0),
    QuantityInfo("n_free", description="Number of free parameters of the bin's fit (all models)", default=0),
    QuantityInfo("livetime", "s", "Summed livetime of the datasets"),
    QuantityInfo("counts", description="Summed counts in the fit mask"),
    QuantityInfo("excess", description="Summed excess counts (counts - background) in the fit mask"),
    QuantityInfo("npred", description="Summed predicted counts (source and background) in the fit mask"),
    QuantityInfo("npred_signal", description="Summed predicted counts of the source in the fit mask"),
    QuantityInfo("quality", description="Quality flags of the bin, a bitmask (0: none; see QUALITY_FLAGS)", default=0),
    QuantityInfo(
        "fit_message",
        description="The optimiser's message (and the covariance's where it failed), or the error",
        default="",
    ),
]
"""Quantities of every bin, after the fitted parameters."""


def parameter_quantities(name, unit):
    """The value, error and quality flags of a fitted parameter.

    Parameters
    ----------
    name : str
        Column name of the parameter.
    unit : str or `~astropy.units.Unit`
        Its unit.

    Returns
    -------
    quantities : list of `QuantityInfo`
        ``<name>``, ``<name>_err`` and ``<name>_quality``.
    """
    return [
        QuantityInfo(name, unit, f"Best-fit value of {name}"),
        QuantityInfo(f"{name}_err", unit, f"Error of {name} from the covariance (1 sigma)"),
        QuantityInfo(f"{name}_quality", description=f"Quality flags of {name}, a bitmask (0: none)", default=0),
    ]
