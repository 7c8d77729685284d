"""The test of a law across bins by simulation: its p-value where the likelihood ratio's
chi-square distribution does not hold (faint bins).

Under the null hypothesis (the shape shared by all bins: the law's null
coefficients) each bin's datasets are simulated from the bins' own fits with
that shape (a negative norm simulated as zero; Poisson draws of the predicted counts, and of the OFF counts for
on-off spectra, `~gammapy.datasets.SpectrumDatasetOnOff.fake`); the per-bin
fits and the law are made again on each simulation, and the p-value is the
fraction of simulations whose likelihood ratio against "shared" reaches the
observed one (a parametric bootstrap; ``(1 + k) / (1 + n)``).
"""

import dataclasses
import logging
import numpy as np
from astropy.time import Time
from gammapy.datasets import Datasets, SpectrumDatasetOnOff
from gammapy.utils.random import get_random_state
from ..utils.parallel import Runner
from ..utils.parameters import norm_parameter_index
from .estimator import TimeResolvedSpectrumEstimator
from .grouping import bin_setup
from .laws import LAWS, fit_law

__all__ = ["simulate_law_test"]

log = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class _Simulation:
    """One simulation of the null hypothesis: the bins' datasets with their null models, a seed,
    and how to fit the law again."""

    groups: tuple
    null_models: tuple
    source: str
    seed: int
    intervals: object
    options: dict


def _fake(datasets, model, source, random_state):
    """Copies of a bin's datasets with counts drawn from ``model`` (the source's null fit)."""
    fakes = Datasets()
    for dataset in datasets:
        copy = dataset.copy(name=dataset.name)
        copy.models = [model if m.name == source else m.copy(name=m.name) for m in dataset.models]
        if isinstance(copy, SpectrumDatasetOnOff):
            copy.fake(npred_background=copy.npred_background(), random_state=random_state)
        else:
            copy.fake(random_state=random_state)
        fakes.append(copy)
    return fakes


def _one_simulation(task):
    """The law's likelihood ratio against "shared" on one simulation of the null hypothesis."""
    random_state = get_random_state(np.random.SeedSequence(task.seed).generate_state(1)[0])
    datasets = Datasets()
    for group, model in zip(task.groups, task.null_models):
        datasets.extend(_fake(group, model, task.source, random_state))
    datasets.models = [m.copy(name=m.name) for m in task.groups[0].models]  # the shape free again
    estimator = TimeResolvedSpectrumEstimator(time_intervals=task.intervals, source=task.source, n_jobs=1)
    try:
        result = estimator.run(datasets)
        law = fit_law(result, datasets, n_jobs=1, **task.options)
    except (ValueError, RuntimeError) as error:
        log.debug(f"A simulation of the null hypothesis failed: {error!r}")
        return np.nan
    return float(law.meta["TS_SHARED"])


def _null_models(law, spectrum, setup):
    """Each bin's source model fitted with the shape at its null value (the law's null coefficients)."""
    names = list(law.meta["COEFNAME"])
    null = np.array(law.meta["COEFNULL"], dtype=float)
    declared = LAWS[law.meta["LAW"]](covariate=law.meta["COVARIATE"])
    values = declared.value(null, np.array([-1.0, 0.0, 1.0]))
    if not np.all(np.isfinite(values)) or np.ptp(values) > 1e-12 * (1 + abs(values[0])):
        raise ValueError(f"The null hypothesis of the law ({names}) does not fix one shape for all bins.")
    model = setup.model.copy(name=setup.source)
    model.parameters[law.parameter].value = float(values[0])
    model.parameters[law.parameter].frozen = True
    estimator = TimeResolvedSpectrumEstimator(time_intervals=spectrum.time_axis, source=setup.source, n_jobs=1)
    groups = [Datasets([d.copy(name=d.name) for d in group]) for group in setup.groups]
    datasets = Datasets([d for group in groups for d in group])
    datasets.models = [model] + [m.copy(name=m.name) for m in setup.groups[0].models if m.name != setup.source]
    fitted = estimator.run(datasets)
    if not fitted.success.any():
        raise ValueError("The null hypothesis could not be fitted in any bin: no simulation from it.")
    models = fitted.models
    idx = norm_parameter_index(model)
    for bin_model in models if idx is not None else ():
        norm = bin_model.parameters[idx]
        norm.value = max(norm.value, 0.0)  # a negative flux is simulated as none
    return models, fitted.success


def simulate_law_test(
    law, spectrum, datasets, n_simulations=100, random_state=0, fit=None, engine="auto", n_jobs=None,
    parallel_backend=None, atol="1e-6 s",
):
    """The p-value of a law against the shape shared by all bins, from simulations of the null hypothesis.

    Where the bins are faint the likelihood ratio of a law of the flux does not
    follow its chi-square distribution (the bins' norms are incidental
    parameters; the statistics docs measure it); this parametric bootstrap
    gives its p-value: each simulation draws every bin's counts from the bins'
    own fits with the null shape, fits the bins and the law again, and counts
    the simulations whose TS reaches the observed one.

    Parameters
    ----------
    law : `~gammapy_trs.result.law_fit.LawFit`
        The law fitted on ``spectrum`` and ``datasets`` (`~gammapy_trs.fit_law`, a declared law in `LAWS`).
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The per-bin fits.
    datasets : `~gammapy.datasets.Datasets`
        The datasets, with their models (not changed).
    n_simulations : int, optional
        Number of simulations. Default is 100.
    random_state : int, optional
        Seed of the simulations (simulation ``k`` has seed ``(random_state, k)``). Default is 0.
    fit, engine, n_jobs, parallel_backend, atol : optional
        As `~gammapy_trs.fit_law`; ``n_jobs`` processes run the simulations.

    Returns
    -------
    law : `~gammapy_trs.result.law_fit.LawFit`
        A copy of ``law`` with ``P_SHARED_SIM`` (the p-value), ``N_SIM`` (simulations that
        succeeded), ``TS_SIM`` (their TS) and ``N_SIM_BINS`` (the bins simulated: those whose
        null fit succeeded) in its meta data.
    """
    if not np.isfinite(law.meta["TS_SHARED"]):
        raise ValueError("The law's test against the shared shape failed (TS is NaN): nothing to simulate.")
    setup = bin_setup(spectrum, datasets, [law.parameter], fit, engine, 1, None, atol)
    null_models, fitted = _null_models(law, spectrum, setup)
    if not fitted.all():
        log.warning(f"The null hypothesis could not be fitted in bins {list(np.flatnonzero(~fitted))}: simulated without them.")
    axis = spectrum.time_axis
    intervals = [Time([axis.time_min[i], axis.time_max[i]]) for i in np.flatnonzero(fitted)]
    groups = tuple(group for group, ok in zip(setup.groups, fitted) if ok)
    null_models = tuple(model for model, ok in zip(null_models, fitted) if ok)
    options = dict(
        parameter=law.parameter, law=law.meta["LAW"], covariate=law.meta["COVARIATE"], fit=fit, engine=engine, atol=atol
    )
    if law.meta["COVARIATE"] == "flux":
        options["reference"] = law.meta["REFERENCE"]
    tasks = {
        k: _Simulation(groups, null_models, setup.source, (random_state, k), intervals, options)
        for k in range(n_simulations)
    }
    runner = Runner(n_jobs, parallel_backend)
    results = runner.run(_one_simulation, tasks, desc="Simulations of the null hypothesis")
    ts = np.array([results[k] for k in range(n_simulations)], dtype=float)
    done = ts[np.isfinite(ts)]
    if done.size < n_simulations:
        log.warning(f"{n_simulations - done.size} of {n_simulations} simulations failed; left out of the p-value.")
    observed = law.meta["TS_SHARED"]
    p_value = (1 + np.sum(done >= observed - 1e-9)) / (1 + done.size) if done.size else np.nan
    table = law.table.copy()
    table.meta.update(
        P_SHARED_SIM=float(p_value), N_SIM=int(done.size), TS_SIM=[float(v) for v in ts], N_SIM_BINS=len(groups)
    )
    return type(law)(table)
