"""Likelihood-ratio test of the source model against a nested alternative (``compare_to``)."""

import numpy as np
from gammapy.modeling.models import ExpCutoffPowerLawSpectralModel, LogParabolaSpectralModel, SkyModel
from ...result.quantities import QuantityInfo
from ...utils.significance import chi2_p_value, chi2_significance
from ...engine import copy_models
from .base import BinStep

__all__ = ["COMPARE_MODELS", "CompareStep", "alternative_model", "named_alternative", "start_from_nested"]

SHAPE_ALIASES = {"alpha": "index"}
"""Parameters of an alternative model started from a differently named parameter."""

COMPARE_MODELS = {"LogParabola": LogParabolaSpectralModel, "ExpCutoffPowerLaw": ExpCutoffPowerLawSpectralModel}
"""The alternatives of ``compare_to`` known by name (the configuration's), in which a power law is nested."""

NESTED_AT = {"beta": 0.0, "lambda_": 0.0}
"""The values at which the named alternatives reduce to a power law."""


def named_alternative(name):
    """The alternative ``name`` of `COMPARE_MODELS`, at the values where it reduces to a power law.

    Parameters
    ----------
    name : str
        A key of `COMPARE_MODELS`.

    Returns
    -------
    model : `~gammapy.modeling.models.SpectralModel`
        The model.
    """
    model = COMPARE_MODELS[name]()
    for par in model.parameters:
        if par.name in NESTED_AT:
            par.value = NESTED_AT[par.name]
    return model


def alternative_model(compare_to, source_model):
    """The ``compare_to`` model as a SkyModel named like the source, checked for nesting.

    Parameters
    ----------
    compare_to : `~gammapy.modeling.models.SpectralModel` or `~gammapy.modeling.models.SkyModel`
        Alternative model; a spectral model replaces the source's spectral model.
    source_model : `~gammapy.modeling.models.SkyModel`
        Source model.

    Returns
    -------
    alternative : `~gammapy.modeling.models.SkyModel`
        Alternative model.
    """
    if isinstance(compare_to, SkyModel):
        alternative = compare_to.copy(name=source_model.name)
    else:
        alternative = source_model.copy(name=source_model.name)
        alternative.spectral_model = compare_to.copy()
    n_extra = len(alternative.parameters.free_parameters) - len(
        source_model.parameters.free_parameters
    )
    if n_extra <= 0:
        raise ValueError(
            f"compare_to ({type(alternative.spectral_model).__name__}) must have more free "
            f"parameters than the source model, in which the source model is nested; "
            f"it has {n_extra} more."
        )
    return alternative


def start_from_nested(alternative, fitted):
    """Start the alternative model's parameters from the nested model's best fit.

    Parameters of the same name (and ``alpha`` from ``index``) take the best-fit
    values, and their errors as the optimiser's first steps; the others (e.g.
    ``beta`` or ``lambda_``) keep the values given, which should be those at
    which the alternative reduces to the nested model.

    Parameters
    ----------
    alternative : `~gammapy.modeling.models.SkyModel`
        Alternative model; changed in place.
    fitted : `~gammapy.modeling.models.SkyModel`
        Nested model at its best fit.

    Returns
    -------
    alternative : `~gammapy.modeling.models.SkyModel`
        The alternative model.
    """
    values = {par.name: par for par in fitted.parameters}
    for par in alternative.parameters:
        origin = values.get(par.name) or values.get(SHAPE_ALIASES.get(par.name))
        if origin is not None and par.unit.is_equivalent(origin.unit):
            par.quantity = origin.quantity
            if np.isfinite(origin.error) and origin.error > 0:
                par.error = (origin.error * origin.unit).to_value(par.unit)
    return alternative


class CompareStep(BinStep):
    """Likelihood-ratio test against ``compare_to``, fitted in every bin.

    The alternative starts from the bin's best fit (`start_from_nested`), so
    that it begins at the null's likelihood, and is fitted by the engine
    (`~gammapy_trs.engine.FitEngine.fit_replaced`). Gives ``compare_stat``,
    ``compare_ts`` (stat - compare_stat), its Wilks ``compare_p_value`` (chi2
    with the difference of free parameters as degrees of freedom),
    ``compare_sigma`` and ``compare_success``.
    """

    name = None

    def __init__(self, setup):
        super().__init__(setup)
        self.alternative = alternative_model(setup.options["compare_to"], setup.source_model)
        self.dof = len(self.alternative.parameters.free_parameters) - len(
            setup.source_model.parameters.free_parameters
        )
        self._start = None

    def _start_model(self, fitted):
        """The alternative at its given values, then started from the bin's best fit.

        One copy of the alternative is made per run and reset in each bin (its
        values, scales and errors: what a fit changes), at a fraction of a copy's
        cost.
        """
        if self._start is None:
            self._start = copy_models([self.alternative])[0]
        for par, given in zip(self._start.parameters, self.alternative.parameters):
            par.reset_autoscale()  # the fits scale the parameters again
            par.value, par.error = given.value, given.error
        return start_from_nested(self._start, fitted)

    @classmethod
    def is_active(cls, setup):
        return setup.options.get("compare_to") is not None

    def quantities(self):
        return [
            QuantityInfo("compare_stat", description="Total fit statistic of compare_to"),
            QuantityInfo("compare_ts", description="Likelihood-ratio TS of compare_to"),
            QuantityInfo("compare_p_value", description="Wilks p-value of compare_ts"),
            QuantityInfo("compare_sigma", description="Significance of compare_ts"),
            QuantityInfo(
                "compare_success", description="Fit of compare_to succeeded", default=False
            ),
        ]

    def meta(self):
        return {"compare_to": self.alternative.spectral_model.tag[0]}

    def run(self, context):
        start = self._start_model(context.model)
        success, stat_alt = context.engine.fit_replaced(context.datasets, context.source, start)
        ts = context.stat - stat_alt
        return dict(
            compare_stat=stat_alt,
            compare_ts=ts,
            compare_p_value=chi2_p_value(ts, self.dof),
            compare_sigma=chi2_significance(ts, self.dof),
            compare_success=success,
        )
