"""Upper limit on the source norm, with the shape fixed to its fit over all bins."""

import logging
import numpy as np
from scipy.optimize import brentq
from gammapy.datasets import Datasets
from ...result.meta import ul_shape_key
from ...result.quantities import QuantityInfo
from ...utils.numerics import optimiser_numerics
from ..fast_statistic import copy_for_fit
from .base import BinStep

__all__ = ["UpperLimitStep", "bounded_upper_limit", "fit_shape_over_all_bins"]

log = logging.getLogger(__name__)


@optimiser_numerics()
def fit_shape_over_all_bins(groups, source_model, parameters, fit):
    """Shape parameters fitted over all bins, to fix them for upper limits.

    The fit is made on the stacked datasets of all bins (Gammapy's
    ``stack_reduce``, background models applied), or jointly on all datasets
    where they cannot be stacked.

    Returns
    -------
    shape : dict of int to float
        Index in ``source_model.parameters`` and fitted value of each free
        parameter other than the norm.
    """
    datasets = Datasets([d for group in groups for d in group])
    log.info("Fitting the source shape over all bins for the upper limits.")
    try:
        stacked = datasets.stack_reduce(name="all-bins")
        copies = copy_for_fit([stacked], models=[source_model])
    except Exception as error:  # noqa: BLE001 -- e.g. datasets of different geometries
        log.info(f"Datasets cannot be stacked ({error!r}); fitting them jointly.")
        copies = copy_for_fit(datasets)
    result = fit.run(copies)
    if not result.success:
        log.warning(f"The fit over all bins did not succeed: {result.message}")
    model = copies.models[source_model.name]
    return {idx: float(model.parameters[idx].value) for idx in parameters.shape_indices}


def _profile(datasets, norm, value, fit, others_free):
    """Total statistic at a norm value, the other free parameters re-optimised."""
    norm.value = value
    if others_free:
        fit.optimize(datasets)
    return float(datasets.stat_sum())


def bounded_upper_limit(datasets, norm, fit, n_sigma_ul, start, max_steps=200):
    """Profile-likelihood upper limit of a norm bounded below at zero.

    The reference is the minimum of the statistic over non-negative norms
    (the best fit, or zero where the best fit is negative); the limit is the
    norm above it where the statistic has risen by ``n_sigma_ul**2``. Other
    free parameters (e.g. background norms) are re-optimised at each value.
    The limit is thus always positive, above the (bounded) best fit, and
    finite for a bin without counts.

    Parameters
    ----------
    datasets : `~gammapy.datasets.Datasets`
        Datasets, with the norm's model; the parameters are left changed
        (call it inside ``restore_status``).
    norm : `~gammapy.modeling.Parameter`
        The norm parameter.
    fit : `~gammapy.modeling.Fit`
        Fit instance.
    n_sigma_ul : float
        Number of sigma (two-sided convention, as in Gammapy: a rise of
        ``n_sigma_ul**2``).
    start : float
        A positive value of the norm, the scale at which the search starts.
    max_steps : int, optional
        Largest number of decades searched up or down. Default is 200.

    Returns
    -------
    ul : float
        Upper limit, NaN if the statistic never rises enough.
    """
    norm.frozen, bound = False, norm.min
    norm.value = max(float(norm.value), 0.0) if np.isfinite(norm.value) else abs(float(start))
    norm.min = 0.0 if not bound > 0 else bound
    try:
        fit.optimize(datasets)
    finally:
        norm.min = bound
    best = max(float(norm.value), 0.0) if np.isfinite(norm.value) else 0.0
    norm.frozen = True
    others_free = len(datasets.models.parameters.free_parameters) > 0
    reference = min(
        _profile(datasets, norm, best, fit, others_free),
        _profile(datasets, norm, 0.0, fit, others_free),
    )
    target = reference + n_sigma_ul**2

    def rise(value):
        return _profile(datasets, norm, value, fit, others_free) - target

    # bracket the rise above the best fit by decades, from the scale of ``start``, so that
    # the root is found to a precision relative to its own size, whatever its scale
    low, high = 0.0, abs(float(start))
    for _ in range(max_steps):
        if rise(best + high) > 0:
            break
        low, high = high, 10 * high
    else:
        return np.nan
    for _ in range(max_steps):
        if low > 0 or rise(best + high / 10) <= 0:
            low = max(low, high / 10)
            break
        high = high / 10
    if rise(best + low) > 0:  # no value below the limit was found: no defensible number
        return np.nan
    return float(best + brentq(lambda x: rise(best + x), low, high, xtol=1e-12 * high, rtol=1e-10))


class UpperLimitStep(BinStep):
    """Upper limit on the norm where ``sqrt_ts < sqrt_ts_threshold_ul`` or the free fit failed.

    The shape parameters are fixed to their fit over all bins
    (`fit_shape_over_all_bins`); the limit is the profile-likelihood bound at
    ``n_sigma_ul`` with the norm bounded at zero (`bounded_upper_limit`), so
    that it is positive, above the best fit and finite in a bin with no
    counts. ``is_ul`` flags it. The limits are deferred until every bin is
    fitted: the fit over all bins runs only if a bin needs a limit, and the
    meta data give its shape (``ul_shape_<parameter>``) only then.
    """

    name = "ul"
    requires = ("ts",)
    needs_norm = True
    single_norm = True

    def __init__(self, setup):
        super().__init__(setup)
        self.n_sigma_ul = setup.options["n_sigma_ul"]
        self.sqrt_ts_threshold_ul = setup.options["sqrt_ts_threshold_ul"]
        self.source_model = setup.source_model
        self.fit = setup.fit
        self.shape = None
        norm = setup.source_model.parameters[self.parameters.norm_index]
        self.norm_unit = norm.unit
        self.norm_start = abs(float(norm.value)) or 1.0
        # where the free fit failed, the search starts from the model as given
        self.start = {idx: (par.value, par.error) for idx, par in enumerate(setup.source_model.parameters)}

    def quantities(self):
        norm = self.parameters.norm_name
        return [
            QuantityInfo("is_ul", description="Whether the bin has an upper limit", default=False),
            QuantityInfo(f"{norm}_ul", self.norm_unit, f"Upper limit on {norm}, shape fixed"),
        ]

    def meta(self):
        meta = dict(n_sigma_ul=self.n_sigma_ul, sqrt_ts_threshold_ul=self.sqrt_ts_threshold_ul)
        names = self.parameters.by_index
        meta.update({ul_shape_key(names[idx]): value for idx, value in (self.shape or {}).items()})
        return meta

    def run(self, context):
        return {}

    def defers(self, values):
        fit_failed = not np.isfinite(values.get("stat", np.nan))
        return fit_failed or not values.get("sqrt_ts", np.nan) >= self.sqrt_ts_threshold_ul

    def prepare_deferred(self, groups):
        self.shape = fit_shape_over_all_bins(groups, self.source_model, self.parameters, self.fit)

    def run_deferred(self, context):
        fit_failed = not np.isfinite(context.stat)
        datasets, model = context.datasets, context.model
        norm = model.parameters[self.parameters.norm_index]
        with datasets.parameters.restore_status():
            if fit_failed or not np.isfinite(norm.value):
                for par_idx, (value, error) in self.start.items():
                    model.parameters[par_idx].value = value
                    model.parameters[par_idx].error = error
                norm.value = self.norm_start
            for par_idx, value in self.shape.items():
                model.parameters[par_idx].value = value
                model.parameters[par_idx].frozen = True
            for par in datasets.models.parameters.free_parameters:
                if not np.isfinite(par.value):
                    raise ValueError(f"parameter {par.name} is not finite after the failed fit")
            ul = bounded_upper_limit(datasets, norm, context.fit, self.n_sigma_ul, self.norm_start)
            ul_model = model.copy(name=context.source)
        if not np.isfinite(ul) or ul <= 0:
            return {}
        ul_model.parameters[self.parameters.norm_index].value = ul
        context.shared["ul_model"] = ul_model
        return {"is_ul": True, f"{self.parameters.norm_name}_ul": ul * norm.unit}
