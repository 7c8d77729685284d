"""The log-likelihood of a bin as a function of its free parameters' values, for samplers.

A nested sampler asks for the likelihood at thousands of points. Gammapy's
`~gammapy.modeling.Sampler` sets the parameters and evaluates the datasets
at each (``-0.5 * Datasets._stat_sum_likelihood()``, the priors left to its
prior transform). `GammapyLikelihood` does the same; `CompiledLikelihood`
evaluates the compiled statistic of the same datasets
(`~gammapy_trs.engine.statistic.CompiledStatistic`), the same numbers at a
fraction of the cost. Both take a batch of points (UltraNest's vectorised
mode) and leave the datasets' parameters as they found them.
"""

import numpy as np
from ..utils import gammapy_internals as internals

__all__ = ["LogLikelihood", "GammapyLikelihood", "CompiledLikelihood", "free_parameters"]

LOWEST = -1e300
"""The log-likelihood given where the statistic is not finite (a sampler needs a number)."""


class LogLikelihood:
    """``-0.5 * stat`` of a bin's datasets, without priors, at batches of parameter values.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        The bin's datasets (an engine's copies) with their models.
    parameters : `~gammapy.modeling.Parameters`
        The free parameters sampled, in the order of the values.
    """

    name = None
    """Which statistic: "compiled" or "gammapy"."""

    def __init__(self, datasets, parameters):
        self.datasets = datasets
        self.parameters = parameters
        self.ncall = 0

    def __call__(self, values):
        """The log-likelihood at each row of ``values``.

        Parameters
        ----------
        values : `~numpy.ndarray`
            Parameter values in their units, shape ``(n_points, n_parameters)``.

        Returns
        -------
        log_likelihood : `~numpy.ndarray`
            Shape ``(n_points,)``; `LOWEST` where the statistic is not finite.
        """
        values = np.atleast_2d(np.asarray(values, dtype=float))
        self.ncall += len(values)
        stat = self._stat(values)
        return np.where(np.isfinite(stat), -0.5 * stat, LOWEST)

    def _stat(self, values):
        raise NotImplementedError


class GammapyLikelihood(LogLikelihood):
    """The likelihood of Gammapy's `~gammapy.modeling.Sampler`: parameters set, datasets evaluated."""

    name = "gammapy"

    def _stat(self, values):
        saved = [par.value for par in self.parameters]
        try:
            stat = np.empty(len(values))
            for idx, row in enumerate(values):
                for par, value in zip(self.parameters, row):
                    par.value = value
                stat[idx] = internals.stat_sum_likelihood(self.datasets)
            return stat
        finally:
            for par, value in zip(self.parameters, saved):
                par.value = value


class CompiledLikelihood(LogLikelihood):
    """The same likelihood on the compiled statistic of the datasets.

    Parameters
    ----------
    datasets : `~gammapy_trs.engine.fast_statistic.FitDatasets`
        The bin's datasets.
    parameters : `~gammapy.modeling.Parameters`
        Their free parameters, in the order of the values.
    statistic : `~gammapy_trs.engine.statistic.CompiledStatistic`
        Their compiled statistic (its parameters those of ``parameters``).
    """

    name = "compiled"

    def __init__(self, datasets, parameters, statistic):
        super().__init__(datasets, parameters)
        order = [statistic.parameters.index(par) for par in parameters]
        self.statistic = statistic
        self.order = np.argsort(order)  # the compiled order from the given order
        self.scales = statistic.scales[np.array(order, dtype=int)]

    def _stat(self, values):
        return self.statistic.batch((values / self.scales)[:, self.order])


def free_parameters(datasets):
    """The free parameters a sampler samples: those of the datasets' models, each once."""
    return datasets.models.parameters.free_unique_parameters
