"""Benchmarks of gammapy-trs against today's hand-written workflow, measured in one run.

    GAMMAPY_DATA=/path/to/gammapy-data python benchmarks/run_benchmarks.py [--only NAME ...]

Sections:

* ``reduction``: the makers slice by slice on ``observations.select_time``
  against `TimeResolvedDatasetsMaker` (n_jobs=1), on the PKS 2155-304
  reference set-up (34 slices), with the largest relative product difference.
  Both run ``--repeat`` times, interleaved; the ratio is that of the fastest
  runs (as ``timeit`` does), with the ratio of the medians and of each pair.
* ``fit``: the hand per-bin `Fit` loop, Gammapy's `LightCurveEstimator`
  (norm only, for scale) and `TimeResolvedSpectrumEstimator` (n_jobs=1) on the
  reduced reference datasets, with the largest differences of the fitted
  values and of their errors, in sigma.
* ``steps``: on the reference datasets (n_jobs=1), side by side: the power law
  plain and with every step and ``compare_to`` (a log-parabola), the
  log-parabola plain and with ``["flux", "errn-errp"]``; each against the
  plain fits of its model, and every quantity against the same run on
  Gammapy's path (`~gammapy.modeling.Fit` on the same statistic: today's
  steps), in sigma.
* ``parallel``: the estimator at n_jobs=1 and n_jobs=2 (multiprocessing) on the
  reference datasets with every step (``--repeat`` runs, each ratio), on the
  plain reference fits and on 200 simulated bins, with the largest relative
  difference of the tables; the start-up of the pool (two workers, two
  empty tasks); and before each run, two ceilings: the machine's, the speed-up
  of two processes on a CPU-bound task that sends nothing, and the work's, the
  speed-up of two independent processes that each run half of the same bins
  (even and odd) at n_jobs=1 on data they inherit; ``efficiency`` is each
  run's speed-up over its work ceiling (on a shared VM both ceilings vary from
  run to run, and bound the estimator's).
* ``scale``: 100 and 2,000 simulated bins (no data files): time per bin and
  peak memory (tracemalloc) of the estimator, against the size of its result.
* ``shared``: 100, 300 and 1,000 simulated bins (no data files): the estimator with
  the index shared by all bins (one joint likelihood) against the independent per-bin
  fits (n_jobs=1), the ratio and how the time per bin grows with the number of bins.
* ``change_points``: 100, 300 and 1,000 simulated bins (no data files, the index varying as a
  sine): the change points of the index (`find_shape_blocks`, n_jobs=1), its parts (the bins'
  profiles on the grid, the optimal partition with PELT's pruning and the number of block costs
  it evaluated, the exact fits of the blocks), and how the time per bin grows.
* ``laws``: 100, 300 and 1,000 simulated bins (no data files): the laws of the index across
  the bins (`fit_law`, of the flux and of time, n_jobs=1) against the shared fit of the index on
  the same bins from the same per-bin result, and how the law's time per bin grows.
* ``posterior``: the "posterior" step on the PKS 2155-304 night (a power law with flat priors,
  index Uniform(1, 6), amplitude Uniform(0, 1e-9) cm-2 s-1 TeV-1): the 24-bin run with default settings at
  n_jobs 1 and 2, its medians and credible intervals against the profile likelihood's values
  and errn/errp, and for three bins the sampling of the compiled likelihood against Gammapy's
  `Sampler` on its own likelihood (same seed, live points and ``frac_remain``), with the
  difference of the evidences in units of their errors.

* ``afternoon``: the whole analysis an astronomer runs on the PKS 2155-304 night, side by side
  in one run: the command line (``gammapy-trs run``, a new process) on
  ``examples/pks2155_flare.yaml`` with every step, ``sed``, ``compare_to``,
  ``test_variability: [index]`` and three flux states, from the DL3 files to the written
  figures, against the hand loop's plain power-law fits alone (on datasets reduced before);
  ``test_variability`` given a plain run against that plain run (three of each, interleaved:
  the ratio of the fastest); every figure of the full result, together (twice: the first
  in a process loads the fonts and parses the math text); and the reduction against the
  slice-by-slice loop (the fastest of two).

The afternoon, reduction, fit, parallel and posterior sections need ``$GAMMAPY_DATA``.
"""

import argparse
import json
import logging
import multiprocessing
import os
import platform
import time
import tracemalloc
import warnings
import numpy as np
import astropy.units as u
from astropy.time import Time
from gammapy.datasets import Datasets
from gammapy.estimators import LightCurveEstimator
from gammapy.modeling import Fit
from gammapy.modeling.models import LogParabolaSpectralModel, PowerLawSpectralModel, SkyModel
from gammapy_trs import TimeResolvedDatasetsMaker, TimeResolvedSpectrumEstimator
from gammapy_trs.samples.pks2155 import (
    reduce_slice_by_slice,
    reference_dataset,
    reference_intervals,
    reference_makers,
    reference_model,
    reference_observations,
)
from gammapy_trs.samples.simulate import simulate_onoff_datasets

from gammapy_trs.utils.parallel import Runner

SECTIONS = ("afternoon", "reduction", "fit", "steps", "parallel", "scale", "shared", "change_points", "laws", "posterior")


def machine():
    cpu = "unknown"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            cpu = next((line.split(":", 1)[1].strip() for line in f if "model name" in line), cpu)
    import gammapy

    return dict(
        cpu=cpu, cores=os.cpu_count(), python=platform.python_version(), gammapy=gammapy.__version__
    )


def timed(function, *args, **kwargs):
    start = time.perf_counter()
    result = function(*args, **kwargs)
    return result, time.perf_counter() - start


def max_relative_difference(a, b):
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    scale = np.maximum(np.abs(a), np.abs(b))
    with np.errstate(invalid="ignore", divide="ignore"):
        return float(np.max(np.where(scale > 0, np.abs(a - b) / scale, 0.0)))


def bench_reduction(repeat=3):
    """Both reductions ``repeat`` times, interleaved; the ratio of the fastest runs (as ``timeit``)."""
    observations, intervals = reference_observations(), reference_intervals()
    dataset, makers = reference_dataset(), reference_makers()
    maker = TimeResolvedDatasetsMaker(makers, intervals, n_jobs=1)
    t_loop, t_maker = [], []
    for _ in range(repeat):
        reference, seconds = timed(reduce_slice_by_slice, makers, dataset, observations, intervals)
        t_loop.append(seconds)
        datasets, seconds = timed(maker.run, dataset, observations)
        t_maker.append(seconds)
    products = [
        lambda d: d.counts.data, lambda d: d.counts_off.data, lambda d: d.acceptance_off.data,
        lambda d: d.alpha.data, lambda d: d.exposure.data, lambda d: d.edisp.edisp_map.data,
        lambda d: d.edisp.exposure_map.data, lambda d: d.mask_safe.data,
        lambda d: [d.gti.time_start.mjd, d.gti.time_stop.mjd],
    ]
    diff = max(max_relative_difference(get(a), get(b)) for a, b in zip(reference, datasets) for get in products)
    # the same reduction in two processes (one observation per task), beside the serial one
    parallel = TimeResolvedDatasetsMaker(makers, intervals, n_jobs=2)
    t_parallel = []
    for _ in range(repeat):
        datasets, seconds = timed(parallel.run, dataset, observations)
        t_parallel.append(seconds)
    diff_parallel = max(max_relative_difference(get(a), get(b)) for a, b in zip(reference, datasets) for get in products)
    return dict(
        n_slices=len(datasets), slice_loop_s=t_loop, maker_s=t_maker,
        ratio=min(t_loop) / min(t_maker), ratio_of_medians=float(np.median(t_loop) / np.median(t_maker)),
        ratio_each_repeat=[a / b for a, b in zip(t_loop, t_maker)], max_relative_difference=diff,
        maker_n_jobs_2_s=t_parallel, ratio_n_jobs_2=min(t_loop) / min(t_parallel),
        max_relative_difference_n_jobs_2=diff_parallel,
    )


AFTERNOON_ESTIMATOR = dict(
    selection_optional=["all"],
    sed_energy_edges={"min": "0.6 TeV", "max": "20 TeV", "nbins": 4},
    test_variability=["index"],
    flux_states={"method": "quantiles", "n_states": 3},
)


def _afternoon_config(folder):
    """``examples/pks2155_flare.yaml`` with every step, the SED, the variability test and flux
    states, writing into ``folder``."""
    import yaml
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "pks2155_flare.yaml"
    config = yaml.safe_load(example.read_text())
    config["general"]["outdir"] = str(folder / "out")
    config["general"]["models_file"] = str(example.with_name(config["general"]["models_file"]))
    config["time_resolved"]["estimator"].update(AFTERNOON_ESTIMATOR)
    path = folder / "afternoon.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def bench_afternoon():
    import subprocess
    import sys
    import tempfile
    from pathlib import Path
    from gammapy_trs.result.figures import result_figures

    intervals, model = reference_intervals(), reference_model()
    datasets = Datasets(
        reduce_slice_by_slice(reference_makers(), reference_dataset(), reference_observations(), intervals)
    )
    _, t_hand = timed(hand_loop, datasets, model, intervals)
    with tempfile.TemporaryDirectory() as tmp:
        config = _afternoon_config(Path(tmp))
        command = [sys.executable, "-m", "gammapy_trs.app.cli", "run", str(config), "--no-progress"]
        run, t_cli = timed(subprocess.run, command, capture_output=True, text=True, check=True)
        files = sorted(path.name for path in (Path(tmp) / "out").iterdir())

        datasets.models = model
        plain = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
        t_plain, t_variability = [], []
        for _ in range(3):  # interleaved; as timeit, the ratio of the fastest runs
            plain_result, seconds = timed(plain.run, datasets)
            t_plain.append(seconds)
            _, seconds = timed(plain.test_variability, datasets, ["index"], alternative=plain_result)
            t_variability.append(seconds)

        full = TimeResolvedSpectrumEstimator(
            time_intervals=intervals, n_jobs=1, selection_optional="all",
            sed_energy_edges=[0.6, 1.44, 3.46, 8.32, 20] * u.TeV,
            compare_to=LogParabolaSpectralModel(alpha=3, beta=0, amplitude="1e-10 cm-2 s-1 TeV-1"),
        )
        full_result, t_full = timed(full.run, datasets)
        t_figures = []
        for _ in range(2):  # the first in a process draws its fonts and math text for the first time
            figures, seconds = timed(result_figures, full_result, Path(tmp))
            t_figures.append(seconds)
    reduction = bench_reduction(repeat=2)
    return dict(
        hand_loop_plain_fits_s=t_hand, cli_whole_analysis_s=t_cli,
        cli_over_hand_loop=t_cli / t_hand, files_written=files,
        plain_run_s=t_plain, test_variability_given_the_run_s=t_variability,
        test_variability_over_plain_run=min(t_variability) / min(t_plain),
        test_variability_over_plain_run_each=[a / b for a, b in zip(t_variability, t_plain)],
        full_run_s=t_full, figures=[path.name for path in figures], all_figures_s=t_figures,
        reduction_over_slice_loop=reduction["ratio"], reduction_max_relative_difference=reduction["max_relative_difference"],
    )


def hand_loop(datasets, model, intervals):
    """The per-bin Fit loop of Gammapy's time-resolved spectroscopy tutorial."""
    fit, results = Fit(), []
    for t_min, t_max in intervals:
        selected = datasets.select_time(time_min=t_min, time_max=t_max)
        if len(selected) == 0:
            continue
        selected.models = model.copy(name="bin")
        results.append(fit.run(selected))
    return results


def bench_fit():
    intervals = reference_intervals()
    datasets = Datasets(
        reduce_slice_by_slice(reference_makers(), reference_dataset(), reference_observations(), intervals)
    )
    model = reference_model()
    hand, t_hand = timed(hand_loop, datasets, model, intervals)

    datasets.models = model
    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
    result, t_est = timed(estimator.run, datasets)

    norm_model = model.copy(name="pks2155")
    datasets.models = norm_model
    lc = LightCurveEstimator(time_intervals=intervals, source="pks2155", energy_edges=[0.4, 20] * u.TeV)
    _, t_lc = timed(lc.run, datasets)

    pulls, error_pulls = [], []
    for i, r in enumerate(hand):
        for name in result.parameter_names:
            par = r.models.parameters[name]
            pulls.append(abs(result.quantity(name)[i].value - par.value) / par.error)
            error_pulls.append(abs(result.quantity(f"{name}_err")[i].value - par.error) / par.error)
    # a NaN (failed bin) makes the maximum NaN: it is not hidden
    return dict(
        n_bins=len(hand), hand_loop_s=t_hand, lightcurve_estimator_s=t_lc, estimator_s=t_est,
        ratio_hand_over_estimator=t_hand / t_est, max_difference_sigma=float(np.max(pulls)),
        max_error_difference_sigma=float(np.max(error_pulls)),
    )


class GammapyPathFit(Fit):
    """Gammapy's `Fit` as it is (a subclass is used as given): the steps on Gammapy's path."""


def reference_datasets():
    intervals = reference_intervals()
    datasets = Datasets(
        reduce_slice_by_slice(reference_makers(), reference_dataset(), reference_observations(), intervals)
    )
    return datasets, intervals


def log_parabola(alpha=3.0, beta=0.0):
    return LogParabolaSpectralModel(alpha=alpha, beta=beta, amplitude="1e-10 cm-2 s-1 TeV-1", reference="1 TeV")


def step_differences(result, reference):
    """Largest difference of every quantity of two results, in sigma of the parameter (values, errors,
    profile errors) or absolute (TS, compare_ts, fluxes in sigma of their errors)."""
    out = {}
    for name in result.parameter_names:
        sigma = reference.quantity(f"{name}_err").value
        for column in (name, f"{name}_err", f"{name}_errn", f"{name}_errp"):
            if column in reference.available_quantities:
                diff = np.abs(result.quantity(column).value - reference.quantity(column).value) / sigma
                out[column] = float(np.nanmax(diff))
    for column in ("flux", "eflux"):
        if column in reference.available_quantities:
            sigma = reference.quantity(f"{column}_err").value
            out[column] = float(np.nanmax(np.abs(result.quantity(column).value - reference.quantity(column).value) / sigma))
    for column in ("ts", "compare_ts"):
        if column in reference.available_quantities:
            out[column] = float(np.nanmax(np.abs(result.quantity(column) - reference.quantity(column))))
    return out


def bench_steps():
    datasets, intervals = reference_datasets()
    cases = {
        "power_law": (reference_model(), dict(selection_optional="all", compare_to=log_parabola())),
        "log_parabola": (
            SkyModel(spectral_model=log_parabola(beta=0.1), name="pks2155"),
            dict(selection_optional=["flux", "errn-errp"]),
        ),
    }
    out = {}
    for case, (model, options) in cases.items():
        datasets.models = model
        plain = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
        steps = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1, **options)
        _, t_plain = timed(plain.run, datasets)
        result, t_steps = timed(steps.run, datasets)
        gammapy_path = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1, fit=GammapyPathFit(), **options)
        reference, t_gammapy = timed(gammapy_path.run, datasets)
        out[case] = dict(
            options={k: str(v) for k, v in options.items()}, plain_s=t_plain, steps_s=t_steps,
            ratio_steps_over_plain=t_steps / t_plain, gammapy_path_steps_s=t_gammapy,
            max_difference_to_gammapy_path=step_differences(result, reference),
        )
    return out


def simulated(n_bins, seed=0):
    edges = Time("2026-01-01T00:00") + np.arange(n_bins + 1) * 10 * u.min
    intervals = [Time([a, b]) for a, b in zip(edges[:-1], edges[1:])]
    phase = np.linspace(0, 6 * np.pi, n_bins)
    truth = [
        PowerLawSpectralModel(
            index=3 - 0.3 * np.sin(p), amplitude=(1 + 0.5 * np.sin(p)) * 1e-10 * u.Unit("cm-2 s-1 TeV-1")
        )
        for p in phase
    ]
    datasets = simulate_onoff_datasets(intervals, truth, random_state=seed)
    datasets.models = SkyModel(
        spectral_model=PowerLawSpectralModel(index=3, amplitude="1e-10 cm-2 s-1 TeV-1"), name="source"
    )
    return datasets, intervals


def compare_jobs(datasets, intervals, **options):
    tables, times = {}, {}
    for n_jobs in (1, 2):
        estimator = TimeResolvedSpectrumEstimator(
            time_intervals=intervals, n_jobs=n_jobs, parallel_backend="multiprocessing", **options
        )
        result, times[n_jobs] = timed(estimator.run, datasets)
        tables[n_jobs] = result.to_table()
    diff = max(
        max_relative_difference(tables[1][name], tables[2][name])
        for name in ("index", "index_err", "amplitude", "amplitude_err", "stat")
    )
    return dict(n_jobs_1_s=times[1], n_jobs_2_s=times[2], speedup=times[1] / times[2], max_relative_difference=diff)


def _empty_task(task):
    return task


def _cpu_task(n_calls):
    """Many small numpy calls, as in a fit, with nothing sent or shared: a task that parallelises perfectly."""
    x = np.linspace(1.0, 2.0, 50)
    total = 0.0
    for i in range(n_calls):
        total += float(np.sum(np.log(x + i)))
    return total


def machine_ceiling(n_calls=60_000):
    """Speed-up of two processes over one on two copies of `_cpu_task` (workers started beforehand):
    what this machine gives to perfectly parallel work, at this moment."""
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_cpu_task, [10, 10], chunksize=1)
        _, serial = timed(lambda: [_cpu_task(n_calls) for _ in range(2)])
        _, parallel = timed(pool.map, _cpu_task, [n_calls, n_calls], chunksize=1)
    return serial / parallel


_HALVES = {}
"""The two halves of the work of `work_ceiling`, inherited by its forked workers."""


def _run_half(index):
    estimator, datasets = _HALVES[index]
    return timed(estimator.run, datasets)[1]


def work_ceiling(datasets, intervals, **options):
    """Speed-up of two processes over one on the estimator's own work, split into its even and odd
    bins, each half run at n_jobs=1 by a worker started beforehand that inherits its data: nothing is
    sent, nothing is shared, no pool schedules the bins. It bounds what any scheduling of these bins
    on this machine can give, at this moment."""
    for half in (0, 1):
        estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals[half::2], n_jobs=1, **options)
        _HALVES[half] = estimator, datasets
    serial = sum(_run_half(half) for half in (0, 1))
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pool.map(_empty_task_index, [0, 1], chunksize=1)
        start = time.perf_counter()
        pool.map(_run_half, [0, 1], chunksize=1)
        parallel = time.perf_counter() - start
    _HALVES.clear()
    return dict(serial_s=serial, parallel_s=parallel, speedup=serial / parallel)


def _empty_task_index(index):
    return index


def bench_parallel(repeat=3):
    datasets, intervals = reference_datasets()
    datasets.models = reference_model()
    options = dict(selection_optional="all", compare_to=log_parabola())
    every_step, ceiling, work = [], [], []
    for _ in range(repeat):
        ceiling.append(machine_ceiling())
        work.append(work_ceiling(datasets, intervals, **options))
        every_step.append(compare_jobs(datasets, intervals, **options))
    _, startup = timed(Runner(n_jobs=2, backend="multiprocessing").run, _empty_task, {0: 0, 1: 1})
    speedups = [run["speedup"] for run in every_step]
    return dict(
        reference_every_step=every_step,
        reference_every_step_speedups=speedups,
        machine_ceiling_speedups=ceiling,
        work_ceiling=work,
        work_ceiling_speedups=[run["speedup"] for run in work],
        efficiency=[s / w["speedup"] for s, w in zip(speedups, work)],
        reference_plain=compare_jobs(datasets, intervals),
        simulated_200=compare_jobs(*simulated(200)),
        pool_startup_s=startup,
    )


def bench_scale():
    out = {}
    for n_bins in (100, 2000):
        datasets, intervals = simulated(n_bins, seed=n_bins)
        estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
        tracemalloc.start()
        result, seconds = timed(estimator.run, datasets)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        tracemalloc.start()
        copy = type(result).from_table(result.to_table(), [m.copy(name=m.name) for m in result.models])
        result_size = tracemalloc.get_traced_memory()[0]
        tracemalloc.stop()
        del copy
        out[n_bins] = dict(
            seconds=seconds, seconds_per_bin=seconds / n_bins, peak_mb=peak / 2**20,
            result_mb=result_size / 2**20, success=float(result.success.mean()),
        )
    out["time_per_bin_ratio"] = out[2000]["seconds_per_bin"] / out[100]["seconds_per_bin"]
    out["peak_per_bin_ratio"] = (out[2000]["peak_mb"] / 2000) / (out[100]["peak_mb"] / 100)
    out["result_per_bin_ratio"] = (out[2000]["result_mb"] / 2000) / (out[100]["result_mb"] / 100)
    return out


def bench_shared(sizes=(100, 300, 1000)):
    out = {}
    for n_bins in sizes:
        datasets, intervals = simulated(n_bins, seed=n_bins)
        independent = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1)
        shared = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1, shared_parameters=["index"])
        _, t_independent = timed(independent.run, datasets)
        result, t_shared = timed(shared.run, datasets)
        out[n_bins] = dict(
            independent_s=t_independent, shared_s=t_shared, ratio=t_shared / t_independent,
            shared_per_bin_s=t_shared / n_bins, iterations=result.meta["shared_iterations"],
            index=float(result.shared_parameters["value"][0]), index_err=float(result.shared_parameters["error"][0]),
        )
    first, last = sizes[0], sizes[-1]
    out["shared_per_bin_growth"] = out[last]["shared_per_bin_s"] / out[first]["shared_per_bin_s"]
    return out


def bench_change_points(sizes=(100, 300, 1000)):
    """The steps of `find_shape_blocks`, each timed: the bins' profiles, the partition, the blocks' fits."""
    from gammapy_trs.estimation import change_points

    out = {}
    for n_bins in sizes:
        datasets, intervals = simulated(n_bins, seed=n_bins)
        result = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1).run(datasets)
        (setup, axes, costs), t_profiles = timed(change_points.shape_costs, result, datasets, ["index"], n_jobs=1)
        penalty = change_points.penalty_from_p0(0.05, n_bins)
        edges, t_partition = timed(change_points.optimal_partition, costs, n_bins, penalty)
        evaluated = costs.n_evaluations
        blocks, t_rest = timed(change_points.blocks_from_costs, result, setup, axes, costs, p0=0.05)
        t_blocks = t_rest - t_partition  # blocks_from_costs makes the partition again, then the blocks' fits
        total = t_profiles + t_rest
        out[n_bins] = dict(
            total_s=total, per_bin_s=total / n_bins, profiles_s=t_profiles, partition_s=t_partition,
            block_costs_evaluated=evaluated, optimal_partitioning_costs=n_bins * (n_bins + 1) // 2,
            block_fits_s=t_blocks, n_blocks_partition=len(edges) - 1, n_blocks=len(blocks), penalty=penalty,
        )
    first, last = sizes[0], sizes[-1]
    out["per_bin_growth"] = out[last]["per_bin_s"] / out[first]["per_bin_s"]
    return out


def bench_laws(sizes=(100, 300, 1000)):
    """The laws of the index across bins (of the flux, of time) against the shared fit of the index
    on the same bins, started from the same per-bin result."""
    from gammapy_trs import fit_law
    from gammapy_trs.estimation.grouping import bin_setup
    from gammapy_trs.estimation.shared import SharedParameters, start_from_bins
    from gammapy_trs.utils.parameters import SourceParameters

    out = {}
    for n_bins in sizes:
        datasets, intervals = simulated(n_bins, seed=n_bins)
        result = TimeResolvedSpectrumEstimator(time_intervals=intervals, n_jobs=1).run(datasets)
        setup = bin_setup(result, datasets, ["index"], n_jobs=1)
        parameters = SourceParameters.from_model(setup.model)
        start = start_from_bins(result, ["index"])
        _, t_shared = timed(
            SharedParameters.fit, setup.groups, setup.model, parameters, ["index"], setup.engine, setup.runner, start=start
        )
        flux, t_flux = timed(fit_law, result, datasets, "index", covariate="flux", n_jobs=1)
        time_law, t_time = timed(fit_law, result, datasets, "index", covariate="time", n_jobs=1)
        out[n_bins] = dict(
            shared_s=t_shared, law_flux_s=t_flux, law_time_s=t_time, law_flux_ratio=t_flux / t_shared,
            law_time_ratio=t_time / t_shared, law_flux_per_bin_s=t_flux / n_bins,
            b_flux=float(flux.coefficients["value"][1]), b_flux_err=float(flux.coefficients["error"][1]),
            b_time=float(time_law.coefficients["value"][1]), b_time_err=float(time_law.coefficients["error"][1]),
        )
    first, last = sizes[0], sizes[-1]
    out["law_flux_per_bin_growth"] = out[last]["law_flux_per_bin_s"] / out[first]["law_flux_per_bin_s"]
    return out


def with_priors(model):
    """The PKS 2155-304 power law with the flat priors of the posterior benchmark: index
    Uniform(1, 6), amplitude Uniform(0, 1e-9) cm-2 s-1 TeV-1."""
    from gammapy.modeling.models import UniformPrior

    model = model.copy(name=model.name)
    model.spectral_model.index.prior = UniformPrior(min=1, max=6)
    model.spectral_model.amplitude.prior = UniformPrior(min=0, max=1e-9)
    return model


class TimedLikelihood:
    """A log-likelihood that adds up the time spent in it (the rest of a sampler's time is its own)."""

    def __init__(self, likelihood):
        self.likelihood, self.parameters, self.seconds = likelihood, likelihood.parameters, 0.0

    def __call__(self, values):
        start = time.perf_counter()
        try:
            return self.likelihood(values)
        finally:
            self.seconds += time.perf_counter() - start


PARITY_SAMPLER_OPTS = dict(min_ess=3000, frac_remain=0.01)
"""Sampler settings of the parity measurement: an effective sample size that makes the Monte Carlo
noise of the medians and interval ends (about 0.02 sigma) small against the 0.1 sigma compared."""


def posterior_parity(result):
    """Posterior medians and central intervals against the profile likelihood's values and
    errn/errp, in every bin and parameter: shifts in sigma (errp above, errn below), interval
    half-widths as relative differences."""
    table = result.to_table()
    rows = []
    for name in result.parameter_names:
        value, errn, errp = (np.asarray(table[c], dtype=float) for c in (name, f"{name}_errn", f"{name}_errp"))
        median, lo, hi = (np.asarray(table[c], dtype=float) for c in (f"{name}_median", f"{name}_credible_lo", f"{name}_credible_hi"))
        shift = (median - value) / np.where(median > value, errp, errn)
        for idx in range(len(value)):
            rows.append(dict(
                parameter=name, bin=idx, shift_sigma=float(shift[idx]), errp_over_errn=float(errp[idx] / errn[idx]),
                lower_width_difference=float((median[idx] - lo[idx]) / errn[idx] - 1),
                upper_width_difference=float((hi[idx] - median[idx]) / errp[idx] - 1),
            ))
    shifts = np.abs([row["shift_sigma"] for row in rows])
    widths = np.abs([[row["lower_width_difference"], row["upper_width_difference"]] for row in rows])
    worst = sorted(rows, key=lambda row: -abs(row["shift_sigma"]))[:3]
    return dict(
        max_median_shift_sigma=float(np.nanmax(shifts)), median_median_shift_sigma=float(np.nanmedian(shifts)),
        n_shifts_above_0p1_sigma=int(np.sum(shifts > 0.1)), n_values=len(rows),
        max_interval_width_difference=float(np.nanmax(widths)),
        median_interval_width_difference=float(np.nanmedian(widths)),
        largest_shifts=worst, n_converged=int(np.sum(result.to_table()["sampler_converged"])),
    )


def bench_posterior(sample_bins=(0, 8, 16)):
    """The "posterior" step on the PKS 2155-304 night: the 24-bin run (default settings, n_jobs 1 and
    2), its posteriors against the profile likelihood, and per bin the sampling of our (compiled)
    likelihood against Gammapy's `Sampler` on its own likelihood, same seed and settings."""
    from gammapy.modeling import Sampler
    from gammapy_trs.engine import CompiledEngine
    from gammapy_trs.estimation.sampling import SamplerSettings, sample_posterior

    intervals = reference_intervals()
    datasets = Datasets(
        reduce_slice_by_slice(reference_makers(), reference_dataset(), reference_observations(), intervals)
    )
    datasets.models = with_priors(reference_model())
    out = {}
    for n_jobs in (1, 2):
        estimator = TimeResolvedSpectrumEstimator(
            time_intervals=intervals, selection_optional=["errn-errp", "posterior"], n_jobs=n_jobs
        )
        result, out[f"run_24_bins_n_jobs_{n_jobs}_s"] = timed(estimator.run, datasets)
    out["parity_default_settings"] = posterior_parity(result)
    # the default settings' effective sample size (min_ess 400, frac_remain 0.5) leaves a Monte Carlo
    # noise of about 0.06 sigma on each median: the parity itself is measured on precise posteriors
    precise = TimeResolvedSpectrumEstimator(
        time_intervals=intervals, selection_optional=["errn-errp", "posterior"], n_jobs=2,
        sampler_opts=PARITY_SAMPLER_OPTS,
    )
    result, seconds = timed(precise.run, datasets)
    out["parity_precise_settings"] = dict(posterior_parity(result), sampler_opts=PARITY_SAMPLER_OPTS, run_s=seconds)
    settings = SamplerSettings()
    per_bin = []
    groups = [datasets.select_time(t_min, t_max) for t_min, t_max in intervals]
    for idx in sample_bins:
        group = Datasets([d.copy(name=d.name) for d in groups[idx]])
        group.models = with_priors(reference_model())
        engine = CompiledEngine()
        copies = engine.copy(group)
        likelihood = TimedLikelihood(engine.log_likelihood(copies))
        priors = [par.prior for par in likelihood.parameters]
        ours, t_ours = timed(sample_posterior, likelihood, priors, settings, 1)
        # UltraNest's own time: what the sampler costs with a likelihood that costs nothing
        bookkeeping = t_ours - likelihood.seconds
        np.random.seed(1)
        sampler = Sampler(
            sampler_opts=dict(live_points=settings.live_points, frac_remain=settings.frac_remain),
            run_opts=dict(show_status=False, viz_callback=False),
        )
        theirs, t_theirs = timed(sampler.run, group)
        z, z_err = theirs.sampler_results["logz"], theirs.sampler_results["logzerr"]
        per_bin.append(dict(
            bin=idx, likelihood=likelihood.likelihood.name, ours_s=t_ours, gammapy_sampler_s=t_theirs, ratio=t_theirs / t_ours,
            ours_likelihood_s=likelihood.seconds, ultranest_own_s=bookkeeping, ratio_bound=t_theirs / bookkeeping,
            ours_ncall=ours.ncall, gammapy_ncall=int(theirs.sampler_results["ncall"]),
            ours_log_z=ours.log_evidence, gammapy_log_z=float(z),
            log_z_difference_in_errors=abs(ours.log_evidence - z) / np.hypot(ours.log_evidence_err, z_err),
        ))
    out["per_bin"] = per_bin
    out["min_ratio"] = min(row["ratio"] for row in per_bin)
    out["max_ratio_bound"] = max(row["ratio_bound"] for row in per_bin)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS))
    parser.add_argument("--output", help="Write the results as JSON to this file.")
    parser.add_argument(
        "--repeat", type=int, default=3, help="Repeats of the reduction and parallel sections. Default is 3."
    )
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)
    warnings.simplefilter("ignore")

    results = dict(machine=machine())
    for name in args.only:
        kwargs = dict(repeat=args.repeat) if name in ("reduction", "parallel") else {}
        results[name] = globals()[f"bench_{name}"](**kwargs)
        print(f"{name}: {json.dumps(results[name], indent=2)}", flush=True)
    if args.output:
        with open(args.output, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
