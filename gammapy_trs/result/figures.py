"""The figures of a result (the command line, the demo and the report write them), made without pyplot.

Figures are `matplotlib.figure.Figure` objects saved directly, so that no
backend is selected or switched: a notebook that calls these functions keeps
its own. `result_figures` makes every figure of a result that applies to it
(`FIGURES`, by file name), each with its own size.
"""

from pathlib import Path
import numpy as np
from matplotlib.figure import Figure
from .plotting import summary_quantities
from .posterior import sampled_parameters
from .sed import SED_PRODUCT, SPECTRA_PANELS
from ..utils.parameters import NORM_NAMES

__all__ = [
    "FIGURES",
    "figure_names",
    "result_figures",
    "save_figure",
    "save_flux_states_figure",
    "save_hysteresis_figure",
    "save_law_figure",
    "save_parameters_figure",
    "save_population_figure",
    "save_posteriors_figure",
    "save_shape_blocks_figure",
    "save_spectra_figure",
    "save_summary_figure",
]

DPI = 100
"""Resolution of the figures written."""


def _save(fig, path, dpi=DPI):
    """Save a figure as PNG to a file, or to an open binary file object (as the report does)."""
    path = path if hasattr(path, "write") else Path(path)
    fig.savefig(path, dpi=dpi, format="png")
    return path


def _hysteresis_axes(result):
    """The quantities of the hysteresis figure: the flux (else the norm) and the first shape
    parameter, or None."""
    shapes = [name for name in result.parameter_names if name not in NORM_NAMES]
    norms = [name for name in result.parameter_names if name in NORM_NAMES]
    x = "flux" if "flux" in result.available_quantities else (norms or [None])[0]
    return (x, shapes[0]) if shapes and x is not None else None


def save_law_figure(law, path, dpi=DPI):
    """A law across the bins over their own values (`~gammapy_trs.result.law_fit.LawFit.plot`), written to a PNG file.

    Parameters
    ----------
    law : `~gammapy_trs.result.law_fit.LawFit`
        The law.
    path : str or `~pathlib.Path`
        PNG file.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(6, 4.5), layout="constrained")
    law.plot(ax=fig.subplots())
    return _save(fig, path, dpi)


def save_population_figure(population, path, dpi=DPI):
    """A population's posterior and its bins' shrunk estimates
    (`~gammapy_trs.result.population.Population.plot`), written to a PNG file.

    Parameters
    ----------
    population : `~gammapy_trs.result.population.Population`
        The population.
    path : str or `~pathlib.Path`
        PNG file.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(11, 4), layout="constrained")
    population.plot(fig=fig)
    return _save(fig, path, dpi)


def save_shape_blocks_figure(blocks, path, parameter, spectrum=None, dpi=DPI):
    """The blocks of a shape parameter over its per-bin values, written to a PNG file.

    Parameters
    ----------
    blocks : `~gammapy_trs.result.shape_blocks.ShapeBlocks`
        Blocks.
    path : str or `~pathlib.Path`
        PNG file.
    parameter : str
        The parameter.
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`, optional
        The per-bin result. Default is None.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    fig = Figure(figsize=(8, 4), layout="constrained")
    blocks.plot(parameter, ax=fig.subplots(), spectrum=spectrum)
    return _save(fig, path, dpi)


def save_parameters_figure(result, path, names=None, truth=None, dpi=DPI):
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
    fig = Figure(figsize=(8, 2.6 * len(names) + 0.8), layout="constrained")
    axes = fig.subplots(len(names), 1, sharex=True, squeeze=False)[:, 0]
    for ax, name in zip(axes, names):
        result.plot(name, ax=ax)
        if truth and name in truth:
            times, values = truth[name]
            ax.plot(times, values, "k--", lw=1, label="injected")
            ax.legend()
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return _save(fig, path, dpi)


def save_hysteresis_figure(result, path, x, y, dpi=DPI):
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
    result.plot_correlation(x, y, ax=fig.subplots())
    return _save(fig, path, dpi)


def save_flux_states_figure(states, path, parameter, dpi=DPI):
    """A parameter of each flux state against the state's flux, written to a PNG file.

    Parameters
    ----------
    states : `~gammapy_trs.result.flux_states.FluxStates`
        Flux states.
    path : str or `~pathlib.Path`
        PNG file.
    parameter : str
        The parameter.
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


def save_summary_figure(result, path, dpi=DPI):
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
    fig = Figure(figsize=(8, 2.2 * n_panels + 0.8), layout="constrained")
    result.plot_summary(fig=fig)
    return _save(fig, path, dpi)


def save_spectra_figure(result, path, dpi=DPI):
    """The spectra of the bins as small multiples (`~gammapy_trs.TimeResolvedSpectrum.plot_spectra`),
    written to a PNG file.

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
    n_panels = min(result.n_bins, SPECTRA_PANELS)
    ncols = int(np.ceil(np.sqrt(n_panels)))
    nrows = int(np.ceil(n_panels / ncols))
    fig = Figure(figsize=(2.3 * ncols + 1, 1.9 * nrows + 1))
    result.plot_spectra(fig=fig, ncols=ncols)
    return _save(fig, path, dpi)


def _save_sed_map(result, path, dpi=DPI):
    fig = Figure(figsize=(9, 4.5), layout="constrained")
    result.plot_sed_map(ax=fig.subplots())
    return _save(fig, path, dpi)


def save_posteriors_figure(result, path, dpi=DPI):
    """The posterior of each sampled parameter against time, as violins next to the profile
    likelihood (`~gammapy_trs.TimeResolvedSpectrum.plot_posteriors`), written to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result with the "posterior" step.
    path : str or `~pathlib.Path`
        PNG file.
    dpi : int, optional
        Resolution. Default is 100.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    names = sampled_parameters(result)
    fig = Figure(figsize=(8, 2.6 * len(names) + 0.8), layout="constrained")
    axes = np.atleast_1d(fig.subplots(len(names), 1, sharex=True))
    for ax, name in zip(axes, names):
        result.plot_posteriors(name, ax=ax)
    for ax in axes[:-1]:
        ax.set_xlabel("")
    return _save(fig, path, dpi)


FIGURES = {
    "summary.png": (lambda result: True, save_summary_figure),
    "parameters.png": (lambda result: True, save_parameters_figure),
    "hysteresis.png": (
        lambda result: _hysteresis_axes(result) is not None,
        lambda result, path: save_hysteresis_figure(result, path, *_hysteresis_axes(result)),
    ),
    "spectra.png": (lambda result: True, save_spectra_figure),
    "sed_map.png": (lambda result: SED_PRODUCT in result.products, _save_sed_map),
    "posteriors.png": (lambda result: "posterior" in result.products, save_posteriors_figure),
}
"""The figures of a result, by file name: whether it applies to a result, and how it is written."""


def result_figures(result, folder):
    """Write every figure of `FIGURES` that applies to a result into a folder.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    folder : str or `~pathlib.Path`
        Folder.

    Returns
    -------
    paths : list of `~pathlib.Path`
        The files written.
    """
    folder = Path(folder)
    return [save(result, folder / name) for name, (applies, save) in FIGURES.items() if applies(result)]


def figure_names(result):
    """The names of the figures of `FIGURES` that apply to a result ("summary", "spectra", ...)."""
    return [name.removesuffix(".png") for name, (applies, _) in FIGURES.items() if applies(result)]


def save_figure(result, name, path):
    """Write one figure of `FIGURES` (by name, e.g. "spectra") to a PNG file.

    Parameters
    ----------
    result : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    name : str
        One of `figure_names`.
    path : str or `~pathlib.Path`
        PNG file.

    Returns
    -------
    path : `~pathlib.Path`
        The file.
    """
    if name not in figure_names(result):
        raise ValueError(f"No figure {name!r} for this result; use one of {figure_names(result)}.")
    return FIGURES[f"{name}.png"][1](result, Path(path))
