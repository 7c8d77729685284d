"""The figures the command line and the demo write, made without pyplot.

Figures are `matplotlib.figure.Figure` objects saved directly, so that no
backend is selected or switched: a notebook that calls these functions keeps
its own.
"""

from pathlib import Path
from matplotlib.figure import Figure
from ..result.plotting import summary_quantities

__all__ = [
    "save_parameters_figure",
    "save_hysteresis_figure",
    "save_flux_states_figure",
    "save_summary_figure",
    "save_spectra_figure",
]


def _save(fig, path, dpi):
    path = Path(path)
    fig.savefig(path, dpi=dpi)
    return path


def save_parameters_figure(result, path, names=None, truth=None, dpi=100):
    """Each parameter against time, one panel each, written to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    path : str or `~pathlib.Path`
        PNG file.
    names : list of str, optional
        Quantities to plot. Default is None, the fitted parameters.
    truth : dict of str to tuple, optional
        Per quantity, ``(times, values)`` of an injected truth, drawn as a dashed line.
        Default is None.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    names = result.parameter_names if names is None else names
    fig = Figure(figsize=(9, 3.2 * len(names) + 0.6), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        result.plot(name, ax=ax)
        if truth and name in truth:
            times, values = truth[name]
            ax.plot(times, values, "k--", lw=1, label="injected")
            ax.legend()
    return _save(fig, path, dpi)


def save_hysteresis_figure(result, path, x, y, dpi=100):
    """One quantity against another, coloured by time, written to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    path : str or `~pathlib.Path`
        PNG file.
    x, y : str
        Quantities on the x and y axes.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(7, 5), layout="constrained")
    ax = fig.subplots()
    result.plot_correlation(x, y, ax=ax)
    return _save(fig, path, dpi)


def save_flux_states_figure(states, path, parameter, dpi=100):
    """A parameter of each flux state against the state's flux, written to a PNG file.

    Parameters
    ----------
    states : `~gammapy_trs.result.flux_states.FluxStates`
        Flux states.
    path : str or `~pathlib.Path`
        PNG file.
    parameter : str
        Fitted parameter, e.g. "beta".
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(7, 5), layout="constrained")
    states.plot(parameter, ax=fig.subplots())
    return _save(fig, path, dpi)


def save_summary_figure(result, path, dpi=100):
    """The summary figure (`~gammapy_trs.TimeResolvedSpectrum.plot_summary`), written to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    path : str or `~pathlib.Path`
        PNG file.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    n_panels = len(summary_quantities(result))
    fig = Figure(figsize=(8, 2.4 * n_panels + 0.6), layout="constrained")
    result.plot_summary(fig=fig)
    return _save(fig, path, dpi)


def save_spectra_figure(result, path, dpi=100):
    """The spectra of all bins (`~gammapy_trs.TimeResolvedSpectrum.plot_spectra`), written to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    path : str or `~pathlib.Path`
        PNG file.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(8, 5.5), layout="constrained")
    result.plot_spectra(ax=fig.subplots())
    return _save(fig, path, dpi)
