"""Asymmetric profile-likelihood errors of every fitted parameter (MINOS)."""

import logging
import astropy.units as u
from ...result.quantities import QuantityInfo
from .base import BinStep

__all__ = ["ErrnErrpStep"]

log = logging.getLogger(__name__)


class ErrnErrpStep(BinStep):
    """Asymmetric profile-likelihood errors ``<par>_errn`` and ``<par>_errp`` at ``n_sigma``."""

    name = "errn-errp"

    def __init__(self, setup):
        super().__init__(setup)
        self.n_sigma = setup.options["n_sigma"]
        model = setup.source_model
        self.units = {name: model.parameters[idx].unit for name, idx in self.parameters}

    def quantities(self):
        return [
            QuantityInfo(f"{name}_{side}", self.units[name], f"{label} profile error of {name}")
            for name in self.units
            for side, label in (("errn", "Negative"), ("errp", "Positive"))
        ]

    def meta(self):
        return {"n_sigma": self.n_sigma}

    def run(self, context):
        model = context.model
        result = {}
        for name, idx in self.parameters:
            par = model.parameters[idx]
            interval = context.fit.confidence(
                context.datasets, par, sigma=self.n_sigma, reoptimize=True
            )
            if not interval["success"]:
                log.warning(f"Profile error of {name} did not converge: {interval.get('message')}")
            result[f"{name}_errn"] = u.Quantity(interval["errn"], par.unit)
            result[f"{name}_errp"] = u.Quantity(interval["errp"], par.unit)
        return result
