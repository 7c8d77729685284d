"""Gaussian-equivalent significance of chi-square and likelihood-ratio values."""

import numpy as np
from scipy.special import chdtrc, chdtri

__all__ = ["chi2_p_value", "chi2_significance"]


def chi2_p_value(chi2, dof):
    """Probability of a chi-square value at least as large, ``scipy.stats.chi2.sf`` (negative values as 0).

    Parameters
    ----------
    chi2 : float
        Chi-square (or likelihood-ratio TS) value.
    dof : int
        Degrees of freedom.

    Returns
    -------
    p_value : float
        P-value (NaN for no degrees of freedom, as scipy's).
    """
    if not dof > 0:
        return np.nan
    return float(chdtrc(dof, max(float(chi2), 0.0)))


def chi2_significance(chi2, dof):
    """Gaussian-equivalent significance of a chi-square value.

    As `gammapy.stats.ts_to_sigma` (two-sided convention), with the same
    numbers (its non-central chi-square of zero non-centrality is scipy's
    chi-square functions), in microseconds instead of a fraction of a
    millisecond; where the p-value underflows (significance above about 37
    sigma) it is ``sqrt(chi2)``, exact for one degree of freedom.

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
    significance = float(np.sqrt(chdtri(1, chdtrc(dof, chi2))))
    return significance if np.isfinite(significance) else float(np.sqrt(chi2))
