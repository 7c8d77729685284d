"""The posterior samples of each bin (the product ``"posterior"``): their table, a bin's samples, plots.

Each bin keeps the same number of equal-weight samples of each fitted
parameter (``<par>``) and their log prior density (``log_prior_<par>``, for
the population's importance weights), one vector per bin, NaN in a bin
without samples; the result's table holds them as ``posterior_<column>`` and
every format writes and reads them.
"""

import numpy as np
from astropy.table import Table
from .plotting import format_time_axis, quantity_label

__all__ = ["posterior_table", "bin_posterior", "plot_posteriors", "plot_corner", "sampled_parameters"]


def posterior_table(bin_posteriors):
    """The samples of all bins as one table, one row per bin, one vector column per parameter.

    Parameters
    ----------
    bin_posteriors : list of dict or None
        Per bin, the arrays of the posterior step (``<par>`` and
        ``log_prior_<par>``), or None where there are none.

    Returns
    -------
    table : `~astropy.table.Table` or None
        The samples; None if no bin has any.
    """
    first = next((bins for bins in bin_posteriors if bins is not None), None)
    if first is None:
        return None
    n_samples = len(next(iter(first.values())))
    table = Table()
    for column in first:
        values = np.full((len(bin_posteriors), n_samples), np.nan)
        for idx, bins in enumerate(bin_posteriors):
            if bins is not None:
                values[idx] = bins[column]
        table[column] = values
        what = "Log prior density of the samples of" if column.startswith("log_prior_") else "Posterior samples of"
        table[column].info.description = f"{what} {column.removeprefix('log_prior_')} (equal weights)"
    return table


def _samples(spectrum):
    products = spectrum.products
    if "posterior" not in products:
        raise ValueError('The result has no posterior samples: run with selection_optional including "posterior".')
    return products["posterior"]


def sampled_parameters(spectrum):
    """The parameters with posterior samples, a list of str."""
    return [name for name in _samples(spectrum).colnames if not name.startswith("log_prior_")]


def bin_posterior(spectrum, idx):
    """The posterior samples of one bin, with units.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result with the "posterior" step.
    idx : int
        Index of the bin.

    Returns
    -------
    samples : `~astropy.table.Table`
        One column per parameter (in its unit), one row per equal-weight
        sample; empty where the bin has none.
    """
    table = _samples(spectrum)
    n_bins = spectrum.n_bins
    if not -n_bins <= idx < n_bins:
        raise IndexError(f"Bin {idx} out of range: the result has {n_bins} bins.")
    row = table[idx]
    samples = Table()
    names = sampled_parameters(spectrum)
    keep = np.all([np.isfinite(row[name]) for name in names], axis=0)
    for name in names:
        samples[name] = np.asarray(row[name])[keep] * spectrum[name].unit
    samples.meta["time_min"] = spectrum.time_axis.time_min[idx].isot
    samples.meta["time_max"] = spectrum.time_axis.time_max[idx].isot
    return samples


def plot_posteriors(spectrum, parameter, ax=None, show_profile=True, **kwargs):
    """The posterior of one parameter in each bin as violins against time, with its median.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result with the "posterior" step.
    parameter : str
        A fitted parameter, e.g. "index".
    ax : `~matplotlib.axes.Axes`, optional
        Axes. Default is None, the current axes.
    show_profile : bool, optional
        Draw the profile-likelihood best fit and errors next to each violin.
        Default is True.
    **kwargs : dict
        Passed to `~matplotlib.axes.Axes.violinplot`.

    Returns
    -------
    ax : `~matplotlib.axes.Axes`
        Axes.
    """
    import matplotlib.pyplot as plt

    ax = plt.gca() if ax is None else ax
    table = _samples(spectrum)
    if parameter not in table.colnames:
        raise ValueError(f"No posterior samples of {parameter!r}; sampled are {sampled_parameters(spectrum)}.")
    axis = spectrum.time_axis
    x = np.asarray(axis.as_plot_center)
    x_number = plt.matplotlib.dates.date2num(x)
    date2num = plt.matplotlib.dates.date2num
    widths = date2num(axis.time_max.utc.to_datetime()) - date2num(axis.time_min.utc.to_datetime())
    data = np.asarray(table[parameter], dtype=float)
    has = np.all(np.isfinite(data), axis=1)
    if np.any(has):
        kwargs.setdefault("showextrema", False)
        kwargs.setdefault("showmedians", True)
        parts = ax.violinplot(list(data[has]), positions=x_number[has], widths=0.8 * widths[has], **kwargs)
        for body in parts["bodies"]:
            body.set_alpha(0.5)
    if show_profile and parameter in spectrum.available_quantities:
        y = np.asarray(spectrum[parameter].data.ravel(), dtype=float)
        err = f"{parameter}_err"
        yerr = spectrum[err].data.ravel() if err in spectrum.available_quantities else None
        ok = np.isfinite(y)
        offset = 0.25 * widths
        ax.errorbar(
            x_number[ok] + offset[ok], y[ok], yerr=None if yerr is None else yerr[ok], fmt="o", ms=3, color="k",
            label="profile likelihood",
        )
        ax.plot([], [], color="C0", lw=6, alpha=0.5, label=f"posterior ({100 * spectrum.meta.get('credible_level', 0.68):g}%: median)")
        ax.legend(loc="best", fontsize="small")
    ax.xaxis_date()
    format_time_axis(ax, axis)
    ax.set_ylabel(quantity_label(spectrum, parameter))
    return ax


def _scaled(values, label):
    """Values of a large or small magnitude in units of a power of ten named in the label (a corner
    plot's axes have no room for an offset text)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0 or not np.any(finite):
        return values, label
    exponent = int(np.floor(np.log10(np.max(np.abs(finite)))))
    if abs(exponent) < 3:
        return values, label
    scale = f"1e{exponent}"
    label = label.replace("[", f"[{scale} ", 1) if "[" in label else f"{label} [{scale}]"
    return values / 10.0**exponent, label


def plot_corner(spectrum, idx, fig=None, bins=30):
    """Corner plot of one bin's posterior: each parameter's histogram and each pair's samples.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result with the "posterior" step.
    idx : int
        Index of the bin.
    fig : `~matplotlib.figure.Figure`, optional
        Figure. Default is None, a new pyplot figure.
    bins : int, optional
        Number of histogram bins. Default is 30.

    Returns
    -------
    axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
        The square of axes (those above the diagonal hidden).
    """
    import matplotlib.pyplot as plt

    samples = bin_posterior(spectrum, idx)
    names = samples.colnames
    n = len(names)
    fig = plt.figure(figsize=(3.2 * n + 0.6, 3.0 * n + 0.4), layout="constrained") if fig is None else fig
    axes = np.atleast_2d(fig.subplots(n, n, squeeze=False))
    values, labels = {}, {}
    for name in names:
        values[name], labels[name] = _scaled(samples[name].value, quantity_label(spectrum, name))
    for row, y_name in enumerate(names):
        for col, x_name in enumerate(names):
            ax = axes[row, col]
            if col > row:
                ax.set_visible(False)
                continue
            if len(values[x_name]) == 0:
                continue
            if row == col:
                ax.hist(values[x_name], bins=bins, histtype="stepfilled", alpha=0.6)
                for q, style in zip(np.quantile(values[x_name], [0.16, 0.5, 0.84]), ("--", "-", "--")):
                    ax.axvline(q, color="k", ls=style, lw=0.8)
                ax.tick_params(left=False, labelleft=False)
            else:
                ax.plot(values[x_name], values[y_name], ".", ms=1, alpha=0.4)
                ax.set_ylim(values[y_name].min(), values[y_name].max())
                if col == 0:
                    ax.set_ylabel(labels[y_name])
                else:
                    ax.tick_params(labelleft=False)
            ax.set_xlim(values[x_name].min(), values[x_name].max())
            if row == n - 1:
                ax.set_xlabel(labels[x_name])
            else:
                ax.tick_params(labelbottom=False)
    fig.suptitle(f"Bin {idx}: {samples.meta['time_min'][:19]} to {samples.meta['time_max'][11:19]} UTC")
    return axes
