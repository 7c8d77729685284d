"""Change points of the spectral shape: optimal partitioning, block costs, and the blocks of a flare."""

import itertools
import numpy as np
import pytest
import matplotlib.pyplot as plt
from numpy.testing import assert_allclose
from gammapy.datasets import Datasets
from gammapy.modeling.models import PowerLawSpectralModel
from gammapy.utils.testing import mpl_plot_check
from gammapy_trs import ShapeBlocks, TimeResolvedSpectrumEstimator, find_shape_blocks
from gammapy_trs.estimation.change_points import (
    BlockCosts,
    critical_penalty,
    optimal_partition,
    penalty_from_p0,
    shape_costs,
)
from gammapy_trs.samples.simulate import simulate_onoff_datasets
from conftest import AMPLITUDE_UNIT, make_intervals, power_law_model
from test_gammapy_formats import assert_readable

N_BINS = 12
INTERVALS = make_intervals(N_BINS)
STEP = 6
"""The bin from which the simulated flare is harder."""


def gaussian_costs(x, sigma):
    """Costs of blocks of Gaussian measurements with a common mean: chi-square about the block's
    weighted mean (a cost that never falls below the sum of its parts')."""
    weights = 1 / np.asarray(sigma) ** 2

    def cost(start, stop):
        w, v = weights[start:stop], x[start:stop]
        mean = np.sum(w * v) / np.sum(w)
        return float(np.sum(w * (v - mean) ** 2)), np.array([mean]), False

    return cost


def brute_force(cost, n, penalty):
    """The best partition over all 2**(n-1) of them."""
    best = (np.inf, None)
    for cuts in itertools.product([0, 1], repeat=n - 1):
        edges = [0] + [i + 1 for i, c in enumerate(cuts) if c] + [n]
        total = sum(cost(a, b)[0] for a, b in zip(edges[:-1], edges[1:])) + penalty * (len(edges) - 2)
        best = min(best, (total, edges), key=lambda item: item[0])
    return best[1]


@pytest.mark.parametrize("penalty", [0.5, 3.0, 9.0, 30.0])
def test_optimal_partition_equals_every_partition(penalty):
    rng = np.random.RandomState(3)
    x = np.concatenate([rng.normal(0, 1, 4), rng.normal(3, 1, 3), rng.normal(-1, 1, 3)])
    cost = gaussian_costs(x, np.ones(x.size))
    expected = brute_force(cost, x.size, penalty)
    assert optimal_partition(cost, x.size, penalty) == expected
    assert optimal_partition(cost, x.size, penalty, prune=False) == expected


def test_pruning_spares_block_costs():
    rng = np.random.RandomState(1)
    x = np.repeat(rng.normal(0, 4, 10), 30) + rng.normal(0, 1, 300)
    calls = []
    cost = gaussian_costs(x, np.ones(x.size))

    def counted(start, stop):
        calls.append((start, stop))
        return cost(start, stop)

    edges = optimal_partition(counted, x.size, 12.0)
    pruned = len(calls)
    calls.clear()
    assert optimal_partition(counted, x.size, 12.0, prune=False) == edges
    assert (pruned, len(calls)) == (6178, 45150)  # 14% of the block costs of optimal partitioning
    assert set(edges) <= set(range(0, 301, 30))  # each change found is one of the true ones


def test_block_costs_of_parabolic_profiles():
    """Quadratic profiles: the cost of a block is the chi-square about the weighted mean, which the
    cubic splines of the summed profiles reproduce exactly."""
    mu, sigma = np.array([2.8, 3.1, 3.0, 2.5]), np.array([0.2, 0.3, 0.1, 0.4])
    axis = np.linspace(1.5, 4.5, 31)
    costs = BlockCosts([axis], ((axis[None, :] - mu[:, None]) / sigma[:, None]) ** 2)
    reference = gaussian_costs(mu, sigma)
    for start, stop in [(0, 1), (0, 4), (1, 3), (2, 4)]:
        cost, values, at_edge = costs(start, stop)
        assert_allclose(cost, reference(start, stop)[0], atol=1e-10)
        assert_allclose(values, reference(start, stop)[1], rtol=1e-10)
        assert not at_edge
    # a point whose fit failed counts as the bin's worst; a bin with most points failed is left out
    profiles = ((axis[None, :] - mu[:, None]) / sigma[:, None]) ** 2
    profiles[0, 0] = np.nan  # far from the bin's minimum
    profiles[1, :20] = np.nan
    partial = BlockCosts([axis], profiles)
    assert list(partial.used) == [True, False, True, True] and partial.n_filled == 1
    assert_allclose(partial(0, 1)[0], 0, atol=1e-10)
    assert_allclose(partial(0, 3)[0], gaussian_costs(mu[[0, 2]], sigma[[0, 2]])(0, 2)[0], atol=1e-6)
    # a block of left-out bins costs nothing (a flat profile)
    assert partial(1, 2)[0] == 0


def test_critical_penalty_splits_exactly_below_it():
    x = np.array([0.0, 0.2, -0.1, 2.5, 2.9, 2.6])
    cost = gaussian_costs(x, 0.5 * np.ones(6))

    class Costs:
        n_bins = 6

        def __call__(self, start, stop):
            return cost(start, stop)

    critical = critical_penalty(Costs())
    assert optimal_partition(cost, 6, critical * 1.001) == [0, 6]
    assert optimal_partition(cost, 6, critical * 0.999) == [0, 3, 6]


def test_penalty_from_p0():
    assert_allclose(penalty_from_p0(0.05, 20), 9.04678, atol=1e-5)  # chi2.isf(0.05 / 19, 1)
    assert penalty_from_p0(0.05, 20, n_parameters=2) > penalty_from_p0(0.05, 20)
    with pytest.raises(ValueError, match="p0 must be between 0 and 1"):
        penalty_from_p0(1.5, 20)


def step_flare(delta, random_state=0):
    index = np.where(np.arange(N_BINS) < STEP, 3.0, 3.0 - delta)
    truth = [PowerLawSpectralModel(index=i, amplitude=1e-10 * AMPLITUDE_UNIT) for i in index]
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=random_state)
    datasets.models = power_law_model()
    return datasets


@pytest.fixture(scope="module")
def step():
    datasets = step_flare(0.5, random_state=1)
    result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, n_jobs=1).run(datasets)
    return datasets, result, find_shape_blocks(result, datasets, ["index"], n_jobs=1)


def shared_fit(datasets, bins):
    """The estimator's joint fit of the index over some bins."""
    intervals = [INTERVALS[i] for i in bins]
    estimator = TimeResolvedSpectrumEstimator(time_intervals=intervals, shared_parameters=["index"], n_jobs=1)
    return estimator.run(datasets)


def test_blocks_of_a_step_in_the_index(step):
    datasets, result, blocks = step
    assert len(blocks) == 2 and blocks.change_points == [STEP]
    assert abs((blocks.change_times[0] - INTERVALS[STEP][0]).to_value("s")) < 1e-3
    table = blocks.table
    assert list(table["bin_start"]) == [0, STEP] and list(table["bin_stop"]) == [STEP, N_BINS]
    # each block is the joint fit of the index over its bins, as the estimator's shared fit
    stats = []
    for row, bins in zip(table, [range(STEP), range(STEP, N_BINS)]):
        shared = shared_fit(datasets, bins)
        reference = shared.shared_parameters
        assert_allclose(row["index"], reference["value"][0], atol=0.01 * reference["error"][0])
        assert_allclose(row["index_err"], reference["error"][0], rtol=0.01)
        assert_allclose(row["stat"], shared.meta["stat_joint"], atol=1e-3)
        stats.append(shared.meta["stat_joint"])
    assert_allclose(table["index"], [3.0, 2.5], atol=3 * np.max(table["index_err"]))
    merged = shared_fit(datasets, range(N_BINS)).meta["stat_joint"]
    assert_allclose(table["ts_change"][1], merged - sum(stats), atol=2e-3)
    assert table["significance_change"][1] > 5 and np.isnan(table["ts_change"][0])
    assert table.meta["PENALTY"] == penalty_from_p0(0.05, N_BINS) and table.meta["P0"] == 0.05
    assert not table["at_grid_edge"].any() and table.meta["N_EXCLUDED"] == 0
    assert "ShapeBlocks of ['index'] (penalty" in str(blocks)


def test_constant_index_is_one_block():
    datasets = step_flare(0.0, random_state=2)
    result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, n_jobs=1).run(datasets)
    _, _, costs = shape_costs(result, datasets, ["index"], n_jobs=1)
    assert critical_penalty(costs) < penalty_from_p0(0.05, N_BINS)
    blocks = find_shape_blocks(result, datasets, "index", n_jobs=1)
    assert len(blocks) == 1 and blocks.change_points == []
    reference = shared_fit(datasets, range(N_BINS)).shared_parameters
    assert_allclose(blocks.table["index"][0], reference["value"][0], atol=0.01 * reference["error"][0])
    # a penalty given overrides p0; at zero, every gain cuts
    cut = find_shape_blocks(result, datasets, "index", penalty=0.0, n_jobs=1)
    assert len(cut) > 1 and np.isnan(cut.table.meta["P0"])


def test_blocks_in_parallel_equal_serial(step):
    datasets, result, blocks = step
    parallel = find_shape_blocks(result, datasets, ["index"], n_jobs=2)
    assert parallel.change_points == blocks.change_points
    assert_allclose(parallel.table["index"], blocks.table["index"], rtol=1e-6)


def test_blocks_round_trip_and_plot(step, tmp_path):
    datasets, result, blocks = step
    blocks.write(tmp_path / "blocks.ecsv")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        blocks.write(tmp_path / "blocks.ecsv")
    read = ShapeBlocks.read(tmp_path / "blocks.ecsv")
    assert read.change_points == blocks.change_points and read.parameter_names == ["index"]
    for name in ("index", "index_err", "stat", "ts_change", "time_min", "time_max"):
        assert_allclose(read.table[name], blocks.table[name])
    assert read.table.meta["PENALTY"] == blocks.table.meta["PENALTY"]
    with mpl_plot_check():
        fig, ax = plt.subplots(layout="constrained")
        read.plot("index", ax=ax, spectrum=result)
    assert ax.get_ylabel().startswith("index")
    assert ax.get_legend() is not None
    assert_readable(fig)
    with pytest.raises(ValueError, match="'beta' is not a parameter of the blocks"):
        read.plot("beta")


def test_shape_blocks_errors(step):
    datasets, result, _ = step
    with pytest.raises(ValueError, match="one or two shape parameters"):
        find_shape_blocks(result, datasets, [])
    with pytest.raises(ValueError, match=r"\['beta'\] are not free parameters"):
        find_shape_blocks(result, datasets, ["beta"])
    with pytest.raises(ValueError, match="fill 6 of the result's 12 bins"):
        find_shape_blocks(result, Datasets(list(datasets)[:6]), ["index"])


def test_blocks_of_two_parameters():
    """Alpha and beta of a log-parabola change together: one step of alpha, found on a 9 x 9 grid."""
    from gammapy.modeling.models import LogParabolaSpectralModel, SkyModel

    alpha = np.where(np.arange(N_BINS) < STEP, 3.0, 2.4)
    truth = [LogParabolaSpectralModel(alpha=a, beta=0.2, amplitude=1e-10 * AMPLITUDE_UNIT) for a in alpha]
    datasets = simulate_onoff_datasets(INTERVALS, truth, random_state=4)
    datasets.models = SkyModel(
        spectral_model=LogParabolaSpectralModel(alpha=3, beta=0.1, amplitude=1e-10 * AMPLITUDE_UNIT), name="source"
    )
    result = TimeResolvedSpectrumEstimator(time_intervals=INTERVALS, n_jobs=1).run(datasets)
    blocks = find_shape_blocks(result, datasets, ["alpha", "beta"], n_grid=9, n_jobs=1)
    assert blocks.change_points == [STEP]
    assert blocks.table.meta["PENALTY"] == penalty_from_p0(0.05, N_BINS, n_parameters=2)
    assert blocks.table.meta["GRID"].count(":9") == 2
    estimator = TimeResolvedSpectrumEstimator(
        time_intervals=INTERVALS[STEP:], shared_parameters=["alpha", "beta"], n_jobs=1
    )
    reference = estimator.run(datasets).shared_parameters
    row = blocks.table[1]
    for j, name in enumerate(["alpha", "beta"]):
        assert_allclose(row[name], reference["value"][j], atol=0.02 * reference["error"][j])
        assert_allclose(row[f"{name}_err"], reference["error"][j], rtol=0.02)


def test_changes_below_the_penalty_on_the_exact_likelihood_are_merged():
    """The partition is found on interpolated profiles; a change whose exact gain is below the
    penalty is merged, the smallest first, and the gains are computed again after each merge."""
    from gammapy_trs.estimation.change_points import _merge_below_penalty

    class Exact:
        gains = {(0, 2, 5): 3.0, (2, 5, 7): 20.0, (5, 7, 9): 1.0, (2, 5, 9): 15.0, (0, 2, 9): 2.0, (0, 5, 9): 12.0}

        def gain(self, start, middle, stop):
            return self.gains[start, middle, stop]

    # 7 goes first (gain 1), then 2 (gain 3, then 5 stands at 12 >= 10)
    assert _merge_below_penalty(Exact(), [0, 2, 5, 7, 9], penalty=10.0) == [0, 5, 9]
    assert _merge_below_penalty(Exact(), [0, 2, 5, 7, 9], penalty=0.5) == [0, 2, 5, 7, 9]
    assert _merge_below_penalty(Exact(), [0, 9], penalty=10.0) == [0, 9]


def test_one_progress_bar_for_the_profiles(step, capsys, monkeypatch):
    from gammapy.utils import pbar

    datasets, result, _ = step
    monkeypatch.setattr(pbar, "SHOW_PROGRESS_BAR", True)
    capsys.readouterr()
    find_shape_blocks(result, datasets, ["index"], n_jobs=1)
    lines = capsys.readouterr().err.replace("\r", "\n").splitlines()
    assert [line.split(":")[0] for line in lines if " 0%|" in line] == ["Profiles of index"]
