"""Asymmetric profile-likelihood errors of every fitted parameter."""

import logging
import numpy as np
import astropy.units as u
from ...result.quantities import QuantityInfo
from .base import BinStep

__all__ = ["ErrnErrpStep"]

log = logging.getLogger(__name__)


class ErrnErrpStep(BinStep):
    """Asymmetric profile-likelihood errors ``<par>_errn`` and ``<par>_errp`` at ``n_sigma``.

    The engine's ``confidence``: each end lies on the profile at its level
    (found by Newton steps on the compiled statistic, or MINOS's checked at
    the level and found again by bracketing where it is not); intervals not
    found (either side), and those of parameters whose value does not stand
    (see `~gammapy_trs.result.quality`), are NaN, never numbers.
    """

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
            if not context.quality.defended(name):
                continue
            par = model.parameters[idx]
            interval = context.engine.confidence(context.datasets, par, sigma=self.n_sigma)
            valid = bool(interval["success"])
            if not valid:
                log.warning(f"Profile error of {name} is not valid: {interval.get('message')}")
            for side in ("errn", "errp"):
                value = interval[side] if valid else np.nan
                result[f"{name}_{side}"] = u.Quantity(value, par.unit)
        return result
