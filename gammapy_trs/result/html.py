"""One self-contained HTML page of a result, to share: figures, table, tests and provenance.

The page has no external resource: figures are PNG images embedded as data URIs and
the style sheet is inline, so that the file can be mailed or put on a wiki as it is.
The only script marks, once the page has loaded, how many figures the browser decoded
(``data-figures-loaded`` on the body: what the tests check in a headless browser).
"""

import base64
import html
import io
import logging
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
import numpy as np
from astropy.time import Time
from .figures import FIGURES, save_law_figure, save_population_figure, save_shape_blocks_figure
from .summary import summary_table, value_with_error

__all__ = ["VERSIONS", "report_html"]

log = logging.getLogger(__name__)

VERSIONS = ("gammapy-trs", "gammapy", "numpy", "astropy", "iminuit", "scipy", "matplotlib", "regions")
"""Packages whose versions the report gives."""

CAPTIONS = {
    "summary.png": "Flux, shape parameters and sqrt(TS) of the source in each time bin. Open markers: a "
    "value flagged by its quality; grey bands: bins whose fit failed.",
    "parameters.png": "Each fitted parameter against time.",
    "hysteresis.png": "A shape parameter against the flux, the bins joined in time order.",
    "spectra.png": "Each bin's fitted model, its error band and flux points (limits as arrows).",
    "sed_map.png": "E² dN/dE of the flux points in time and energy; hatched cells are upper limits.",
    "posteriors.png": "Each bin's posterior of each fitted parameter (violins, their medians as lines), beside the "
    "profile likelihood's best fit and error.",
}

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2em auto; max-width: 1100px;
       color: #222; line-height: 1.45; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
p.sub { color: #555; margin-top: 0; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.6em 0; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: right; white-space: nowrap; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
tr.failed td { color: #a00; }
figure { margin: 1.2em 0; }
figure img { max-width: 100%; border: 1px solid #eee; }
figcaption { font-size: 0.9em; color: #444; }
div.scroll { overflow-x: auto; }
pre { background: #f7f7f7; padding: 0.8em; overflow-x: auto; font-size: 0.85em; }
"""

SCRIPT = """
window.addEventListener("load", function () {
  var images = document.images, decoded = 0;
  for (var i = 0; i < images.length; i++) {
    if (images[i].complete && images[i].naturalWidth > 0) { decoded++; }
  }
  document.body.setAttribute("data-figures-loaded", decoded + "/" + images.length);
});
"""


def _versions():
    versions = {}
    for name in VERSIONS:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def _table_html(rows, header, classes=None):
    """A table of text: ``rows`` (lists of str) under ``header``, escaped."""
    classes = classes or [""] * len(rows)
    head = "".join(f"<th>{html.escape(str(name))}</th>" for name in header)
    body = "".join(
        f'<tr class="{cls}">' + "".join(f"<td>{html.escape(str(value))}</td>" for value in row) + "</tr>"
        for row, cls in zip(rows, classes)
    )
    return f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'


def _figure_html(name, save, caption):
    """One figure embedded as PNG: ``save`` writes it to a file object."""
    buffer = io.BytesIO()
    save(buffer)
    data = base64.b64encode(buffer.getvalue()).decode("ascii")
    return (
        f'<figure id="{name.removesuffix(".png")}"><img src="data:image/png;base64,{data}" '
        f'alt="{html.escape(name)}"><figcaption>{html.escape(caption)}</figcaption></figure>'
    )


def _figures_html(spectrum, shape_blocks=None, laws=(), populations=()):
    parts = [
        _figure_html(name, lambda buffer, save=save: save(spectrum, buffer), CAPTIONS.get(name, name))
        for name, (applies, save) in FIGURES.items()
        if applies(spectrum)
    ]
    if shape_blocks is not None:
        parameter = shape_blocks.parameter_names[0]
        parts.append(
            _figure_html(
                "shape_blocks.png",
                lambda buffer: save_shape_blocks_figure(shape_blocks, buffer, parameter, spectrum=spectrum),
                f"Blocks of bins that share {', '.join(shape_blocks.parameter_names)}: the change points of "
                f"the shape (each block's value and error over the bins' {parameter}).",
            )
        )
    for law in laws:
        name = f"law_{law.parameter}_{law.meta['COVARIATE']}.png"
        caption = f"The law {law.meta['FORMULA']} fitted with every bin's likelihood, over the bins' own values."
        parts.append(_figure_html(name, lambda buffer, law=law: save_law_figure(law, buffer), caption))
    for population in populations:
        name = f"population_{population.parameter}.png"
        caption = (
            f"The population of {population.parameter}: the posterior of its mean and scatter over the bins, "
            "and each bin's own posterior beside its estimate given the population."
        )
        parts.append(_figure_html(name, lambda buffer, p=population: save_population_figure(p, buffer), caption))
    return "\n".join(parts)


def _bins_html(spectrum):
    table = summary_table(spectrum)
    rows = [[str(value) for value in row] for row in table.iterrows()]
    classes = ["" if ok else "failed" for ok in spectrum.success]
    return _table_html(rows, table.colnames, classes)


def _variability_rows(spectrum):
    """The chi-square test of a constant of each parameter and of the flux."""
    names = [name for name in spectrum.parameter_names if name in spectrum.available_quantities]
    names += ["flux"] if "flux" in spectrum.available_quantities else []
    rows = []
    for name in names:
        try:
            test = spectrum.variability(name)
        except ValueError as error:
            rows.append([name, "-", "-", "-", "-", str(error)])
            continue
        fvar = value_with_error(test["fvar"], test["fvar_err"]) if np.isfinite(test["fvar"]) else test["fvar_note"]
        rows.append([
            name, f"{test['chi2']:.1f} / {test['dof']}", f"{test['p_value']:.3g}", f"{test['significance']:.1f}",
            str(test["n_bins"]), fvar or "-",
        ])
    return rows


def _tests_html(spectrum, flux_states, shape_blocks=None, laws=(), populations=()):
    parts = ["<p>Chi-square test of a constant over the bins (failed and upper-limit bins left out):</p>"]
    header = ["quantity", "chi2 / dof", "p-value", "significance [sigma]", "bins used", "Fvar"]
    parts.append(_table_html(_variability_rows(spectrum), header))
    meta = spectrum.meta
    if "variability_ts" in meta:
        parts.append(
            f"<p>Likelihood ratio of a {html.escape(str(meta.get('variability_parameters', '')))} variable "
            f"against shared by all bins: TS = {meta['variability_ts']:.1f} for {meta['variability_dof']} "
            f"degrees of freedom, p = {meta['variability_p_value']:.3g} "
            f"({meta['variability_significance']:.1f} sigma; {meta.get('variability_n_bins', '-')} bins).</p>"
        )
    shared = spectrum.shared_parameters
    if shared is not None:
        rows = [[row["name"], value_with_error(row["value"], row["error"]), str(row["unit"])] for row in shared]
        parts.append("<p>Parameters shared by all bins (joint likelihood):</p>")
        parts.append(_table_html(rows, ["parameter", "value", "unit"]))
    if flux_states is not None:
        table = flux_states.table
        names = ["state", "n_bins", "bins", "flux"] + list(flux_states.parameter_names) + ["sqrt_ts"]
        rows = [
            [str(row["state"]), str(row["n_bins"]), str(row["bins"]), value_with_error(row["flux"], row["flux_err"])]
            + [value_with_error(row[name], row[f"{name}_err"]) for name in flux_states.parameter_names]
            + [f"{row['sqrt_ts']:.1f}"]
            for row in table
        ]
        parts.append("<p>Flux states (the bins grouped by flux, their datasets stacked):</p>")
        parts.append(_table_html(rows, names))
    if shape_blocks is not None:
        parts.append(_shape_blocks_html(shape_blocks))
    for law in laws:
        parts.append(_law_html(law))
    for population in populations:
        parts.append(f"<pre>{html.escape(str(population))}</pre>")
    return "\n".join(parts)


def _law_html(law):
    """A law's coefficients and its likelihood-ratio tests."""
    meta = law.meta
    rows = [[row["name"], value_with_error(row["value"], row["error"])] for row in law.coefficients]
    text = (
        f"<p>{html.escape(meta['FORMULA'])} (reference {meta['REFERENCE']:.6g} {html.escape(meta['REFUNIT'])}, "
        f"{meta['N_BINS']} bins): against the shape shared by all bins TS = {meta['TS_SHARED']:.1f} for "
        f"{meta['DOF_SHARED']} degree(s) of freedom, p = {meta['P_SHARED']:.3g} ({meta['SIG_SHARED']:.1f} sigma); "
        f"against the shape free in each bin TS = {meta['TS_FREE']:.1f} for {meta['DOF_FREE']}, "
        f"p = {meta['P_FREE']:.3g}."
        + (f" By {meta['N_SIM']} simulations of the null hypothesis, p = {meta['P_SHARED_SIM']:.3g}." if "P_SHARED_SIM" in meta else "")
        + "</p>"
    )
    return text + _table_html(rows, ["coefficient", "value"])


def _shape_blocks_html(blocks):
    """The blocks of bins that share shape parameters, and the test of each change."""
    table = blocks.table
    names = blocks.parameter_names
    rows = [
        [str(row["block"]), f"{row['bin_start']}-{row['bin_stop'] - 1}",
         f"{Time(row['time_min'], format='mjd', scale='utc').isot[:19]}"]
        + [value_with_error(row[name], row[f"{name}_err"]) for name in names]
        + ["-" if row["block"] == 0 else f"{row['ts_change']:.1f} ({row['significance_change']:.1f} sigma)"]
        for row in table
    ]
    penalty = f"{table.meta['PENALTY']:.2f}"
    p0 = table.meta.get("P0")
    rate = f", false-positive rate p0 = {p0:g}" if p0 is not None and np.isfinite(p0) else ""
    text = (
        f"<p>Change points of {html.escape(', '.join(names))}: blocks of bins that share them (the norm free "
        f"in each bin), penalty {penalty} per change{rate}; each change tested against merging its "
        "blocks (local significance):</p>"
    )
    return text + _table_html(rows, ["block", "bins", "start (UTC)"] + names + ["TS of the change"])


def _provenance_html(spectrum, provenance):
    created = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    rows = [["report written", created]]
    rows += [[f"{name} version", value] for name, value in _versions().items()]
    rows += [[str(key), str(value)] for key, value in spectrum.meta.items() if not str(key).startswith("variability_")]
    text = {}
    for key, value in (provenance or {}).items():
        if isinstance(value, str) and "\n" in value:
            text[key] = value
        else:
            rows.append([str(key), str(value)])
    parts = [_table_html(rows, ["", ""])]
    for key, value in text.items():
        parts.append(f"<p>{html.escape(str(key))}:</p><pre>{html.escape(value)}</pre>")
    return "\n".join(parts)


def report_html(spectrum, title=None, provenance=None, flux_states=None, shape_blocks=None, laws=(), populations=()):
    """One self-contained HTML page of a result: figures, the bins' table, tests, provenance.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result.
    title : str, optional
        Title. Default is None: "Time-resolved spectrum of <source>".
    provenance : dict, optional
        What the result was made from (e.g. data store, observations, the configuration as
        text): each entry a row of the provenance table, text of several lines shown as it is.
        Default is None: the result's meta data and the package versions only.
    flux_states : `~gammapy_trs.result.flux_states.FluxStates`, optional
        Flux states to tabulate. Default is None.
    shape_blocks : `~gammapy_trs.result.shape_blocks.ShapeBlocks`, optional
        Change points of the shape to tabulate and plot. Default is None.
    laws : list of `~gammapy_trs.result.law_fit.LawFit`, optional
        Laws across the bins to tabulate and plot. Default is none.
    populations : list of `~gammapy_trs.result.population.Population`, optional
        Populations of the bins' posteriors to summarise and plot. Default is none.

    Returns
    -------
    text : str
        The page.
    """
    source = spectrum.meta.get("source", spectrum.models[0].name)
    title = title or f"Time-resolved spectrum of {source}"
    axis = spectrum.time_axis
    start, stop = Time(axis.time_min[0], scale="utc").isot[:19], Time(axis.time_max[-1], scale="utc").isot[:19]
    n_failed = int(np.sum(~spectrum.success))
    model = type(spectrum.models[0].spectral_model).__name__
    subtitle = (
        f"{spectrum.n_bins} time bins from {start} to {stop} UTC; {model} with free "
        f"{', '.join(spectrum.parameter_names)}; {n_failed} failed fit{'s' if n_failed != 1 else ''}."
    )
    sections = [
        ("Figures", _figures_html(spectrum, shape_blocks, laws, populations)),
        ("Time bins", _bins_html(spectrum)),
        ("Tests", _tests_html(spectrum, flux_states, shape_blocks, laws, populations)),
        ("Provenance", _provenance_html(spectrum, provenance)),
    ]
    body = "\n".join(f'<h2 id="{name.lower().replace(" ", "-")}">{name}</h2>\n{content}' for name, content in sections)
    return (
        "<!DOCTYPE html>\n"
        f'<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f'<meta name="viewport" content="width=device-width, initial-scale=1"><style>{STYLE}</style>'
        f"<script>{SCRIPT}</script></head>\n"
        f"<body><h1>{html.escape(title)}</h1><p class=\"sub\">{html.escape(subtitle)}</p>\n{body}\n</body></html>\n"
    )
