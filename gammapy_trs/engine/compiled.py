"""The compiled engine: the on-off WStat compiled with its analytic gradient, behind `FitEngine`.

On-off spectra with Gammapy's common spectral models are fitted on
`~gammapy_trs.engine.statistic.CompiledStatistic` (MIGRAD, HESSE and
profile intervals by Newton steps, `~gammapy_trs.engine.fast_fit.FastFit`),
on shallow copies of the datasets (`~gammapy_trs.engine.fast_statistic.copy_for_fit`);
other datasets and models take Gammapy's path inside the same calls. It
relies on Gammapy internals (`~gammapy_trs.utils.gammapy_internals`), which
the run-time probe checks before a run uses it (`~gammapy_trs.engine.select_engine`).
"""

from .base import ConditionalFits, FitEngine, bounded_below, chained
from .fast_fit import FastFit
from .fast_statistic import FitDatasets, copy_for_fit
from .compiled_points import compiled_flux_points
from .likelihood import CompiledLikelihood, free_parameters
from .statistic import CompiledStatistic

__all__ = ["CompiledConditionalFits", "CompiledEngine"]


class CompiledConditionalFits(ConditionalFits):
    """A bin's fits with the shared parameters fixed, on one compiled statistic of all its
    parameters (`~gammapy_trs.engine.fast_fit.FastFit.restricted`) where it applies: the
    gradient by the shared parameters is analytic. Gammapy's path otherwise."""

    def __init__(self, engine, datasets, source, indices):
        super().__init__(engine, datasets, source, indices)
        self.restricted = engine._fast.restricted(self.copies, self.shared)

    def minima(self, points, start, deltas, tie=None):
        if self.restricted is None:
            return super().minima(points, start, deltas, tie=tie)
        initial = self.initial(start)
        if tie is None:
            return [self.restricted.minimum(point, initial, self.free) for point in points]
        if tie.parameter is not None:
            linked = self.copies.models[self.source].parameters[tie.parameter]
            with bounded_below(linked, tie.lower):
                return [self.restricted.tied_minimum(point, initial, self.free, tie, linked) for point in points]
        minima = []
        for point in points:
            shape, jacobian, _ = tie.shape(point, None)
            minima.append(chained(self.restricted.minimum(shape, initial, self.free), jacobian))
        return minima

    def curvature(self, point, start, deltas, tie=None):
        """The minimum at ``point`` and the exact curvature there
        (`~gammapy_trs.engine.fast_fit.Restricted.profile_curvature`); Gammapy's path (no
        curvature) where the statistic is not compiled or the shared parameters are tied."""
        if self.restricted is None or tie is not None:
            return super().curvature(point, start, deltas, tie=tie)
        success, stat, values, gradient = self.restricted.minimum(point, self.initial(start), self.free)
        curvature = self.restricted.profile_curvature() if success else None
        return success, stat, values, gradient, curvature


class CompiledEngine(FitEngine):
    """Fits on the compiled statistic where it applies, Gammapy's path elsewhere.

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`, optional
        Fit with its backend and options (iminuit for the compiled path).
        Default is None, ``Fit()``.
    """

    name = "compiled"
    exact_curvature = True

    def __init__(self, fit=None):
        super().__init__(fit)
        self._fast = FastFit(self.fit)

    @property
    def _fit(self):
        return self._fast

    def copy(self, datasets, models=None):
        return copy_for_fit(datasets, models=models)

    def counts_summary(self, datasets, source):
        if not isinstance(datasets, FitDatasets):
            return super().counts_summary(datasets, source)
        return datasets.counts_summary(source)

    def conditional_fits(self, datasets, source, indices):
        return CompiledConditionalFits(self, datasets, source, indices)

    def log_likelihood(self, datasets):
        """The compiled statistic's log-likelihood where it applies (the priors left to the
        sampler), Gammapy's elsewhere."""
        parameters = free_parameters(datasets)
        statistic = CompiledStatistic.build(datasets, priors=False)
        if statistic is None or {id(par) for par in statistic.parameters} != {id(par) for par in parameters}:
            return super().log_likelihood(datasets)
        return CompiledLikelihood(datasets, parameters, statistic)

    def fit_replaced(self, datasets, source, model):
        outcome = self._fast.optimize_replaced(datasets, source, model)
        if outcome is None:  # a model the compiled statistic cannot evaluate: on copies
            return super().fit_replaced(datasets, source, model)
        return outcome[0], outcome[1]

    def flux_points(self, datasets, source, energy_edges, n_sigma=1, n_sigma_ul=2):
        sed = compiled_flux_points(datasets, source, energy_edges, n_sigma=n_sigma, n_sigma_ul=n_sigma_ul)
        if sed is None:  # datasets or models the compiled statistic does not evaluate: Gammapy's
            return super().flux_points(datasets, source, energy_edges, n_sigma=n_sigma, n_sigma_ul=n_sigma_ul)
        return sed
