"""The ``gammapy-trs`` command line.

Gammapy is imported inside the commands, not here, so that ``gammapy-trs
--help`` answers at once.
"""

import atexit
import contextlib
import gc
import logging
from pathlib import Path
import click

__all__ = ["cli", "main"]

log = logging.getLogger(__name__)

OVERWRITE_HELP = "Replace the files of an earlier run."


@click.group("gammapy-trs")
@click.option(
    "--log-level",
    default="warning",
    type=click.Choice(["debug", "info", "warning", "error"]),
    show_default=True,
    help="Logging level.",
)
@click.version_option(package_name="gammapy-trs")
def cli(log_level):
    """Time-resolved spectroscopy of gamma-ray sources with Gammapy."""
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")


def _show_progress(show):
    from gammapy.utils import pbar

    pbar.SHOW_PROGRESS_BAR = show


@contextlib.contextmanager
def _imports_frozen():
    """Import a command's modules without garbage collection, then freeze them (`gc.freeze`).

    Importing Gammapy, Astropy and Matplotlib makes about 250,000 objects that live to the end
    of the process and hold no garbage: the collector's full collections during the imports
    and during the run would walk them all again (0.5 s of a run on the PKS 2155-304 night).
    The run itself is collected as usual.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


def _echo_result(result, files):
    from ..result.summary import summary_table

    click.echo(str(result))
    click.echo("\n".join(summary_table(result).pformat(max_lines=-1, max_width=-1)))
    click.echo("\nWrote:\n" + "\n".join(f"  {path}" for path in files))


@cli.command("demo")
@click.option(
    "--output",
    default="gammapy-trs-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
def demo(output, progress, overwrite):
    """Simulate a flare (no data needed), reduce it in time slices and fit each bin.

    Writes the DL3 data set and its truth (data/), the result
    (time_resolved_spectrum.fits) and two plots (parameters.png,
    hysteresis.png), and prints the table of the bins.
    """
    if (output / "time_resolved_spectrum.fits").exists() and not overwrite:
        raise click.ClickException(f"{output} holds an earlier demo: use --overwrite to replace it, or another --output.")
    with _imports_frozen():
        from .demo import run_demo
    _show_progress(progress)

    result = run_demo(output, overwrite=True)
    files = [output / "time_resolved_spectrum.fits", output / "parameters.png", output / "hysteresis.png"]
    _echo_result(result, files + [output / "data"])


@cli.command("config")
@click.option(
    "--filename",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the configuration to this file. Default: print it.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def config(filename, overwrite):
    """A commented default configuration (the PKS 2155-304 flare night).

    The sections are those of Gammapy's AnalysisConfig (general,
    observations, datasets, fit) plus time_resolved.
    """
    from .config import DEFAULT_CONFIG

    if filename is None:
        click.echo(DEFAULT_CONFIG, nl=False)
        return
    if filename.exists() and not overwrite:
        raise click.ClickException(f"{filename} exists: use --overwrite to replace it.")
    filename.write_text(DEFAULT_CONFIG)
    click.echo(f"Wrote {filename}")


@cli.command("run")
@click.argument("config_file", metavar="CONFIG.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output folder. Default: general.outdir of the configuration.",
)
@click.option("--overwrite", is_flag=True, help=OVERWRITE_HELP)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: only the bins not in OUTPUT/checkpoint are fitted.",
)
@click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars.")
def run(config_file, output, overwrite, resume, progress):
    """Run the time-resolved analysis described by a configuration file.

    The configuration is a Gammapy analysis configuration plus a
    time_resolved section (see gammapy-trs config). Each finished bin is kept
    in the output folder's checkpoint/ until the result is written; after an
    interruption, run again with --resume.
    """
    with _imports_frozen():
        from .analysis import run_analysis
        from .config import ConfigError, TRSConfig
    _show_progress(progress)

    try:
        config = TRSConfig.read(config_file)
        out = run_analysis(config, resume=resume, output=output, overwrite=overwrite)
    except (ConfigError, ValueError, TypeError) as error:
        # the package's errors name what to change: show them without a traceback
        raise click.ClickException(str(error)) from None
    result = out.result
    meta = result.meta
    _echo_result(result, out.files)
    if "variability_ts" in meta:
        click.echo(
            f"\nVariability of {meta['variability_parameters']} (likelihood ratio): "
            f"TS = {meta['variability_ts']:.2f} for {meta['variability_dof']} dof, "
            f"p = {meta['variability_p_value']:.3g} ({meta['variability_significance']:.2f} sigma)"
        )
    if out.flux_states is not None:
        click.echo("\nFlux states:\n" + str(out.flux_states))
    if out.shape_blocks is not None:
        click.echo("\n" + str(out.shape_blocks))
    for law in out.laws:
        click.echo("\n" + str(law))
    for population in out.populations:
        click.echo("\n" + str(population))


@cli.command("plot")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--parameter",
    default="summary",
    show_default=True,
    help="A figure ('summary', 'parameters', 'hysteresis', 'spectra', 'sed_map') or a quantity to plot "
    "against time.",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG file. Default is RESULT with the parameter name and .png.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def plot(result, parameter, output, overwrite):
    """Plot a written result (FITS or ECSV): one of its figures, or a quantity against time."""
    from matplotlib.figure import Figure
    from ..result import TimeResolvedSpectrum
    from ..result.figures import figure_names, save_figure

    spectrum = TimeResolvedSpectrum.read(result)
    figures = figure_names(spectrum)
    choices = [*figures, *spectrum.available_quantities]
    if parameter not in choices:
        raise click.BadParameter(f"{parameter!r} is not in the result; use one of {', '.join(choices)}",
                                 param_hint="--parameter")
    output = output or result.with_name(f"{result.name.split('.')[0]}_{parameter}.png")
    if output.exists() and not overwrite:
        raise click.ClickException(f"{output} exists: use --overwrite to replace it.")
    if parameter in figures:
        save_figure(spectrum, parameter, output)
    else:
        fig = Figure(figsize=(8, 4.5), layout="constrained")
        spectrum.plot(parameter, ax=fig.subplots())
        fig.savefig(output, dpi=100)
    click.echo(f"Wrote {output}")


@cli.command("report")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="HTML file. Default is report.html beside RESULT.",
)
@click.option("--title", default=None, help="Title of the page. Default names the source.")
@click.option("--overwrite", is_flag=True, help="Replace an existing file.")
def report(result, output, title, overwrite):
    """Write one self-contained HTML page of a written result, to share: its figures, the table
    of the bins, the tests, and the provenance (the run's provenance.yaml, flux_states.ecsv,
    shape_blocks.ecsv, law_*.ecsv and population_*.ecsv beside RESULT are included where they exist)."""
    from ..result import TimeResolvedSpectrum
    from ..result.flux_states import FluxStates
    from ..result.law_fit import LawFit
    from ..result.population import Population
    from ..result.shape_blocks import ShapeBlocks
    from .analysis import read_provenance

    output = output or result.with_name("report.html")
    if output.exists() and not overwrite:
        raise click.ClickException(f"{output} exists: use --overwrite to replace it.")
    spectrum = TimeResolvedSpectrum.read(result)
    provenance = {"result file": str(result.resolve()), **(read_provenance(result.parent) or {})}
    states_file = result.with_name("flux_states.ecsv")
    states = FluxStates.read(states_file) if states_file.is_file() else None
    blocks_file = result.with_name("shape_blocks.ecsv")
    blocks = ShapeBlocks.read(blocks_file) if blocks_file.is_file() else None
    laws = [LawFit.read(path) for path in sorted(result.parent.glob("law_*.ecsv"))]
    populations = [Population.read(path) for path in sorted(result.parent.glob("population_*.ecsv"))]
    spectrum.to_html(
        output, overwrite=True, title=title, provenance=provenance, flux_states=states, shape_blocks=blocks, laws=laws,
        populations=populations,
    )
    click.echo(f"Wrote {output}")


def main():
    """The ``gammapy-trs`` program: `cli`, and an interpreter that ends without collecting.

    At the end of a process Python's garbage collector walks every object
    left (an analysis leaves many: 0.7 s of a run on the PKS 2155-304
    night); `gc.freeze` at exit skips that walk. Files and logs are closed
    by then (the results are written atomically, logging flushes in its own
    exit handler).
    """
    atexit.register(gc.freeze)
    cli()


if __name__ == "__main__":  # pragma: no cover
    main()
