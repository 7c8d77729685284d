"""A `~gammapy.modeling.Fit` on the fast path: the compiled statistic and its gradient given to iminuit."""

import numpy as np
from astropy.table import Table
from iminuit import Minuit
from scipy.stats import norm
from gammapy.datasets import Datasets
from gammapy.modeling import Covariance, Fit, Parameters
from gammapy.modeling.fit import CovarianceResult, FitResult, OptimizeResult
from ..utils import gammapy_internals as internals
from .base import fit_options
from .statistic import CompiledStatistic
from .fast_statistic import FitDatasets
from .profile import profile_interval
from .quasi_newton import EDM_TOLERANCE, minimize

__all__ = ["FastFit", "Restricted", "fast_fit"]

_MINUIT_SETTINGS = dict(tol=0.1, errordef=1, print_level=0, strategy=1)
"""The settings of Gammapy's ``setup_iminuit``, with its defaults."""


def _parameter_name(idx, par):
    """The optimiser's name of a free parameter, as Gammapy's iminuit backend names it."""
    return f"par_{idx:03d}_{par.name}"


def _message(minuit, parameters):
    """The message of Gammapy's iminuit backend for a finished MIGRAD."""
    if minuit.valid and np.all(np.isfinite(parameters.value)):
        message = "Optimization terminated successfully"
        return message + ("." if minuit.accurate else ", but uncertainties are unreliable.")
    message = "Optimization failed."
    if minuit.fmin.has_reached_call_limit:
        message += " Call limit was reached."
    if minuit.fmin.is_above_max_edm:
        message += " Estimated distance to minimum too large."
    return message


def _status(datasets):
    """The values, scales and frozen flags of all parameters: a compiled statistic and its
    minimum stand as long as they are unchanged."""
    return tuple((id(par), par.value, par.scale, par.frozen) for par in _parameters(datasets))


def _parameters(datasets):
    """The unique parameters of the datasets' models (those the optimiser sees)."""
    return datasets.parameters


class FastFit(Fit):
    """A `~gammapy.modeling.Fit` whose steps run on the compiled statistic where they can.

    The datasets it is given are evaluated as
    `~gammapy_trs.estimation.fast_statistic.FitDatasets`. With the iminuit
    backend and on-off spectra with Gammapy's common spectral models
    (`~gammapy_trs.estimation.compiled.CompiledStatistic`), MIGRAD, HESSE and
    MINOS run on the compiled statistic with its analytic gradient, with the
    settings and the parameter scaling of Gammapy's iminuit backend; the
    statistic, the parameters, their covariance and the results are set as
    Gammapy sets them. Other datasets, backends or models take Gammapy's path
    with the same datasets.

    Differences from `~gammapy.modeling.Fit` on the compiled path:

    * where MIGRAD with the gradient fails (e.g. at a kink of the WStat), it
      runs again from the start on the statistic's values, as Gammapy's;
    * the `~gammapy.modeling.fit.OptimizeResult` holds the datasets' models,
      not a copy of them at the best fit (nothing in a fit needs the copy);
    * ``confidence`` starts from the last minimum found on the same
      datasets with the same parameter values (e.g. after ``run``) instead of
      a new MIGRAD from those values, and finds each end of the interval by
      Newton steps on the statistic and its gradient
      (`~gammapy_trs.estimation.profile.profile_interval`; the same ends as
      MINOS's to about 1e-3 sigma), with MINOS where they do not converge;
    * ``covariance`` runs HESSE at the minimum on the statistic's values
      (Gammapy keeps MIGRAD's own estimate, which equals it where MIGRAD ran
      HESSE at the end, and approximates it to a few per cent where it did
      not);
    * ``confidence(reoptimize=False)`` runs as ``reoptimize=True``, as
      iminuit does (Gammapy warns at each call).

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`, optional
        Fit whose backend and options to use. Default is None, ``Fit()``.
    """

    def __init__(self, fit=None):
        super().__init__(**fit_options(Fit() if fit is None else fit))

    @staticmethod
    def _fast(datasets):
        return datasets if isinstance(datasets, FitDatasets) else FitDatasets(list(Datasets(datasets)))

    def _options(self, opts):
        """The iminuit settings of ``opts`` where the compiled path applies, else None."""
        opts = dict(opts)
        if self.store_trace or opts.pop("backend", self.backend) != "minuit":
            return None
        settings = {key: opts.pop(key, default) for key, default in _MINUIT_SETTINGS.items()}
        settings["migrad_opts"] = opts.pop("migrad_opts", {})
        return settings

    def _make_minuit(self, compiled, settings, gradient=True, steps=None):
        """A `~iminuit.Minuit` on the compiled statistic, set up as Gammapy's ``setup_iminuit``.

        With its gradient (default) or on the statistic's values alone; the
        initial steps are ``steps`` (the non-positive replaced by 1) or, by
        default, Gammapy's: the parameters' errors, 1 where unknown.
        """
        names = [_parameter_name(idx, par) for idx, par in enumerate(compiled.parameters)]
        grad = compiled.gradient if gradient else None
        minuit = Minuit(compiled, [par.factor for par in compiled.parameters], grad=grad, name=names)
        for key in ("tol", "errordef", "print_level", "strategy"):
            setattr(minuit, key, settings[key])
        if steps is None:
            steps = [np.nan if par.error == 0 else par.error / par.scale for par in compiled.parameters]
        for name, par, step in zip(names, compiled.parameters, steps):
            minuit.errors[name] = step if np.isfinite(step) and step > 0 else 1
            minuit.limits[name] = (
                None if np.isnan(par.factor_min) else par.factor_min,
                None if np.isnan(par.factor_max) else par.factor_max,
            )
        return minuit

    def _migrad(self, compiled, settings):
        """MIGRAD on the compiled statistic with its gradient; where it fails or had to force its
        covariance positive definite (e.g. at the kink of the WStat at zero signal in bins without
        ON and OFF counts, where the gradient jumps and a flat direction fools its distance to the
        minimum), MIGRAD again from the start on the statistic's values, as Gammapy's, and the
        lower of the valid minima."""
        minuit = self._make_minuit(compiled, settings)
        minuit.migrad(**settings["migrad_opts"])
        if not minuit.valid or minuit.fmin.has_made_posdef_covar:
            retry = self._make_minuit(compiled, settings, gradient=False)
            retry.migrad(**settings["migrad_opts"])
            if retry.valid and (not minuit.valid or retry.fval <= minuit.fval):
                minuit = retry
        return minuit

    def _hesse(self, compiled, settings, minimum=None):
        """HESSE at the current parameters (the minimum), on function values as Gammapy's.

        MIGRAD's own covariance is an estimate that its path determines (with
        the gradient it follows another path than Gammapy's); HESSE on the
        statistic alone gives the covariance at the minimum whatever the path
        (HESSE given the gradient is less accurate where the likelihood is far
        from parabolic). The initial steps are MIGRAD's errors, if known, and
        HESSE runs with iminuit's most careful strategy (2), whatever MIGRAD's:
        its second derivatives are then those of Gammapy's fits to a few 1e-4.
        """
        steps = None if minimum is None else list(minimum.errors)
        minuit = self._make_minuit(compiled, settings, gradient=False, steps=steps)
        minuit.strategy = 2
        minuit.hesse()
        return minuit

    def run(self, datasets):
        """Run the optimisation and the covariance, as `~gammapy.modeling.Fit.run`.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets to optimise.

        Returns
        -------
        result : `~gammapy.modeling.FitResult`
            Fit result.
        """
        given, datasets = datasets, self._fast(datasets)
        if self._options(self.optimize_opts) is None or self._options(self.covariance_opts) is None:
            return super().run(datasets)
        optimize_result = self.optimize(datasets)
        covariance_result = self.covariance(datasets, optimize_result=optimize_result)
        if isinstance(given, Datasets) and given is not datasets:
            # as Gammapy's Fit.run: the given datasets keep the covariance, from which their
            # ``models`` property sets the errors at each access (a stale one would reset them)
            internals.set_datasets_covariance(given, covariance_result.matrix)
        return FitResult(optimize_result=optimize_result, covariance_result=covariance_result)

    def optimize(self, datasets):
        """Run the optimisation, as `~gammapy.modeling.Fit.optimize`.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets to optimise.

        Returns
        -------
        result : `~gammapy.modeling.fit.OptimizeResult`
            Optimisation result.
        """
        datasets = self._fast(datasets)
        settings = self._options(self.optimize_opts)
        if settings is None:
            return super().optimize(datasets)
        parameters = _parameters(datasets)
        parameters.check_limits()
        if len(parameters.free_parameters.names) == 0:
            raise ValueError("No free parameters for fitting")
        parameters.autoscale()
        compiled = CompiledStatistic.build(datasets)
        if compiled is None:
            return super().optimize(datasets)

        minuit = self._migrad(compiled, settings)
        compiled.parameters.set_parameter_factors(minuit.values)
        parameters.check_limits()
        datasets.fast_fit_minimum = (_status(datasets), compiled, minuit)
        return OptimizeResult(
            models=datasets.fit_models(),
            total_stat=datasets.stat_sum(),
            backend="minuit",
            method="migrad",
            trace=Table(),
            minuit=minuit,
            success=minuit.valid,
            nfev=compiled.nfev,
            message=_message(minuit, compiled.parameters),
        )

    def _minimum(self, datasets):
        """The compiled statistic and the `~iminuit.Minuit` of the last minimum, if it stands."""
        minimum = getattr(datasets, "fast_fit_minimum", None)
        if minimum is not None and minimum[0] == _status(datasets):
            return minimum[1], minimum[2]
        return None, None

    def covariance(self, datasets, optimize_result=None):
        """Estimate the covariance matrix, as `~gammapy.modeling.Fit.covariance`.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets, at the best fit.
        optimize_result : `~gammapy.modeling.fit.OptimizeResult`, optional
            Optimisation result. Default is None.

        Returns
        -------
        result : `~gammapy.modeling.fit.CovarianceResult`
            Covariance result.
        """
        datasets = self._fast(datasets)
        settings = self._options(self.covariance_opts)
        compiled, minuit = self._minimum(datasets) if settings is not None else (None, None)
        if settings is not None and minuit is None:
            compiled = CompiledStatistic.build(datasets)
        if compiled is None:
            return super().covariance(datasets, optimize_result=optimize_result)
        minuit = self._hesse(compiled, settings, minuit)

        message, success = "Hesse terminated successfully.", True
        try:
            factor_matrix = np.array(minuit.covariance)
        except (TypeError, RuntimeError):
            factor_matrix = np.full((len(compiled.parameters),) * 2, np.nan)
            message, success = "Hesse failed", False
        models = datasets.fit_models()
        matrix = Covariance.from_factor_matrix(parameters=models.parameters, matrix=factor_matrix)
        models.covariance = matrix
        return CovarianceResult(backend="minuit", method="hesse", success=success, message=message, matrix=matrix.data)

    def confidence(self, datasets, parameter, sigma=1, reoptimize=True):
        """Estimate a profile-likelihood confidence interval, as `~gammapy.modeling.Fit.confidence`.

        Parameters
        ----------
        datasets : `~gammapy.datasets.Datasets` or list of `~gammapy.datasets.Dataset`
            Datasets.
        parameter : `~gammapy.modeling.Parameter`
            Parameter of interest.
        sigma : float, optional
            Number of standard deviations for the confidence level. Default is 1.
        reoptimize : bool, optional
            Re-optimise the other parameters (always, with iminuit). Default is True.

        Returns
        -------
        result : dict
            ``"errp"``, ``"errn"``, ``"success"``, ``"message"`` and ``"nfev"``.
        """
        datasets = self._fast(datasets)
        reoptimize = reoptimize or self.backend == "minuit"
        settings = self._options(self.confidence_opts)
        compiled = None
        if settings is not None:
            compiled, minuit = self._minimum(datasets)
            if minuit is None:
                compiled = CompiledStatistic.build(datasets)
        if compiled is None:
            return super().confidence(datasets, parameter, sigma=sigma, reoptimize=reoptimize)

        parameters = _parameters(datasets)
        parameter = parameters[parameter]
        with parameters.restore_status():
            if minuit is None:
                minuit = self._migrad(compiled, settings)
            idx = compiled.parameters.index(parameter)
            result = _profile(compiled, minuit, idx, sigma) or _minos(minuit, idx, sigma)
        result["errp"] *= parameter.scale
        result["errn"] *= parameter.scale
        return result

    def optimize_replaced(self, datasets, name, model):
        """The minimum with the model component ``name`` replaced by ``model``, from the last minimum.

        On the compiled statistic of the datasets' last minimum (`optimize`),
        with the component's spectral model replaced
        (`~gammapy_trs.estimation.compiled.CompiledStatistic.replaced`): no
        copies of the datasets. Newton steps from ``model``'s starting values
        (`~gammapy_trs.estimation.quasi_newton.minimize`), MIGRAD where they
        do not reach the minimum. ``model`` is left at its best fit; the
        datasets and their models are not changed.

        Parameters
        ----------
        datasets : `~gammapy_trs.estimation.fast_statistic.FitDatasets`
            Datasets at their best fit.
        name : str
            Name of the component to replace.
        model : `~gammapy.modeling.models.SkyModel`
            The replacement, with its starting values.

        Returns
        -------
        result : tuple or None
            ``(success, total_stat, nfev)``, or None where the datasets have no
            compiled minimum or ``model`` cannot be compiled (fit it on copies).
        """
        settings = self._options(self.optimize_opts)
        if settings is None or not isinstance(datasets, FitDatasets):
            return None
        compiled, _ = self._minimum(datasets)
        if compiled is None:
            return None
        model.parameters.autoscale()
        replaced = compiled.replaced(name, model)
        if replaced is None:
            return None
        factors, stat, success = _newton_minimum(replaced)
        if factors is None:  # MIGRAD where the Newton steps do not reach the minimum
            minuit = self._migrad(replaced, settings)
            factors, stat, success = np.array(minuit.values), None, bool(minuit.valid)
        own = {id(par) for par in model.parameters}
        for par, factor in zip(replaced.parameters, factors):
            if id(par) in own:
                par.factor = factor
        stat = float(replaced(factors)) if stat is None else float(stat)
        return success, stat, replaced.nfev

    def stat_profile(self, datasets, *args, **kwargs):
        return super().stat_profile(self._fast(datasets), *args, **kwargs)

    def restricted(self, datasets, fixed):
        """The compiled statistic of the datasets as a function of their free parameters with the
        ``fixed`` ones set apart (`Restricted`), or None where the compiled path does not apply.

        Parameters
        ----------
        datasets : `~gammapy_trs.engine.fast_statistic.FitDatasets`
            Datasets, the ``fixed`` parameters frozen (left so).
        fixed : list of `~gammapy.modeling.Parameter`
            Parameters whose values `Restricted.minimum` sets.

        Returns
        -------
        restricted : `Restricted` or None
            The statistic.
        """
        settings = self._options(self.optimize_opts)
        if settings is None or not isinstance(datasets, FitDatasets):
            return None
        for par in fixed:
            par.frozen = False
        try:
            datasets.parameters.autoscale()
            compiled = CompiledStatistic.build(datasets)
        finally:
            for par in fixed:
                par.frozen = True
        return None if compiled is None else Restricted(compiled, fixed, self, settings)


class Restricted:
    """A compiled statistic with some of its parameters fixed: a statistic of the others, and its
    minimum at given values of the fixed ones.

    The minimum is found by Newton steps (`~gammapy_trs.engine.quasi_newton.minimize`,
    to a twentieth of the expected distance at which MIGRAD stops with the
    fit's ``tol``), by MIGRAD where they do not reach it; the gradient by the
    fixed parameters there is analytic.

    Parameters
    ----------
    compiled : `~gammapy_trs.engine.statistic.CompiledStatistic`
        The statistic of all parameters.
    fixed : list of `~gammapy.modeling.Parameter`
        Its parameters to fix.
    fit : `FastFit`
        The fit whose MIGRAD to run where the Newton steps fail.
    settings : dict
        Its iminuit settings.
    """

    def __init__(self, compiled, fixed, fit, settings):
        self.compiled = compiled
        self.fit = fit
        self.settings = settings
        self.fixed = np.array([compiled.parameters.index(par) for par in fixed], dtype=int)
        self.others = np.setdiff1d(np.arange(len(compiled.parameters)), self.fixed)
        self.parameters = Parameters([compiled.parameters[int(idx)] for idx in self.others])
        self.factors = np.array([par.factor for par in compiled.parameters], dtype=float)
        self.nfev = 0

    def _full(self, factors):
        full = self.factors.copy()
        full[self.others] = factors
        return full

    def __call__(self, factors):
        self.nfev += 1
        return self.compiled(self._full(factors))

    def gradient(self, factors):
        return self.compiled.gradient(self._full(factors))[self.others]

    def value_and_gradient(self, factors):
        self.nfev += 1
        stat, gradient = self.compiled.value_and_gradient(self._full(factors))
        return stat, gradient[self.others]

    def minimum(self, point, initial, free):
        """The minimum with the fixed parameters at ``point``, from ``initial``.

        Parameters
        ----------
        point : tuple of float
            Values of the fixed parameters.
        initial : list of float
            Start values of ``free``.
        free : list of `~gammapy.modeling.Parameter`
            The other free parameters (left at the minimum), in any order.

        Returns
        -------
        minimum : tuple
            ``(success, stat, values, gradient)``: the values of ``free`` and
            the derivatives of the statistic by the fixed parameters' values.
        """
        self.factors[self.fixed] = np.asarray(point, dtype=float) / self.compiled.scales[self.fixed]
        for par, value in zip(free, initial):
            par.value = value
        factors = np.array([par.factor for par in self.parameters], dtype=float)
        if len(self.others):
            factors = self._minimize(self)
            if factors is None:
                return False, np.nan, None, None
        stat, gradient = self.compiled.value_and_gradient(self._full(factors))
        if not np.isfinite(stat):
            return False, np.nan, None, None
        for par, factor in zip(self.parameters, factors):
            par.factor = factor
        gradient = gradient[self.fixed] / self.compiled.scales[self.fixed]
        return True, float(stat), [par.value for par in free], list(gradient)

    def profile_curvature(self, rel_step=1e-5):
        """The second derivatives, by the fixed parameters' values, of the statistic minimised over
        the others, at the last `minimum` (the others at their minimum).

        By the implicit function theorem ``H_ff - H_fo H_oo^-1 H_of``, with ``H``
        the Hessian of the statistic by all factors from central differences
        of its analytic gradient (steps of ``rel_step`` of each factor, at
        least ``rel_step``). Exact where the minimum is inside the limits.

        Parameters
        ----------
        rel_step : float, optional
            Relative step of the differences. Default is 1e-5.

        Returns
        -------
        curvature : `~numpy.ndarray` or None
            Shape (number of fixed parameters,) * 2; None where a free parameter
            is at a limit or the Hessian of the free ones is not positive definite.
        """
        factors = np.array([par.factor for par in self.parameters], dtype=float)
        lower, upper = _limits(self.parameters)
        margin = 1e-6 * np.maximum(np.abs(factors), 1.0)
        if np.any(factors - lower < margin) or np.any(upper - factors < margin):
            return None
        full = self._full(factors)
        steps = rel_step * np.maximum(np.abs(full), 1.0)
        columns = []
        for idx, step in enumerate(steps):
            shift = np.zeros(full.size)
            shift[idx] = step
            columns.append((self.compiled.gradient(full + shift) - self.compiled.gradient(full - shift)) / (2 * step))
        hessian = np.array(columns)
        hessian = (hessian + hessian.T) / 2
        fixed, others = self.fixed, self.others
        curvature = hessian[np.ix_(fixed, fixed)]
        if len(others):
            inner = hessian[np.ix_(others, others)]
            if not np.all(np.isfinite(hessian)) or not np.all(np.linalg.eigvalsh(inner) > 0):
                return None
            cross = hessian[np.ix_(fixed, others)]
            curvature = curvature - cross @ np.linalg.solve(inner, cross.T)
        scales = self.compiled.scales[fixed]
        curvature = curvature / np.outer(scales, scales)
        return curvature if np.all(np.isfinite(curvature)) else None

    def _minimize(self, target):
        """The factors at the minimum of ``target`` (this statistic, or it tied), from the
        parameters' factors: Newton steps, MIGRAD where they do not reach it; None where MIGRAD fails."""
        factors = _newton_minimum(target, tol=1e-4 * self.settings["tol"])[0]
        if factors is None:
            minuit = self.fit._migrad(target, self.settings)
            factors = np.array(minuit.values) if minuit.valid else None
        return factors

    def tied_minimum(self, point, initial, free, tie, linked):
        """The minimum with the fixed parameters following ``linked`` by ``tie`` at ``point``
        (`~gammapy_trs.engine.Tie`), from ``initial``.

        Parameters
        ----------
        point : tuple of float
            The tie's point (e.g. a law's coefficients).
        initial : list of float
            Start values of ``free``.
        free : list of `~gammapy.modeling.Parameter`
            The other free parameters (left at the minimum), ``linked`` among them.
        tie : `~gammapy_trs.engine.Tie`
            The fixed parameters as functions of the point and of ``linked``.
        linked : `~gammapy.modeling.Parameter`
            The free parameter that the fixed ones follow.

        Returns
        -------
        minimum : tuple
            ``(success, stat, values, gradient)``: the values of ``free`` and
            the derivatives of the statistic by the point's coordinates.
        """
        for par, value in zip(free, initial):
            par.value = value
        if np.isfinite(tie.lower) and not linked.value > tie.lower:
            linked.value = 10 * tie.lower
        tied = _Tied(self, tie, point, self.parameters.index(linked))
        factors = self._minimize(tied)
        if factors is None:
            return False, np.nan, None, None
        full, _ = tied.full(factors)
        stat, gradient = self.compiled.value_and_gradient(full)
        if not np.isfinite(stat):
            return False, np.nan, None, None
        for par, factor in zip(self.parameters, factors):
            par.factor = factor
        by_shape = gradient[self.fixed] / self.compiled.scales[self.fixed]
        jacobian = np.asarray(tie.shape(point, linked.value)[1], dtype=float)
        return True, float(stat), [par.value for par in free], list(jacobian.T @ by_shape)


class _Tied:
    """`Restricted` with its fixed parameters following one of the free ones (a law of the bin's
    flux, `~gammapy_trs.engine.Tie`): a statistic of the free parameters, its gradient by the
    chain rule."""

    def __init__(self, restricted, tie, point, position):
        self.restricted, self.tie, self.point, self.position = restricted, tie, point, position
        self.parameters = restricted.parameters
        scales = restricted.compiled.scales
        self.scale = scales[restricted.others[position]]
        self.fixed_scales = scales[restricted.fixed]
        self.nfev = 0

    def full(self, factors):
        """All factors, the fixed ones from the tie; and the tie's slopes by the linked value."""
        full = self.restricted._full(factors)
        shape, _, slope = self.tie.shape(self.point, factors[self.position] * self.scale)
        full[self.restricted.fixed] = np.asarray(shape, dtype=float) / self.fixed_scales
        return full, np.asarray(slope, dtype=float)

    def value_and_gradient(self, factors):
        self.nfev += 1
        full, slope = self.full(factors)
        stat, gradient = self.restricted.compiled.value_and_gradient(full)
        free = gradient[self.restricted.others].copy()
        free[self.position] += np.sum(gradient[self.restricted.fixed] / self.fixed_scales * slope) * self.scale
        return stat, free

    def __call__(self, factors):
        return self.value_and_gradient(factors)[0]

    def gradient(self, factors):
        return self.value_and_gradient(factors)[1]


def _newton_minimum(compiled, tol=EDM_TOLERANCE):
    """The factors and statistic at the minimum from Newton steps started at the parameters'
    factors (`~gammapy_trs.estimation.quasi_newton.minimize`), or None."""
    parameters = compiled.parameters
    start = np.array([par.factor for par in parameters])
    steps = np.array([par.error / par.scale if par.error > 0 else 1.0 for par in parameters])
    result = minimize(compiled.value_and_gradient, compiled.gradient, start, 1e-2 * steps, _limits(parameters), tol=tol)
    return (None, None, False) if result is None else (result["x"], result["stat"], True)


def _limits(parameters):
    """The lower and upper limits of the factors (-inf and inf where there is none)."""
    return tuple(
        np.array([np.nan_to_num(getattr(par, key), nan=default) for par in parameters])
        for key, default in (("factor_min", -np.inf), ("factor_max", np.inf))
    )


def _profile(compiled, minuit, idx, sigma):
    """The profile-likelihood interval of the free parameter ``idx`` from MIGRAD's minimum, as
    `_minos` reports it, or None where `~gammapy_trs.estimation.profile.profile_interval` finds none."""
    if not minuit.valid or minuit.covariance is None:
        return None
    interval = profile_interval(
        compiled.value_and_gradient,
        np.array(minuit.values),
        minuit.fval,
        np.array(minuit.covariance),
        idx,
        sigma,
        _limits(compiled.parameters),
    )
    if interval is None:
        return None
    return dict(interval, success=True, method="newton-profile", message="Profile interval found (Venzon-Moolgavkar).")


def _minos(minuit, idx, sigma):
    """MINOS interval of the free parameter ``idx``, as Gammapy's ``confidence_iminuit`` reports it."""
    name = minuit.parameters[idx]
    nfcn = minuit.nfcn
    try:
        minuit.minos(name, cl=2 * norm.cdf(sigma) - 1)
        info = minuit.merrors[name]
    except (AttributeError, RuntimeError) as error:
        return dict(success=False, message=str(error), errp=np.nan, errn=np.nan, nfev=0)
    message = "Minos terminated" + (" successfully." if info.is_valid else ", but result is invalid.")
    return dict(
        success=info.is_valid, message=message, errp=info.upper, errn=-info.lower, nfev=minuit.nfcn - nfcn
    )


def fast_fit(fit):
    """The fit to run per bin: a `FastFit` with the options of a `~gammapy.modeling.Fit`.

    A subclass of `~gammapy.modeling.Fit` (with methods of its own) is used as
    given, and so is a `FastFit`.

    Parameters
    ----------
    fit : `~gammapy.modeling.Fit`
        Fit.

    Returns
    -------
    fit : `~gammapy.modeling.Fit`
        The fit to run.
    """
    return FastFit(fit) if type(fit) is Fit else fit
