"""Gaussian-equivalent significance of chi-square and likelihood-ratio values."""

import numpy as np
from gammapy.stats.utils import ts_to_sigma

__all__ = ["chi2_significance"]


def chi2_significance(chi2, dof):
    """Gaussian-equivalent significance of a chi-square value.

    As `gammapy.stats.ts_to_sigma` (two-sided convention); where the p-value
    underflows (significance above about 37 sigma) it is ``sqrt(chi2)``, exact
    for one degree of freedom.

    Parameters
    ----------
    chi2 : float
        Chi-square (or likelihood-ratio TS) value.
    dof : int
        Degrees of freedom.

    Returns
    -------
    significance : float
        Significance in sigma.
    """
    chi2 = max(float(chi2), 0.0)
    significance = float(ts_to_sigma(chi2, df=dof))
    return significance if np.isfinite(significance) else float(np.sqrt(chi2))
