"""Upper limit on the source norm in every bin, the shape fixed: the bin's own or, where it does not
stand, that of all bins stacked."""

import logging
import numpy as np
from ...engine import copy_models
from ...result.meta import ul_shape_key
from ...result.quantities import QuantityInfo
from ...utils.numerics import bracket_root, optimiser_numerics
from ..quality import at_bound
from ..stacked import fit_stacked
from .base import BinStep

__all__ = ["UL_SHAPES", "FallbackShape", "UpperLimitStep", "bounded_upper_limit", "fallback_shape"]

log = logging.getLogger(__name__)

UL_SHAPES = ("bin", "stacked")
"""The shape at which the norm's limit is computed: the bin's own best fit, where it stands (else
the fallback shape), or the fallback shape in every bin."""


def _stat(engine, datasets, norm, value, others_free):
    """Total statistic at a norm value, the other free parameters re-optimised."""
    norm.value = value
    if others_free:
        engine.optimize(datasets)
    return float(engine.stat_sum(datasets))


@optimiser_numerics()
def bounded_upper_limit(engine, datasets, norm, n_sigma_ul, start):
    """Profile-likelihood upper limit of a norm bounded below at zero.

    The reference is the minimum of the statistic over non-negative norms
    (the best fit, or zero where the best fit is negative); the limit is the
    norm above it where the statistic has risen by ``n_sigma_ul**2``. Other
    free parameters (e.g. background norms) are re-optimised at each value.
    The limit is thus always positive, above the (bounded) best fit, and
    finite for a bin without counts.

    Parameters
    ----------
    engine : `~gammapy_trs.engine.FitEngine`
        Engine.
    datasets : `~gammapy.datasets.Datasets`
        The engine's copies, with the norm's model; the parameters are left
        changed (call it inside ``restore_status``).
    norm : `~gammapy.modeling.Parameter`
        The norm parameter.
    n_sigma_ul : float
        Number of sigma (two-sided convention, as in Gammapy: a rise of
        ``n_sigma_ul**2``).
    start : float
        A positive value of the norm, the scale at which the search starts.

    Returns
    -------
    ul : float
        Upper limit, NaN if the statistic never rises enough.
    """
    norm.frozen, bound = False, norm.min
    norm.value = max(float(norm.value), 0.0) if np.isfinite(norm.value) else abs(float(start))
    norm.min = 0.0 if not bound > 0 else bound
    try:
        engine.optimize(datasets)
    finally:
        norm.min = bound
    best = max(float(norm.value), 0.0) if np.isfinite(norm.value) else 0.0
    norm.frozen = True
    others_free = len(datasets.models.parameters.free_parameters) > 0
    reference = min(
        _stat(engine, datasets, norm, best, others_free),
        _stat(engine, datasets, norm, 0.0, others_free),
    )
    target = reference + n_sigma_ul**2
    return bracket_root(lambda value: _stat(engine, datasets, norm, value, others_free) - target, best, abs(float(start)))


def _stands(values, names):
    return all(np.isfinite(values[name]) and np.isfinite(values[f"{name}_err"]) for name in names)


def fallback_shape(stack, source_model, parameters, engine):
    """The shape of the limits where a bin's own does not stand: that of all bins stacked, else the
    source model's own.

    The stacked fit is accepted where it succeeded and each shape parameter is
    finite, has a finite positive error and is not at a bound; otherwise the
    shape is the source model's as given (with a warning).

    Returns
    -------
    shape : dict of int to float
        Index in ``source_model.parameters`` and value of each free parameter other than the norm.
    origin : {"stacked", "model"}
        Where it comes from.
    """
    indices = parameters.shape_indices
    given = {idx: float(source_model.parameters[idx].value) for idx in indices}
    if not indices:
        return given, "model"
    log.info("Fitting the source shape over all bins for the upper limits.")
    stacked = fit_stacked(stack, source_model, engine)
    fitted = stacked.model.parameters
    usable = stacked.success and all(
        np.isfinite(fitted[idx].value)
        and np.isfinite(fitted[idx].error)
        and fitted[idx].error > 0
        and not at_bound(fitted[idx])
        for idx in indices
    )
    if not usable:
        log.warning(
            f"The fit of the shape over all bins stacked is not usable ({stacked.message}): the upper "
            f"limits where a bin's own shape does not stand use the source model's shape {given}."
        )
        return given, "model"
    return {idx: float(fitted[idx].value) for idx in indices}, "stacked"


class FallbackShape:
    """`fallback_shape`, fitted at its first use: a run whose bins all have their own shape does
    not stack them. Sent to another process (pickled), it is fitted first, in this one, so that
    the workers get the shape without the datasets of every bin.

    Parameters
    ----------
    stack, source_model, parameters, engine
        As `fallback_shape`'s.
    """

    def __init__(self, stack, source_model, parameters, engine):
        self._arguments = (stack, source_model, parameters, engine)
        self._value = None

    @property
    def fitted(self):
        """Whether the shape has been fitted (asked for)."""
        return self._value is not None

    def get(self):
        """``(shape, origin)`` of `fallback_shape`, fitted at the first call."""
        if self._value is None:
            self._value = fallback_shape(*self._arguments)
        return self._value

    def __getstate__(self):
        return {"_arguments": None, "_value": self.get()}


class UpperLimitStep(BinStep):
    """Upper limit on the norm in every bin, at ``n_sigma_ul``; ``is_ul`` where ``sqrt_ts`` is below
    ``sqrt_ts_threshold_ul`` or the fit failed (Gammapy's convention).

    The limit is the profile-likelihood bound of the norm, bounded at zero
    (`bounded_upper_limit`), with the shape fixed: with ``ul_shape="bin"``
    (default), in a bin that is not reported as a limit (a detection whose
    limit is asked for, as Gammapy gives it) at the bin's own best fit where
    its shape parameters stand (see `~gammapy_trs.result.quality`), else at
    the fallback shape; with ``ul_shape="stacked"``, at the fallback shape in
    every bin. A bin reported as a limit (``is_ul``) has no shape of its own
    to defend: its limit is at the fallback shape, so that the limits of
    faint bins keep their coverage. The fallback
    shape is that of all bins stacked, fitted once at the first bin that
    needs it (before the bins are sent to other processes), or the source
    model's own where that fit is not usable (`fallback_shape`); the meta
    data give it (``ul_shape_<parameter>`` and ``ul_shape_source``;
    ``ul_shape_source`` is "none" where no bin needed it) and ``ul_shape``
    says per bin which shape was used ("bin", "stacked" or "model"). The
    limit is positive, above the best fit and finite in a bin with no counts.
    """

    name = "ul"
    requires = ("ts",)
    needs_norm = True
    single_norm = True
    runs_on_failed_fit = True

    def __init__(self, setup, fallback):
        super().__init__(setup)
        self.n_sigma_ul = setup.options["n_sigma_ul"]
        self.sqrt_ts_threshold_ul = setup.options["sqrt_ts_threshold_ul"]
        self.ul_shape = setup.options.get("ul_shape", "bin")
        self.fallback = fallback
        norm = setup.source_model.parameters[self.parameters.norm_index]
        self.norm_unit = norm.unit
        self.norm_start = abs(float(norm.value)) or 1.0
        # where the free fit failed, the search starts from the model as given
        self.start = {idx: (par.value, par.error) for idx, par in enumerate(setup.source_model.parameters)}

    @classmethod
    def create(cls, setup):
        return cls(setup, FallbackShape(setup.stack, setup.source_model, setup.parameters, setup.engine))

    def quantities(self):
        norm = self.parameters.norm_name
        return [
            QuantityInfo("is_ul", description="Whether the bin is reported as an upper limit", default=False),
            QuantityInfo(f"{norm}_ul", self.norm_unit, f"Upper limit on {norm}, shape fixed"),
            QuantityInfo("ul_shape", description="Shape of the upper limit: bin, stacked or model", default=""),
        ]

    def after_bins(self, values):
        # bins of a checkpoint may have used the fallback shape in an earlier run: its meta data
        if any(bin_values.get("ul_shape") in ("stacked", "model") for bin_values in values):
            self.fallback.get()

    def meta(self):
        meta = dict(
            n_sigma_ul=self.n_sigma_ul,
            sqrt_ts_threshold_ul=self.sqrt_ts_threshold_ul,
            ul_shape_option=self.ul_shape,
            ul_shape_source="none",
        )
        if self.fallback.fitted:
            shape, meta["ul_shape_source"] = self.fallback.get()
            names = self.parameters.by_index
            meta.update({ul_shape_key(names[idx]): value for idx, value in shape.items()})
        return meta

    def _is_ul(self, context):
        return not context.fit_succeeded or not context.ts.get("sqrt_ts", np.nan) >= self.sqrt_ts_threshold_ul

    def _own_shape(self, context):
        if self.ul_shape != "bin" or self._is_ul(context):
            return False
        names = [self.parameters.by_index[idx] for idx in self.parameters.shape_indices]
        return all(context.quality.defended(name) for name in names) and _stands(context.values, names)

    def run(self, context):
        datasets, model = context.datasets, context.model
        norm = model.parameters[self.parameters.norm_index]
        own = self._own_shape(context)
        shape, origin = ({}, "bin") if own else self.fallback.get()
        with datasets.parameters.restore_status():
            if not context.fit_succeeded or not np.isfinite(norm.value):
                for par_idx, (value, error) in self.start.items():
                    model.parameters[par_idx].value = value
                    model.parameters[par_idx].error = error
                norm.value = self.norm_start
            for par_idx in self.parameters.shape_indices:
                if not own:
                    model.parameters[par_idx].value = shape[par_idx]
                model.parameters[par_idx].frozen = True
            for par in datasets.models.parameters.free_parameters:
                if not np.isfinite(par.value):
                    raise ValueError(f"parameter {par.name} is not finite after the failed fit")
            ul = bounded_upper_limit(context.engine, datasets, norm, self.n_sigma_ul, self.norm_start)
            ul_model = copy_models([model])[0]  # a deep copy: a fraction of SkyModel.copy's time
        values = dict(is_ul=self._is_ul(context), ul_shape=origin)
        if not np.isfinite(ul) or ul <= 0:
            log.warning(f"No upper limit in the bin of {datasets.names}: the statistic never rises enough.")
            return dict(values, is_ul=False)
        ul_model.parameters[self.parameters.norm_index].value = ul
        context.upper_limit_model = ul_model
        values[f"{self.parameters.norm_name}_ul"] = ul * norm.unit
        return values
