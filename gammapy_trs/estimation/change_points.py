"""Change points in the spectral shape: blocks of consecutive bins that share shape parameters.

The time bins are partitioned into consecutive blocks within which chosen shape
parameters (e.g. the index) are shared, the norm and the other parameters free
in each bin, maximising the joint likelihood minus a penalty per change point.
The cost of a block is its joint statistic, ``C(j, k) = min_theta sum_i
min_phi_i stat_i(theta, phi_i)`` over its bins ``j <= i < k``
(`~gammapy_trs.estimation.joint`), and the best partition is found by optimal
partitioning with the pruning of PELT (Jackson et al. 2005; Killick et al.
2012), whose cost stays close to linear in the number of bins.

Each bin's profile ``min_phi stat_i(theta, phi)`` is computed once, on a grid of
the shape parameters (one task per bin, in parallel); the profile of a block
is the sum of its bins' profiles, interpolated by a cubic spline, whose minimum
is its cost. The blocks found are then fitted exactly (the joint fit of their
bins, with errors), and each change is tested against merging its two blocks
(a likelihood ratio, local: the change's time was chosen on the same data); a
change whose exact gain falls below the penalty (an interpolated profile that
misled the partition, e.g. where a bin's fit failed at some grid points) is
merged, the smallest first, so that every change reported stands on the exact
likelihood.

The penalty per change point is set by a false-positive rate ``p0``
(`penalty_from_p0`): the probability that a flare of constant shape is cut,
calibrated by simulation (``benchmarks/calibrate_change_points.py``; the
numbers are in the statistics docs).
"""

import logging
import numpy as np
from astropy.table import Table
from scipy.interpolate import CubicSpline, RectBivariateSpline
from scipy.optimize import minimize
from scipy.stats import chi2, norm
from ..result.shape_blocks import ShapeBlocks
from .grouping import bin_setup
from .joint import JointProfile, SharedFitResult, fit_shared_parameters

__all__ = [
    "BlockCosts",
    "blocks_from_costs",
    "critical_penalty",
    "find_shape_blocks",
    "optimal_partition",
    "penalty_from_p0",
    "shape_costs",
]

log = logging.getLogger(__name__)

GRID_SIZE = {1: 41, 2: 21}
"""Default number of grid points of each shape parameter, by the number of parameters."""

MIN_PROFILE_POINTS = 0.5
"""The smallest fraction of its grid points at which a bin's fit must succeed for it to count."""

GRID_MARGIN = 4.0
"""The grid spans the bins' values (5% to 95% quantiles) and this many median errors beyond."""


def penalty_from_p0(p0, n_bins, n_parameters=1):
    """The penalty per change point at a false-positive rate ``p0``.

    The largest gain of one change among the ``n_bins - 1`` places where it
    can fall, each a likelihood ratio with ``n_parameters`` degrees of
    freedom: ``chi2.isf(p0 / (n_bins - 1), n_parameters)`` (Bonferroni's bound).
    Simulated flares of constant shape (``benchmarks/calibrate_change_points.py``)
    measure the rate at which they are cut at this penalty (statistics docs).

    Parameters
    ----------
    p0 : float
        False-positive rate: the probability that a flare of constant shape is cut.
    n_bins : int
        Number of bins.
    n_parameters : int, optional
        Number of shape parameters that change together. Default is 1.

    Returns
    -------
    penalty : float
        Penalty per change point, in units of the statistic (``-2 log L``).
    """
    if not 0 < p0 < 1:
        raise ValueError(f"p0 must be between 0 and 1, got {p0}.")
    return float(chi2.isf(p0 / max(n_bins - 1, 1), n_parameters))


class BlockCosts:
    """The cost of any block of consecutive bins from the bins' profiles on a grid.

    Parameters
    ----------
    axes : list of `~numpy.ndarray`
        Grid of each shape parameter (one or two).
    profiles : `~numpy.ndarray`
        Each bin's profile on the grid, shape ``(n_bins, *grid_shape)``. A point
        where the bin's fit failed (NaN; e.g. a curvature far from the data's,
        where the other parameters cannot follow) counts as the bin's worst
        point (`n_filled` of them); a bin with fewer than `MIN_PROFILE_POINTS`
        of its points counts as zero (left out, ``used`` False).
    """

    def __init__(self, axes, profiles):
        self.axes = [np.asarray(axis, dtype=float) for axis in axes]
        profiles = np.array(profiles, dtype=float)
        flat = profiles.reshape(len(profiles), -1)
        finite = np.isfinite(flat)
        self.used = finite.mean(axis=1) >= MIN_PROFILE_POINTS
        self.n_filled = int((~finite[self.used]).sum())
        for row, ok in zip(flat, finite):  # a point whose fit failed: the bin's worst point
            row[~ok] = row[ok].max() if ok.any() else 0.0
        profiles = np.where(self.used.reshape((-1,) + (1,) * len(self.axes)), profiles, 0.0)
        shape = (1,) + profiles.shape[1:]
        self.cumulative = np.concatenate([np.zeros(shape), np.cumsum(profiles, axis=0)])
        self.n_bins = len(profiles)
        self.n_evaluations = 0

    def __call__(self, start, stop):
        """``(cost, values, at_edge)`` of the block of bins ``start <= i < stop``: the minimum of
        its summed profile, where, and whether that lies on the edge of the grid."""
        self.n_evaluations += 1
        surface = self.cumulative[stop] - self.cumulative[start]
        if len(self.axes) == 1:
            return _spline_minimum_1d(self.axes[0], surface)
        return _spline_minimum_2d(self.axes, surface)


def _spline_minimum_1d(axis, values):
    spline = CubicSpline(axis, values)
    roots = spline.derivative().roots(extrapolate=False)
    candidates = np.concatenate([axis[[0, -1]], roots[np.isfinite(roots)]])  # a flat segment: NaN
    stats = spline(candidates)
    best = int(np.argmin(stats))
    at_edge = bool(np.isclose(candidates[best], axis[0]) or np.isclose(candidates[best], axis[-1]))
    return float(stats[best]), np.array([candidates[best]]), at_edge


def _spline_minimum_2d(axes, values):
    spline = RectBivariateSpline(axes[0], axes[1], values, kx=3, ky=3, s=0)
    i, j = np.unravel_index(np.argmin(values), values.shape)
    bounds = [(axis[0], axis[-1]) for axis in axes]
    found = minimize(lambda x: spline(x[0], x[1], grid=False), [axes[0][i], axes[1][j]], bounds=bounds, method="L-BFGS-B")
    x = found.x if found.fun <= values[i, j] else np.array([axes[0][i], axes[1][j]])
    at_edge = any(np.isclose(x[d], axes[d][0]) or np.isclose(x[d], axes[d][-1]) for d in range(2))
    return float(min(found.fun, values[i, j])), x, bool(at_edge)


def optimal_partition(cost, n_bins, penalty, prune=True):
    """The partition of ``n_bins`` consecutive bins that minimises the summed cost of its blocks
    plus ``penalty`` per change point: optimal partitioning, with the pruning of PELT.

    A start ``j`` is dropped once ``F(j) + C(j, k) > F(k)`` (``F`` the best cost up to
    ``k``): the cost of a block never falls below that of its parts, so ``j`` can
    never start the last block of a better partition (PELT with ``K = 0``).

    Parameters
    ----------
    cost : callable
        ``cost(start, stop)`` of the block of bins ``start <= i < stop``, its first item the cost.
    n_bins : int
        Number of bins.
    penalty : float
        Penalty per change point.
    prune : bool, optional
        Prune (PELT); without, every start is tried (optimal partitioning, quadratic). Default is True.

    Returns
    -------
    edges : list of int
        The blocks' edges in bins: ``[0, c_1, ..., n_bins]``.
    """
    best = np.full(n_bins + 1, np.inf)
    best[0] = -penalty
    last = np.zeros(n_bins + 1, dtype=int)
    starts = [0]
    for stop in range(1, n_bins + 1):
        totals = np.array([best[start] + cost(start, stop)[0] + penalty for start in starts])
        pick = int(np.argmin(totals))
        best[stop], last[stop] = totals[pick], starts[pick]
        if prune:
            starts = [start for start, total in zip(starts, totals) if total - penalty <= best[stop]]
        starts.append(stop)
    edges = [n_bins]
    while edges[-1] > 0:
        edges.append(int(last[edges[-1]]))
    return edges[::-1]


def _grid_axes(spectrum, names, pars, n_grid):
    """Grid of each shape parameter: the bins' values (5% to 95% quantiles) and `GRID_MARGIN`
    median errors beyond, within the parameter's bounds."""
    axes = []
    for name, par in zip(names, pars):
        value = spectrum.quantity(name).value
        error = spectrum.quantity(f"{name}_err").value
        use = spectrum.success & np.isfinite(value) & np.isfinite(error) & (error > 0)
        if use.sum() < 2:
            raise ValueError(f"Fewer than two bins with a fitted {name!r} and its error: no grid for it.")
        low, high = np.quantile(value[use], [0.05, 0.95])
        margin = GRID_MARGIN * np.median(error[use])
        low = max(low - margin, par.min) if np.isfinite(par.min) else low - margin
        high = min(high + margin, par.max) if np.isfinite(par.max) else high + margin
        axes.append(np.linspace(low, high, n_grid))
    return axes


def _profiles(setup, axes):
    """Each bin's profile on the grid (NaN where its conditional fit failed)."""
    points = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, len(axes))
    steps = np.array([axis[1] - axis[0] for axis in axes])
    profile = JointProfile(setup.groups, setup.source, setup.indices, setup.engine, setup.runner)
    success, stat, _, _ = profile([tuple(p) for p in points], 1e-3 * steps, desc=f"Profiles of {', '.join(setup.names)}")
    stat = np.where(success, stat, np.nan)  # (points, bins)
    return stat.T.reshape((len(setup.groups),) + tuple(len(axis) for axis in axes))


def _fit_block(setup, start, stop, values, scale):
    """The joint fit of the shape parameters over bins ``start <= i < stop`` (failed, NaN, where no
    bin can be fitted from the block's values)."""
    profile = JointProfile(setup.groups[start:stop], setup.source, setup.indices, setup.engine, setup.runner)
    bounds = ([par.min for par in setup.pars], [par.max for par in setup.pars])
    try:
        return fit_shared_parameters(profile, values, bounds=bounds, scale=scale, show_progress=False)
    except ValueError as error:
        log.warning(f"The joint fit of bins {start} to {stop - 1} failed: {error}")
        k = len(setup.names)
        return SharedFitResult(np.full(k, np.nan), np.full((k, k), np.nan), np.nan, np.zeros(stop - start, bool), 0, False)


class _ExactFits:
    """The joint fits of blocks, each made once, from the minimum of its interpolated profile."""

    def __init__(self, setup, costs, axes):
        self.setup, self.costs = setup, costs
        self.scale = [axis[1] - axis[0] for axis in axes]
        self.fits = {}

    def __call__(self, start, stop):
        if (start, stop) not in self.fits:
            self.fits[start, stop] = _fit_block(self.setup, start, stop, self.costs(start, stop)[1], self.scale)
        return self.fits[start, stop]

    def gain(self, start, middle, stop):
        """The exact likelihood ratio of a change at ``middle`` against one block (NaN where a fit failed)."""
        merged, before, after = self(start, stop), self(start, middle), self(middle, stop)
        if not (merged.success and before.success and after.success):
            return np.nan
        return max(merged.stat - before.stat - after.stat, 0.0)


def _merge_below_penalty(exact, edges, penalty):
    """Merge adjacent blocks while the smallest exact gain of a change is below the penalty: the
    partition is found on interpolated profiles, its changes are kept on the exact likelihood."""
    edges = list(edges)
    while len(edges) > 2:
        gains = np.array([exact.gain(*edges[i - 1 : i + 2]) for i in range(1, len(edges) - 1)])
        if not np.any(np.isfinite(gains)) or np.nanmin(gains) >= penalty:
            break
        del edges[1 + int(np.nanargmin(gains))]
    return edges


def _block_rows(setup, edges, costs, exact, axis):
    """One row per block: its bins and times, the exact joint fit, the test of the change before it."""
    rows = []
    for number, (start, stop) in enumerate(zip(edges[:-1], edges[1:])):
        fit = exact(start, stop)
        row = dict(
            block=number,
            bin_start=start,
            bin_stop=stop,
            n_bins=stop - start,
            time_min=axis.time_min[start].utc.mjd,
            time_max=axis.time_max[stop - 1].utc.mjd,
            success=bool(fit.success),
            stat=fit.stat if fit.success else np.nan,
            at_grid_edge=bool(costs(start, stop)[2]),
        )
        for j, name in enumerate(setup.names):
            row[name] = fit.values[j] if fit.success else np.nan
            row[f"{name}_err"] = fit.errors[j] if fit.success else np.nan
        ts = exact.gain(edges[number - 1], start, stop) if number > 0 else np.nan
        p_value = chi2.sf(ts, len(setup.names)) if np.isfinite(ts) else np.nan
        row.update(ts_change=ts, p_value_change=p_value, significance_change=norm.isf(p_value / 2))
        rows.append(row)
    return rows


def shape_costs(
    spectrum, datasets, parameters, n_grid=None, fit=None, engine="auto", n_jobs=None, parallel_backend=None, atol="1e-6 s"
):
    """The bins' profiles of shape parameters on a grid, and the costs of blocks from them.

    The first step of `find_shape_blocks` (its parameters); for calibrations
    of the penalty on one's own set-up (`critical_penalty`).

    Returns
    -------
    setup : object
        The bins' datasets, the source and the engine.
    axes : list of `~numpy.ndarray`
        The grid of each parameter.
    costs : `BlockCosts`
        The costs of blocks.
    """
    names = [parameters] if isinstance(parameters, str) else list(parameters)
    if not 1 <= len(names) <= 2:
        raise ValueError(f"Change points of one or two shape parameters, got {names}.")
    setup = bin_setup(spectrum, datasets, names, fit, engine, n_jobs, parallel_backend, atol)
    axes = _grid_axes(spectrum, names, setup.pars, n_grid or GRID_SIZE[len(names)])
    log.info(f"Profiles of {names} in {len(setup.groups)} bins on a grid of {[len(a) for a in axes]} points.")
    return setup, axes, BlockCosts(axes, _profiles(setup, axes))


def critical_penalty(costs, max_changes=None):
    """The smallest penalty at which the bins stay one block: ``max_m (C_1 - C_{m+1}) / m``, ``C_b``
    the least cost of ``b`` blocks (segment neighbourhood, exact).

    On flares of constant shape its distribution gives the false-positive rate
    of any penalty (the fraction of flares whose critical penalty exceeds it).

    Parameters
    ----------
    costs : `BlockCosts`
        The costs of blocks.
    max_changes : int, optional
        Most changes considered. Default is None, ``min(n_bins - 1, 5)``.

    Returns
    -------
    penalty : float
        Critical penalty (0 for a single bin).
    """
    n = costs.n_bins
    max_changes = min(n - 1, 5) if max_changes is None else min(max_changes, n - 1)
    table = np.array([[costs(j, k)[0] if j < k else np.inf for k in range(n + 1)] for j in range(n + 1)])
    best = table[0].copy()  # least cost of the bins up to k in one block
    one = best[n]
    critical = 0.0
    for m in range(1, max_changes + 1):
        best = np.array([min(best[j] + table[j, k] for j in range(k)) if k > 0 else np.inf for k in range(n + 1)])
        critical = max(critical, (one - best[n]) / m)
    return float(critical)


def find_shape_blocks(
    spectrum,
    datasets,
    parameters,
    p0=0.05,
    penalty=None,
    n_grid=None,
    fit=None,
    engine="auto",
    n_jobs=None,
    parallel_backend=None,
    atol="1e-6 s",
):
    """Blocks of consecutive bins within which shape parameters are shared: change points of the shape.

    The partition of the bins of ``spectrum`` that maximises the joint
    likelihood (shape parameters shared within each block, the norm and the
    other free parameters of the source model free in each bin) minus a
    ``penalty`` per change point, by optimal partitioning with PELT's pruning on
    the bins' profiles (see the module's documentation). The blocks are then
    fitted exactly; each change is tested against merging its blocks, and
    merged where its exact gain is below the penalty.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The per-bin fits with the ``parameters`` free (they set the grid).
    datasets : `~gammapy.datasets.Datasets`
        The datasets it was made from, with their models (not changed).
    parameters : list of str or str
        Shape parameters of the source, one or two, e.g. ``["index"]`` or ``["alpha", "beta"]``.
    p0 : float, optional
        False-positive rate of the penalty (`penalty_from_p0`). Default is 0.05.
    penalty : float, optional
        Penalty per change point, in units of the statistic; overrides ``p0``. Default is None.
    n_grid : int, optional
        Grid points per parameter. Default is None: 41 for one parameter, 21 for two.
    fit : `~gammapy.modeling.Fit`, optional
        Fit. Default is None, ``Fit()``.
    engine : {"auto", "compiled", "gammapy"} or `~gammapy_trs.engine.FitEngine`, optional
        The fit engine (`~gammapy_trs.engine.select_engine`). Default is "auto".
    n_jobs : int, optional
        Number of processes for the bins' profiles. Default is None, Gammapy's default.
    parallel_backend : {"multiprocessing", "ray"}, optional
        Parallel backend. Default is None, Gammapy's default.
    atol : `~astropy.units.Quantity` or str, optional
        Tolerance on the bins' edges. Default is "1e-6 s".

    Returns
    -------
    blocks : `~gammapy_trs.result.shape_blocks.ShapeBlocks`
        One row per block.
    """
    setup, axes, costs = shape_costs(spectrum, datasets, parameters, n_grid, fit, engine, n_jobs, parallel_backend, atol)
    return blocks_from_costs(spectrum, setup, axes, costs, p0=p0, penalty=penalty)


def blocks_from_costs(spectrum, setup, axes, costs, p0=0.05, penalty=None):
    """The steps of `find_shape_blocks` after the bins' profiles (`shape_costs`): the partition,
    the exact fits of the blocks, the changes below the penalty merged, the table.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        The per-bin fits.
    setup, axes, costs : object, list, `BlockCosts`
        What `shape_costs` gives.
    p0 : float, optional
        False-positive rate of the penalty (`penalty_from_p0`). Default is 0.05.
    penalty : float, optional
        Penalty per change point; overrides ``p0``. Default is None.

    Returns
    -------
    blocks : `~gammapy_trs.result.shape_blocks.ShapeBlocks`
        One row per block.
    """
    names = setup.names
    n_bins = costs.n_bins
    given = penalty
    penalty = penalty_from_p0(p0, n_bins, len(names)) if given is None else float(given)
    exact = _ExactFits(setup, costs, axes)
    edges = _merge_below_penalty(exact, optimal_partition(costs, n_bins, penalty), penalty)
    table = Table(rows=_block_rows(setup, edges, costs, exact, spectrum.time_axis))
    table.meta.update(
        SOURCE=setup.source,
        PARNAMES=",".join(names),
        PENALTY=penalty,
        P0=p0 if given is None else np.nan,
        N_BINS=n_bins,
        N_EXCLUDED=int((~costs.used).sum()),
        N_FILLED=costs.n_filled,
        GRID=";".join(f"{a[0]:.6g}:{a[-1]:.6g}:{len(a)}" for a in axes),
    )
    if table["at_grid_edge"].any():
        log.warning("A block's minimum lies on the edge of the grid: its profile was cut; widen the grid (n_grid).")
    return ShapeBlocks(table)
