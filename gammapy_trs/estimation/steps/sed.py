"""Flux points of each bin: Gammapy's `~gammapy.estimators.FluxPointsEstimator` in the bin."""

import numpy as np
import astropy.units as u
from ...result.sed import sed_table
from .base import BinStep

__all__ = ["SEDStep"]


class SEDStep(BinStep):
    """Flux points of the bin in ``sed_energy_edges`` (the product ``"sed"``).

    Gammapy's `~gammapy.estimators.FluxPointsEstimator` runs on the bin's
    datasets with the bin's fitted model as reference (where its norm does
    not stand or is not positive, e.g. a bin without counts, the model at the
    bin's upper limit where the "ul" step ran, else no flux points), through the
    run's engine (`~gammapy_trs.engine.FitEngine.flux_points`; on the compiled
    engine the same numbers computed on arrays): in each energy bin the norm
    of that model is fitted with its shape fixed, with its error, the TS and
    an upper limit at ``n_sigma_ul`` checked at its level (``is_ul`` where
    sqrt(TS) < 2, Gammapy's default); where Gammapy's limit would be negative
    (a best fit far below zero), the limit of the norm bounded at zero. The flux points are kept as
    differential fluxes (``dnde``), so that the bins, each with its own
    reference model, share one `~gammapy.estimators.FluxPoints`
    (`~gammapy_trs.TimeResolvedSpectrum.to_sed`). Energy edges snap to the
    edges of the datasets' energy axis, as in Gammapy.
    """

    name = "sed"
    needs_norm = True

    @classmethod
    def is_active(cls, setup):
        """Selected, with energy edges (so that "all" includes it only where edges are given)."""
        return cls.name in setup.selection and setup.options.get("sed_energy_edges") is not None

    def __init__(self, setup):
        super().__init__(setup)
        edges = setup.options.get("sed_energy_edges")
        if edges is None or len(edges) < 2:
            raise ValueError(
                'selection_optional "sed" needs sed_energy_edges, e.g. [0.4, 1, 3, 10, 20] * u.TeV.'
            )
        self.energy_edges = u.Quantity(edges, "TeV")
        self.n_sigma = setup.options["n_sigma"]
        self.n_sigma_ul = setup.options["n_sigma_ul"]

    def quantities(self):
        return []

    def products(self):
        return {"sed": sed_table}

    def meta(self):
        return dict(sed_energy_edges=", ".join(f"{e:.6g}" for e in self.energy_edges.to_value("TeV")) + " TeV")

    def run(self, context):
        datasets = self._reference(context)
        if datasets is None:
            return {}
        sed = context.engine.flux_points(
            datasets, context.source, self.energy_edges, n_sigma=self.n_sigma, n_sigma_ul=self.n_sigma_ul
        )
        # without counts the best fit is at a kink of the statistic: no value, no error, the limit only
        empty = sed["counts"] == 0
        sed["dnde"][empty] = sed["dnde_err"][empty] = np.nan
        sed["is_ul"][empty] = True
        context.products["sed"] = sed
        return {}

    def _reference(self, context):
        """The bin's datasets with the reference model of its flux points: its best fit where the
        norm stands and is positive, else the model at its upper limit (the fallback shape), else
        None (no flux points)."""
        norm = context.parameters.norm_name
        if context.quality.defended(norm) and context.values[norm].value > 0:
            return context.datasets
        if context.upper_limit_model is None:
            return None
        models = [context.upper_limit_model if m.name == context.source else m for m in context.datasets.models]
        return context.engine.copy(context.datasets, models=models)
