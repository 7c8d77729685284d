"""Population (hierarchical) inference on one parameter from the bins' stored posterior samples.

Each bin's samples were drawn under its prior ``pi``; under a population
model ``theta_i ~ N(mu, tau)`` the likelihood of ``(mu, tau)`` is the
product over bins of ``E_j[N(theta_ij | mu, tau) / pi(theta_ij)]``, the
average over the bin's samples (importance reweighting: no bin is sampled
again). At small ``tau`` that average rests on few samples, so each bin's
samples are smoothed by a Gaussian kernel of Silverman's width ``h_i``
after being shrunk towards their mean by ``sqrt(1 - h_i^2 / s_i^2)`` (the
kernel estimate then keeps the bin's posterior variance ``s_i^2``; West
1993): the population density is evaluated at ``sqrt(tau^2 + h_i^2)``. The
posterior of ``(mu, tau)`` is computed on a grid, with flat priors on ``mu``
(over the samples' range) and on ``tau`` (from 0 to ``scatter_max``). It
gives the population mean and scatter, the Bayes factor of a scatter
against none (the Savage-Dickey ratio of the prior and posterior densities
of ``tau`` at 0) and each bin's shrunk estimate, the mean of its reweighted
samples averaged over the posterior of ``(mu, tau)``. Population models
other than the normal are declared in `POPULATION_MODELS`.
"""

import numpy as np
from astropy.table import Table
from scipy.special import logsumexp
from .posterior import sampled_parameters
from .table_result import TableResult

__all__ = ["POPULATION_MODELS", "NormalPopulation", "Population", "population"]


class NormalPopulation:
    """The normal population ``theta ~ N(mu, tau)``: its log density at the smoothed samples."""

    name = "normal"

    @staticmethod
    def log_density(values, mu, width):
        """Log density of ``N(mu, width)`` at ``values`` (broadcast)."""
        return -0.5 * ((values - mu) / width) ** 2 - np.log(width) - 0.5 * np.log(2 * np.pi)


POPULATION_MODELS = {"normal": NormalPopulation}
"""The population models by name; another one is a class with ``log_density(values, mu, width)``."""


def _smoothed(samples):
    """Samples shrunk towards their mean, and the kernel width that restores their variance."""
    n = samples.shape[1]
    std = samples.std(axis=1, keepdims=True)
    width = 1.06 * std * n ** (-0.2)
    shrink = np.sqrt(np.clip(1 - (width / np.where(std > 0, std, 1)) ** 2, 0, 1))
    mean = samples.mean(axis=1, keepdims=True)
    return mean + shrink * (samples - mean), width


def _quantiles(grid, density, levels):
    cdf = np.cumsum(density)
    cdf /= cdf[-1]
    return np.interp(levels, cdf, grid)


def population(spectrum, parameter, model="normal", scatter_max=None, n_grid=(81, 61), n_samples=500, credible_level=None):
    """Population inference on ``parameter`` from the posterior samples of every bin.

    Parameters
    ----------
    spectrum : `~gammapy_trs.TimeResolvedSpectrum`
        Result with the "posterior" step.
    parameter : str
        A fitted parameter with samples, e.g. "index".
    model : str, optional
        Population model, a key of `POPULATION_MODELS`. Default is "normal".
    scatter_max : float, optional
        Upper end of the flat prior of the scatter. Default is None: twice
        the standard deviation of the bins' posterior medians plus their
        largest posterior width.
    n_grid : tuple of int, optional
        Points of the grid of the mean and of the scatter. Default is (81, 61).
    n_samples : int, optional
        Samples of each bin used (the first ``n_samples``, in random order).
        Default is 500.
    credible_level : float, optional
        Probability of the credible intervals. Default is None, the result's
        ``credible_level`` (0.68 where absent).

    Returns
    -------
    population : `Population`
        One row per bin with samples (its shrunk estimate), the population's
        numbers in ``meta`` and its posterior grid.
    """
    if model not in POPULATION_MODELS:
        raise ValueError(f"Unknown population model {model!r}; known are {sorted(POPULATION_MODELS)}.")
    table = spectrum.products.get("posterior")
    if table is None or parameter not in sampled_parameters(spectrum):
        raise ValueError(f"No posterior samples of {parameter!r}: run with the \"posterior\" step.")
    samples = np.asarray(table[parameter], dtype=float)
    log_prior = np.asarray(table[f"log_prior_{parameter}"], dtype=float)
    used = np.all(np.isfinite(samples), axis=1) & np.all(np.isfinite(log_prior), axis=1)
    if used.sum() < 2:
        raise ValueError(f"Population inference needs at least 2 bins with samples of {parameter!r}, got {used.sum()}.")
    samples, log_prior = samples[used][:, :n_samples], log_prior[used][:, :n_samples]
    level = credible_level or spectrum.meta.get("credible_level", 0.68)
    medians, stds = np.median(samples, axis=1), samples.std(axis=1)
    if scatter_max is None:
        scatter_max = 2 * np.std(medians) + stds.max()
    mu = np.linspace(samples.min(), samples.max(), n_grid[0])
    tau = np.linspace(0, scatter_max, n_grid[1])
    log_like, shrunk_first, shrunk_second = _grid(POPULATION_MODELS[model], samples, log_prior, mu, tau)
    log_post = log_like - logsumexp(log_like)
    post = np.exp(log_post)  # (tau, mu), sums to 1 (flat priors on the grid)
    p_mu, p_tau = post.sum(axis=0), post.sum(axis=1)
    d_tau = tau[1] - tau[0]
    # Savage-Dickey: prior density of tau at 0 is 1 / scatter_max; the posterior's from the grid
    # (the first cell is half a cell wide: the density at 0 is its mass over half a cell)
    density_0 = p_tau[0] / (0.5 * d_tau) if p_tau[0] > 0 else 0.0
    with np.errstate(divide="ignore"):
        log_bf = float(np.log(1 / scatter_max) - np.log(density_0))
    first = np.einsum("tm,btm->b", post, shrunk_first)
    second = np.einsum("tm,btm->b", post, shrunk_second)
    low, high = (1 - level) / 2, (1 + level) / 2
    rows = Table()
    axis = spectrum.time_axis
    rows["time_min"], rows["time_max"] = axis.time_min[used], axis.time_max[used]
    rows["bin"] = np.flatnonzero(used)
    rows[f"{parameter}_median"] = medians
    rows[f"{parameter}_std"] = stds
    rows[f"{parameter}_shrunk"] = first
    rows[f"{parameter}_shrunk_std"] = np.sqrt(np.clip(second - first**2, 0, None))
    rows.meta.update(
        parameter=parameter,
        unit=str(spectrum[parameter].unit),
        model=model,
        credible_level=level,
        n_bins=int(used.sum()),
        mean=float(_quantiles(mu, p_mu, 0.5)),
        mean_lo=float(_quantiles(mu, p_mu, low)),
        mean_hi=float(_quantiles(mu, p_mu, high)),
        mean_err=float(np.sqrt(np.sum(p_mu * mu**2) - np.sum(p_mu * mu) ** 2)),
        scatter=float(_quantiles(tau, p_tau, 0.5)),
        scatter_lo=float(_quantiles(tau, p_tau, low)),
        scatter_hi=float(_quantiles(tau, p_tau, high)),
        scatter_ul=float(_quantiles(tau, p_tau, 0.95)),
        scatter_max=float(scatter_max),
        log_bayes_factor_scatter=log_bf,
        grid_mean=[float(v) for v in mu],
        grid_scatter=[float(v) for v in tau],
        grid_posterior=[[float(v) for v in row] for row in post],
    )
    return Population(rows)


def _grid(model, samples, log_prior, mu, tau):
    """Log-likelihood of the population on the grid ``(tau, mu)``, and each bin's reweighted first
    and second moments there, shape ``(n_bins, n_tau, n_mu)``."""
    smoothed, width = _smoothed(samples)
    n_bins = len(samples)
    log_like = np.zeros((len(tau), len(mu)))
    first = np.empty((n_bins, len(tau), len(mu)))
    second = np.empty_like(first)
    for t, scatter in enumerate(tau):
        widths = np.sqrt(scatter**2 + width**2)[:, :, None]  # (bins, 1, 1)
        log_w = model.log_density(smoothed[:, :, None], mu[None, None, :], widths) - log_prior[:, :, None]
        norm = logsumexp(log_w, axis=1)  # (bins, mu)
        log_like[t] = np.sum(norm - np.log(samples.shape[1]), axis=0)
        weights = np.exp(log_w - norm[:, None, :])
        first[:, t] = np.einsum("bjm,bj->bm", weights, samples)
        second[:, t] = np.einsum("bjm,bj->bm", weights, samples**2)
    return log_like, first, second


class Population(TableResult):
    """Population inference on one parameter: each bin's shrunk estimate, the population's mean
    and scatter and the Bayes factor for a scatter, in ``meta``.

    Columns: ``time_min``, ``time_max``, ``bin``, ``<par>_median`` and
    ``<par>_std`` (the bin's own posterior), ``<par>_shrunk`` and
    ``<par>_shrunk_std`` (given the population). Meta: ``mean``,
    ``mean_lo``, ``mean_hi``, ``mean_err``, ``scatter``, ``scatter_lo``,
    ``scatter_hi``, ``scatter_ul`` (95%), ``log_bayes_factor_scatter`` (ln of
    the evidence for a scatter over none), the priors and the posterior grid.
    """

    @property
    def parameter(self):
        """The parameter, a str."""
        return self.table.meta["parameter"]

    @property
    def summary(self):
        """The population's numbers, a dict (``mean``, ``scatter``, ... see the class)."""
        return {key: value for key, value in self.table.meta.items() if not key.startswith("grid_")}

    def __str__(self):
        m = self.table.meta
        level = f"{100 * m['credible_level']:g}%"
        return "\n".join(
            [
                f"Population of {m['parameter']} ({m['model']}, {m['n_bins']} bins)",
                f"  mean    : {m['mean']:.4g} [{m['mean_lo']:.4g}, {m['mean_hi']:.4g}] ({level})",
                f"  scatter : {m['scatter']:.3g} [{m['scatter_lo']:.3g}, {m['scatter_hi']:.3g}] ({level}), "
                f"< {m['scatter_ul']:.3g} (95%); flat prior to {m['scatter_max']:.3g}",
                f"  ln Bayes factor (scatter > 0 over none): {m['log_bayes_factor_scatter']:.2f}",
            ]
        ) + "\n"

    def plot(self, fig=None):
        """The posterior of the population's mean and scatter, and each bin's own and shrunk estimate.

        Parameters
        ----------
        fig : `~matplotlib.figure.Figure`, optional
            Figure. Default is None, a new pyplot figure.

        Returns
        -------
        axes : `~numpy.ndarray` of `~matplotlib.axes.Axes`
            The posterior's axes and the bins' axes.
        """
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator

        m, table, name = self.table.meta, self.table, self.parameter
        fig = plt.figure(figsize=(11, 4), layout="constrained") if fig is None else fig
        axes = fig.subplots(1, 2, width_ratios=[1, 1.6])
        mu, tau, post = np.array(m["grid_mean"]), np.array(m["grid_scatter"]), np.array(m["grid_posterior"])
        axes[0].contourf(mu, tau, post, levels=12, cmap="Blues")
        p_mu, p_tau = post.sum(axis=0), post.sum(axis=1)
        axes[0].set_xlim(_quantiles(mu, p_mu, 0.0005), _quantiles(mu, p_mu, 0.9995))
        axes[0].set_ylim(0, _quantiles(tau, p_tau, 0.9995))
        axes[0].set_xlabel(f"Population mean of {name}")
        axes[0].set_ylabel(f"Population scatter of {name}")
        axes[0].axvline(m["mean"], color="k", lw=0.8)
        axes[0].set_title(f"ln B(scatter > 0) = {m['log_bayes_factor_scatter']:.2f}", fontsize="medium")
        x = np.arange(len(table))
        axes[1].errorbar(x - 0.12, table[f"{name}_median"], yerr=table[f"{name}_std"], fmt="o", ms=4, label="bin's own posterior")
        axes[1].errorbar(x + 0.12, table[f"{name}_shrunk"], yerr=table[f"{name}_shrunk_std"], fmt="s", ms=4, label="given the population")
        axes[1].axhspan(m["mean_lo"], m["mean_hi"], color="0.8", label="population mean")
        axes[1].set_xlabel("Bin")
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[1].set_ylabel(name)
        axes[1].legend(fontsize="small")
        return axes
