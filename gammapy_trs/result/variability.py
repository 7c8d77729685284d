"""Tests of variability and correlation on a `~gammapy_trs.TimeResolvedSpectrum`.

Which bins are used
-------------------
Every statistic here uses only the bins whose fit succeeded (``success``) and
whose value and error are finite, with a positive error. Bins flagged as upper
limits (``is_ul``, from the "ul" step) are left out too unless
``exclude_ul=False``: their best-fit value is not a detection. The result
says how many bins were used and how many were left out.
"""

import logging
import numpy as np
import astropy.units as u
from scipy import stats
from gammapy.stats import compute_fvar
from ..utils.significance import chi2_p_value, chi2_significance

__all__ = ["usable_bins", "variability", "correlation", "likelihood_ratio"]

log = logging.getLogger(__name__)

FLUX_LIKE_UNITS = [u.Unit("cm-2 s-1"), u.Unit("cm-2 s-1 TeV-1"), u.Unit("erg cm-2 s-1")]


def usable_bins(spectrum, names, exclude_ul=True):
    """Mask of the bins usable for statistics on the given quantities.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    names : list of str
        Quantities; each needs a ``<name>_err`` entry.
    exclude_ul : bool, optional
        Leave out bins flagged ``is_ul``. Default is True.

    Returns
    -------
    mask : `~numpy.ndarray`
        Bool mask over the time bins.
    """
    mask = spectrum.success.copy()
    for name in names:
        err_name = f"{name}_err"
        if err_name not in spectrum.available_quantities:
            raise ValueError(f"{name!r} has no error ({err_name!r}); cannot weight it.")
        value = spectrum[name].data.ravel()
        error = spectrum[err_name].data.ravel()
        mask &= np.isfinite(value) & np.isfinite(error) & (error > 0)
    if exclude_ul and "is_ul" in spectrum.available_quantities:
        mask &= ~spectrum["is_ul"].data.ravel().astype(bool)
    return mask


def _values(spectrum, name, mask):
    return spectrum[name].data.ravel()[mask], spectrum[f"{name}_err"].data.ravel()[mask]


def variability(spectrum, name, exclude_ul=True):
    """Chi-square test of a constant, and fractional variability.

    The per-bin values are compared to their error-weighted mean. For fluxes
    (and flux-like norms such as a power-law amplitude) the fractional excess
    variance Fvar of Vaughan et al. (2003) and its error are given too
    (`gammapy.stats.compute_fvar`); they are NaN for other quantities, and
    where the excess variance is negative (``fvar_note`` says why).

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    name : str
        Quantity, e.g. "index" or "flux".
    exclude_ul : bool, optional
        Leave out upper-limit bins. Default is True.

    Returns
    -------
    result : dict
        ``chi2``, ``dof``, ``p_value`` (chi-square survival function),
        ``significance`` (Gaussian-equivalent, `chi2_significance`),
        ``mean`` and ``mean_err`` (weighted), ``fvar``, ``fvar_err``,
        ``fvar_note`` (why Fvar is NaN, else ""), ``n_bins`` (used) and ``n_excluded``.
    """
    mask = usable_bins(spectrum, [name], exclude_ul=exclude_ul)
    values, errors = _values(spectrum, name, mask)
    if values.size < 2:
        raise ValueError(
            f"Variability of {name!r} needs at least 2 usable bins, got {values.size} "
            "(failed, upper-limit or non-finite bins are left out)."
        )
    unit = spectrum[name].unit
    weights = 1 / errors**2
    mean = np.sum(weights * values) / np.sum(weights)
    chi2 = float(np.sum(((values - mean) / errors) ** 2))
    dof = values.size - 1

    fvar, fvar_err, fvar_note = np.nan, np.nan, "not a flux"
    if any(unit.is_equivalent(flux_unit) for flux_unit in FLUX_LIKE_UNITS):
        fvar, fvar_err, fvar_note = _fvar(values, errors)

    return dict(
        chi2=chi2,
        dof=dof,
        p_value=chi2_p_value(chi2, dof),
        significance=chi2_significance(chi2, dof),
        mean=mean * unit,
        mean_err=np.sqrt(1 / np.sum(weights)) * unit,
        fvar=fvar,
        fvar_err=fvar_err,
        fvar_note=fvar_note,
        n_bins=int(values.size),
        n_excluded=int(mask.size - values.size),
    )


def _fvar(values, errors):
    """Fvar and its error (Vaughan et al. 2003, `gammapy.stats.compute_fvar`), NaN with the reason
    where the excess variance is negative (the scatter is below what the errors predict: no
    intrinsic variability is measured; Gammapy takes the square root of its absolute value)."""
    excess = np.var(values, ddof=1) - np.mean(errors**2)
    if not excess >= 0:
        return np.nan, np.nan, "negative excess variance: the scatter is within the errors"
    fvar, fvar_err = (float(v) for v in compute_fvar(values, errors))
    return fvar, fvar_err, ""


def _weighted_pearson(x, y, weights):
    mx = np.average(x, weights=weights)
    my = np.average(y, weights=weights)
    cov = np.average((x - mx) * (y - my), weights=weights)
    var_x = np.average((x - mx) ** 2, weights=weights)
    var_y = np.average((y - my) ** 2, weights=weights)
    return cov / np.sqrt(var_x * var_y)


def correlation(spectrum, x, y, exclude_ul=True):
    """Correlation of two quantities across the bins, and the direction of their loop.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    x, y : str
        Quantities, e.g. "flux" and "index" (a "harder when brighter" trend
        is a negative correlation of the index with the flux).
    exclude_ul : bool, optional
        Leave out upper-limit bins. Default is True.

    Returns
    -------
    result : dict
        ``pearson`` (weighted, weights ``1 / ((sx/std x)^2 + (sy/std y)^2)`` so
        that both errors count in units of the spread) and ``pearson_p_value``
        (t-test with n-2 degrees of freedom); ``spearman`` and
        ``spearman_p_value`` (unweighted rank correlation, `scipy.stats.spearmanr`);
        ``loop_area``, the signed area enclosed by the time-ordered points in
        the standardised (x, y) plane (shoelace formula; positive is
        counter-clockwise with x to the right and y up) and ``loop_direction``;
        ``n_bins`` and ``n_excluded``.
    """
    mask = usable_bins(spectrum, [x, y], exclude_ul=exclude_ul)
    xv, xerr = _values(spectrum, x, mask)
    yv, yerr = _values(spectrum, y, mask)
    n = xv.size
    if n < 3:
        raise ValueError(
            f"Correlation of {x!r} and {y!r} needs at least 3 usable bins, got {n}."
        )

    xs = (xv - xv.mean()) / xv.std()
    ys = (yv - yv.mean()) / yv.std()
    weights = 1 / ((xerr / xv.std()) ** 2 + (yerr / yv.std()) ** 2)
    pearson = float(_weighted_pearson(xv, yv, weights))
    t = pearson * np.sqrt((n - 2) / max(1 - pearson**2, 1e-300))
    spearman = stats.spearmanr(xv, yv)
    area = 0.5 * float(np.sum(xs * np.roll(ys, -1) - np.roll(xs, -1) * ys))

    return dict(
        pearson=pearson,
        pearson_p_value=float(2 * stats.t.sf(abs(t), n - 2)),
        spearman=float(spearman.statistic),
        spearman_p_value=float(spearman.pvalue),
        loop_area=area,
        loop_direction="counter-clockwise" if area > 0 else "clockwise",
        n_bins=int(n),
        n_excluded=int(mask.size - n),
    )


def _n_shared(spectrum):
    shared = spectrum.shared_parameters
    return 0 if shared is None else len(shared)


def likelihood_ratio(first, second, atol="1e-6 s"):
    """Likelihood-ratio test between two results of nested models on the same bins.

    The null hypothesis is the result with fewer free parameters. Over the bins
    whose fit succeeded in both, ``TS = sum(stat_null) - sum(stat_alternative)``
    and the degrees of freedom are the difference of the free parameters:
    ``sum(n_free)`` of the bins plus the shared parameters. The p-value is
    Wilks' (chi-square with ``dof``). Each bin counts through its likelihood,
    whatever its significance: upper-limit and faint bins included.

    Parameters
    ----------
    first, second : `~gammapy_trs.TimeResolvedSpectrum`
        Results on the same time bins, e.g. of ``shared_parameters=["index"]``
        and of the index free in each bin.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on the bin edges. Default is "1e-6 s".

    Returns
    -------
    result : dict
        ``ts``, ``dof``, ``p_value``, ``significance``, ``n_bins`` (used) and
        ``n_excluded`` (failed in either).
    """
    a, b = first.time_axis, second.time_axis
    atol = u.Quantity(atol).to_value(u.s)
    if a.nbin != b.nbin or any(
        np.any(np.abs((x - y).to_value(u.s)) > atol)
        for x, y in ((a.time_min, b.time_min), (a.time_max, b.time_max))
    ):
        raise ValueError("The two results are not on the same time bins.")
    for spectrum in (first, second):
        if "n_free" not in spectrum.available_quantities:
            raise ValueError("A result without n_free (written by an older version) cannot be compared.")
    stat = [s.quantity("stat") for s in (first, second)]
    mask = first.success & second.success & np.isfinite(stat[0]) & np.isfinite(stat[1])
    if not mask.any():
        raise ValueError("No bin whose fit succeeded in both results.")
    n_free = [int(s.quantity("n_free")[mask].sum()) + _n_shared(s) for s in (first, second)]
    if n_free[0] == n_free[1]:
        raise ValueError(f"Both results have {n_free[0]} free parameters: they are not nested.")
    null, alternative = (0, 1) if n_free[0] < n_free[1] else (1, 0)
    ts = float(stat[null][mask].sum() - stat[alternative][mask].sum())
    dof = n_free[alternative] - n_free[null]
    if ts < -1e-3 * max(1.0, dof):
        log.warning(
            f"The null hypothesis fits better than the alternative (TS = {ts:.3g}): "
            "are the models nested, and did the alternative's fits converge?"
        )
    return dict(
        ts=ts,
        dof=dof,
        p_value=chi2_p_value(ts, dof),
        significance=chi2_significance(ts, dof),
        n_bins=int(mask.sum()),
        n_excluded=int(mask.size - mask.sum()),
    )
