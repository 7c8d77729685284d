"""The optional steps of one bin (TS, profile errors, upper limit, fluxes, comparison)."""

import logging
from dataclasses import dataclass, field
import numpy as np
import astropy.units as u
from .bin_statistics import (
    estimate_comparison,
    estimate_errn_errp,
    estimate_ts,
    estimate_ul,
    norm_parameter_index,
)
from .flux import integral_fluxes

__all__ = ["BinSteps"]

log = logging.getLogger(__name__)

FLUX_UNIT = u.Unit("cm-2 s-1")
EFLUX_UNIT = u.Unit("erg cm-2 s-1")


@dataclass
class BinSteps:
    """Settings of the optional per-bin steps, and their execution.

    Parameters
    ----------
    selection : list of str
        Steps among "ts", "errn-errp", "ul" and "flux".
    n_sigma : float
        Sigma of the asymmetric errors.
    n_sigma_ul : float
        Sigma of the upper limits.
    sqrt_ts_threshold_ul : float
        An upper limit is computed where ``sqrt_ts`` is below this.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy range of the fluxes.
    compare_to : `~gammapy.modeling.models.SkyModel`, optional
        Alternative model, named like the source.
    ul_shape : dict of int to float, optional
        Shape parameters (index in the source's parameters and value) fixed
        for the upper limits.
    """

    selection: list = field(default_factory=list)
    n_sigma: float = 1.0
    n_sigma_ul: float = 2.0
    sqrt_ts_threshold_ul: float = 2.0
    energy_min: u.Quantity = 1 * u.TeV
    energy_max: u.Quantity = 10 * u.TeV
    compare_to: object = None
    ul_shape: dict = None

    @property
    def needs_ts(self):
        return "ts" in self.selection or "ul" in self.selection

    def defaults(self, model, parameter_names):
        """NaN value of every quantity the steps give, with units.

        Parameters
        ----------
        model : `~gammapy.modeling.models.SkyModel`
            Source model.
        parameter_names : dict of str to int
            Column name and index of each free source parameter.

        Returns
        -------
        quantities : dict
            Defaults of a bin whose fit failed.
        """
        quantities = {}
        if self.needs_ts:
            quantities.update(ts=np.nan, sqrt_ts=np.nan, stat_null=np.nan)
        if "errn-errp" in self.selection:
            for name, idx in parameter_names.items():
                unit = model.parameters[idx].unit
                quantities[f"{name}_errn"] = np.nan * unit
                quantities[f"{name}_errp"] = np.nan * unit
        if "ul" in self.selection:
            norm = model.parameters[norm_parameter_index(model)]
            quantities["is_ul"] = False
            quantities[f"{self._norm_name(model, parameter_names)}_ul"] = np.nan * norm.unit
        if "flux" in self.selection:
            quantities.update(
                flux=np.nan * FLUX_UNIT,
                flux_err=np.nan * FLUX_UNIT,
                eflux=np.nan * EFLUX_UNIT,
                eflux_err=np.nan * EFLUX_UNIT,
            )
            if "ul" in self.selection:
                quantities.update(flux_ul=np.nan * FLUX_UNIT, eflux_ul=np.nan * EFLUX_UNIT)
        if self.compare_to is not None:
            quantities.update(
                compare_stat=np.nan,
                compare_ts=np.nan,
                compare_p_value=np.nan,
                compare_sigma=np.nan,
                compare_success=False,
            )
        return quantities

    @staticmethod
    def _norm_name(model, parameter_names):
        idx = norm_parameter_index(model)
        return next(name for name, par_idx in parameter_names.items() if par_idx == idx)

    def run(self, datasets, source, parameter_names, stat, fit):
        """Run the selected steps on the fitted datasets of one bin.

        A step that raises is reported with a warning and leaves its quantities
        at NaN; the other steps still run.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets`
            Datasets at the bin's best fit (copies).
        source : str
            Source model name.
        parameter_names : dict of str to int
            Column name and index of each free source parameter.
        stat : float
            Total fit statistic at the best fit.
        fit : `~gammapy.modeling.Fit`
            Fit instance.

        Returns
        -------
        quantities : dict
            The quantities of `defaults`, computed.
        """
        model = datasets.models[source]
        quantities = self.defaults(model, parameter_names)

        def step(name, function, *args, **kwargs):
            try:
                return function(*args, **kwargs)
            except Exception as error:  # noqa: BLE001 -- a failing step must not abort
                log.warning(f"Step {name!r} failed for the bin of {datasets.names}: {error!r}")
                return None

        if self.needs_ts:
            quantities.update(step("ts", estimate_ts, datasets, source, stat, fit) or {})

        if "errn-errp" in self.selection:
            quantities.update(
                step(
                    "errn-errp",
                    estimate_errn_errp,
                    datasets,
                    source,
                    parameter_names,
                    fit,
                    n_sigma=self.n_sigma,
                )
                or {}
            )

        ul_model = None
        if "ul" in self.selection and not quantities["sqrt_ts"] >= self.sqrt_ts_threshold_ul:
            out = step("ul", estimate_ul, datasets, source, self.ul_shape, fit, self.n_sigma_ul)
            if out is not None:
                ul, ul_model = out
                quantities["is_ul"] = True
                quantities[f"{self._norm_name(model, parameter_names)}_ul"] = ul

        if "flux" in self.selection:
            fluxes = step(
                "flux", integral_fluxes, model.spectral_model, self.energy_min, self.energy_max
            )
            quantities.update(fluxes or {})
            if ul_model is not None:
                quantities["flux_ul"] = ul_model.spectral_model.integral(
                    self.energy_min, self.energy_max
                ).to(FLUX_UNIT)
                quantities["eflux_ul"] = ul_model.spectral_model.energy_flux(
                    self.energy_min, self.energy_max
                ).to(EFLUX_UNIT)

        if self.compare_to is not None:
            quantities.update(
                step("compare", estimate_comparison, datasets, source, self.compare_to, stat, fit)
                or {}
            )
        return quantities
