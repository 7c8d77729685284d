"""The quality of a fitted bin: its flags (`~gammapy_trs.result.quality.QUALITY_FLAGS`), and the values
that the data cannot defend set to NaN.

A value is kept where the data constrain it: never a start value, an
optimiser's last point or a value stopped at a bound. The flags say why a
value is NaN; the bin's upper limit is computed whatever its flags.
"""

import dataclasses
import numpy as np
from ..result.quality import flag_bit

__all__ = ["BinQuality", "assess_quality", "at_bound"]

BOUND_TOLERANCE = 1e-6
"""Relative distance from a bound below which a parameter is at it."""


@dataclasses.dataclass
class BinQuality:
    """The flags of a bin and of each of its fitted parameters, and which values stand.

    Attributes
    ----------
    flags : int
        Bitmask of the bin.
    parameters : dict of str to int
        Bitmask of each fitted parameter.
    undefended_values : set of str
        Parameters whose value (and error) is NaN.
    undefended_errors : set of str
        Parameters whose error is NaN.
    """

    flags: int = 0
    parameters: dict = dataclasses.field(default_factory=dict)
    undefended_values: set = dataclasses.field(default_factory=set)
    undefended_errors: set = dataclasses.field(default_factory=set)

    def flag(self, name, parameters=(), values=False, errors=False):
        """Set the flag ``name`` on the bin and on ``parameters``; their values (and errors) or their
        errors alone no longer stand."""
        bit = flag_bit(name)
        self.flags |= bit
        for par in parameters:
            self.parameters[par] = self.parameters.get(par, 0) | bit
            if values:
                self.undefended_values.add(par)
            if errors:
                self.undefended_errors.add(par)

    def defended(self, name):
        """Whether the value of parameter ``name`` stands."""
        return name not in self.undefended_values

    def apply(self, values, model, parameters):
        """NaN for what does not stand, in the bin's quantities and in its stored model (in place).

        Parameters
        ----------
        values : dict
            The bin's quantities.
        model : `~gammapy.modeling.models.SkyModel`
            The bin's fitted source model (the copy that is kept).
        parameters : `~gammapy_trs.utils.parameters.SourceParameters`
            Its free parameters.
        """
        values["quality"] = self.flags
        covariance = np.array(model.covariance.data, dtype=float)
        for name, idx in parameters:
            values[f"{name}_quality"] = self.parameters.get(name, 0)
            par = model.parameters[idx]
            if name in self.undefended_values:
                values[name] = np.nan * values[name].unit
                par.value = np.nan
            if name in self.undefended_values | self.undefended_errors:
                values[f"{name}_err"] = np.nan * values[f"{name}_err"].unit
                par.error = np.nan
                covariance[idx, :] = covariance[:, idx] = np.nan
        model.covariance = covariance


def at_bound(par):
    """Whether a fitted parameter stopped at its ``min`` or ``max``."""
    for bound in (par.min, par.max):
        if np.isfinite(bound):
            distance = abs(par.value - bound)
            scale = 0.1 * par.error if np.isfinite(par.error) else 0.0
            if distance <= max(BOUND_TOLERANCE * max(1.0, abs(bound)), scale):
                return True
    return False


def _covariance_defined(model, parameters):
    """Whether the covariance of the free parameters is finite and positive definite."""
    indices = list(parameters.names.values())
    covariance = np.asarray(model.covariance.data, dtype=float)[np.ix_(indices, indices)]
    if not np.all(np.isfinite(covariance)):
        return False
    try:
        return bool(np.all(np.linalg.eigvalsh(covariance) > 0))
    except np.linalg.LinAlgError:
        return False


def assess_quality(model, parameters, success, counts, sqrt_ts, sqrt_ts_threshold_shape, norm_value=None):
    """The quality of a fitted bin.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SkyModel`
        The fitted source model (at the best fit).
    parameters : `~gammapy_trs.utils.parameters.SourceParameters`
        Its free parameters.
    success : bool
        Whether the fit succeeded.
    counts : float
        ON counts in the fit range.
    sqrt_ts : float
        Signed square root of the source's TS in the bin (NaN where not computed).
    sqrt_ts_threshold_shape : float
        Shape parameters stand where ``sqrt_ts`` reaches this.
    norm_value : float, optional
        The signed source signal (the norm, or the predicted source counts of
        a compound model). Default is None: not checked.

    Returns
    -------
    quality : `BinQuality`
        The flags, and which values stand.
    """
    quality = BinQuality()
    names = list(parameters.names)
    by_index = parameters.by_index
    shape = [by_index[idx] for idx in parameters.shape_indices]
    norms = [by_index[idx] for idx in parameters.norm_indices]
    if not counts > 0:
        quality.flag("no_counts", names, values=True)
    if not success:
        quality.flag("fit_failed", names, values=True)
    if quality.flags:
        return quality
    if np.isfinite(sqrt_ts) and sqrt_ts < sqrt_ts_threshold_shape:
        quality.flag("few_counts", shape, values=True)
    for name, idx in parameters:
        if at_bound(model.parameters[idx]):
            quality.flag("at_bound", [name], values=True)
    if not _covariance_defined(model, parameters):
        quality.flag("bad_covariance", names, errors=True)
    if norm_value is not None and norm_value < 0:
        quality.flag("negative_flux", norms)
    return quality
