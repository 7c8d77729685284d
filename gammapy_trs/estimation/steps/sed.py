"""Flux points of each bin: Gammapy's `~gammapy.estimators.FluxPointsEstimator` in the bin."""

import numpy as np
import astropy.units as u
from ...result.sed import sed_table
from ...utils.units import DNDE_UNIT
from .base import BinStep

__all__ = ["SEDStep", "SED_QUANTITIES", "bin_sed"]

SED_QUANTITIES = ("dnde", "dnde_err", "dnde_ul", "ts", "sqrt_ts", "is_ul", "success")
"""What the step keeps of each energy bin (``counts`` and ``npred`` summed over the datasets)."""


class SEDStep(BinStep):
    """Flux points of the bin in ``sed_energy_edges`` (the product ``"sed"``).

    Gammapy's `~gammapy.estimators.FluxPointsEstimator` runs on the bin's
    datasets with the bin's fitted model as reference (where its norm does
    not stand or is not positive, e.g. a bin without counts, the model at the
    bin's upper limit where the "ul" step ran, else no flux points), through the
    run's engine (`~gammapy_trs.engine.FitEngine.flux_points`): in each energy bin
    the norm of that model is fitted with its shape fixed, with its error, the
    TS and an upper limit at ``n_sigma_ul`` checked at its level (``is_ul``
    where sqrt(TS) < 2, Gammapy's default). The flux points are kept as
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
        points = context.engine.flux_points(
            datasets, context.source, self.energy_edges, n_sigma=self.n_sigma, n_sigma_ul=self.n_sigma_ul
        )
        context.products["sed"] = bin_sed(points)
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


def bin_sed(points):
    """The flux points of one bin as plain arrays (cheap to send and to keep in a checkpoint).

    Parameters
    ----------
    points : `~gammapy.estimators.FluxPoints`
        Flux points with one energy axis.

    Returns
    -------
    sed : dict of str to `~numpy.ndarray`
        ``energy_edges`` (TeV), the `SED_QUANTITIES` (``dnde`` in cm-2 s-1 TeV-1;
        NaN with its error, and an upper limit, where the energy bin has no
        counts), ``counts`` and ``npred`` summed over the datasets.
    """
    sed = dict(energy_edges=points.geom.axes["energy"].edges.to_value("TeV"))
    for name in SED_QUANTITIES:
        value = getattr(points, name)
        data = value.quantity.to_value(DNDE_UNIT) if name.startswith("dnde") else value.data
        sed[name] = np.asarray(data).ravel()
    for name in ("counts", "npred"):
        data = getattr(points, name).data
        sed[name] = np.asarray(data, dtype=float).reshape(len(sed["dnde"]), -1).sum(axis=1)
    # without counts the best fit is at a kink of the statistic: no value, no error, the limit only
    empty = sed["counts"] == 0
    sed["dnde"][empty] = sed["dnde_err"][empty] = np.nan
    sed["is_ul"][empty] = True
    return sed
