"""The ``gammapy-trs`` command line."""

import logging
from pathlib import Path
import click

__all__ = ["cli"]

log = logging.getLogger(__name__)


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


@cli.command("demo")
@click.option(
    "--output",
    default="gammapy-trs-demo",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Output folder.",
)
def demo(output):
    """Simulate a flare (no data needed), reduce it in time slices and fit each bin.

    Writes the DL3 data set and its truth (data/), the result
    (time_resolved_spectrum.fits) and two plots (parameters.png,
    hysteresis.png), and prints the table of the bins.
    """
    from .demo import run_demo

    result = run_demo(output)
    columns = ["time_min", "success", "index", "index_err", "amplitude", "amplitude_err", "sqrt_ts", "flux"]
    table = result.to_table()[columns]
    for name in columns[2:]:
        table[name].format = ".4g"
    click.echo(str(result))
    click.echo("\n".join(table.pformat(max_lines=-1, max_width=-1)))
    click.echo(f"\nWrote {output / 'time_resolved_spectrum.fits'}, {output / 'parameters.png'}, "
               f"{output / 'hysteresis.png'} and the data set in {output / 'data'}.")


@cli.command("config")
def config():
    """Print a commented default configuration (the PKS 2155-304 flare night)."""
    from .config import DEFAULT_CONFIG

    click.echo(DEFAULT_CONFIG, nl=False)


@cli.command("run")
@click.argument("config_file", metavar="CONFIG.yaml", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--resume",
    is_flag=True,
    help="Continue an interrupted run: only the bins not in OUTPUT/checkpoint are fitted.",
)
def run(config_file, resume):
    """Run the time-resolved analysis described by a configuration file.

    Each finished bin is kept in the output folder's checkpoint/ until the
    result is written; after an interruption, run again with --resume.
    """
    from .analysis import run_analysis
    from .config import ConfigError, TRSConfig

    try:
        config = TRSConfig.read(config_file)
        result = run_analysis(config, resume=resume)
    except (ConfigError, ValueError, TypeError) as error:
        # the package's errors name what to change: show them without a traceback
        raise click.ClickException(str(error)) from None
    columns = [c for c in ["time_min", "success", *result.parameter_names, "sqrt_ts", "flux"]
               if c in result.available_quantities or c == "time_min"]
    table = result.to_table()[columns]
    click.echo(str(result))
    click.echo("\n".join(table.pformat(max_lines=-1, max_width=-1)))
    if "variability_ts" in result.meta:
        meta = result.meta
        click.echo(
            f"\nVariability of {meta['variability_parameters']} (likelihood ratio): "
            f"TS = {meta['variability_ts']:.2f} for {meta['variability_dof']} dof, "
            f"p = {meta['variability_p_value']:.3g} ({meta['variability_significance']:.2f} sigma)"
        )
    states = Path(config.output.path) / "flux_states.ecsv"
    if config.estimator.flux_states is not None and states.exists():
        from ..result.flux_states import FluxStates

        click.echo("\nFlux states:\n" + str(FluxStates.read(states)))
    click.echo(f"\nWrote the result and plots to {config.output.path}")


@cli.command("plot")
@click.argument("result", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--parameter", default="index", show_default=True, help="Quantity to plot against time.")
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="PNG file. Default is RESULT with the parameter name and .png.",
)
def plot(result, parameter, output):
    """Plot a quantity of a written result (FITS or ECSV) against time."""
    from matplotlib.figure import Figure
    from ..result import TimeResolvedSpectrum

    spectrum = TimeResolvedSpectrum.read(result)
    if parameter not in spectrum.available_quantities:
        raise click.BadParameter(
            f"{parameter!r} is not in the result; available: {', '.join(spectrum.available_quantities)}",
            param_hint="--parameter",
        )
    output = output or result.with_name(f"{result.name.split('.')[0]}_{parameter}.png")
    fig = Figure(figsize=(8, 4.5), layout="constrained")
    spectrum.plot(parameter, ax=fig.subplots())
    fig.savefig(output, dpi=100)
    click.echo(f"Wrote {output}")


if __name__ == "__main__":  # pragma: no cover
    cli()
