"""The engine of a run, chosen once before its first bin, and the probe that checks the compiled one.

With ``engine="auto"`` the compiled engine is used only where a probe on the
run's own first bin finds it equal to Gammapy: the Gammapy internals it
relies on answer, and at the start values its statistic, its predicted counts
and the gradient of its compiled statistic equal Gammapy's (the gradient
against central differences of Gammapy's statistic). On any difference the
run uses the Gammapy engine, with one warning that says why. A Gammapy version
other than the one the internals were written for is named in a warning,
with the internals to re-check.
"""

import logging
import numpy as np
import gammapy
from gammapy.modeling import Fit
from ..utils import gammapy_internals as internals
from ..utils.numerics import optimiser_numerics
from .base import map_counts_summary
from .compiled import CompiledEngine
from .gammapy import GammapyEngine
from .statistic import CompiledStatistic

__all__ = ["ENGINES", "EngineMismatchError", "probe_compiled", "select_engine"]

log = logging.getLogger(__name__)

ENGINES = {"compiled": CompiledEngine, "gammapy": GammapyEngine}
"""The engines by name; ``engine="auto"`` chooses between them."""

ENGINE_CHOICES = ("auto", *ENGINES)
"""The values of ``engine=``."""

RTOL = 1e-8
"""Largest relative difference of the statistic and the predicted counts from Gammapy's."""

GRADIENT_RTOL = 1e-3
"""Largest difference of the gradient from central differences of Gammapy's statistic, relative
to the gradient's size."""


class EngineMismatchError(RuntimeError):
    """The compiled engine, asked for explicitly, disagrees with Gammapy on the run's data."""


def _close(value, reference, rtol=RTOL):
    return bool(np.isclose(value, reference, rtol=rtol, atol=rtol * max(1.0, abs(reference))))


def _check_internals(copies):
    """The internals the compiled engine needs, called on the probe's copies (an AttributeError,
    TypeError... if one is gone)."""
    internals.model_penalties(copies.models)
    for dataset in copies:
        internals.dataset_geom(dataset)
        for evaluator in dataset.evaluators.values():
            internals.update_evaluator(evaluator, dataset)
            internals.evaluator_norm_index(evaluator)


def _gradient_mismatch(statistic, reference, parameters):
    """Why the compiled gradient differs from central differences of Gammapy's statistic, or None."""
    factors = np.array([par.factor for par in statistic.parameters])
    _, gradient = statistic.value_and_gradient(factors)
    numerical = np.zeros(factors.size)
    for idx, par in enumerate(parameters):
        step = 1e-4 * abs(par.factor) if par.factor != 0 else 1e-4
        values = []
        for sign in (1, -1):
            par.factor = factors[idx] + sign * step
            values.append(reference.stat_sum())
        par.factor = factors[idx]
        numerical[idx] = (values[0] - values[1]) / (2 * step)
    size = max(float(np.max(np.abs(numerical))), 1e-6)
    worst = float(np.max(np.abs(gradient - numerical)))
    if worst > GRADIENT_RTOL * size:
        return f"gradient {gradient} against Gammapy's {numerical}"
    return None


@optimiser_numerics()
def probe_compiled(datasets, source, fit=None):
    """Why the compiled engine cannot be trusted on these datasets, or None where it equals Gammapy.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The datasets of one bin (the run's first), with their models at their start values.
    source : str
        Name of the source model.
    fit : `~gammapy.modeling.Fit`, optional
        The run's fit. Default is None, ``Fit()``.

    Returns
    -------
    reason : str or None
        What differs, or None.
    """
    engine = CompiledEngine(fit)
    try:
        copies = engine.copy(datasets)
        reference = GammapyEngine(fit).copy(datasets)
        _check_internals(copies)
        stat, expected = engine.stat_sum(copies), reference.stat_sum()
        if not _close(stat, expected):
            return f"statistic {stat!r} against Gammapy's {expected!r}"
        summary = engine.counts_summary(copies, source)
        npred = sum(map_counts_summary(dataset, source)["npred"] for dataset in reference)
        if not _close(summary["npred"], npred):
            return f"predicted counts {summary['npred']!r} against Gammapy's {npred!r}"
        statistic = CompiledStatistic.build(copies)
        if statistic is None:
            return None  # the compiled statistic does not apply: the fits take Gammapy's path
        value = statistic(np.array([par.factor for par in statistic.parameters]))
        if not _close(value, expected):
            return f"compiled statistic {value!r} against Gammapy's {expected!r}"
        free = reference.models.parameters.free_parameters
        names = [par.name for par in statistic.parameters]
        if names != free.names:
            return f"free parameters {names} against Gammapy's {free.names}"
        return _gradient_mismatch(statistic, reference, list(free))
    except Exception as error:  # noqa: BLE001 -- any failure of the probe is a reason not to use it
        return f"the probe raised {error!r}"


def _check_version():
    if gammapy.__version__.startswith(internals.GAMMAPY_VERSION):
        return
    names = "; ".join(item.name for item in internals.INTERNALS)
    log.warning(
        f"gammapy {gammapy.__version__} is installed; gammapy-trs relies on internals of gammapy "
        f"{internals.GAMMAPY_VERSION} (checked on each run's first bin for the compiled engine). "
        f"Re-check: {names}."
    )


def select_engine(engine="auto", fit=None, datasets=None, source=None):
    """The engine of a run.

    Parameters
    ----------
    engine : {"auto", "compiled", "gammapy"} or `~gammapy_trs.engine.FitEngine`, optional
        "compiled" or "gammapy", or "auto": the compiled engine where the
        probe (`probe_compiled`) on ``datasets`` finds it equal to Gammapy and
        ``fit`` is a plain `~gammapy.modeling.Fit`, else the Gammapy engine
        (with a warning where the probe found a difference). An engine
        instance is used as it is. Default is "auto".
    fit : `~gammapy.modeling.Fit`, optional
        The run's fit (backend and options). Default is None, ``Fit()``.
    datasets : `~gammapy.datasets.Datasets`, optional
        The datasets of the run's first bin, for the probe. Default is None (no probe).
    source : str, optional
        Name of the source model, for the probe. Default is None.

    Returns
    -------
    engine : `~gammapy_trs.engine.FitEngine`
        The engine.

    Raises
    ------
    EngineMismatchError
        With ``engine="compiled"``, where the probe finds a difference.
    """
    from .base import FitEngine

    if isinstance(engine, FitEngine):
        return engine
    if engine not in ENGINE_CHOICES:
        raise ValueError(f"engine must be one of {ENGINE_CHOICES}, got {engine!r}.")
    fit = Fit() if fit is None else fit
    if engine == "gammapy":
        return GammapyEngine(fit)
    _check_version()
    if engine == "auto" and type(fit) is not Fit:
        log.info(f"{type(fit).__name__} is not a plain Fit: the run uses the Gammapy engine.")
        return GammapyEngine(fit)
    reason = None if datasets is None else probe_compiled(datasets, source, fit)
    if reason is None:
        return CompiledEngine(fit)
    if engine == "compiled":
        raise EngineMismatchError(
            f"The compiled engine differs from Gammapy on the first bin: {reason}. Use engine='gammapy' "
            "(or 'auto', which falls back to it)."
        )
    log.warning(f"The compiled engine differs from Gammapy on the first bin ({reason}): the run uses the Gammapy engine.")
    return GammapyEngine(fit)
