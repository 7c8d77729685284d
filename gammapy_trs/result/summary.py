"""The table ``gammapy-trs`` prints: one row per bin, values rounded to their errors."""

import math
import numpy as np
from astropy.table import Table
from astropy.time import Time
import astropy.units as u

__all__ = ["value_with_error", "summary_table"]

MISSING = "-"


def _finite(value):
    return value is not None and np.isfinite(value)


def value_with_error(value, error=None, digits=2, error_high=None):
    """A value and its error rounded to ``digits`` significant digits of the error.

    Parameters
    ----------
    value : float
        Value.
    error : float, optional
        Error. Default is None: the value with 4 significant digits.
    digits : int, optional
        Significant digits of the error. Default is 2.
    error_high : float, optional
        The error above the value, where it differs from ``error`` (below): the value is
        rounded to the smaller. Default is None, a symmetric error.

    Returns
    -------
    text : str
        E.g. "4.01 ± 0.35", "(1.02 ± 0.13)e-10", "4.09 -0.33 +0.39", or "-" for NaN.

    Examples
    --------
    >>> from gammapy_trs.result.summary import value_with_error
    >>> value_with_error(4.00871, 0.35321)
    '4.01 ± 0.35'
    >>> value_with_error(1.0219e-10, 1.292e-11)
    '(1.02 ± 0.13)e-10'
    """
    if not _finite(value):
        return MISSING
    errors = [error] if error_high is None else [error, error_high]
    if not all(_finite(e) and e > 0 for e in errors):
        return f"{value:.4g}"
    smallest = min(errors)
    last = math.floor(math.log10(smallest)) - (digits - 1)  # decade of the last digit shown
    scale = math.floor(math.log10(abs(value))) if value != 0 else math.floor(math.log10(smallest))
    factor, decimals = (1, max(0, -last)) if -3 <= scale < 4 else (10.0**scale, max(0, scale - last))
    number = f"{value / factor:.{decimals}f}"
    if error_high is None:
        text = f"{number} ± {error / factor:.{decimals}f}"
    else:
        text = f"{number} -{error / factor:.{decimals}f} +{error_high / factor:.{decimals}f}"
    return text if factor == 1 else f"({text})e{scale}"


def _header(spectrum, name, label=None):
    unit = spectrum[name].unit
    label = label or name
    return f"{label} [{unit.to_string('fits')}]" if not unit.is_unity() else label


def _column(spectrum, name):
    values = np.asarray(spectrum[name].data.ravel(), dtype=float)
    err = f"{name}_err"
    errors = spectrum[err].data.ravel() if err in spectrum.available_quantities else [None] * len(values)
    return [value_with_error(v, e) for v, e in zip(values, errors)]


def _flux_column(spectrum):
    texts = _column(spectrum, "flux")
    if "flux_ul" in spectrum.available_quantities:
        is_ul = np.asarray(spectrum["is_ul"].data.ravel(), dtype=bool)
        for idx in np.flatnonzero(is_ul):
            texts[idx] = f"< {spectrum['flux_ul'].data.ravel()[idx]:.2g}"
    return texts


def _times(spectrum):
    axis = spectrum.time_axis
    start = Time(axis.time_min, scale="utc").isot
    stop = Time(axis.time_max, scale="utc").isot
    one_day = all(a[:10] == start[0][:10] for a in start) and all(b[:10] == start[0][:10] for b in stop)
    cut = slice(11, 19) if one_day else slice(0, 19)
    return [f"{a[cut]} - {b[cut]}" for a, b in zip(start, stop)]


def _band(spectrum):
    low = u.Quantity(spectrum.meta.get("energy_min", "1 TeV"))
    high = u.Quantity(spectrum.meta.get("energy_max", "10 TeV")).to(low.unit)
    return f"{low.value:g}-{high.value:g} {low.unit.to_string('fits')}"


def summary_table(spectrum):
    """The bins as a table of text: time, fit status, each parameter and the flux with their
    errors, sqrt(TS) and the significance of ``compare_to``, where computed.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.

    Returns
    -------
    table : `~astropy.table.Table`
        Table of str columns; the time column names the day when all bins share it.
    """
    available = spectrum.available_quantities
    days = {t[:10] for t in Time(spectrum.time_axis.time_min, scale="utc").isot}
    time_label = f"time {days.pop()} (UTC)" if len(days) == 1 else "time (UTC)"
    table = Table()
    table[time_label] = _times(spectrum)
    messages = spectrum.quantity("fit_message") if "fit_message" in available else [""] * spectrum.n_bins
    table["fit"] = ["ok" if ok else f"failed: {str(m)[:40]}" for ok, m in zip(spectrum.success, messages)]
    for name in spectrum.parameter_names:
        table[_header(spectrum, name)] = _column(spectrum, name)
    if "sqrt_ts" in available:
        table["sqrt_ts"] = [f"{v:.1f}" if np.isfinite(v) else MISSING for v in spectrum["sqrt_ts"].data.ravel()]
    if "flux" in available:
        table[_header(spectrum, "flux", f"flux {_band(spectrum)}")] = _flux_column(spectrum)
    if "compare_sigma" in available:
        table["compare_sigma"] = [
            f"{v:.1f}" if np.isfinite(v) else MISSING for v in spectrum["compare_sigma"].data.ravel()
        ]
    for name in spectrum.parameter_names:
        if f"{name}_median" in available:
            table[_header(spectrum, name, f"{name} (posterior)")] = _posterior_column(spectrum, name)
    if "log_bayes_factor" in available:
        table["ln B"] = [f"{v:+.1f}" if np.isfinite(v) else MISSING for v in spectrum["log_bayes_factor"].data.ravel()]
    return table


def _posterior_column(spectrum, name):
    """The posterior median with the distances to the ends of its credible interval, e.g. "3.61 -0.12 +0.13"."""
    median, low, high = (
        np.asarray(spectrum[f"{name}{suffix}"].data.ravel(), dtype=float)
        for suffix in ("_median", "_credible_lo", "_credible_hi")
    )
    return [value_with_error(m, m - lo, error_high=h - m) for m, lo, h in zip(median, low, high)]
