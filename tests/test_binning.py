"""Time binning: fixed width, per observation, Bayesian blocks, adaptive."""

import numpy as np
import astropy.units as u
import pytest
from astropy.coordinates import Angle, SkyCoord
from astropy.time import Time
from numpy.testing import assert_allclose
from regions import CircleSkyRegion
from gammapy.data import DataStore
from gammapy.datasets import SpectrumDataset
from gammapy.makers import ReflectedRegionsBackgroundMaker, SpectrumDatasetMaker
from gammapy.maps import MapAxis, RegionGeom
from gammapy.stats import WStatCountsStatistic
from gammapy.utils.testing import requires_data
from gammapy_trs.binning import (
    adaptive_intervals,
    bayesian_block_intervals,
    count_in_intervals,
    fixed_width_intervals,
    observation_intervals,
    on_off_event_times,
)
from conftest import T0


def poisson_times(rng, segments):
    """Arrival times (s) of a piecewise-constant rate: segments of (start, stop, rate)."""
    times = [rng.uniform(a, b, rng.poisson(rate * (b - a))) for a, b, rate in segments]
    return np.sort(np.concatenate(times))


def as_time(seconds):
    return T0 + np.asarray(seconds) * u.s


def seconds(intervals):
    return np.array([[(i[0] - T0).to_value(u.s), (i[1] - T0).to_value(u.s)] for i in intervals])


def test_fixed_width():
    intervals = fixed_width_intervals(T0, T0 + 2.5 * u.h, "1 h")
    assert_allclose(seconds(intervals), [[0, 3600], [3600, 7200], [7200, 9000]], atol=1e-6)
    assert len(fixed_width_intervals(T0, T0 + 2 * u.h, 30 * u.min)) == 4
    with pytest.raises(ValueError, match="must be after time_start"):
        fixed_width_intervals(T0, T0 - 1 * u.h, "10 min")
    with pytest.raises(ValueError, match="width must be positive"):
        fixed_width_intervals(T0, T0 + 1 * u.h, "0 s")


def test_count_in_intervals_start_inclusive_stop_exclusive():
    times = as_time([0, 10, 10, 20, 30, 59.999])
    intervals = [Time([T0, T0 + 10 * u.s]), Time([T0 + 10 * u.s, T0 + 30 * u.s]), Time([T0 + 30 * u.s, T0 + 60 * u.s])]
    assert_allclose(count_in_intervals(times, intervals), [1, 3, 2])
    assert_allclose(count_in_intervals(times, intervals, weights=np.full(6, 0.5)), [0.5, 1.5, 1])
    assert_allclose(count_in_intervals(as_time([]), intervals), [0, 0, 0])


def test_bayesian_blocks_find_the_change_points():
    rng = np.random.default_rng(1)
    t = poisson_times(rng, [(0, 2000, 0.05), (2000, 3000, 0.5), (3000, 5000, 0.05)])
    blocks = seconds(bayesian_block_intervals(as_time(t), p0=0.01))
    assert len(blocks) == 3
    assert_allclose(blocks[1], [2000, 3000], atol=30)


def test_bayesian_blocks_with_off_ignore_a_background_change():
    """Signal flare between 2000 s and 3000 s; the background doubles at 4000 s."""
    rng = np.random.default_rng(2)
    background = [(0, 4000, 0.1), (4000, 6000, 0.2)]
    on = poisson_times(rng, background + [(2000, 3000, 0.4)])
    off = poisson_times(rng, [(a, b, r / 0.2) for a, b, r in background])
    blocks = seconds(
        bayesian_block_intervals(
            as_time(on), p0=0.01, off_times=as_time(off), alpha_off=0.2,
            gti=[Time([T0, T0 + 6000 * u.s])], fine_width="60 s",
        )
    )
    assert_allclose(blocks[[0, -1]], [[0, 2000], [3000, 6000]], atol=60)
    assert len(blocks) == 3
    # ON-only blocks do see the background change
    on_only = seconds(bayesian_block_intervals(as_time(on), p0=0.01))
    assert np.any(np.abs(on_only[:, 0] - 4000) < 200)


def test_bayesian_blocks_respect_gaps():
    rng = np.random.default_rng(3)
    t = poisson_times(rng, [(0, 1000, 0.2), (3000, 4000, 0.2)])
    gti = [Time([T0, T0 + 1000 * u.s]), Time([T0 + 3000 * u.s, T0 + 4000 * u.s])]
    blocks = seconds(bayesian_block_intervals(as_time(t), gti=gti))
    assert_allclose(blocks, [[0, 1000], [3000, 4000]], atol=1e-6)


def test_bayesian_blocks_errors():
    with pytest.raises(ValueError, match="at least 2 ON events"):
        bayesian_block_intervals(as_time([1.0]))
    with pytest.raises(ValueError, match="p0 must be between 0 and 1"):
        bayesian_block_intervals(as_time([1.0, 2.0]), p0=2)
    with pytest.raises(ValueError, match="alpha_off is required"):
        bayesian_block_intervals(as_time([1.0, 2.0]), off_times=as_time([1.5]))


@pytest.fixture(scope="module")
def flare_counts():
    """5-minute fine bins of two nights (gap of 20 h) with a flare in the first."""
    rng = np.random.default_rng(4)
    fine = fixed_width_intervals(T0, T0 + 4 * u.h, "5 min")
    fine += fixed_width_intervals(T0 + 24 * u.h, T0 + 28 * u.h, "5 min")
    signal = np.concatenate([np.interp(np.arange(48), [0, 20, 30, 47], [0.5, 15, 15, 0.5]), np.full(48, 3.0)])
    n_on = rng.poisson(signal + 3.0)
    n_off = rng.poisson(np.full(96, 15.0))
    return fine, n_on, n_off


@pytest.mark.parametrize(("criterion", "threshold"), [("significance", 5), ("excess", 40), ("snr", 4)])
def test_adaptive_bins_all_pass(flare_counts, criterion, threshold):
    fine, n_on, n_off = flare_counts
    bins = adaptive_intervals(fine, n_on, n_off, alpha=0.2, criterion=criterion, threshold=threshold, max_gap="1 h")
    starts = np.array([b[0].mjd for b in bins])
    fine_starts = np.array([f[0].mjd for f in fine])
    for b in bins:
        inside = (fine_starts >= b[0].mjd - 1e-9) & (fine_starts < b[1].mjd - 1e-9)
        on_b, off_b = n_on[inside].sum(), n_off[inside].sum()
        if criterion == "significance":
            value = WStatCountsStatistic(on_b, off_b, 0.2).sqrt_ts
        elif criterion == "excess":
            value = on_b - 0.2 * off_b
        else:
            value = (on_b - 0.2 * off_b) / np.sqrt(on_b + 0.04 * off_b)
        assert value >= threshold
        assert (b[1] - b[0]).to(u.h) < 20 * u.h  # never across the gap between the nights
    assert np.all(np.diff(starts) > 0)


def test_adaptive_bins_are_shorter_during_the_flare(flare_counts):
    fine, n_on, n_off = flare_counts
    bins = adaptive_intervals(fine, n_on, n_off, alpha=0.2, threshold=5, max_gap="1 h")
    widths = np.array([(b[1] - b[0]).to_value(u.min) for b in bins])
    peak = [w for b, w in zip(bins, widths) if T0 + 1.6 * u.h <= b[0] < T0 + 2.5 * u.h]
    assert max(peak) <= 10
    assert widths.max() >= 60


def test_adaptive_errors(flare_counts):
    fine, n_on, n_off = flare_counts
    with pytest.raises(ValueError, match="criterion must be one of"):
        adaptive_intervals(fine, n_on, n_off, alpha=0.2, criterion="chi2")
    with pytest.raises(ValueError, match="needs n_off and alpha"):
        adaptive_intervals(fine, n_on)
    with pytest.raises(ValueError, match="alpha is required"):
        adaptive_intervals(fine, n_on, n_off)
    with pytest.raises(ValueError, match="n_on has 3 values for 96 time intervals"):
        adaptive_intervals(fine, [1, 2, 3], criterion="excess")
    with pytest.raises(ValueError, match="No bin reaches significance >= 100"):
        adaptive_intervals(fine, n_on, n_off, alpha=0.2, threshold=100, max_gap="1 h")


def test_adaptive_without_background():
    fine = fixed_width_intervals(T0, T0 + 1 * u.h, "10 min")
    bins = adaptive_intervals(fine, [5, 5, 5, 5, 5, 2], criterion="excess", threshold=10)
    assert_allclose(seconds(bins), [[0, 1200], [1200, 3600]], atol=1e-6)


@requires_data()
def test_observation_intervals_and_event_times():
    store = DataStore.from_dir("$GAMMAPY_DATA/hess-dl3-dr1/")
    observations = store.get_observations([33787, 33788, 33789])
    per_obs = observation_intervals(observations)
    assert len(per_obs) == 3
    assert per_obs[0][0] == observations[0].tstart
    assert len(observation_intervals(observations, per="gti")) == 3
    with pytest.raises(ValueError, match="per must be 'observation' or 'gti'"):
        observation_intervals(observations, per="night")

    position = SkyCoord(329.71693826, -30.2255890, unit="deg")
    region = CircleSkyRegion(position, Angle("0.11 deg"))
    times = on_off_event_times(observations, region, energy_min=0.4 * u.TeV, energy_max=20 * u.TeV)
    assert np.all(np.diff(times["on"].mjd) >= 0)
    on = count_in_intervals(times["on"], per_obs)
    off = count_in_intervals(times["off"], per_obs)
    alpha = count_in_intervals(times["off"], per_obs, weights=times["alpha_off"]) / off

    # the same events as the makers count in each observation
    geom = RegionGeom.create(region=region, axes=[MapAxis.from_energy_bounds("0.4 TeV", "20 TeV", nbin=10)])
    makers = [SpectrumDatasetMaker(selection=["counts"]), ReflectedRegionsBackgroundMaker()]
    for idx, obs in enumerate(observations):
        dataset = SpectrumDataset.create(geom=geom)
        for maker in makers:
            dataset = maker.run(dataset, obs)
        assert_allclose(on[idx], dataset.counts.data.sum())
        assert_allclose(off[idx], dataset.counts_off.data.sum())
        assert_allclose(alpha[idx], dataset.alpha.data.ravel()[0])


def test_observation_intervals_with_gti_gap(tmp_path):
    """One bin spans all GTIs of an observation (Gammapy's tstop is the end of the first)."""
    import copy
    from gammapy.data import GTI, Observations
    from gammapy_trs.samples.demo_data import simulate_demo_data_store

    store = simulate_demo_data_store(tmp_path, n_observations=1, duration=10 * u.min, random_state=1)
    observation = copy.copy(store.get_observations(required_irf=["aeff", "edisp", "bkg"])[0])
    t0 = observation.tstart
    observation.__dict__["_gti"] = GTI.create([0, 6] * u.min, [4, 10] * u.min, reference_time=t0)
    observations = Observations([observation])
    (whole,) = observation_intervals(observations)
    assert_allclose((whole - t0).to_value("min"), [0, 10], atol=1e-9)
    per_gti = observation_intervals(observations, per="gti")
    assert_allclose([(interval - t0).to_value("min") for interval in per_gti], [[0, 4], [6, 10]], atol=1e-9)
