"""The integral of a spectral model over fixed energy bins, on plain arrays.

A fit evaluates the predicted counts thousands of times; through Gammapy's
models each evaluation spends most of its time in `~astropy.units.Quantity`
arithmetic and model attribute access. Here the units are converted once (at
the start of a fit): energies in TeV, every parameter whose unit is a power of
an energy in that power of TeV, the others in their own unit; then the power
law's analytic integral (the operations of Gammapy's static
``evaluate_integral``) or Gammapy's static ``evaluate`` summed with the
log-log trapezoidal rule of `~gammapy.modeling.models.integrate_spectrum` (the
same grid, the same segments) run on floats. Each instance checks its numbers
against Gammapy's `~gammapy.modeling.models.SpectralModel.integral` when it is
made (relative difference below `RTOL`), and is not used (None) where they
differ.

With ``moment=1`` the same machinery gives the energy flux, the integral of
``E * dN/dE`` (Gammapy's `~gammapy.modeling.models.SpectralModel.energy_flux`:
the power law's analytic ``evaluate_energy_flux``, else the log-log rule on
``E * dN/dE``, whose logarithmic derivatives are those of ``dN/dE``).

`PlainIntegral.gradient` gives the analytic derivatives of those same numbers
with respect to every parameter: of the analytic power-law integral, or of the
log-log trapezoidal sum (through the analytic logarithmic derivatives of each
model, `LOG_DERIVATIVES`), for the optimiser's gradient.
"""

import numpy as np
import astropy.units as u
from gammapy.modeling.models import (
    BrokenPowerLawSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    LogParabolaSpectralModel,
    PowerLawSpectralModel,
    ScaleSpectralModel,
)
from ..utils.units import EFLUX_UNIT, FLUX_UNIT

__all__ = ["LOG_DERIVATIVES", "PLAIN_MODELS", "PlainIntegral", "ScaledIntegral", "plain_integral"]

PLAIN_MODELS = (
    PowerLawSpectralModel,
    LogParabolaSpectralModel,
    ExpCutoffPowerLawSpectralModel,
    BrokenPowerLawSpectralModel,
)
"""Models evaluated on plain arrays (their ``evaluate`` functions are pure numpy)."""

ENERGY_UNIT = u.TeV
NDECADE = 100  # the grid of integrate_spectrum's default
RTOL = 1e-9


def _safe_log(x):
    """Natural logarithm, 0 where ``x`` is not positive (there its factor is 0)."""
    return np.log(np.where(x > 0, x, 1.0))


def _dlog_power_law(energy, index, amplitude, reference):
    log_x = np.log(energy / reference)
    return dict(index=-log_x, reference=np.broadcast_to(index / reference, energy.shape))


def _dlog_log_parabola(energy, amplitude, reference, alpha, beta):
    log_x = np.log(energy / reference)
    return dict(alpha=-log_x, beta=-(log_x**2), reference=(alpha + 2 * beta * log_x) / reference)


def _dlog_exp_cutoff_power_law(energy, index, amplitude, reference, lambda_, alpha):
    x = energy * lambda_
    power = np.power(x, alpha)
    return dict(
        index=-np.log(energy / reference),
        reference=np.broadcast_to(index / reference, energy.shape),
        lambda_=-alpha * np.power(energy, alpha) * np.power(lambda_, alpha - 1),
        alpha=-power * _safe_log(x),
    )


def _dlog_broken_power_law(energy, index1, index2, amplitude, ebreak):
    log_x = np.log(energy / ebreak)
    below = energy < ebreak
    return dict(
        index1=np.where(below, -log_x, 0.0),
        index2=np.where(below, 0.0, -log_x),
        ebreak=np.where(below, index1, index2) / ebreak,
    )


LOG_DERIVATIVES = {
    PowerLawSpectralModel: _dlog_power_law,
    LogParabolaSpectralModel: _dlog_log_parabola,
    ExpCutoffPowerLawSpectralModel: _dlog_exp_cutoff_power_law,
    BrokenPowerLawSpectralModel: _dlog_broken_power_law,
}
"""For each model of `PLAIN_MODELS`: the derivatives of the log of the differential flux with
respect to each parameter but the amplitude (the models are linear in it), a function of the
energy and the parameter values (energies in TeV)."""


def _power_law_integral_gradient(energy_min, energy_max, index, amplitude, reference):
    """Derivatives of `~gammapy.modeling.models.PowerLawSpectralModel.evaluate_integral` by index and
    reference, for a unit amplitude (with its limit at index 1, where Gammapy takes the logarithm)."""
    gamma = 1 - index
    log_max, log_min = np.log(energy_max / reference), np.log(energy_min / reference)
    upper, lower = np.exp(gamma * log_max), np.exp(gamma * log_min)
    if abs(gamma) <= 1e-8:  # np.isclose(gamma, 0), as Gammapy's integral
        integral = reference * (log_max - log_min)
        d_gamma = reference * (log_max**2 - log_min**2) / 2
    else:
        integral = reference * (upper - lower) / gamma
        d_gamma = reference * ((upper * log_max - lower * log_min) / gamma - (upper - lower) / gamma**2)
    return dict(index=-d_gamma, reference=index * integral / reference)


TINY = np.finfo(float).tiny


def _power_law_integral(energy_min, energy_max, index, amplitude, reference):
    """`~gammapy.modeling.models.PowerLawSpectralModel.evaluate_integral` for one set of parameter
    values, the same operations without the array test of the index-1 case."""
    val = -1 * index + 1
    if np.ndim(val):  # a batch of parameter values (columns), each row the same operations
        degenerate = np.abs(val) <= 1e-8
        safe = np.where(degenerate, 1.0, val)
        flux = amplitude * reference / safe * (np.power(energy_max / reference, safe) - np.power(energy_min / reference, safe))
        return np.where(degenerate, amplitude * reference * np.log(energy_max / energy_min), flux)
    if abs(val) <= 1e-8:  # np.isclose(val, 0)
        return amplitude * reference * np.log(energy_max / energy_min)
    prefactor = amplitude * reference / val
    return prefactor * (np.power(energy_max / reference, val) - np.power(energy_min / reference, val))


def _power_law_energy_flux(energy_min, energy_max, index, amplitude, reference):
    """`~gammapy.modeling.models.PowerLawSpectralModel.evaluate_energy_flux`: ``E * dN/dE`` is the
    power law of index ``index - 1`` and amplitude ``amplitude * reference``."""
    return reference * _power_law_integral(energy_min, energy_max, index - 1, amplitude, reference)


def _power_law_energy_flux_gradient(energy_min, energy_max, index, amplitude, reference):
    """Derivatives of `_power_law_energy_flux` by index and reference, for a unit amplitude."""
    derivatives = _power_law_integral_gradient(energy_min, energy_max, index - 1, amplitude, reference)
    integral = _power_law_integral(energy_min, energy_max, index - 1, 1.0, reference)
    return dict(index=reference * derivatives["index"], reference=integral + reference * derivatives["reference"])


class _LogLogGrid:
    """Gammapy's log-log trapezoidal rule (`~gammapy.utils.integrate.trapz_loglog`) on a fixed grid,
    summed over its last axis, and the derivatives of that sum.

    Each segment is the integral of the power law through its two end points,
    ``x0 y0 (r**g - 1) / g`` with ``r = x1 / x0`` and ``g = 1 - k``, ``k`` the
    segment's index (Gammapy's operations; the logarithm where ``g`` is 0).
    Its derivatives by ``log y0`` and ``log y1`` follow, and the chain rule
    with the logarithmic derivatives of ``y`` gives the derivative of the sum
    by each parameter. Segments where ``y`` is zero (an underflowing cut-off)
    contribute nothing to the derivatives.
    """

    def __init__(self, grid):
        self.grid = grid
        self.x0, self.x1 = grid[..., :-1], grid[..., 1:]
        self.ratio = self.x1 / self.x0
        self.log_ratio = np.log(self.ratio)
        self.log_inverse = np.log(np.clip(self.x0 / self.x1, TINY, np.inf))

    def _gamma(self, y0, y1):
        """``g = 1 - k`` of each segment, as Gammapy computes ``k`` (infinite where undefined)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            index = -np.log(np.clip(y0 / y1, TINY, np.inf)) / self.log_inverse
        index[np.isnan(index)] = np.inf
        return -1 * index + 1

    def _segments(self, y0, gamma):
        """The segments and ``r**g``."""
        with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
            power = np.power(self.ratio, gamma)
            segments = y0 * self.x0 / gamma * (power - 1)
            degenerate = np.abs(gamma) <= 1e-8  # np.isclose(gamma, 0)
            if degenerate.any():
                segments[degenerate] = (y0 * self.x0 * self.log_ratio)[degenerate]
        return segments, power

    def integral(self, y):
        """The sum of the segments over the last axis."""
        y0, y1 = y[..., :-1], y[..., 1:]
        return self._segments(y0, self._gamma(y0, y1))[0].sum(axis=-1)

    def gradient(self, y, dlog_y):
        """The sum and its derivatives by each parameter (``dlog_y``: the derivatives of
        ``log y``, one array of the shape of ``y`` per parameter)."""
        y0, y1 = y[..., :-1], y[..., 1:]
        gamma = self._gamma(y0, y1)
        segments, power = self._segments(y0, gamma)
        log_r = self.log_ratio
        z = gamma * log_r
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            # d/dg of (r**g - 1) / g, with its series where the difference loses precision
            d_unit = (z * power - (power - 1)) / gamma**2
            small = np.abs(z) < 1e-2
            if small.any():
                zs = z[small]
                d_unit[small] = log_r[small] ** 2 * (1 / 2 + zs / 3 + zs**2 / 8 + zs**3 / 30 + zs**4 / 144)
            d_log_y1 = y0 * self.x0 * d_unit / log_r
            d_log_y0 = segments - d_log_y1
        valid = np.isfinite(d_log_y0) & np.isfinite(d_log_y1) & (y0 != 0) & (y1 != 0)
        if not valid.all():
            d_log_y0, d_log_y1 = np.where(valid, d_log_y0, 0.0), np.where(valid, d_log_y1, 0.0)
        derivatives = [np.sum(d_log_y0 * d[..., :-1] + d_log_y1 * d[..., 1:], axis=-1) for d in dlog_y]
        return segments.sum(axis=-1), derivatives


def _energy_scale(unit):
    """The factor from ``unit`` to the same power of TeV, or 1 for a unit that is not one."""
    for power in (1, -1, 2, -2, 3, -3):
        if unit.is_equivalent(ENERGY_UNIT**power):
            return unit.to(ENERGY_UNIT**power)
    return 1.0


class PlainIntegral:
    """The integral of one spectral model over fixed energy bins, as a function of its parameter values.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`
        A model of `PLAIN_MODELS`.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy bins.
    moment : {0, 1}, optional
        The integral of ``E**moment * dN/dE``: 0 for the integral flux (in
        cm-2 s-1), 1 for the energy flux (in erg cm-2 s-1). Default is 0.
    """

    def __init__(self, model, energy_min, energy_max, moment=0):
        cls = type(model)
        if moment not in (0, 1):
            raise ValueError(f"moment must be 0 or 1, got {moment!r}.")
        self.moment = moment
        self.names = list(model.parameters.names)
        self.scales = np.array([_energy_scale(par.unit) for par in model.parameters])
        self.energy_min = energy_min.to_value(ENERGY_UNIT).ravel()
        self.energy_max = energy_max.to_value(ENERGY_UNIT).ravel()
        self.energy_edges = (self.energy_min * ENERGY_UNIT, self.energy_max * ENERGY_UNIT)
        self.evaluate_integral = None
        if cls is PowerLawSpectralModel:
            self.evaluate_integral = (_power_law_integral, _power_law_energy_flux)[moment]
            self.evaluate_integral_gradient = (_power_law_integral_gradient, _power_law_energy_flux_gradient)[moment]
        self.evaluate = cls.evaluate
        if self.evaluate_integral is None:
            num = np.maximum(np.max(NDECADE * np.log10(self.energy_max / self.energy_min)), 2)
            self.grid = _LogLogGrid(np.geomspace(self.energy_min, self.energy_max, num=int(num), axis=-1))
        amplitude = model.parameters["amplitude"].unit
        self.to_flux = (amplitude * ENERGY_UNIT ** (1 + moment)).to((FLUX_UNIT, EFLUX_UNIT)[moment])
        self.amplitude_index = self.names.index("amplitude")
        self.log_derivatives = LOG_DERIVATIVES[cls]
        # the last result of each method, read-only: the datasets of a bin that share true-energy
        # edges ask for the same integral with the same values in each evaluation
        self._last_value = self._last_gradient = None

    def _kwargs(self, values):
        return dict(zip(self.names, np.asarray(values, dtype=float) * self.scales))

    def _evaluate(self, kwargs):
        grid = self.grid.grid
        values = np.reshape(self.evaluate(grid, **kwargs), grid.shape)
        return values * grid if self.moment else values

    def __call__(self, values):
        """The integral in each bin, in cm-2 s-1 (erg cm-2 s-1 for the energy flux).

        Parameters
        ----------
        values : `~numpy.ndarray`
            Parameter values in the model's units, in the model's order.

        Returns
        -------
        flux : `~numpy.ndarray`
            Integral flux of each bin, read-only (the same array for the same values
            in consecutive calls).
        """
        key = np.asarray(values, dtype=float).tobytes()
        last = self._last_value
        if last is not None and last[0] == key:
            return last[1]
        kwargs = self._kwargs(values)
        if self.evaluate_integral is not None:
            flux = self.evaluate_integral(self.energy_min, self.energy_max, **kwargs)
        else:
            flux = self.grid.integral(self._evaluate(kwargs))
        flux = np.asarray(flux, dtype=float) * self.to_flux
        flux.flags.writeable = False
        self._last_value = (key, flux)
        return flux

    def batch(self, values):
        """The integral in each bin at each of a batch of parameter values (a sampler's points).

        The same operations as `__call__` on each row, broadcast over the rows.

        Parameters
        ----------
        values : `~numpy.ndarray`
            Parameter values in the model's units, shape (number of points, number of parameters).

        Returns
        -------
        flux : `~numpy.ndarray`
            Integral flux, shape (number of points, number of bins).
        """
        if self.evaluate is BrokenPowerLawSpectralModel.evaluate:  # its evaluate does not broadcast
            return np.array([self(row) for row in values]).reshape(len(values), -1)
        values = np.asarray(values, dtype=float) * self.scales
        if self.evaluate_integral is None:
            kwargs = {name: values[:, idx, None, None] for idx, name in enumerate(self.names)}
            grid = self.grid.grid
            evaluated = self.evaluate(grid, **kwargs) * np.ones(grid.shape)
            flux = self.grid.integral(evaluated * grid if self.moment else evaluated)
        else:
            kwargs = {name: values[:, idx, None] for idx, name in enumerate(self.names)}
            flux = self.evaluate_integral(self.energy_min, self.energy_max, **kwargs) * np.ones(self.energy_min.shape)
        return flux * self.to_flux

    def gradient(self, values, which=None):
        """Derivatives of the integral in each bin by each parameter, analytic.

        The models are linear in the amplitude: its derivative is the
        integral for a unit amplitude, and the other derivatives are the
        amplitude times theirs for a unit amplitude (the analytic power-law
        integral, or the log-log trapezoidal sum on the grid of `__call__`).

        Parameters
        ----------
        values : `~numpy.ndarray`
            Parameter values in the model's units, in the model's order.
        which : `~numpy.ndarray` of bool, optional
            The parameters whose derivatives to compute. Default is None, all.

        Returns
        -------
        gradient : `~numpy.ndarray`
            Derivatives in cm-2 s-1 (erg cm-2 s-1) per unit of each parameter of ``which``,
            of shape (number of those parameters, number of bins), read-only.
        """
        which = np.ones(len(self.names), dtype=bool) if which is None else np.asarray(which, dtype=bool)
        key = np.asarray(values, dtype=float).tobytes() + which.tobytes()
        last = self._last_gradient
        if last is not None and last[0] == key:
            return last[1]
        kwargs = self._kwargs(values)
        amplitude = kwargs["amplitude"]
        kwargs["amplitude"] = 1.0
        others = [name for idx, name in enumerate(self.names) if which[idx] and idx != self.amplitude_index]
        if self.evaluate_integral is not None:
            unit_flux = self.evaluate_integral(self.energy_min, self.energy_max, **kwargs)
            derivatives = self.evaluate_integral_gradient(self.energy_min, self.energy_max, **kwargs)
            derivatives = [derivatives[name] for name in others]
        else:
            dlog = self.log_derivatives(self.grid.grid, **kwargs)
            unit_flux, derivatives = self.grid.gradient(self._evaluate(kwargs), [dlog[name] for name in others])
        by_name = {name: amplitude * derivative for name, derivative in zip(others, derivatives)}
        by_name["amplitude"] = unit_flux
        rows = [np.ravel(by_name[name]) for idx, name in enumerate(self.names) if which[idx]]
        gradient = np.array(rows).reshape(-1, self.energy_min.size) * (self.scales[which] * self.to_flux)[:, None]
        gradient.flags.writeable = False
        self._last_gradient = (key, gradient)
        return gradient

    def matches(self, model, energy_min, energy_max):
        """Whether it gives Gammapy's integral (energy flux) for the model's current parameter values."""
        if self.moment:
            reference = model.energy_flux(energy_min, energy_max).to_value(EFLUX_UNIT).ravel()
        else:
            reference = model.integral(energy_min, energy_max).to_value(FLUX_UNIT).ravel()
        plain = self(model.parameters.value)
        return reference.shape == plain.shape and np.allclose(plain, reference, rtol=RTOL, atol=0)


class ScaledIntegral:
    """The integral of a `~gammapy.modeling.models.ScaleSpectralModel` of a model of `PLAIN_MODELS`:
    its norm times the plain integral of the model it scales (as Gammapy's flux points scale
    the bin's model in each energy bin).

    The parameters are the scale model's own (its ``norm``); the scaled model's
    values are read at each call (they are fixed in a fit of the norm).

    Parameters
    ----------
    model : `~gammapy.modeling.models.ScaleSpectralModel`
        The scale model.
    inner : `PlainIntegral`
        The plain integral of the model it scales.
    """

    def __init__(self, model, inner):
        self.model = model
        self.inner = inner
        self.names = ["norm"]
        self.energy_edges = inner.energy_edges

    def _inner_values(self):
        return self.model.model.parameters.value

    def __call__(self, values):
        """The integral in each bin: ``norm`` times the scaled model's."""
        return float(values[0]) * self.inner(self._inner_values())

    def batch(self, values):
        """The integral in each bin at each row of ``values`` (norms), shape (number of points, number of bins)."""
        return np.asarray(values, dtype=float)[:, :1] * self.inner(self._inner_values())[None, :]

    def gradient(self, values, which=None):
        """The derivative by the norm: the scaled model's integral (shape (1, number of bins),
        or (0, number of bins) where the norm is not asked for)."""
        flux = self.inner(self._inner_values())[None, :]
        return flux if which is None or np.asarray(which, dtype=bool)[0] else flux[:0]

    def matches(self, model, energy_min, energy_max):
        """Whether it gives Gammapy's integral for the model's current values."""
        reference = model.integral(energy_min, energy_max).to_value(FLUX_UNIT).ravel()
        plain = self(model.parameters.value)
        return reference.shape == plain.shape and np.allclose(plain, reference, rtol=RTOL, atol=0)


def plain_integral(model, energy_min, energy_max, moment=0):
    """A `PlainIntegral` of a model, or None for a model it cannot evaluate (the caller then uses
    Gammapy's `~gammapy.modeling.models.SpectralModel.integral` or ``energy_flux``).

    A `~gammapy.modeling.models.ScaleSpectralModel` of a model of `PLAIN_MODELS`
    (the integral flux) gives a `ScaledIntegral`.

    Parameters
    ----------
    model : `~gammapy.modeling.models.SpectralModel`
        Model.
    energy_min, energy_max : `~astropy.units.Quantity`
        Energy bins.
    moment : {0, 1}, optional
        0 for the integral flux, 1 for the energy flux. Default is 0.

    Returns
    -------
    integral : `PlainIntegral`, `ScaledIntegral` or None
        Integral on plain arrays.
    """
    if type(model) is ScaleSpectralModel and moment == 0:
        inner = plain_integral(model.model, energy_min, energy_max)
        if inner is None:
            return None
        scaled = ScaledIntegral(model, inner)
        with np.errstate(all="ignore"):
            return scaled if scaled.matches(model, energy_min, energy_max) else None
    if type(model) not in PLAIN_MODELS or "amplitude" not in model.parameters.names:
        return None
    key = (
        type(model),
        tuple(par.unit.to_string() for par in model.parameters),
        energy_min.to_value(ENERGY_UNIT).tobytes(),
        energy_max.to_value(ENERGY_UNIT).tobytes(),
        moment,
    )
    if key not in _CHECKED:
        if len(_CHECKED) > 1000:
            _CHECKED.clear()
        try:
            integral = PlainIntegral(model, energy_min, energy_max, moment)
            with np.errstate(all="ignore"):
                _CHECKED[key] = integral if integral.matches(model, energy_min, energy_max) else None
        except (TypeError, ValueError, u.UnitsError):
            _CHECKED[key] = None
    return _CHECKED[key]


_CHECKED = {}
"""The integrals made and checked so far, by model class, parameter units, energy bins and moment (an
instance holds no parameter value, so one check stands for every model of the same kind)."""
